//! Block sync over real swarms: a new node catches up 1,000 blocks from peers,
//! verifying every certificate, while one peer serves corrupted blocks.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{open_config, spawn, wait_for, Chain, NoBlocks, VerifyingSink};
use mpms_consensus::FinalizedBlock;
use mpms_network::sync::{sync_to, BlockSource, StoreSource, SyncOptions};
use mpms_store::{MemStore, Store};

/// Serves the real chain's blocks with a changed timestamp from `from` on: the block
/// hash no longer matches its certificate (or its successor's parent link).
struct Liar {
    inner: StoreSource<MemStore>,
    from: u64,
}

impl BlockSource for Liar {
    fn last_height(&self) -> u64 {
        self.inner.last_height()
    }
    fn finalized(&self, height: u64) -> Option<FinalizedBlock> {
        let mut block = self.inner.finalized(height)?;
        if height >= self.from {
            block.block.header.time_ms += 1;
        }
        Some(block)
    }
}

fn options(peer_timeout: Duration) -> SyncOptions {
    SyncOptions {
        batch: 64,
        peer_timeout,
    }
}

/// Never answers until released: a peer that is connected but silent.
struct Silent {
    released: Arc<AtomicBool>,
}

impl BlockSource for Silent {
    fn last_height(&self) -> u64 {
        while !self.released.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(20));
        }
        0
    }
    fn finalized(&self, _: u64) -> Option<FinalizedBlock> {
        self.last_height();
        None
    }
}

