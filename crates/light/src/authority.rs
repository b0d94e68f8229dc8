//! The certified chain of authority-set changes, and checking a header's certificate
//! against the set that finalizes its height.
//!
//! Every header names the hash of the set that finalizes it (`authority_set`) and of
//! the set that finalizes the next block (`next_authority_set`). A block that changes
//! the set is certified by the set before the change, so a verifier who trusts that
//! set learns the next one from the block's header. Starting from the genesis set,
//! the changes in height order lead to the set of any height. A change left out is
//! caught: the next header names a set the verifier does not hold.

use mpms_crypto::Hash;
use mpms_ledger::vote::CertificateError;
use mpms_ledger::{AuthoritySet, CommitCertificate, Header};
use serde::{Deserialize, Serialize};

use crate::Anchor;

/// A header with the certificate that made it final.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CertifiedHeader {
    /// The header.
    pub header: Header,
    /// Precommits of more than 2/3 of its authority set.
    pub certificate: CommitCertificate,
}

/// A block that changed the authority set, and the set it changed to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AuthorityChange {
    /// The changing block, certified by the set before the change.
    pub block: CertifiedHeader,
    /// The set that finalizes the blocks after it.
    pub next_set: AuthoritySet,
}

/// Why a header or a chain of changes does not check out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// A header is for another chain.
    #[error("height {height}: header is for chain {found:?}")]
    WrongChain {
        /// The header's height.
        height: u64,
        /// Its chain id.
        found: String,
    },
    /// A header names another authority set than the one the chain leads to.
    #[error("height {height}: the header names authority set {named}, the chain of changes leads to {expected}")]
    WrongSet {
        /// The header's height.
        height: u64,
        /// The hash it names.
        named: Hash,
        /// The hash of the set the verifier holds for that height.
        expected: Hash,
    },
    /// A certificate is not a valid quorum of the set for its header.
    #[error("height {height}: certificate: {error}")]
    Certificate {
        /// The header's height.
        height: u64,
        /// What is wrong.
        error: CertificateError,
    },
    /// A change does not change the set, or its next set differs from its header's.
    #[error("height {height}: {reason}")]
    BadChange {
        /// The change's height.
        height: u64,
        /// What is wrong.
        reason: String,
    },
    /// Changes are not in increasing height order.
    #[error("changes are out of order at height {0}")]
    OutOfOrder(u64),
}

impl PathError {
    /// Whether the error is a certificate's (rather than the chain of sets').
    pub fn is_certificate(&self) -> bool {
        matches!(self, PathError::Certificate { .. })
    }
}

/// The authority sets of a chain, learned from its anchor and a certified chain of
/// changes.
#[derive(Debug, Clone)]
pub struct AuthorityPath {
    chain_id: String,
    first: AuthoritySet,
    /// (height of the changing block, the set from the next height on), in order.
    changes: Vec<(u64, AuthoritySet)>,
}

impl AuthorityPath {
    /// Follows `changes` from `anchor`: each change must be certified by the set in
    /// force at its height and name that set and its successor.
    pub fn follow(
        anchor: &Anchor,
        changes: &[AuthorityChange],
    ) -> Result<AuthorityPath, PathError> {
        let mut path = AuthorityPath {
            chain_id: anchor.chain_id.clone(),
            first: anchor.authority_set.clone(),
            changes: Vec::with_capacity(changes.len()),
        };
        for change in changes {
            let header = &change.block.header;
            if path
                .changes
                .last()
                .is_some_and(|(h, _)| *h >= header.height)
                || header.height == 0
            {
                return Err(PathError::OutOfOrder(header.height));
            }
            path.check(&change.block)?;
            let next = change.next_set.hash();
            if header.next_authority_set != next {
                return Err(PathError::BadChange {
                    height: header.height,
                    reason: "the header names another next authority set than the change carries"
                        .into(),
                });
            }
            if next == header.authority_set {
                return Err(PathError::BadChange {
                    height: header.height,
                    reason: "the block does not change the authority set".into(),
                });
            }
            path.changes.push((header.height, change.next_set.clone()));
        }
        Ok(path)
    }

    /// The set that finalizes the block at `height`, as far as the changes followed
    /// reach.
    pub fn set_at(&self, height: u64) -> &AuthoritySet {
        self.changes
            .iter()
            .rev()
            .find(|(changed_at, _)| *changed_at < height)
            .map_or(&self.first, |(_, set)| set)
    }

    /// Number of changes followed.
    pub fn len(&self) -> usize {
        self.changes.len()
    }

    /// Whether no change was followed.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// Checks that `certified` is a header of this chain, names the set that the
    /// changes lead to for its height, and is certified by more than 2/3 of it.
    pub fn check(&self, certified: &CertifiedHeader) -> Result<(), PathError> {
        let header = &certified.header;
        if header.chain_id != self.chain_id {
            return Err(PathError::WrongChain {
                height: header.height,
                found: header.chain_id.chars().take(64).collect(),
            });
        }
        let set = self.set_at(header.height);
        let expected = set.hash();
        if header.authority_set != expected {
            return Err(PathError::WrongSet {
                height: header.height,
                named: header.authority_set,
                expected,
            });
        }
        certified
            .certificate
            .verify_for(&self.chain_id, set, header.height, &header.hash())
            .map_err(|error| PathError::Certificate {
                height: header.height,
                error,
            })
    }
}
