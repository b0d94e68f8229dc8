//! One simulated node: the consensus engine, the ledger and the store, and the glue
//! between them (the same duties the real node performs).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use mpms_consensus::{Effect, Engine, Identity, Input, SafetyRecord, SignatureVerifier, Timeouts};
use mpms_crypto::{Hash, SigningKey};
use mpms_ledger::block::Header;
use mpms_ledger::evidence::Evidence;
use mpms_ledger::execute::{
    build_block, execute_block, read_meta, BlockExecError, BlockOutcome, SignatureCheck,
};
use mpms_ledger::records::{keys, Account};
use mpms_ledger::State;
use mpms_ledger::{
    codec, AccountId, AuthoritySet, Block, CommitCertificate, Payload, SignedTransaction,
    SignedVote, Transaction, TxError, Vote, VoteKind,
};
use mpms_store::{BlockCommit, MemStore, Store};

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
}

/// A message between nodes.
#[derive(Debug, Clone)]
pub enum Message {
    /// A proposal with its block and, for a re-proposal, the prevotes that justify it.
    Proposal(SignedVote, Arc<Block>, Arc<Vec<SignedVote>>),
    /// A prevote or precommit.
    Vote(SignedVote),
    /// A finalized block with its certificate.
    Commit(Arc<Block>, Arc<CommitCertificate>),
    /// A transaction.
    Tx(Arc<SignedTransaction>),
    /// Asks for finalized blocks from this height on.
    SyncRequest(u64),
}

impl Message {
    /// A gossip id, so each node handles and forwards a message once.
    pub fn id(&self) -> Hash {
        match self {
            Message::Proposal(v, _, _) | Message::Vote(v) => Hash::digest(&codec::encode(v)),
            Message::Commit(b, _) => b.hash(),
            Message::Tx(t) => t.hash(),
            Message::SyncRequest(h) => Hash::digest(&h.to_le_bytes()),
        }
    }
}

/// What a replica asks the simulation to do.
#[derive(Debug)]
pub enum Action {
    /// Send to these authorities (the consensus mesh), by index.
    ToAuthorities(Message, Vec<usize>),
    /// Flood over the gossip overlay.
    Gossip(Message),
    /// Send to one node.
    To(usize, Message),
    /// Fire this engine timeout later.
    Timer(mpms_consensus::Timeout, std::time::Duration),
    /// Wake the replica to retry building a block.
    WakeAt(u64),
}

/// A block decided by this replica, for the checker.
#[derive(Debug, Clone)]
pub struct Decision {
    /// Height.
    pub height: u64,
    /// Block hash.
    pub block: Hash,
    /// Virtual time of the commit (µs).
    pub at_us: u64,
}

/// Shared, deterministic memoization of signature checks across replicas.
pub type SharedVerifier = Arc<dyn SignatureVerifier>;

/// Block production policy.
#[derive(Debug, Clone, Copy)]
pub struct Production {
    /// Least time between blocks (µs).
    pub min_interval_us: u64,
    /// Empty blocks at most this often (µs).
    pub heartbeat_us: u64,
}

/// One simulated node.
pub struct Replica {
    pub index: usize,
    pub behaviour: Behaviour,
    /// Operator and consensus keys (authorities only).
    pub keys: Option<(SigningKey, SigningKey)>,
    pub authority_count: usize,
    pub store: Arc<MemStore>,
    pub engine: Option<Engine>,
    pub safety_disk: Option<SafetyRecord>,
    pub chain_id: String,
    pub timeouts: Timeouts,
    pub verifier: SharedVerifier,
    pub production: Production,
    mempool: Vec<Arc<SignedTransaction>>,
    mempool_ids: HashSet<Hash>,
    blocks: HashMap<Hash, Arc<Block>>,
    outcomes: HashMap<Hash, BlockOutcome>,
    awaiting_validation: HashSet<Hash>,
    fake_blocks: HashMap<Hash, (Header, SignedTransaction, mpms_crypto::MerkleProof)>,
    pending_build: Option<(u64, u32)>,
    proposals: HashMap<Hash, SignedVote>,
    reported: HashSet<Hash>,
    next_nonce: u64,
    pub decisions: Vec<Decision>,
    pub submitted_at: HashMap<Hash, u64>,
    pub confirmations: Vec<u64>,
    pub evidence_submitted: usize,
    pub invalid_certificates: usize,
    /// This replica's own statements of the current height, re-sent periodically so
    /// that peers that missed them (crashed, partitioned) still get them.
    own: Vec<(Message, Vec<usize>)>,
    /// Consensus keys this validator may be asked to use after a rotation.
    pub spare_keys: Vec<SigningKey>,
    /// The hash of the authority set this replica used at each height it started.
    pub schedule: Vec<(u64, Hash)>,
}

