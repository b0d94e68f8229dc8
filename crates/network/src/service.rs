//! The swarm task and its handle.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use libp2p::allow_block_list::NotAllowed;
use libp2p::gossipsub::{self, IdentTopic, MessageAcceptance, TopicHash};
use libp2p::identity::Keypair;
use libp2p::request_response::{self, OutboundRequestId};
use libp2p::swarm::{ConnectionId, DialError, ListenError, SwarmEvent};
use libp2p::{identify, kad, Multiaddr, PeerId, Swarm, SwarmBuilder};
use mpms_ledger::codec;
use tokio::sync::{mpsc, oneshot};

use crate::behaviour::{topic_score, Behaviour, BehaviourEvent, GRAYLIST_THRESHOLD};
use crate::budget::{GossipBudget, SyncBudget};
use crate::config::{CheckedConfig, ConfigError, NetworkConfig};
use crate::events::{EventReceiver, EventSender};
use crate::metrics::NetworkMetrics;
use crate::sync::BlockSource;
use crate::validate::{GossipValidator, Verdict};
use crate::wire::{SyncRequest, SyncResponse};
use crate::Topic;

/// What the network reports to the node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetworkEvent {
    /// A gossip message the validator accepted (already being forwarded).
    Message {
        /// Its topic.
        topic: Topic,
        /// Its bytes (canonically encoded; see [`crate::wire`]).
        data: Vec<u8>,
        /// The peer it came from (not necessarily its author).
        from: PeerId,
    },
    /// First connection to a peer.
    PeerConnected(PeerId),
    /// Last connection to a peer closed.
    PeerDisconnected(PeerId),
    /// A peer this node dialed closed the connection before identifying itself: it
    /// most likely does not admit this node (its peer id is not in the chain's node
    /// registry), or it banned it.
    RefusedBy(PeerId),
}

/// Why a network operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NetworkError {
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The transport could not be set up (e.g. the address is in use).
    #[error("transport: {0}")]
    Transport(String),
    /// A message could not be published.
    #[error("publish: {0}")]
    Publish(String),
    /// A sync request failed (timeout, disconnect, bad response).
    #[error("sync request to {peer}: {reason}")]
    Sync {
        /// The peer asked.
        peer: PeerId,
        /// What went wrong.
        reason: String,
    },
    /// The network task has stopped.
    #[error("network stopped")]
    Stopped,
}

enum Command {
    Publish {
        topic: Topic,
        data: Vec<u8>,
        reply: oneshot::Sender<Result<(), NetworkError>>,
    },
    Sync {
        peer: PeerId,
        request: SyncRequest,
        reply: oneshot::Sender<Result<SyncResponse, NetworkError>>,
    },
    Peers(oneshot::Sender<Vec<PeerId>>),
    ListenAddrs(oneshot::Sender<Vec<Multiaddr>>),
    Admit(Vec<PeerId>),
    Ban {
        peer: PeerId,
        reason: String,
    },
    Penalize {
        peer: PeerId,
        reason: String,
    },
    Dial(Multiaddr, oneshot::Sender<Result<(), NetworkError>>),
    Shutdown(oneshot::Sender<()>),
}

/// Commands into the network task. Cheap to clone.
#[derive(Clone)]
pub struct NetworkHandle {
    commands: mpsc::Sender<Command>,
    peer_id: PeerId,
    metrics: Arc<NetworkMetrics>,
}

impl NetworkHandle {
    /// This node's peer id.
    pub fn peer_id(&self) -> PeerId {
        self.peer_id
    }

    /// The network's counters.
    pub fn metrics(&self) -> &Arc<NetworkMetrics> {
        &self.metrics
    }

