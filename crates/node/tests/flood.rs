//! A real node (one validator, in process, RocksDB, loopback) flooded at once with
//! gossip from an admitted peer and with API calls: its timers still fire, so it
//! keeps producing blocks. (The node task used to prefer network input over its
//! timers: under steady gossip the block timer was never polled.)
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mpms_consensus::FinalizedBlock;
use mpms_crypto::keystore::KdfParams;
use mpms_crypto::{DecryptionKey, SigningKey};
use mpms_ledger::{codec, Payload, Transaction};
use mpms_network::sync::BlockSource;
use mpms_network::{GossipValidator, NetworkConfig, Topic, Verdict};
use mpms_node::home::Home;
use mpms_node::launch::{launch, shutdown_signal};
use mpms_node::testnet::{generate, TestnetOptions};

struct AcceptAll;

impl GossipValidator for AcceptAll {
    fn validate(&self, _: Topic, _: &[u8]) -> Verdict {
        Verdict::Accept
    }
}

struct NoBlocks;

impl BlockSource for NoBlocks {
    fn last_height(&self) -> u64 {
        0
    }
    fn finalized(&self, _: u64) -> Option<FinalizedBlock> {
        None
    }
}

/// Sends one HTTP/1.1 request and reads the answer to the end.
fn http(addr: &str, method: &str, path: &str, body: &[u8]) {
    let Ok(mut stream) = TcpStream::connect(addr) else {
        return;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(body);
    let mut sink = Vec::new();
    let _ = stream.read_to_end(&mut sink);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timers_fire_while_gossip_and_api_flood_the_node() {
    let dir = tempfile::tempdir().unwrap();
    let chain_id = "mpms-flood-test";
    let nodes = generate(
        dir.path(),
        &TestnetOptions {
            validators: 1,
            full_nodes: 0,
            chain_id: chain_id.into(),
            base_port: 0,
            kdf: KdfParams::INSECURE_FAST,
            genesis_time_ms: mpms_node::runtime::now_ms(),
            heartbeat_ms: 300,
        },
    )
    .unwrap();
    // The flooding peer is admitted by the node's operator.
    let driver_key = mpms_network::identity::generate();
    let driver_id = driver_key.public().to_peer_id();
    let home = Home::new(&nodes[0].home);
    let mut config = home.load_config().unwrap().raw;
    config.network.listen = vec!["/ip4/127.0.0.1/tcp/0".into()];
    config.network.allowed_peers = vec![driver_id.to_string()];
    config.api.listen = "127.0.0.1:0".into();
    config.api.admin_listen = String::new();
    std::fs::write(home.config_path(), config.to_toml()).unwrap();
    let (stop, stopped) = shutdown_signal();
    let node = launch(&home, stopped).await.unwrap();
    let api = node.api.to_string();
    let handle = node.node.handle.clone();

    // Transactions signed in advance: one sender, nonces far ahead, so each passes
    // the gossip check (signature, chain) and reaches the node task, which refuses it.
    let sender = SigningKey::from_seed(&[9; 32]);
    let encryption_key = DecryptionKey::derive(b"flood").encryption_key();
    let txs: Vec<Vec<u8>> = (0..30_000u64)
        .map(|i| {
            codec::encode(
                &Transaction {
                    chain_id: chain_id.into(),
                    sender: sender.public_key(),
                    nonce: 1_000 + i,
                    payload: Payload::RegisterSubject {
                        encryption_key,
                        work: 0,
                    },
                }
                .sign(&sender),
            )
        })
        .collect();

    let driver_config = NetworkConfig {
        permissioned: false,
        discovery: false,
        boot_nodes: vec![node.node.listen[0].to_string()],
        ..NetworkConfig::local()
    };
    let (driver, _events) = mpms_network::start(
        driver_key,
        &driver_config,
        chain_id,
        Arc::new(AcceptAll),
        Arc::new(NoBlocks),
    )
    .await
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while driver.peers().await.unwrap().is_empty() {
        assert!(Instant::now() < deadline, "the driver did not connect");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Let the gossip mesh form.
    tokio::time::sleep(Duration::from_secs(2)).await;

    let flooding = Arc::new(AtomicBool::new(true));
    let published = Arc::new(AtomicU64::new(0));
    let gossip = {
        let (flooding, published, driver) = (flooding.clone(), published.clone(), driver.clone());
        tokio::spawn(async move {
            for tx in txs.iter().cycle() {
                if !flooding.load(Ordering::Relaxed) {
                    break;
                }
                // Repeats of the cycle are duplicates to gossip; the first pass is new.
                if driver
                    .publish(Topic::Transactions, tx.clone())
                    .await
                    .is_ok()
                {
                    published.fetch_add(1, Ordering::Relaxed);
                }
            }
        })
    };
    let mut callers = Vec::new();
    for i in 0..3 {
        let (flooding, api) = (flooding.clone(), api.clone());
        callers.push(tokio::task::spawn_blocking(move || {
            let garbage = vec![0xa5u8; 512];
            while flooding.load(Ordering::Relaxed) {
                if i == 0 {
                    http(&api, "GET", "/v1/status", b"");
                } else {
                    http(&api, "POST", "/v1/transactions", &garbage);
                }
            }
        }));
    }

    let before = handle.status().height;
    let accepted_before =
        handle.network().metrics().snapshot().accepted[Topic::Transactions.index()];
    tokio::time::sleep(Duration::from_secs(8)).await;
    let after = handle.status().height;
    let accepted = handle.network().metrics().snapshot().accepted[Topic::Transactions.index()]
        - accepted_before;
    flooding.store(false, Ordering::Relaxed);
    gossip.await.unwrap();
    for caller in callers {
        caller.await.unwrap();
    }
    println!(
        "8 s of flood: {} gossip messages published, {accepted} accepted by the node; heights {before} -> {after}",
        published.load(Ordering::Relaxed)
    );
    assert!(
        accepted >= 2_000,
        "the flood did not reach the node ({accepted})"
    );
    // A block every 300 ms heartbeat when idle: ask for a fraction of that.
    assert!(
        after >= before + 4,
        "the node stopped producing blocks under load: heights {before} -> {after}"
    );
    driver.shutdown().await;
    stop.send(true).unwrap();
    node.stopped().await;
}
