//! The node's core: the consensus engine, the ledger, the store and the mempool, glued
//! together without I/O. Messages, timeouts and the clock come in as method calls;
//! what the node must do (publish, arm a timer, catch up, report a commit) comes out
//! as [`Action`]s, which the node's runtime or the simulator carries out.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use mpms_consensus::messages::{check_finalized, ConsensusMessage, FinalizedBlock, MAX_RESENT};
use mpms_consensus::{Effect, Engine, Identity, Input, Timeout, Timeouts};
use mpms_crypto::{Hash, SigningKey};
use mpms_ledger::block::Header;
use mpms_ledger::evidence::Evidence;
use mpms_ledger::execute::{
    build_block, execute_block, read_meta, BlockExecError, BlockOutcome, SignatureCheck,
};
use mpms_ledger::params::ConsensusTiming;
use mpms_ledger::{
    AccountId, AuthoritySet, Block, BlockContext, CommitCertificate, Payload, Receipt,
    SignedTransaction, SignedVote, Transaction, TxError, VoteKind,
};
use mpms_store::{BlockCommit, Store, StoreError};

use crate::mempool::{AdmitError, Mempool, MempoolConfig};
use crate::proposed::ProposedBlocks;
use crate::safety_store::{InStore, SafetyStore, SignedBefore};

/// A validator's keys.
pub struct ValidatorKeys {
    /// The operator account's signing key (submits evidence).
    pub operator: SigningKey,
    /// The consensus key (signs proposals and votes).
    pub consensus: SigningKey,
}

/// Block production policy of this node (the chain's consensus timing, which every
/// validator must share, is a chain parameter: [`mpms_ledger::params::ConsensusTiming`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Production {
    /// Most transactions a proposer puts in a block (the chain's limit also applies).
    pub max_block_transactions: usize,
    /// Blocks whose time is further ahead of the local clock than this are refused.
    pub max_clock_drift: Duration,
}

impl Default for Production {
    fn default() -> Self {
        Production {
            max_block_transactions: 2_000,
            max_clock_drift: Duration::from_secs(10),
        }
    }
}

/// Settings of the core.
#[derive(Debug, Clone, Default)]
pub struct CoreConfig {
    /// Block production.
    pub production: Production,
    /// Mempool limits.
    pub mempool: MempoolConfig,
}

/// A committed block, as reported to the runtime.
#[derive(Debug, Clone)]
pub struct Committed {
    /// The block.
    pub block: Arc<Block>,
    /// Its certificate.
    pub certificate: Arc<CommitCertificate>,
    /// What each transaction did.
    pub receipts: Vec<Receipt>,
    /// The authority set that finalized it.
    pub authorities: AuthoritySet,
    /// The authority set of the next height.
    pub next_authorities: AuthoritySet,
}

/// What the core asks the runtime to do.
#[derive(Debug, Clone)]
pub enum Action {
    /// Publish on the consensus topic.
    Consensus(ConsensusMessage),
    /// Publish a transaction.
    Transaction(Arc<SignedTransaction>),
    /// Publish a finalized block.
    Finalized(Arc<FinalizedBlock>),
    /// Fire [`NodeCore::on_timeout`] after this long.
    Timer(Timeout, Duration),
    /// Call [`NodeCore::on_wake`] at this time (Unix ms).
    WakeAt(u64),
    /// A block was committed.
    Committed(Arc<Committed>),
    /// Peers are ahead: catch up by block sync.
    CatchUp,
    /// Fetch the whole block with this hash at `height` from peers (any that holds
    /// it: the proposer, a validator that received it whole, or one that stored it)
    /// and hand it to [`NodeCore::on_fetched_block`]. Either the block is being
    /// decided and this node holds no copy of it, or one without its transactions'
    /// ciphertext or sealed keys; or it is a stored block that arrived without
    /// values the chain did not erase. The answer is checked by its hash, which
    /// commits to every value by digest; a peer that answers with a stripped copy
    /// lied.
    FetchBlock {
        /// The height being decided.
        height: u64,
        /// The block's hash.
        block: Hash,
    },
}

/// Why the core stopped: the node cannot go on safely.
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    /// The store failed.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// The chain state cannot be read.
    #[error("state: {0}")]
    State(String),
    /// The safety record could not be written: nothing may be signed.
    #[error("cannot persist the safety record: {0}")]
    Safety(String),
}

/// The node's core.
pub struct NodeCore {
    chain_id: String,
    store: Arc<dyn Store>,
    /// Where the safety record is written before a statement leaves.
    safety_store: Arc<dyn SafetyStore>,
    /// With no safety record: the block time (Unix ms) a committed block must be
    /// newer than before this validator signs again.
    signing_hold: Option<u64>,

    keys: Option<ValidatorKeys>,
    /// Consensus keys this validator may switch to after a rotation.
    spare_keys: Vec<SigningKey>,
    config: CoreConfig,
    engine: Engine,
    mempool: Mempool,
    last: Header,
    /// Blocks of the current height: built here, or carried by a proposal the engine
    /// recorded (from its round's proposer, signature checked), or fetched because
    /// the engine asked for their verdict.
    blocks: HashMap<Hash, Arc<Block>>,
    /// Blocks of `blocks` held without some transaction's ciphertext or sealed keys:
    /// missing data, fetched whole before any verdict.
    incomplete: HashSet<Hash>,
    /// The whole blocks of `blocks`, shared with whoever serves peers' fetches.
    proposed: ProposedBlocks,
    /// Blocks awaiting a verdict that this node asked peers for, and when.
    fetching: HashMap<Hash, u64>,
    /// Stored blocks missing values the chain did not erase that this node asked
    /// peers for, by height, and when.
    repairing: HashMap<u64, u64>,
    /// Proposals for the next height, kept until it starts (at most
    /// [`NEXT_HEIGHT_PROPOSALS`], from that height's expected proposers).
    next_proposals: Vec<(SignedVote, Arc<Block>)>,
    /// Certificates for the parent already checked at the current height.
    verified_last_commits: HashSet<Hash>,
    outcomes: HashMap<Hash, BlockOutcome>,
    /// Blocks of the current height found to hold a fake credential.
    fake_blocks: HashMap<Hash, FakeBlock>,
    awaiting_validation: HashSet<Hash>,
    pending_build: Option<(u64, u32)>,
    /// Evidence this node reported that the chain has not yet executed, by offence:
    /// its transaction is signed again with the next nonce whenever it is no longer
    /// pending (dropped because another node's evidence for the same offence landed
    /// first, or behind one that was).
    evidence: Vec<PendingEvidence>,
    /// This node's statements at the current height, re-published on request.
    own: Vec<ConsensusMessage>,
    /// The last (height, round, step) seen by [`NodeCore::on_tick`], and since when.
    progress: ((u64, u32, mpms_consensus::Step), u64),
    last_resend_ms: u64,
    /// When a catch-up was last asked for because no block came.
    last_stall_catch_up_ms: u64,
    failure: Option<String>,
    /// The chain's consensus timing at the height in progress.
    timing: ConsensusTiming,
    /// The consensus key the chain names for this validator when this node does not
    /// hold it (it then signs nothing).
    missing_key: Option<mpms_crypto::PublicKey>,
}

