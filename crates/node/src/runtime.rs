//! The running node: one task owns the [`NodeCore`] and carries out its actions on
//! the network and the clock; the API talks to it through a [`NodeHandle`].
//!
//! The node task runs on a thread of its own (`mpms-core`, with a single-threaded
//! runtime): block execution, commits with their fsync, and every store read the
//! core makes happen there, never on the workers that serve the API and the network.
//! It takes its inputs (gossip, API commands, timers, ticks, sync) in random order
//! among those ready, so none can starve the others. Catch-up runs as its own task,
//! asking all peers at once; it hands each batch of blocks to the node task to check
//! and commit.
//!
//! Shutdown is passed in as a future. When it resolves the task stops taking work;
//! a block being committed is always finished first (commits happen inside the task,
//! in one synced RocksDB write), then the network stops and the store is closed.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use mpms_consensus::{ConsensusMessage, FinalizedBlock, Timeout};
use mpms_crypto::Hash;
use mpms_ledger::execute::{admitted_peers, read_meta};
use mpms_ledger::records::{keys, Account};
use mpms_ledger::{codec, AccountId, Genesis, SignedTransaction};
use mpms_network::sync::{
    fetch_block, sync_to, Applied, BlockSink, BlockSource, StoreSource, SyncOptions, SyncReport,
};
use mpms_network::validate::Limits;
use mpms_network::{ChainValidator, NetworkEvent, NetworkHandle, PeerId, Topic};
use mpms_store::Store;
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tracing::Instrument;

use crate::metrics::NodeMetrics;
use mpms_core::{Action, AdmitError, Committed, CoreConfig, CoreError, NodeCore, ValidatorKeys};

/// The wall clock in Unix milliseconds.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The node and its view of the chain, as `GET /v1/status` shows it.
pub use mpms_api::Status;

enum Command {
    Submit(
        Box<SignedTransaction>,
        oneshot::Sender<Result<Hash, AdmitError>>,
    ),
    SubmitMany(
        Vec<SignedTransaction>,
        oneshot::Sender<Vec<Result<Hash, AdmitError>>>,
    ),
    Pending(Hash, oneshot::Sender<bool>),
    NextNonce(AccountId, oneshot::Sender<Option<u64>>),
}

enum Internal {
    Timer(Timeout),
    Wake,
    /// A whole block fetched from a peer (checked against the hash asked for).
    Fetched(Box<mpms_ledger::Block>),
}

/// What the catch-up task asks of the node task.
enum SyncWork {
    /// The last committed height.
    Height(oneshot::Sender<u64>),
    /// Check and commit these blocks, in order.
    Apply(Vec<FinalizedBlock>, oneshot::Sender<Applied>),
    /// Which of these stored blocks lack values the chain did not erase.
    Unexplained(Vec<u64>, oneshot::Sender<Vec<u64>>),
    /// The catch-up ended.
    Finished(Result<SyncReport, String>),
}

/// One input of the node task.
enum Work {
    Network(NetworkEvent),
    Command(Command),
    Internal(Internal),
    Sync(SyncWork),
    Tick,
}

/// The node, seen from the API: submit transactions, read the store, follow commits.
#[derive(Clone)]
pub struct NodeHandle {
    commands: mpsc::Sender<Command>,
    /// Room, in bytes, for submissions waiting for the core.
    submitted_bytes: Arc<tokio::sync::Semaphore>,
    store: Arc<dyn Store>,
    genesis: Arc<Genesis>,
    chain_id: String,
    status: watch::Receiver<Status>,
    commits: broadcast::Sender<Arc<Committed>>,
    metrics: Arc<NodeMetrics>,
    network: NetworkHandle,
    status_lists: Arc<crate::status_lists::StatusListPublisher>,
}

/// Why a submission failed.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    /// The transaction was refused.
    #[error(transparent)]
    Refused(#[from] AdmitError),
    /// The node is shutting down.
    #[error("the node is shutting down")]
    Stopped,
    /// Submissions waiting for the core already hold their bound in bytes.
    #[error("the node is busy: submissions waiting for it hold {0} bytes; try again shortly")]
    Busy(usize),
}

/// Transactions one batch submission may carry.
pub const MAX_BATCH: usize = 1_000;

