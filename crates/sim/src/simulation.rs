//! Running a simulation: the nodes (each the node's own [`NodeCore`], Byzantine ones
//! behind a [`Mask`]), the event loop, faults, the client workload and the checks.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use mpms_consensus::{ConsensusMessage, FinalizedBlock, Timeout};
use mpms_core::{
    Action, Committed, CoreConfig, InStore, NodeCore, Production, SafetyStore, SignedBefore,
    ValidatorKeys,
};
use mpms_crypto::{Hash, Hasher, PublicKey};
use mpms_ledger::execute::{account_nonce, read_meta, Event as LedgerEvent};
use mpms_ledger::params::ConsensusTiming;
use mpms_ledger::testkit::TestChain;
use mpms_ledger::{codec, Payload, SignedTransaction, SignedVote, State};
use mpms_store::{commit_genesis, MemStore, Store};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;

use crate::byzantine::{Behaviour, ClockRules, Mask, Out, Recipients};
use crate::network::{Latency, Topology};
use crate::queue::EventQueue;

/// Versions of the state tree each simulated node keeps.
const SIM_STATE_HISTORY: u64 = 2;
/// How often each node's core gets a tick (µs), as the node's runtime gives it.
const TICK_US: u64 = 500_000;

/// Most blocks one sync response carries, as a node serves them.
const SYNC_BATCH: u64 = 64;

/// A node asks to sync at most this often (µs).
const SYNC_EVERY_US: u64 = 1_000_000;

/// Genesis time of simulated chains; virtual time 0 is this instant.
pub(crate) const GENESIS_TIME_MS: u64 = mpms_ledger::testkit::GENESIS_TIME_MS;

/// A fault injected at a virtual time.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// The node stops: no messages in or out, timers lost.
    Crash(usize),
    /// The node comes back. With `keep_state` its chain data survives; without, it
    /// restarts from genesis and syncs, keeping only its safety record (which lives
    /// beside its keys, not with the chain data).
    Restart {
        /// Node.
        node: usize,
        /// Whether its store survives.
        keep_state: bool,
    },
    /// The node comes back from a backup: no chain data and no safety record (a
    /// backup leaves it out). It signs nothing until the chain finalizes a block
    /// newer than its start.
    RestoreFromBackup(usize),
    /// Splits the network: node `i` joins group `groups[i]` (nodes beyond the list
    /// stay in group 0).
    Partition(Vec<u32>),
    /// Ends every partition.
    Heal,
}

/// A governance change driven through real transactions: proposal by the first
/// authority, approvals by the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Governance {
    /// Candidate node `i` bonds stake and is voted in as an authority.
    Add(usize),
    /// Authority node `i` is voted out.
    Remove(usize),
    /// Authority node `i`'s consensus key is replaced by a new one.
    RotateKey(usize),
}

/// A simulation's configuration.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// The seed of every random choice.
    pub seed: u64,
    /// Number of authorities (nodes `0..authorities`).
    pub authorities: usize,
    /// Nodes with validator keys that are not authorities at genesis (after the
    /// authorities); governance may vote them in.
    pub candidates: usize,
    /// Number of full nodes (the last nodes).
    pub full_nodes: usize,
    /// Per-hop latency.
    pub latency: Latency,
    /// Probability that one hop loses a message.
    pub loss: f64,
    /// Gossip degree of the overlay.
    pub gossip_degree: usize,
    /// Byzantine authorities.
    pub byzantine: Vec<(usize, Behaviour)>,
    /// Authorities whose keys run in two cores ("twins"): the second core is the node
    /// right after the candidates, in this order. Each pair counts as one Byzantine
    /// authority.
    pub twins: Vec<usize>,
    /// Faults at virtual times (ms).
    pub faults: Vec<(u64, Fault)>,
    /// Governance changes at virtual times (ms).
    pub governance: Vec<(u64, Governance)>,
    /// Stop once every live honest node has committed this height.
    pub target_height: u64,
    /// Give up after this much virtual time (ms).
    pub max_virtual_ms: u64,
    /// Client transactions per virtual second (each a subject registration).
    pub tx_per_second: f64,
    /// The chain's consensus timing (a genesis parameter).
    pub timing: ConsensusTiming,
    /// What the clients submit.
    pub workload: Workload,
    /// How far a new block's time may be from a node's clock (ms): the nodes'
    /// `max_clock_drift`. Simulated clocks agree exactly; this is the window a
    /// proposer can play with.
    pub max_clock_drift_ms: u64,
}

/// What the simulated clients submit, at [`SimConfig::tx_per_second`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workload {
    /// Each transaction registers a new subject, through a random authority.
    Registrations,
    /// The genesis certifier issues credentials (claim signed, content encrypted,
    /// key sealed: the transaction a consortium mostly carries) to `subjects`
    /// subjects it registers first, with schema `sim.course`, all through authority
    /// 0 (one sender's transactions reach one mempool in nonce order). Issuing
    /// starts at 2 s of virtual time; the set-up transactions are not measured.
    Issuances {
        /// Subjects the credentials go to, in turn.
        subjects: u64,
    },
}

impl SimConfig {
    /// A small, fault-free configuration with `authorities` nodes.
    pub fn new(seed: u64, authorities: usize) -> SimConfig {
        SimConfig {
            seed,
            authorities,
            candidates: 0,
            full_nodes: 0,
            latency: Latency {
                base_ms: 25.0,
                jitter: 0.1,
            },
            loss: 0.0,
            gossip_degree: 8,
            byzantine: Vec::new(),
            twins: Vec::new(),
            faults: Vec::new(),
            governance: Vec::new(),
            target_height: 10,
            max_virtual_ms: 600_000,
            tx_per_second: 20.0,
            timing: ConsensusTiming {
                propose_timeout_ms: 300,
                prevote_timeout_ms: 200,
                precommit_timeout_ms: 200,
                timeout_delta_ms: 150,
                max_timeout_ms: 10_000,
                heartbeat_ms: 1_000,
                min_block_interval_ms: 50,
            },
            workload: Workload::Registrations,
            max_clock_drift_ms: 500,
        }
    }
}

