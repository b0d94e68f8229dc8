//! One Byzantine authority against three honest ones, on real processes: a driver
//! holding validator 3's keys (its consensus key, its node identity) takes its place
//! on the network and floods the others for 60 s with what an authority may sign
//! without signing twice for one step (which would get it removed within seconds):
//! votes for ever higher rounds, proposals with 1 MiB blocks for every round it
//! proposes, re-sends of them; plus transactions and sync requests. The three keep
//! finalizing, and the memory of each stays under a stated bound.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::Net;
use mpms_consensus::ConsensusMessage;
use mpms_crypto::{Hash, SigningKey};
use mpms_ledger::block::Header;
use mpms_ledger::transaction::OrganizationKind;
use mpms_ledger::vote::{AuthoritySet, CommitCertificate, Vote, VoteKind};
use mpms_ledger::{codec, Block, Payload, Transaction};
use mpms_network::wire::SyncRequest;
use mpms_network::Topic;
use mpms_node::Home;
use serde_json::Value;

const MINUTE: Duration = Duration::from_secs(60);

/// How long the flood lasts.
const FLOOD: Duration = Duration::from_secs(60);

/// The stated bound on each honest validator's resident memory during the flood:
/// about twice the peak measured (docs/SECURITY.md gives the figures).
const RSS_BOUND_MB: u64 = 320;

fn decode<T: serde::de::DeserializeOwned>(v: &Value) -> T {
    serde_json::from_value(v.clone()).unwrap()
}

/// Resident memory of process `pid`, MiB.
fn rss_mb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024)
}