/// Bytes of submitted transactions that may wait for the core at once (each counted
/// from submission until the core answers): the API's queue to the core is bounded by
/// bytes, not only by count.
pub const MAX_SUBMITTED_BYTES: usize = 64 << 20;

impl NodeHandle {
    /// Submits a transaction: checked, admitted to the mempool and gossiped, or refused
    /// with the reason.
    pub async fn submit(&self, tx: SignedTransaction) -> Result<Hash, SubmitError> {
        // The signatures are checked here, on the caller's worker, in parallel with
        // other requests; the core then finds them verified.
        verify_ahead(self.store.as_ref(), &tx);
        let bytes = u32::try_from(codec::encoded_len(&tx)).unwrap_or(u32::MAX);
        let _held = self
            .submitted_bytes
            .clone()
            .try_acquire_many_owned(bytes)
            .map_err(|_| SubmitError::Busy(MAX_SUBMITTED_BYTES))?;
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(Command::Submit(Box::new(tx), reply))
            .await
            .map_err(|_| SubmitError::Stopped)?;
        answer
            .await
            .map_err(|_| SubmitError::Stopped)?
            .map_err(Into::into)
    }

    /// Submits several transactions at once (at most [`MAX_BATCH`]): their
    /// signatures are checked on a blocking thread, then the core admits or refuses
    /// each, in order, and tries one block after all of them. The outer error is for
    /// the whole batch (nothing was submitted); the inner results are each
    /// transaction's.
    pub async fn submit_many(
        &self,
        txs: Vec<SignedTransaction>,
    ) -> Result<Vec<Result<Hash, AdmitError>>, SubmitError> {
        let bytes: usize = txs.iter().map(codec::encoded_len).sum();
        let bytes = u32::try_from(bytes).unwrap_or(u32::MAX);
        let _held = self
            .submitted_bytes
            .clone()
            .try_acquire_many_owned(bytes)
            .map_err(|_| SubmitError::Busy(MAX_SUBMITTED_BYTES))?;
        // Checked together (one batch verification) off the async workers; the core
        // then finds the signatures verified.
        let store = Arc::clone(&self.store);
        let txs = tokio::task::spawn_blocking(move || {
            verify_many_ahead(store.as_ref(), &txs);
            txs
        })
        .await
        .map_err(|_| SubmitError::Stopped)?;
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(Command::SubmitMany(txs, reply))
            .await
            .map_err(|_| SubmitError::Stopped)?;
        answer.await.map_err(|_| SubmitError::Stopped)
    }

    /// Whether `hash` waits in the mempool.
    pub async fn is_pending(&self, hash: Hash) -> bool {
        let (reply, answer) = oneshot::channel();
        if self
            .commands
            .send(Command::Pending(hash, reply))
            .await
            .is_err()
        {
            return false;
        }
        answer.await.unwrap_or(false)
    }

    /// The next nonce of `sender` counting its pending transactions, if it has any.
    pub async fn pending_next_nonce(&self, sender: AccountId) -> Option<u64> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(Command::NextNonce(sender, reply))
            .await
            .ok()?;
        answer.await.ok().flatten()
    }

    /// The store (read-only use).
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The publisher of the certifiers' W3C status lists.
    pub fn status_lists(&self) -> &crate::status_lists::StatusListPublisher {
        &self.status_lists
    }

    /// The chain id.
    pub fn chain_id(&self) -> &str {
        &self.chain_id
    }

    /// The latest status.
    pub fn status(&self) -> Status {
        self.status.borrow().clone()
    }

    /// Follows committed blocks.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Committed>> {
        self.commits.subscribe()
    }

    /// The node's metrics.
    pub fn metrics(&self) -> &Arc<NodeMetrics> {
        &self.metrics
    }

    /// The chain's genesis.
    pub fn genesis(&self) -> &Genesis {
        &self.genesis
    }

    /// The network.
    pub fn network(&self) -> &NetworkHandle {
        &self.network
    }
}

