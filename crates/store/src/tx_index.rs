//! The RocksDB store's transaction index (transaction hash → height and position),
//! written behind the commits.
//!
//! The index derives from the blocks, so it is not part of a block's synced commit
//! batch: right after the commit, a background thread writes the block's entries in
//! one unsynced batch together with the indexed height, and until then lookups are
//! answered from memory. After a crash, opening the store indexes again the blocks
//! above the last indexed height. A full block's commit thereby writes a thousand
//! fewer keys while it holds up the chain.

use std::collections::HashMap;
use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

use mpms_crypto::Hash;
use mpms_ledger::{codec, Block};
use rocksdb::{WriteBatch, WriteOptions, DB};

use crate::rocks::{cf_of, db_err, get_decoded_in, height_key, CF_BLOCKS, CF_META, CF_TX_INDEX};
use crate::{StoreError, TxLocation};

/// Key (in the metadata column family) of the last indexed height.
const META_INDEXED_HEIGHT: &[u8] = b"indexed-height";
/// Blocks the writer may fall behind before a commit waits for it.
const MAX_QUEUED_BLOCKS: usize = 64;

/// The entries of one block.
struct Job {
    height: u64,
    hashes: Vec<Hash>,
}

/// Entries committed but possibly not yet written to the index.
type Pending = Arc<Mutex<HashMap<Hash, TxLocation>>>;

/// Writes the index of committed blocks on a background thread.
pub(crate) struct TxIndexer {
    db: Arc<DB>,
    pending: Pending,
    jobs: Option<mpsc::SyncSender<Job>>,
    thread: Option<JoinHandle<()>>,
}

impl TxIndexer {
    /// Indexes the blocks that a crash left unindexed (up to `last_height`), then
    /// starts the writer.
    pub fn open(db: Arc<DB>, last_height: Option<u64>) -> Result<TxIndexer, StoreError> {
        if let Some(last) = last_height {
            let from = indexed_height(&db)?.map_or(0, |h| h + 1);
            for height in from..=last {
                let block = read_block(&db, height)?;
                let hashes: Vec<Hash> = block.transactions.iter().map(|tx| tx.hash()).collect();
                write(&db, height, &hashes)?;
            }
        }
        let pending = Pending::default();
        let (jobs, queue) = mpsc::sync_channel::<Job>(MAX_QUEUED_BLOCKS);
        let thread = {
            let (db, pending) = (Arc::clone(&db), Arc::clone(&pending));
            std::thread::Builder::new()
                .name("tx-index".into())
                .spawn(move || {
                    for job in queue {
                        // On failure the entries stay in memory and the indexed
                        // height stays behind, so the next open writes them again.
                        if write(&db, job.height, &job.hashes).is_ok() {
                            let mut pending =
                                pending.lock().unwrap_or_else(PoisonError::into_inner);
                            for hash in &job.hashes {
                                pending.remove(hash);
                            }
                        }
                    }
                })
                .map_err(|e| StoreError::Db(format!("cannot start the index writer: {e}")))?
        };
        Ok(TxIndexer {
            db,
            pending,
            jobs: Some(jobs),
            thread: Some(thread),
        })
    }

    /// Indexes the committed block at `height` whose transactions have `hashes`.
    pub fn submit(&self, height: u64, hashes: Vec<Hash>) -> Result<(), StoreError> {
        {
            let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
            for (index, hash) in hashes.iter().enumerate() {
                let index = u32::try_from(index).unwrap_or(u32::MAX);
                pending.insert(*hash, TxLocation { height, index });
            }
        }
        let job = Job { height, hashes };
        match &self.jobs {
            Some(jobs) => match jobs.send(job) {
                Ok(()) => Ok(()),
                // The writer is gone: write here instead.
                Err(mpsc::SendError(job)) => write(&self.db, job.height, &job.hashes),
            },
            None => write(&self.db, job.height, &job.hashes),
        }
    }

    /// Where `hash` is, if it was committed and is not written to the index yet.
    pub fn pending(&self, hash: &Hash) -> Option<TxLocation> {
        self.pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(hash)
            .copied()
    }
}

impl Drop for TxIndexer {
    /// Writes what is queued before the store closes.
    fn drop(&mut self) {
        self.jobs = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The last height whose transactions are all in the index.
fn indexed_height(db: &DB) -> Result<Option<u64>, StoreError> {
    get_decoded_in(db, CF_META, META_INDEXED_HEIGHT)
}

fn read_block(db: &DB, height: u64) -> Result<Block, StoreError> {
    get_decoded_in(db, CF_BLOCKS, &height_key(height))?
        .ok_or_else(|| StoreError::Corrupt(format!("block {height} missing")))
}

/// Writes the entries of block `height` and advances the indexed height, unsynced
/// (the index can always be rebuilt from the blocks).
fn write(db: &DB, height: u64, hashes: &[Hash]) -> Result<(), StoreError> {
    let index_cf = cf_of(db, CF_TX_INDEX)?;
    // In key order: the memtable inserts a sorted run much faster than random keys.
    let mut entries: Vec<(Hash, u32)> = hashes
        .iter()
        .enumerate()
        .map(|(i, hash)| (*hash, u32::try_from(i).unwrap_or(u32::MAX)))
        .collect();
    entries.sort_unstable();
    let mut batch = WriteBatch::with_capacity_bytes(64 + entries.len() * 64);
    for (hash, index) in entries {
        batch.put_cf(
            index_cf,
            hash.as_bytes(),
            codec::encode(&TxLocation { height, index }),
        );
    }
    batch.put_cf(
        cf_of(db, CF_META)?,
        META_INDEXED_HEIGHT,
        codec::encode(&height),
    );
    let mut options = WriteOptions::default();
    options.set_sync(false);
    db.write_opt(batch, &options).map_err(db_err)
}
