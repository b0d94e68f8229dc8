//! The RocksDB store.

use std::path::Path;
use std::sync::Arc;

use mpms_crypto::Hash;
use mpms_ledger::state::{tree, TreeEntry};
use mpms_ledger::{codec, Block, CommitCertificate, Header, State, StateError};
use rocksdb::{ColumnFamily, ColumnFamilyDescriptor, Options, WriteBatch, WriteOptions, DB};

use crate::tx_index::TxIndexer;
use crate::{check_next, BlockCommit, StateEntry, Store, StoreError, TxLocation};

pub(crate) const CF_BLOCKS: &str = "blocks";
const CF_CERTIFICATES: &str = "certificates";
pub(crate) const CF_TX_INDEX: &str = "tx_index";
const CF_STATE: &str = "state";
const CF_STATE_TREE: &str = "state_tree";
const CF_SAFETY: &str = "safety";
pub(crate) const CF_META: &str = "meta";
const COLUMN_FAMILIES: [&str; 7] = [
    CF_BLOCKS,
    CF_CERTIFICATES,
    CF_TX_INDEX,
    CF_STATE,
    CF_STATE_TREE,
    CF_SAFETY,
    CF_META,
];

const META_LAST_HEIGHT: &[u8] = b"last-height";
/// The store's layout: 2 since a block's state tree became two versions (see the
/// state tree's module docs); a store with blocks and no layout is of layout 1.
const META_LAYOUT: &[u8] = b"layout";
/// The layout this build writes and reads.
pub const LAYOUT: u32 = 2;
/// The state tree versions whose index entries were pruned end before this one.
const META_TREE_PRUNED_UNTIL: &[u8] = b"tree-pruned-until";
const META_HEADER_PREFIX: &[u8] = b"header/";
const META_HASH_PREFIX: &[u8] = b"hash/";
/// Blocks stored without some erasable values the chain has not erased.
const META_INCOMPLETE_PREFIX: &[u8] = b"incomplete/";
const SAFETY_KEY: &[u8] = b"record";

/// Bytes a write batch spends besides keys and values: its header and the certificate
/// and metadata entries (a generous bound).
const BATCH_OVERHEAD: usize = 64 << 10;
/// Bytes a write batch spends per entry besides key and value (tag, column family,
/// two length varints).
const ENTRY_OVERHEAD: usize = 16;

/// Tuning for [`RocksStore`].
#[derive(Debug, Clone)]
pub struct RocksOptions {
    /// Block cache size in bytes.
    pub cache_bytes: usize,
    /// Whether writes are synced to disk before commit returns (always true in a
    /// node; benchmarks may measure both).
    pub sync: bool,
    /// Versions of the state tree kept provable, the newest included; older ones are
    /// pruned as blocks commit.
    pub state_history: u64,
}

impl RocksOptions {
    /// The default of [`RocksOptions::state_history`].
    pub const DEFAULT_STATE_HISTORY: u64 = crate::DEFAULT_STATE_HISTORY;
}

impl Default for RocksOptions {
    fn default() -> Self {
        RocksOptions {
            cache_bytes: 64 << 20,
            sync: true,
            state_history: Self::DEFAULT_STATE_HISTORY,
        }
    }
}

/// A [`Store`] on RocksDB.
pub struct RocksStore {
    // Declared first so that it is dropped (and finishes writing) first.
    tx_index: TxIndexer,
    db: Arc<DB>,
    sync: bool,
    state_history: u64,
    /// Decoded tree nodes near the root, fed by each commit.
    node_cache: tree::NodeCache,
}

pub(crate) fn db_err(e: rocksdb::Error) -> StoreError {
    StoreError::Db(e.into_string())
}

pub(crate) fn cf_of<'a>(db: &'a DB, name: &str) -> Result<&'a ColumnFamily, StoreError> {
    db.cf_handle(name)
        .ok_or_else(|| StoreError::Db(format!("column family {name} missing")))
}

/// The value under `key` in column family `cf`, decoded.
pub(crate) fn get_decoded_in<T: serde::de::DeserializeOwned>(
    db: &DB,
    cf: &str,
    key: &[u8],
) -> Result<Option<T>, StoreError> {
    match db.get_cf(cf_of(db, cf)?, key).map_err(db_err)? {
        None => Ok(None),
        Some(bytes) => Ok(Some(codec::decode(&bytes)?)),
    }
}

pub(crate) fn height_key(height: u64) -> [u8; 8] {
    // Big-endian so that keys sort by height.
    height.to_be_bytes()
}

