//! The MPMS consensus engine: Tendermint's BFT consensus ("The latest gossip on BFT
//! consensus", Buchman, Kwon, Milosevic 2018, Algorithm 1) among the Proof-of-Authority
//! authority set.
//!
//! The [`Engine`] is a pure state machine: [`Input`]s in (proposals, votes, timeouts
//! that fired, blocks built or validated), [`Effect`]s out (broadcast, schedule a
//! timeout, persist the safety record, build or validate a block, decide). It opens
//! no sockets, reads no clock and spawns nothing, so the node and the deterministic
//! simulator run exactly the same code.
//!
//! The signed statement formats ([`Vote`](mpms_ledger::Vote),
//! [`CommitCertificate`](mpms_ledger::CommitCertificate)) live in the ledger, which
//! needs them to judge evidence; this crate uses only those types from it.

mod engine;
pub mod messages;
mod safety;
mod timeouts;
mod votes;

pub use engine::{Effect, Engine, Identity, Input, Step, Timeout, ROUND_WINDOW};
pub use messages::{ConsensusMessage, FinalizedBlock};
pub use safety::{SafetyError, SafetyRecord};
pub use timeouts::Timeouts;
