//! Permissioned admission: an unregistered peer can neither connect nor publish;
//! once governance admits it on chain, it can.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::time::Duration;

use common::{next_message, spawn, wait_for, Chain, NoBlocks};
use mpms_ledger::codec;
use mpms_ledger::execute::{admitted_peers, Event};
use mpms_ledger::transaction::GovernanceAction;
use mpms_ledger::Payload;
use mpms_network::identity::parse_peer_id;
use mpms_network::{NetworkConfig, Topic};
use std::sync::Arc;

fn permissioned() -> NetworkConfig {
    NetworkConfig {
        permissioned: true,
        discovery: false,
        ..NetworkConfig::local()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unregistered_peer_is_refused_until_governance_admits_it() {
    let mut chain = Chain::new(4);
    let chain_id = chain.chain_id();
    let member = spawn(&chain_id, permissioned(), chain.validator(), chain.source()).await;
    let outsider = spawn(
        &chain_id,
        permissioned(),
        chain.validator(),
        Arc::new(NoBlocks),
    )
    .await;
    let outsider_id = outsider.handle.peer_id();
    // The outsider admits the member on its side: the refusal below is the member's.
    outsider
        .handle
        .admit(vec![member.handle.peer_id()])
        .await
        .unwrap();

    // Refused at connection time: its inbound connection is denied once its peer id
    // is known, and the member will not even dial it.
    outsider.handle.dial(member.addr.clone()).await.unwrap();
    wait_for("refusal", Duration::from_secs(10), || async {
        member.handle.metrics().snapshot().refused >= 1
    })
    .await;
    // The outsider learns it was refused (it dialed, and the member closed the
    // connection before identifying itself), so its node can say why it has no peers.
    wait_for(
        "the outsider to see the refusal",
        Duration::from_secs(10),
        || async { outsider.handle.metrics().snapshot().refused_by_peers >= 1 },
    )
    .await;
    let mut outsider = outsider;
    let mut refused = false;
    while let Some(event) = outsider.events.try_recv() {
        refused |= event == mpms_network::NetworkEvent::RefusedBy(member.handle.peer_id());
    }
    assert!(refused, "no RefusedBy event");
    assert!(member.handle.dial(outsider.addr.clone()).await.is_err());
    assert!(member.handle.peers().await.unwrap().is_empty());
    assert!(outsider.handle.peers().await.unwrap().is_empty());
    // With no connection it cannot publish anything to the member.
    let tx = codec::encode(&chain.tx(1));
    assert!(outsider
        .handle
        .publish(Topic::Transactions, tx.clone())
        .await
        .is_err());

    // Governance: authority 0 proposes admitting the outsider's node, 1 and 2 approve.
    let action = GovernanceAction::AdmitNode {
        peer_id: outsider_id.to_string(),
        operator: chain.keys.operators[3].public_key(),
    };
    let propose = chain.authority_tx(0, 0, Payload::Propose { action });
    let opened = chain.produce(&[propose]);
    assert_eq!(opened.block.transactions.len(), 1);
    let proposal = chain.receipts[0]
        .events
        .iter()
        .find_map(|e| match e {
            Event::ProposalOpened(id) => Some(*id),
            _ => None,
        })
        .expect("proposal opened");
    let votes: Vec<_> = [1usize, 2]
        .iter()
        .map(|i| {
            chain.authority_tx(
                *i,
                0,
                Payload::Vote {
                    proposal,
                    approve: true,
                },
            )
        })
        .collect();
    chain.produce(&votes);
    let admitted = admitted_peers(&chain.state, chain.last.height + 1).unwrap();
    assert!(admitted.contains(&outsider_id.to_string()), "{admitted:?}");
    let peers = admitted
        .iter()
        .filter_map(|p| parse_peer_id(p).ok())
        .collect();
    member.handle.admit(peers).await.unwrap();

    outsider.handle.dial(member.addr.clone()).await.unwrap();
    wait_for("admitted connection", Duration::from_secs(10), || async {
        member.handle.peers().await.unwrap().contains(&outsider_id)
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    outsider
        .handle
        .publish(Topic::Transactions, tx.clone())
        .await
        .unwrap();
    let mut member = member;
    let (topic, data) = next_message(&mut member, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!((topic, data), (Topic::Transactions, tx));

    // Governance can take it away again: the member then drops the connection.
    member.handle.admit(Vec::new()).await.unwrap();
    wait_for(
        "disconnect after removal",
        Duration::from_secs(10),
        || async { !member.handle.peers().await.unwrap().contains(&outsider_id) },
    )
    .await;
    member.handle.shutdown().await;
    outsider.handle.shutdown().await;
}
