//! Collecting the proposals and votes of one height, detecting equivocation, and
//! counting against the authority set.

use std::collections::{BTreeMap, HashMap};

use mpms_crypto::Hash;
use mpms_ledger::evidence::Evidence;
use mpms_ledger::vote::CommitSignature;
use mpms_ledger::{AccountId, AuthoritySet, CommitCertificate, SignedVote, VoteKind};

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

/// Most distinct statements kept per authority and step: an honest authority signs
/// one; an equivocator's extra ones are kept (a few) so they can count toward the
/// block they support, which Tendermint's vote sets allow.
const MAX_CONFLICTING: usize = 4;

#[derive(Debug, Default)]
struct RoundVotes {
    proposal: Option<SignedVote>,
    prevotes: HashMap<AccountId, Vec<SignedVote>>,
    precommits: HashMap<AccountId, Vec<SignedVote>>,
}

impl RoundVotes {
    fn of(&self, kind: VoteKind) -> &HashMap<AccountId, Vec<SignedVote>> {
        match kind {
            VoteKind::Precommit => &self.precommits,
            _ => &self.prevotes,
        }
    }

    fn of_mut(&mut self, kind: VoteKind) -> &mut HashMap<AccountId, Vec<SignedVote>> {
        match kind {
            VoteKind::Precommit => &mut self.precommits,
            _ => &mut self.prevotes,
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
        if vote.vote.kind == VoteKind::Proposal {
            return match round.proposal {
                None => {
                    round.proposal = Some(vote);
                    Added::New
                }
                Some(e) if e.vote == vote.vote => Added::Duplicate,
                Some(e) => Added::Equivocation(Box::new(Evidence::Equivocation {
                    first: e,
                    second: vote,
                })),
            };
        }
        let votes = round
            .of_mut(vote.vote.kind)
            .entry(vote.validator)
            .or_default();
        if votes.iter().any(|v| v.vote == vote.vote) {
            return Added::Duplicate;
        }
        let first = votes.first().copied();
        if votes.len() < MAX_CONFLICTING {
            votes.push(vote);
        }
        match first {
            None => Added::New,
            Some(first) => Added::Equivocation(Box::new(Evidence::Equivocation {
                first,
                second: vote,
            })),
        }
    }

    /// Every recorded statement (proposal, prevote, precommit) for `block`, by round,
    /// step and signer (a fixed order, whatever the maps' order).
    pub fn statements_for(&self, block: &Hash) -> Vec<SignedVote> {
        let mut out = Vec::new();
        for round in self.rounds.values() {
            out.extend(round.proposal.filter(|p| p.vote.block == Some(*block)));
            for votes in round.prevotes.values().chain(round.precommits.values()) {
                out.extend(votes.iter().filter(|v| v.vote.block == Some(*block)));
            }
        }
        let step = |kind: VoteKind| match kind {
            VoteKind::Proposal => 0u8,
            VoteKind::Prevote => 1,
            VoteKind::Precommit => 2,
        };
        out.sort_by_key(|v| (v.vote.round, step(v.vote.kind), v.validator));
        out
    }

    /// A recorded statement by the same signer for the same (round, step) as `vote`
    /// that differs from it, if any.
    pub fn conflicting(&self, vote: &SignedVote) -> Option<SignedVote> {
        let round = self.rounds.get(&vote.vote.round)?;
        match vote.vote.kind {
            VoteKind::Proposal => round
                .proposal
                .filter(|p| p.validator == vote.validator && p.vote != vote.vote),
            kind => round
                .of(kind)
                .get(&vote.validator)?
                .iter()
                .find(|v| v.vote != vote.vote)
                .copied(),
        }
    }

    /// Whether exactly this statement is already recorded.
    pub fn contains(&self, vote: &SignedVote) -> bool {
        self.rounds
            .get(&vote.vote.round)
            .is_some_and(|r| match vote.vote.kind {
                VoteKind::Proposal => r.proposal.as_ref() == Some(vote),
                kind => r
                    .of(kind)
                    .get(&vote.validator)
                    .is_some_and(|votes| votes.contains(vote)),
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
                .iter()
                .filter(|(who, votes)| {
                    set.contains(who) && votes.iter().any(|v| v.vote.block == block)
                })
                .count()
        })
    }

    /// Members of `set` that voted `kind` for anything in `round`.
    pub fn count_any(&self, set: &AuthoritySet, round: u32, kind: VoteKind) -> usize {
        self.rounds
            .get(&round)
            .map_or(0, |r| r.of(kind).keys().filter(|v| set.contains(v)).count())
    }

    /// Statements held, over all rounds (conflicting ones included).
    pub fn len(&self) -> usize {
        self.rounds
            .values()
            .map(|r| {
                usize::from(r.proposal.is_some())
                    + r.prevotes.values().map(Vec::len).sum::<usize>()
                    + r.precommits.values().map(Vec::len).sum::<usize>()
            })
            .sum()
    }

    /// Forgets the statements of every round `keep` refuses.
    pub fn retain_rounds(&mut self, keep: impl Fn(u32) -> bool) {
        self.rounds.retain(|round, _| keep(*round));
    }

    /// Every block a recorded statement names (proposals and votes).
    pub fn named_blocks(&self) -> Vec<Hash> {
        let mut out: Vec<Hash> = Vec::new();
        for round in self.rounds.values() {
            out.extend(round.proposal.and_then(|p| p.vote.block));
            for votes in round.prevotes.values().chain(round.precommits.values()) {
                out.extend(votes.iter().filter_map(|v| v.vote.block));
            }
        }
        out.sort();
        out.dedup();
        out
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
            .map(|r| {
                r.of(kind)
                    .values()
                    .flatten()
                    .filter_map(|v| v.vote.block)
                    .collect()
            })
            .unwrap_or_default();
        out.sort();
        out.dedup();
        out
    }

    /// The `kind` votes of `round` for `block`.
    pub fn votes_for(&self, round: u32, kind: VoteKind, block: Option<Hash>) -> Vec<SignedVote> {
        let mut out: Vec<SignedVote> = self
            .rounds
            .get(&round)
            .map(|r| {
                r.of(kind)
                    .values()
                    .flatten()
                    .filter(|v| v.vote.block == block)
                    .copied()
                    .collect()
            })
            .unwrap_or_default();
        out.sort_by_key(|v| v.validator);
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
                    .filter_map(|votes| votes.iter().find(|v| v.vote.block == Some(block)))
                    .filter(|v| set.contains(&v.validator))
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
