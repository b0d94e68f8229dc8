//! Running a simulation: the event loop, faults, the client workload and the checks.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mpms_consensus::{SignatureVerifier, Timeouts};
use mpms_crypto::{Hash, Hasher, PublicKey, SigningKey};
use mpms_ledger::credential::{prepare_issuance, CredentialContent};
use mpms_ledger::testkit::{DeterministicRng, TestChain};
use mpms_ledger::{codec, Payload, SignedTransaction, SignedVote, State};
use mpms_store::{commit_genesis, MemStore, Store};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;

use crate::network::{Latency, Topology};
use crate::queue::EventQueue;
use crate::replica::{Action, Behaviour, Message, Production, Replica};

/// How often an authority re-sends its statements of the current height (µs).
const REBROADCAST_US: u64 = 1_000_000;

/// Genesis time of simulated chains; virtual time 0 is this instant.
pub(crate) const GENESIS_TIME_MS: u64 = mpms_ledger::testkit::GENESIS_TIME_MS;

/// A fault injected at a virtual time.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// The node stops: no messages in or out, timers lost.
    Crash(usize),
    /// The node comes back. With `keep_state` its chain data survives; without, it
    /// restarts from genesis and syncs. The safety record always survives (it is the
    /// validator's own durable file).
    Restart {
        /// Node.
        node: usize,
        /// Whether its store survives.
        keep_state: bool,
    },
    /// Splits the network: node `i` joins group `groups[i]`.
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
    /// Number of full nodes (after the authorities and candidates).
    pub full_nodes: usize,
    /// Per-hop latency.
    pub latency: Latency,
    /// Probability that one hop loses a message.
    pub loss: f64,
    /// Gossip degree of the overlay.
    pub gossip_degree: usize,
    /// Byzantine authorities.
    pub byzantine: Vec<(usize, Behaviour)>,
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
    /// Consensus timeouts.
    pub timeouts: Timeouts,
    /// Least time between blocks (ms).
    pub min_block_interval_ms: u64,
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
            faults: Vec::new(),
            governance: Vec::new(),
            target_height: 10,
            max_virtual_ms: 600_000,
            tx_per_second: 20.0,
            timeouts: Timeouts {
                propose: Duration::from_millis(300),
                prevote: Duration::from_millis(200),
                precommit: Duration::from_millis(200),
                delta: Duration::from_millis(150),
                max: Duration::from_secs(10),
                heartbeat: Duration::from_millis(1_000),
            },
            min_block_interval_ms: 50,
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
    /// An honest node met a certificate that does not verify.
    #[error("node {0} saw an invalid commit certificate")]
    Certificate(usize),
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
    /// The final authority set size.
    pub final_authorities: usize,
    /// Authorities in the final set, by operator.
    pub final_set: Vec<PublicKey>,
    /// Evidence transactions submitted by honest nodes.
    pub evidence_submitted: usize,
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

/// Memoizes consensus signature checks across all replicas: validity depends only on
/// the statement, signature and key, never on who checks.
#[derive(Default)]
struct MemoVerifier {
    known: Mutex<HashMap<Hash, bool>>,
}

impl SignatureVerifier for MemoVerifier {
    fn verify(&self, chain_id: &str, vote: &SignedVote, key: &PublicKey) -> bool {
        let mut h = Hasher::new();
        h.update(&codec::encode(vote)).update(key.as_bytes());
        let id = h.finish();
        if let Some(v) = self.known.lock().ok().and_then(|m| m.get(&id).copied()) {
            return v;
        }
        let ok = vote.verify(chain_id, key).is_ok();
        if let Ok(mut m) = self.known.lock() {
            m.insert(id, ok);
        }
        ok
    }
}

/// A credential issuance that the rules reject (neither its certifier nor its subject
/// is registered), sent by `sender` with `nonce`, as a Byzantine proposer would slip
/// into its block.
pub(crate) fn fake_issuance(
    chain_id: &str,
    height: u64,
    sender: &SigningKey,
    nonce: u64,
) -> Option<SignedTransaction> {
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
            payload: Payload::IssueCredential(Box::new(issuance)),
        }
        .sign(sender),
    )
}