/// Everything a node needs to run.
pub struct NodeParts {
    /// The node's name.
    pub moniker: String,
    /// The chain's genesis (served in proof bundles as their trust anchor).
    pub genesis: Arc<Genesis>,
    /// The opened store, holding at least genesis.
    pub store: Arc<dyn Store>,
    /// The validator's keys, for a validator.
    pub validator: Option<ValidatorKeys>,
    /// Core settings.
    pub core: CoreConfig,
    /// The network's settings.
    pub network: mpms_network::NetworkConfig,
    /// The peer-to-peer key.
    pub node_key: [u8; 32],
    /// Consensus keys to switch to when governance rotates this validator's key.
    pub spare_keys: Vec<mpms_crypto::SigningKey>,
    /// Where a validator keeps its safety record; `None`: in the store.
    pub safety: Option<Arc<dyn mpms_core::SafetyStore>>,
}

/// Why the node could not start or stopped abnormally.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The core could not start.
    #[error(transparent)]
    Core(#[from] CoreError),
    /// The network could not start.
    #[error("network: {0}")]
    Network(#[from] mpms_network::NetworkError),
    /// The node key is invalid.
    #[error("node key: {0}")]
    NodeKey(String),
    /// The node task's thread could not start.
    #[error("cannot start the node task: {0}")]
    Thread(String),
}

/// A started node: its handle, and the task to await.
pub struct Running {
    /// The handle for the API.
    pub handle: NodeHandle,
    /// Where the network listens.
    pub listen: Vec<mpms_network::Multiaddr>,
    /// The node task; resolves after shutdown.
    pub task: tokio::task::JoinHandle<()>,
}

/// Starts the network and the node task. `shutdown` resolving stops it.
pub async fn start(
    parts: NodeParts,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<Running, NodeError> {
    let NodeParts {
        moniker,
        genesis,
        store,
        validator,
        core,
        network: network_config,
        node_key,
        spare_keys,
        safety,
    } = parts;
    let safety = safety.unwrap_or_else(|| Arc::new(mpms_core::InStore(store.clone())) as Arc<_>);
    let mut core = NodeCore::with_safety_store(store.clone(), safety, validator, core)?;
    core.add_spare_keys(spare_keys);
    let chain_id = core.chain_id().to_string();
    let meta = read_meta(store.as_ref()).map_err(|e| CoreError::State(e.to_string()))?;
    let last = core.last_header().clone();
    let lookup_store = store.clone();
    let ahead_store = store.clone();
    let validator = Arc::new(
        ChainValidator::new(
            chain_id.clone(),
            Limits::from_params(&meta.params),
            meta.authority_set.clone(),
            last.height + 1,
        )
        .with_signing_keys(Arc::new(move |id: &AccountId| {
            signing_key(lookup_store.as_ref(), id)
        }))
        .with_accepted_transaction_hook(Arc::new(move |tx: &SignedTransaction| {
            verify_ahead(ahead_store.as_ref(), tx)
        })),
    );
    let key = mpms_network::identity::keypair_from_secret(node_key)
        .map_err(|e| NodeError::NodeKey(e.to_string()))?;
    let (network, events) = mpms_network::start(
        key,
        &network_config,
        &chain_id,
        validator.clone(),
        Arc::new(NodeBlocks {
            store: StoreSource(store.clone()),
            proposed: core.proposed_blocks(),
        }),
    )
    .await?;
    let listen = network.listen_addrs().await?;
    admit_from_chain(&network, store.as_ref(), last.height + 1).await;
    let (commands_tx, commands) = mpsc::channel(1024);
    let (status_tx, status) = watch::channel(Status {
        moniker: moniker.clone(),
        chain_id: chain_id.clone(),
        peer_id: network.peer_id().to_string(),
        ..Status::default()
    });
    let (commits, _) = broadcast::channel(256);
    let metrics = Arc::new(NodeMetrics::new(network.metrics().clone()));
    let handle = NodeHandle {
        status_lists: Arc::new(crate::status_lists::StatusListPublisher::new(&node_key)),
        commands: commands_tx,
        submitted_bytes: Arc::new(tokio::sync::Semaphore::new(MAX_SUBMITTED_BYTES)),
        store: store.clone(),
        genesis,
        chain_id: chain_id.clone(),
        status,
        commits: commits.clone(),
        metrics: metrics.clone(),
        network: network.clone(),
    };
    let (internal_tx, internal) = mpsc::unbounded_channel();
    let (sync_tx, sync_work) = mpsc::channel(16);
    let task = NodeTask {
        core,
        network,
        validator,
        events,
        commands,
        internal,
        internal_tx,
        sync_work,
        sync_tx,
        runtime: tokio::runtime::Handle::current(),
        status: status_tx,
        commits,
        metrics,
        sync_options: SyncOptions {
            batch: network_config.sync_batch,
            peer_timeout: Duration::from_millis(network_config.sync_timeout_ms),
        },
        limits: Limits::from_params(&meta.params),
        refused_at: None,
        refusal_logged_at: None,
        catch_up_since: None,
        syncing: false,
        fetches: 0,
        fetching: Arc::new(AtomicUsize::new(0)),
        submitted: Arc::new(Mutex::new(HashMap::new())),
    };
    // The shutdown future belongs to the caller's runtime: watch it there.
    let (stop_tx, stop) = oneshot::channel::<()>();
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(());
    });
    let (done_tx, done) = oneshot::channel::<()>();
    let core_runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| NodeError::Thread(e.to_string()))?;
    std::thread::Builder::new()
        .name("mpms-core".into())
        .spawn(move || {
            core_runtime.block_on(task.run(stop));
            let _ = done_tx.send(());
        })
        .map_err(|e| NodeError::Thread(e.to_string()))?;
    let task = tokio::spawn(async move {
        let _ = done.await;
    });
    Ok(Running {
        handle,
        listen,
        task,
    })
}

