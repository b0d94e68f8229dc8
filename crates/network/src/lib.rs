//! MPMS peer-to-peer networking.
//!
//! A libp2p swarm (TCP, Noise, Yamux) runs in one task behind a channel handle:
//! commands go in through [`NetworkHandle`], events come out of a receiver. No other
//! crate imports libp2p types beyond the re-exported [`PeerId`] and [`Multiaddr`].
//!
//! - **Gossip** ([`Topic`]): gossipsub topics per chain id for transactions, consensus
//!   messages and finalized blocks. Every message is checked by the application's
//!   [`GossipValidator`] before it is forwarded; rejected messages lower the sender's
//!   score, and a peer that keeps sending them is disconnected and banned.
//! - **Block sync** ([`sync`]): a request/response protocol that serves ranges of
//!   finalized blocks with their commit certificates; [`sync::sync_to`] catches a
//!   node up from several peers, dropping any that serves a block that fails checks.
//! - **Discovery**: identify plus Kademlia, so knowing one boot node is enough.
//! - **Admission**: in permissioned mode only admitted peer ids (from the chain's
//!   node registry and the authority set, or from config) may connect.
//! - **Budgets** ([`budget`]): gossip is validated on threads of its own, off the
//!   swarm's loop, and sync requests are answered off it too; each peer may hold only
//!   a bounded share of either.

mod behaviour;
pub mod budget;
pub mod config;
pub mod events;
pub mod identity;
pub mod metrics;
mod service;
pub mod sync;
pub mod topic;
pub mod validate;
pub mod wire;

pub use config::{ConfigError, NetworkConfig};
pub use events::EventReceiver;
pub use libp2p::{Multiaddr, PeerId};
pub use metrics::NetworkMetrics;
pub use service::{start, NetworkError, NetworkEvent, NetworkHandle};
pub use topic::Topic;
pub use validate::{AcceptedTransactionHook, ChainValidator, GossipValidator, Verdict};