    async fn ask<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> Result<T, NetworkError> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(make(reply))
            .await
            .map_err(|_| NetworkError::Stopped)?;
        answer.await.map_err(|_| NetworkError::Stopped)
    }

    /// Publishes `data` on `topic`. Publishing bytes already seen is not an error.
    pub async fn publish(&self, topic: Topic, data: Vec<u8>) -> Result<(), NetworkError> {
        self.ask(|reply| Command::Publish { topic, data, reply })
            .await?
    }

    /// Sends a block-sync request to `peer` and waits for its answer.
    pub async fn sync_request(
        &self,
        peer: PeerId,
        request: SyncRequest,
    ) -> Result<SyncResponse, NetworkError> {
        self.ask(|reply| Command::Sync {
            peer,
            request,
            reply,
        })
        .await?
    }

    /// Peers currently connected.
    pub async fn peers(&self) -> Result<Vec<PeerId>, NetworkError> {
        self.ask(Command::Peers).await
    }

    /// Addresses this node listens on, each ending in `/p2p/<peer id>`.
    pub async fn listen_addrs(&self) -> Result<Vec<Multiaddr>, NetworkError> {
        self.ask(Command::ListenAddrs).await
    }

    /// Replaces the peers the chain admits (node registry and authorities). Peers no
    /// longer admitted (and not admitted by config) are disconnected. No effect
    /// unless the network is permissioned.
    pub async fn admit(&self, peers: Vec<PeerId>) -> Result<(), NetworkError> {
        self.commands
            .send(Command::Admit(peers))
            .await
            .map_err(|_| NetworkError::Stopped)
    }

    /// Disconnects and bans `peer` (e.g. it served a block that fails checks).
    pub async fn ban(&self, peer: PeerId, reason: impl Into<String>) -> Result<(), NetworkError> {
        self.commands
            .send(Command::Ban {
                peer,
                reason: reason.into(),
            })
            .await
            .map_err(|_| NetworkError::Stopped)
    }

    /// Counts an offence against `peer` (it served something provably wrong outside
    /// gossip, e.g. a stripped block): as for an invalid gossip message, enough of
    /// them ban it.
    pub async fn penalize(
        &self,
        peer: PeerId,
        reason: impl Into<String>,
    ) -> Result<(), NetworkError> {
        self.commands
            .send(Command::Penalize {
                peer,
                reason: reason.into(),
            })
            .await
            .map_err(|_| NetworkError::Stopped)
    }

    /// Dials `addr`.
    pub async fn dial(&self, addr: Multiaddr) -> Result<(), NetworkError> {
        self.ask(|reply| Command::Dial(addr, reply)).await?
    }

    /// Stops the network task and closes every connection.
    pub async fn shutdown(&self) {
        let _ = self.ask(Command::Shutdown).await;
    }
}

