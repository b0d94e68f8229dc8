//! A deterministic discrete-event simulator of an MPMS network.
//!
//! Every simulated node runs the node's own core ([`NodeCore`](mpms_core::NodeCore):
//! the consensus engine, ledger execution, the mempool and block production, over an
//! in-memory [`MemStore`](mpms_store::MemStore)), exactly as `mpmsd` runs it. What
//! this crate adds is the rest of the world: virtual time, a modeled network
//! ([`network`]: per-hop latency, loss, partitions, a gossip overlay, block sync),
//! faults (crashes, restarts, partitions), Byzantine authorities as wrappers around a
//! core's inputs and outputs ([`Behaviour`]) and twins (one key run by two cores),
//! a client workload, and the checks: agreement, valid commit certificates, no honest
//! authority ever punished, liveness. All randomness comes from one seed, so the same
//! configuration gives the same run, event for event ([`Report::digest`]).

mod byzantine;
mod network;
mod queue;
mod simulation;

pub use byzantine::{fake_issuance, Behaviour, Mask, Out, Recipients};
pub use network::{Latency, Topology};
pub use simulation::{
    quantile, Fault, Governance, Report, SimConfig, SimError, Simulation, Workload,
};
