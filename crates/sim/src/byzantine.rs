//! Byzantine authorities as wrappers around a node's core.
//!
//! In the manner of commonware's byzantine mocks, a Byzantine node runs the same
//! [`NodeCore`](mpms_core::NodeCore) as an honest one; a [`Mask`] sits between the core
//! and the network and lies with the node's keys: it drops, rewrites, doubles or
//! invents the statements the core sends, and reacts to what arrives. The core inside
//! never knows.

use std::collections::{HashMap, HashSet, VecDeque};

use mpms_consensus::ConsensusMessage;
use mpms_crypto::{Hash, MerkleProof, PublicKey, SigningKey};
use mpms_ledger::block::{tx_root, Header};
use mpms_ledger::evidence::Evidence;
use mpms_ledger::execute::{account_nonce, build_block, SignatureCheck};
use mpms_ledger::records::keys;
use mpms_ledger::{
    AccountId, Block, Payload, SignedTransaction, SignedVote, State, Transaction, Vote, VoteKind,
};
use mpms_store::Store;

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
    /// Honest until this height, a double voter from it on.
    DoubleVoterFrom(u64),
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
    /// With a colluding certifier, puts into its proposed blocks issuances whose
    /// certifier signatures sit at the edges of the verification rule (a torsion
    /// component in the nonce: valid; a non-canonical scalar: invalid), then submits
    /// fake-credential evidence against everyone who voted for such a block.
    EdgeSigner,
    /// As proposer, drops the ciphertext and sealed keys of every transaction in its
    /// block before sending it: the block's hash, and so its signed proposal, stay
    /// valid, and the content would be lost to every node that stored it.
    ContentWithholder,
    /// As proposer, sends its block whole to all but one victim and without its
    /// ciphertext and sealed keys to the victim (the hash, and so the signed proposal,
    /// stay valid); withholds all its precommits, so that the others need the
    /// victim's. A victim that judged the stripped copy invalid for the height would
    /// never prevote or precommit the block the others locked on.
    SplitWithholder,
    /// As proposer, stamps its block at the edge of the time window honest nodes
    /// accept (as old as the rules allow when its parent is old enough, else just
    /// inside the future bound), so that by network latency some honest nodes find the
    /// proposal timely and others not; its prevotes follow that block, and it
    /// withholds all its precommits. A node that kept its clock verdict for the height
    /// would never prevote the block the others locked on.
    LateProposer,
}

/// How far inside the accepted time window a late proposer stamps its block: about
/// one hop of the simulated network, so that latency splits the honest nodes.
const EDGE_MARGIN_MS: u64 = 25;

/// What a mask sends.
#[derive(Debug, Clone)]
pub enum Out {
    /// A consensus statement, to these recipients.
    Consensus(ConsensusMessage, Recipients),
    /// A transaction, to the consensus mesh.
    Transaction(SignedTransaction),
}

/// Who a statement goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recipients {
    /// Every other node of the consensus mesh.
    All,
    /// The others with an even index (`true`) or an odd one (`false`).
    Half(bool),
    /// One other node of the mesh, picked by this number (modulo the others).
    Victim(u64),
    /// Every other node of the mesh but the one [`Recipients::Victim`] picks with the
    /// same number.
    AllButVictim(u64),
}

/// The key a lying node signs with, and what it needs to build its lies.
pub struct Mask {
    behaviour: Behaviour,
    chain_id: String,
    operator: SigningKey,
    consensus: Vec<SigningKey>,
    /// A certifier that colludes with the node (signs whatever it is asked to).
    accomplice: SigningKey,
    /// (height, round, step) at which a colluder already voted for someone's block.
    colluded: HashSet<(u64, u32, u8)>,
    /// Proposals seen, for replaying.
    seen: VecDeque<ConsensusMessage>,
    /// Blocks an edge signer proposed holding an edge-signed issuance: what evidence
    /// against a vote for them needs.
    edge_blocks: HashMap<Hash, (Header, SignedTransaction, MerkleProof)>,
    /// Votes already turned into forged evidence.
    accused: HashSet<Hash>,
    /// Next nonces the mask uses for its operator's and its accomplice's
    /// transactions (above what the chain has committed).
    next_nonces: HashMap<AccountId, u64>,
    edge_issued: u64,
    ticks: u64,
    /// The chain's clock rules as honest nodes apply them (for a late proposer).
    clock: ClockRules,
    /// A late proposer's blocks: the block its core built → the one it sent instead,
    /// with the proposal that went out.
    substitutes: HashMap<Hash, (Hash, ConsensusMessage)>,
    /// Forged evidence transactions sent.
    pub forged_evidence: usize,
}