/// Starts the network: binds the listen addresses, dials the boot nodes, joins the
/// chain's topics, and runs the swarm on a tokio task. Gossip that `validator`
/// accepts and connection changes arrive on the returned receiver; block-sync
/// requests are answered from `blocks`.
pub async fn start(
    key: Keypair,
    config: &NetworkConfig,
    chain_id: &str,
    validator: Arc<dyn GossipValidator>,
    blocks: Arc<dyn BlockSource>,
) -> Result<(NetworkHandle, EventReceiver), NetworkError> {
    let config = config.check()?;
    let peer_id = key.public().to_peer_id();
    let behaviour = Behaviour::new(&key, &config).map_err(NetworkError::Transport)?;
    let mut swarm = SwarmBuilder::with_existing_identity(key)
        .with_tokio()
        .with_tcp(
            libp2p::tcp::Config::default().nodelay(true),
            libp2p::noise::Config::new,
            libp2p::yamux::Config::default,
        )
        .map_err(|e| NetworkError::Transport(e.to_string()))?
        .with_behaviour(|_| behaviour)
        .map_err(|e| NetworkError::Transport(e.to_string()))?
        .with_swarm_config(|c| {
            c.with_idle_connection_timeout(Duration::from_secs(config.raw.idle_timeout_secs))
        })
        .build();

    let mut topics = HashMap::new();
    let mut topic_hashes = Vec::new();
    for topic in Topic::ALL {
        let ident = IdentTopic::new(topic.name(chain_id));
        swarm
            .behaviour_mut()
            .gossip
            .subscribe(&ident)
            .map_err(|e| NetworkError::Transport(format!("subscribe: {e}")))?;
        swarm
            .behaviour_mut()
            .gossip
            .set_topic_params(ident.clone(), topic_score())
            .map_err(|e| NetworkError::Transport(format!("topic score: {e}")))?;
        topics.insert(ident.hash(), topic);
        topic_hashes.push(ident.hash());
    }

    for addr in &config.listen {
        swarm
            .listen_on(addr.clone())
            .map_err(|e| NetworkError::Transport(format!("listen on {addr}: {e}")))?;
    }
    // Wait until every listener is bound, so `listen_addrs` is complete at once.
    let mut bound = 0;
    let deadline = tokio::time::sleep(Duration::from_secs(10));
    tokio::pin!(deadline);
    while bound < config.listen.len() {
        tokio::select! {
            event = swarm.select_next_some() => match event {
                SwarmEvent::NewListenAddr { .. } => bound += 1,
                SwarmEvent::ListenerError { error, .. } => {
                    return Err(NetworkError::Transport(format!("listener: {error}")))
                }
                SwarmEvent::ListenerClosed { reason: Err(error), .. } => {
                    return Err(NetworkError::Transport(format!("listener: {error}")))
                }
                _ => {}
            },
            _ = &mut deadline => {
                return Err(NetworkError::Transport("listen addresses not bound in 10 s".into()))
            }
        }
    }

    for (peer, addr) in &config.boot_nodes {
        if let Some(kad) = swarm.behaviour_mut().kad.as_mut() {
            kad.add_address(peer, addr.clone());
        }
        if let Err(e) = swarm.dial(addr.clone()) {
            tracing::warn!(%addr, error = %e, "cannot dial boot node");
        }
    }

    let metrics = Arc::new(NetworkMetrics::default());
    let (command_tx, command_rx) = mpsc::channel(1024);
    let (event_tx, event_rx) = crate::events::channel(config.raw.max_queued_bytes);
    let (verdict_tx, verdicts) = mpsc::unbounded_channel();
    let (served_tx, served) = mpsc::unbounded_channel();
    let validators = ValidatorPool::start(validator, verdict_tx);
    let task = Task {
        gossip_budget: GossipBudget::new(config.raw.max_message_bytes, config.raw.max_queued_bytes),
        sync_budget: SyncBudget::new(config.raw.sync_requests_per_sec),
        swarm,
        config,
        validators,
        verdicts,
        blocks,
        served_tx,
        served,
        serving: HashMap::new(),
        next_serving: 0,
        metrics: metrics.clone(),
        events: event_tx,
        dropped: (0, None),
        topics,
        topic_hashes,
        pending: HashMap::new(),
        offences: HashMap::new(),
        bans: HashMap::new(),
        chain_admitted: HashSet::new(),
        unidentified: HashMap::new(),
        refusals_logged: HashMap::new(),
        connected: HashSet::new(),
        last_bootstrap: None,
    };
    tokio::spawn(task.run(command_rx));
    Ok((
        NetworkHandle {
            commands: command_tx,
            peer_id,
            metrics,
        },
        event_rx,
    ))
}

/// A full event queue is logged at most this often (with the count dropped since).
const DROP_LOG_EVERY: Duration = Duration::from_secs(10);
/// How often peers are topped up, bans expire and discovery runs.
const MAINTENANCE: Duration = Duration::from_millis(500);
/// How often a Kademlia bootstrap (random walk) runs while the node has fewer
/// peers than it aims for.
const BOOTSTRAP_EVERY: Duration = Duration::from_secs(30);
/// How often it runs once the node has the peers it aims for: only to keep the
/// routing table fresh. (A walk asks up to 20 peers each; at every 30 s it was a
/// good part of an idle node's CPU time.)
const BOOTSTRAP_WHEN_SETTLED: Duration = Duration::from_secs(300);

/// Gossip waiting for, or back from, the validator.
struct Gossip {
    id: gossipsub::MessageId,
    source: PeerId,
    topic: Topic,
    data: Vec<u8>,
}

/// Threads that run the gossip validator, off the swarm's loop (it checks signatures
/// and may read the store). A peer's messages always go to the same thread, so they
/// are judged and delivered in the order they came.
struct ValidatorPool {
    queues: Vec<std::sync::mpsc::Sender<Gossip>>,
}

