//! A validator's safety record lives beside its consensus keys, not with the chain
//! data: an operator who wipes `data/` and restarts does not sign again what the
//! validator signed before (which would be equivocation, and get it slashed). A
//! validator whose record is missing (a home restored from a backup, which leaves it
//! out) signs nothing until the chain finalizes a block newer than its start.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::time::Duration;

use mpms_crypto::keystore::KdfParams;
use mpms_node::home::Home;
use mpms_node::launch::{launch, shutdown_signal};
use mpms_node::testnet::{generate, TestnetOptions};

fn lone_validator(dir: &std::path::Path) -> Home {
    let nodes = generate(
        dir,
        &TestnetOptions {
            validators: 1,
            full_nodes: 0,
            chain_id: "mpms-safety-test".into(),
            base_port: 0,
            kdf: KdfParams::INSECURE_FAST,
            genesis_time_ms: mpms_node::runtime::now_ms(),
            heartbeat_ms: 200,
        },
    )
    .unwrap();
    let home = Home::new(&nodes[0].home);
    let mut config = home.load_config().unwrap().raw;
    config.network.listen = vec!["/ip4/127.0.0.1/tcp/0".into()];
    config.api.listen = "127.0.0.1:0".into();
    config.api.admin_listen = String::new();
    std::fs::write(home.config_path(), config.to_toml()).unwrap();
    home
}

/// Runs the node of `home` for `run`, returns the headers of the blocks it holds.
async fn run(home: &Home, run: Duration) -> Vec<mpms_ledger::Header> {
    let (stop, stopped) = shutdown_signal();
    let node = launch(home, stopped).await.unwrap();
    tokio::time::sleep(run).await;
    let store = node.node.handle.store().clone();
    stop.send(true).unwrap();
    node.stopped().await;
    let last = store.last_height().unwrap().unwrap();
    (0..=last)
        .map(|h| store.header(h).unwrap().unwrap())
        .collect()
}

fn wipe_data(home: &Home) {
    let data = home.resolve(&home.load_config().unwrap().raw.node.data_dir);
    std::fs::remove_dir_all(&data).unwrap();
    std::fs::create_dir_all(&data).unwrap();
}

/// The lone validator signs blocks 1.. ; its data is wiped; restarted, it must not
/// sign those heights again (a second block at a height it already signed is a
/// conflicting proposal and precommit). It has nobody to sync from, so it stays at
/// genesis. (With the record in `data/`, it signed new blocks 1, 2, 3... with other
/// times: every one of them equivocation.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wiping_the_chain_data_does_not_make_a_validator_sign_twice() {
    let dir = tempfile::tempdir().unwrap();
    let home = lone_validator(dir.path());
    // A node waits up to 3 s for peers before it takes part.
    let first = run(&home, Duration::from_secs(6)).await;
    assert!(
        first.len() > 3,
        "blocks before the wipe: {}",
        first.len() - 1
    );
    let config = home.load_config().unwrap().raw;
    assert!(home.safety_record_path(&config).unwrap().exists());
    wipe_data(&home);
    let second = run(&home, Duration::from_secs(6)).await;
    for header in second.iter().skip(1) {
        let before = &first[header.height as usize];
        assert_eq!(
            header.hash(),
            before.hash(),
            "height {} signed again, differently",
            header.height
        );
    }
    assert_eq!(
        second.len(),
        1,
        "nothing signed again: the chain stays at genesis"
    );
}

/// A validator whose safety record is missing (restored from a backup) signs
/// nothing until a block newer than its start is final; alone, it never sees one,
/// so it signs nothing at all. A fresh home's record says "never signed": it
/// produces blocks at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_validator_without_its_record_does_not_sign_until_the_chain_moved_on() {
    let dir = tempfile::tempdir().unwrap();
    let home = lone_validator(dir.path());
    let config = home.load_config().unwrap().raw;
    std::fs::remove_file(home.safety_record_path(&config).unwrap()).unwrap();
    let headers = run(&home, Duration::from_secs(6)).await;
    assert_eq!(headers.len(), 1, "signed {} blocks", headers.len() - 1);
}
