//! The MPMS node's core: the consensus engine, the ledger, the store and the mempool,
//! glued together without I/O.
//!
//! - [`core`]: [`NodeCore`], the node's duties around the engine: propose as soon as
//!   transactions wait (or at the heartbeat), validate proposed blocks, commit in one
//!   synced write, follow key rotations and the chain's consensus timing, submit
//!   evidence of misbehaviour, ask to catch up. Messages, timeouts and the clock come
//!   in as method calls; what the node must do comes out as [`Action`]s.
//! - [`mempool`]: transactions waiting for a block, each checked by the ledger on
//!   entry.
//! - [`safety_store`]: where a validator's safety record lives (beside its keys, in
//!   a node; in the store, in the simulator).
//! - [`proposed`]: the whole blocks of the height being decided, which peers missing
//!   a proposal's content fetch by hash.
//! - [`erasure`]: dropping a credential's ciphertext and sealed keys from the stored
//!   blocks once the chain records its subject's request.
//!
//! It has no sockets, clocks, threads or async runtime: the node (`mpms-node`) runs it
//! on libp2p and tokio, and the simulator (`mpms-sim`) runs the very same code over a
//! modeled network in virtual time.

pub mod core;
pub mod erasure;
pub mod mempool;
pub mod proposed;
pub mod safety_store;

pub use crate::core::{
    Action, Committed, CoreConfig, CoreError, NodeCore, Production, ValidatorKeys,
    NEXT_HEIGHT_PROPOSALS,
};
pub use mempool::{AdmitError, Mempool, MempoolConfig};
pub use proposed::ProposedBlocks;
pub use safety_store::{InStore, SafetyStore, SignedBefore};