enum Event {
    Deliver {
        from: usize,
        to: usize,
        message: Message,
    },
    Timer {
        node: usize,
        epoch: u64,
        timeout: mpms_consensus::Timeout,
    },
    Wake {
        node: usize,
        epoch: u64,
    },
    Rebroadcast {
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

/// One simulation.
pub struct Simulation {
    config: SimConfig,
    chain: TestChain,
    rng: ChaCha20Rng,
    queue: EventQueue<Event>,
    topology: Topology,
    replicas: Vec<Replica>,
    alive: Vec<bool>,
    epoch: Vec<u64>,
    seen: Vec<HashSet<Hash>>,
    verifier: Arc<MemoVerifier>,
    next_subject: u64,
    events: u64,
}

impl Simulation {
    /// Sets up the network described by `config`.
    pub fn new(config: SimConfig) -> Simulation {
        let mut rng = ChaCha20Rng::seed_from_u64(config.seed);
        let chain =
            TestChain::new(config.authorities, config.seed).with_candidates(config.candidates);
        let mesh = config.authorities + config.candidates;
        let n = mesh + config.full_nodes;
        let topology = Topology::new(n, mesh, config.gossip_degree, &mut rng);
        let verifier = Arc::new(MemoVerifier::default());
        let mut sim = Simulation {
            replicas: Vec::with_capacity(n),
            alive: vec![true; n],
            epoch: vec![0; n],
            seen: vec![HashSet::new(); n],
            queue: EventQueue::default(),
            topology,
            rng,
            chain,
            verifier,
            next_subject: 0,
            events: 0,
            config,
        };
        for i in 0..n {
            let replica = sim.fresh_replica(i, None);
            sim.replicas.push(replica);
        }
        for (at_ms, fault) in sim.config.faults.clone() {
            sim.queue.push(at_ms * 1_000, Event::Fault(fault));
        }
        for (at_ms, change) in sim.config.governance.clone() {
            sim.schedule_governance(at_ms * 1_000, change);
        }
        if sim.config.tx_per_second > 0.0 {
            sim.queue.push(1_000, Event::Client);
        }
        sim
    }

    fn genesis_store(&self) -> Arc<MemStore> {
        let store = MemStore::new();
        let g = self.chain.genesis.build().expect("test genesis builds");
        commit_genesis(&store, &g).expect("genesis commits");
        Arc::new(store)
    }

    fn behaviour(&self, i: usize) -> Behaviour {
        self.config
            .byzantine
            .iter()
            .find(|(n, _)| *n == i)
            .map_or(Behaviour::Honest, |(_, b)| *b)
    }

    fn mesh(&self) -> usize {
        self.config.authorities + self.config.candidates
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
    fn submit_as(&mut self, i: usize, payload: Payload, now: u64) {
        let Some((key, nonce)) = self.replicas[i].operator_nonce() else {
            return;
        };
        let tx = mpms_ledger::Transaction {
            chain_id: self.chain.chain_id().to_string(),
            sender: key.public_key(),
            nonce,
            payload,
        }
        .sign(&key);
        let actions = self.replicas[i].submit(Arc::new(tx), now);
        self.apply(i, actions);
    }

    fn governance(&mut self, step: GovStep, now: u64) {
        let Some(leader) = (0..self.replicas.len()).find(|i| self.alive[*i] && self.honest(*i))
        else {
            return;
        };
        let Ok(meta) = mpms_ledger::execute::read_meta(self.replicas[leader].store.as_ref()) else {
            return;
        };
        let members: Vec<usize> = (0..self.mesh())
            .filter(|i| {
                meta.authority_set
                    .contains(&self.chain.operators[*i].public_key())
            })
            .filter(|i| self.alive[*i] && self.honest(*i))
            .collect();
        match step {
            GovStep::Bond(i) => {
                let amount = meta.params.min_authority_stake * 2;
                self.submit_as(i, Payload::Bond { amount }, now);
            }
            GovStep::Propose(action) => {
                if let Some(&proposer) = members.first() {
                    self.submit_as(proposer, Payload::Propose { action }, now);
                }
            }
            GovStep::ApproveLatest => {
                let store = self.replicas[leader].store.clone();
                let next: u64 = store
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
                    self.submit_as(voter, vote, now);
                }
            }
        }
    }

    fn fresh_replica(&self, i: usize, store: Option<Arc<MemStore>>) -> Replica {
        let keys = (i < self.mesh()).then(|| {
            (
                self.chain.operators[i].clone(),
                self.chain.consensus[i].clone(),
            )
        });
        let mut replica = Replica::new(
            i,
            self.behaviour(i),
            keys,
            self.mesh(),
            store.unwrap_or_else(|| self.genesis_store()),
            self.chain.chain_id(),
            self.config.timeouts.clone(),
            self.verifier.clone(),
            Production {
                min_interval_us: self.config.min_block_interval_ms * 1_000,
                heartbeat_us: self.config.timeouts.heartbeat.as_micros() as u64,
            },
            None,
        );
        if i < self.mesh() {
            replica.spare_keys = vec![
                self.chain.consensus[i].clone(),
                self.chain.rotated_consensus_key(i),
            ];
        }
        replica
    }

    fn honest(&self, i: usize) -> bool {
        self.behaviour(i) == Behaviour::Honest
    }

    /// Runs to the target height (or the time limit) and checks safety, certificates
    /// and liveness.
    pub fn run(mut self) -> Result<Report, SimError> {
        for i in 0..self.replicas.len() {
            let actions = self.replicas[i].start(0);
            self.apply(i, actions);
        }
        for node in 0..self.replicas.len() {
            self.queue
                .push(REBROADCAST_US, Event::Rebroadcast { node, epoch: 0 });
        }
        let limit_us = self.config.max_virtual_ms * 1_000;
        while let Some(event) = self.queue.pop() {
            self.events += 1;
            let now = self.queue.now_us();
            if now > limit_us {
                break;
            }
            self.handle(event, now);
            if self.events.is_multiple_of(256) {
                self.check_safety()?;
                if self.reached_target() {
                    break;
                }
            }
        }
        self.check_safety()?;
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
            && (0..self.replicas.len())
                .filter(|i| self.alive[*i] && self.honest(*i))
                .all(|i| self.replicas[i].height() >= self.config.target_height)
    }

    fn handle(&mut self, event: Event, now: u64) {
        match event {
            Event::Deliver { from, to, message } => {
                if !self.alive[to] {
                    return;
                }
                // First sight decides forwarding; delivery always happens, since a
                // replica that was behind may need a statement it dropped earlier
                // (its engine ignores true duplicates).
                if self.seen[to].insert(message.id()) {
                    self.forward(to, from, &message);
                }
                let actions = self.replicas[to].on_message(from, message, now);
                self.apply(to, actions);
            }
            Event::Timer {
                node,
                epoch,
                timeout,
            } => {
                if self.alive[node] && self.epoch[node] == epoch {
                    let actions = self.replicas[node].on_timeout(timeout, now);
                    self.apply(node, actions);
                }
            }
            Event::Wake { node, epoch } => {
                if self.alive[node] && self.epoch[node] == epoch {
                    let actions = self.replicas[node].on_wake(now);
                    self.apply(node, actions);
                }
            }
            Event::Rebroadcast { node, epoch } => {
                if self.epoch[node] == epoch {
                    if self.alive[node] {
                        let actions = self.replicas[node].rebroadcast();
                        self.apply_resend(node, actions);
                        // Catch up on anything missed: ask one random neighbour for
                        // the blocks after ours (it answers only if it has them).
                        let peers = &self.topology.neighbours[node];
                        if !peers.is_empty() {
                            let peer = peers[self.rng.gen_range(0..peers.len())];
                            let next = self.replicas[node].height() + 1;
                            self.send(node, peer, Message::SyncRequest(next));
                        }
                    }
                    self.queue
                        .push(REBROADCAST_US, Event::Rebroadcast { node, epoch });
                }
            }
            Event::Fault(fault) => self.fault(fault, now),
            Event::Governance(step) => self.governance(step, now),
            Event::Client => {
                let target = self.rng.gen_range(0..self.mesh());
                let tx = Arc::new(self.chain.register_subject(self.next_subject));
                self.next_subject += 1;
                if self.alive[target] {
                    self.seen[target].insert(tx.hash());
                    let actions = self.replicas[target].submit(tx, now);
                    self.apply(target, actions);
                }
                let gap_us = (1_000_000.0 / self.config.tx_per_second) as u64;
                self.queue.push(gap_us.max(1), Event::Client);
            }
        }
    }

    /// Gossip among authorities: a node passes on consensus messages and transactions
    /// it sees for the first time. (Commits are passed on by the replica once it has
    /// checked and applied them.)
    fn forward(&mut self, node: usize, from: usize, message: &Message) {
        if self.behaviour(node) == Behaviour::Silent || node >= self.mesh() {
            return;
        }
        if let Message::Proposal(..) | Message::Vote(_) | Message::Tx(_) = message {
            let to: Vec<usize> = (0..self.mesh())
                .filter(|i| *i != node && *i != from)
                .collect();
            for t in to {
                self.send(node, t, message.clone());
            }
        }
    }

    fn send(&mut self, from: usize, to: usize, message: Message) {
        if !self.topology.connected(from, to) {
            return;
        }
        if self.config.loss > 0.0 && self.rng.gen_bool(self.config.loss.min(1.0)) {
            return;
        }
        let delay = self.config.latency.sample_us(&mut self.rng);
        self.queue.push(delay, Event::Deliver { from, to, message });
    }

    /// Re-sends: plain sends (receivers that already have them drop them).
    fn apply_resend(&mut self, node: usize, actions: Vec<Action>) {
        for action in actions {
            if let Action::ToAuthorities(message, to) = action {
                for t in to {
                    self.send(node, t, message.clone());
                }
            }
        }
    }

    fn apply(&mut self, node: usize, actions: Vec<Action>) {
        if !self.alive[node] {
            return;
        }
        for action in actions {
            match action {
                Action::ToAuthorities(message, to) => {
                    self.seen[node].insert(message.id());
                    for t in to {
                        self.send(node, t, message.clone());
                    }
                }
                Action::Gossip(message) => {
                    self.seen[node].insert(message.id());
                    let to = self.topology.neighbours[node].clone();
                    for t in to {
                        self.send(node, t, message.clone());
                    }
                }
                Action::To(to, message) => self.send(node, to, message),
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
                Action::WakeAt(at_us) => {
                    let epoch = self.epoch[node];
                    let delay = at_us.saturating_sub(self.queue.now_us()).max(1);
                    self.queue.push(delay, Event::Wake { node, epoch });
                }
            }
        }
    }

    fn fault(&mut self, fault: Fault, now: u64) {
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
                let store = keep_state.then(|| self.replicas[node].store.clone());
                // With its store kept, the validator reads its record back from it.
                let from_store = store
                    .as_ref()
                    .and_then(|s| s.safety_record().ok().flatten())
                    .and_then(|bytes| mpms_consensus::SafetyRecord::from_bytes(&bytes).ok());
                let safety = from_store.or_else(|| self.replicas[node].safety_disk.clone());
                let mut replica = self.fresh_replica(node, store);
                replica.safety_disk = safety;
                self.replicas[node] = replica;
                self.alive[node] = true;
                self.epoch[node] += 1;
                self.seen[node].clear();
                let epoch = self.epoch[node];
                self.queue
                    .push(REBROADCAST_US, Event::Rebroadcast { node, epoch });
                let mut actions = self.replicas[node].start(now);
                // Ask a neighbour for what it missed.
                let height = self.replicas[node].height();
                if let Some(&peer) = self.topology.neighbours[node].first() {
                    actions.push(Action::To(peer, Message::SyncRequest(height + 1)));
                }
                self.apply(node, actions);
            }
            Fault::Partition(groups) => self.topology.partition(groups),
            Fault::Heal => {
                self.topology.heal();
                // After healing, everyone asks its neighbours for what it missed.
                for node in 0..self.replicas.len() {
                    if !self.alive[node] {
                        continue;
                    }
                    let height = self.replicas[node].height();
                    let peers = self.topology.neighbours[node].clone();
                    for peer in peers {
                        self.send(node, peer, Message::SyncRequest(height + 1));
                    }
                }
            }
        }
    }

