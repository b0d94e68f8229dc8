//! Gossip over real swarms on 127.0.0.1: every topic reaches every node of a partial
//! mesh; and (ignored by default) the propagation time over 100 nodes.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{open_config, spawn, wait_for, Chain, Node};
use mpms_consensus::ConsensusMessage;
use mpms_ledger::codec;
use mpms_ledger::vote::{Vote, VoteKind};
use mpms_network::{NetworkEvent, Topic};

/// Starts `n` nodes; node `i > 0` dials node `(i - 1) / 2`: a binary tree, so most
/// pairs are not directly connected and messages must be forwarded.
async fn tree(chain: &Chain, n: usize) -> Vec<Node> {
    let mut nodes: Vec<Node> = Vec::new();
    for i in 0..n {
        let node = spawn(
            &chain.chain_id(),
            open_config(),
            chain.validator(),
            chain.source(),
        )
        .await;
        if i > 0 {
            node.handle
                .dial(nodes[(i - 1) / 2].addr.clone())
                .await
                .unwrap();
        }
        nodes.push(node);
    }
    for (i, node) in nodes.iter().enumerate() {
        let expected =
            usize::from(i > 0) + [2 * i + 1, 2 * i + 2].iter().filter(|c| **c < n).count();
        wait_for("tree connections", Duration::from_secs(20), || async {
            node.handle.peers().await.unwrap().len() >= expected
        })
        .await;
    }
    // Let a few heartbeats graft the meshes.
    tokio::time::sleep(Duration::from_millis(800)).await;
    nodes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_topic_reaches_all_twenty_nodes() {
    let mut chain = Chain::new(1);
    let block = chain.produce(&[]);
    // The nodes expect height 1: the block above is the one they are waiting for.
    let validator_chain = {
        let mut c = Chain::new(1);
        c.last = chain.genesis.clone();
        c
    };
    let mut nodes = tree(&validator_chain, 20).await;
    let peers: Vec<usize> = {
        let mut v = Vec::new();
        for node in &nodes {
            v.push(node.handle.peers().await.unwrap().len());
        }
        v
    };
    assert!(peers.iter().all(|p| *p < 19), "not a full mesh: {peers:?}");

    let tx = codec::encode(&chain.tx(1));
    let vote = Vote {
        height: 1,
        round: 0,
        kind: VoteKind::Prevote,
        block: Some(block.block.hash()),
        valid_round: None,
    }
    .sign(
        &chain.chain_id(),
        chain.keys.operators[1].public_key(),
        &chain.keys.consensus[1],
    );
    let consensus = codec::encode(&ConsensusMessage::Vote(vote));
    let finalized = codec::encode(&block);
    let messages = [
        (Topic::Transactions, tx, 0usize),
        (Topic::Consensus, consensus, 19),
        (Topic::Blocks, finalized, 7),
    ];
    for (topic, data, from) in &messages {
        nodes[*from]
            .handle
            .publish(*topic, data.clone())
            .await
            .unwrap();
    }
    for (i, node) in nodes.iter_mut().enumerate() {
        let mut want: Vec<(Topic, Vec<u8>)> = messages
            .iter()
            .filter(|(_, _, from)| *from != i)
            .map(|(t, d, _)| (*t, d.clone()))
            .collect();
        while !want.is_empty() {
            let (topic, data) = common::next_message(node, Duration::from_secs(20))
                .await
                .unwrap_or_else(|| panic!("node {i} still waits for {} messages", want.len()));
            want.retain(|(t, d)| !(*t == topic && *d == data));
        }
    }
    let metrics = nodes[0].handle.metrics().snapshot();
    assert_eq!(metrics.published[Topic::Transactions.index()], 1);
    assert!(metrics.accepted.iter().sum::<u64>() >= 2);
    assert_eq!(metrics.rejected, [0, 0, 0]);
    for node in &nodes {
        node.handle.shutdown().await;
    }
}

/// A hub with 16 peers, all on 127.0.0.1, forwards what one of them publishes to all
/// the others. (Gossipsub's default IP-colocation penalty would score all 16 below
/// the gossip threshold and the hub would forward nothing.) The hub's mesh is wide
/// enough to hold every leaf, so forwarding does not depend on lazy gossip.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hub_with_many_peers_on_one_address_forwards() {
    const LEAVES: usize = 16;
    let chain = Chain::new(3);
    let hub_config = mpms_network::NetworkConfig {
        mesh_n: LEAVES,
        mesh_n_high: 2 * LEAVES,
        ..open_config()
    };
    let hub = spawn(
        &chain.chain_id(),
        hub_config,
        chain.validator(),
        chain.source(),
    )
    .await;
    let mut leaves = Vec::new();
    for _ in 0..LEAVES {
        let leaf = spawn(
            &chain.chain_id(),
            open_config(),
            chain.validator(),
            chain.source(),
        )
        .await;
        leaf.handle.dial(hub.addr.clone()).await.unwrap();
        leaves.push(leaf);
    }
    wait_for("hub connections", Duration::from_secs(20), || async {
        hub.handle.peers().await.unwrap().len() >= LEAVES
    })
    .await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let data = codec::encode(&chain.tx(77));
    leaves[0]
        .handle
        .publish(Topic::Transactions, data.clone())
        .await
        .unwrap();
    for (i, leaf) in leaves.iter_mut().enumerate().skip(1) {
        let (topic, got) = common::next_message(leaf, Duration::from_secs(10))
            .await
            .unwrap_or_else(|| panic!("leaf {i} got nothing"));
        assert_eq!((topic, got), (Topic::Transactions, data.clone()));
    }
    hub.handle.shutdown().await;
    for leaf in &leaves {
        leaf.handle.shutdown().await;
    }
}