/// The clock rules honest nodes judge a new block by: how far a block's time may be
/// from their clock, and how long they wait for each round's proposal.
#[derive(Debug, Clone)]
pub struct ClockRules {
    /// Largest accepted difference between a block's time and the clock (ms).
    pub max_drift_ms: u64,
    /// The chain's consensus timeouts.
    pub timeouts: mpms_consensus::Timeouts,
}

/// The schema an edge signer's accomplice registers and issues.
const EDGE_SCHEMA: &str = "edge.course";

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
        accomplice: SigningKey,
        clock: ClockRules,
    ) -> Mask {
        Mask {
            behaviour,
            chain_id: chain_id.to_string(),
            operator,
            consensus,
            accomplice,
            colluded: HashSet::new(),
            seen: VecDeque::new(),
            edge_blocks: HashMap::new(),
            accused: HashSet::new(),
            next_nonces: HashMap::new(),
            edge_issued: 0,
            ticks: 0,
            clock,
            substitutes: HashMap::new(),
            forged_evidence: 0,
        }
    }

    /// The next nonce of `key`'s account for a transaction of the mask's.
    fn nonce(&mut self, key: &SigningKey, state: &dyn State) -> u64 {
        let id = key.public_key();
        let committed = account_nonce(state, &id);
        let next = self.next_nonces.entry(id).or_insert(0);
        let nonce = (*next).max(committed);
        *next = nonce + 1;
        nonce
    }

    fn transaction(&mut self, key: &SigningKey, state: &dyn State, payload: Payload) -> Out {
        let nonce = self.nonce(key, state);
        Out::Transaction(
            Transaction {
                chain_id: self.chain_id.clone(),
                sender: key.public_key(),
                nonce,
                payload,
            }
            .sign(key),
        )
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

    /// Whether the node keeps the finalized blocks it decided to itself: a node that
    /// withholds its precommits also withholds the certificates that would carry
    /// them.
    pub fn withholds_finalized(&self) -> bool {
        matches!(
            self.behaviour,
            Behaviour::Silent | Behaviour::SplitWithholder | Behaviour::LateProposer
        )
    }

    /// What goes out in place of a statement the core sends. `key` is the consensus
    /// key the core signs with; `store` the node's committed chain; `now_ms` its
    /// clock.
    pub fn outbound(
        &mut self,
        message: ConsensusMessage,
        key: Option<PublicKey>,
        store: &dyn Store,
        now_ms: u64,
    ) -> Vec<Out> {
        let all = |m| Out::Consensus(m, Recipients::All);
        let Some(key) = self.key(key).cloned() else {
            return vec![all(message)];
        };
        match (self.behaviour, message) {
            (Behaviour::SplitWithholder | Behaviour::LateProposer, message) => {
                self.withholder(message, &key, store, now_ms)
            }
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
                    Out::Consensus(
                        ConsensusMessage::Proposal {
                            proposal,
                            block,
                            proof,
                        },
                        Recipients::Half(true),
                    ),
                    Out::Consensus(
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
            (Behaviour::DoubleVoterFrom(from), ConsensusMessage::Vote(vote))
                if vote.vote.height >= from =>
            {
                self.two_ways(vote, &key)
            }
            (
                Behaviour::ContentWithholder,
                ConsensusMessage::Proposal {
                    proposal,
                    mut block,
                    proof,
                },
            ) => {
                for tx in &mut block.transactions {
                    *tx = tx.erased();
                }
                vec![all(ConsensusMessage::Proposal {
                    proposal,
                    block,
                    proof,
                })]
            }
            (
                Behaviour::FakeCredentialProposer,
                ConsensusMessage::Proposal {
                    proposal, block, ..
                },
            ) => {
                let mut block = *block;
                let accomplice = self.accomplice.clone();
                let nonce = self.nonce(&accomplice, store);
                let Some(fake) =
                    fake_issuance(&self.chain_id, block.header.height, &accomplice, nonce)
                else {
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
                vec![all(ConsensusMessage::Proposal {
                    proposal: signed,
                    block: Box::new(block),
                    proof: Vec::new(),
                })]
            }
            (
                Behaviour::EdgeSigner,
                ConsensusMessage::Proposal {
                    proposal, block, ..
                },
            ) => match self.edge_block(*block, store) {
                Some(block) => {
                    let signed = self.sign(
                        Vote {
                            block: Some(block.hash()),
                            ..proposal.vote
                        },
                        &key,
                    );
                    vec![all(ConsensusMessage::Proposal {
                        proposal: signed,
                        block: Box::new(block),
                        proof: Vec::new(),
                    })]
                }
                None => Vec::new(),
            },
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
            (_, message) => vec![all(message)],
        }
    }

    /// A split withholder's or late proposer's statements: precommits withheld,
    /// proposals split or stamped at the clock's edge, prevotes following the block
    /// that went out; a re-send carries the same.
    fn withholder(
        &mut self,
        message: ConsensusMessage,
        key: &SigningKey,
        store: &dyn Store,
        now_ms: u64,
    ) -> Vec<Out> {
        let (statements, sent_at_ms) = match message {
            ConsensusMessage::Resent {
                statements,
                sent_at_ms,
            } => (statements, Some(sent_at_ms)),
            other => (vec![other], None),
        };
        // What goes to everyone (but the victim) and what goes to the victim.
        let mut whole = Vec::new();
        let mut victim = Vec::new();
        let mut slot = None;
        for statement in statements {
            match statement {
                ConsensusMessage::Vote(vote) if vote.vote.kind == VoteKind::Precommit => {}
                ConsensusMessage::Vote(vote) => {
                    let vote = match vote.vote.block.and_then(|b| self.substitutes.get(&b)) {
                        Some((substitute, _)) => self.sign(
                            Vote {
                                block: Some(*substitute),
                                ..vote.vote
                            },
                            key,
                        ),
                        None => vote,
                    };
                    whole.push(ConsensusMessage::Vote(vote));
                    victim.push(ConsensusMessage::Vote(vote));
                }
                ConsensusMessage::Proposal {
                    proposal,
                    block,
                    proof,
                } => {
                    if self.behaviour == Behaviour::LateProposer {
                        let sent = self.late_proposal(proposal, *block, proof, key, store, now_ms);
                        whole.push(sent.clone());
                        victim.push(sent);
                    } else {
                        slot = Some(proposal.vote.height);
                        let mut stripped = (*block).clone();
                        for tx in &mut stripped.transactions {
                            *tx = tx.erased();
                        }
                        victim.push(ConsensusMessage::Proposal {
                            proposal,
                            block: Box::new(stripped),
                            proof: proof.clone(),
                        });
                        whole.push(ConsensusMessage::Proposal {
                            proposal,
                            block,
                            proof,
                        });
                    }
                }
                ConsensusMessage::Resent { .. } => {}
            }
        }
        // One statement goes out as itself, several as a re-send.
        let wrap = |mut statements: Vec<ConsensusMessage>| match sent_at_ms {
            Some(sent_at_ms) if !statements.is_empty() => Some(ConsensusMessage::Resent {
                statements,
                sent_at_ms,
            }),
            Some(_) => None,
            None => statements.pop(),
        };
        let out = |m: Option<ConsensusMessage>, to| m.map(|m| Out::Consensus(m, to));
        match slot {
            Some(slot) => [
                out(wrap(whole), Recipients::AllButVictim(slot)),
                out(wrap(victim), Recipients::Victim(slot)),
            ]
            .into_iter()
            .flatten()
            .collect(),
            None => out(wrap(whole), Recipients::All).into_iter().collect(),
        }
    }

    /// A late proposer's proposal: for a new block, the same transactions on the same
    /// parent, stamped at the edge of the time window (kept for its re-sends and
    /// votes); a re-proposal goes out as it is.
    fn late_proposal(
        &mut self,
        proposal: SignedVote,
        block: Block,
        proof: Vec<SignedVote>,
        key: &SigningKey,
        store: &dyn Store,
        now_ms: u64,
    ) -> ConsensusMessage {
        let original = block.hash();
        if let Some((_, sent)) = self.substitutes.get(&original) {
            return sent.clone();
        }
        let honest = ConsensusMessage::Proposal {
            proposal,
            block: Box::new(block.clone()),
            proof,
        };
        if proposal.vote.valid_round.is_some() {
            return honest;
        }
        let Some(edge) = self.edge_time_block(&block, proposal.vote.round, store, now_ms) else {
            return honest;
        };
        let signed = self.sign(
            Vote {
                block: Some(edge.hash()),
                ..proposal.vote
            },
            key,
        );
        let sent = ConsensusMessage::Proposal {
            proposal: signed,
            block: Box::new(edge.clone()),
            proof: Vec::new(),
        };
        self.substitutes
            .insert(original, (edge.hash(), sent.clone()));
        sent
    }

    /// `block` rebuilt with a time at the edge of what honest nodes accept for a new
    /// block of `round` at `now_ms`: the oldest time when the parent allows, else the
    /// furthest ahead.
    fn edge_time_block(
        &self,
        block: &Block,
        round: u32,
        store: &dyn Store,
        now_ms: u64,
    ) -> Option<Block> {
        let parent = store.header(block.header.height.checked_sub(1)?).ok()??;
        let wait = self.clock.timeouts.propose(round).as_millis() as u64;
        let oldest = now_ms
            .saturating_sub(self.clock.max_drift_ms + wait)
            .saturating_add(EDGE_MARGIN_MS);
        let time = if oldest > parent.time_ms {
            oldest
        } else {
            now_ms + self.clock.max_drift_ms + EDGE_MARGIN_MS
        };
        let parent_cert = store.certificate(parent.height).ok()?;
        Some(
            build_block(
                store,
                &parent,
                parent_cert,
                block.header.proposer,
                time,
                &block.transactions,
                SignatureCheck::Verify,
            )
            .ok()?
            .block,
        )
    }

    /// The edge signer's block: its own candidates plus an issuance signed at the edge
    /// of the rule, built (so its header is right) on the committed chain. Every
    /// other time the signature is invalid (a non-canonical scalar): that block is
    /// refused, and its proposal is evidence against the edge signer itself.
    fn edge_block(&mut self, block: Block, store: &dyn Store) -> Option<Block> {
        let subject = mpms_crypto::SigningKey::from_seed(&[0xed; 32]);
        let ready = store
            .get(&keys::schema(EDGE_SCHEMA))
            .ok()
            .flatten()
            .is_some()
            && store
                .get(&keys::subject(&subject.public_key()))
                .ok()
                .flatten()
                .is_some();
        if !ready {
            return Some(block);
        }
        self.edge_issued += 1;
        let valid = self.edge_issued % 2 == 1;
        let accomplice = self.accomplice.clone();
        let nonce = account_nonce(store, &accomplice.public_key());
        let issuance = edge_issuance(
            &self.chain_id,
            &accomplice,
            &subject,
            nonce,
            self.edge_issued,
            valid,
        )?;
        let parent = store.header(block.header.height.checked_sub(1)?).ok()??;
        let parent_cert = store.certificate(parent.height).ok()?;
        let mut candidates = block.transactions.clone();
        candidates.retain(|t| t.tx.sender != accomplice.public_key());
        candidates.push(issuance.clone());
        let built = if valid {
            build_block(
                store,
                &parent,
                parent_cert,
                block.header.proposer,
                block.header.time_ms,
                &candidates,
                SignatureCheck::Verify,
            )
            .ok()?
            .block
        } else {
            let mut b = block;
            b.transactions.push(issuance.clone());
            b.header.tx_root = tx_root(&b.transactions);
            b.header.tx_count = b.transactions.len() as u32;
            b
        };
        let index = built.transactions.iter().position(|t| *t == issuance)?;
        let proof = built.tx_proof(index)?;
        self.edge_blocks
            .insert(built.hash(), (built.header.clone(), issuance, proof));
        Some(built)
    }

    /// A statement and a conflicting one, each shown to half of the others.
    fn two_ways(&self, vote: SignedVote, key: &SigningKey) -> Vec<Out> {
        let block = match vote.vote.block {
            Some(_) => None,
            None => Some(Hash::digest(b"a block that does not exist")),
        };
        let other = self.sign(Vote { block, ..vote.vote }, key);
        vec![
            Out::Consensus(ConsensusMessage::Vote(vote), Recipients::Half(true)),
            Out::Consensus(ConsensusMessage::Vote(other), Recipients::Half(false)),
        ]
    }

    /// What the node sends on receiving `message` at `height` (before its core sees it).
    pub fn inbound(
        &mut self,
        message: &ConsensusMessage,
        height: u64,
        key: Option<PublicKey>,
        store: &dyn Store,
    ) -> Vec<Out> {
        match (self.behaviour, message) {
            (Behaviour::Replayer, ConsensusMessage::Proposal { .. }) => {
                if self.seen.len() >= REPLAY_KEEP {
                    self.seen.pop_front();
                }
                self.seen.push_back(message.clone());
                Vec::new()
            }
            (Behaviour::Colluder, ConsensusMessage::Proposal { proposal, .. })
                if proposal.vote.height == height =>
            {
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
                        out.push(Out::Consensus(
                            ConsensusMessage::Vote(self.sign(vote, &key)),
                            Recipients::All,
                        ));
                    }
                }
                out
            }
            // Forged evidence: every vote by someone else for an edge-signed block.
            (Behaviour::EdgeSigner, ConsensusMessage::Vote(vote))
                if vote.validator != self.operator_id() =>
            {
                let Some((header, transaction, proof)) = vote
                    .vote
                    .block
                    .and_then(|b| self.edge_blocks.get(&b))
                    .cloned()
                else {
                    return Vec::new();
                };
                if !self
                    .accused
                    .insert(Hash::digest(&mpms_ledger::codec::encode(vote)))
                {
                    return Vec::new();
                }
                let evidence = Evidence::FakeCredential {
                    header: Box::new(header),
                    vote: *vote,
                    transaction: transaction.erased(),
                    proof,
                };
                self.forged_evidence += 1;
                let operator = self.operator.clone();
                vec![self.transaction(
                    &operator,
                    store,
                    Payload::SubmitEvidence(Box::new(evidence)),
                )]
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
        store: &dyn Store,
    ) -> Vec<Out> {
        self.ticks += 1;
        let Some(key) = self.key(key).cloned() else {
            return Vec::new();
        };
        let wrap = |v: Vec<(ConsensusMessage, Recipients)>| {
            v.into_iter()
                .map(|(m, r)| Out::Consensus(m, r))
                .collect::<Vec<Out>>()
        };
        match self.behaviour {
            // The accomplice registers the schema and a subject the edge signer issues.
            Behaviour::EdgeSigner if self.ticks % 8 == 1 => {
                let mut out = Vec::new();
                if store
                    .get(&keys::schema(EDGE_SCHEMA))
                    .ok()
                    .flatten()
                    .is_none()
                {
                    let accomplice = self.accomplice.clone();
                    out.push(self.transaction(
                        &accomplice,
                        store,
                        Payload::RegisterSchema(Box::new(
                            mpms_ledger::transaction::SchemaDefinition {
                                id: EDGE_SCHEMA.into(),
                                description: "a course".into(),
                                prerequisites: vec![],
                                output: "competence".into(),
                                completion_condition: "pass".into(),
                                max_validity_ms: None,
                                fields: mpms_ledger::claims::course_fields(),
                                fhir_resource: None,
                            },
                        )),
                    ));
                }
                let subject = mpms_crypto::SigningKey::from_seed(&[0xed; 32]);
                if store
                    .get(&keys::subject(&subject.public_key()))
                    .ok()
                    .flatten()
                    .is_none()
                {
                    out.push(Out::Transaction(
                        Transaction {
                            chain_id: self.chain_id.clone(),
                            sender: subject.public_key(),
                            nonce: 0,
                            payload: Payload::RegisterSubject {
                                encryption_key: mpms_crypto::DecryptionKey::derive(b"edge")
                                    .encryption_key(),
                                work: mpms_ledger::work::stamp(
                                    &self.chain_id,
                                    &subject.public_key(),
                                    mpms_ledger::execute::read_meta(store)
                                        .map_or(0, |m| m.params.account_creation_work_bits),
                                ),
                            },
                        }
                        .sign(&subject),
                    ));
                }
                out
            }
            Behaviour::FutureProposer => wrap(
                (0..4u64)
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
            ),
            Behaviour::RoundFlooder => wrap(
                (1..=10u32)
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
            ),
            Behaviour::Replayer if !self.seen.is_empty() => vec![Out::Consensus(
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

/// A credential issuance that the rules reject (its schema is not registered; its
/// subject, an unregistered key, would pass as an entry key), sent by its certifier `sender` with `nonce`, as a Byzantine proposer
/// colluding with a certifier would slip into its block.
pub fn fake_issuance(
    chain_id: &str,
    height: u64,
    sender: &SigningKey,
    nonce: u64,
) -> Option<SignedTransaction> {
    use mpms_ledger::credential::{prepare_issuance, CredentialContent};
    use mpms_ledger::testkit::DeterministicRng;
    let certifier = sender;
    let subject = SigningKey::from_seed(&[0xfb; 32]);
    let enc = mpms_crypto::DecryptionKey::derive(b"unregistered subject");
    let content = CredentialContent {
        salt: *Hash::digest(&height.to_le_bytes()).as_bytes(),
        holder_name: "Nobody".into(),
        date_of_birth: "2000-01-01".into(),
        documents: vec![],
        fields: mpms_ledger::claims::course_values(
            "forged",
            "2026-01-01",
            "2026-01-02",
            None,
            "passed",
        ),
    };
    let mut rng = DeterministicRng(Hash::digest(&height.to_le_bytes()), 0);
    let issuance = prepare_issuance(
        chain_id,
        certifier,
        certifier.public_key(),
        mpms_ledger::credential::SchemaRef {
            id: "forged.course",
            fields: &mpms_ledger::claims::course_fields(),
        },
        subject.public_key(),
        &enc.encryption_key(),
        &content,
        mpms_ledger::credential::ClaimTerms::new(0, u64::MAX, height),
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

/// An issuance of the edge schema to `subject` by `certifier`, whose claim signature
/// has a torsion component in its nonce (`valid`: accepted by the rule, alone and in a
/// batch) or a non-canonical scalar (refused everywhere).
fn edge_issuance(
    chain_id: &str,
    certifier: &SigningKey,
    subject: &SigningKey,
    nonce: u64,
    serial: u64,
    valid: bool,
) -> Option<SignedTransaction> {
    use mpms_crypto::edge::{non_canonical_s, torsion_signature};
    use mpms_ledger::credential::{prepare_issuance, CredentialContent};
    use mpms_ledger::testkit::DeterministicRng;
    let enc = mpms_crypto::DecryptionKey::derive(b"edge");
    let content = CredentialContent {
        salt: *Hash::digest(&serial.to_le_bytes()).as_bytes(),
        holder_name: "Edge".into(),
        date_of_birth: "2000-01-01".into(),
        documents: vec![],
        fields: mpms_ledger::claims::course_values(
            "edge",
            "2026-01-01",
            "2026-01-02",
            None,
            "passed",
        ),
    };
    let mut rng = DeterministicRng(Hash::digest(&serial.to_le_bytes()), 1);
    let mut issuance = prepare_issuance(
        chain_id,
        certifier,
        certifier.public_key(),
        mpms_ledger::credential::SchemaRef {
            id: EDGE_SCHEMA,
            fields: &mpms_ledger::claims::course_fields(),
        },
        subject.public_key(),
        &enc.encryption_key(),
        &content,
        mpms_ledger::credential::ClaimTerms::new(0, u64::MAX, serial),
        &mut rng,
    )
    .ok()?;
    let claim = mpms_ledger::codec::encode(&issuance.claim);
    let edge = torsion_signature(
        certifier,
        chain_id,
        mpms_crypto::Domain::CredentialClaim,
        &claim,
        (serial % 7 + 1) as usize,
    );
    issuance.certifier_signature = if valid { edge } else { non_canonical_s(&edge) };
    Some(
        Transaction {
            chain_id: chain_id.to_string(),
            sender: certifier.public_key(),
            nonce,
            payload: Payload::IssueCredential(Box::new(issuance)),
        }
        .sign(certifier),
    )
}