fn header_key(height: u64) -> Vec<u8> {
    [META_HEADER_PREFIX, &height.to_be_bytes()].concat()
}

fn hash_key(hash: &Hash) -> Vec<u8> {
    [META_HASH_PREFIX, hash.as_bytes()].concat()
}

fn incomplete_key(height: u64) -> Vec<u8> {
    [META_INCOMPLETE_PREFIX, &height.to_be_bytes()].concat()
}

impl RocksStore {
    /// Opens (or creates) the store in directory `path`.
    pub fn open(path: &Path, options: &RocksOptions) -> Result<RocksStore, StoreError> {
        let mut opts = Options::default();
        opts.create_if_missing(true);
        opts.create_missing_column_families(true);
        opts.set_compression_type(rocksdb::DBCompressionType::Lz4);
        // Memtables of 32 MB: a block's inserts and reads walk a skip list (and probe a
        // bloom filter) that stays small enough to be mostly in cache, which measured
        // faster than 128 MB; a few memtables absorb bursts while flushes and
        // compactions run on the background threads.
        opts.set_write_buffer_size(16 << 20);
        opts.set_max_write_buffer_number(3);
        // One budget for the memtables of every column family: under load they fill
        // together, and per-family limits alone would let them take hundreds of MB.
        opts.set_db_write_buffer_size(48 << 20);
        opts.set_max_background_jobs(2);
        // Flushes and compactions run at the lowest CPU priority: on a small machine
        // they would otherwise take a core from the block being executed; they catch
        // up in the idle time between blocks (four memtables give them the slack).
        let mut env = rocksdb::Env::new().map_err(db_err)?;
        env.lower_thread_pool_cpu_priority();
        env.lower_high_priority_thread_pool_cpu_priority();
        opts.set_env(&env);
        opts.set_enable_pipelined_write(true);
        // Write-ahead log files are not recycled: a recycled log keeps the old bytes
        // past what overwrites it, and erased content must leave the node's files.
        let mut table = rocksdb::BlockBasedOptions::default();
        table.set_block_cache(&rocksdb::Cache::new_lru_cache(options.cache_bytes));
        table.set_bloom_filter(10.0, false);
        opts.set_block_based_table_factory(&table);
        let cfs = COLUMN_FAMILIES.iter().map(|name| {
            let mut cf_opts = opts.clone();
            if *name == CF_STATE {
                // Most state reads while a block executes are for keys that do not
                // exist yet (a new credential id, a first credential of a schema): a
                // bloom filter over the memtable answers those without walking the
                // skip list. Other families are read by key that exists, so their
                // inserts skip the filter's cost.
                cf_opts.set_memtable_whole_key_filtering(true);
                // 2 % of the memtable's size: ~40 bits per key, small enough to stay
                // in cache (a larger filter measured slower: every probe missed).
                cf_opts.set_memtable_prefix_bloom_ratio(0.02);
            }
            ColumnFamilyDescriptor::new(*name, cf_opts)
        });
        let db = Arc::new(DB::open_cf_descriptors(&opts, path, cfs).map_err(db_err)?);
        let last_height = get_decoded_in::<u64>(&db, CF_META, META_LAST_HEIGHT)?;
        match get_decoded_in::<u32>(&db, CF_META, META_LAYOUT)? {
            Some(LAYOUT) => {}
            None if last_height.is_none() => db
                .put_cf(cf_of(&db, CF_META)?, META_LAYOUT, codec::encode(&LAYOUT))
                .map_err(db_err)?,
            found => {
                return Err(StoreError::Layout {
                    found: found.unwrap_or(1),
                    expected: LAYOUT,
                })
            }
        }
        let tx_index = TxIndexer::open(Arc::clone(&db), last_height)?;
        Ok(RocksStore {
            tx_index,
            db,
            sync: options.sync,
            // At least 2: pruning reads what earlier commits wrote, so it can free
            // versions before the one being committed, not that one.
            state_history: options.state_history.max(2),
            node_cache: tree::NodeCache::new(),
        })
    }

    /// Compacts the state tree's files, dropping what pruning deleted, and returns
    /// their size in bytes: what the tree takes on disk.
    pub fn compact_state_tree(&self) -> Result<u64, StoreError> {
        let cf = self.cf(CF_STATE_TREE)?;
        self.db.flush_cf(cf).map_err(db_err)?;
        self.db.compact_range_cf(cf, None::<&[u8]>, None::<&[u8]>);
        self.db
            .property_int_value_cf(cf, "rocksdb.total-sst-files-size")
            .map_err(db_err)?
            .ok_or_else(|| StoreError::Db("the state tree's file size is not reported".into()))
    }