/// Why a run failed its checks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SimError {
    /// Two honest nodes finalized different blocks at one height.
    #[error("safety violation at height {height}: {a} vs {b}")]
    Safety {
        /// Height.
        height: u64,
        /// One block.
        a: Hash,
        /// The other.
        b: Hash,
    },
    /// An honest node committed a block whose certificate does not verify.
    #[error("node {0} committed a block with an invalid commit certificate")]
    Certificate(usize),
    /// Evidence punished an honest authority.
    #[error("honest authority {operator} was punished at height {height} (seen by node {node})")]
    HonestPunished {
        /// The authority's operator.
        operator: PublicKey,
        /// The height of the block that punished it.
        height: u64,
        /// The node that committed that block.
        node: usize,
    },
    /// An honest node committed a new block in which a transaction lacks its
    /// ciphertext or sealed keys (content a proposer withheld, lost to that node).
    #[error("node {node} committed block {height} without a transaction's content")]
    ContentWithheld {
        /// The node.
        node: usize,
        /// The block's height.
        height: u64,
    },
    /// The target height was not reached in time.
    #[error("liveness: node {node} reached height {height} of {target} by {at_ms} ms")]
    Liveness {
        /// Node.
        node: usize,
        /// Its height.
        height: u64,
        /// The target.
        target: u64,
        /// Virtual time.
        at_ms: u64,
    },
}

/// What a run measured.
#[derive(Debug, Clone)]
pub struct Report {
    /// Virtual time at the end (ms).
    pub virtual_ms: u64,
    /// Events processed.
    pub events: u64,
    /// Lowest committed height among live honest nodes.
    pub min_height: u64,
    /// Decided block per height (agreed by all honest nodes).
    pub chain: BTreeMap<u64, Hash>,
    /// Transaction confirmation latencies (ms), submission to commit at the node it
    /// was submitted to.
    pub confirmations_ms: Vec<f64>,
    /// Virtual time when each height was first committed (ms).
    pub commit_times_ms: BTreeMap<u64, f64>,
    /// The round each height was decided in.
    pub decided_rounds: BTreeMap<u64, u32>,
    /// The most rounds with an honest proposer that passed without a decision at
    /// one height: after a Byzantine proposer's round, how long liveness took to
    /// return (0 when every honest proposer's round decided).
    pub max_failed_honest_rounds: u32,
    /// The final authority set size.
    pub final_authorities: usize,
    /// Authorities in the final set, by operator.
    pub final_set: Vec<PublicKey>,
    /// Evidence transactions submitted by honest nodes.
    pub evidence_submitted: usize,
    /// Authorities punished by executed evidence, by operator.
    pub punished: Vec<PublicKey>,
    /// Evidence forged by Byzantine nodes against others' votes (all of it refused,
    /// or the run fails).
    pub forged_evidence: usize,
    /// The twins whose two cores signed two different statements for one
    /// (height, round, step), by operator.
    pub twin_equivocated: Vec<PublicKey>,
    /// The final set's consensus keys, by operator.
    pub final_keys: Vec<(PublicKey, PublicKey)>,
    /// Authorities that signed any of the last ten commit certificates.
    pub recent_signers: Vec<PublicKey>,
    /// Whether every honest node used the same authority set at every height it ran.
    pub schedule_agrees: bool,
    /// A digest of every decision and its time: equal digests, identical runs.
    pub digest: Hash,
}

impl Report {
    /// The `q`-quantile (0..=1) of confirmation latency, in ms.
    pub fn confirmation_quantile(&self, q: f64) -> Option<f64> {
        quantile(&self.confirmations_ms, q)
    }
}

/// The `q`-quantile of `values` (nearest rank).
pub fn quantile(values: &[f64], q: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
    Some(v[rank - 1])
}

/// What travels between simulated nodes.
enum Body {
    /// The consensus topic.
    Consensus(ConsensusMessage),
    /// The transactions topic.
    Tx(SignedTransaction),
    /// The finalized-blocks topic.
    Finalized(FinalizedBlock),
    /// Block sync: "send me finalized blocks from this height".
    SyncRequest(u64),
    /// Block sync: the blocks.
    SyncResponse(Vec<FinalizedBlock>),
    /// "Send me the whole block with this hash at this height."
    FetchRequest(u64, Hash),
    /// A whole block, in answer to a fetch.
    FetchResponse(Box<mpms_ledger::Block>),
}

/// A message with its gossip id (content-addressed, as the node's gossip does).
#[derive(Clone)]
struct Packet {
    id: Hash,
    body: Arc<Body>,
}

impl Packet {
    fn gossip(body: Body) -> Packet {
        let id = match &body {
            Body::Consensus(m) => Hash::digest(&codec::encode(m)),
            Body::Tx(t) => t.hash(),
            Body::Finalized(f) => f.block.hash(),
            Body::SyncRequest(_)
            | Body::SyncResponse(_)
            | Body::FetchRequest(..)
            | Body::FetchResponse(_) => Hash::ZERO,
        };
        Packet {
            id,
            body: Arc::new(body),
        }
    }
}

enum Event {
    Deliver {
        from: usize,
        to: usize,
        packet: Packet,
    },
    Timer {
        node: usize,
        epoch: u64,
        timeout: Timeout,
    },
    Wake {
        node: usize,
        epoch: u64,
    },
    Tick {
        node: usize,
        epoch: u64,
    },
    Fault(Fault),
    Governance(GovStep),
    Client,
}

#[derive(Debug, Clone)]
enum GovStep {
    Bond(usize),
    Propose(mpms_ledger::transaction::GovernanceAction),
    ApproveLatest,
}

/// A block a node committed, for the checks.
#[derive(Debug, Clone)]
struct Decision {
    height: u64,
    block: Hash,
    at_us: u64,
}

/// What the checks keep about a node across its restarts.
#[derive(Default)]
struct Record {
    decisions: Vec<Decision>,
    /// Per height decided: the round, and how many rounds of that height before the
    /// last one this node reached had an honest proposer.
    rounds: Vec<(u64, u32, u32)>,
    /// The highest round this node was seen in at each height (at its ticks).
    reached: HashMap<u64, u32>,
    /// The authority set hash it used at each height it committed.
    schedule: Vec<(u64, Hash)>,
    submitted_at: HashMap<Hash, u64>,
    confirmations: Vec<u64>,
    evidence_submitted: usize,
}

