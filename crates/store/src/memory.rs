//! The in-memory store: same contract as RocksDB, for tests and the simulator.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard};

use mpms_crypto::Hash;
use mpms_ledger::state::TreeEntry;
use mpms_ledger::{Block, CommitCertificate, MemState, State, StateError};

use crate::{check_next, BlockCommit, StateEntry, Store, StoreError, TxLocation};

#[derive(Default)]
struct Inner {
    blocks: BTreeMap<u64, Block>,
    certificates: BTreeMap<u64, CommitCertificate>,
    heights: HashMap<Hash, u64>,
    tx_index: HashMap<Hash, TxLocation>,
    state: MemState,
    safety: Option<Vec<u8>>,
    incomplete: std::collections::BTreeSet<u64>,
}

/// A [`Store`] in memory.
pub struct MemStore {
    inner: Mutex<Inner>,
}

impl Default for MemStore {
    fn default() -> Self {
        MemStore::new()
    }
}

impl MemStore {
    /// Versions of the state tree an in-memory store keeps provable by default.
    pub const DEFAULT_STATE_HISTORY: u64 = 64;

    /// An empty store that keeps the last [`MemStore::DEFAULT_STATE_HISTORY`]
    /// versions of the state tree.
    pub fn new() -> MemStore {
        MemStore::with_state_history(Self::DEFAULT_STATE_HISTORY)
    }

    /// An empty store that keeps the last `versions` versions of the state tree
    /// provable.
    pub fn with_state_history(versions: u64) -> MemStore {
        MemStore {
            inner: Mutex::new(Inner {
                blocks: BTreeMap::new(),
                certificates: BTreeMap::new(),
                heights: HashMap::new(),
                tx_index: HashMap::new(),
                state: MemState::with_history(versions),
                safety: None,
                incomplete: Default::default(),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave a half-applied commit (commit
        // builds everything before touching the maps), so a poisoned lock is usable.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A copy of every state entry, for comparisons in tests.
    pub fn state_entries(&self) -> BTreeMap<Vec<u8>, Vec<u8>> {
        self.lock().state.entries().clone()
    }
}

impl State for MemStore {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        self.lock().state.get(key)
    }

    fn tree_get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        self.lock().state.tree_get(key)
    }

    fn tree_range(
        &self,
        from: &[u8],
        until: &[u8],
        limit: usize,
    ) -> Result<Vec<TreeEntry>, StateError> {
        self.lock().state.tree_range(from, until, limit)
    }

    fn tree_last(&self, from: &[u8], until: &[u8]) -> Result<Option<TreeEntry>, StateError> {
        self.lock().state.tree_last(from, until)
    }
}

impl Store for MemStore {
    fn last_height(&self) -> Result<Option<u64>, StoreError> {
        Ok(self.lock().blocks.keys().next_back().copied())
    }

    fn block(&self, height: u64) -> Result<Option<Block>, StoreError> {
        Ok(self.lock().blocks.get(&height).cloned())
    }

    fn height_of(&self, hash: &Hash) -> Result<Option<u64>, StoreError> {
        Ok(self.lock().heights.get(hash).copied())
    }

    fn certificate(&self, height: u64) -> Result<Option<CommitCertificate>, StoreError> {
        Ok(self.lock().certificates.get(&height).cloned())
    }

    fn tx_location(&self, hash: &Hash) -> Result<Option<TxLocation>, StoreError> {
        Ok(self.lock().tx_index.get(hash).copied())
    }

    fn replace_values(&self, block: &Block) -> Result<(), StoreError> {
        let mut inner = self.lock();
        let height = block.header.height;
        let stored = inner
            .blocks
            .get(&height)
            .ok_or_else(|| StoreError::NotNext {
                height,
                reason: "no such block".into(),
            })?;
        crate::check_erased(stored, block)?;
        inner.blocks.insert(height, block.clone());
        Ok(())
    }

    fn commit(&self, commit: BlockCommit<'_>) -> Result<(), StoreError> {
        let mut inner = self.lock();
        let last = inner.blocks.values().next_back().map(|b| b.header.clone());
        check_next(last.as_ref(), &commit)?;
        let block = commit.block;
        let height = block.header.height;
        let tx_hashes = commit.hashes()?;
        for (index, hash) in tx_hashes.into_iter().enumerate() {
            inner.tx_index.insert(
                hash,
                TxLocation {
                    height,
                    index: index as u32,
                },
            );
        }
        inner.state.apply(commit.changes);
        if let Some(cert) = commit.certificate {
            inner.certificates.insert(height, cert.clone());
        }
        inner.heights.insert(block.hash(), height);
        inner.blocks.insert(height, block.clone());
        if block.first_erased().is_some() {
            inner.incomplete.insert(height);
        }
        Ok(())
    }

    fn incomplete_blocks(&self, limit: usize) -> Result<Vec<u64>, StoreError> {
        Ok(self.lock().incomplete.iter().take(limit).copied().collect())
    }

    fn clear_incomplete(&self, height: u64) -> Result<(), StoreError> {
        self.lock().incomplete.remove(&height);
        Ok(())
    }

    fn is_incomplete(&self, height: u64) -> Result<bool, StoreError> {
        Ok(self.lock().incomplete.contains(&height))
    }

    fn safety_record(&self) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.lock().safety.clone())
    }

    fn save_safety_record(&self, record: &[u8]) -> Result<(), StoreError> {
        self.lock().safety = Some(record.to_vec());
        Ok(())
    }

    fn scan_state_from(
        &self,
        prefix: &[u8],
        from: &[u8],
        limit: usize,
    ) -> Result<Vec<StateEntry>, StoreError> {
        Ok(self
            .lock()
            .state
            .entries()
            .range(from.max(prefix).to_vec()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .take(limit)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect())
    }
}
