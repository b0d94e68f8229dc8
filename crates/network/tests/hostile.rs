//! A hostile peer sends malformed, oversized and wrong-chain messages: the honest
//! node rejects each one, never crashes, and disconnects and bans the peer; honest
//! traffic goes on.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{next_message, open_config, spawn, wait_for, AcceptAll, Chain, NoBlocks};
use mpms_ledger::codec;
use mpms_ledger::testkit::TestChain;
use mpms_network::{NetworkConfig, Topic};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_peer_is_penalized_and_disconnected() {
    let chain = Chain::new(5);
    let chain_id = chain.chain_id();
    let honest_config = NetworkConfig {
        max_offences: 6,
        ..open_config()
    };
    let mut honest = spawn(
        &chain_id,
        honest_config.clone(),
        chain.validator(),
        chain.source(),
    )
    .await;
    let mut friend = spawn(
        &chain_id,
        honest_config,
        chain.validator(),
        Arc::new(NoBlocks),
    )
    .await;
    // The hostile node runs the same software with checks off and a large limit.
    let hostile_config = NetworkConfig {
        max_message_bytes: 4 << 20,
        max_sync_response_bytes: 4 << 20,
        ..open_config()
    };
    let hostile = spawn(
        &chain_id,
        hostile_config,
        Arc::new(AcceptAll),
        Arc::new(NoBlocks),
    )
    .await;
    friend.handle.dial(honest.addr.clone()).await.unwrap();
    hostile.handle.dial(honest.addr.clone()).await.unwrap();
    wait_for("connections", Duration::from_secs(10), || async {
        honest.handle.peers().await.unwrap().len() == 2
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;

    let other_chain = TestChain::new(4, 99);
    let mut junk: Vec<(Topic, Vec<u8>)> = vec![
        (Topic::Transactions, vec![0xff; 100]),
        (Topic::Consensus, vec![1, 2, 3]),
        (Topic::Blocks, Vec::new()),
        // Oversized: far above the largest transaction.
        (Topic::Transactions, vec![7; 300 << 10]),
        // A well-formed, correctly signed transaction of another chain.
        (
            Topic::Transactions,
            codec::encode(&other_chain.register_subject(1)),
        ),
    ];
    // A valid transaction with its signature broken.
    let mut forged = chain.tx(2);
    forged.tx.nonce += 1;
    junk.push((Topic::Transactions, codec::encode(&forged)));
    // Trailing bytes after a valid transaction.
    let mut trailing = codec::encode(&chain.tx(3));
    trailing.push(0);
    junk.push((Topic::Transactions, trailing));
    // Twice over, each copy made distinct, so duplicate suppression does not hide it.
    for round in 0..2u8 {
        for (topic, data) in &junk {
            let mut data = data.clone();
            if round > 0 {
                data.push(round);
            }
            let _ = hostile.handle.publish(*topic, data).await;
        }
    }

    wait_for("ban", Duration::from_secs(20), || async {
        honest.handle.metrics().snapshot().banned == 1
    })
    .await;
    let metrics = honest.handle.metrics().snapshot();
    assert!(metrics.rejected.iter().sum::<u64>() >= 3, "{metrics:?}");
    assert_eq!(metrics.accepted, [0, 0, 0], "nothing junk was accepted");
    wait_for("hostile disconnected", Duration::from_secs(10), || async {
        !honest
            .handle
            .peers()
            .await
            .unwrap()
            .contains(&hostile.handle.peer_id())
    })
    .await;
    // Junk never reached the friend through the honest node.
    assert_eq!(friend.handle.metrics().snapshot().rejected, [0, 0, 0]);

    // The honest node still works: a valid transaction crosses both ways.
    let tx = codec::encode(&chain.tx(4));
    friend
        .handle
        .publish(Topic::Transactions, tx.clone())
        .await
        .unwrap();
    let got = next_message(&mut honest, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(got, (Topic::Transactions, tx));
    let back = codec::encode(&chain.tx(5));
    honest
        .handle
        .publish(Topic::Transactions, back.clone())
        .await
        .unwrap();
    let got = next_message(&mut friend, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(got, (Topic::Transactions, back));
    for node in [&honest, &friend, &hostile] {
        node.handle.shutdown().await;
    }
}

/// A peer floods 40 distinct 1 MiB messages that pass validation while the node's
/// core does not keep up (here: takes nothing): the node holds at most its
/// configured bytes of them, drops the rest (forwarded, counted, not held against
/// the sender), and connection events still get through. (The queue was bounded by
/// count only: 16,384 messages of up to 17 MiB each.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_queue_to_the_core_is_bounded_by_bytes() {
    let chain = Chain::new(8);
    let chain_id = chain.chain_id();
    let small = NetworkConfig {
        max_message_bytes: 2 << 20,
        max_sync_response_bytes: 4 << 20,
        max_queued_bytes: 8 << 20,
        ..open_config()
    };
    let mut honest = spawn(
        &chain_id,
        small.clone(),
        Arc::new(AcceptAll),
        Arc::new(NoBlocks),
    )
    .await;
    let flooder = spawn(
        &chain_id,
        small.clone(),
        Arc::new(AcceptAll),
        Arc::new(NoBlocks),
    )
    .await;
    flooder.handle.dial(honest.addr.clone()).await.unwrap();
    wait_for("connected", Duration::from_secs(10), || async {
        honest.handle.peers().await.unwrap().len() == 1
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    for i in 0..40u32 {
        let mut data = vec![0u8; 1 << 20];
        data[..4].copy_from_slice(&i.to_le_bytes());
        let _ = flooder.handle.publish(Topic::Transactions, data).await;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    wait_for("messages dropped", Duration::from_secs(20), || async {
        honest.handle.metrics().snapshot().dropped[Topic::Transactions.index()] > 0
    })
    .await;
    assert!(
        honest.events.queued_bytes() <= 8 << 20,
        "{} bytes queued",
        honest.events.queued_bytes()
    );
    // A later connection is still reported.
    let third = spawn(&chain_id, small, Arc::new(AcceptAll), Arc::new(NoBlocks)).await;
    third.handle.dial(honest.addr.clone()).await.unwrap();
    let mut message_bytes = 0;
    let mut connected = false;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !connected && tokio::time::Instant::now() < deadline {
        match tokio::time::timeout(Duration::from_secs(1), honest.events.recv()).await {
            Ok(Some(mpms_network::NetworkEvent::Message { data, .. })) => {
                message_bytes += data.len()
            }
            Ok(Some(mpms_network::NetworkEvent::PeerConnected(p))) => {
                connected = p == third.handle.peer_id();
            }
            _ => {}
        }
    }
    assert!(connected, "the new peer's connection was reported");
    assert!(
        message_bytes <= 8 << 20,
        "{message_bytes} bytes of messages were queued"
    );
    for node in [&honest, &flooder, &third] {
        node.handle.shutdown().await;
    }
}
