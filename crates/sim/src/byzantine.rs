//! Byzantine authorities as wrappers around a node's core.
//!
//! In the manner of commonware's byzantine mocks, a Byzantine node runs the same
//! [`NodeCore`](mpms_core::NodeCore) as an honest one; a [`Mask`] sits between the core
//! and the network and lies with the node's keys: it drops, rewrites, doubles or
//! invents the statements the core sends, and reacts to what arrives. The core inside
//! never knows.

use std::collections::{HashSet, VecDeque};

use mpms_consensus::ConsensusMessage;
use mpms_crypto::{Hash, PublicKey, SigningKey};
use mpms_ledger::block::{tx_root, Header};
use mpms_ledger::{AccountId, Block, SignedTransaction, SignedVote, Vote, VoteKind};

/// How an authority behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    /// Follows the protocol.
    Honest,
    /// Sends nothing.
    Silent,
    /// As proposer, signs two different proposals and shows each to half the network;
    /// also prevotes two ways.
    Equivocator,
    /// Signs a second, conflicting prevote and precommit for every vote.
    DoubleVoter,
    /// As proposer, slips a credential issuance that the rules reject into its block.
    FakeCredentialProposer,
    /// Votes for every proposed block without checking it (colludes with a
    /// fake-credential proposer).
    Colluder,
    /// Signs proposals for far-future heights and rounds, with blocks, and floods
    /// them.
    FutureProposer,
    /// Signs nil votes for many rounds ahead of the current one.
    RoundFlooder,
    /// Re-sends old proposals it saw, wrapped as re-sends.
    Replayer,
}

/// Who a statement goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recipients {
    /// Every other node of the consensus mesh.
    All,
    /// The others with an even index (`true`) or an odd one (`false`).
    Half(bool),
}

/// The key a lying node signs with, and what it needs to build its lies.
pub struct Mask {
    behaviour: Behaviour,
    chain_id: String,
    operator: SigningKey,
    consensus: Vec<SigningKey>,
    /// (height, round, step) at which a colluder already voted for someone's block.
    colluded: HashSet<(u64, u32, u8)>,
    /// Proposals seen, for replaying.
    seen: VecDeque<ConsensusMessage>,
    ticks: u64,
}

/// Most proposals a replayer keeps.
const REPLAY_KEEP: usize = 16;

fn step(kind: VoteKind) -> u8 {
    match kind {
        VoteKind::Proposal => 0,
        VoteKind::Prevote => 1,
        VoteKind::Precommit => 2,
    }
}

impl Mask {
    /// A mask for a node with these keys (every consensus key it may be asked to
    /// use after a rotation).
    pub fn new(
        behaviour: Behaviour,
        chain_id: &str,
        operator: SigningKey,
        consensus: Vec<SigningKey>,
    ) -> Mask {
        Mask {
            behaviour,
            chain_id: chain_id.to_string(),
            operator,
            consensus,
            colluded: HashSet::new(),
            seen: VecDeque::new(),
            ticks: 0,
        }
    }

    /// The behaviour.
    pub fn behaviour(&self) -> Behaviour {
        self.behaviour
    }

    fn operator_id(&self) -> AccountId {
        self.operator.public_key()
    }

    fn key(&self, public: Option<PublicKey>) -> Option<&SigningKey> {
        let public = public?;
        self.consensus.iter().find(|k| k.public_key() == public)
    }

    fn sign(&self, vote: Vote, key: &SigningKey) -> SignedVote {
        vote.sign(&self.chain_id, self.operator_id(), key)
    }

    /// Whether the node sends nothing at all (statements, transactions, blocks).
    pub fn silent(&self) -> bool {
        self.behaviour == Behaviour::Silent
    }

