//! Discovery over real swarms on 127.0.0.1: nodes that know only one boot node find
//! the rest of the network (identify + Kademlia) and connect to them.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::time::Duration;

use common::{spawn, wait_for, Chain, Node};
use mpms_ledger::codec;
use mpms_network::{NetworkConfig, Topic};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_knowing_one_boot_node_find_the_rest() {
    const N: usize = 8;
    let chain = Chain::new(5);
    let open = NetworkConfig {
        permissioned: false,
        discovery: true,
        ..NetworkConfig::local()
    };
    let boot = spawn(
        &chain.chain_id(),
        open.clone(),
        chain.validator(),
        chain.source(),
    )
    .await;
    let boot_addr = format!("{}/p2p/{}", boot.addr, boot.handle.peer_id());
    let mut nodes: Vec<Node> = vec![boot];
    for _ in 1..N {
        let config = NetworkConfig {
            boot_nodes: vec![boot_addr.clone()],
            ..open.clone()
        };
        nodes.push(spawn(&chain.chain_id(), config, chain.validator(), chain.source()).await);
    }
    // Every node ends up connected to every other, though each was told of one.
    for (i, node) in nodes.iter().enumerate() {
        wait_for(
            &format!("node {i} to find all {} others", N - 1),
            Duration::from_secs(30),
            || async { node.handle.peers().await.unwrap().len() >= N - 1 },
        )
        .await;
    }
    // And gossip flows between nodes that were never told of each other.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let data = codec::encode(&chain.tx(9));
    nodes[N - 1]
        .handle
        .publish(Topic::Transactions, data.clone())
        .await
        .unwrap();
    let (topic, got) = common::next_message(&mut nodes[1], Duration::from_secs(10))
        .await
        .expect("node 1 receives node 7's message");
    assert_eq!((topic, got), (Topic::Transactions, data));
    for node in &nodes {
        node.handle.shutdown().await;
    }
}