/// 100 nodes, each dialing 3 earlier ones; 100 messages from random nodes. Reports the
/// time for one message to reach all 100 (p50, p99).
///
/// `cargo test -p mpms-network --release --test gossip -- --ignored --nocapture`
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "100 in-process nodes: a measurement, run on demand"]
async fn hundred_node_propagation_time() {
    const N: usize = 100;
    const MESSAGES: u64 = 100;
    let chain = Chain::new(2);
    let mut nodes: Vec<Node> = Vec::new();
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move |bound: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % bound as u64) as usize
    };
    for i in 0..N {
        let node = spawn(
            &chain.chain_id(),
            open_config(),
            chain.validator(),
            chain.source(),
        )
        .await;
        for _ in 0..3.min(i) {
            let j = next(i);
            let _ = node.handle.dial(nodes[j].addr.clone()).await;
        }
        nodes.push(node);
    }
    for node in &nodes {
        wait_for("connections", Duration::from_secs(60), || async {
            !node.handle.peers().await.unwrap().is_empty()
        })
        .await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;

    // Each node records when it first sees each message.
    // Per message: which node saw it, when.
    type Seen = Arc<Mutex<HashMap<Vec<u8>, Vec<(usize, Instant)>>>>;
    let seen: Seen = Arc::default();
    let mut handles = Vec::new();
    let mut tasks = Vec::new();
    for (index, node) in nodes.into_iter().enumerate() {
        let seen = seen.clone();
        let Node {
            handle, mut events, ..
        } = node;
        handles.push(handle);
        tasks.push(tokio::spawn(async move {
            while let Some(event) = events.recv().await {
                if let NetworkEvent::Message { data, .. } = event {
                    seen.lock()
                        .unwrap()
                        .entry(data)
                        .or_default()
                        .push((index, Instant::now()));
                }
            }
        }));
    }
    let mut spreads = Vec::new();
    for m in 0..MESSAGES {
        let data = codec::encode(&chain.tx(1_000 + m));
        let from = next(N);
        let start = Instant::now();
        handles[from]
            .publish(Topic::Transactions, data.clone())
            .await
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let got = seen.lock().unwrap().get(&data).map_or(0, Vec::len);
            if got >= N - 1 {
                break;
            }
            if Instant::now() > deadline {
                let mut peers = Vec::new();
                for h in &handles {
                    peers.push(h.peers().await.unwrap().len());
                }
                let reached: Vec<usize> = seen.lock().unwrap()[&data]
                    .iter()
                    .map(|(i, _)| *i)
                    .collect();
                let missing: Vec<usize> = (0..N)
                    .filter(|i| *i != from && !reached.contains(i))
                    .collect();
                panic!("message {m} from node {from} reached {got} of {} nodes, not {missing:?}; peers per node: {peers:?}", N - 1);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let last = seen.lock().unwrap()[&data]
            .iter()
            .map(|(_, t)| *t)
            .max()
            .unwrap();
        spreads.push(last.duration_since(start));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    spreads.sort();
    let p = |q: f64| spreads[((spreads.len() - 1) as f64 * q).round() as usize];
    println!(
        "100 nodes, {MESSAGES} messages: time to reach all nodes p50 {:?}, p99 {:?}, max {:?}",
        p(0.5),
        p(0.99),
        spreads.last().unwrap()
    );
    for handle in &handles {
        handle.shutdown().await;
    }
    for task in tasks {
        task.abort();
    }
}

/// A proposal for height 1 by its round-0 proposer carrying `bytes` of transactions
/// (the gossip check does not execute them); `tag` makes each one new to gossip.
fn large_proposal(chain: &Chain, bytes: usize, tag: u8) -> Vec<u8> {
    use mpms_ledger::execute::{build_block, SignatureCheck};
    use mpms_ledger::transaction::OrganizationKind;
    use mpms_ledger::Payload;
    let mut block = build_block(
        &chain.state,
        &chain.genesis,
        None,
        chain.keys.operators[1].public_key(),
        chain.genesis.time_ms + 1 + u64::from(tag),
        std::iter::empty(),
        SignatureCheck::Verify,
    )
    .unwrap()
    .block;
    let per_tx = 200 << 10;
    let encryption_key = mpms_crypto::DecryptionKey::derive(b"large").encryption_key();
    for i in 0..bytes / per_tx {
        block.transactions.push(chain.keys.tx(
            &chain.keys.operators[0],
            i as u64,
            Payload::RegisterOrganization {
                name: "x".repeat(per_tx),
                kind: OrganizationKind::Hospital,
                encryption_key,
                work: 0,
            },
        ));
    }
    block.header.tx_root = mpms_ledger::block::tx_root(&block.transactions);
    block.header.tx_count = block.transactions.len() as u32;
    let proposal = Vote {
        height: 1,
        round: 0,
        kind: VoteKind::Proposal,
        block: Some(block.hash()),
        valid_round: None,
    }
    .sign(
        &chain.chain_id(),
        chain.keys.operators[1].public_key(),
        &chain.keys.consensus[1],
    );
    codec::encode(&ConsensusMessage::Proposal {
        proposal,
        block: Box::new(block),
        proof: Vec::new(),
    })
}

/// Governance raises `max_block_bytes` from 8 to 12 MiB: a full 12 MiB block then
/// crosses a node that forwards it (gossip limits were fixed at start-up, so after
/// such a vote full blocks stopped propagating and honest peers penalised each other).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_block_propagates_after_governance_raises_the_limit() {
    let chain = Chain::new(5);
    let validators: Vec<_> = (0..3).map(|_| chain.validator()).collect();
    let mut nodes = Vec::new();
    for v in &validators {
        nodes.push(spawn(&chain.chain_id(), open_config(), v.clone(), chain.source()).await);
    }
    // A line: the first's messages reach the last only through the middle one.
    for i in 1..3 {
        nodes[i]
            .handle
            .dial(nodes[i - 1].addr.clone())
            .await
            .unwrap();
    }
    for (i, node) in nodes.iter().enumerate() {
        let expected = if i == 1 { 2 } else { 1 };
        wait_for("line connections", Duration::from_secs(20), || async {
            node.handle.peers().await.unwrap().len() >= expected
        })
        .await;
    }
    tokio::time::sleep(Duration::from_millis(800)).await;

    let received = |node: &mut Node| {
        let mut got = 0;
        while let Some(event) = node.events.try_recv() {
            if matches!(event, NetworkEvent::Message { topic: Topic::Consensus, ref data, .. } if data.len() > 10 << 20)
            {
                got += 1;
            }
        }
        got
    };
    let twelve = 12 << 20;
    // Under the default 8 MiB parameters: refused by the middle node, never delivered.
    for v in &validators {
        v.advance(
            chain.set.clone(),
            1,
            mpms_network::validate::Limits::from_params(&mpms_ledger::Params::default()),
        );
    }
    nodes[0]
        .handle
        .publish(Topic::Consensus, large_proposal(&chain, twelve, 0))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(received(&mut nodes[2]), 0);

    let raised = mpms_ledger::Params::default()
        .with_change(&mpms_ledger::params::ParameterChange::MaxBlockBytes(
            12 << 20,
        ))
        .unwrap();
    for v in &validators {
        v.advance(
            chain.set.clone(),
            1,
            mpms_network::validate::Limits::from_params(&raised),
        );
    }
    nodes[0]
        .handle
        .publish(
            Topic::Consensus,
            large_proposal(&chain, twelve - (64 << 10), 1),
        )
        .await
        .unwrap();
    let last = &mut nodes[2];
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if received(last) == 1 {
            break;
        }
        assert!(Instant::now() < deadline, "the full block did not arrive");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for node in &nodes {
        node.handle.shutdown().await;
    }
}
