//! What authorities sign in consensus, the commit certificate that makes a block
//! final, and the authority set that certificates are checked against.
//!
//! These are the exact bytes consensus signs; the ledger needs them to verify commit
//! certificates and to judge evidence.

use std::collections::HashSet;

use mpms_crypto::{verify_batch, BatchItem, Domain, Hash, PublicKey, Signature, SigningKey};
use serde::{Deserialize, Serialize};

use crate::{codec, AccountId};

/// The step a signed statement belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[repr(u8)]
pub enum VoteKind {
    /// The round's proposer proposing a block.
    Proposal = 0,
    /// First voting step.
    Prevote = 1,
    /// Second voting step; a quorum of these makes a block final.
    Precommit = 2,
}

impl VoteKind {
    /// The signature domain of this step.
    pub fn domain(self) -> Domain {
        match self {
            VoteKind::Proposal => Domain::Proposal,
            VoteKind::Prevote => Domain::Prevote,
            VoteKind::Precommit => Domain::Precommit,
        }
    }
}

/// A consensus statement: a proposal of, or a vote for, a block (or nil).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Vote {
    /// Block height.
    pub height: u64,
    /// Round within the height.
    pub round: u32,
    /// Which step.
    pub kind: VoteKind,
    /// The block's hash, or `None` for a nil vote.
    pub block: Option<Hash>,
    /// For proposals: the round in which the proposer saw the block locked, if any.
    pub valid_round: Option<u32>,
}

impl Vote {
    /// Signs this statement as `validator` with its consensus key.
    pub fn sign(self, chain_id: &str, validator: AccountId, key: &SigningKey) -> SignedVote {
        let signature = key.sign(chain_id, self.kind.domain(), &codec::encode(&self));
        SignedVote {
            vote: self,
            validator,
            signature,
        }
    }
}

/// A statement with its author and signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SignedVote {
    /// The statement.
    pub vote: Vote,
    /// The authority (by operator account).
    pub validator: AccountId,
    /// Signature by the authority's consensus key.
    pub signature: Signature,
}

impl SignedVote {
    /// Verifies the signature under `consensus_key`.
    pub fn verify(
        &self,
        chain_id: &str,
        consensus_key: &PublicKey,
    ) -> Result<(), mpms_crypto::SignatureError> {
        consensus_key.verify(
            chain_id,
            self.vote.kind.domain(),
            &codec::encode(&self.vote),
            &self.signature,
        )
    }
}

/// One authority in a set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AuthorityMember {
    /// The operator account.
    pub operator: AccountId,
    /// The consensus key in force.
    pub consensus_key: PublicKey,
}

/// The authorities that order and finalize blocks at some height, in proposer order.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AuthoritySet {
    /// Members in proposer order.
    pub members: Vec<AuthorityMember>,
}

impl AuthoritySet {
    /// Number of authorities.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// Signatures needed for finality: the smallest count greater than 2/3 of the set.
    pub fn quorum(&self) -> usize {
        self.members.len() * 2 / 3 + 1
    }

    /// Whether `count` members are more than 2/3 of the set.
    pub fn is_quorum(&self, count: usize) -> bool {
        count * 3 > self.members.len() * 2
    }

    /// The member with operator `operator`.
    pub fn get(&self, operator: &AccountId) -> Option<&AuthorityMember> {
        self.members.iter().find(|m| &m.operator == operator)
    }

    /// Whether `operator` is a member.
    pub fn contains(&self, operator: &AccountId) -> bool {
        self.get(operator).is_some()
    }

    /// The proposer of (height, round): round-robin over the members.
    pub fn proposer(&self, height: u64, round: u32) -> Option<&AuthorityMember> {
        if self.members.is_empty() {
            return None;
        }
        let n = self.members.len() as u64;
        let index = (height.wrapping_add(u64::from(round))) % n;
        self.members.get(usize::try_from(index).ok()?)
    }

    /// The set's hash, committed in every header.
    pub fn hash(&self) -> Hash {
        Hash::digest(&codec::encode(self))
    }
}

/// One precommit signature in a certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CommitSignature {
    /// The authority.
    pub validator: AccountId,
    /// Its precommit signature.
    pub signature: Signature,
}

/// Precommits from more than 2/3 of the authorities for one block: proof of finality.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CommitCertificate {
    /// Height of the block.
    pub height: u64,
    /// Round in which it was committed.
    pub round: u32,
    /// The block's hash.
    pub block: Hash,
    /// The precommit signatures.
    pub signatures: Vec<CommitSignature>,
}

/// Why a commit certificate is not valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertificateError {
    /// A signer is not in the authority set.
    #[error("signer {0} is not an authority")]
    NotAuthority(AccountId),
    /// A signer appears twice.
    #[error("signer {0} appears twice")]
    DuplicateSigner(AccountId),
    /// Too few signatures.
    #[error("{got} signatures, need more than 2/3 of {set}")]
    NoQuorum {
        /// Signatures present.
        got: usize,
        /// Size of the set.
        set: usize,
    },
    /// A signature does not verify.
    #[error("invalid signature from {0}")]
    BadSignature(AccountId),
    /// It certifies another block or height than expected.
    #[error("certificate is for another block or height")]
    WrongBlock,
}