/// Catch-up asks every peer at once: a silent peer delays it by one per-peer timeout
/// at most (peers were asked one after another, each with a 10 s timeout, so every
/// silent peer added its full timeout). Serving is off the swarm's loop, so the silent
/// peer's own gossip and connections keep working while it does not answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_peers_delay_catch_up_by_one_timeout_at_most() {
    let mut chain = Chain::new(4);
    for _ in 0..50 {
        chain.produce(&[]);
    }
    let chain_id = chain.chain_id();
    let released = Arc::new(AtomicBool::new(false));
    let honest = spawn(&chain_id, open_config(), chain.validator(), chain.source()).await;
    let mut silent = Vec::new();
    for _ in 0..3 {
        let source = Arc::new(Silent {
            released: released.clone(),
        });
        silent.push(spawn(&chain_id, open_config(), chain.validator(), source).await);
    }
    let fresh = spawn(
        &chain_id,
        open_config(),
        chain.validator(),
        Arc::new(NoBlocks),
    )
    .await;
    fresh.handle.dial(honest.addr.clone()).await.unwrap();
    for peer in &silent {
        fresh.handle.dial(peer.addr.clone()).await.unwrap();
    }
    wait_for("four peers", Duration::from_secs(20), || async {
        fresh.handle.peers().await.unwrap().len() == 4
    })
    .await;

    let timeout = Duration::from_secs(2);
    let started = std::time::Instant::now();
    let mut sink = VerifyingSink::from_genesis(&chain);
    let report = sync_to(&fresh.handle, &mut sink, options(timeout))
        .await
        .unwrap();
    let took = started.elapsed();
    assert_eq!(report.height, 50);
    assert!(report.banned.is_empty());
    assert!(
        took < timeout + Duration::from_secs(2),
        "three silent peers delayed catch-up by {took:?} (per-peer timeout {timeout:?})"
    );
    // A silent peer's swarm still answers: its loop is not the one waiting.
    assert_eq!(silent[0].handle.peers().await.unwrap().len(), 1);
    released.store(true, Ordering::Relaxed);
    for node in silent.iter().chain([&honest, &fresh]) {
        node.handle.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_node_syncs_a_thousand_blocks_despite_a_liar() {
    let mut chain = Chain::new(3);
    for i in 0..1_000u64 {
        // Some blocks carry transactions, so execution is checked too.
        let txs = if i.is_multiple_of(50) {
            vec![chain.tx(i)]
        } else {
            vec![]
        };
        chain.produce(&txs);
    }
    let chain_id = chain.chain_id();
    let honest_a = spawn(&chain_id, open_config(), chain.validator(), chain.source()).await;
    let honest_b = spawn(&chain_id, open_config(), chain.validator(), chain.source()).await;
    let liar = spawn(
        &chain_id,
        open_config(),
        chain.validator(),
        Arc::new(Liar {
            inner: StoreSource(chain.store.clone()),
            from: 1,
        }),
    )
    .await;
    let fresh = spawn(
        &chain_id,
        open_config(),
        chain.validator(),
        Arc::new(NoBlocks),
    )
    .await;
    for peer in [&honest_a, &honest_b, &liar] {
        fresh.handle.dial(peer.addr.clone()).await.unwrap();
    }
    wait_for("three peers", Duration::from_secs(20), || async {
        fresh.handle.peers().await.unwrap().len() == 3
    })
    .await;

    let mut sink = VerifyingSink::from_genesis(&chain);
    let report = sync_to(&fresh.handle, &mut sink, options(Duration::from_secs(5)))
        .await
        .unwrap();
    assert_eq!(report.height, 1_000);
    assert_eq!(sink.last, chain.last, "same last header");
    assert_eq!(sink.state, chain.state, "same state");
    assert_eq!(report.banned.len(), 1, "{:?}", report.banned);
    assert_eq!(report.banned[0].0, liar.handle.peer_id());
    wait_for("liar disconnected", Duration::from_secs(10), || async {
        !fresh
            .handle
            .peers()
            .await
            .unwrap()
            .contains(&liar.handle.peer_id())
    })
    .await;
    assert_eq!(fresh.handle.metrics().snapshot().banned, 1);
    // The liar cannot come back while banned.
    liar.handle.dial(fresh.addr.clone()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!fresh
        .handle
        .peers()
        .await
        .unwrap()
        .contains(&liar.handle.peer_id()));
    for node in [&honest_a, &honest_b, &liar, &fresh] {
        node.handle.shutdown().await;
    }
}

/// Holds one block of the height being decided, whole or stripped of its content.
struct Proposed {
    block: Arc<mpms_ledger::Block>,
}

impl BlockSource for Proposed {
    fn last_height(&self) -> u64 {
        0
    }
    fn finalized(&self, _: u64) -> Option<FinalizedBlock> {
        None
    }
    fn proposed(&self, hash: &mpms_crypto::Hash) -> Option<Arc<mpms_ledger::Block>> {
        (self.block.hash() == *hash).then(|| self.block.clone())
    }
}

/// A node missing a proposal's content fetches the whole block by hash from its
/// peers: one that serves it stripped (the hash still matches: the content is
/// committed by digest), or with another body under its header, is skipped and
/// penalized; the whole copy is returned.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whole_block_is_fetched_by_hash_and_a_stripped_or_forged_copy_costs_its_server() {
    let mut chain = Chain::new(6);
    // A block with an issuance (ciphertext and sealed keys), as proposed.
    let mut block = chain.produce(&[]).block;
    block
        .transactions
        .push(mpms_ledger::testkit::TestChain::new(4, 6).issue(0, "course", 1, 1));
    block.header.tx_root = mpms_ledger::block::tx_root(&block.transactions);
    block.header.tx_count = block.transactions.len() as u32;
    let hash = block.hash();
    let mut stripped = block.clone();
    for tx in &mut stripped.transactions {
        *tx = tx.erased();
    }
    assert_eq!(stripped.hash(), hash);
    let chain_id = chain.chain_id();
    let liar = spawn(
        &chain_id,
        open_config(),
        chain.validator(),
        Arc::new(Proposed {
            block: Arc::new(stripped),
        }),
    )
    .await;
    let honest = spawn(
        &chain_id,
        open_config(),
        chain.validator(),
        Arc::new(Proposed {
            block: Arc::new(block.clone()),
        }),
    )
    .await;
    // Another body under the same header: the same hash, not the block.
    let mut other = block.clone();
    other.transactions.clear();
    assert_eq!(other.hash(), hash);
    let forger = spawn(
        &chain_id,
        open_config(),
        chain.validator(),
        Arc::new(Proposed {
            block: Arc::new(other),
        }),
    )
    .await;
    let fresh = spawn(
        &chain_id,
        open_config(),
        chain.validator(),
        Arc::new(NoBlocks),
    )
    .await;
    for peer in [&liar, &honest, &forger] {
        fresh.handle.dial(peer.addr.clone()).await.unwrap();
    }
    wait_for("three peers", Duration::from_secs(20), || async {
        fresh.handle.peers().await.unwrap().len() == 3
    })
    .await;
    let height = block.header.height;
    // Whichever peer is asked first, the answer is the whole block.
    for start in 0..3 {
        let fetched = mpms_network::sync::fetch_block(
            &fresh.handle,
            height,
            hash,
            start,
            Duration::from_secs(5),
        )
        .await
        .unwrap();
        assert_eq!(fetched.as_ref(), Some(&block), "start {start}");
    }
    wait_for(
        "the stripped and the forged copies' servers penalized",
        Duration::from_secs(5),
        || async { fresh.handle.metrics().snapshot().penalized >= 2 },
    )
    .await;
    // Nobody holds an unknown block.
    let unknown = mpms_network::sync::fetch_block(
        &fresh.handle,
        height,
        mpms_crypto::Hash::digest(b"unknown"),
        0,
        Duration::from_secs(5),
    )
    .await
    .unwrap();
    assert_eq!(unknown, None);
    for node in [&liar, &honest, &forger, &fresh] {
        node.handle.shutdown().await;
    }
}

