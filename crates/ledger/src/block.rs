//! Block headers and blocks.

use mpms_crypto::{merkle, Hash, MerkleProof, MerkleTree};
use serde::{Deserialize, Serialize};

use crate::transaction::SignedTransaction;
use crate::vote::CommitCertificate;
use crate::{codec, AccountId};

/// A block header: what consensus signs (by its hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Header {
    /// The chain.
    pub chain_id: String,
    /// Height; the genesis block is 0.
    pub height: u64,
    /// Hash of the parent header ([`Hash::ZERO`] for genesis).
    pub parent: Hash,
    /// Proposer's time (Unix milliseconds), strictly increasing along the chain.
    pub time_ms: u64,
    /// The proposing authority's operator account.
    pub proposer: AccountId,
    /// Merkle root over the transaction hashes.
    pub tx_root: Hash,
    /// Number of transactions.
    pub tx_count: u32,
    /// Root of the state tree after executing this block (see `state::tree`).
    pub state_root: Hash,
    /// Hash of the authority set that finalizes this block.
    pub authority_set: Hash,
    /// Hash of the authority set that finalizes the next block: equal to
    /// `authority_set` unless this block changed the set. A verifier that trusts this
    /// header's set learns the next one from it.
    pub next_authority_set: Hash,
    /// Hash of the parent's commit certificate ([`Hash::ZERO`] at heights 0 and 1).
    pub last_commit: Hash,
}

impl Header {
    /// The block hash.
    pub fn hash(&self) -> Hash {
        Hash::digest(&codec::encode(self))
    }

    /// Checks that this header extends `parent`: same chain, next height, parent hash,
    /// and a later time.
    pub fn check_link(&self, parent: &Header) -> Result<(), BlockError> {
        if self.chain_id != parent.chain_id {
            return Err(BlockError::Link(
                "chain id differs from the parent's".into(),
            ));
        }
        if self.height != parent.height + 1 {
            return Err(BlockError::Link(format!(
                "height {} does not follow {}",
                self.height, parent.height
            )));
        }
        if self.parent != parent.hash() {
            return Err(BlockError::Link("parent hash mismatch".into()));
        }
        if self.time_ms <= parent.time_ms {
            return Err(BlockError::Link("time does not increase".into()));
        }
        Ok(())
    }
}

/// A block: header, the parent's commit certificate, and transactions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Block {
    /// The header.
    pub header: Header,
    /// The commit certificate of the parent block (absent at heights 0 and 1).
    pub last_commit: Option<CommitCertificate>,
    /// Transactions, in execution order.
    pub transactions: Vec<SignedTransaction>,
}

/// Why a block is malformed (independently of executing it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BlockError {
    /// The header's transaction root does not match the transactions.
    #[error("transaction root mismatch")]
    TxRoot,
    /// The header's transaction count does not match.
    #[error("transaction count mismatch")]
    TxCount,
    /// The header's last-commit hash does not match the included certificate.
    #[error("last commit hash mismatch")]
    LastCommit,
    /// The header does not extend its parent.
    #[error("header does not extend its parent: {0}")]
    Link(String),
    /// Too many transactions or bytes.
    #[error("block exceeds limits: {0}")]
    TooLarge(String),
}

/// The Merkle leaf hashes of `transactions` (each leaf is a transaction hash).
pub fn tx_leaves(transactions: &[SignedTransaction]) -> Vec<Hash> {
    transactions
        .iter()
        .map(|tx| merkle::leaf_hash(tx.hash().as_bytes()))
        .collect()
}

/// The transaction root of `transactions`.
pub fn tx_root(transactions: &[SignedTransaction]) -> Hash {
    merkle::root_of(&tx_leaves(transactions))
}

/// The transaction root from already computed transaction hashes, in block order.
pub fn tx_root_of_hashes<'h>(hashes: impl IntoIterator<Item = &'h Hash>) -> Hash {
    let leaves: Vec<Hash> = hashes
        .into_iter()
        .map(|h| merkle::leaf_hash(h.as_bytes()))
        .collect();
    merkle::root_of(&leaves)
}

impl Block {
    /// The block hash (the header's hash).
    pub fn hash(&self) -> Hash {
        self.header.hash()
    }

    /// Checks that the header commits to this body and the body fits the limits.
    pub fn check_body(&self, max_transactions: u32, max_bytes: u64) -> Result<(), BlockError> {
        if self.transactions.len() > max_transactions as usize {
            return Err(BlockError::TooLarge(format!(
                "{} transactions, limit {max_transactions}",
                self.transactions.len()
            )));
        }
        let bytes: usize = self.transactions.iter().map(codec::encoded_len).sum();
        if bytes as u64 > max_bytes {
            return Err(BlockError::TooLarge(format!(
                "{bytes} bytes, limit {max_bytes}"
            )));
        }
        match self.body_mismatch() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// What of the body differs from what the header commits to (the transactions'
    /// count and root, the parent's certificate), if anything.
    fn body_mismatch(&self) -> Option<BlockError> {
        if u32::try_from(self.transactions.len()).ok() != Some(self.header.tx_count) {
            return Some(BlockError::TxCount);
        }
        if tx_root(&self.transactions) != self.header.tx_root {
            return Some(BlockError::TxRoot);
        }
        let commit_hash = self
            .last_commit
            .as_ref()
            .map_or(Hash::ZERO, CommitCertificate::hash);
        if commit_hash != self.header.last_commit {
            return Some(BlockError::LastCommit);
        }
        None
    }

    /// Whether the body is the one the header commits to. The block's hash is its
    /// header's: a copy whose body is not the committed one is no copy of the block
    /// at all (a forwarder made it), whatever its hash says.
    pub fn matches_header(&self) -> bool {
        self.body_mismatch().is_none()
    }

    /// The index of the first transaction that lacks one of its own erasable values
    /// (ciphertext, sealed keys); `None` when the block carries all of them. A block
    /// is whole when proposed and finalized; only a stored block loses values, when
    /// a later block erases a credential's content.
    pub fn first_erased(&self) -> Option<usize> {
        self.transactions
            .iter()
            .position(|t| t.tx.payload.any_erased())
    }

    /// The inclusion proof of transaction `index` against the header's `tx_root`.
    pub fn tx_proof(&self, index: usize) -> Option<MerkleProof> {
        MerkleTree::from_leaf_hashes(tx_leaves(&self.transactions)).proof(index)
    }
}

/// Whether `proof` shows `tx` is in the block with `header`.
pub fn verify_tx_inclusion(header: &Header, tx: &SignedTransaction, proof: &MerkleProof) -> bool {
    proof.leaf_count == u64::from(header.tx_count)
        && proof.verify(&header.tx_root, tx.hash().as_bytes())
}