impl CommitCertificate {
    /// The precommit statement each signature covers.
    pub fn precommit(&self) -> Vote {
        Vote {
            height: self.height,
            round: self.round,
            kind: VoteKind::Precommit,
            block: Some(self.block),
            valid_round: None,
        }
    }

    /// The certificate's hash, committed in the next header.
    pub fn hash(&self) -> Hash {
        Hash::digest(&codec::encode(self))
    }

    /// Checks that more than 2/3 of `set` signed a precommit for this block, with
    /// distinct members and valid signatures (verified as one batch).
    pub fn verify(&self, chain_id: &str, set: &AuthoritySet) -> Result<(), CertificateError> {
        let mut seen = HashSet::with_capacity(self.signatures.len());
        let message = codec::encode(&self.precommit());
        let mut items = Vec::with_capacity(self.signatures.len());
        for sig in &self.signatures {
            let member = set
                .get(&sig.validator)
                .ok_or(CertificateError::NotAuthority(sig.validator))?;
            if !seen.insert(sig.validator) {
                return Err(CertificateError::DuplicateSigner(sig.validator));
            }
            items.push(BatchItem::new(
                chain_id,
                Domain::Precommit,
                &message,
                sig.signature,
                member.consensus_key,
            ));
        }
        if !set.is_quorum(seen.len()) {
            return Err(CertificateError::NoQuorum {
                got: seen.len(),
                set: set.len(),
            });
        }
        verify_batch(&items).map_err(|e| match e {
            mpms_crypto::SignatureError::Batch { index: Some(i) } => {
                CertificateError::BadSignature(self.signatures[i].validator)
            }
            _ => CertificateError::BadSignature(self.signatures[0].validator),
        })
    }

    /// Checks the certificate is for `block` at `height`, then verifies it.
    pub fn verify_for(
        &self,
        chain_id: &str,
        set: &AuthoritySet,
        height: u64,
        block: &Hash,
    ) -> Result<(), CertificateError> {
        if self.height != height || &self.block != block {
            return Err(CertificateError::WrongBlock);
        }
        self.verify(chain_id, set)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(n: u8) -> Vec<(AccountId, SigningKey)> {
        (0..n)
            .map(|i| {
                let op = SigningKey::from_seed(&[i + 100; 32]).public_key();
                (op, SigningKey::from_seed(&[i; 32]))
            })
            .collect()
    }

    fn set(keys: &[(AccountId, SigningKey)]) -> AuthoritySet {
        AuthoritySet {
            members: keys
                .iter()
                .map(|(op, k)| AuthorityMember {
                    operator: *op,
                    consensus_key: k.public_key(),
                })
                .collect(),
        }
    }

    fn cert(keys: &[(AccountId, SigningKey)], signers: usize) -> CommitCertificate {
        let mut c = CommitCertificate {
            height: 5,
            round: 1,
            block: Hash::digest(b"block"),
            signatures: vec![],
        };
        let vote = c.precommit();
        for (op, k) in keys.iter().take(signers) {
            let s = vote.sign("test", *op, k);
            c.signatures.push(CommitSignature {
                validator: *op,
                signature: s.signature,
            });
        }
        c
    }

    #[test]
    fn quorum_thresholds() {
        for (n, q) in [(1, 1), (3, 3), (4, 3), (5, 4), (7, 5), (10, 7), (16, 11)] {
            let s = set(&keys(n));
            assert_eq!(s.quorum(), q, "n = {n}");
            assert!(s.is_quorum(q));
            assert!(!s.is_quorum(q - 1));
        }
    }

    #[test]
    fn certificate_checks() {
        let k = keys(4);
        let s = set(&k);
        cert(&k, 3).verify("test", &s).expect("3 of 4 is a quorum");
        assert_eq!(
            cert(&k, 2).verify("test", &s),
            Err(CertificateError::NoQuorum { got: 2, set: 4 })
        );
        assert!(cert(&k, 3).verify("other-chain", &s).is_err());
        let mut dup = cert(&k, 3);
        dup.signatures[2] = dup.signatures[0].clone();
        assert!(matches!(
            dup.verify("test", &s),
            Err(CertificateError::DuplicateSigner(_))
        ));
        let mut bad = cert(&k, 4);
        bad.signatures[1].signature = bad.signatures[0].signature;
        assert_eq!(
            bad.verify("test", &s),
            Err(CertificateError::BadSignature(k[1].0))
        );
        let outsider = keys(5);
        let c = cert(&outsider, 5);
        assert!(matches!(
            c.verify("test", &s),
            Err(CertificateError::NotAuthority(_))
        ));
        let c = cert(&k, 3);
        assert_eq!(
            c.verify_for("test", &s, 6, &c.block),
            Err(CertificateError::WrongBlock)
        );
    }

    #[test]
    fn proposer_rotates() {
        let s = set(&keys(4));
        let p: Vec<_> = (0..8)
            .map(|h| s.proposer(h, 0).map(|m| m.operator))
            .collect();
        assert_eq!(p[0], p[4]);
        assert_ne!(p[0], p[1]);
        assert_eq!(s.proposer(1, 1), s.proposer(2, 0));
    }
}
