//! Starting a node from its home: open the store (writing genesis on first start),
//! load the keys, start the node task and the API servers.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mpms_store::{commit_genesis, RocksOptions, RocksStore, Store};
use tokio::sync::watch;

use crate::api;
use crate::home::{Home, HomeError};
use crate::runtime::{self, NodeError, NodeParts, Running};
use crate::safety_file::SafetyFile;

/// Why a node could not start.
#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    /// The home is unusable.
    #[error(transparent)]
    Home(#[from] HomeError),
    /// The store could not be opened or is not this chain's.
    #[error("store: {0}")]
    Store(String),
    /// The node could not start.
    #[error(transparent)]
    Node(#[from] NodeError),
    /// The API's TLS certificate or key cannot be used.
    #[error(transparent)]
    Tls(#[from] api::tls::TlsError),
    /// An API address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

/// A started node.
pub struct Launched {
    /// The node.
    pub node: Running,
    /// The public API's address.
    pub api: SocketAddr,
    /// The admin API's address.
    pub admin: Option<SocketAddr>,
    servers: Vec<tokio::task::JoinHandle<std::io::Result<()>>>,
    /// Kept to close the database in order once everything else has let go of it.
    store: Arc<RocksStore>,
}

/// How long a stopped node waits for its threads to let go of the store.
const STORE_RELEASE_WAIT: Duration = Duration::from_secs(10);

impl Launched {
    /// Waits until the node and its API servers have stopped (after shutdown).
    /// The store is closed last, on this call: the process must not exit while
    /// RocksDB's background threads or the transaction index writer still run.
    pub async fn stopped(self) {
        let Launched {
            node,
            servers,
            store,
            ..
        } = self;
        let _ = node.task.await;
        for server in servers {
            let _ = server.await;
        }
        drop(node.handle);
        // Gossip validation threads and blocking reads end on their own once the
        // network and the API have stopped; give them a moment.
        let deadline = Instant::now() + STORE_RELEASE_WAIT;
        while Arc::strong_count(&store) > 1 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        if Arc::strong_count(&store) > 1 {
            tracing::warn!("the store is still in use at shutdown: stopping its background work");
            store.stop_background_work();
            return;
        }
        // Dropping the last handle writes the queued index entries and waits for
        // flushes and compactions in progress.
        let _ = tokio::task::spawn_blocking(move || drop(store)).await;
        tracing::info!("store closed");
    }
}

/// A shutdown signal shared by the node's tasks: send `true` to stop.
pub fn shutdown_signal() -> (watch::Sender<bool>, watch::Receiver<bool>) {
    watch::channel(false)
}

async fn on_shutdown(mut rx: watch::Receiver<bool>) {
    let _ = rx.wait_for(|stop| *stop).await;
}

/// Opens the store under `home`, writing genesis if it is empty; checks that a
/// non-empty store holds this genesis.
pub fn open_store(home: &Home) -> Result<Arc<RocksStore>, LaunchError> {
    let config = home.load_config()?.raw;
    let genesis = home.load_genesis(&config)?;
    let built = genesis
        .build()
        .map_err(|e| LaunchError::Store(format!("genesis: {e}")))?;
    let path = home.resolve(&config.node.data_dir);
    let options = RocksOptions {
        state_history: config.node.state_history_blocks,
        ..RocksOptions::default()
    };
    let store = RocksStore::open(&path, &options)
        .map_err(|e| LaunchError::Store(format!("{}: {e}", path.display())))?;
    match store
        .header(0)
        .map_err(|e| LaunchError::Store(e.to_string()))?
    {
        None => commit_genesis(&store, &built).map_err(|e| LaunchError::Store(e.to_string()))?,
        Some(h) if h.hash() == built.header.hash() => {}
        Some(_) => {
            return Err(LaunchError::Store(format!(
                "{} holds another chain than the genesis file describes",
                path.display()
            )))
        }
    }
    Ok(Arc::new(store))
}

/// Starts the node of `home` and its API servers; they stop when `shutdown` turns
/// `true`.
pub async fn launch(home: &Home, shutdown: watch::Receiver<bool>) -> Result<Launched, LaunchError> {
    let checked = home.load_config()?;
    let config = checked.raw.clone();
    let (validator, spare_keys) = match home.load_validator(&config)? {
        Some((keys, spare)) => (Some(keys), spare),
        None => (None, Vec::new()),
    };
    let node_key = home.load_node_key(&config)?;
    let store = open_store(home)?;
    let genesis = Arc::new(home.load_genesis(&config)?);
    // A validator's safety record lives beside its consensus keys; a home made
    // before that keeps it in the store, which moves it once.
    let safety = match home.safety_record_path(&config) {
        Some(path) => {
            let file = SafetyFile::new(path, genesis.chain_id.clone());
            if file
                .adopt_from_store(store.as_ref())
                .map_err(LaunchError::Store)?
            {
                tracing::info!(path = %file.path().display(), "safety record moved beside the consensus keys");
            }
            file.read().map_err(|e| LaunchError::Store(e.to_string()))?;
            Some(Arc::new(file) as Arc<dyn mpms_core::SafetyStore>)
        }
        None => None,
    };
    let parts = NodeParts {
        moniker: config.node.moniker.clone(),
        genesis,
        store: Arc::clone(&store) as Arc<dyn Store>,
        validator,
        core: config.core(),
        network: config.network.clone(),
        node_key,
        spare_keys,
        safety,
    };
    // Before the node starts: a bad certificate stops the launch with its reason.
    let tls = if config.api.tls_cert.as_os_str().is_empty() {
        None
    } else {
        Some(api::tls::server_config(
            &home.resolve(&config.api.tls_cert),
            &home.resolve(&config.api.tls_key),
        )?)
    };
    let node = runtime::start(parts, on_shutdown(shutdown.clone())).await?;
    let mut servers = Vec::new();
    let (api, task) = api::serve(
        checked.api,
        api::router(
            node.handle.clone(),
            config.api.max_body_bytes,
            config.api.max_submissions_per_sec,
            tls.is_some(),
        ),
        tls,
        on_shutdown(shutdown.clone()),
    )
    .await
    .map_err(|source| LaunchError::Listen {
        addr: checked.api,
        source,
    })?;
    servers.push(task);
    let mut admin = None;
    if let Some(addr) = checked.admin {
        let (bound, task) = api::serve(
            addr,
            api::admin_router(node.handle.clone()),
            None,
            on_shutdown(shutdown.clone()),
        )
        .await
        .map_err(|source| LaunchError::Listen { addr, source })?;
        servers.push(task);
        admin = Some(bound);
    }
    tracing::info!(
        moniker = %config.node.moniker,
        peer_id = %node.handle.network().peer_id(),
        api = %api,
        "node started"
    );
    Ok(Launched {
        node,
        api,
        admin,
        servers,
        store,
    })
}