impl Replica {
    /// A replica over `store` (which must hold genesis).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        index: usize,
        behaviour: Behaviour,
        keys: Option<(SigningKey, SigningKey)>,
        authority_count: usize,
        store: Arc<MemStore>,
        chain_id: &str,
        timeouts: Timeouts,
        verifier: SharedVerifier,
        production: Production,
        safety_disk: Option<SafetyRecord>,
    ) -> Replica {
        Replica {
            index,
            behaviour,
            keys,
            authority_count,
            store,
            engine: None,
            safety_disk,
            chain_id: chain_id.to_string(),
            timeouts,
            verifier,
            production,
            mempool: Vec::new(),
            mempool_ids: HashSet::new(),
            blocks: HashMap::new(),
            outcomes: HashMap::new(),
            awaiting_validation: HashSet::new(),
            fake_blocks: HashMap::new(),
            pending_build: None,
            proposals: HashMap::new(),
            reported: HashSet::new(),
            next_nonce: 0,
            decisions: Vec::new(),
            submitted_at: HashMap::new(),
            confirmations: Vec::new(),
            evidence_submitted: 0,
            invalid_certificates: 0,
            own: Vec::new(),
            spare_keys: Vec::new(),
            schedule: Vec::new(),
        }
    }

    fn account_nonce(&self, id: &AccountId) -> u64 {
        mpms_ledger::execute::account_nonce(self.store.as_ref(), id)
    }

    fn others(&self) -> Vec<usize> {
        (0..self.authority_count)
            .filter(|i| *i != self.index)
            .collect()
    }

    /// The last committed header.
    pub fn last_header(&self) -> Header {
        self.store
            .last_header()
            .ok()
            .flatten()
            .expect("replicas always hold genesis")
    }

    /// The height this replica has committed.
    pub fn height(&self) -> u64 {
        self.last_header().height
    }

    /// Starts (or restarts) consensus at the next height.
    pub fn start(&mut self, now_us: u64) -> Vec<Action> {
        let identity = self.keys.as_ref().map(|(op, c)| Identity {
            operator: op.public_key(),
            key: c.clone(),
        });
        let engine = Engine::new(
            &self.chain_id,
            identity,
            self.timeouts.clone(),
            self.verifier.clone(),
            self.safety_disk.clone(),
        );
        self.engine = Some(engine);
        self.start_next_height(now_us)
    }

    fn start_next_height(&mut self, now_us: u64) -> Vec<Action> {
        let height = self.height() + 1;
        self.own.clear();
        let Ok(meta) = read_meta(self.store.as_ref()) else {
            return Vec::new();
        };
        self.schedule.push((height, meta.authority_set.hash()));
        // Follow a rotation of this validator's consensus key.
        if let (Some((op, _)), Some(engine)) = (&self.keys, self.engine.as_mut()) {
            if let Some(member) = meta.authority_set.get(&op.public_key()) {
                if engine.public_key() != Some(member.consensus_key) {
                    if let Some(k) = self
                        .spare_keys
                        .iter()
                        .find(|k| k.public_key() == member.consensus_key)
                    {
                        engine.set_key(k.clone());
                    }
                }
            }
        }
        self.engine_step(
            Input::StartHeight {
                height,
                authorities: meta.authority_set,
            },
            now_us,
        )
    }

    /// Hands a message from `from` to the replica.
    pub fn on_message(&mut self, from: usize, message: Message, now_us: u64) -> Vec<Action> {
        match message {
            Message::Proposal(vote, block, proof) => {
                let hash = block.hash();
                if vote.vote.block != Some(hash) {
                    return Vec::new();
                }
                let mut actions = Vec::new();
                for prevote in proof.iter() {
                    actions.extend(self.engine_step(Input::Vote(*prevote), now_us));
                }
                self.blocks.insert(hash, block);
                self.proposals.insert(hash, vote);
                actions.extend(self.check_fake_vote(&vote));
                if self.awaiting_validation.remove(&hash) {
                    actions.extend(self.validate(hash, now_us));
                }
                actions.extend(self.engine_step(Input::Proposal(vote), now_us));
                actions
            }
            Message::Vote(vote) => {
                let mut actions = self.check_fake_vote(&vote);
                actions.extend(self.engine_step(Input::Vote(vote), now_us));
                actions
            }
            Message::Commit(block, cert) => self.on_commit_message(from, block, cert, now_us),
            Message::Tx(tx) => {
                self.add_tx(tx);
                self.try_build(now_us)
            }
            Message::SyncRequest(from_height) => {
                let last = self.height();
                (from_height..=last.min(from_height + 64))
                    .filter_map(|h| {
                        let block = self.store.block(h).ok().flatten()?;
                        let cert = self.store.certificate(h).ok().flatten()?;
                        Some(Action::To(
                            from,
                            Message::Commit(Arc::new(block), Arc::new(cert)),
                        ))
                    })
                    .collect()
            }
        }
    }

    /// The next nonce of this validator's operator account (committed state).
    pub fn operator_nonce(&self) -> Option<(SigningKey, u64)> {
        let (op, _) = self.keys.as_ref()?;
        Some((op.clone(), self.account_nonce(&op.public_key())))
    }

    /// A client submits `tx` to this replica.
    pub fn submit(&mut self, tx: Arc<SignedTransaction>, now_us: u64) -> Vec<Action> {
        self.submitted_at.insert(tx.hash(), now_us);
        self.add_tx(tx.clone());
        let mut actions = vec![Action::ToAuthorities(Message::Tx(tx), self.others())];
        actions.extend(self.try_build(now_us));
        actions
    }

    fn add_tx(&mut self, tx: Arc<SignedTransaction>) {
        if self.mempool.len() < 10_000 && self.mempool_ids.insert(tx.hash()) {
            self.mempool.push(tx);
        }
    }

    /// An engine timeout fired.
    pub fn on_timeout(&mut self, t: mpms_consensus::Timeout, now_us: u64) -> Vec<Action> {
        self.engine_step(Input::TimeoutFired(t), now_us)
    }

    /// The production policy's wake-up.
    pub fn on_wake(&mut self, now_us: u64) -> Vec<Action> {
        self.try_build(now_us)
    }

    fn engine_step(&mut self, input: Input, now_us: u64) -> Vec<Action> {
        let Some(engine) = self.engine.as_mut() else {
            return Vec::new();
        };
        let effects = engine.step(input);
        let mut actions = Vec::new();
        for effect in effects {
            actions.extend(self.on_effect(effect, now_us));
        }
        actions
    }

    fn on_effect(&mut self, effect: Effect, now_us: u64) -> Vec<Action> {
        match effect {
            Effect::PersistSafety(record) => {
                // Through the store, as the node does (synced there before the
                // broadcast that follows); also kept as the validator's own file for
                // restarts that lose the chain data.
                let _ = self.store.save_safety_record(&record.to_bytes());
                self.safety_disk = Some(record);
                Vec::new()
            }
            Effect::Broadcast(vote) => self.broadcast(vote),
            Effect::ScheduleTimeout { timeout, after } => vec![Action::Timer(timeout, after)],
            Effect::BuildBlock { height, round } => {
                self.pending_build = Some((height, round));
                self.try_build(now_us)
            }
            Effect::ValidateBlock { block, .. } => self.validate(block, now_us),
            Effect::Decide {
                height,
                block,
                certificate,
                ..
            } => self.decide(height, block, certificate, now_us),
            Effect::Evidence(evidence) => self.submit_evidence(*evidence, now_us),
        }
    }

    fn broadcast(&mut self, vote: SignedVote) -> Vec<Action> {
        if self.behaviour == Behaviour::Silent {
            return Vec::new();
        }
        let others = self.others();
        let message = match vote.vote.block.and_then(|h| self.blocks.get(&h).cloned()) {
            Some(block) if vote.vote.kind == VoteKind::Proposal => {
                let proof = self
                    .engine
                    .as_ref()
                    .map(|e| e.proof_of_lock(&vote.vote))
                    .unwrap_or_default();
                Message::Proposal(vote, block, Arc::new(proof))
            }
            _ => Message::Vote(vote),
        };
        let twist = match (self.behaviour, vote.vote.kind) {
            (Behaviour::Equivocator, VoteKind::Proposal) => self.second_proposal(&vote),
            (Behaviour::Equivocator, VoteKind::Prevote)
            | (Behaviour::DoubleVoter, VoteKind::Prevote | VoteKind::Precommit) => {
                self.conflicting_vote(&vote)
            }
            _ => None,
        };
        let sends = match twist {
            // Show each half of the network a different statement.
            Some(other) => {
                let (a, b): (Vec<usize>, Vec<usize>) =
                    others.iter().partition(|i| i.is_multiple_of(2));
                vec![(message, a), (other, b)]
            }
            None => vec![(message, others)],
        };
        self.own.extend(sends.iter().cloned());
        sends
            .into_iter()
            .map(|(m, to)| Action::ToAuthorities(m, to))
            .collect()
    }

    /// How many own statements are kept for re-sending.
    pub fn own_count(&self) -> usize {
        self.own.len()
    }

    /// Re-sends this replica's statements of the current height.
    pub fn rebroadcast(&self) -> Vec<Action> {
        self.own
            .iter()
            .map(|(m, to)| Action::ToAuthorities(m.clone(), to.clone()))
            .collect()
    }

    fn signer(&self) -> Option<(AccountId, &SigningKey)> {
        self.keys.as_ref().map(|(op, c)| (op.public_key(), c))
    }

    fn conflicting_vote(&self, vote: &SignedVote) -> Option<Message> {
        let (operator, key) = self.signer()?;
        let block = match vote.vote.block {
            Some(_) => None,
            None => Some(Hash::digest(b"a block that does not exist")),
        };
        let other = Vote { block, ..vote.vote }.sign(&self.chain_id, operator, key);
        Some(Message::Vote(other))
    }

    fn second_proposal(&mut self, vote: &SignedVote) -> Option<Message> {
        let original = vote.vote.block.and_then(|h| self.blocks.get(&h).cloned())?;
        let mut alt = (*original).clone();
        alt.header.time_ms += 1;
        let alt = Arc::new(alt);
        let hash = alt.hash();
        self.blocks.insert(hash, alt.clone());
        let (operator, key) = self.signer()?;
        let other = Vote {
            block: Some(hash),
            ..vote.vote
        }
        .sign(&self.chain_id, operator, key);
        Some(Message::Proposal(other, alt, Arc::new(Vec::new())))
    }

    fn try_build(&mut self, now_us: u64) -> Vec<Action> {
        let Some((height, round)) = self.pending_build else {
            return Vec::new();
        };
        let parent = self.last_header();
        if parent.height + 1 != height {
            self.pending_build = None;
            return Vec::new();
        }
        let parent_us = parent
            .time_ms
            .saturating_sub(crate::simulation::GENESIS_TIME_MS)
            * 1_000;
        let due = if round > 0 || !self.mempool.is_empty() {
            parent_us + self.production.min_interval_us
        } else {
            parent_us + self.production.heartbeat_us
        };
        if now_us < due {
            return vec![Action::WakeAt(due)];
        }
        self.pending_build = None;
        let Some((operator, _)) = self.signer() else {
            return Vec::new();
        };
        let parent_cert = self.store.certificate(parent.height).ok().flatten();
        let time_ms = (crate::simulation::GENESIS_TIME_MS + now_us / 1_000).max(parent.time_ms + 1);
        let candidates: Vec<SignedTransaction> = self
            .mempool
            .iter()
            .take(2_000)
            .map(|t| (**t).clone())
            .collect();
        let Ok(built) = build_block(
            self.store.as_ref(),
            &parent,
            parent_cert,
            operator,
            time_ms,
            &candidates,
            SignatureCheck::Verify,
        ) else {
            return Vec::new();
        };
        let mut block = built.block;
        if self.behaviour == Behaviour::FakeCredentialProposer {
            let fake = self.keys.as_ref().and_then(|(op, _)| {
                let nonce = self.account_nonce(&op.public_key());
                crate::simulation::fake_issuance(&self.chain_id, height, op, nonce)
            });
            if let Some(fake) = fake {
                block.transactions.push(fake);
                block.header.tx_root = mpms_ledger::block::tx_root(&block.transactions);
                block.header.tx_count = block.transactions.len() as u32;
            }
        } else {
            self.outcomes.insert(block.hash(), built.outcome);
        }
        let hash = block.hash();
        self.blocks.insert(hash, Arc::new(block));
        self.engine_step(
            Input::BlockBuilt {
                height,
                round,
                block: hash,
            },
            now_us,
        )
    }

    fn validate(&mut self, hash: Hash, now_us: u64) -> Vec<Action> {
        let Some(block) = self.blocks.get(&hash).cloned() else {
            self.awaiting_validation.insert(hash);
            return Vec::new();
        };
        let parent = self.last_header();
        let height = block.header.height;
        if height != parent.height + 1 {
            return Vec::new();
        }
        let valid = match execute_block(self.store.as_ref(), &parent, &block) {
            Ok(outcome) => {
                self.outcomes.insert(hash, outcome);
                self.check_last_commit(&block)
            }
            Err(BlockExecError::Transaction {
                index,
                error: TxError::Credential(_),
            }) => {
                if let (Some(tx), Some(proof)) =
                    (block.transactions.get(index), block.tx_proof(index))
                {
                    self.fake_blocks
                        .insert(hash, (block.header.clone(), tx.clone(), proof));
                }
                false
            }
            Err(_) => false,
        };
        // A colluder vouches for anything.
        let valid = valid || self.behaviour == Behaviour::Colluder;
        let mut actions = Vec::new();
        if !valid {
            if let Some(p) = self.proposals.get(&hash).copied() {
                actions.extend(self.check_fake_vote(&p));
            }
        }
        actions.extend(self.engine_step(
            Input::BlockValidated {
                height,
                block: hash,
                valid,
            },
            now_us,
        ));
        actions
    }

    /// The block's certificate for its parent must verify against the parent's set.
    fn check_last_commit(&self, block: &Block) -> bool {
        let parent = self.last_header();
        match &block.last_commit {
            None => parent.height == 0,
            Some(cert) => self
                .store
                .certificate(parent.height)
                .ok()
                .flatten()
                .is_some_and(|stored| stored.block == cert.block && cert.height == parent.height),
        }
    }

    /// Evidence against an authority that proposed or voted for a fake-credential block.
    fn check_fake_vote(&mut self, vote: &SignedVote) -> Vec<Action> {
        let Some(hash) = vote.vote.block else {
            return Vec::new();
        };
        let Some((header, tx, proof)) = self.fake_blocks.get(&hash).cloned() else {
            return Vec::new();
        };
        let evidence = Evidence::FakeCredential {
            header: Box::new(header),
            vote: *vote,
            transaction: tx,
            proof,
        };
        self.submit_evidence(evidence, 0)
    }

    fn submit_evidence(&mut self, evidence: Evidence, now_us: u64) -> Vec<Action> {
        if self.behaviour != Behaviour::Honest || !self.reported.insert(evidence.offence_id()) {
            return Vec::new();
        }
        let Some((op, _)) = &self.keys else {
            return Vec::new();
        };
        let op = op.clone();
        let state_nonce = self.account_nonce(&op.public_key());
        let nonce = self.next_nonce.max(state_nonce);
        self.next_nonce = nonce + 1;
        let tx = Transaction {
            chain_id: self.chain_id.clone(),
            sender: op.public_key(),
            nonce,
            payload: Payload::SubmitEvidence(Box::new(evidence)),
        }
        .sign(&op);
        self.evidence_submitted += 1;
        self.submit(Arc::new(tx), now_us)
    }

    fn decide(
        &mut self,
        height: u64,
        hash: Hash,
        certificate: CommitCertificate,
        now_us: u64,
    ) -> Vec<Action> {
        let Some(block) = self.blocks.get(&hash).cloned() else {
            return Vec::new();
        };
        let cert = Arc::new(certificate);
        if !self.commit(&block, &cert, now_us) {
            return Vec::new();
        }
        let _ = height;
        let mut actions = vec![Action::Gossip(Message::Commit(block, cert))];
        actions.extend(self.start_next_height(now_us));
        actions.extend(self.try_build(now_us));
        actions
    }

    /// Commits `block` (already validated or about to be) with `cert`.
    fn commit(&mut self, block: &Arc<Block>, cert: &Arc<CommitCertificate>, now_us: u64) -> bool {
        let hash = block.hash();
        // Every certificate is checked against the authority set of its height.
        let verified = read_meta(self.store.as_ref())
            .is_ok_and(|meta| verify_certificate(&self.chain_id, &meta.authority_set, cert, block));
        if !verified {
            self.invalid_certificates += 1;
            return false;
        }
        let outcome = match self.outcomes.remove(&hash) {
            Some(o) => o,
            None => {
                let parent = self.last_header();
                match execute_block(self.store.as_ref(), &parent, block) {
                    Ok(o) => o,
                    Err(_) => return false,
                }
            }
        };
        let hashes: Vec<Hash> = outcome.receipts.iter().map(|r| r.tx_hash).collect();
        let committed = self.store.commit(BlockCommit {
            block,
            certificate: Some(cert),
            changes: &outcome.changes,
            tx_hashes: Some(&hashes),
        });
        if committed.is_err() {
            return false;
        }
        self.decisions.push(Decision {
            height: block.header.height,
            block: hash,
            at_us: now_us,
        });
        let included: HashSet<Hash> = hashes.into_iter().collect();
        for h in &included {
            if let Some(at) = self.submitted_at.remove(h) {
                self.confirmations.push(now_us - at);
            }
        }
        self.mempool.retain(|t| !included.contains(&t.hash()));
        self.mempool_ids.retain(|h| !included.contains(h));
        // Keep only what a later block could still include.
        let store = self.store.clone();
        self.mempool.retain(|t| {
            let nonce = store
                .get(&keys::account(&t.tx.sender))
                .ok()
                .flatten()
                .and_then(|b| codec::decode::<Account>(&b).ok())
                .map_or(0, |a| a.nonce);
            t.tx.nonce >= nonce
        });
        self.blocks
            .retain(|_, b| b.header.height > block.header.height);
        self.outcomes.clear();
        self.fake_blocks
            .retain(|_, (h, _, _)| h.height + 64 > block.header.height);
        true
    }

    fn on_commit_message(
        &mut self,
        from: usize,
        block: Arc<Block>,
        cert: Arc<CommitCertificate>,
        now_us: u64,
    ) -> Vec<Action> {
        let height = block.header.height;
        let mine = self.height();
        if height <= mine {
            return Vec::new();
        }
        if height > mine + 1 {
            return vec![Action::To(from, Message::SyncRequest(mine + 1))];
        }
        if !self.commit(&block, &cert, now_us) {
            return Vec::new();
        }
        let mut actions = vec![Action::Gossip(Message::Commit(block, cert))];
        actions.extend(self.start_next_height(now_us));
        actions.extend(self.try_build(now_us));
        actions
    }
}

fn verify_certificate(
    chain_id: &str,
    set: &AuthoritySet,
    cert: &CommitCertificate,
    block: &Block,
) -> bool {
    cert.verify_for(chain_id, set, block.header.height, &block.hash())
        .is_ok()
}