/// A simulated validator's safety record: in its store (copied into a fresh store
/// when the chain data is thrown away, as the record beside the keys survives that);
/// `lost` until the first save when the node was restored from a backup without it.
struct SimSafety {
    store: Arc<MemStore>,
    lost: bool,
}

impl SafetyStore for SimSafety {
    fn load(&self) -> Result<SignedBefore, String> {
        if self.lost && self.store.safety_record().ok().flatten().is_none() {
            return Ok(SignedBefore::Unknown);
        }
        InStore(self.store.clone()).load()
    }

    fn save(&self, record: &mpms_consensus::SafetyRecord) -> Result<(), String> {
        InStore(self.store.clone()).save(record)
    }
}

/// One simulated node: the node's own core, and a mask if it is Byzantine.
struct Node {
    core: NodeCore,
    store: Arc<MemStore>,
    mask: Option<Mask>,
    /// Statements this node's core signed, for spotting a twin's equivocation.
    signed: Vec<SignedVote>,
    sync_after_us: u64,
}

/// One simulation.
pub struct Simulation {
    config: SimConfig,
    chain: TestChain,
    rng: ChaCha20Rng,
    queue: EventQueue<Event>,
    topology: Topology,
    nodes: Vec<Node>,
    records: Vec<Record>,
    alive: Vec<bool>,
    epoch: Vec<u64>,
    seen: Vec<HashSet<Hash>>,
    next_subject: u64,
    /// The certifier's next nonce (the issuance workload).
    next_issuance: u64,
    events: u64,
    punished: Vec<PublicKey>,
    failure: Option<SimError>,
}

impl Simulation {
    /// Sets up the network described by `config`.
    pub fn new(config: SimConfig) -> Simulation {
        let mut rng = ChaCha20Rng::seed_from_u64(config.seed);
        let mut chain =
            TestChain::new(config.authorities, config.seed).with_candidates(config.candidates);
        chain.genesis.params.consensus = config.timing.clone();
        let mesh = config.authorities + config.candidates + config.twins.len();
        let n = mesh + config.full_nodes;
        let topology = Topology::new(n, mesh, config.gossip_degree, &mut rng);
        let mut sim = Simulation {
            nodes: Vec::with_capacity(n),
            records: (0..n).map(|_| Record::default()).collect(),
            alive: vec![true; n],
            epoch: vec![0; n],
            seen: vec![HashSet::new(); n],
            queue: EventQueue::default(),
            topology,
            rng,
            chain,
            next_subject: 0,
            next_issuance: 0,
            events: 0,
            punished: Vec::new(),
            failure: None,
            config,
        };
        for i in 0..n {
            let store = sim.genesis_store();
            let node = sim.node(i, store);
            sim.nodes.push(node);
        }
        for (at_ms, fault) in sim.config.faults.clone() {
            sim.queue.push(at_ms * 1_000, Event::Fault(fault));
        }
        for (at_ms, change) in sim.config.governance.clone() {
            sim.schedule_governance(at_ms * 1_000, change);
        }
        if sim.config.tx_per_second > 0.0 {
            match sim.config.workload {
                Workload::Registrations => sim.queue.push(1_000, Event::Client),
                Workload::Issuances { subjects } => {
                    sim.setup_issuances(subjects);
                    sim.queue.push(2_000_000, Event::Client);
                }
            }
        }
        sim
    }

    /// The issuance workload's set-up, through authority 0 and not measured: the
    /// certifier's schema and the subjects' registrations.
    fn setup_issuances(&mut self, subjects: u64) {
        let mut txs = vec![self.chain.register_schema(0, "sim.course")];
        self.next_issuance = 1;
        for i in 0..subjects {
            txs.push(self.chain.register_subject(i));
        }
        for tx in txs {
            if let Ok((_, actions)) = self.nodes[0].core.submit(tx, 0) {
                self.apply(0, actions);
            }
        }
    }

    fn genesis_store(&self) -> Arc<MemStore> {
        // Simulated nodes serve no state proofs: they keep the fewest versions of
        // the state tree, so that a thousand of them fit in memory.
        let store = MemStore::with_state_history(SIM_STATE_HISTORY);
        let g = self.chain.genesis.build().expect("test genesis builds");
        commit_genesis(&store, &g).expect("genesis commits");
        Arc::new(store)
    }

    /// Nodes of the consensus mesh: authorities, candidates, twins.
    fn mesh(&self) -> usize {
        self.config.authorities + self.config.candidates + self.config.twins.len()
    }

    /// The chain identity (index into the test chain's keys) node `i` runs, if any.
    fn identity(&self, i: usize) -> Option<usize> {
        let keyed = self.config.authorities + self.config.candidates;
        if i < keyed {
            Some(i)
        } else if i < self.mesh() {
            self.config.twins.get(i - keyed).copied()
        } else {
            None
        }
    }

    fn behaviour(&self, i: usize) -> Behaviour {
        self.config
            .byzantine
            .iter()
            .find(|(n, _)| *n == i)
            .map_or(Behaviour::Honest, |(_, b)| *b)
    }

    /// Whether node `i` is honest: not Byzantine, and its key not run twice.
    fn honest(&self, i: usize) -> bool {
        self.behaviour(i) == Behaviour::Honest
            && self
                .identity(i)
                .is_none_or(|id| !self.config.twins.contains(&id))
    }

    /// A node over `store` with the keys and behaviour of node `i`.
    fn node(&self, i: usize, store: Arc<MemStore>) -> Node {
        self.node_with(i, store, false)
    }