/// Checks every signature of `tx` against committed state, on the calling thread
/// (an API worker, a gossip validation thread), so that the core, which runs on one
/// thread, finds them already verified when it admits `tx`. The verdict is the
/// core's to give: a failure here only means the core checks again and refuses.
pub(crate) fn verify_ahead(store: &dyn Store, tx: &SignedTransaction) {
    verify_many_ahead(store, std::slice::from_ref(tx));
}

/// [`verify_ahead`] for several transactions at once.
fn verify_many_ahead(store: &dyn Store, txs: &[SignedTransaction]) {
    let Ok(Some(last)) = store.last_header() else {
        return;
    };
    let ctx = mpms_ledger::BlockContext {
        height: last.height + 1,
        time_ms: last.time_ms + 1,
        proposer: last.proposer,
        parent: last.hash(),
    };
    // In batches of 64 (a batch check is about twice as fast per signature); a
    // batch with a bad signature is checked one transaction at a time, so that the
    // others are still found verified, at the cost of one check each.
    for chunk in txs.chunks(64) {
        if mpms_ledger::execute::verify_signatures(store, &ctx, chunk).is_err() && chunk.len() > 1 {
            for tx in chunk {
                let _ =
                    mpms_ledger::execute::verify_signatures(store, &ctx, std::slice::from_ref(tx));
            }
        }
    }
}

/// The key `id` signs transactions with now.
fn signing_key(store: &dyn Store, id: &AccountId) -> mpms_crypto::PublicKey {
    let height = store.last_height().ok().flatten().unwrap_or(0) + 1;
    store
        .get(&keys::account(id))
        .ok()
        .flatten()
        .and_then(|b| codec::decode::<Account>(&b).ok())
        .map_or(*id, |a| a.signing_key_at(id, height))
}

async fn admit_from_chain(network: &NetworkHandle, store: &dyn Store, height: u64) {
    let Ok(peers) = admitted_peers(store, height) else {
        return;
    };
    let ids: Vec<PeerId> = peers.iter().filter_map(|p| p.parse().ok()).collect();
    let _ = network.admit(ids).await;
}

struct NodeTask {
    core: NodeCore,
    network: NetworkHandle,
    validator: Arc<ChainValidator>,
    events: mpms_network::EventReceiver,
    commands: mpsc::Receiver<Command>,
    internal: mpsc::UnboundedReceiver<Internal>,
    internal_tx: mpsc::UnboundedSender<Internal>,
    sync_work: mpsc::Receiver<SyncWork>,
    sync_tx: mpsc::Sender<SyncWork>,
    /// The runtime the network and the API run on: catch-up runs there.
    runtime: tokio::runtime::Handle,
    status: watch::Sender<Status>,
    commits: broadcast::Sender<Arc<Committed>>,
    metrics: Arc<NodeMetrics>,
    sync_options: SyncOptions,
    /// The gossip size limits in force.
    limits: Limits,
    /// When a peer last refused this node's connection.
    refused_at: Option<Instant>,
    /// When that was last logged (once a minute at most).
    refusal_logged_at: Option<Instant>,
    /// When a catch-up was first asked for, and the height then.
    catch_up_since: Option<(Instant, u64)>,
    syncing: bool,
    /// Block fetches started (each starts at another peer).
    fetches: usize,
    /// Block fetches under way.
    fetching: Arc<AtomicUsize>,
    /// Submission times of transactions submitted here, for the confirmation latency.
    submitted: Arc<Mutex<HashMap<Hash, Instant>>>,
}