    /// What goes out in place of a statement the core sends. `key` is the consensus
    /// key the core signs with; `nonce` the operator account's next nonce (for a
    /// transaction slipped into a block).
    pub fn outbound(
        &mut self,
        message: ConsensusMessage,
        key: Option<PublicKey>,
        nonce: u64,
    ) -> Vec<(ConsensusMessage, Recipients)> {
        let Some(key) = self.key(key).cloned() else {
            return vec![(message, Recipients::All)];
        };
        match (self.behaviour, message) {
            (Behaviour::Silent, _) => Vec::new(),
            (
                Behaviour::Equivocator,
                ConsensusMessage::Proposal {
                    proposal,
                    block,
                    proof,
                },
            ) => {
                let mut alt = (*block).clone();
                alt.header.time_ms += 1;
                let other = self.sign(
                    Vote {
                        block: Some(alt.hash()),
                        ..proposal.vote
                    },
                    &key,
                );
                vec![
                    (
                        ConsensusMessage::Proposal {
                            proposal,
                            block,
                            proof,
                        },
                        Recipients::Half(true),
                    ),
                    (
                        ConsensusMessage::Proposal {
                            proposal: other,
                            block: Box::new(alt),
                            proof: Vec::new(),
                        },
                        Recipients::Half(false),
                    ),
                ]
            }
            (Behaviour::Equivocator, ConsensusMessage::Vote(vote))
                if vote.vote.kind == VoteKind::Prevote =>
            {
                self.two_ways(vote, &key)
            }
            (Behaviour::DoubleVoter, ConsensusMessage::Vote(vote)) => self.two_ways(vote, &key),
            (
                Behaviour::FakeCredentialProposer,
                ConsensusMessage::Proposal {
                    proposal, block, ..
                },
            ) => {
                let mut block = *block;
                let own = block
                    .transactions
                    .iter()
                    .filter(|t| t.tx.sender == self.operator_id())
                    .count() as u64;
                let Some(fake) = fake_issuance(
                    &self.chain_id,
                    block.header.height,
                    &self.operator,
                    nonce + own,
                ) else {
                    return Vec::new();
                };
                block.transactions.push(fake);
                block.header.tx_root = tx_root(&block.transactions);
                block.header.tx_count = block.transactions.len() as u32;
                let signed = self.sign(
                    Vote {
                        block: Some(block.hash()),
                        ..proposal.vote
                    },
                    &key,
                );
                vec![(
                    ConsensusMessage::Proposal {
                        proposal: signed,
                        block: Box::new(block),
                        proof: Vec::new(),
                    },
                    Recipients::All,
                )]
            }
            (Behaviour::Colluder, ConsensusMessage::Vote(vote))
                if self.colluded.contains(&(
                    vote.vote.height,
                    vote.vote.round,
                    step(vote.vote.kind),
                )) =>
            {
                // It already voted for someone's block here, unchecked.
                Vec::new()
            }
            (_, message) => vec![(message, Recipients::All)],
        }
    }

    /// A statement and a conflicting one, each shown to half of the others.
    fn two_ways(&self, vote: SignedVote, key: &SigningKey) -> Vec<(ConsensusMessage, Recipients)> {
        let block = match vote.vote.block {
            Some(_) => None,
            None => Some(Hash::digest(b"a block that does not exist")),
        };
        let other = self.sign(Vote { block, ..vote.vote }, key);
        vec![
            (ConsensusMessage::Vote(vote), Recipients::Half(true)),
            (ConsensusMessage::Vote(other), Recipients::Half(false)),
        ]
    }

    /// What the node sends on receiving `message` at `height` (before its core sees it).
    pub fn inbound(
        &mut self,
        message: &ConsensusMessage,
        height: u64,
        key: Option<PublicKey>,
    ) -> Vec<(ConsensusMessage, Recipients)> {
        let ConsensusMessage::Proposal { proposal, .. } = message else {
            return Vec::new();
        };
        match self.behaviour {
            Behaviour::Replayer => {
                if self.seen.len() >= REPLAY_KEEP {
                    self.seen.pop_front();
                }
                self.seen.push_back(message.clone());
                Vec::new()
            }
            Behaviour::Colluder if proposal.vote.height == height => {
                let Some(key) = self.key(key).cloned() else {
                    return Vec::new();
                };
                let (h, r) = (proposal.vote.height, proposal.vote.round);
                let mut out = Vec::new();
                for kind in [VoteKind::Prevote, VoteKind::Precommit] {
                    if self.colluded.insert((h, r, step(kind))) {
                        let vote = Vote {
                            height: h,
                            round: r,
                            kind,
                            block: proposal.vote.block,
                            valid_round: None,
                        };
                        out.push((
                            ConsensusMessage::Vote(self.sign(vote, &key)),
                            Recipients::All,
                        ));
                    }
                }
                out
            }
            _ => Vec::new(),
        }
    }