    /// A node over `store` with the keys and behaviour of node `i`; with
    /// `record_lost`, its validator does not know what it signed before (until it
    /// saves a record again).
    fn node_with(&self, i: usize, store: Arc<MemStore>, record_lost: bool) -> Node {
        let config = CoreConfig {
            production: Production {
                max_clock_drift: std::time::Duration::from_millis(self.config.max_clock_drift_ms),
                ..Production::default()
            },
            ..CoreConfig::default()
        };
        let keys = self.identity(i).map(|id| {
            (
                self.chain.operators[id].clone(),
                vec![
                    self.chain.consensus[id].clone(),
                    self.chain.rotated_consensus_key(id),
                ],
            )
        });
        let validator = keys.as_ref().map(|(op, consensus)| ValidatorKeys {
            operator: op.clone(),
            consensus: consensus[0].clone(),
        });
        let safety: Arc<dyn SafetyStore> = Arc::new(SimSafety {
            store: store.clone(),
            lost: record_lost,
        });
        let mut core =
            NodeCore::with_safety_store(store.clone() as Arc<dyn Store>, safety, validator, config)
                .expect("a store holding genesis opens");
        let mut mask = None;
        if let Some((op, consensus)) = keys {
            core.add_spare_keys(consensus[1..].to_vec());
            let behaviour = self.behaviour(i);
            if behaviour != Behaviour::Honest {
                mask = Some(Mask::new(
                    behaviour,
                    self.chain.chain_id(),
                    op,
                    consensus,
                    self.chain.certifier.clone(),
                    ClockRules {
                        max_drift_ms: self.config.max_clock_drift_ms,
                        timeouts: mpms_core::core::timeouts_of(&self.config.timing),
                    },
                ));
            }
        }
        Node {
            core,
            store,
            mask,
            signed: Vec::new(),
            sync_after_us: 0,
        }
    }

    fn now_ms(&self) -> u64 {
        GENESIS_TIME_MS + self.queue.now_us() / 1_000
    }

    fn schedule_governance(&mut self, at_us: u64, change: Governance) {
        use mpms_ledger::transaction::GovernanceAction;
        let action = match change {
            Governance::Add(i) => {
                self.queue.push(at_us, Event::Governance(GovStep::Bond(i)));
                GovernanceAction::AddAuthority {
                    operator: self.chain.operators[i].public_key(),
                    consensus_key: self.chain.consensus[i].public_key(),
                    peer_id: format!("sim-node-{i}"),
                }
            }
            Governance::Remove(i) => GovernanceAction::RemoveAuthority {
                operator: self.chain.operators[i].public_key(),
            },
            Governance::RotateKey(i) => GovernanceAction::RotateAuthorityKey {
                operator: self.chain.operators[i].public_key(),
                consensus_key: self.chain.rotated_consensus_key(i).public_key(),
            },
        };
        self.queue.push(
            at_us + 1_500_000,
            Event::Governance(GovStep::Propose(action)),
        );
        self.queue
            .push(at_us + 3_000_000, Event::Governance(GovStep::ApproveLatest));
    }

    /// Submits a transaction signed by node `i`'s operator through node `i`.
    fn submit_as(&mut self, i: usize, payload: Payload) {
        let Some(id) = self.identity(i) else { return };
        let key = self.chain.operators[id].clone();
        let sender = key.public_key();
        let node = &self.nodes[i];
        let nonce = node
            .core
            .mempool()
            .next_nonce(&sender)
            .unwrap_or_else(|| account_nonce(node.store.as_ref(), &sender));
        let tx = mpms_ledger::Transaction {
            chain_id: self.chain.chain_id().to_string(),
            sender,
            nonce,
            payload,
        }
        .sign(&key);
        self.submit(i, tx);
    }

    fn submit(&mut self, i: usize, tx: SignedTransaction) {
        let now_ms = self.now_ms();
        let now_us = self.queue.now_us();
        if let Ok((hash, actions)) = self.nodes[i].core.submit(tx, now_ms) {
            self.records[i].submitted_at.insert(hash, now_us);
            self.apply(i, actions);
        }
    }

    fn governance(&mut self, step: GovStep) {
        let Some(leader) = (0..self.nodes.len()).find(|i| self.alive[*i] && self.honest(*i)) else {
            return;
        };
        let Ok(meta) = read_meta(self.nodes[leader].store.as_ref()) else {
            return;
        };
        let keyed = self.config.authorities + self.config.candidates;
        let members: Vec<usize> = (0..keyed)
            .filter(|i| {
                meta.authority_set
                    .contains(&self.chain.operators[*i].public_key())
            })
            .filter(|i| self.alive[*i] && self.honest(*i))
            .collect();
        match step {
            GovStep::Bond(i) => {
                let amount = meta.params.min_authority_stake * 2;
                self.submit_as(i, Payload::Bond { amount });
            }
            GovStep::Propose(action) => {
                if let Some(&proposer) = members.first() {
                    self.submit_as(proposer, Payload::Propose { action });
                }
            }
            GovStep::ApproveLatest => {
                let next: u64 = self.nodes[leader]
                    .store
                    .get(&mpms_ledger::records::keys::next_proposal())
                    .ok()
                    .flatten()
                    .and_then(|b| codec::decode(&b).ok())
                    .unwrap_or(1);
                for &voter in members.iter().skip(1) {
                    let vote = Payload::Vote {
                        proposal: next - 1,
                        approve: true,
                    };
                    self.submit_as(voter, vote);
                }
            }
        }
    }

    /// Runs to the target height (or the time limit) and checks agreement, commit
    /// certificates, that no honest authority is punished, and liveness.
    pub fn run(mut self) -> Result<Report, SimError> {
        for i in 0..self.nodes.len() {
            let now = self.now_ms();
            let actions = self.nodes[i].core.start(now);
            self.apply(i, actions);
            self.queue.push(
                TICK_US + i as u64 % TICK_US,
                Event::Tick { node: i, epoch: 0 },
            );
        }
        let limit_us = self.config.max_virtual_ms * 1_000;
        while let Some(event) = self.queue.pop() {
            self.events += 1;
            if self.queue.now_us() > limit_us {
                break;
            }
            self.handle(event);
            if let Some(failure) = self.failure.take() {
                return Err(failure);
            }
            if self.events.is_multiple_of(256) {
                self.check_agreement()?;
                if self.reached_target() {
                    break;
                }
            }
        }
        self.check_agreement()?;
        if std::env::var("MPMS_SIM_DEBUG").is_ok() {
            for line in self.debug_states() {
                eprintln!("{line}");
            }
        }
        self.report()
    }

