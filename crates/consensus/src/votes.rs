//! Collecting the proposals and votes of one height, detecting equivocation, and
//! counting against the authority set.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use mpms_crypto::{Hash, PublicKey};
use mpms_ledger::evidence::Evidence;
use mpms_ledger::vote::CommitSignature;
use mpms_ledger::{AccountId, AuthoritySet, CommitCertificate, SignedVote, VoteKind};

/// Checks signatures of incoming statements. The default verifies with ed25519; the
/// simulator may share one memoizing verifier among its nodes (a signature's validity
/// does not depend on who checks it).
pub trait SignatureVerifier: Send + Sync {
    /// Whether `vote` is validly signed under `key` for `chain_id`.
    fn verify(&self, chain_id: &str, vote: &SignedVote, key: &PublicKey) -> bool;
}

/// The plain ed25519 verifier.
#[derive(Debug, Default, Clone, Copy)]
pub struct Verifier;

impl SignatureVerifier for Verifier {
    fn verify(&self, chain_id: &str, vote: &SignedVote, key: &PublicKey) -> bool {
        vote.verify(chain_id, key).is_ok()
    }
}

/// A shared verifier.
pub type SharedVerifier = Arc<dyn SignatureVerifier>;

/// Outcome of adding a statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Added {
    /// New information.
    New,
    /// Already known.
    Duplicate,
    /// Conflicts with an earlier statement by the same validator.
    Equivocation(Box<Evidence>),
}

#[derive(Debug, Default)]
struct RoundVotes {
    proposal: Option<SignedVote>,
    prevotes: HashMap<AccountId, SignedVote>,
    precommits: HashMap<AccountId, SignedVote>,
}

impl RoundVotes {
    fn slot(&mut self, kind: VoteKind) -> Option<&mut HashMap<AccountId, SignedVote>> {
        match kind {
            VoteKind::Prevote => Some(&mut self.prevotes),
            VoteKind::Precommit => Some(&mut self.precommits),
            VoteKind::Proposal => None,
        }
    }

    fn of(&self, kind: VoteKind) -> &HashMap<AccountId, SignedVote> {
        match kind {
            VoteKind::Precommit => &self.precommits,
            _ => &self.prevotes,
        }
    }
}

/// The statements of one height, by round.
#[derive(Debug, Default)]
pub(crate) struct VoteBook {
    rounds: BTreeMap<u32, RoundVotes>,
}

impl VoteBook {
    /// Adds a statement already checked to come from a member with a valid signature
    /// (and, for proposals, from the round's proposer).
    pub fn add(&mut self, vote: SignedVote) -> Added {
        let round = self.rounds.entry(vote.vote.round).or_default();
        let existing = match round.slot(vote.vote.kind) {
            Some(map) => map.get(&vote.validator).copied(),
            None => round.proposal,
        };
        match existing {
            None => {
                match round.slot(vote.vote.kind) {
                    Some(map) => {
                        map.insert(vote.validator, vote);
                    }
                    None => round.proposal = Some(vote),
                }
                Added::New
            }
            Some(e) if e.vote == vote.vote => Added::Duplicate,
            Some(e) => Added::Equivocation(Box::new(Evidence::Equivocation {
                first: e,
                second: vote,
            })),
        }
    }

    /// Whether exactly this statement is already recorded.
    pub fn contains(&self, vote: &SignedVote) -> bool {
        self.rounds
            .get(&vote.vote.round)
            .is_some_and(|r| match vote.vote.kind {
                VoteKind::Proposal => r.proposal.as_ref() == Some(vote),
                kind => r.of(kind).get(&vote.validator) == Some(vote),
            })
    }

    /// The proposal of `round`.
    pub fn proposal(&self, round: u32) -> Option<&SignedVote> {
        self.rounds.get(&round).and_then(|r| r.proposal.as_ref())
    }

    /// Members of `set` that voted `kind` for `block` in `round`.
    pub fn count(
        &self,
        set: &AuthoritySet,
        round: u32,
        kind: VoteKind,
        block: Option<Hash>,
    ) -> usize {
        self.rounds.get(&round).map_or(0, |r| {
            r.of(kind)
                .values()
                .filter(|v| v.vote.block == block && set.contains(&v.validator))
                .count()
        })
    }

    /// Members of `set` that voted `kind` for anything in `round`.
    pub fn count_any(&self, set: &AuthoritySet, round: u32, kind: VoteKind) -> usize {
        self.rounds
            .get(&round)
            .map_or(0, |r| r.of(kind).keys().filter(|v| set.contains(v)).count())
    }

    /// Distinct members that sent anything in `round`.
    pub fn senders(&self, set: &AuthoritySet, round: u32) -> usize {
        self.rounds.get(&round).map_or(0, |r| {
            let mut who: Vec<&AccountId> = r.prevotes.keys().chain(r.precommits.keys()).collect();
            if let Some(p) = &r.proposal {
                who.push(&p.validator);
            }
            who.sort();
            who.dedup();
            who.into_iter().filter(|v| set.contains(v)).count()
        })
    }

    /// Rounds with any statement, ascending.
    pub fn rounds(&self) -> Vec<u32> {
        self.rounds.keys().copied().collect()
    }

    /// Blocks that received `kind` votes in `round`.
    pub fn blocks(&self, round: u32, kind: VoteKind) -> Vec<Hash> {
        let mut out: Vec<Hash> = self
            .rounds
            .get(&round)
            .map(|r| r.of(kind).values().filter_map(|v| v.vote.block).collect())
            .unwrap_or_default();
        out.sort();
        out.dedup();
        out
    }

    /// The commit certificate of `block` from the precommits of `round`.
    pub fn certificate(
        &self,
        set: &AuthoritySet,
        height: u64,
        round: u32,
        block: Hash,
    ) -> CommitCertificate {
        let mut signatures: Vec<CommitSignature> = self
            .rounds
            .get(&round)
            .map(|r| {
                r.precommits
                    .values()
                    .filter(|v| v.vote.block == Some(block) && set.contains(&v.validator))
                    .map(|v| CommitSignature {
                        validator: v.validator,
                        signature: v.signature,
                    })
                    .collect()
            })
            .unwrap_or_default();
        // Canonical order: the set's order.
        signatures.sort_by_key(|s| set.members.iter().position(|m| m.operator == s.validator));
        CommitCertificate {
            height,
            round,
            block,
            signatures,
        }
    }
}