/// Evidence this node submitted, until the chain executes it (or refuses it).
struct PendingEvidence {
    offence: Hash,
    evidence: Evidence,
    /// The transaction that carries it now, if one was admitted.
    tx: Option<Hash>,
    /// Times it was signed and submitted.
    attempts: u32,
}

/// Most evidence reports kept pending at once (each names one offence: a Byzantine
/// authority's statements, whose number the engine bounds per height).
const MAX_PENDING_EVIDENCE: usize = 256;

/// Most times one piece of evidence is submitted again before the node gives up.
const MAX_EVIDENCE_ATTEMPTS: u32 = 32;

/// A proposed block holding a credential issuance the rules reject: what evidence
/// about a statement for it needs.
struct FakeBlock {
    header: Header,
    transaction: SignedTransaction,
    proof: mpms_crypto::MerkleProof,
}

/// The engine's timeouts for the chain's `timing`.
pub fn timeouts_of(timing: &ConsensusTiming) -> Timeouts {
    let ms = Duration::from_millis;
    Timeouts {
        propose: ms(timing.propose_timeout_ms),
        prevote: ms(timing.prevote_timeout_ms),
        precommit: ms(timing.precommit_timeout_ms),
        delta: ms(timing.timeout_delta_ms),
        max: ms(timing.max_timeout_ms),
        heartbeat: ms(timing.heartbeat_ms),
    }
}

/// Proposals for the next height kept while this one is decided (their blocks are
/// large: only the first rounds' expected proposers are kept).
pub const NEXT_HEIGHT_PROPOSALS: usize = 2;

/// A height that has not moved for this long has this node re-send its statements.
pub const RESEND_AFTER_MS: u64 = 2_000;

/// No block for this many heartbeats has the node ask to catch up.
const STALL_HEARTBEATS: u64 = 3;

/// A block still missing (or held without its content) is asked for again after this
/// long.
pub const FETCH_RETRY_MS: u64 = 1_000;

/// A stored block still missing values the chain did not erase is asked for again
/// after this long.
pub const REPAIR_RETRY_MS: u64 = 10_000;

/// Most stored blocks under repair at once.
const MAX_REPAIRS: usize = 8;

impl NodeCore {
    /// A core over `store` (which holds at least genesis).
    pub fn new(
        store: Arc<dyn Store>,
        keys: Option<ValidatorKeys>,
        config: CoreConfig,
    ) -> Result<NodeCore, CoreError> {
        let safety = Arc::new(InStore(store.clone()));
        NodeCore::with_safety_store(store, safety, keys, config)
    }

    /// A core over `store` whose validator keeps its safety record in `safety`.
    pub fn with_safety_store(
        store: Arc<dyn Store>,
        safety_store: Arc<dyn SafetyStore>,
        keys: Option<ValidatorKeys>,
        config: CoreConfig,
    ) -> Result<NodeCore, CoreError> {
        let last = store
            .last_header()?
            .ok_or_else(|| CoreError::State("the store holds no genesis".into()))?;
        let meta = read_meta(store.as_ref()).map_err(|e| CoreError::State(e.to_string()))?;
        let before = if keys.is_some() {
            safety_store.load().map_err(CoreError::State)?
        } else {
            SignedBefore::Never
        };
        let (safety, unknown, at_most) = match before {
            SignedBefore::Never => (None, false, None),
            SignedBefore::Signed(record) => (Some(*record), false, None),
            SignedBefore::Unknown => (None, true, None),
            SignedBefore::AtMost { height, round } => (None, false, Some((height, round))),
        };
        let identity = keys.as_ref().map(|k| Identity {
            operator: k.operator.public_key(),
            key: k.consensus.clone(),
        });
        let mut engine = Engine::new(
            &meta.chain_id,
            identity,
            timeouts_of(&meta.params.consensus),
            safety,
        );
        // What it signed is unknown: nothing until the hold ends (set at start).
        engine.set_signing(!unknown);
        if let Some((height, round)) = at_most {
            engine.resume_after(height, round);
        }
        Ok(NodeCore {
            safety_store,
            signing_hold: unknown.then_some(u64::MAX),
            chain_id: meta.chain_id,
            store,
            keys,
            spare_keys: Vec::new(),
            mempool: Mempool::new(config.mempool.clone()),
            config,
            engine,
            last,
            blocks: HashMap::new(),
            incomplete: HashSet::new(),
            proposed: ProposedBlocks::default(),
            fetching: HashMap::new(),
            repairing: HashMap::new(),
            next_proposals: Vec::new(),
            verified_last_commits: HashSet::new(),
            outcomes: HashMap::new(),
            fake_blocks: HashMap::new(),
            awaiting_validation: HashSet::new(),
            pending_build: None,
            evidence: Vec::new(),
            own: Vec::new(),
            progress: ((0, 0, mpms_consensus::Step::Propose), 0),
            last_resend_ms: 0,
            last_stall_catch_up_ms: 0,
            failure: None,
            timing: meta.params.consensus,
            missing_key: None,
        })
    }

    /// Adds consensus keys to switch to when governance rotates this validator's key.
    pub fn add_spare_keys(&mut self, keys: Vec<SigningKey>) {
        self.spare_keys.extend(keys);
    }

    /// The chain id.
    pub fn chain_id(&self) -> &str {
        &self.chain_id
    }