    /// What the node sends on its own at a tick, at (`height`, `round`) after the
    /// committed header `last`, at `now_ms`.
    pub fn on_tick(
        &mut self,
        height: u64,
        round: u32,
        last: &Header,
        key: Option<PublicKey>,
        now_ms: u64,
    ) -> Vec<(ConsensusMessage, Recipients)> {
        self.ticks += 1;
        let Some(key) = self.key(key).cloned() else {
            return Vec::new();
        };
        match self.behaviour {
            Behaviour::FutureProposer => (0..4u64)
                .map(|i| {
                    let far = height + 100 + (self.ticks * 7 + i) % 1_000;
                    let mut header = last.clone();
                    header.height = far;
                    header.time_ms = now_ms;
                    header.parent = Hash::digest(&far.to_le_bytes());
                    header.proposer = self.operator_id();
                    let block = Block {
                        header,
                        last_commit: None,
                        transactions: Vec::new(),
                    };
                    let vote = Vote {
                        height: far,
                        round: ((self.ticks * 13 + i) % 500) as u32,
                        kind: VoteKind::Proposal,
                        block: Some(block.hash()),
                        valid_round: None,
                    };
                    (
                        ConsensusMessage::Proposal {
                            proposal: self.sign(vote, &key),
                            block: Box::new(block),
                            proof: Vec::new(),
                        },
                        Recipients::All,
                    )
                })
                .collect(),
            Behaviour::RoundFlooder => (1..=10u32)
                .flat_map(|ahead| {
                    let round = round.saturating_add(ahead + (self.ticks % 50) as u32 * 10);
                    [VoteKind::Prevote, VoteKind::Precommit].map(|kind| {
                        let vote = Vote {
                            height,
                            round,
                            kind,
                            block: None,
                            valid_round: None,
                        };
                        (
                            ConsensusMessage::Vote(self.sign(vote, &key)),
                            Recipients::All,
                        )
                    })
                })
                .collect(),
            Behaviour::Replayer if !self.seen.is_empty() => vec![(
                ConsensusMessage::Resent {
                    statements: self.seen.iter().cloned().collect(),
                    sent_at_ms: now_ms,
                },
                Recipients::All,
            )],
            _ => Vec::new(),
        }
    }
}

/// A credential issuance that the rules reject (neither its certifier nor its subject
/// is registered), sent by `sender` with `nonce`, as a Byzantine proposer would slip
/// into its block.
pub fn fake_issuance(
    chain_id: &str,
    height: u64,
    sender: &SigningKey,
    nonce: u64,
) -> Option<SignedTransaction> {
    use mpms_ledger::credential::{prepare_issuance, CredentialContent};
    use mpms_ledger::testkit::DeterministicRng;
    let certifier = SigningKey::from_seed(&[0xfa; 32]);
    let subject = SigningKey::from_seed(&[0xfb; 32]);
    let enc = mpms_crypto::DecryptionKey::derive(b"unregistered subject");
    let content = CredentialContent {
        salt: *Hash::digest(&height.to_le_bytes()).as_bytes(),
        holder_name: "Nobody".into(),
        date_of_birth: "2000-01-01".into(),
        documents: vec![],
        description: "forged".into(),
        start_date: "2026-01-01".into(),
        end_date: "2026-01-02".into(),
        marks: None,
        result: "passed".into(),
    };
    let mut rng = DeterministicRng(Hash::digest(&height.to_le_bytes()), 0);
    let issuance = prepare_issuance(
        chain_id,
        &certifier,
        certifier.public_key(),
        "forged.course",
        subject.public_key(),
        &enc.encryption_key(),
        &content,
        0,
        u64::MAX,
        &mut rng,
    )
    .ok()?;
    Some(
        mpms_ledger::Transaction {
            chain_id: chain_id.to_string(),
            sender: sender.public_key(),
            nonce,
            payload: mpms_ledger::Payload::IssueCredential(Box::new(issuance)),
        }
        .sign(sender),
    )
}