impl ValidatorPool {
    fn start(
        validator: Arc<dyn GossipValidator>,
        verdicts: mpsc::UnboundedSender<(Gossip, Verdict)>,
    ) -> ValidatorPool {
        let threads = std::thread::available_parallelism()
            .map_or(1, usize::from)
            .clamp(1, 4);
        let mut queues = Vec::with_capacity(threads);
        for i in 0..threads {
            let (tx, rx) = std::sync::mpsc::channel::<Gossip>();
            let validator = validator.clone();
            let verdicts = verdicts.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("mpms-gossip-{i}"))
                .spawn(move || {
                    // Ends when the swarm task (holding the senders) stops.
                    while let Ok(gossip) = rx.recv() {
                        let verdict = validator.validate(gossip.topic, &gossip.data);
                        if verdicts.send((gossip, verdict)).is_err() {
                            break;
                        }
                    }
                });
            match spawned {
                Ok(_) => queues.push(tx),
                Err(e) => tracing::error!(error = %e, "cannot start a gossip validation thread"),
            }
        }
        ValidatorPool { queues }
    }

    /// Queues `gossip`; gives it back if no thread runs.
    fn submit(&self, gossip: Gossip) -> Option<Gossip> {
        if self.queues.is_empty() {
            return Some(gossip);
        }
        let lane = {
            use std::hash::{Hash, Hasher};
            let mut h = std::collections::hash_map::DefaultHasher::new();
            gossip.source.hash(&mut h);
            (h.finish() % self.queues.len() as u64) as usize
        };
        self.queues[lane].send(gossip).err().map(|e| e.0)
    }
}

struct Task {
    swarm: Swarm<Behaviour>,
    config: CheckedConfig,
    validators: ValidatorPool,
    verdicts: mpsc::UnboundedReceiver<(Gossip, Verdict)>,
    /// Each peer's messages awaiting validation (count and bytes), bounded.
    gossip_budget: GossipBudget,
    blocks: Arc<dyn BlockSource>,
    /// Sync requests each peer may make, bounded by a rate and one in flight.
    sync_budget: SyncBudget,
    served_tx: mpsc::UnboundedSender<(u64, SyncResponse)>,
    served: mpsc::UnboundedReceiver<(u64, SyncResponse)>,
    /// Requests being answered off the loop, by number.
    serving: HashMap<u64, (PeerId, request_response::ResponseChannel<SyncResponse>)>,
    next_serving: u64,
    metrics: Arc<NetworkMetrics>,
    events: EventSender,
    /// Events dropped on a full queue since that was last logged, and when.
    dropped: (u64, Option<Instant>),
    topics: HashMap<TopicHash, Topic>,
    topic_hashes: Vec<TopicHash>,
    pending:
        HashMap<OutboundRequestId, (PeerId, oneshot::Sender<Result<SyncResponse, NetworkError>>)>,
    offences: HashMap<PeerId, u32>,
    bans: HashMap<PeerId, Instant>,
    chain_admitted: HashSet<PeerId>,
    connected: HashSet<PeerId>,
    last_bootstrap: Option<Instant>,
    /// Connections this node dialed whose peer has not identified itself yet.
    unidentified: HashMap<ConnectionId, (PeerId, Instant)>,
    /// When a refused peer was last logged (refusals are logged at a bounded rate).
    refusals_logged: HashMap<PeerId, Instant>,
}

/// A dialed connection closed this soon, before the peer identified itself, counts
/// as a refusal by that peer.
const REFUSAL_WINDOW: Duration = Duration::from_secs(10);

/// A refused peer is logged at most once in this long.
const REFUSAL_LOG_EVERY: Duration = Duration::from_secs(60);

/// Most refused peers remembered for rate-limiting their log lines.
const MAX_REFUSALS_LOGGED: usize = 1_024;

