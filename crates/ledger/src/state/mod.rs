//! The key-value view of state that execution reads, the change sets it produces,
//! and the authenticated state tree whose root every header carries.
//!
//! State lives twice in a store: as plain key-value entries, which execution reads,
//! and as a Jellyfish Merkle Tree over the same entries ([`tree`]), whose root is the
//! header's `state_root` and which proves one key's value, or its absence, at any
//! retained height. Both are written in the block's one commit.

mod memory;
pub mod tree;

use std::collections::BTreeMap;

pub use memory::MemState;
pub use tree::{NodeCache, StateProof, StateProofError, TreeUpdate};

/// A storage failure while reading state. Not a verdict on a transaction: the node
/// must stop rather than continue on a partial view.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("state storage error: {0}")]
pub struct StateError(pub String);

/// A stored entry of the state tree: key and value (see [`tree`] for the layout).
pub type TreeEntry = (Vec<u8>, Vec<u8>);

/// Read access to committed state. `Sync`, because a block's execution reads it from
/// two threads (see the execution pipeline).
pub trait State: Sync {
    /// The value under `key`, if any.
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError>;

    /// The values under `keys`, in order: one lookup per key unless the store can
    /// batch them.
    fn get_many(&self, keys: &[Vec<u8>]) -> Vec<Result<Option<Vec<u8>>, StateError>> {
        keys.iter().map(|key| self.get(key)).collect()
    }

    /// The state tree's stored entry under `key`.
    fn tree_get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError>;

    /// The state tree's stored entries with keys in `from..until`, in key order, at
    /// most `limit`.
    fn tree_range(
        &self,
        from: &[u8],
        until: &[u8],
        limit: usize,
    ) -> Result<Vec<TreeEntry>, StateError>;

    /// The last of the state tree's stored entries with a key in `from..until`.
    fn tree_last(&self, from: &[u8], until: &[u8]) -> Result<Option<TreeEntry>, StateError>;

    /// The store's cache of committed tree nodes near the root, if it keeps one.
    fn tree_node_cache(&self) -> Option<&NodeCache> {
        None
    }
}

/// The net writes of a block (or of genesis), and the state tree's new version.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StateChanges {
    /// Writes, sorted by key: `None` deletes the key.
    pub writes: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    /// The state tree's entries for this version (empty for change sets that are not
    /// a block's, which leave the tree as it is).
    pub tree: TreeUpdate,
}

impl StateChanges {
    /// No writes.
    pub fn is_empty(&self) -> bool {
        self.writes.is_empty()
    }

    /// Number of writes.
    pub fn len(&self) -> usize {
        self.writes.len()
    }
}

impl<S: State + ?Sized> State for &S {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        (**self).get(key)
    }

    fn get_many(&self, keys: &[Vec<u8>]) -> Vec<Result<Option<Vec<u8>>, StateError>> {
        (**self).get_many(keys)
    }

    fn tree_get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        (**self).tree_get(key)
    }

    fn tree_range(
        &self,
        from: &[u8],
        until: &[u8],
        limit: usize,
    ) -> Result<Vec<TreeEntry>, StateError> {
        (**self).tree_range(from, until, limit)
    }

    fn tree_last(&self, from: &[u8], until: &[u8]) -> Result<Option<TreeEntry>, StateError> {
        (**self).tree_last(from, until)
    }

    fn tree_node_cache(&self) -> Option<&NodeCache> {
        (**self).tree_node_cache()
    }
}
