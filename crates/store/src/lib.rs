//! Durable storage for MPMS: blocks, commit certificates, the transaction index,
//! state, the consensus safety record and metadata.
//!
//! [`Store`] is the one interface; [`RocksStore`] implements it on RocksDB (one
//! column family per kind of data) and [`MemStore`] in memory for tests and the
//! simulator. A block, its certificate and its state writes are committed in **one
//! synced write batch**, so after a crash the store reopens at a consistent last
//! block. The transaction index derives from the blocks: the RocksDB store writes it
//! right behind each commit and rebuilds what a crash interrupted when it opens.

mod memory;
#[cfg(feature = "rocksdb")]
mod rocks;
#[cfg(feature = "rocksdb")]
mod tx_index;

use mpms_crypto::Hash;
use mpms_ledger::genesis::GenesisState;
use mpms_ledger::state::StateChanges;
use mpms_ledger::{Block, CommitCertificate, DecodeError, Header, State};
use serde::{Deserialize, Serialize};

pub use memory::MemStore;
#[cfg(feature = "rocksdb")]
pub use rocks::{RocksOptions, RocksStore};

/// Storage errors.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database failed.
    #[error("database error: {0}")]
    Db(String),
    /// Stored bytes do not decode.
    #[error("corrupt store: {0}")]
    Corrupt(String),
    /// The data directory was written in a layout this build does not read.
    #[error(
        "the data directory's store layout is {found}, this build reads layout {expected}: \
         start this node from an empty data directory and let it sync from its peers"
    )]
    Layout {
        /// The layout on disk (1: written before layouts were recorded).
        found: u32,
        /// The layout this build writes and reads.
        expected: u32,
    },
    /// A commit does not extend the stored chain.
    #[error("cannot commit block {height}: {reason}")]
    NotNext {
        /// The block's height.
        height: u64,
        /// Why.
        reason: String,
    },
}

impl From<DecodeError> for StoreError {
    fn from(e: DecodeError) -> Self {
        StoreError::Corrupt(e.to_string())
    }
}

/// Checks that `erased` is the stored block `stored` with erasable values erased:
/// the same header and transaction hashes, the same number of transactions.
pub(crate) fn check_erased(stored: &Block, erased: &Block) -> Result<(), StoreError> {
    let same = stored.header == erased.header
        && stored.transactions.len() == erased.transactions.len()
        && stored
            .transactions
            .iter()
            .zip(&erased.transactions)
            .all(|(a, b)| a.hash() == b.hash());
    if same {
        Ok(())
    } else {
        Err(StoreError::NotNext {
            height: erased.header.height,
            reason: "a rewrite may only erase erasable values".into(),
        })
    }
}

/// Versions of the state tree a node's store keeps provable by default (the last
/// 100,000 heights).
pub const DEFAULT_STATE_HISTORY: u64 = 100_000;

/// A state entry: key and value.
pub type StateEntry = (Vec<u8>, Vec<u8>);

/// Where a transaction is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxLocation {
    /// Block height.
    pub height: u64,
    /// Position in the block.
    pub index: u32,
}

/// Everything that is committed together for one block.
#[derive(Debug, Clone, Copy)]
pub struct BlockCommit<'a> {
    /// The block.
    pub block: &'a Block,
    /// Its commit certificate (absent only for genesis).
    pub certificate: Option<&'a CommitCertificate>,
    /// Its state writes.
    pub changes: &'a StateChanges,
    /// The hashes of `block.transactions` in order, if already computed (execution
    /// receipts carry them); computed here otherwise.
    pub tx_hashes: Option<&'a [Hash]>,
}

impl BlockCommit<'_> {
    /// The transaction hashes, in block order.
    pub(crate) fn hashes(&self) -> Result<Vec<Hash>, StoreError> {
        match self.tx_hashes {
            Some(h) if h.len() == self.block.transactions.len() => Ok(h.to_vec()),
            Some(_) => Err(StoreError::NotNext {
                height: self.block.header.height,
                reason: "tx_hashes does not match the block's transactions".into(),
            }),
            None => Ok(self.block.transactions.iter().map(|t| t.hash()).collect()),
        }
    }
}

/// Durable chain storage. Reads of state go through [`State`].
pub trait Store: State + Send + Sync {
    /// Height of the last committed block, or `None` if even genesis is missing.
    fn last_height(&self) -> Result<Option<u64>, StoreError>;

    /// The block at `height`.
    fn block(&self, height: u64) -> Result<Option<Block>, StoreError>;

    /// The height of the block with `hash`.
    fn height_of(&self, hash: &Hash) -> Result<Option<u64>, StoreError>;

    /// The commit certificate of the block at `height`.
    fn certificate(&self, height: u64) -> Result<Option<CommitCertificate>, StoreError>;

    /// Where the transaction with `hash` was committed.
    fn tx_location(&self, hash: &Hash) -> Result<Option<TxLocation>, StoreError>;