    fn reached_target(&self) -> bool {
        // Faults, and governance changes plus the time for their votes to land.
        let last_fault_us = self
            .config
            .faults
            .iter()
            .map(|(t, _)| t * 1_000)
            .chain(
                self.config
                    .governance
                    .iter()
                    .map(|(t, _)| t * 1_000 + 5_000_000),
            )
            .max()
            .unwrap_or(0);
        self.queue.now_us() >= last_fault_us
            && (0..self.nodes.len())
                .filter(|i| self.alive[*i] && self.honest(*i))
                .all(|i| self.height(i) >= self.config.target_height)
    }

    fn height(&self, i: usize) -> u64 {
        self.nodes[i].core.last_header().height
    }

    fn handle(&mut self, event: Event) {
        let now_ms = self.now_ms();
        match event {
            Event::Deliver { from, to, packet } => {
                if self.alive[to] {
                    self.deliver(from, to, packet);
                }
            }
            Event::Timer {
                node,
                epoch,
                timeout,
            } => {
                if self.alive[node] && self.epoch[node] == epoch {
                    let actions = self.nodes[node].core.on_timeout(timeout, now_ms);
                    self.apply(node, actions);
                }
            }
            Event::Wake { node, epoch } => {
                if self.alive[node] && self.epoch[node] == epoch {
                    let actions = self.nodes[node].core.on_wake(now_ms);
                    self.apply(node, actions);
                }
            }
            Event::Tick { node, epoch } => {
                if self.epoch[node] != epoch {
                    return;
                }
                if self.alive[node] {
                    let (height, round, _) = self.nodes[node].core.round_state();
                    let reached = self.records[node].reached.entry(height).or_insert(0);
                    *reached = (*reached).max(round);
                    let actions = self.nodes[node].core.on_tick(now_ms);
                    self.apply(node, actions);
                    self.masked_tick(node, now_ms);
                }
                self.queue.push(TICK_US, Event::Tick { node, epoch });
            }
            Event::Fault(fault) => self.fault(fault),
            Event::Governance(step) => self.governance(step),
            Event::Client => {
                let (target, tx) = match self.config.workload {
                    Workload::Registrations => {
                        let target = self.rng.gen_range(0..self.config.authorities);
                        let tx = self.chain.register_subject(self.next_subject);
                        self.next_subject += 1;
                        (target, tx)
                    }
                    Workload::Issuances { subjects } => {
                        let serial = self.next_issuance;
                        let tx = self.chain.issue(
                            serial,
                            "sim.course",
                            serial % subjects.max(1),
                            serial,
                        );
                        self.next_issuance += 1;
                        (0, tx)
                    }
                };
                if self.alive[target] {
                    self.submit(target, tx);
                }
                let gap_us = (1_000_000.0 / self.config.tx_per_second) as u64;
                self.queue.push(gap_us.max(1), Event::Client);
            }
        }
    }

    /// A Byzantine node's own statements at a tick.
    fn masked_tick(&mut self, node: usize, now_ms: u64) {
        let n = &mut self.nodes[node];
        let (height, round, _) = n.core.round_state();
        let last = n.core.last_header().clone();
        let key = n.core.consensus_key();
        let Some(mask) = n.mask.as_mut() else {
            return;
        };
        let out = mask.on_tick(height, round, &last, key, now_ms, n.store.as_ref());
        self.send_out(node, out);
    }

    /// Sends what a mask produced.
    fn send_out(&mut self, node: usize, out: Vec<Out>) {
        for item in out {
            match item {
                Out::Consensus(message, to) => self.broadcast(node, Body::Consensus(message), to),
                Out::Transaction(tx) => self.broadcast(node, Body::Tx(tx), Recipients::All),
            }
        }
    }

    fn deliver(&mut self, from: usize, to: usize, packet: Packet) {
        let now_ms = self.now_ms();
        match &*packet.body {
            Body::Consensus(message) => {
                // Gossip delivers and forwards a message once.
                if !self.seen[to].insert(packet.id) {
                    return;
                }
                self.forward(to, from, &packet);
                let n = &mut self.nodes[to];
                let (height, key) = (n.core.round_state().0, n.core.consensus_key());
                if let Some(mask) = n.mask.as_mut() {
                    let out = mask.inbound(message, height, key, n.store.as_ref());
                    self.send_out(to, out);
                }
                let actions = self.nodes[to].core.on_consensus(message.clone(), now_ms);
                self.apply(to, actions);
            }
            Body::Tx(tx) => {
                if !self.seen[to].insert(packet.id) {
                    return;
                }
                self.forward(to, from, &packet);
                let actions = self.nodes[to]
                    .core
                    .on_gossip_transaction(tx.clone(), now_ms);
                self.apply(to, actions);
            }
            Body::Finalized(finalized) => {
                if !self.seen[to].insert(packet.id) {
                    return;
                }
                self.forward(to, from, &packet);
                let actions = self.nodes[to].core.on_finalized(finalized.clone(), now_ms);
                self.apply(to, actions);
            }
            // A node that withholds its certificates does not serve them by sync
            // either, nor whole blocks to those it stripped them for.
            Body::SyncRequest(_) | Body::FetchRequest(..)
                if self.nodes[to]
                    .mask
                    .as_ref()
                    .is_some_and(Mask::withholds_finalized) => {}
            Body::SyncRequest(from_height) => {
                let store = &self.nodes[to].store;
                let last = self.nodes[to].core.last_header().height;
                let blocks: Vec<FinalizedBlock> = (*from_height..=last)
                    .take(SYNC_BATCH as usize)
                    .map_while(|h| {
                        Some(FinalizedBlock {
                            block: store.block(h).ok().flatten()?,
                            certificate: store.certificate(h).ok().flatten()?,
                        })
                    })
                    .collect();
                if !blocks.is_empty() {
                    let packet = Packet {
                        id: Hash::ZERO,
                        body: Arc::new(Body::SyncResponse(blocks)),
                    };
                    self.send(to, from, packet);
                }
            }
            Body::FetchRequest(height, hash) => {
                let node = &self.nodes[to];
                let whole = node.core.proposed_blocks().get(hash).or_else(|| {
                    let block = node.store.block(*height).ok().flatten()?;
                    (block.hash() == *hash && block.first_erased().is_none())
                        .then(|| Arc::new(block))
                });
                if let Some(block) = whole {
                    let packet = Packet {
                        id: Hash::ZERO,
                        body: Arc::new(Body::FetchResponse(Box::new((*block).clone()))),
                    };
                    self.send(to, from, packet);
                }
            }
            Body::FetchResponse(block) => {
                let actions = self.nodes[to]
                    .core
                    .on_fetched_block((**block).clone(), now_ms);
                self.apply(to, actions);
            }
            Body::SyncResponse(blocks) => {
                let mut actions = Vec::new();
                for block in blocks {
                    if block.block.header.height != self.height(to) + 1 {
                        continue;
                    }
                    match self.nodes[to].core.commit_finalized(block.clone()) {
                        Ok(done) => actions.extend(done),
                        Err(_) => break,
                    }
                }
                actions.extend(self.nodes[to].core.resume(now_ms));
                self.nodes[to].sync_after_us = 0;
                self.apply(to, actions);
            }
        }
    }

