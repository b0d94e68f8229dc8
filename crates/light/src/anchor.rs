//! The trust anchor: a chain's genesis block.

use mpms_crypto::Hash;
use mpms_ledger::genesis::GenesisError;
use mpms_ledger::{AuthoritySet, Genesis, Header};

use crate::bundle::GenesisBlock;

/// What a verifier trusts: the chain id, the genesis block's hash, and the authority
/// set that finalizes the first blocks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Anchor {
    /// The chain id.
    pub chain_id: String,
    /// The genesis header's hash (what a consortium publishes).
    pub genesis_hash: Hash,
    /// The authority set of height 1.
    pub authority_set: AuthoritySet,
    /// The genesis header.
    pub genesis_header: Header,
}

/// Why a genesis block does not anchor a chain.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AnchorError {
    /// The genesis file does not build.
    #[error(transparent)]
    Genesis(#[from] GenesisError),
    /// The genesis block is not the published one, or not a genesis block.
    #[error("{0}")]
    NotPublished(String),
}

impl Anchor {
    /// The anchor of a trusted `genesis` file (built: the verifier trusts it).
    pub fn from_genesis(genesis: &Genesis) -> Result<Anchor, AnchorError> {
        let built = genesis.build()?;
        Ok(Anchor {
            chain_id: genesis.chain_id.clone(),
            genesis_hash: built.header.hash(),
            authority_set: built.authority_set,
            genesis_header: built.header,
        })
    }

    /// The anchor of a genesis block someone else sent (a bundle's), trusted only if
    /// its header hashes to `published`, the consortium's published genesis hash.
    /// The hash is compared first; nothing is built from the untrusted block.
    pub fn from_published(block: &GenesisBlock, published: &Hash) -> Result<Anchor, AnchorError> {
        let hash = block.header.hash();
        if hash != *published {
            return Err(AnchorError::NotPublished(format!(
                "the genesis block hashes to {hash}, not {published}"
            )));
        }
        if block.header.height != 0 {
            return Err(AnchorError::NotPublished(format!(
                "the genesis block is at height {}",
                block.header.height
            )));
        }
        if block.authorities.hash() != block.header.authority_set {
            return Err(AnchorError::NotPublished(
                "the genesis authority set is not the one its header names".into(),
            ));
        }
        Ok(Anchor {
            chain_id: block.header.chain_id.clone(),
            genesis_hash: hash,
            authority_set: block.authorities.clone(),
            genesis_header: block.header.clone(),
        })
    }

    /// This anchor's genesis block, as a bundle carries it.
    pub fn genesis_block(&self) -> GenesisBlock {
        GenesisBlock {
            header: self.genesis_header.clone(),
            authorities: self.authority_set.clone(),
        }
    }
}