    /// The last committed header.
    pub fn last_header(&self) -> &Header {
        &self.last
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The mempool.
    pub fn mempool(&self) -> &Mempool {
        &self.mempool
    }

    /// The engine's (height, round, step), for status and logs.
    pub fn round_state(&self) -> (u64, u32, mpms_consensus::Step) {
        (
            self.engine.height(),
            self.engine.round(),
            self.engine.current_step(),
        )
    }

    /// Blocks held for consensus (current height and the next one's buffer). Bounded
    /// by the protocol: one per round the engine recorded a proposal for, this node's
    /// own, and [`NEXT_HEIGHT_PROPOSALS`].
    pub fn stored_blocks(&self) -> usize {
        self.blocks.len() + self.next_proposals.len()
    }

    /// Consensus statements the engine holds (see
    /// [`mpms_consensus::Engine::stored_statements`]).
    pub fn stored_statements(&self) -> usize {
        self.engine.stored_statements()
    }

    /// The whole blocks of the height being decided, for answering peers that fetch
    /// one (see [`Action::FetchBlock`]).
    pub fn proposed_blocks(&self) -> ProposedBlocks {
        self.proposed.clone()
    }

    /// Why the core stopped, if it did.
    pub fn failure(&self) -> Option<&str> {
        self.failure.as_deref()
    }

    /// The chain's consensus timing at the height in progress.
    pub fn timing(&self) -> &ConsensusTiming {
        &self.timing
    }

    /// The consensus key in use, for a validator.
    pub fn consensus_key(&self) -> Option<mpms_crypto::PublicKey> {
        self.engine.public_key()
    }

    /// The consensus keys this node holds (in use and spare), for a validator.
    pub fn held_consensus_keys(&self) -> Vec<mpms_crypto::PublicKey> {
        self.keys
            .iter()
            .map(|k| k.consensus.public_key())
            .chain(self.spare_keys.iter().map(SigningKey::public_key))
            .collect()
    }

    /// The consensus key the chain names for this validator, when this node does not
    /// hold it: it cannot sign anything until the key is restored.
    pub fn missing_consensus_key(&self) -> Option<mpms_crypto::PublicKey> {
        self.missing_key
    }

    /// Whether this node is in the current authority set.
    pub fn is_authority(&self) -> bool {
        let Some(k) = &self.keys else { return false };
        read_meta(self.store.as_ref())
            .map(|m| m.authority_set.contains(&k.operator.public_key()))
            .unwrap_or(false)
    }

    fn fail(&mut self, error: CoreError) -> Vec<Action> {
        tracing::error!(%error, "consensus stopped");
        self.failure = Some(error.to_string());
        Vec::new()
    }

    /// Starts consensus at the height after the last committed block.
    pub fn start(&mut self, now_ms: u64) -> Vec<Action> {
        if self.signing_hold.is_some() {
            // Every height this validator could have signed at was open before now.
            // A block timed later than now plus twice the clock drift was proposed
            // after the drift had passed (honest validators refuse blocks further
            // ahead of their clocks), so once one is committed every such height is
            // closed, and signing from the next height on cannot conflict.
            let drift = self.config.production.max_clock_drift.as_millis() as u64;
            let hold = now_ms.saturating_add(drift.saturating_mul(2));
            self.signing_hold = Some(hold);
            tracing::warn!(
                "no safety record for this validator's consensus key: it signs nothing until the chain finalizes a block timed after {hold} (Unix ms)"
            );
        }
        self.start_next_height(now_ms)
    }

    /// With no safety record, the block time a committed block must be newer than
    /// before this validator signs again; `None` once it may sign.
    pub fn signing_hold(&self) -> Option<u64> {
        self.signing_hold
    }

    /// Whether this validator signs now (false while it does not know what it signed
    /// before and waits for the chain to move on: see [`SignedBefore::Unknown`]).
    pub fn signing(&self) -> bool {
        self.engine.signing()
    }

    fn start_next_height(&mut self, now_ms: u64) -> Vec<Action> {
        self.own.clear();
        let height = self.last.height + 1;
        let meta = match read_meta(self.store.as_ref()) {
            Ok(meta) => meta,
            Err(e) => return self.fail(CoreError::State(e.to_string())),
        };
        // Every validator waits the same: the chain's timing at this height.
        if self.timing != meta.params.consensus {
            self.engine
                .set_timeouts(timeouts_of(&meta.params.consensus));
            self.timing = meta.params.consensus.clone();
        }
        // Follow a rotation of this validator's consensus key.
        let was_missing = self.missing_key.take();
        if let Some(k) = &self.keys {
            if let Some(member) = meta.authority_set.get(&k.operator.public_key()) {
                if self.engine.public_key() != Some(member.consensus_key) {
                    let next = std::iter::once(&k.consensus)
                        .chain(&self.spare_keys)
                        .find(|s| s.public_key() == member.consensus_key)
                        .cloned();
                    match next {
                        Some(key) => {
                            tracing::info!(key = %member.consensus_key, "signing with the consensus key the chain names");
                            self.engine.set_key(key);
                        }
                        None => {
                            if was_missing != Some(member.consensus_key) {
                                tracing::warn!(
                                    expected = %member.consensus_key,
                                    "the chain names a consensus key for this validator that this node does not hold: it signs nothing until the keystore holding that key is restored (mpmsd keys status)"
                                );
                            }
                            self.missing_key = Some(member.consensus_key);
                        }
                    }
                }
            }
        }
        let mut actions = self.engine_step(
            Input::StartHeight {
                height,
                authorities: meta.authority_set,
            },
            now_ms,
        );
        // The engine replayed what it buffered for this height; the blocks of the
        // proposals it recorded come from the core's own buffer.
        for (proposal, block) in std::mem::take(&mut self.next_proposals) {
            actions.extend(self.keep_proposed_block(&proposal, block, now_ms));
        }
        actions
    }

    /// A consensus message from the network (already checked by the gossip
    /// validator: signer and signature).
    pub fn on_consensus(&mut self, message: ConsensusMessage, now_ms: u64) -> Vec<Action> {
        let mut actions = Vec::new();
        if message.height().is_some_and(|h| h > self.last.height + 1) {
            // The others may be ahead: this node may have missed blocks. (The engine
            // still buffers the message: usually the block arrives a moment later.)
            actions.push(Action::CatchUp);
        }
        match message {
            ConsensusMessage::Proposal {
                proposal,
                block,
                proof,
            } => actions.extend(self.on_proposal(proposal, *block, proof, now_ms)),
            ConsensusMessage::Vote(vote) => {
                actions.extend(self.engine_step(Input::Vote(vote), now_ms));
                actions.extend(self.report_fake_credential(&[vote], now_ms));
            }
            ConsensusMessage::Resent { statements, .. } => {
                for statement in statements {
                    if !matches!(statement, ConsensusMessage::Resent { .. }) {
                        actions.extend(self.on_consensus(statement, now_ms));
                    }
                }
            }
        }
        actions
    }

    /// A proposal: only for this height or the next, from the round's proposer, with
    /// a proof of lock no longer than the set; its block is kept only once the engine
    /// recorded the proposal (signature checked), so a block costs memory only when
    /// the protocol says it may. A proposal of a new block is judged against the clock
    /// as it arrives; that verdict holds for its round only.
    fn on_proposal(
        &mut self,
        proposal: SignedVote,
        block: Block,
        proof: Vec<SignedVote>,
        now_ms: u64,
    ) -> Vec<Action> {
        let vote = proposal.vote;
        let hash = block.hash();
        if vote.block != Some(hash)
            || vote.kind != VoteKind::Proposal
            || vote.height != block.header.height
        {
            return Vec::new();
        }
        let current = self.last.height + 1;
        let set = self.engine.authorities();
        let from_proposer =
            set.proposer(vote.height, vote.round).map(|p| p.operator) == Some(proposal.validator);
        if !from_proposer || proof.len() > set.len() {
            return Vec::new();
        }
        // A proof of lock is the prevotes of the proposal's valid round for its block.
        let proof = proof.into_iter().filter(|v| {
            v.vote.kind == VoteKind::Prevote
                && v.vote.height == vote.height
                && Some(v.vote.round) == vote.valid_round
                && v.vote.block == Some(hash)
        });
        let input = if vote.valid_round.is_some()
            || self.acceptable_new_block(&proposal, &block.header, now_ms)
        {
            Input::Proposal(proposal)
        } else {
            Input::UntimelyProposal(proposal)
        };
        let mut actions = Vec::new();
        if vote.height == current {
            // The proposal first: the engine keeps the prevotes of an old valid
            // round only as the proof of the proposal it recorded.
            actions.extend(self.engine_step(input, now_ms));
            for prevote in proof {
                actions.extend(self.engine_step(Input::Vote(prevote), now_ms));
            }
            actions.extend(self.keep_proposed_block(&proposal, Arc::new(block), now_ms));
            actions.extend(self.report_fake_credential(&[proposal], now_ms));
        } else if vote.height == current + 1
            && vote.round < NEXT_HEIGHT_PROPOSALS as u32
            && !self.next_proposals.iter().any(|(p, _)| p == &proposal)
        {
            // The next height's proposer is predicted with this height's set; a set
            // change at this height only costs a wait for the proposal's re-send.
            if self.next_proposals.len() < NEXT_HEIGHT_PROPOSALS {
                for prevote in proof {
                    actions.extend(self.engine_step(Input::Vote(prevote), now_ms));
                }
                actions.extend(self.engine_step(input, now_ms));
                self.next_proposals.push((proposal, Arc::new(block)));
            }
        }
        actions
    }

    /// Keeps the block of `proposal` if the engine recorded the proposal at the current
    /// height, and validates it if the engine already asked.
    fn keep_proposed_block(
        &mut self,
        proposal: &SignedVote,
        block: Arc<Block>,
        now_ms: u64,
    ) -> Vec<Action> {
        let Some(hash) = proposal.vote.block else {
            return Vec::new();
        };
        if proposal.vote.height != self.last.height + 1 || !self.engine.recorded(proposal) {
            return Vec::new();
        }
        self.hold(hash, block, now_ms)
    }

    /// Keeps `block` (of the current height, hash `hash`): a whole copy replaces one
    /// without its content; a block the engine awaits a verdict on is validated once
    /// whole, and fetched from peers while not.
    fn hold(&mut self, hash: Hash, block: Arc<Block>, now_ms: u64) -> Vec<Action> {
        // The hash is the header's: a body that is not the one the header commits
        // to is not this block (someone on the way changed it). Not a verdict:
        // the block is fetched whole, as if this copy never came.
        if !block.matches_header() {
            tracing::warn!(
                height = block.header.height,
                %hash,
                "a copy of a proposed block whose body is not its header's: ignored"
            );
            return if !self.held_whole(&hash) && self.awaiting_validation.contains(&hash) {
                self.fetch(hash, now_ms)
            } else {
                Vec::new()
            };
        }
        let whole = block.first_erased().is_none();
        if self.blocks.contains_key(&hash) && (!whole || !self.incomplete.contains(&hash)) {
            return Vec::new();
        }
        if whole {
            self.incomplete.remove(&hash);
            self.fetching.remove(&hash);
            self.proposed.insert(hash, block.clone());
            self.blocks.insert(hash, block);
            if self.awaiting_validation.remove(&hash) {
                return self.validate(hash, now_ms);
            }
            return Vec::new();
        }
        tracing::warn!(
            height = block.header.height,
            %hash,
            "a proposed block arrived without a transaction's ciphertext or sealed keys: fetching it whole"
        );
        self.incomplete.insert(hash);
        self.blocks.insert(hash, block);
        if self.awaiting_validation.contains(&hash) {
            return self.fetch(hash, now_ms);
        }
        Vec::new()
    }

    /// A whole block fetched from a peer after [`Action::FetchBlock`]: kept if it is
    /// one the engine awaits a verdict on (or one held without its content) at the
    /// current height, or a stored block under repair, and whole; ignored otherwise.
    /// The caller checks it against the hash it asked for.
    pub fn on_fetched_block(&mut self, block: Block, now_ms: u64) -> Vec<Action> {
        if block.header.height <= self.last.height {
            self.repair(block);
            return Vec::new();
        }
        let hash = block.hash();
        if block.header.height != self.last.height + 1
            || block.first_erased().is_some()
            || !(self.awaiting_validation.contains(&hash) || self.incomplete.contains(&hash))
        {
            return Vec::new();
        }
        self.hold(hash, Arc::new(block), now_ms)
    }

    /// Stored blocks that arrived without values the chain has not erased (a peer
    /// withheld them during catch-up): asked for again from peers, once this node is
    /// near the chain's tip (so that it knows of every erasure the peers know of).
    /// A block the chain has erased the values of since is whole as it is.
    fn repair_incomplete(&mut self, now_ms: u64) -> Vec<Action> {
        let heights = match self.store.incomplete_blocks(MAX_REPAIRS) {
            Ok(heights) => heights,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the blocks to repair");
                return Vec::new();
            }
        };
        self.repairing.retain(|h, _| heights.contains(h));
        let mut actions = Vec::new();
        for height in heights {
            if self
                .repairing
                .get(&height)
                .is_some_and(|at| now_ms.saturating_sub(*at) < REPAIR_RETRY_MS)
            {
                continue;
            }
            let block = match self.lacking_unerased(height) {
                Ok(Some(block)) => block,
                Ok(None) => {
                    if let Err(e) = self.store.clear_incomplete(height) {
                        tracing::warn!(height, error = %e, "cannot clear a repair mark");
                    }
                    continue;
                }
                Err(e) => {
                    tracing::warn!(height, error = %e, "cannot read a block to repair");
                    continue;
                }
            };
            self.repairing.insert(height, now_ms);
            tracing::info!(
                height,
                "a stored block lacks content the chain did not erase: fetching it whole"
            );
            actions.push(Action::FetchBlock {
                height,
                block: block.hash(),
            });
        }
        actions
    }