    /// Stops flushes and compactions, waiting for those in progress: for a process
    /// that must exit while something still holds the store (RocksDB aborts if its
    /// background threads outlive the process's static data).
    pub fn stop_background_work(&self) {
        self.db.cancel_all_background_work(true);
    }

    fn cf(&self, name: &str) -> Result<&ColumnFamily, StoreError> {
        cf_of(&self.db, name)
    }

    fn get_cf(&self, cf: &str, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.db.get_cf(self.cf(cf)?, key).map_err(db_err)
    }

    fn get_decoded<T: serde::de::DeserializeOwned>(
        &self,
        cf: &str,
        key: &[u8],
    ) -> Result<Option<T>, StoreError> {
        get_decoded_in(&self.db, cf, key)
    }

    /// Every state entry, sorted by key. Loads the whole state: for tools and tests.
    pub fn state_entries(
        &self,
    ) -> Result<std::collections::BTreeMap<Vec<u8>, Vec<u8>>, StoreError> {
        let mut out = std::collections::BTreeMap::new();
        for item in self
            .db
            .iterator_cf(self.cf(CF_STATE)?, rocksdb::IteratorMode::Start)
        {
            let (k, v) = item.map_err(db_err)?;
            out.insert(k.to_vec(), v.to_vec());
        }
        Ok(out)
    }

    /// Calls `visit` with every entry of every column family (family name, key,
    /// value as stored, decompressed): for audits of what a node keeps, such as the
    /// check that no personal data is stored in plaintext.
    pub fn for_each_entry(
        &self,
        mut visit: impl FnMut(&str, &[u8], &[u8]),
    ) -> Result<(), StoreError> {
        for name in COLUMN_FAMILIES {
            for item in self
                .db
                .iterator_cf(self.cf(name)?, rocksdb::IteratorMode::Start)
            {
                let (k, v) = item.map_err(db_err)?;
                visit(name, &k, &v);
            }
        }
        Ok(())
    }

    fn write(&self, batch: WriteBatch, sync: bool) -> Result<(), StoreError> {
        let mut wo = WriteOptions::default();
        wo.set_sync(sync);
        self.db.write_opt(batch, &wo).map_err(db_err)
    }
}

impl State for RocksStore {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        self.get_cf(CF_STATE, key)
            .map_err(|e| StateError(e.to_string()))
    }

    fn get_many(&self, keys: &[Vec<u8>]) -> Vec<Result<Option<Vec<u8>>, StateError>> {
        let cf = match self.cf(CF_STATE) {
            Ok(cf) => cf,
            Err(e) => {
                return keys
                    .iter()
                    .map(|_| Err(StateError(e.to_string())))
                    .collect()
            }
        };
        self.db
            .batched_multi_get_cf(cf, keys, false)
            .into_iter()
            .map(|value| match value {
                Ok(value) => Ok(value.map(|v| v.to_vec())),
                Err(e) => Err(StateError(db_err(e).to_string())),
            })
            .collect()
    }

    fn tree_get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        self.get_cf(CF_STATE_TREE, key)
            .map_err(|e| StateError(e.to_string()))
    }

    fn tree_range(
        &self,
        from: &[u8],
        until: &[u8],
        limit: usize,
    ) -> Result<Vec<TreeEntry>, StateError> {
        let state_err = |e: StoreError| StateError(e.to_string());
        let mut read = rocksdb::ReadOptions::default();
        read.set_iterate_upper_bound(until.to_vec());
        let mode = rocksdb::IteratorMode::From(from, rocksdb::Direction::Forward);
        let mut out = Vec::new();
        let cf = self.cf(CF_STATE_TREE).map_err(state_err)?;
        for item in self.db.iterator_cf_opt(cf, read, mode).take(limit) {
            let (k, v) = item.map_err(|e| state_err(db_err(e)))?;
            out.push((k.to_vec(), v.to_vec()));
        }
        Ok(out)
    }

    fn tree_last(&self, from: &[u8], until: &[u8]) -> Result<Option<TreeEntry>, StateError> {
        let state_err = |e: StoreError| StateError(e.to_string());
        let mut read = rocksdb::ReadOptions::default();
        read.set_iterate_lower_bound(from.to_vec());
        read.set_iterate_upper_bound(until.to_vec());
        let cf = self.cf(CF_STATE_TREE).map_err(state_err)?;
        let mut iter = self.db.raw_iterator_cf_opt(cf, read);
        iter.seek_to_last();
        match (iter.key(), iter.value()) {
            (Some(k), Some(v)) => Ok(Some((k.to_vec(), v.to_vec()))),
            _ => iter
                .status()
                .map(|()| None)
                .map_err(|e| state_err(db_err(e))),
        }
    }

    fn tree_node_cache(&self) -> Option<&tree::NodeCache> {
        Some(&self.node_cache)
    }
}

