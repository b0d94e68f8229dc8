//! The whole blocks a node holds for the height it is deciding, shared with whoever
//! answers peers' requests for them (the node's sync server, the simulator).
//!
//! A peer that received a proposal without its transactions' ciphertext or sealed
//! keys (which a Byzantine proposer or forwarder can strip: the block's hash commits
//! to them by digest only) fetches the whole block from the others by hash. Only
//! whole blocks are ever put here, so an honest node never serves a stripped one.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use mpms_crypto::Hash;
use mpms_ledger::Block;

/// A cheap, cloneable handle on the whole blocks of the height being decided.
#[derive(Clone, Default)]
pub struct ProposedBlocks(Arc<RwLock<HashMap<Hash, Arc<Block>>>>);

impl ProposedBlocks {
    /// The whole block with this hash, if held.
    pub fn get(&self, hash: &Hash) -> Option<Arc<Block>> {
        self.0
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(hash)
            .cloned()
    }

    /// How many blocks are held.
    pub fn len(&self) -> usize {
        self.0.read().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Whether none is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Holds `block`, which must be whole.
    pub(crate) fn insert(&self, hash: Hash, block: Arc<Block>) {
        debug_assert!(block.first_erased().is_none());
        self.0
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(hash, block);
    }

    /// Drops every block except those `keep` names.
    pub(crate) fn retain(&self, keep: impl Fn(&Hash) -> bool) {
        self.0
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|h, _| keep(h));
    }
}