    /// The stored block at `height` if it lacks values the chain did not erase.
    fn lacking_unerased(&self, height: u64) -> Result<Option<Block>, StoreError> {
        let Some(block) = self.store.block(height)? else {
            return Ok(None);
        };
        if block.first_erased().is_none()
            || crate::erasure::erasure_explained(self.store.as_ref(), &block)?
        {
            return Ok(None);
        }
        Ok(Some(block))
    }

    /// A whole copy of a stored block that lacks values: kept, with the values of
    /// credentials the chain erased since removed again.
    fn repair(&mut self, whole: Block) {
        let height = whole.header.height;
        if !self.repairing.contains_key(&height) || whole.first_erased().is_some() {
            return;
        }
        let stored = match self.store.block(height) {
            Ok(Some(stored)) if stored.hash() == whole.hash() => stored,
            _ => return,
        };
        let repaired = crate::erasure::keep_erasures(self.store.as_ref(), whole)
            .and_then(|b| self.store.replace_values(&b).map(|()| b));
        match repaired {
            Ok(_) => {
                self.repairing.remove(&height);
                if let Err(e) = self.store.clear_incomplete(height) {
                    tracing::warn!(height, error = %e, "cannot clear a repair mark");
                }
                tracing::info!(
                    height,
                    lacked = stored.first_erased().is_some(),
                    "stored block repaired with the content it lacked"
                );
            }
            Err(e) => tracing::warn!(height, error = %e, "cannot repair a stored block"),
        }
    }