    /// Gossip passes on what a node sees for the first time: consensus statements and
    /// transactions among the consensus mesh, finalized blocks over the overlay.
    fn forward(&mut self, node: usize, from: usize, packet: &Packet) {
        if self.nodes[node].mask.as_ref().is_some_and(Mask::silent) {
            return;
        }
        let to: Vec<usize> = match &*packet.body {
            Body::Consensus(_) | Body::Tx(_) if node < self.mesh() => (0..self.mesh())
                .filter(|i| *i != node && *i != from)
                .collect(),
            Body::Finalized(_) => self.topology.neighbours[node]
                .iter()
                .copied()
                .filter(|i| *i != from)
                .collect(),
            _ => Vec::new(),
        };
        for t in to {
            self.send(node, t, packet.clone());
        }
    }

    fn send(&mut self, from: usize, to: usize, packet: Packet) {
        if !self.topology.connected(from, to) {
            return;
        }
        if self.config.loss > 0.0 && self.rng.gen_bool(self.config.loss.min(1.0)) {
            return;
        }
        let delay = self.config.latency.sample_us(&mut self.rng);
        self.queue.push(delay, Event::Deliver { from, to, packet });
    }

    /// Publishes `body` from `node` to the consensus mesh (or part of it).
    fn broadcast(&mut self, node: usize, body: Body, recipients: Recipients) {
        let packet = Packet::gossip(body);
        self.seen[node].insert(packet.id);
        let to: Vec<usize> = match (&*packet.body, recipients) {
            (Body::Finalized(_), _) => self.topology.neighbours[node].clone(),
            (_, Recipients::All) => (0..self.mesh()).filter(|i| *i != node).collect(),
            (_, Recipients::Half(even)) => (0..self.mesh())
                .filter(|i| *i != node && i.is_multiple_of(2) == even)
                .collect(),
            (_, Recipients::Victim(slot)) => self.victim(node, slot).into_iter().collect(),
            (_, Recipients::AllButVictim(slot)) => {
                let victim = self.victim(node, slot);
                (0..self.mesh())
                    .filter(|i| *i != node && Some(*i) != victim)
                    .collect()
            }
        };
        for t in to {
            self.send(node, t, packet.clone());
        }
    }

    /// The mesh node other than `node` that a mask's victim number `slot` picks.
    fn victim(&self, node: usize, slot: u64) -> Option<usize> {
        let others: Vec<usize> = (0..self.mesh()).filter(|i| *i != node).collect();
        (!others.is_empty()).then(|| others[(slot % others.len() as u64) as usize])
    }

    /// Asks two random peers (of the consensus mesh, or the gossip neighbours of a
    /// node outside it) for a whole block: what the node's runtime does for
    /// [`Action::FetchBlock`].
    fn fetch(&mut self, node: usize, height: u64, block: Hash) {
        let peers: Vec<usize> = if node < self.mesh() {
            (0..self.mesh()).filter(|i| *i != node).collect()
        } else {
            self.topology.neighbours[node].clone()
        };
        for _ in 0..2.min(peers.len()) {
            let peer = peers[self.rng.gen_range(0..peers.len())];
            let packet = Packet {
                id: Hash::ZERO,
                body: Arc::new(Body::FetchRequest(height, block)),
            };
            self.send(node, peer, packet);
        }
    }

    /// Carries out what node `node`'s core asks for.
    fn apply(&mut self, node: usize, actions: Vec<Action>) {
        if !self.alive[node] {
            return;
        }
        let silent = self.nodes[node].mask.as_ref().is_some_and(Mask::silent);
        for action in actions {
            match action {
                Action::Consensus(message) => {
                    self.note_signed(node, &message);
                    let n = &mut self.nodes[node];
                    let key = n.core.consensus_key();
                    let now_ms = GENESIS_TIME_MS + self.queue.now_us() / 1_000;
                    let out = match n.mask.as_mut() {
                        Some(mask) => mask.outbound(message, key, n.store.as_ref(), now_ms),
                        None => vec![Out::Consensus(message, Recipients::All)],
                    };
                    self.send_out(node, out);
                }
                Action::Transaction(tx) => {
                    if silent {
                        continue;
                    }
                    if matches!(tx.tx.payload, Payload::SubmitEvidence(_)) && self.honest(node) {
                        self.records[node].evidence_submitted += 1;
                    }
                    if node < self.mesh() {
                        self.broadcast(node, Body::Tx((*tx).clone()), Recipients::All);
                    }
                }
                Action::Finalized(finalized) => {
                    let withheld = self.nodes[node]
                        .mask
                        .as_ref()
                        .is_some_and(Mask::withholds_finalized);
                    if !withheld {
                        self.broadcast(
                            node,
                            Body::Finalized((*finalized).clone()),
                            Recipients::All,
                        );
                    }
                }
                Action::Timer(timeout, after) => {
                    let epoch = self.epoch[node];
                    self.queue.push(
                        after.as_micros() as u64,
                        Event::Timer {
                            node,
                            epoch,
                            timeout,
                        },
                    );
                }
                Action::WakeAt(at_ms) => {
                    let epoch = self.epoch[node];
                    let at_us = at_ms.saturating_sub(GENESIS_TIME_MS).saturating_mul(1_000);
                    let delay = at_us.saturating_sub(self.queue.now_us()).max(1);
                    self.queue.push(delay, Event::Wake { node, epoch });
                }
                Action::Committed(committed) => self.committed(node, &committed),
                Action::CatchUp => self.request_sync(node),
                Action::FetchBlock { height, block } => self.fetch(node, height, block),
            }
        }
    }

