//! Crash safety: a child process commits blocks to RocksDB and is killed with SIGKILL
//! at random moments, 20 times. Every reopen must find a consistent last block, every
//! block before it intact, and state holding exactly the committed blocks' writes.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod chain_writer;

use std::process::{Command, Stdio};
use std::time::Duration;

use chain_writer::{append_block, chain, ensure_genesis, state_matches_last_block};
use mpms_ledger::execute::execute_block;
use mpms_ledger::MemState;
use mpms_store::{check_integrity, RocksOptions, RocksStore, Store};
use rand::{Rng, SeedableRng};

const CHILD_DIR: &str = "MPMS_CRASH_TEST_CHILD_DIR";

/// The child: appends blocks forever. Does nothing unless started by the parent test.
#[test]
fn crash_child_writer() {
    let Ok(dir) = std::env::var(CHILD_DIR) else {
        return;
    };
    let store = RocksStore::open(dir.as_ref(), &RocksOptions::default()).unwrap();
    let c = chain();
    ensure_genesis(&store, &c);
    loop {
        append_block(&store, &c);
    }
}

/// Replays every stored block from genesis in memory and compares the result with
/// the stored state and the last header's commitment.
fn replay_matches(store: &RocksStore) {
    let c = chain();
    let genesis = c.genesis.build().unwrap();
    let mut state = MemState::new();
    state.apply(&genesis.changes);
    let last = store.last_height().unwrap().unwrap();
    let mut parent = store.header(0).unwrap().unwrap();
    assert_eq!(parent, genesis.header);
    for h in 1..=last {
        let block = store.block(h).unwrap().unwrap();
        let outcome = execute_block(&state, &parent, &block).expect("stored block replays");
        state.apply(&outcome.changes);
        parent = block.header;
    }
    assert_eq!(
        state.entries(),
        &store.state_entries().unwrap(),
        "stored state differs from replay"
    );
}

#[test]
fn sigkill_at_random_moments_leaves_a_consistent_store() {
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(2026);
    let mut last_seen = 0;
    for round in 0..20 {
        let mut child = Command::new(&exe)
            .args([
                "--exact",
                "crash_child_writer",
                "--test-threads=1",
                "--nocapture",
            ])
            .env(CHILD_DIR, dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(rng.gen_range(150..600)));
        child.kill().unwrap(); // SIGKILL on Unix
        child.wait().unwrap();

        let store = RocksStore::open(dir.path(), &RocksOptions::default()).unwrap();
        let Some(_) = store.last_height().unwrap() else {
            continue; // killed before genesis was written
        };
        let last = check_integrity(&store).unwrap_or_else(|e| panic!("round {round}: {e}"));
        assert!(
            last >= last_seen,
            "round {round}: committed blocks were lost"
        );
        state_matches_last_block(&store, last);
        if round % 5 == 4 {
            replay_matches(&store);
        }
        last_seen = last;
    }
    assert!(
        last_seen > 5,
        "the writer made too little progress ({last_seen} blocks) to test anything"
    );
    // The store is still writable after all that.
    let store = RocksStore::open(dir.path(), &RocksOptions::default()).unwrap();
    ensure_genesis(&store, &chain());
    append_block(&store, &chain());
}