    /// Of `heights`, those whose stored block still lacks values the chain did not
    /// erase: what a peer that served them during catch-up withheld. (A block that
    /// cannot be read is not counted against anyone.)
    pub fn unexplained_incomplete(&self, heights: &[u64]) -> Vec<u64> {
        heights
            .iter()
            .copied()
            .filter(|h| matches!(self.lacking_unerased(*h), Ok(Some(_))))
            .collect()
    }

    /// Whether this node holds block `hash` of the current height whole.
    fn held_whole(&self, hash: &Hash) -> bool {
        self.blocks.contains_key(hash) && !self.incomplete.contains(hash)
    }

    /// Asks peers for the whole block `hash` (at most once per [`FETCH_RETRY_MS`]).
    fn fetch(&mut self, hash: Hash, now_ms: u64) -> Vec<Action> {
        if self
            .fetching
            .get(&hash)
            .is_some_and(|at| now_ms.saturating_sub(*at) < FETCH_RETRY_MS)
        {
            return Vec::new();
        }
        self.fetching.insert(hash, now_ms);
        vec![Action::FetchBlock {
            height: self.last.height + 1,
            block: hash,
        }]
    }

    /// Blocks the engine awaits a verdict on that this node does not hold whole: asked
    /// for again (a proposal missed, or its content stripped).
    fn fetch_missing(&mut self, now_ms: u64) -> Vec<Action> {
        let mut missing: Vec<Hash> = self
            .awaiting_validation
            .iter()
            .filter(|h| !self.held_whole(h))
            .copied()
            .collect();
        missing.sort();
        missing
            .into_iter()
            .flat_map(|h| self.fetch(h, now_ms))
            .collect()
    }

    /// A finalized block from the network.
    pub fn on_finalized(&mut self, finalized: FinalizedBlock, now_ms: u64) -> Vec<Action> {
        let height = finalized.block.header.height;
        if height <= self.last.height {
            return Vec::new();
        }
        if height > self.last.height + 1 {
            return vec![Action::CatchUp];
        }
        // A block finalized just now carries every erasable value: only a later block
        // erases one. A copy without them is a peer withholding content (the digests
        // still verify); the node waits for a whole copy, from consensus or sync.
        if let Some(index) = finalized.block.first_erased() {
            tracing::warn!(
                height,
                index,
                "finalized block without a transaction's ciphertext or sealed keys refused"
            );
            return Vec::new();
        }
        match self.commit_finalized(finalized) {
            Ok(actions) => {
                let mut actions = actions;
                actions.extend(self.start_next_height(now_ms));
                actions.extend(self.try_build(now_ms));
                actions
            }
            Err(reason) => {
                tracing::debug!(height, %reason, "finalized block refused");
                Vec::new()
            }
        }
    }

    /// Checks and commits the next block with its certificate (from gossip or sync),
    /// without restarting consensus. Returns the actions of the commit; an error says
    /// why the block is wrong.
    pub fn commit_finalized(&mut self, finalized: FinalizedBlock) -> Result<Vec<Action>, String> {
        let meta = read_meta(self.store.as_ref()).map_err(|e| e.to_string())?;
        check_finalized(&self.chain_id, &self.last, &meta.authority_set, &finalized)?;
        // The certificate's precommits are signed statements too (verified just now):
        // one that contradicts a statement this node recorded at that height is
        // equivocation (a validator whose two instances voted in two partitions).
        let mut actions = Vec::new();
        let certificate = &finalized.certificate;
        for signature in &certificate.signatures {
            let statement = SignedVote {
                vote: certificate.precommit(),
                validator: signature.validator,
                signature: signature.signature,
            };
            if let Some(evidence) = self.engine.equivocation_with(&statement) {
                actions.extend(self.submit_evidence(evidence, finalized.block.header.time_ms));
            }
        }
        let FinalizedBlock { block, certificate } = finalized;
        let block = Arc::new(block);
        actions.extend(self.commit(&block, Arc::new(certificate), None)?);
        Ok(actions)
    }

    /// After sync applied blocks with [`NodeCore::commit_finalized`]: restarts
    /// consensus at the new height.
    pub fn resume(&mut self, now_ms: u64) -> Vec<Action> {
        if self.engine.height() == self.last.height + 1 {
            return Vec::new();
        }
        let mut actions = self.start_next_height(now_ms);
        actions.extend(self.try_build(now_ms));
        actions
    }

    /// A transaction from gossip: admitted if valid, silently dropped otherwise.
    pub fn on_gossip_transaction(&mut self, tx: SignedTransaction, now_ms: u64) -> Vec<Action> {
        match self.admit(tx, now_ms) {
            Ok(_) => self.try_build(now_ms),
            Err(_) => Vec::new(),
        }
    }

    /// A client submits `tx`: checked, admitted and published, or refused with the
    /// reason.
    pub fn submit(
        &mut self,
        tx: SignedTransaction,
        now_ms: u64,
    ) -> Result<(Hash, Vec<Action>), AdmitError> {
        let hash = self.admit(tx.clone(), now_ms)?;
        let mut actions = vec![Action::Transaction(Arc::new(tx))];
        actions.extend(self.try_build(now_ms));
        Ok((hash, actions))
    }

    /// A client submits several transactions at once: each is checked and admitted
    /// (and published) or refused with its reason, in order, as [`Core::submit`]
    /// would; a block is tried once, after all of them.
    pub fn submit_many(
        &mut self,
        txs: Vec<SignedTransaction>,
        now_ms: u64,
    ) -> (Vec<Result<Hash, AdmitError>>, Vec<Action>) {
        let mut results = Vec::with_capacity(txs.len());
        let mut actions = Vec::with_capacity(txs.len() + 1);
        for tx in txs {
            match self.admit(tx.clone(), now_ms) {
                Ok(hash) => {
                    results.push(Ok(hash));
                    actions.push(Action::Transaction(Arc::new(tx)));
                }
                Err(e) => results.push(Err(e)),
            }
        }
        actions.extend(self.try_build(now_ms));
        (results, actions)
    }

    fn admit(&mut self, tx: SignedTransaction, now_ms: u64) -> Result<Hash, AdmitError> {
        let ctx = BlockContext {
            height: self.last.height + 1,
            time_ms: now_ms.max(self.last.time_ms + 1),
            proposer: self.last.proposer,
            parent: self.last.hash(),
        };
        self.mempool.insert(self.store.as_ref(), &ctx, tx, now_ms)
    }

    /// An engine timeout fired.
    pub fn on_timeout(&mut self, timeout: Timeout, now_ms: u64) -> Vec<Action> {
        self.engine_step(Input::TimeoutFired(timeout), now_ms)
    }

    /// The wake-up asked for by [`Action::WakeAt`].
    pub fn on_wake(&mut self, now_ms: u64) -> Vec<Action> {
        self.try_build(now_ms)
    }