    /// Keeps the statements a twin's core signs (both cores of a pair share a key).
    fn note_signed(&mut self, node: usize, message: &ConsensusMessage) {
        let twin = self
            .identity(node)
            .is_some_and(|id| self.config.twins.contains(&id));
        if !twin {
            return;
        }
        match message {
            ConsensusMessage::Proposal { proposal, .. } => self.nodes[node].signed.push(*proposal),
            ConsensusMessage::Vote(vote) => self.nodes[node].signed.push(*vote),
            ConsensusMessage::Resent { .. } => {}
        }
    }

    /// Asks a random neighbour for the blocks after this node's (at most once a
    /// second): what the node's runtime does on a catch-up request.
    fn request_sync(&mut self, node: usize) {
        let now = self.queue.now_us();
        if now < self.nodes[node].sync_after_us {
            return;
        }
        let peers = &self.topology.neighbours[node];
        if peers.is_empty() {
            return;
        }
        let peer = peers[self.rng.gen_range(0..peers.len())];
        self.nodes[node].sync_after_us = now + SYNC_EVERY_US;
        let next = self.height(node) + 1;
        let packet = Packet {
            id: Hash::ZERO,
            body: Arc::new(Body::SyncRequest(next)),
        };
        self.send(node, peer, packet);
    }

    /// Checks and records a commit.
    fn committed(&mut self, node: usize, committed: &Committed) {
        let now_us = self.queue.now_us();
        let height = committed.block.header.height;
        let hash = committed.block.hash();
        if self.honest(node)
            && committed
                .certificate
                .verify_for(self.chain.chain_id(), &committed.authorities, height, &hash)
                .is_err()
        {
            self.failure = Some(SimError::Certificate(node));
        }
        if self.honest(node)
            && committed
                .block
                .transactions
                .iter()
                .any(|t| t.tx.payload.any_erased())
        {
            self.failure = Some(SimError::ContentWithheld { node, height });
        }
        let record = &mut self.records[node];
        record.decisions.push(Decision {
            height,
            block: hash,
            at_us: now_us,
        });
        record.schedule.push((height, committed.authorities.hash()));
        let round = committed.certificate.round;
        let reached = record.reached.remove(&height).unwrap_or(0).max(round);
        let failed_honest = (0..reached)
            .filter(|r| {
                committed
                    .authorities
                    .proposer(height, *r)
                    .is_some_and(|p| self.honest_operator(&p.operator))
            })
            .count() as u32;
        let record = &mut self.records[node];
        record.rounds.push((height, round, failed_honest));
        for receipt in &committed.receipts {
            if let Some(at) = record.submitted_at.remove(&receipt.tx_hash) {
                record.confirmations.push(now_us - at);
            }
        }
        // Evidence must never punish an honest authority.
        for receipt in &committed.receipts {
            for event in &receipt.events {
                if let LedgerEvent::AuthoritySlashed { operator, .. } = event {
                    if !self.punished.contains(operator) {
                        self.punished.push(*operator);
                    }
                    let honest = (0..self.mesh())
                        .filter(|i| self.honest(*i))
                        .filter_map(|i| self.identity(i))
                        .any(|id| self.chain.operators[id].public_key() == *operator);
                    if honest && self.honest(node) {
                        self.failure = Some(SimError::HonestPunished {
                            operator: *operator,
                            height,
                            node,
                        });
                    }
                }
            }
        }
    }

    fn fault(&mut self, fault: Fault) {
        let now_ms = self.now_ms();
        match fault {
            Fault::Crash(node) => {
                if node < self.alive.len() {
                    self.alive[node] = false;
                    self.epoch[node] += 1;
                }
            }
            Fault::Restart { node, keep_state } => {
                if node >= self.alive.len() || self.alive[node] {
                    return;
                }
                let old = self.nodes[node].store.clone();
                let store = if keep_state {
                    old
                } else {
                    // Fresh chain data; the safety record (beside the keys) survives.
                    let fresh = self.genesis_store();
                    if let Ok(Some(record)) = old.safety_record() {
                        let _ = fresh.save_safety_record(&record);
                    }
                    fresh
                };
                self.nodes[node] = self.node(node, store);
                self.revive(node, now_ms);
            }
            Fault::RestoreFromBackup(node) => {
                if node >= self.alive.len() || self.alive[node] {
                    return;
                }
                let store = self.genesis_store();
                self.nodes[node] = self.node_with(node, store, true);
                self.revive(node, now_ms);
            }
            Fault::Partition(mut groups) => {
                groups.resize(self.nodes.len(), 0);
                self.topology.partition(groups);
            }
            Fault::Heal => {
                self.topology.heal();
                // Reconnected nodes catch up from their peers.
                for node in 0..self.nodes.len() {
                    if self.alive[node] {
                        self.nodes[node].sync_after_us = 0;
                        self.request_sync(node);
                    }
                }
            }
        }
    }

    /// Whether `operator` is an authority run by an honest node.
    fn honest_operator(&self, operator: &PublicKey) -> bool {
        (0..self.mesh())
            .filter(|i| {
                self.identity(*i)
                    .is_some_and(|id| self.chain.operators[id].public_key() == *operator)
            })
            .all(|i| self.honest(i))
    }

    /// Brings node `node`, just rebuilt, back: its timers, its core, a catch-up.
    fn revive(&mut self, node: usize, now_ms: u64) {
        self.alive[node] = true;
        self.epoch[node] += 1;
        self.seen[node].clear();
        let epoch = self.epoch[node];
        self.queue.push(TICK_US, Event::Tick { node, epoch });
        let actions = self.nodes[node].core.start(now_ms);
        self.apply(node, actions);
        self.request_sync(node);
    }

