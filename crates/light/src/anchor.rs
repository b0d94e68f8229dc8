//! The trust anchor: a chain's genesis.

use mpms_crypto::Hash;
use mpms_ledger::genesis::GenesisError;
use mpms_ledger::{AuthoritySet, Genesis};

/// What a verifier trusts: the chain id, the genesis block's hash and time, and the
/// authority set that finalizes the first blocks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Anchor {
    /// The chain id.
    pub chain_id: String,
    /// The genesis header's hash (what a consortium publishes).
    pub genesis_hash: Hash,
    /// The authority set of height 1.
    pub authority_set: AuthoritySet,
    /// The genesis itself (a bundle names its genesis in full; it must be this one).
    pub genesis: Genesis,
}

impl Anchor {
    /// The anchor of `genesis`.
    pub fn from_genesis(genesis: &Genesis) -> Result<Anchor, GenesisError> {
        let built = genesis.build()?;
        Ok(Anchor {
            chain_id: genesis.chain_id.clone(),
            genesis_hash: built.header.hash(),
            authority_set: built.authority_set,
            genesis: genesis.clone(),
        })
    }
}