impl Task {
    async fn run(mut self, mut commands: mpsc::Receiver<Command>) {
        let mut tick = tokio::time::interval(MAINTENANCE);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                command = commands.recv() => match command {
                    Some(Command::Shutdown(done)) => {
                        let _ = done.send(());
                        break;
                    }
                    Some(command) => self.on_command(command),
                    None => break,
                },
                event = self.swarm.select_next_some() => self.on_swarm_event(event),
                Some((gossip, verdict)) = self.verdicts.recv() => self.on_verdict(gossip, verdict),
                Some((number, response)) = self.served.recv() => self.respond(number, response),
                _ = tick.tick() => self.maintain(),
            }
        }
        tracing::debug!("network task stopped");
    }

    fn topic_hash(&self, topic: Topic) -> TopicHash {
        self.topic_hashes[topic.index()].clone()
    }

    fn on_command(&mut self, command: Command) {
        match command {
            Command::Publish { topic, data, reply } => {
                let hash = self.topic_hash(topic);
                let result = match self.swarm.behaviour_mut().gossip.publish(hash, data) {
                    Ok(_) => {
                        NetworkMetrics::topic(&self.metrics.published, topic);
                        Ok(())
                    }
                    Err(gossipsub::PublishError::Duplicate) => Ok(()),
                    Err(e) => Err(NetworkError::Publish(e.to_string())),
                };
                let _ = reply.send(result);
            }
            Command::Sync {
                peer,
                request,
                reply,
            } => {
                let id = self.swarm.behaviour_mut().sync.send_request(&peer, request);
                self.pending.insert(id, (peer, reply));
            }
            Command::Peers(reply) => {
                let _ = reply.send(self.connected.iter().copied().collect());
            }
            Command::ListenAddrs(reply) => {
                let me = *self.swarm.local_peer_id();
                let addrs = self
                    .swarm
                    .listeners()
                    .map(|a| a.clone().with_p2p(me).unwrap_or_else(|a| a))
                    .collect();
                let _ = reply.send(addrs);
            }
            Command::Admit(peers) => self.admit(peers),
            Command::Ban { peer, reason } => self.ban(peer, &reason),
            Command::Penalize { peer, reason } => {
                NetworkMetrics::add(&self.metrics.penalized);
                self.offence(peer, &reason);
            }
            Command::Dial(addr, reply) => {
                let result = self
                    .swarm
                    .dial(addr)
                    .map_err(|e| NetworkError::Transport(e.to_string()));
                let _ = reply.send(result);
            }
            Command::Shutdown(_) => {}
        }
    }

    /// Peers admitted by config: never removed by chain updates.
    fn config_admitted(&self) -> HashSet<PeerId> {
        self.config
            .allowed_peers
            .iter()
            .copied()
            .chain(self.config.boot_nodes.iter().map(|(p, _)| *p))
            .collect()
    }

    fn admit(&mut self, peers: Vec<PeerId>) {
        let keep = self.config_admitted();
        let new: HashSet<PeerId> = peers.into_iter().collect();
        let Some(admitted) = self.swarm.behaviour_mut().admitted.as_mut() else {
            self.chain_admitted = new;
            return;
        };
        for gone in self.chain_admitted.difference(&new) {
            if !keep.contains(gone) {
                admitted.disallow_peer(*gone);
            }
        }
        for peer in &new {
            admitted.allow_peer(*peer);
        }
        self.chain_admitted = new;
    }

    fn ban(&mut self, peer: PeerId, reason: &str) {
        tracing::warn!(%peer, reason, "banning peer");
        let until = Instant::now() + Duration::from_secs(self.config.raw.ban_secs);
        self.bans.insert(peer, until);
        self.offences.remove(&peer);
        let behaviour = self.swarm.behaviour_mut();
        if behaviour.banned.block_peer(peer) {
            NetworkMetrics::add(&self.metrics.banned);
        }
        if let Some(kad) = behaviour.kad.as_mut() {
            kad.remove_peer(&peer);
        }
    }

    fn offence(&mut self, peer: PeerId, reason: &str) {
        let count = {
            let count = self.offences.entry(peer).or_insert(0);
            *count += 1;
            *count
        };
        tracing::debug!(%peer, reason, count, "invalid message");
        if count >= self.config.raw.max_offences {
            self.ban(peer, &format!("{count} invalid messages; last: {reason}"));
            return;
        }
        // Gossipsub ignores a graylisted peer's further messages, so they would never
        // reach the count above: disconnect on the score as well.
        if let Some(score) = self.swarm.behaviour().gossip.peer_score(&peer) {
            if score <= GRAYLIST_THRESHOLD {
                self.ban(peer, &format!("gossip score {score:.0}; last: {reason}"));
            }
        }
    }

    fn maintain(&mut self) {
        let now = Instant::now();
        let expired: Vec<PeerId> = self
            .bans
            .iter()
            .filter(|(_, until)| **until <= now)
            .map(|(p, _)| *p)
            .collect();
        for peer in expired {
            self.bans.remove(&peer);
            self.swarm.behaviour_mut().banned.unblock_peer(peer);
        }
        // Gossipsub stops delivering a graylisted peer's messages, so its offences no
        // longer reach the counter above: disconnect it on its score instead.
        let graylisted: Vec<(PeerId, f64)> = self
            .connected
            .iter()
            .filter_map(|peer| {
                let score = self.swarm.behaviour().gossip.peer_score(peer)?;
                (score <= GRAYLIST_THRESHOLD).then_some((*peer, score))
            })
            .collect();
        for (peer, score) in graylisted {
            self.ban(
                peer,
                &format!("gossip score {score:.0} after invalid messages"),
            );
        }
        // Keep the boot nodes connected.
        for (peer, addr) in self.config.boot_nodes.clone() {
            if !self.connected.contains(&peer) && !self.bans.contains_key(&peer) {
                let _ = self.swarm.dial(addr);
            }
        }
        if !self.config.raw.discovery {
            return;
        }
        let every = if self.connected.len() < self.config.raw.target_peers {
            BOOTSTRAP_EVERY
        } else {
            BOOTSTRAP_WHEN_SETTLED
        };
        let due = self
            .last_bootstrap
            .is_none_or(|at| now.duration_since(at) >= every);
        let Some(kad) = self.swarm.behaviour_mut().kad.as_mut() else {
            return;
        };
        if due && kad.bootstrap().is_ok() {
            self.last_bootstrap = Some(now);
        }
        // Dial discovered peers until the target is reached.
        let missing = self
            .config
            .raw
            .target_peers
            .saturating_sub(self.connected.len());
        if missing == 0 {
            return;
        }
        let mut candidates = Vec::new();
        for bucket in kad.kbuckets() {
            for entry in bucket.iter() {
                let peer = *entry.node.key.preimage();
                if !self.connected.contains(&peer) && !self.bans.contains_key(&peer) {
                    candidates.push(peer);
                }
            }
        }
        for peer in candidates.into_iter().take(missing) {
            let _ = self.swarm.dial(peer);
        }
    }

    /// Hands `event` to the node. On a full queue a message is dropped here only (it
    /// was valid and is forwarded: peers need it), counted and logged at a bounded
    /// rate; never held against its sender (this node is slow, not the sender).
    fn emit(&mut self, event: NetworkEvent) {
        let Err(event) = self.events.try_send(event) else {
            return;
        };
        if let NetworkEvent::Message { topic, .. } = event {
            NetworkMetrics::topic(&self.metrics.dropped, topic);
        }
        self.dropped.0 += 1;
        let due = self
            .dropped
            .1
            .is_none_or(|at| at.elapsed() >= DROP_LOG_EVERY);
        if due {
            tracing::warn!(
                dropped = self.dropped.0,
                queued_bytes = self.events.queued_bytes(),
                "event queue full: gossip dropped (the node is not keeping up)"
            );
            self.dropped = (0, Some(Instant::now()));
        }
    }

    fn count_peers(&self) {
        let peers = self.connected.len() as u64;
        self.metrics
            .peers
            .store(peers, std::sync::atomic::Ordering::Relaxed);
    }

    fn on_connected(&mut self, peer: PeerId) {
        if self.connected.insert(peer) {
            self.count_peers();
            self.emit(NetworkEvent::PeerConnected(peer));
        }
    }

    fn on_disconnected(&mut self, peer: PeerId) {
        if self.connected.remove(&peer) {
            self.count_peers();
            self.emit(NetworkEvent::PeerDisconnected(peer));
        }
    }

    /// Logs that `peer`, which the chain does not admit, tried to connect: at most
    /// once a minute per peer, so a peer retrying cannot flood the log.
    fn log_refusal(&mut self, peer: PeerId) {
        let now = Instant::now();
        if self
            .refusals_logged
            .get(&peer)
            .is_some_and(|at| now.duration_since(*at) < REFUSAL_LOG_EVERY)
        {
            return;
        }
        if self.refusals_logged.len() >= MAX_REFUSALS_LOGGED {
            self.refusals_logged
                .retain(|_, at| now.duration_since(*at) < REFUSAL_LOG_EVERY);
            if self.refusals_logged.len() >= MAX_REFUSALS_LOGGED {
                return;
            }
        }
        self.refusals_logged.insert(peer, now);
        tracing::info!(
            %peer,
            "refused a connection: this peer is not admitted by the chain's node registry (governance admits it with `propose admit-node`)"
        );
    }

    fn on_swarm_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        match event {
            SwarmEvent::ConnectionEstablished {
                peer_id,
                connection_id,
                endpoint,
                ..
            } => {
                if endpoint.is_dialer() {
                    self.unidentified
                        .insert(connection_id, (peer_id, Instant::now()));
                }
                self.on_connected(peer_id);
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                connection_id,
                num_established,
                ..
            } => {
                if let Some((_, since)) = self.unidentified.remove(&connection_id) {
                    if since.elapsed() < REFUSAL_WINDOW {
                        NetworkMetrics::add(&self.metrics.refused_by_peers);
                        self.emit(NetworkEvent::RefusedBy(peer_id));
                    }
                }
                if num_established == 0 {
                    self.on_disconnected(peer_id);
                }
            }
            SwarmEvent::IncomingConnectionError {
                error: ListenError::Denied { cause },
                peer_id,
                ..
            } => {
                NetworkMetrics::add(&self.metrics.refused);
                match (peer_id, cause.downcast_ref::<NotAllowed>()) {
                    (Some(peer), Some(_)) => self.log_refusal(peer),
                    _ => tracing::debug!(%cause, "refused inbound connection"),
                }
            }
            SwarmEvent::OutgoingConnectionError {
                error: DialError::Denied { cause },
                ..
            } => {
                NetworkMetrics::add(&self.metrics.refused);
                tracing::debug!(%cause, "refused outbound connection");
            }
            SwarmEvent::Behaviour(event) => self.on_behaviour_event(event),
            _ => {}
        }
    }

    fn on_behaviour_event(&mut self, event: BehaviourEvent) {
        match event {
            BehaviourEvent::Gossip(gossipsub::Event::Message {
                propagation_source,
                message_id,
                message,
            }) => self.on_gossip(propagation_source, message_id, message),
            BehaviourEvent::Identify(identify::Event::Received {
                peer_id,
                info,
                connection_id,
            }) => {
                self.unidentified.remove(&connection_id);
                if let Some(kad) = self.swarm.behaviour_mut().kad.as_mut() {
                    for addr in info.listen_addrs {
                        kad.add_address(&peer_id, addr);
                    }
                }
            }
            BehaviourEvent::Sync(event) => self.on_sync(event),
            BehaviourEvent::Kad(kad::Event::RoutingUpdated { .. }) => {}
            _ => {}
        }
    }

    fn on_gossip(&mut self, source: PeerId, id: gossipsub::MessageId, message: gossipsub::Message) {
        let Some(topic) = self.topics.get(&message.topic).copied() else {
            // Not one of ours: gossipsub only delivers subscribed topics, so this is a
            // peer misbehaving.
            self.report(&id, &source, MessageAcceptance::Reject);
            self.offence(source, "message on an unknown topic");
            return;
        };
        // Each peer has a bounded share of the validator's queue: beyond it, its
        // messages are dropped unforwarded (not counted against it: it may only be
        // fast), so one peer cannot hold the queue or the memory.
        if !self.gossip_budget.take(source, message.data.len()) {
            NetworkMetrics::add(&self.metrics.gossip_shed);
            self.report(&id, &source, MessageAcceptance::Ignore);
            return;
        }
        let gossip = Gossip {
            id,
            source,
            topic,
            data: message.data,
        };
        if let Some(gossip) = self.validators.submit(gossip) {
            self.gossip_budget
                .give_back(gossip.source, gossip.data.len());
            self.report(&gossip.id, &gossip.source, MessageAcceptance::Ignore);
        }
    }

    /// The validator's verdict on a message: forward and deliver it, drop it, or drop
    /// it and count it against the peer.
    fn on_verdict(&mut self, gossip: Gossip, verdict: Verdict) {
        let Gossip {
            id,
            source,
            topic,
            data,
        } = gossip;
        self.gossip_budget.give_back(source, data.len());
        match verdict {
            Verdict::Accept => {
                self.report(&id, &source, MessageAcceptance::Accept);
                NetworkMetrics::topic(&self.metrics.accepted, topic);
                self.emit(NetworkEvent::Message {
                    topic,
                    data,
                    from: source,
                });
            }
            Verdict::Ignore => self.report(&id, &source, MessageAcceptance::Ignore),
            Verdict::Reject(reason) => {
                self.report(&id, &source, MessageAcceptance::Reject);
                NetworkMetrics::topic(&self.metrics.rejected, topic);
                self.offence(source, &reason);
            }
        }
    }

    fn report(&mut self, id: &gossipsub::MessageId, source: &PeerId, verdict: MessageAcceptance) {
        self.swarm
            .behaviour_mut()
            .gossip
            .report_message_validation_result(id, source, verdict);
    }

    fn on_sync(&mut self, event: request_response::Event<SyncRequest, SyncResponse>) {
        match event {
            request_response::Event::Message {
                peer,
                message:
                    request_response::Message::Request {
                        request, channel, ..
                    },
                ..
            } => {
                // Answered off the loop (it reads the store), within the peer's budget;
                // a request over it is dropped and the peer sees its request fail.
                if !self.sync_budget.take(peer, Instant::now()) {
                    NetworkMetrics::add(&self.metrics.sync_refused);
                    tracing::debug!(%peer, "sync request over the peer's budget");
                    return;
                }
                NetworkMetrics::add(&self.metrics.sync_served);
                let number = self.next_serving;
                self.next_serving += 1;
                self.serving.insert(number, (peer, channel));
                let blocks = self.blocks.clone();
                let limits = ServeLimits {
                    batch: self.config.raw.sync_batch,
                    bytes: self.config.raw.max_sync_response_bytes,
                };
                let served = self.served_tx.clone();
                tokio::task::spawn_blocking(move || {
                    let response = serve(blocks.as_ref(), request, limits);
                    let _ = served.send((number, response));
                });
            }
            request_response::Event::Message {
                message:
                    request_response::Message::Response {
                        request_id,
                        response,
                    },
                ..
            } => {
                if let Some((_, reply)) = self.pending.remove(&request_id) {
                    let _ = reply.send(Ok(response));
                }
            }
            request_response::Event::OutboundFailure {
                peer,
                request_id,
                error,
                ..
            } => {
                if let Some((_, reply)) = self.pending.remove(&request_id) {
                    let _ = reply.send(Err(NetworkError::Sync {
                        peer,
                        reason: error.to_string(),
                    }));
                }
            }
            request_response::Event::InboundFailure { peer, error, .. } => {
                tracing::debug!(%peer, %error, "inbound sync request failed");
            }
            request_response::Event::ResponseSent { .. } => {}
        }
    }

    /// Sends an answer prepared off the loop.
    fn respond(&mut self, number: u64, response: SyncResponse) {
        let Some((peer, channel)) = self.serving.remove(&number) else {
            return;
        };
        self.sync_budget.done(peer);
        if self
            .swarm
            .behaviour_mut()
            .sync
            .send_response(channel, response)
            .is_err()
        {
            tracing::debug!(%peer, "sync peer left before the response");
        }
    }
}