impl Store for RocksStore {
    fn last_height(&self) -> Result<Option<u64>, StoreError> {
        self.get_decoded(CF_META, META_LAST_HEIGHT)
    }

    fn block(&self, height: u64) -> Result<Option<Block>, StoreError> {
        self.get_decoded(CF_BLOCKS, &height_key(height))
    }

    fn replace_values(&self, block: &Block) -> Result<(), StoreError> {
        let height = block.header.height;
        let stored: Block = self
            .get_decoded(CF_BLOCKS, &height_key(height))?
            .ok_or_else(|| StoreError::NotNext {
                height,
                reason: "no such block".into(),
            })?;
        crate::check_erased(&stored, block)?;
        let mut batch = WriteBatch::default();
        batch.put_cf(
            self.cf(CF_BLOCKS)?,
            height_key(height),
            codec::encode(block),
        );
        self.write(batch, true)
    }

    fn purge_erased(&self) -> Result<(), StoreError> {
        // The old bytes are in a write-ahead log and in table files: flushing retires
        // the log (logs are not recycled, see `open`), and a full compaction of the
        // blocks rewrites every table without them.
        // A log is retired only once every family's memtable that wrote to it is
        // flushed.
        for name in COLUMN_FAMILIES {
            self.db.flush_cf(self.cf(name)?).map_err(db_err)?;
        }
        self.db.flush_wal(true).map_err(db_err)?;
        let cf = self.cf(CF_BLOCKS)?;
        self.db.compact_range_cf(cf, None::<&[u8]>, None::<&[u8]>);
        Ok(())
    }

    fn height_of(&self, hash: &Hash) -> Result<Option<u64>, StoreError> {
        self.get_decoded(CF_META, &hash_key(hash))
    }

    fn header(&self, height: u64) -> Result<Option<Header>, StoreError> {
        self.get_decoded(CF_META, &header_key(height))
    }

    fn certificate(&self, height: u64) -> Result<Option<CommitCertificate>, StoreError> {
        self.get_decoded(CF_CERTIFICATES, &height_key(height))
    }

    fn tx_location(&self, hash: &Hash) -> Result<Option<TxLocation>, StoreError> {
        if let Some(location) = self.tx_index.pending(hash) {
            return Ok(Some(location));
        }
        self.get_decoded(CF_TX_INDEX, hash.as_bytes())
    }

    fn commit(&self, commit: BlockCommit<'_>) -> Result<(), StoreError> {
        let last: Option<Header> = self.last_header()?;
        check_next(last.as_ref(), &commit)?;
        let block = commit.block;
        let height = block.header.height;
        let encoded_block = codec::encode(block);
        let hashes = commit.hashes()?;
        // One allocation of the batch's final size: growing a megabyte-sized buffer by
        // doubling copies it several times and touches fresh pages each time.
        let capacity = BATCH_OVERHEAD
            + encoded_block.len()
            + commit
                .changes
                .writes
                .iter()
                .map(|(k, v)| ENTRY_OVERHEAD + k.len() + v.as_ref().map_or(0, Vec::len))
                .sum::<usize>()
            + commit
                .changes
                .tree
                .puts
                .iter()
                .map(|(k, v)| ENTRY_OVERHEAD + k.len() + v.len())
                .sum::<usize>();
        let mut batch = WriteBatch::with_capacity_bytes(capacity);
        batch.put_cf(self.cf(CF_BLOCKS)?, height_key(height), encoded_block);
        if let Some(cert) = commit.certificate {
            batch.put_cf(
                self.cf(CF_CERTIFICATES)?,
                height_key(height),
                codec::encode(cert),
            );
        }
        let state = self.cf(CF_STATE)?;
        for (key, value) in &commit.changes.writes {
            match value {
                Some(v) => batch.put_cf(state, key, v),
                None => batch.delete_cf(state, key),
            }
        }
        let state_tree = self.cf(CF_STATE_TREE)?;
        for (key, value) in &commit.changes.tree.puts {
            batch.put_cf(state_tree, key, value);
        }
        let meta = self.cf(CF_META)?;
        // Versions that fall out of the kept history: what only they needed goes.
        if let Some(oldest) = height.checked_sub(self.state_history - 1) {
            let from = self
                .get_decoded::<u64>(CF_META, META_TREE_PRUNED_UNTIL)?
                .unwrap_or(0);
            let dead = tree::prune(self, from, oldest).map_err(|e| StoreError::Db(e.0))?;
            for key in dead {
                batch.delete_cf(state_tree, key);
            }
            batch.put_cf(
                meta,
                META_TREE_PRUNED_UNTIL,
                codec::encode(&from.max(oldest.saturating_add(1))),
            );
        }
        batch.put_cf(meta, hash_key(&block.hash()), codec::encode(&height));
        batch.put_cf(meta, header_key(height), codec::encode(&block.header));
        batch.put_cf(meta, META_LAST_HEIGHT, codec::encode(&height));
        if block.first_erased().is_some() {
            batch.put_cf(meta, incomplete_key(height), []);
        }
        self.write(batch, self.sync)?;
        self.node_cache.committed(&commit.changes.tree);
        self.tx_index.submit(height, hashes)
    }