/// Serves the chain's blocks without their transactions' ciphertext and sealed keys:
/// each still verifies (values are committed by digest), as an erased copy would.
struct Withholder {
    inner: StoreSource<MemStore>,
}

impl BlockSource for Withholder {
    fn last_height(&self) -> u64 {
        self.inner.last_height()
    }
    fn finalized(&self, height: u64) -> Option<FinalizedBlock> {
        let mut block = self.inner.finalized(height)?;
        for tx in &mut block.block.transactions {
            *tx = tx.erased();
        }
        Some(block)
    }
}

/// A chain that never erased anything: every missing value was withheld.
struct NothingErased(VerifyingSink);

impl mpms_network::sync::BlockSink for NothingErased {
    async fn height(&mut self) -> Option<u64> {
        self.0.height().await
    }
    async fn apply(&mut self, blocks: Vec<FinalizedBlock>) -> Option<mpms_network::sync::Applied> {
        self.0.apply(blocks).await
    }
    async fn unexplained(&mut self, heights: Vec<u64>) -> Vec<u64> {
        heights
    }
}

/// A peer that serves blocks without content the chain did not erase is penalized
/// once the catch-up is over (the blocks themselves verify: the node keeps them and
/// repairs them from other peers).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_withholding_content_during_catch_up_is_penalized() {
    let mut chain = Chain::new(7);
    chain.produce(&[
        chain.keys.register_schema(0, "course"),
        chain.keys.register_subject(1),
    ]);
    chain.produce(&[chain.keys.issue(1, "course", 1, 1)]);
    chain.produce(&[chain.keys.issue(2, "course", 1, 2)]);
    let chain_id = chain.chain_id();
    let withholder = spawn(
        &chain_id,
        open_config(),
        chain.validator(),
        Arc::new(Withholder {
            inner: StoreSource(chain.store.clone()),
        }),
    )
    .await;
    let fresh = spawn(
        &chain_id,
        open_config(),
        chain.validator(),
        Arc::new(NoBlocks),
    )
    .await;
    fresh.handle.dial(withholder.addr.clone()).await.unwrap();
    wait_for("one peer", Duration::from_secs(20), || async {
        fresh.handle.peers().await.unwrap().len() == 1
    })
    .await;
    let mut sink = NothingErased(VerifyingSink::from_genesis(&chain));
    let report = sync_to(&fresh.handle, &mut sink, options(Duration::from_secs(5)))
        .await
        .unwrap();
    assert_eq!(report.height, 3);
    assert_eq!(
        report.withheld,
        vec![(withholder.handle.peer_id(), 2)],
        "one offence for the run, at the first block it withheld"
    );
    wait_for(
        "the withholder penalized",
        Duration::from_secs(5),
        || async { fresh.handle.metrics().snapshot().penalized == 1 },
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(fresh.handle.metrics().snapshot().penalized, 1, "once");
    for node in [&withholder, &fresh] {
        node.handle.shutdown().await;
    }
}

/// A node serves no block it stored without content the chain did not erase (caught
/// up from a withholder and not repaired yet): whoever asked would take it for the
/// withholder. A batch stops before such a block.
#[test]
fn blocks_stored_without_their_content_are_not_served() {
    let mut chain = Chain::new(9);
    chain.produce(&[
        chain.keys.register_schema(0, "course"),
        chain.keys.register_subject(1),
    ]);
    let whole = chain.produce(&[chain.keys.issue(1, "course", 1, 1)]);
    // A copy of the chain whose block 2 arrived stripped.
    let store = Arc::new(MemStore::new());
    mpms_store::commit_genesis(store.as_ref(), &chain.keys.genesis.build().unwrap()).unwrap();
    for height in 1..=2 {
        let mut block = chain.store.block(height).unwrap().unwrap();
        if height == 2 {
            for tx in &mut block.transactions {
                *tx = tx.erased();
            }
        }
        let parent = store.last_header().unwrap().unwrap();
        let outcome = mpms_ledger::execute::execute_block(store.as_ref(), &parent, &block).unwrap();
        let certificate = chain.store.certificate(height).unwrap().unwrap();
        store
            .commit(mpms_store::BlockCommit {
                block: &block,
                certificate: Some(&certificate),
                changes: &outcome.changes,
                tx_hashes: None,
            })
            .unwrap();
    }
    let source = StoreSource(store.clone());
    assert!(source.finalized(1).is_some());
    assert_eq!(source.finalized(2), None, "not served while incomplete");
    store.replace_values(&whole.block).unwrap();
    store.clear_incomplete(2).unwrap();
    assert_eq!(source.finalized(2).map(|f| f.block), Some(whole.block));
}