/// What one sync answer may hold.
#[derive(Debug, Clone, Copy)]
struct ServeLimits {
    batch: u64,
    bytes: usize,
}

/// The answer to a sync request, read from `blocks`.
fn serve(blocks: &dyn BlockSource, request: SyncRequest, limits: ServeLimits) -> SyncResponse {
    match request {
        SyncRequest::Status => SyncResponse::Status {
            height: blocks.last_height(),
        },
        SyncRequest::Blocks { from, count } => {
            let count = count.min(limits.batch);
            let budget = limits.bytes.saturating_sub(1 << 10);
            let mut used = 0usize;
            let mut out = Vec::new();
            for height in from..from.saturating_add(count) {
                let Some(block) = blocks.finalized(height) else {
                    break;
                };
                used += codec::encoded_len(&block);
                if used > budget && !out.is_empty() {
                    break;
                }
                out.push(block);
            }
            SyncResponse::Blocks(out)
        }
        SyncRequest::Block { height, hash } => {
            let block = blocks.proposed(&hash).map(|b| (*b).clone()).or_else(|| {
                let finalized = blocks.finalized(height)?;
                (finalized.block.hash() == hash && finalized.block.first_erased().is_none())
                    .then_some(finalized.block)
            });
            SyncResponse::Block(block.map(Box::new))
        }
    }
}