/// A refusal by a peer counts towards "not admitted" for this long.
const REFUSAL_MEMORY: Duration = Duration::from_secs(60);

/// "Not admitted" is logged at most once in this long.
const REFUSAL_LOG_EVERY: Duration = Duration::from_secs(60);

/// Most block fetches under way at once.
const MAX_FETCHES: usize = 4;

/// A catch-up starts when the node has not moved for this long after being asked.
const CATCH_UP_DELAY: Duration = Duration::from_millis(1_500);

impl NodeTask {
    async fn run(mut self, mut stop: oneshot::Receiver<()>) {
        // Catch up first with whoever answers, then take part.
        if !self.initial_sync(&mut stop).await {
            tracing::info!("shutting down");
            self.network.shutdown().await;
            return;
        }
        let actions = self.core.start(now_ms());
        self.perform(actions).await;
        self.publish_status();
        let mut tick = tokio::time::interval(Duration::from_millis(500));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            // No priorities: among the inputs that are ready one is taken at random,
            // so a flood of one kind (gossip, API calls) cannot starve the timers.
            let work = tokio::select! {
                _ = &mut stop => break,
                Some(event) = self.events.recv() => Work::Network(event),
                Some(command) = self.commands.recv() => Work::Command(command),
                Some(internal) = self.internal.recv() => Work::Internal(internal),
                Some(sync) = self.sync_work.recv() => Work::Sync(sync),
                _ = tick.tick() => Work::Tick,
            };
            // Everything done for one input is logged inside the span of the height
            // and round it happened at.
            let (height, round, _) = self.core.round_state();
            let node = self.status.borrow().moniker.clone();
            let span = tracing::info_span!("consensus", %node, height, round);
            self.handle(work).instrument(span).await;
            self.publish_status();
            // Gossip for rounds far ahead of this one is not forwarded.
            let (height, round, _) = self.core.round_state();
            self.validator.enter_round(height, round);
        }
        tracing::info!(height = self.core.last_header().height, "shutting down");
        self.network.shutdown().await;
    }

    async fn handle(&mut self, work: Work) {
        match work {
            Work::Network(event) => self.on_network(event).await,
            Work::Command(command) => self.on_command(command).await,
            Work::Internal(internal) => {
                let now = now_ms();
                let actions = match internal {
                    Internal::Timer(t) => self.core.on_timeout(t, now),
                    Internal::Wake => self.core.on_wake(now),
                    Internal::Fetched(block) => self.core.on_fetched_block(*block, now),
                };
                self.perform(actions).await;
            }
            Work::Sync(work) => self.on_sync(work).await,
            Work::Tick => self.on_tick().await,
        }
    }

    /// Before taking part: gives boot nodes a moment to connect, then catches up with
    /// whoever answers (serving the catch-up task meanwhile). False if the node was
    /// told to stop meanwhile.
    async fn initial_sync(&mut self, stop: &mut oneshot::Receiver<()>) -> bool {
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            if !self.network.peers().await.unwrap_or_default().is_empty() {
                break;
            }
            tokio::select! {
                _ = &mut *stop => return false,
                _ = tokio::time::sleep(Duration::from_millis(100)) => {}
            }
        }
        self.start_sync();
        while self.syncing {
            let work = tokio::select! {
                _ = &mut *stop => return false,
                Some(sync) = self.sync_work.recv() => Some(sync),
                // Gossip meanwhile is about heights this node does not decide yet:
                // taken off the queue (so it never fills), connections kept track of.
                Some(event) = self.events.recv() => {
                    if !matches!(event, NetworkEvent::Message { .. }) {
                        self.on_network(event).await;
                    }
                    None
                }
            };
            if let Some(work) = work {
                self.on_sync(work).await;
            }
        }
        true
    }

    /// Starts the catch-up task, unless one runs.
    fn start_sync(&mut self) {
        if self.syncing {
            return;
        }
        self.syncing = true;
        self.publish_status();
        let network = self.network.clone();
        let options = self.sync_options;
        let mut link = CoreLink {
            work: self.sync_tx.clone(),
        };
        self.runtime.spawn(async move {
            let result = sync_to(&network, &mut link, options)
                .await
                .map_err(|e| e.to_string());
            let _ = link.work.send(SyncWork::Finished(result)).await;
        });
    }

    async fn on_sync(&mut self, work: SyncWork) {
        match work {
            SyncWork::Height(reply) => {
                let _ = reply.send(self.core.last_header().height);
            }
            SyncWork::Apply(blocks, reply) => {
                let mut applied = Applied::default();
                let mut actions = Vec::new();
                for finalized in blocks {
                    // Committed meanwhile from gossip: nothing to do.
                    if finalized.block.header.height <= self.core.last_header().height {
                        applied.count += 1;
                        continue;
                    }
                    match self.core.commit_finalized(finalized) {
                        Ok(more) => {
                            actions.extend(more);
                            applied.count += 1;
                        }
                        Err(reason) => {
                            applied.refused = Some(reason);
                            break;
                        }
                    }
                }
                let _ = reply.send(applied);
                self.perform(actions).await;
            }
            SyncWork::Unexplained(heights, reply) => {
                let _ = reply.send(self.core.unexplained_incomplete(&heights));
            }
            SyncWork::Finished(result) => {
                match result {
                    Ok(report) if report.applied > 0 => {
                        tracing::info!(
                            height = report.height,
                            blocks = report.applied,
                            "caught up"
                        );
                    }
                    Ok(_) => {}
                    Err(e) => tracing::debug!(error = %e, "sync stopped"),
                }
                self.syncing = false;
                self.catch_up_since = None;
                let actions = self.core.resume(now_ms());
                self.perform(actions).await;
            }
        }
    }

    async fn on_network(&mut self, event: NetworkEvent) {
        let now = now_ms();
        match event {
            NetworkEvent::Message { topic, data, .. } => {
                // The gossip validator accepted the bytes: they decode.
                let actions = match topic {
                    Topic::Consensus => match codec::decode::<ConsensusMessage>(&data) {
                        Ok(m) => self.core.on_consensus(m, now),
                        Err(_) => Vec::new(),
                    },
                    Topic::Transactions => match codec::decode::<SignedTransaction>(&data) {
                        Ok(tx) => self.core.on_gossip_transaction(tx, now),
                        Err(_) => Vec::new(),
                    },
                    Topic::Blocks => match codec::decode::<FinalizedBlock>(&data) {
                        Ok(f) => self.core.on_finalized(f, now),
                        Err(_) => Vec::new(),
                    },
                };
                self.perform(actions).await;
            }
            // A first peer after none (just admitted, or back from a partition): the
            // chain may have moved on meanwhile, so catch up at the next tick rather
            // than wait for a message from a later height.
            NetworkEvent::PeerConnected(_) => {
                if self.network.metrics().snapshot().peers <= 1 && self.catch_up_since.is_none() {
                    let due = Instant::now()
                        .checked_sub(CATCH_UP_DELAY)
                        .unwrap_or_else(Instant::now);
                    self.catch_up_since = Some((due, self.core.last_header().height));
                }
            }
            // Counted by the network itself (see `publish_status`).
            NetworkEvent::PeerDisconnected(_) => {}
            NetworkEvent::RefusedBy(peer) => {
                self.refused_at = Some(Instant::now());
                let due = self
                    .refusal_logged_at
                    .is_none_or(|at| at.elapsed() >= REFUSAL_LOG_EVERY);
                if due && self.network.metrics().snapshot().peers == 0 {
                    self.refusal_logged_at = Some(Instant::now());
                    tracing::warn!(
                        %peer,
                        peer_id = %self.network.peer_id(),
                        "not admitted by the chain's node registry: peer {peer} refused this node. Ask the consortium to run `mpmsd tx propose admit-node --request join-request.json` with this node's join request (mpmsd join-request), or to list peer id {} in network.allowed_peers",
                        self.network.peer_id()
                    );
                }
            }
        }
    }

    async fn on_command(&mut self, command: Command) {
        match command {
            Command::Submit(tx, reply) => {
                let hash = tx.hash();
                match self.core.submit(*tx, now_ms()) {
                    Ok((hash, actions)) => {
                        self.submitted
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .insert(hash, Instant::now());
                        let _ = reply.send(Ok(hash));
                        self.perform(actions).await;
                    }
                    Err(e) => {
                        tracing::debug!(%hash, error = %e, "transaction refused");
                        let _ = reply.send(Err(e));
                    }
                }
            }
            Command::SubmitMany(txs, reply) => {
                let (results, actions) = self.core.submit_many(txs, now_ms());
                {
                    let now = Instant::now();
                    let mut submitted = self.submitted.lock().unwrap_or_else(|e| e.into_inner());
                    for hash in results.iter().flatten() {
                        submitted.insert(*hash, now);
                    }
                }
                let _ = reply.send(results);
                self.perform(actions).await;
            }
            Command::Pending(hash, reply) => {
                let _ = reply.send(self.core.mempool().contains(&hash));
            }
            Command::NextNonce(sender, reply) => {
                let _ = reply.send(self.core.mempool().next_nonce(&sender));
            }
        }
    }

    async fn on_tick(&mut self) {
        if let Some((since, height)) = self.catch_up_since {
            if self.core.last_header().height > height {
                self.catch_up_since = None;
            } else if since.elapsed() >= CATCH_UP_DELAY {
                self.start_sync();
            }
        }
        let actions = self.core.on_tick(now_ms());
        self.perform(actions).await;
        let (_, round, _) = self.core.round_state();
        self.metrics.round.set(i64::from(round));
    }

    async fn perform(&mut self, actions: Vec<Action>) {
        for action in actions {
            match action {
                Action::Consensus(m) => self.publish(Topic::Consensus, codec::encode(&m)).await,
                Action::Transaction(tx) => {
                    self.publish(Topic::Transactions, codec::encode(tx.as_ref()))
                        .await;
                }
                Action::Finalized(f) => {
                    self.publish(Topic::Blocks, codec::encode(f.as_ref())).await
                }
                Action::Timer(t, after) => {
                    let tx = self.internal_tx.clone();
                    tokio::spawn(async move {
                        tokio::time::sleep(after).await;
                        let _ = tx.send(Internal::Timer(t));
                    });
                }
                Action::WakeAt(at_ms) => {
                    let tx = self.internal_tx.clone();
                    let after = Duration::from_millis(at_ms.saturating_sub(now_ms()));
                    tokio::spawn(async move {
                        tokio::time::sleep(after).await;
                        let _ = tx.send(Internal::Wake);
                    });
                }
                Action::Committed(c) => self.on_committed(c).await,
                Action::CatchUp => {
                    if self.catch_up_since.is_none() {
                        self.catch_up_since =
                            Some((Instant::now(), self.core.last_header().height));
                    }
                }
                Action::FetchBlock { height, block } => {
                    // A few at a time (each may bring a block of megabytes to the
                    // core's queue): the core asks again for what is still missing.
                    let in_flight = self.fetching.clone();
                    if in_flight.fetch_add(1, Ordering::AcqRel) >= MAX_FETCHES {
                        in_flight.fetch_sub(1, Ordering::AcqRel);
                        continue;
                    }
                    let network = self.network.clone();
                    let tx = self.internal_tx.clone();
                    let timeout = self.sync_options.peer_timeout;
                    // Start at a different peer each time, so one that never has
                    // it is not always asked first.
                    self.fetches = self.fetches.wrapping_add(1);
                    let start = self.fetches;
                    self.runtime.spawn(async move {
                        let fetched = fetch_block(&network, height, block, start, timeout).await;
                        in_flight.fetch_sub(1, Ordering::AcqRel);
                        match fetched {
                            Ok(Some(fetched)) => {
                                let _ = tx.send(Internal::Fetched(Box::new(fetched)));
                            }
                            Ok(None) => tracing::debug!(height, %block, "no peer holds the block"),
                            Err(e) => tracing::debug!(error = %e, "block fetch"),
                        }
                    });
                }
            }
        }
    }

    async fn publish(&self, topic: Topic, data: Vec<u8>) {
        if let Err(e) = self.network.publish(topic, data).await {
            // With no peers yet (a lone node, or a network still starting) gossip has
            // nowhere to go: that is not an error of the node.
            tracing::debug!(?topic, error = %e, "publish");
        }
    }

    async fn on_committed(&mut self, committed: Arc<Committed>) {
        let height = committed.block.header.height;
        // Gossip size limits follow the parameters in force at the next height.
        let limits = read_meta(self.core.store().as_ref())
            .map(|meta| Limits::from_params(&meta.params))
            .unwrap_or(self.limits);
        self.limits = limits;
        self.validator
            .advance(committed.next_authorities.clone(), height + 1, limits);
        admit_from_chain(&self.network, self.core.store().as_ref(), height + 1).await;
        {
            let mut submitted = self.submitted.lock().unwrap_or_else(|e| e.into_inner());
            for receipt in &committed.receipts {
                if let Some(at) = submitted.remove(&receipt.tx_hash) {
                    self.metrics
                        .confirmation_seconds
                        .observe(at.elapsed().as_secs_f64());
                }
            }
            // Transactions that never made it do not stay forever.
            submitted.retain(|_, at| at.elapsed() < Duration::from_secs(3_600));
        }
        self.metrics.record_commit(&committed);
        let _ = self.commits.send(committed);
    }

    fn publish_status(&self) {
        let peers = self.network.metrics().snapshot().peers as usize;
        let last = self.core.last_header();
        let (_, round, _) = self.core.round_state();
        let status = Status {
            height: last.height,
            last_block_hash: last.hash(),
            last_block_time_ms: last.time_ms,
            round,
            peers: peers as u64,
            // Catching up, or about to: peers are known to be ahead.
            syncing: self.syncing || self.catch_up_since.is_some(),
            authority: self.core.is_authority(),
            mempool_transactions: self.core.mempool().len() as u64,
            mempool_bytes: self.core.mempool().bytes() as u64,
            failure: self.core.failure().map(str::to_string),
            consensus_key: self.core.consensus_key(),
            held_consensus_keys: self.core.held_consensus_keys().to_vec(),
            missing_consensus_key: self.core.missing_consensus_key(),
            not_admitted: peers == 0
                && self
                    .refused_at
                    .is_some_and(|at| at.elapsed() < REFUSAL_MEMORY),
            ..self.status.borrow().clone()
        };
        self.metrics.height.set(last.height as i64);
        self.metrics.next_height.set(last.height as i64 + 1);
        self.metrics.peers.set(peers as i64);
        self.metrics
            .mempool_transactions
            .set(status.mempool_transactions as i64);
        self.metrics.mempool_bytes.set(status.mempool_bytes as i64);
        self.metrics
            .event_queue_bytes
            .set(self.events.queued_bytes() as i64);
        self.status.send_replace(status);
    }
}