    /// A periodic tick (the runtime's, every few hundred ms): when consensus has not
    /// moved for [`RESEND_AFTER_MS`], re-sends this node's statements; when no block
    /// has come for several heartbeats, asks to catch up (this node may have missed
    /// what would tell it the others are ahead).
    pub fn on_tick(&mut self, now_ms: u64) -> Vec<Action> {
        let mut actions = Vec::new();
        let stall_ms = self
            .timing
            .heartbeat_ms
            .saturating_mul(STALL_HEARTBEATS)
            .max(2 * RESEND_AFTER_MS);
        let since_block = now_ms.saturating_sub(self.last.time_ms);
        let since_asked = now_ms.saturating_sub(self.last_stall_catch_up_ms);
        if since_block > stall_ms && since_asked > stall_ms {
            self.last_stall_catch_up_ms = now_ms;
            actions.push(Action::CatchUp);
        }
        actions.extend(self.resend_if_quiet(now_ms));
        actions.extend(self.fetch_missing(now_ms));
        // Near the tip this node knows of every erasure its peers know of.
        if since_block <= stall_ms {
            actions.extend(self.repair_incomplete(now_ms));
        }
        actions
    }

    fn resend_if_quiet(&mut self, now_ms: u64) -> Vec<Action> {
        let state = self.round_state();
        if state != self.progress.0 {
            self.progress = (state, now_ms);
            return Vec::new();
        }
        let quiet_since = self.progress.1.max(self.last_resend_ms);
        if now_ms.saturating_sub(quiet_since) < RESEND_AFTER_MS {
            return Vec::new();
        }
        self.last_resend_ms = now_ms;
        self.resend(now_ms)
            .map(|m| vec![Action::Consensus(m)])
            .unwrap_or_default()
    }

    /// This node's latest statements at the current height, as one re-send (peers
    /// that were away or restarted missed them; gossip never repeats a message).
    /// `None` when there is nothing to re-send.
    pub fn resend(&self, now_ms: u64) -> Option<ConsensusMessage> {
        let start = self.own.len().saturating_sub(MAX_RESENT);
        let statements: Vec<ConsensusMessage> = self.own[start..].to_vec();
        (!statements.is_empty()).then_some(ConsensusMessage::Resent {
            statements,
            sent_at_ms: now_ms,
        })
    }

    fn engine_step(&mut self, input: Input, now_ms: u64) -> Vec<Action> {
        if self.failure.is_some() {
            return Vec::new();
        }
        let round = self.engine.round();
        let effects = self.engine.step(input);
        let mut actions = Vec::new();
        for effect in effects {
            if self.failure.is_some() {
                break;
            }
            actions.extend(self.on_effect(effect, now_ms));
        }
        if self.engine.round() != round {
            self.forget_blocks_out_of_play();
        }
        actions
    }

    /// Drops the blocks of the current height that the engine no longer needs (a
    /// height stalled over many rounds would otherwise keep one per round).
    fn forget_blocks_out_of_play(&mut self) {
        // This node's own proposals are recorded statements: their blocks are in play.
        let keep = self.engine.blocks_in_play();
        self.awaiting_validation.retain(|h| keep.contains(h));
        self.blocks.retain(|h, _| keep.contains(h));
        self.incomplete.retain(|h| keep.contains(h));
        self.fetching.retain(|h, _| keep.contains(h));
        self.outcomes.retain(|h, _| keep.contains(h));
        self.fake_blocks.retain(|h, _| keep.contains(h));
        self.proposed.retain(|h| keep.contains(h));
    }

    fn on_effect(&mut self, effect: Effect, now_ms: u64) -> Vec<Action> {
        match effect {
            Effect::PersistSafety(record) => {
                // Durable before the statement it records is published.
                if let Err(e) = self.safety_store.save(&record) {
                    return self.fail(CoreError::Safety(e));
                }
                Vec::new()
            }
            Effect::Broadcast(vote) => self.broadcast(vote),
            Effect::ScheduleTimeout { timeout, after } => vec![Action::Timer(timeout, after)],
            Effect::BuildBlock { height, round } => {
                self.pending_build = Some((height, round));
                self.try_build(now_ms)
            }
            Effect::ValidateBlock { block, .. } => self.validate(block, now_ms),
            Effect::Decide {
                block, certificate, ..
            } => self.decide(block, certificate, now_ms),
            Effect::Evidence(evidence) => self.submit_evidence(*evidence, now_ms),
        }
    }

    fn broadcast(&mut self, vote: SignedVote) -> Vec<Action> {
        let message = match vote.vote.block.and_then(|h| self.blocks.get(&h).cloned()) {
            Some(block) if vote.vote.kind == VoteKind::Proposal => ConsensusMessage::Proposal {
                proposal: vote,
                block: Box::new((*block).clone()),
                proof: self.engine.proof_of_lock(&vote.vote),
            },
            _ => ConsensusMessage::Vote(vote),
        };
        self.own.push(message.clone());
        vec![Action::Consensus(message)]
    }

    fn try_build(&mut self, now_ms: u64) -> Vec<Action> {
        let Some((height, round)) = self.pending_build else {
            return Vec::new();
        };
        if self.last.height + 1 != height {
            self.pending_build = None;
            return Vec::new();
        }
        let min_interval = self.timing.min_block_interval_ms;
        let heartbeat = self.timing.heartbeat_ms;
        let due = if round > 0 || !self.mempool.is_empty() {
            self.last.time_ms + min_interval
        } else {
            self.last.time_ms + heartbeat
        };
        if now_ms < due {
            return vec![Action::WakeAt(due)];
        }
        self.pending_build = None;
        let Some(operator) = self.keys.as_ref().map(|k| k.operator.public_key()) else {
            return Vec::new();
        };
        let parent_cert = match self.store.certificate(self.last.height) {
            Ok(c) => c,
            Err(e) => return self.fail(e.into()),
        };
        let time_ms = now_ms.max(self.last.time_ms + 1);
        let candidates = self
            .mempool
            .candidates(self.config.production.max_block_transactions);
        let built = match build_block(
            self.store.as_ref(),
            &self.last,
            parent_cert,
            operator,
            time_ms,
            candidates.iter().map(|t| t.as_ref()),
            SignatureCheck::Verify,
        ) {
            Ok(b) => b,
            Err(e) => return self.fail(CoreError::State(e.to_string())),
        };
        if !built.excluded.is_empty() {
            tracing::debug!(excluded = built.excluded.len(), "candidates left out");
        }
        let hash = built.block.hash();
        self.outcomes.insert(hash, built.outcome);
        let block = Arc::new(built.block);
        self.proposed.insert(hash, block.clone());
        self.blocks.insert(hash, block);
        self.engine_step(
            Input::BlockBuilt {
                height,
                round,
                block: hash,
            },
            now_ms,
        )
    }

