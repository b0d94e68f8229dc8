//! The key-value view of state that execution reads, the change sets it produces,
//! and the state commitment.
//!
//! **State commitment.** `commitment(h) = H("mpms/state/v1" || commitment(h-1) || h ||
//! root(h))` where `root(h)` is the Merkle root (see `mpms_crypto::merkle`) over the
//! block's net writes sorted by key, each leaf `len(key) || key || 0x00` (deleted) or
//! `len(key) || key || 0x01 || value`. A block that writes nothing leaves the
//! commitment unchanged. Since state is a deterministic function of the writes since
//! genesis, two nodes with equal commitments hold equal state; the cost is one hash
//! per write, which keeps execution within its budget. (It does not give proofs of a
//! single key's current value; credential inclusion is proven through the block's
//! transaction root instead.)

use std::collections::BTreeMap;

use mpms_crypto::{merkle, Hash, Hasher};

/// A storage failure while reading state. Not a verdict on a transaction: the node
/// must stop rather than continue on a partial view.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("state storage error: {0}")]
pub struct StateError(pub String);

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
}

/// The net writes of a block (or of genesis): `None` deletes the key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StateChanges {
    /// Writes, sorted by key.
    pub writes: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
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

    /// The Merkle root over the writes (see the module docs).
    pub fn root(&self) -> Hash {
        let writes: Vec<(&Vec<u8>, &Option<Vec<u8>>)> = self.writes.iter().collect();
        if writes.len() < PARALLEL_LEAVES {
            return merkle::root_of(&leaf_hashes(&writes));
        }
        // A large block's tree is built on two threads: each hashes the leaves of its
        // half (cut at a multiple of the subtree size) and reduces them to subtree
        // tops; the tops give the same root as the whole tree.
        let cut = (writes.len() / 2).next_multiple_of(SUBTREE_LEAVES);
        let (first, second) = writes.split_at(cut.min(writes.len()));
        let tops = std::thread::scope(|scope| {
            let other = scope.spawn(|| merkle::subtree_tops(&leaf_hashes(second), SUBTREE_LEAVES));
            let mut tops = merkle::subtree_tops(&leaf_hashes(first), SUBTREE_LEAVES);
            match other.join() {
                Ok(rest) => tops.extend(rest),
                Err(panic) => std::panic::resume_unwind(panic),
            }
            tops
        });
        merkle::root_of_tops(writes.len() as u64, &tops)
    }

    /// The commitment after applying these writes at `height` on top of `parent`.
    pub fn commitment(&self, parent: &Hash, height: u64) -> Hash {
        if self.writes.is_empty() {
            return *parent;
        }
        Hash::digest_parts(&[
            b"mpms/state/v1",
            parent.as_bytes(),
            &height.to_le_bytes(),
            self.root().as_bytes(),
        ])
    }
}

/// From this many writes on, the commitment's tree is built on two threads.
const PARALLEL_LEAVES: usize = 1024;
/// Leaves per subtree when the tree is built on two threads (a power of two).
const SUBTREE_LEAVES: usize = 64;

/// The Merkle leaf of each write: the key, then whether it is a deletion, then the value.
fn leaf_hashes(writes: &[(&Vec<u8>, &Option<Vec<u8>>)]) -> Vec<Hash> {
    writes
        .iter()
        .map(|(key, value)| {
            let mut h = Hasher::new();
            h.update(&[0x00]); // Merkle leaf prefix
            h.update_field(key);
            match value {
                None => h.update(&[0x00]),
                Some(v) => h.update(&[0x01]).update(v),
            };
            h.finish()
        })
        .collect()
}

/// An in-memory state for tests, the simulator and tools.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemState {
    entries: BTreeMap<Vec<u8>, Vec<u8>>,
}

impl MemState {
    /// An empty state.
    pub fn new() -> MemState {
        MemState::default()
    }

    /// Applies a change set.
    pub fn apply(&mut self, changes: &StateChanges) {
        for (key, value) in &changes.writes {
            match value {
                Some(v) => {
                    self.entries.insert(key.clone(), v.clone());
                }
                None => {
                    self.entries.remove(key);
                }
            }
        }
    }

    /// Every entry, sorted by key.
    pub fn entries(&self) -> &BTreeMap<Vec<u8>, Vec<u8>> {
        &self.entries
    }
}

impl State for MemState {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        Ok(self.entries.get(key).cloned())
    }
}

impl<S: State + ?Sized> State for &S {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        (**self).get(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_thread_root_equals_the_plain_tree() {
        for n in [PARALLEL_LEAVES, PARALLEL_LEAVES + 1, 2001, 4096 + 63] {
            let mut changes = StateChanges::default();
            for i in 0..n {
                let value = (i % 7 != 0).then(|| vec![i as u8; i % 50]);
                changes
                    .writes
                    .insert(format!("key-{i}").into_bytes(), value);
            }
            let writes: Vec<_> = changes.writes.iter().collect();
            assert_eq!(
                changes.root(),
                merkle::root_of(&leaf_hashes(&writes)),
                "n = {n}"
            );
        }
    }

    #[test]
    fn commitment_rules() {
        let parent = Hash::digest(b"p");
        let empty = StateChanges::default();
        assert_eq!(empty.commitment(&parent, 3), parent);
        let mut a = StateChanges::default();
        a.writes.insert(b"k".to_vec(), Some(b"v".to_vec()));
        let mut b = StateChanges::default();
        b.writes.insert(b"k".to_vec(), None);
        assert_ne!(a.commitment(&parent, 3), parent);
        assert_ne!(a.commitment(&parent, 3), b.commitment(&parent, 3));
        assert_ne!(a.commitment(&parent, 3), a.commitment(&parent, 4));
        // Key/value boundaries are unambiguous.
        let mut c = StateChanges::default();
        c.writes.insert(b"kv".to_vec(), Some(Vec::new()));
        let mut d = StateChanges::default();
        d.writes.insert(b"k".to_vec(), Some(b"v".to_vec()));
        assert_ne!(c.root(), d.root());
    }
}