/// What the node serves peers: finalized blocks from its store, and the whole blocks
/// of the height being decided from its core.
struct NodeBlocks {
    store: StoreSource<dyn Store>,
    proposed: mpms_core::ProposedBlocks,
}

impl BlockSource for NodeBlocks {
    fn last_height(&self) -> u64 {
        self.store.last_height()
    }

    fn finalized(&self, height: u64) -> Option<FinalizedBlock> {
        self.store.finalized(height)
    }

    fn proposed(&self, hash: &Hash) -> Option<Arc<mpms_ledger::Block>> {
        self.proposed.get(hash)
    }
}

/// The catch-up task's view of the node task: each call goes to the node task, which
/// owns the core, and waits for its answer.
struct CoreLink {
    work: mpsc::Sender<SyncWork>,
}

impl BlockSink for CoreLink {
    async fn height(&mut self) -> Option<u64> {
        let (reply, answer) = oneshot::channel();
        self.work.send(SyncWork::Height(reply)).await.ok()?;
        answer.await.ok()
    }

    async fn apply(&mut self, blocks: Vec<FinalizedBlock>) -> Option<Applied> {
        let (reply, answer) = oneshot::channel();
        self.work.send(SyncWork::Apply(blocks, reply)).await.ok()?;
        answer.await.ok()
    }

    async fn unexplained(&mut self, heights: Vec<u64>) -> Vec<u64> {
        let (reply, answer) = oneshot::channel();
        if self
            .work
            .send(SyncWork::Unexplained(heights, reply))
            .await
            .is_err()
        {
            return Vec::new();
        }
        answer.await.unwrap_or_default()
    }
}
