//! The MPMS node.
//!
//! The core (consensus, execution, store and mempool glued together without I/O) is
//! the `mpms-core` crate, which the simulator runs too. Here:
//!
//! - [`runtime`]: the task that runs the core on the network and the clock;
//! - [`api`]: the HTTP API;
//! - [`metrics`]: Prometheus metrics;
//! - [`status_lists`]: the certifiers' W3C Bitstring Status Lists it publishes;
//! - [`config`]: the node's TOML configuration;
//! - [`home`]: a node's home directory (configuration, genesis, keys, data);
//! - [`keys`]: key files (account keys, consensus keys), encrypted;
//! - [`join`]: the join request an institution sends the consortium;
//! - [`launch`]: starting a node from its home;
//! - [`testnet`]: generating a local test network.

pub mod api;
pub mod config;
pub mod home;
pub mod join;
pub mod keys;
#[cfg(feature = "rocksdb")]
pub mod launch;
pub mod metrics;
pub mod runtime;
pub mod safety_file;
pub mod status_lists;
pub mod testnet;

pub use config::{CheckedNodeConfig, ConfigError, NodeConfig};
pub use home::Home;
pub use runtime::{NodeHandle, NodeParts, Running, Status};