    fn check_agreement(&self) -> Result<(), SimError> {
        let mut chain: BTreeMap<u64, Hash> = BTreeMap::new();
        for (i, r) in self.records.iter().enumerate() {
            if !self.honest(i) {
                continue;
            }
            for d in &r.decisions {
                let known = *chain.entry(d.height).or_insert(d.block);
                if known != d.block {
                    return Err(SimError::Safety {
                        height: d.height,
                        a: known,
                        b: d.block,
                    });
                }
            }
        }
        Ok(())
    }

    /// The twins whose two cores signed conflicting statements.
    fn twin_equivocated(&self) -> Vec<PublicKey> {
        let mut out = Vec::new();
        let mut first: HashMap<(PublicKey, u64, u32, u8), mpms_ledger::Vote> = HashMap::new();
        for node in &self.nodes {
            for s in &node.signed {
                let step = match s.vote.kind {
                    mpms_ledger::VoteKind::Proposal => 0,
                    mpms_ledger::VoteKind::Prevote => 1,
                    mpms_ledger::VoteKind::Precommit => 2,
                };
                let key = (s.validator, s.vote.height, s.vote.round, step);
                match first.get(&key) {
                    Some(v) if *v != s.vote && !out.contains(&s.validator) => out.push(s.validator),
                    Some(_) => {}
                    None => {
                        first.insert(key, s.vote);
                    }
                }
            }
        }
        out.sort();
        out
    }

    fn report(&self) -> Result<Report, SimError> {
        let mut chain = BTreeMap::new();
        let mut commit_times = BTreeMap::new();
        let mut decided_rounds = BTreeMap::new();
        let mut max_failed_honest_rounds = 0;
        let mut confirmations = Vec::new();
        let mut digest = Hasher::new();
        let mut evidence = 0;
        for (i, r) in self.records.iter().enumerate() {
            digest.update(&(i as u64).to_le_bytes());
            for d in &r.decisions {
                digest
                    .update(&d.height.to_le_bytes())
                    .update(d.block.as_bytes())
                    .update(&d.at_us.to_le_bytes());
                if self.honest(i) {
                    chain.insert(d.height, d.block);
                    let t = d.at_us as f64 / 1_000.0;
                    commit_times
                        .entry(d.height)
                        .and_modify(|x: &mut f64| *x = x.min(t))
                        .or_insert(t);
                }
            }
            if self.honest(i) {
                for (height, round, failed) in &r.rounds {
                    decided_rounds.insert(*height, *round);
                    max_failed_honest_rounds = max_failed_honest_rounds.max(*failed);
                }
                confirmations.extend(r.confirmations.iter().map(|us| *us as f64 / 1_000.0));
                evidence += r.evidence_submitted;
            }
        }
        let live_honest: Vec<usize> = (0..self.nodes.len())
            .filter(|i| self.alive[*i] && self.honest(*i))
            .collect();
        let min_height = live_honest
            .iter()
            .map(|i| self.height(*i))
            .min()
            .unwrap_or(0);
        let at_ms = self.queue.now_us() / 1_000;
        if let Some(&laggard) = live_honest
            .iter()
            .find(|i| self.height(**i) < self.config.target_height)
        {
            return Err(SimError::Liveness {
                node: laggard,
                height: self.height(laggard),
                target: self.config.target_height,
                at_ms,
            });
        }
        let final_members = live_honest
            .first()
            .and_then(|i| read_meta(self.nodes[*i].store.as_ref()).ok())
            .map(|m| m.authority_set.members)
            .unwrap_or_default();
        let final_set: Vec<PublicKey> = final_members.iter().map(|m| m.operator).collect();
        let final_keys = final_members
            .iter()
            .map(|m| (m.operator, m.consensus_key))
            .collect();
        let mut recent_signers: Vec<PublicKey> = Vec::new();
        if let Some(&i) = live_honest.first() {
            let store = &self.nodes[i].store;
            let last = self.height(i);
            for h in last.saturating_sub(9).max(1)..=last {
                if let Ok(Some(cert)) = store.certificate(h) {
                    recent_signers.extend(cert.signatures.iter().map(|s| s.validator));
                }
            }
            recent_signers.sort();
            recent_signers.dedup();
        }
        let mut schedule: BTreeMap<u64, Hash> = BTreeMap::new();
        let mut schedule_agrees = true;
        for i in (0..self.records.len()).filter(|i| self.honest(*i)) {
            for (height, set) in &self.records[i].schedule {
                schedule_agrees &= *schedule.entry(*height).or_insert(*set) == *set;
            }
        }
        Ok(Report {
            virtual_ms: at_ms,
            events: self.events,
            min_height,
            chain,
            confirmations_ms: confirmations,
            commit_times_ms: commit_times,
            decided_rounds,
            max_failed_honest_rounds,
            final_authorities: final_set.len(),
            final_set,
            final_keys,
            recent_signers,
            schedule_agrees,
            evidence_submitted: evidence,
            punished: self.punished.clone(),
            forged_evidence: self
                .nodes
                .iter()
                .filter_map(|n| n.mask.as_ref())
                .map(|m| m.forged_evidence)
                .sum(),
            twin_equivocated: self.twin_equivocated(),
            digest: digest.finish(),
        })
    }

    /// One line per node: committed height and its core's round.
    pub fn debug_states(&self) -> Vec<String> {
        self.nodes
            .iter()
            .enumerate()
            .map(|(i, n)| {
                format!(
                    "node {i} alive={} epoch={} honest={} committed={} round={:?}",
                    self.alive[i],
                    self.epoch[i],
                    self.honest(i),
                    n.core.last_header().height,
                    n.core.round_state()
                )
            })
            .collect()
    }

    /// The consensus key authority `i` gets from a `Governance::RotateKey`.
    pub fn rotated_key(&self, i: usize) -> PublicKey {
        self.chain.rotated_consensus_key(i).public_key()
    }

    /// The operator key of authority `i`.
    pub fn operator(&self, i: usize) -> PublicKey {
        self.chain.operators[i].public_key()
    }
}