    fn check_safety(&self) -> Result<(), SimError> {
        let mut chain: BTreeMap<u64, Hash> = BTreeMap::new();
        for (i, r) in self.replicas.iter().enumerate() {
            if !self.honest(i) {
                continue;
            }
            if r.invalid_certificates > 0 {
                return Err(SimError::Certificate(i));
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

    fn report(&self) -> Result<Report, SimError> {
        let mut chain = BTreeMap::new();
        let mut commit_times = BTreeMap::new();
        let mut confirmations = Vec::new();
        let mut digest = Hasher::new();
        let mut evidence = 0;
        for (i, r) in self.replicas.iter().enumerate() {
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
                confirmations.extend(r.confirmations.iter().map(|us| *us as f64 / 1_000.0));
                evidence += r.evidence_submitted;
            }
        }
        let live_honest: Vec<usize> = (0..self.replicas.len())
            .filter(|i| self.alive[*i] && self.honest(*i))
            .collect();
        let min_height = live_honest
            .iter()
            .map(|i| self.replicas[*i].height())
            .min()
            .unwrap_or(0);
        let at_ms = self.queue.now_us() / 1_000;
        if let Some(&laggard) = live_honest
            .iter()
            .find(|i| self.replicas[**i].height() < self.config.target_height)
        {
            return Err(SimError::Liveness {
                node: laggard,
                height: self.replicas[laggard].height(),
                target: self.config.target_height,
                at_ms,
            });
        }
        let final_members = live_honest
            .first()
            .and_then(|i| mpms_ledger::execute::read_meta(self.replicas[*i].store.as_ref()).ok())
            .map(|m| m.authority_set.members)
            .unwrap_or_default();
        let final_set: Vec<PublicKey> = final_members.iter().map(|m| m.operator).collect();
        let final_keys = final_members
            .iter()
            .map(|m| (m.operator, m.consensus_key))
            .collect();
        let mut recent_signers: Vec<PublicKey> = Vec::new();
        if let Some(&i) = live_honest.first() {
            let store = &self.replicas[i].store;
            let last = self.replicas[i].height();
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
        for i in (0..self.replicas.len()).filter(|i| self.honest(*i)) {
            for (height, set) in &self.replicas[i].schedule {
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
            final_authorities: final_set.len(),
            final_set,
            final_keys,
            recent_signers,
            schedule_agrees,
            evidence_submitted: evidence,
            digest: digest.finish(),
        })
    }

    /// One line per node: committed height and the engine's view of its round.
    pub fn debug_states(&self) -> Vec<String> {
        self.replicas
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let e = r.engine.as_ref().map(|e| e.describe());
                let me = if i < self.config.authorities {
                    self.operator(i).to_string()[..6].to_string()
                } else {
                    String::new()
                };
                format!(
                    "node {i} ({me}) alive={} epoch={} own={} committed={} engine={:?}",
                    self.alive[i],
                    self.epoch[i],
                    r.own_count(),
                    r.height(),
                    e
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
