//! Evidence of authority misbehaviour: self-contained, checkable by anyone who knows
//! the authority keys, and executed by the ledger (slash, jail, remove).

use mpms_crypto::{Hash, MerkleProof};
use serde::{Deserialize, Serialize};

use crate::block::Header;
use crate::transaction::SignedTransaction;
use crate::vote::SignedVote;

/// Proof that an authority broke the protocol.
// A piece of evidence is built a few times per offence; the size of its larger
// variant costs nothing worth an extra indirection.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub enum Evidence {
    /// Two different signed statements by one authority for the same
    /// (height, round, step).
    Equivocation {
        /// One statement.
        first: SignedVote,
        /// A conflicting statement.
        second: SignedVote,
    },
    /// A signed proposal of, or a vote for, a block holding a credential issuance
    /// that the rules reject.
    FakeCredential {
        /// The block's header (its hash is what was signed).
        header: Box<Header>,
        /// The authority's signed proposal or prevote/precommit for that block.
        vote: SignedVote,
        /// The offending transaction.
        #[schema(no_recursion)]
        transaction: SignedTransaction,
        /// Its inclusion proof against the header's transaction root.
        proof: MerkleProof,
    },
}

impl Evidence {
    /// A stable id of the offence, so the same misbehaviour is punished once: one
    /// authority's misbehaviour at one height is one offence, whatever the rounds and
    /// steps of its statements (its proposal and its votes for one fake block, or its
    /// conflicting votes in several rounds, are one offence).
    pub fn offence_id(&self) -> Hash {
        let (kind, statement): (&[u8], _) = match self {
            Evidence::Equivocation { first, .. } => (b"equivocation", first),
            Evidence::FakeCredential { vote, .. } => (b"fake-credential", vote),
        };
        Hash::digest_parts(&[
            b"offence",
            kind,
            statement.validator.as_bytes(),
            &statement.vote.height.to_le_bytes(),
        ])
    }

    /// The signed statement whose signer the evidence accuses.
    pub fn statement(&self) -> &crate::vote::SignedVote {
        match self {
            Evidence::Equivocation { first, .. } => first,
            Evidence::FakeCredential { vote, .. } => vote,
        }
    }
}