#[test]
fn three_honest_validators_keep_finalizing_while_a_fourth_floods_them() {
    let mut net = Net::new(4, 0);
    for i in 0..3 {
        net.start(i);
    }
    net.wait_height(&[0, 1, 2], 2, MINUTE);

    // Validator 3's keys and identity, as its operator holds them.
    let home3 = Home::new(&net.nodes[3].home);
    let config3 = home3.load_config().unwrap().raw;
    let (keys3, _) = home3.load_validator(&config3).unwrap().unwrap();
    let node_key = home3.load_node_key(&config3).unwrap();
    let operator3 = keys3.operator.public_key();
    let consensus3 = keys3.consensus.clone();
    let chain_id = net.get(0, "/v1/status").unwrap()["chain_id"]
        .as_str()
        .unwrap()
        .to_string();
    let set: AuthoritySet = decode(&net.get(0, "/v1/authorities").unwrap()["active_set"]);

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (network, events) = net.join_p2p(&runtime, node_key, config3.network.listen.clone());
    // Only what this test sends matters; what the peer hears is not read.
    drop(events);

    // A 1 MiB block on the chain's last block: proposals carry copies of it.
    let last = net.height(0).unwrap();
    let parent_json = net.get(0, &format!("/v1/blocks/{last}")).unwrap();
    let parent: Header = decode(&parent_json["header"]);
    let parent_cert: CommitCertificate = decode(&parent_json["certificate"]);
    let junk_signer = SigningKey::from_seed(&[0xb1; 32]);
    let transactions: Vec<_> = (0..8u64)
        .map(|i| {
            Transaction {
                chain_id: chain_id.clone(),
                sender: junk_signer.public_key(),
                nonce: i,
                payload: Payload::RegisterOrganization {
                    name: "x".repeat(128 << 10),
                    kind: OrganizationKind::Hospital,
                    encryption_key: mpms_crypto::DecryptionKey::derive(b"junk").encryption_key(),
                    work: 0,
                },
            }
            .sign(&junk_signer)
        })
        .collect();
    let template = Block {
        header: Header {
            chain_id: chain_id.clone(),
            height: parent.height + 1,
            parent: parent.hash(),
            time_ms: parent.time_ms + 1,
            proposer: operator3,
            tx_root: mpms_ledger::block::tx_root(&transactions),
            tx_count: transactions.len() as u32,
            state_root: Hash::ZERO,
            authority_set: set.hash(),
            next_authority_set: set.hash(),
            last_commit: parent_cert.hash(),
        },
        last_commit: Some(parent_cert),
        transactions,
    };

    let flooding = Arc::new(AtomicBool::new(true));
    let sent = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let heights_before: Vec<u64> = (0..3).map(|i| net.height(i).unwrap()).collect();

    // The height the others decide, followed so the flood stays on it.
    let next_height = Arc::new(AtomicU64::new(parent.height + 1));
    let follower = {
        let (flooding, next_height) = (flooding.clone(), next_height.clone());
        let url = format!("{}/v1/status", net.nodes[0].api);
        runtime.spawn_blocking(move || {
            let agent = ureq::AgentBuilder::new()
                .timeout(Duration::from_secs(2))
                .build();
            while flooding.load(Ordering::Relaxed) {
                let status = agent
                    .get(&url)
                    .call()
                    .ok()
                    .and_then(|r| r.into_json::<Value>().ok());
                if let Some(h) = status.and_then(|s| s["height"].as_u64()) {
                    next_height.store(h + 1, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(200));
            }
        })
    };
    // Votes for rounds near and far (up to the last one), for this height and the
    // next, each for a new block: three senders.
    let vote_floods: Vec<_> = (0..3u64)
        .map(|lane| {
            let (network, flooding, sent) = (network.clone(), flooding.clone(), sent.clone());
            let (chain_id, consensus3, next_height) =
                (chain_id.clone(), consensus3.clone(), next_height.clone());
            runtime.spawn(async move {
                let mut counter = 0u64;
                while flooding.load(Ordering::Relaxed) {
                    counter += 1;
                    let at = next_height.load(Ordering::Relaxed) + lane % 2;
                    // Every statement in a slot of its own (height, round, step), so
                    // none is equivocation (which would get validator 3 removed within
                    // seconds): rounds far ahead, rising, each one costing the others
                    // a signature check.
                    let round = u32::try_from(1_000 + 3 * counter + lane).unwrap_or(u32::MAX);
                    let kind = if counter.is_multiple_of(2) {
                        VoteKind::Precommit
                    } else {
                        VoteKind::Prevote
                    };
                    let vote = Vote {
                        height: at,
                        round,
                        kind,
                        block: Some(Hash::digest(&counter.to_le_bytes())),
                        valid_round: None,
                    }
                    .sign(&chain_id, operator3, &consensus3);
                    let message = ConsensusMessage::Vote(vote);
                    if network
                        .publish(Topic::Consensus, codec::encode(&message))
                        .await
                        .is_ok()
                    {
                        sent.fetch_add(1, Ordering::Relaxed);
                    }
                    // About a thousand a second per sender: faster, and the driver's
                    // own gossip queues overflow and drop them before they leave.
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            })
        })
        .collect();
    // Proposals with 1 MiB blocks, each new, for every round it proposes at this
    // height and the next, and re-sends of each. Paced (five a second, 10 MiB/s to
    // each peer): a peer that does not deliver what it announced is graylisted by
    // gossip, and a flood that gets its sender banned is no longer a flood.
    let proposal_flood = {
        let (network, flooding, sent) = (network.clone(), flooding.clone(), sent.clone());
        let (chain_id, set, consensus3, next_height) = (
            chain_id.clone(),
            set.clone(),
            consensus3.clone(),
            next_height.clone(),
        );
        runtime.spawn(async move {
            let mut counter = 0u64;
            while flooding.load(Ordering::Relaxed) {
                counter += 1;
                let at = next_height.load(Ordering::Relaxed) + counter % 2;
                // One proposal per round (no equivocation), rounds rising.
                let base = u32::try_from(4 * counter).unwrap_or(u32::MAX - 8);
                let Some(round) = (base..base.saturating_add(4))
                    .find(|r| set.proposer(at, *r).map(|m| m.operator) == Some(operator3))
                else {
                    continue;
                };
                let mut block = template.clone();
                block.header.height = at;
                block.header.time_ms = block.header.time_ms.wrapping_add(counter);
                let proposal = Vote {
                    height: at,
                    round,
                    kind: VoteKind::Proposal,
                    block: Some(block.hash()),
                    valid_round: None,
                }
                .sign(&chain_id, operator3, &consensus3);
                let message = ConsensusMessage::Proposal {
                    proposal,
                    block: Box::new(block),
                    proof: Vec::new(),
                };
                let resent = ConsensusMessage::Resent {
                    statements: vec![message.clone()],
                    sent_at_ms: counter,
                };
                for message in [message, resent] {
                    if network
                        .publish(Topic::Consensus, codec::encode(&message))
                        .await
                        .is_ok()
                    {
                        sent.fetch_add(1, Ordering::Relaxed);
                    }
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
    };
    // Transactions with valid signatures that the others admit to gossip and refuse.
    let tx_flood = {
        let (network, flooding, sent) = (network.clone(), flooding.clone(), sent.clone());
        let chain_id = chain_id.clone();
        runtime.spawn(async move {
            let signer = SigningKey::from_seed(&[0xb2; 32]);
            let mut nonce = 1_000_000u64;
            while flooding.load(Ordering::Relaxed) {
                nonce += 1;
                let tx = Transaction {
                    chain_id: chain_id.clone(),
                    sender: signer.public_key(),
                    nonce,
                    payload: Payload::Bond { amount: 1 },
                }
                .sign(&signer);
                if network
                    .publish(Topic::Transactions, codec::encode(&tx))
                    .await
                    .is_ok()
                {
                    sent.fetch_add(1, Ordering::Relaxed);
                }
            }
        })
    };
    // Sync requests, many at once, to every peer.
    let sync_floods: Vec<_> = (0..8)
        .map(|_| {
            let (network, flooding, sent) = (network.clone(), flooding.clone(), sent.clone());
            runtime.spawn(async move {
                while flooding.load(Ordering::Relaxed) {
                    for peer in network.peers().await.unwrap_or_default() {
                        let request = SyncRequest::Blocks { from: 1, count: 64 };
                        let _ = tokio::time::timeout(
                            Duration::from_millis(500),
                            network.sync_request(peer, request),
                        )
                        .await;
                        sent.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();

    // Watch memory while the flood runs.
    let pids: Vec<u32> = (0..3).map(|i| net.pid(i).unwrap()).collect();
    let mut peak = vec![0u64; 3];
    while started.elapsed() < FLOOD {
        for (i, pid) in pids.iter().enumerate() {
            if let Some(mb) = rss_mb(*pid) {
                peak[i] = peak[i].max(mb);
            }
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    let heights_after: Vec<u64> = (0..3).map(|i| net.height(i).unwrap()).collect();
    flooding.store(false, Ordering::Relaxed);
    runtime.block_on(async {
        let _ = follower.await;
        let _ = proposal_flood.await;
        for flood in vote_floods {
            let _ = flood.await;
        }
        let _ = tx_flood.await;
        for flood in sync_floods {
            let _ = flood.await;
        }
    });
    let counters: Vec<String> = (0..3)
        .map(|i| {
            let url = format!("{}/metrics", net.nodes[i].api);
            let text = ureq::get(&url)
                .call()
                .ok()
                .and_then(|r| r.into_string().ok())
                .unwrap_or_default();
            text.lines()
                .filter(|l| {
                    [
                        "mpms_gossip_accepted",
                        "mpms_gossip_rejected",
                        "mpms_gossip_shed",
                        "mpms_sync_refused",
                        "mpms_peers_banned",
                    ]
                    .iter()
                    .any(|m| l.starts_with(m))
                })
                .collect::<Vec<_>>()
                .join(", ")
        })
        .collect();
    println!(
        "{} s of flood, {} messages and requests sent; heights {heights_before:?} -> {heights_after:?}; peak RSS (MiB) {peak:?}; driver's peers at the end: {}",
        FLOOD.as_secs(),
        sent.load(Ordering::Relaxed),
        runtime.block_on(network.peers()).map(|p| p.len()).unwrap_or(0)
    );
    for (i, c) in counters.iter().enumerate() {
        println!("validator {i}: {c}");
        for line in net
            .log(i)
            .lines()
            .filter(|l| l.contains("banning") || l.contains("Penalty"))
            .take(20)
        {
            println!("  {line}");
        }
    }
    assert!(
        sent.load(Ordering::Relaxed) > 1_000,
        "the flood did not happen"
    );
    for i in 0..3 {
        assert!(
            heights_after[i] >= heights_before[i] + 10,
            "validator {i} stopped finalizing under the flood: {} -> {}",
            heights_before[i],
            heights_after[i]
        );
        assert!(
            peak[i] <= RSS_BOUND_MB,
            "validator {i} used {} MiB (bound {RSS_BOUND_MB})",
            peak[i]
        );
    }
    // And they agree.
    let h = heights_after.iter().min().copied().unwrap();
    net.assert_identical(&[0, 1, 2], h);
    runtime.block_on(network.shutdown());
}