    /// The engine asks for the verdict on block `hash`: a function of what the hash
    /// commits to and the committed chain (execution on the parent, the certificate
    /// for the parent). A block not held whole is fetched first: missing data is not
    /// a verdict.
    fn validate(&mut self, hash: Hash, now_ms: u64) -> Vec<Action> {
        if !self.held_whole(&hash) {
            self.awaiting_validation.insert(hash);
            // A proposal without its content is fetched at once; a block never
            // received (others voted for it) at the next tick, as its proposal is
            // usually on the way.
            return if self.blocks.contains_key(&hash) {
                self.fetch(hash, now_ms)
            } else {
                Vec::new()
            };
        }
        let Some(block) = self.blocks.get(&hash).cloned() else {
            return Vec::new();
        };
        let height = block.header.height;
        if height != self.last.height + 1 {
            return Vec::new();
        }
        let valid = match execute_block(self.store.as_ref(), &self.last, &block) {
            Ok(outcome) => {
                self.outcomes.insert(hash, outcome);
                self.check_last_commit(&block)
            }
            Err(e) => {
                tracing::warn!(height, error = %e, "proposed block is invalid");
                // An issuance the rules refuse, or one relying on what the block
                // itself registers (absent from the state its voters judge it by):
                // either way a statement for this block is evidence.
                if let BlockExecError::Transaction {
                    index,
                    error: TxError::Credential(_) | TxError::NotFinalYet(_),
                } = e
                {
                    self.note_fake_credential(&block, index);
                }
                false
            }
        };
        let mut actions = self.engine_step(
            Input::BlockValidated {
                height,
                block: hash,
                valid,
            },
            now_ms,
        );
        // Statements for the block that arrived before it was found fake.
        let recorded = self.engine.statements_for(&hash);
        actions.extend(self.report_fake_credential(&recorded, now_ms));
        actions
    }

    /// Remembers that `block`, proposed at the current height, holds at `index` an
    /// issuance the rules reject: every signed statement for it is evidence.
    fn note_fake_credential(&mut self, block: &Block, index: usize) {
        let (Some(transaction), Some(proof)) =
            (block.transactions.get(index), block.tx_proof(index))
        else {
            return;
        };
        tracing::warn!(
            height = block.header.height,
            proposer = %block.header.proposer,
            "a proposed block holds a fake credential: its proposer and voters will be reported"
        );
        self.fake_blocks.insert(
            block.hash(),
            FakeBlock {
                header: block.header.clone(),
                // Evidence judges the claim, never the content: it carries the
                // transaction with its ciphertext and sealed keys erased.
                transaction: transaction.erased(),
                proof,
            },
        );
    }

    /// Submits fake-credential evidence for each of `statements` that signs a block
    /// known to hold a fake credential and that the engine recorded (so its signature
    /// and signer were checked).
    fn report_fake_credential(&mut self, statements: &[SignedVote], now_ms: u64) -> Vec<Action> {
        let mut actions = Vec::new();
        for statement in statements {
            let Some(fake) = statement.vote.block.and_then(|b| self.fake_blocks.get(&b)) else {
                continue;
            };
            if !self.engine.recorded(statement) {
                continue;
            }
            let evidence = Evidence::FakeCredential {
                header: Box::new(fake.header.clone()),
                vote: *statement,
                transaction: fake.transaction.clone(),
                proof: fake.proof.clone(),
            };
            actions.extend(self.submit_evidence(evidence, now_ms));
        }
        actions
    }

    /// Whether `proposal`'s block is acceptable as its round's new block, judged as
    /// it arrives: it names its signer as proposer, and carries a time this node can
    /// accept as now, neither further ahead of the clock than the allowed drift nor
    /// older than the drift plus the round's proposal wait (a proposer cannot hold
    /// the chain's time back; see docs/CONSENSUS.md, "Block time"). The verdict is
    /// the round's: it only decides this node's prevote in that round.
    fn acceptable_new_block(&self, proposal: &SignedVote, header: &Header, now_ms: u64) -> bool {
        let drift = self.config.production.max_clock_drift.as_millis() as u64;
        let delay = timeouts_of(&self.timing)
            .propose(proposal.vote.round)
            .as_millis() as u64;
        let height = header.height;
        if header.proposer != proposal.validator {
            tracing::warn!(height, "proposed block names another proposer");
            false
        } else if header.time_ms > now_ms.saturating_add(drift) {
            tracing::warn!(height, "proposed block is from the future");
            false
        } else if header.time_ms.saturating_add(drift).saturating_add(delay) < now_ms {
            tracing::warn!(height, "proposed block's time is too far in the past");
            false
        } else {
            true
        }
    }

