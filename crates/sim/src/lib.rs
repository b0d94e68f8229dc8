//! A deterministic discrete-event simulator of an MPMS network.
//!
//! Every simulated node runs the real consensus [`Engine`](mpms_consensus::Engine),
//! real ledger execution and an in-memory [`MemStore`](mpms_store::MemStore). Time is
//! virtual; the network ([`network`]) has per-hop latency, loss, partitions and a
//! gossip overlay; faults are crashes, restarts and Byzantine authorities
//! ([`Behaviour`]). All randomness comes from one seed, so the same configuration
//! gives the same run, event for event ([`Report::digest`]).

mod network;
mod queue;
mod replica;
mod simulation;

pub use network::{Latency, Topology};
pub use replica::Behaviour;
pub use simulation::{quantile, Fault, Governance, Report, SimConfig, SimError, Simulation};