    /// Commits a block with its certificate and state writes atomically and durably.
    /// The block must extend the last committed block (or be genesis on an empty store).
    /// A block lacking erasable values is marked incomplete in the same write
    /// ([`Store::incomplete_blocks`]).
    fn commit(&self, commit: BlockCommit<'_>) -> Result<(), StoreError>;

    /// The consensus safety record, if one was saved.
    fn safety_record(&self) -> Result<Option<Vec<u8>>, StoreError>;

    /// Saves the consensus safety record durably (synced before returning).
    fn save_safety_record(&self, record: &[u8]) -> Result<(), StoreError>;

    /// Committed state entries whose key starts with `prefix`, in key order, at most
    /// `limit` (for indexes such as a subject's credentials).
    fn scan_state(&self, prefix: &[u8], limit: usize) -> Result<Vec<StateEntry>, StoreError> {
        self.scan_state_from(prefix, prefix, limit)
    }

    /// [`Store::scan_state`] from key `from` on (inclusive): the next page of an
    /// index after a cursor.
    fn scan_state_from(
        &self,
        prefix: &[u8],
        from: &[u8],
        limit: usize,
    ) -> Result<Vec<StateEntry>, StoreError>;

    /// Replaces the stored block at `block`'s height with `block`, which must be the
    /// same block with erasable values erased or restored: the same header and the
    /// same transaction hashes (so the chain verifies as before). Durable on return.
    fn replace_values(&self, block: &Block) -> Result<(), StoreError>;

    /// Heights of stored blocks that arrived without some transaction's ciphertext or
    /// sealed keys and are not yet known to be erased by the chain, lowest first, at
    /// most `limit`. [`Store::commit`] marks such a block in the same write.
    fn incomplete_blocks(&self, limit: usize) -> Result<Vec<u64>, StoreError>;

    /// Clears the mark of [`Store::incomplete_blocks`] at `height`: the block is whole
    /// again, or the chain erased what it lacks. Durable on return.
    fn clear_incomplete(&self, height: u64) -> Result<(), StoreError>;

    /// Whether the block at `height` is marked incomplete.
    fn is_incomplete(&self, height: u64) -> Result<bool, StoreError>;

    /// Lets storage drop the bytes that erased values leave behind (flush and
    /// compact); nothing to do in memory.
    fn purge_erased(&self) -> Result<(), StoreError> {
        Ok(())
    }

    /// The header at `height`.
    fn header(&self, height: u64) -> Result<Option<Header>, StoreError> {
        Ok(self.block(height)?.map(|b| b.header))
    }

    /// The last committed header.
    fn last_header(&self) -> Result<Option<Header>, StoreError> {
        match self.last_height()? {
            Some(h) => self.header(h),
            None => Ok(None),
        }
    }
}

/// Commits the genesis block (height 0, no transactions, no certificate) and the
/// initial state of `genesis` to an empty store.
pub fn commit_genesis(store: &dyn Store, genesis: &GenesisState) -> Result<(), StoreError> {
    let block = Block {
        header: genesis.header.clone(),
        last_commit: None,
        transactions: Vec::new(),
    };
    store.commit(BlockCommit {
        block: &block,
        certificate: None,
        changes: &genesis.changes,
        tx_hashes: None,
    })
}

/// Checks that `commit` extends a store whose last header is `last`.
pub(crate) fn check_next(
    last: Option<&Header>,
    commit: &BlockCommit<'_>,
) -> Result<(), StoreError> {
    let header = &commit.block.header;
    let fail = |reason: &str| StoreError::NotNext {
        height: header.height,
        reason: reason.to_string(),
    };
    if commit.changes.tree.height != Some(header.height) {
        return Err(fail(
            "the state changes are not the state tree's version for this height",
        ));
    }
    match last {
        None if header.height != 0 => {
            Err(fail("the store is empty: genesis (height 0) comes first"))
        }
        None => Ok(()),
        Some(last) => {
            if header.height != last.height + 1 {
                return Err(fail(&format!("the last stored block is {}", last.height)));
            }
            if header.parent != last.hash() {
                return Err(fail("parent hash differs from the last stored block"));
            }
            if commit.certificate.is_none() {
                return Err(fail("a commit certificate is required"));
            }
            Ok(())
        }
    }
}

/// Checks the stored chain end to end: every block from genesis to the last is
/// present, links to its parent, has its certificate for the right block, and every
/// transaction is indexed. Returns the last height.
pub fn check_integrity(store: &dyn Store) -> Result<u64, StoreError> {
    let last = store
        .last_height()?
        .ok_or_else(|| StoreError::Corrupt("no genesis".into()))?;
    let mut parent: Option<Header> = None;
    for height in 0..=last {
        let block = store
            .block(height)?
            .ok_or_else(|| StoreError::Corrupt(format!("block {height} missing")))?;
        if let Some(p) = &parent {
            block
                .header
                .check_link(p)
                .map_err(|e| StoreError::Corrupt(format!("block {height}: {e}")))?;
            let cert = store
                .certificate(height)?
                .ok_or_else(|| StoreError::Corrupt(format!("certificate {height} missing")))?;
            if cert.height != height || cert.block != block.hash() {
                return Err(StoreError::Corrupt(format!(
                    "certificate {height} is for another block"
                )));
            }
        }
        if store.height_of(&block.hash())? != Some(height) {
            return Err(StoreError::Corrupt(format!(
                "block {height} not indexed by hash"
            )));
        }
        for (index, tx) in block.transactions.iter().enumerate() {
            let loc = store.tx_location(&tx.hash())?;
            if loc
                != Some(TxLocation {
                    height,
                    index: index as u32,
                })
            {
                return Err(StoreError::Corrupt(format!(
                    "tx {index} of block {height} not indexed"
                )));
            }
        }
        parent = Some(block.header);
    }
    Ok(last)
}