    /// The block's certificate for its parent: for the committed parent, signed by
    /// more than 2/3 of the set that finalized the parent.
    fn check_last_commit(&mut self, block: &Block) -> bool {
        let Some(cert) = &block.last_commit else {
            return self.last.height == 0;
        };
        if cert.height != self.last.height || cert.block != self.last.hash() {
            return false;
        }
        let hash = cert.hash();
        if self.verified_last_commits.contains(&hash) {
            return true;
        }
        let set = match mpms_ledger::execute::finalizing_set_of_last_block(
            self.store.as_ref(),
            self.last.height,
        ) {
            Ok(set) => set,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the parent's authority set");
                return false;
            }
        };
        match cert.verify_for(&self.chain_id, &set, self.last.height, &self.last.hash()) {
            Ok(()) => {
                self.verified_last_commits.insert(hash);
                true
            }
            Err(e) => {
                tracing::warn!(height = block.header.height, error = %e, "proposed block's certificate for its parent is invalid");
                false
            }
        }
    }

    fn account_nonce(&self, id: &AccountId) -> u64 {
        mpms_ledger::execute::account_nonce(self.store.as_ref(), id)
    }

    /// Reports `evidence`, unless this offence is already reported and pending, or
    /// already punished on chain.
    fn submit_evidence(&mut self, evidence: Evidence, now_ms: u64) -> Vec<Action> {
        if self.keys.is_none() {
            return Vec::new();
        }
        let offence = evidence.offence_id();
        if self.evidence.iter().any(|p| p.offence == offence) || self.offence_punished(&offence) {
            return Vec::new();
        }
        if self.evidence.len() >= MAX_PENDING_EVIDENCE {
            tracing::warn!("too much evidence pending: this report is dropped");
            return Vec::new();
        }
        tracing::warn!("submitting evidence of misbehaviour");
        self.evidence.push(PendingEvidence {
            offence,
            evidence,
            tx: None,
            attempts: 0,
        });
        let mut actions = self.send_pending_evidence(now_ms);
        actions.extend(self.try_build(now_ms));
        actions
    }

    /// Whether the chain already punished `offence`.
    fn offence_punished(&self, offence: &Hash) -> bool {
        self.store
            .get(&mpms_ledger::records::keys::offence(offence))
            .is_ok_and(|v| v.is_some())
    }

    /// Signs and submits every pending evidence report whose transaction is not in
    /// the mempool, each with the operator account's next nonce (after its pending
    /// transactions, or the committed one). A report the chain executed, or refuses
    /// for good, is done.
    fn send_pending_evidence(&mut self, now_ms: u64) -> Vec<Action> {
        let Some(op) = self.keys.as_ref().map(|k| k.operator.clone()) else {
            return Vec::new();
        };
        let sender = op.public_key();
        let mut pending = std::mem::take(&mut self.evidence);
        pending.retain(|p| !self.offence_punished(&p.offence));
        let mut actions = Vec::new();
        let mut keep = Vec::with_capacity(pending.len());
        for mut report in pending {
            if report.tx.is_some_and(|h| self.mempool.contains(&h)) {
                keep.push(report);
                continue;
            }
            if report.attempts >= MAX_EVIDENCE_ATTEMPTS {
                tracing::warn!(
                    attempts = report.attempts,
                    "evidence never landed: given up"
                );
                continue;
            }
            report.attempts += 1;
            let nonce = self
                .mempool
                .next_nonce(&sender)
                .unwrap_or_else(|| self.account_nonce(&sender));
            let tx = Transaction {
                chain_id: self.chain_id.clone(),
                sender,
                nonce,
                payload: Payload::SubmitEvidence(Box::new(report.evidence.clone())),
            }
            .sign(&op);
            match self.admit(tx.clone(), now_ms) {
                Ok(hash) => {
                    report.tx = Some(hash);
                    actions.push(Action::Transaction(Arc::new(tx)));
                    keep.push(report);
                }
                // Refused by the rules (already punished, not an authority, too old,
                // history pruned...): no later attempt changes that.
                Err(AdmitError::Rejected(e)) if !e.is_node_fault() => {
                    tracing::info!(error = %e, "evidence refused by the chain's rules");
                }
                // The mempool is full, or the state unreadable: try again later.
                Err(e) => {
                    tracing::debug!(error = %e, "evidence not admitted now");
                    report.tx = None;
                    keep.push(report);
                }
            }
        }
        self.evidence = keep;
        actions
    }

    /// Pending evidence reports, for status and tests.
    pub fn pending_evidence(&self) -> usize {
        self.evidence.len()
    }

    fn decide(&mut self, hash: Hash, certificate: CommitCertificate, now_ms: u64) -> Vec<Action> {
        let Some(block) = self.proposed.get(&hash) else {
            // Decided by the others on a block this node never kept whole: fetch it.
            return vec![Action::CatchUp];
        };
        // The proposer of the deciding round publishes the finalized block for nodes
        // outside consensus (the others hold the same block; nodes that miss it catch
        // up by sync).
        let publish = read_meta(self.store.as_ref()).is_ok_and(|meta| {
            let proposer = meta
                .authority_set
                .proposer(block.header.height, certificate.round)
                .map(|m| m.operator);
            proposer.is_some() && proposer == self.keys.as_ref().map(|k| k.operator.public_key())
        });
        let certificate = Arc::new(certificate);
        let mut actions = match self.commit(&block, certificate.clone(), None) {
            Ok(actions) => actions,
            Err(reason) => {
                tracing::error!(%reason, "decided block cannot be committed");
                return Vec::new();
            }
        };
        if publish {
            actions.push(Action::Finalized(Arc::new(FinalizedBlock {
                block: (*block).clone(),
                certificate: (*certificate).clone(),
            })));
        }
        actions.extend(self.start_next_height(now_ms));
        actions.extend(self.try_build(now_ms));
        actions
    }

    /// Executes (unless already done) and commits `block` in one synced write.
    fn commit(
        &mut self,
        block: &Arc<Block>,
        certificate: Arc<CommitCertificate>,
        now_ms: Option<u64>,
    ) -> Result<Vec<Action>, String> {
        let hash = block.hash();
        let meta = read_meta(self.store.as_ref()).map_err(|e| e.to_string())?;
        certificate
            .verify_for(
                &self.chain_id,
                &meta.authority_set,
                block.header.height,
                &hash,
            )
            .map_err(|e| format!("certificate: {e}"))?;
        let outcome = match self.outcomes.remove(&hash) {
            Some(o) => o,
            None => execute_block(self.store.as_ref(), &self.last, block)
                .map_err(|e| format!("block {}: {e}", block.header.height))?,
        };
        let hashes: Vec<Hash> = outcome.receipts.iter().map(|r| r.tx_hash).collect();
        if let Err(e) = self.store.commit(BlockCommit {
            block,
            certificate: Some(&certificate),
            changes: &outcome.changes,
            tx_hashes: Some(&hashes),
        }) {
            let message = e.to_string();
            self.fail(e.into());
            return Err(message);
        }
        self.last = block.header.clone();
        if self
            .signing_hold
            .is_some_and(|hold| block.header.time_ms > hold)
        {
            self.signing_hold = None;
            self.engine.set_signing(true);
            tracing::info!(
                height = block.header.height,
                "a block newer than this node's start is final: signing from the next height"
            );
        }
        tracing::info!(
            height = block.header.height,
            txs = block.transactions.len(),
            hash = %hash,
            "committed"
        );
        // Erasures the block recorded: this node drops the content from its blocks.
        let erased: Vec<_> = outcome
            .receipts
            .iter()
            .flat_map(|r| &r.events)
            .filter_map(|e| match e {
                mpms_ledger::execute::Event::ContentErased(id) => Some(*id),
                _ => None,
            })
            .collect();
        for id in &erased {
            match crate::erasure::erase_credential(self.store.as_ref(), id) {
                Ok(blocks) => tracing::info!(credential = %id, blocks, "content erased"),
                Err(e) => {
                    let message = e.to_string();
                    self.fail(e.into());
                    return Err(message);
                }
            }
        }
        if !erased.is_empty() {
            if let Err(e) = self.store.purge_erased() {
                tracing::warn!(error = %e, "purging erased content");
            }
        }
        let next_authorities = outcome
            .next_authority_set
            .clone()
            .unwrap_or_else(|| meta.authority_set.clone());
        // The mempool follows the new state.
        let now = now_ms.unwrap_or(block.header.time_ms);
        let ctx = BlockContext {
            height: self.last.height + 1,
            time_ms: now.max(self.last.time_ms + 1),
            proposer: self.last.proposer,
            parent: self.last.hash(),
        };
        let recheck = self
            .mempool
            .recheck(self.store.as_ref(), &ctx, &hashes, now);
        if !recheck.dropped.is_empty() {
            tracing::debug!(dropped = recheck.dropped.len(), "mempool re-check");
        }
        self.blocks.clear();
        self.incomplete.clear();
        self.fetching.clear();
        self.proposed.retain(|_| false);
        self.verified_last_commits.clear();
        self.next_proposals
            .retain(|(p, _)| p.vote.height == block.header.height + 1);
        self.outcomes.clear();
        self.fake_blocks.clear();
        self.awaiting_validation.clear();
        let mut actions = vec![Action::Committed(Arc::new(Committed {
            block: block.clone(),
            certificate,
            receipts: outcome.receipts,
            authorities: meta.authority_set,
            next_authorities,
        }))];
        // Evidence whose transaction the block or the re-check dropped goes again.
        if !self.evidence.is_empty() {
            actions.extend(self.send_pending_evidence(now));
        }
        Ok(actions)
    }
}
