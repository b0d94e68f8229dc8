//! State in memory, tree included: for tests, the simulator and tools.

use std::collections::BTreeMap;
use std::ops::Bound;

use super::{tree, State, StateChanges, StateError, TreeEntry};

/// An in-memory state: the entries and the state tree's stored entries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemState {
    entries: BTreeMap<Vec<u8>, Vec<u8>>,
    tree: BTreeMap<Vec<u8>, Vec<u8>>,
    /// Versions of the tree kept provable, the newest included (all when `None`).
    history: Option<u64>,
    /// Versions whose index entries were pruned end before this one.
    pruned_until: u64,
}

impl MemState {
    /// An empty state that keeps every version of its tree.
    pub fn new() -> MemState {
        MemState::default()
    }

    /// An empty state that keeps the last `versions` versions of its tree provable
    /// and prunes older ones, as a node's store does.
    pub fn with_history(versions: u64) -> MemState {
        MemState {
            history: Some(versions.max(2)),
            ..MemState::default()
        }
    }

    /// Applies a change set: its writes and its tree entries. Prunes the tree
    /// versions that fall out of the kept history.
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
        for (key, value) in &changes.tree.puts {
            self.tree.insert(key.clone(), value.clone());
        }
        if let (Some(height), Some(history)) = (changes.tree.height, self.history) {
            if let Some(oldest) = height.checked_sub(history - 1) {
                // Reading our own maps cannot fail.
                if let Ok(dead) = tree::prune(&*self, self.pruned_until, oldest) {
                    for key in dead {
                        self.tree.remove(&key);
                    }
                    self.pruned_until = self.pruned_until.max(oldest.saturating_add(1));
                }
            }
        }
    }

    /// Every entry, sorted by key.
    pub fn entries(&self) -> &BTreeMap<Vec<u8>, Vec<u8>> {
        &self.entries
    }

    /// Number of stored tree entries (nodes, values and their indexes).
    pub fn tree_len(&self) -> usize {
        self.tree.len()
    }
}

/// The entries with keys in `from..until`; callers make sure that `from < until`
/// (`BTreeMap::range` panics on an inverted range).
fn range<'a>(
    map: &'a BTreeMap<Vec<u8>, Vec<u8>>,
    from: &[u8],
    until: &[u8],
) -> std::collections::btree_map::Range<'a, Vec<u8>, Vec<u8>> {
    map.range::<[u8], _>((Bound::Included(from), Bound::Excluded(until)))
}

impl State for MemState {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        Ok(self.entries.get(key).cloned())
    }

    fn tree_get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        Ok(self.tree.get(key).cloned())
    }

    fn tree_range(
        &self,
        from: &[u8],
        until: &[u8],
        limit: usize,
    ) -> Result<Vec<TreeEntry>, StateError> {
        if from >= until {
            return Ok(Vec::new());
        }
        Ok(range(&self.tree, from, until)
            .take(limit)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect())
    }

    fn tree_last(&self, from: &[u8], until: &[u8]) -> Result<Option<TreeEntry>, StateError> {
        if from >= until {
            return Ok(None);
        }
        Ok(range(&self.tree, from, until)
            .next_back()
            .map(|(k, v)| (k.clone(), v.clone())))
    }
}