    fn safety_record(&self) -> Result<Option<Vec<u8>>, StoreError> {
        self.get_cf(CF_SAFETY, SAFETY_KEY)
    }

    fn incomplete_blocks(&self, limit: usize) -> Result<Vec<u64>, StoreError> {
        let mut out = Vec::new();
        let mode = rocksdb::IteratorMode::From(META_INCOMPLETE_PREFIX, rocksdb::Direction::Forward);
        for item in self.db.iterator_cf(self.cf(CF_META)?, mode) {
            let (key, _) = item.map_err(db_err)?;
            let Some(height) = key.strip_prefix(META_INCOMPLETE_PREFIX) else {
                break;
            };
            if out.len() >= limit {
                break;
            }
            let height = <[u8; 8]>::try_from(height)
                .map_err(|_| StoreError::Db("a malformed incomplete-block mark".into()))?;
            out.push(u64::from_be_bytes(height));
        }
        Ok(out)
    }

    fn clear_incomplete(&self, height: u64) -> Result<(), StoreError> {
        let mut batch = WriteBatch::default();
        batch.delete_cf(self.cf(CF_META)?, incomplete_key(height));
        self.write(batch, true)
    }

    fn is_incomplete(&self, height: u64) -> Result<bool, StoreError> {
        Ok(self.get_cf(CF_META, &incomplete_key(height))?.is_some())
    }

    fn save_safety_record(&self, record: &[u8]) -> Result<(), StoreError> {
        let mut batch = WriteBatch::default();
        batch.put_cf(self.cf(CF_SAFETY)?, SAFETY_KEY, record);
        // Always synced: a vote must never leave before its record is on disk.
        self.write(batch, true)
    }

    fn scan_state_from(
        &self,
        prefix: &[u8],
        from: &[u8],
        limit: usize,
    ) -> Result<Vec<StateEntry>, StoreError> {
        let mut out = Vec::new();
        let from = from.max(prefix);
        let mode = rocksdb::IteratorMode::From(from, rocksdb::Direction::Forward);
        for item in self.db.iterator_cf(self.cf(CF_STATE)?, mode) {
            let (k, v) = item.map_err(db_err)?;
            if !k.starts_with(prefix) || out.len() >= limit {
                break;
            }
            out.push((k.to_vec(), v.to_vec()));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::commit_genesis;
    use mpms_ledger::testkit::TestChain;

    #[test]
    fn a_store_of_another_layout_is_refused_with_the_reason() {
        let dir = tempfile::tempdir().unwrap();
        let store = RocksStore::open(dir.path(), &RocksOptions::default()).unwrap();
        commit_genesis(&store, &TestChain::new(4, 3).genesis.build().unwrap()).unwrap();
        // As a build from before layouts were recorded left it: blocks, no layout.
        store
            .db
            .delete_cf(store.cf(CF_META).unwrap(), META_LAYOUT)
            .unwrap();
        drop(store);
        let Err(err) = RocksStore::open(dir.path(), &RocksOptions::default()) else {
            panic!("a store of layout 1 opened");
        };
        assert!(
            matches!(
                err,
                StoreError::Layout {
                    found: 1,
                    expected: LAYOUT
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("empty data directory"), "{err}");
        // A store of this layout reopens.
        let dir = tempfile::tempdir().unwrap();
        let store = RocksStore::open(dir.path(), &RocksOptions::default()).unwrap();
        commit_genesis(&store, &TestChain::new(4, 3).genesis.build().unwrap()).unwrap();
        drop(store);
        RocksStore::open(dir.path(), &RocksOptions::default()).unwrap();
    }
}
