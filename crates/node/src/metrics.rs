//! The node's Prometheus metrics (served at `/metrics`).

use std::sync::Arc;

use mpms_ledger::execute::Event;
use mpms_network::{NetworkMetrics, Topic};
use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use mpms_core::Committed;

/// A label naming an authority (its operator account).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AuthorityLabel {
    /// The operator account id.
    pub authority: String,
}

/// A label naming a gossip topic.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TopicLabel {
    /// The topic.
    pub topic: String,
}

/// The node's metrics.
pub struct NodeMetrics {
    registry: Registry,
    network: Arc<NetworkMetrics>,
    /// The last finalized height.
    pub height: Gauge,
    /// The height being decided.
    pub next_height: Gauge,
    /// The consensus round of the height being decided.
    pub round: Gauge,
    /// Connected peers.
    pub peers: Gauge,
    /// Transactions in the mempool.
    pub mempool_transactions: Gauge,
    /// Bytes in the mempool.
    pub mempool_bytes: Gauge,
    /// Time from submission at this node to commit.
    pub confirmation_seconds: Histogram,
    /// Rounds an authority was the proposer of and the height was not decided in.
    pub proposals_missed: Family<AuthorityLabel, Counter>,
    /// Evidence executed on chain (authorities slashed).
    pub evidence: Counter,
    /// Transactions committed.
    pub transactions: Counter,
    gossip_published: Family<TopicLabel, Gauge>,
    gossip_accepted: Family<TopicLabel, Gauge>,
    gossip_rejected: Family<TopicLabel, Gauge>,
    gossip_dropped: Family<TopicLabel, Gauge>,
    /// Bytes of gossip waiting for the core.
    pub event_queue_bytes: Gauge,
    peers_banned: Gauge,
    gossip_shed: Gauge,
    peers_penalized: Gauge,
    sync_refused: Gauge,
    signatures_verified: Gauge,
    signatures_remembered: Gauge,
}

impl NodeMetrics {
    /// Registers every metric.
    pub fn new(network: Arc<NetworkMetrics>) -> NodeMetrics {
        let mut registry = Registry::with_prefix("mpms");
        let m = NodeMetrics {
            registry: Registry::default(),
            network,
            height: Gauge::default(),
            next_height: Gauge::default(),
            round: Gauge::default(),
            peers: Gauge::default(),
            mempool_transactions: Gauge::default(),
            mempool_bytes: Gauge::default(),
            confirmation_seconds: Histogram::new([0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0]),
            proposals_missed: Family::default(),
            evidence: Counter::default(),
            transactions: Counter::default(),
            gossip_published: Family::default(),
            gossip_accepted: Family::default(),
            gossip_rejected: Family::default(),
            gossip_dropped: Family::default(),
            event_queue_bytes: Gauge::default(),
            peers_banned: Gauge::default(),
            gossip_shed: Gauge::default(),
            peers_penalized: Gauge::default(),
            sync_refused: Gauge::default(),
            signatures_verified: Gauge::default(),
            signatures_remembered: Gauge::default(),
        };
        registry.register(
            "finalized_height",
            "The last finalized (committed) height",
            m.height.clone(),
        );
        registry.register(
            "height",
            "The height being decided (the last finalized height + 1)",
            m.next_height.clone(),
        );
        registry.register(
            "consensus_round",
            "The round of the height being decided",
            m.round.clone(),
        );
        registry.register("peers", "Connected peers", m.peers.clone());
        registry.register(
            "mempool_transactions",
            "Transactions in the mempool",
            m.mempool_transactions.clone(),
        );
        registry.register(
            "mempool_bytes",
            "Bytes of transactions in the mempool",
            m.mempool_bytes.clone(),
        );
        registry.register(
            "transaction_confirmation_seconds",
            "Time from submission at this node to commit",
            m.confirmation_seconds.clone(),
        );
        registry.register(
            "proposals_missed",
            "Rounds in which this authority was proposer and the height was not decided",
            m.proposals_missed.clone(),
        );
        registry.register(
            "evidence",
            "Evidence of misbehaviour executed on chain",
            m.evidence.clone(),
        );
        registry.register(
            "transactions",
            "Transactions committed",
            m.transactions.clone(),
        );
        registry.register(
            "gossip_published",
            "Gossip messages published by this node",
            m.gossip_published.clone(),
        );
        registry.register(
            "gossip_accepted",
            "Gossip messages accepted from peers",
            m.gossip_accepted.clone(),
        );
        registry.register(
            "gossip_rejected",
            "Gossip messages rejected (invalid)",
            m.gossip_rejected.clone(),
        );
        registry.register(
            "gossip_dropped",
            "Valid gossip messages dropped before the core took them: its queue held network.max_queued_bytes",
            m.gossip_dropped.clone(),
        );
        registry.register(
            "event_queue_bytes",
            "Bytes of gossip waiting for the node's core",
            m.event_queue_bytes.clone(),
        );
        registry.register(
            "peers_banned",
            "Peers banned for misbehaviour",
            m.peers_banned.clone(),
        );
        registry.register(
            "gossip_shed",
            "Gossip messages dropped unvalidated: their peer held its share of the validation queue",
            m.gossip_shed.clone(),
        );
        registry.register(
            "peers_penalized",
            "Offences counted against peers outside gossip: a fetched block that was not the one asked for, or lacked its content",
            m.peers_penalized.clone(),
        );
        registry.register(
            "sync_refused",
            "Block-sync requests dropped: their peer was over its budget",
            m.sync_refused.clone(),
        );
        registry.register(
            "signatures_verified",
            "ed25519 signatures checked on the curve (alone or in a batch) since the node started",
            m.signatures_verified.clone(),
        );
        registry.register(
            "signatures_remembered",
            "Signatures found already verified by this node, so not checked again",
            m.signatures_remembered.clone(),
        );
        NodeMetrics { registry, ..m }
    }

    /// Counts what a committed block tells.
    pub fn record_commit(&self, committed: &Committed) {
        let header = &committed.block.header;
        self.height.set(header.height as i64);
        self.transactions
            .inc_by(committed.block.transactions.len() as u64);
        for round in 0..committed.certificate.round {
            if let Some(p) = committed.authorities.proposer(header.height, round) {
                self.proposals_missed
                    .get_or_create(&AuthorityLabel {
                        authority: p.operator.to_string(),
                    })
                    .inc();
            }
        }
        for receipt in &committed.receipts {
            for event in &receipt.events {
                if matches!(event, Event::AuthoritySlashed { .. }) {
                    self.evidence.inc();
                }
            }
        }
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let n = self.network.snapshot();
        for topic in [Topic::Transactions, Topic::Consensus, Topic::Blocks] {
            let label = TopicLabel {
                topic: format!("{topic:?}").to_lowercase(),
            };
            let i = topic.index();
            self.gossip_published
                .get_or_create(&label)
                .set(n.published[i] as i64);
            self.gossip_accepted
                .get_or_create(&label)
                .set(n.accepted[i] as i64);
            self.gossip_rejected
                .get_or_create(&label)
                .set(n.rejected[i] as i64);
            self.gossip_dropped
                .get_or_create(&label)
                .set(n.dropped[i] as i64);
        }
        self.peers_banned.set(n.banned as i64);
        self.gossip_shed.set(n.gossip_shed as i64);
        self.peers_penalized.set(n.penalized as i64);
        self.sync_refused.set(n.sync_refused as i64);
        let checks = mpms_crypto::signature_checks();
        self.signatures_verified.set(checks.verified as i64);
        self.signatures_remembered.set(checks.remembered as i64);
        let mut out = String::new();
        if encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}
