//! Counters the node exports (peers, messages in and out per topic, rejections).

use std::sync::atomic::{AtomicU64, Ordering};

use crate::Topic;

/// Network counters, updated by the swarm task and read by anyone.
#[derive(Debug, Default)]
pub struct NetworkMetrics {
    /// Peers currently connected.
    pub peers: AtomicU64,
    /// Messages published by this node, per topic ([`Topic::index`]).
    pub published: [AtomicU64; 3],
    /// Messages received and accepted, per topic.
    pub accepted: [AtomicU64; 3],
    /// Messages received and rejected as invalid, per topic.
    pub rejected: [AtomicU64; 3],
    /// Valid messages dropped before the node took them (its event queue was full),
    /// per topic.
    pub dropped: [AtomicU64; 3],
    /// Peers disconnected and banned for repeated invalid messages or lies.
    pub banned: AtomicU64,
    /// Connections refused because the peer is not admitted.
    pub refused: AtomicU64,
    /// Connections this node dialed that the peer closed before identifying itself
    /// (this node is most likely not admitted by that peer).
    pub refused_by_peers: AtomicU64,
    /// Block-sync requests served.
    pub sync_served: AtomicU64,
    /// Block-sync requests dropped: the peer was over its budget.
    pub sync_refused: AtomicU64,
    /// Gossip messages dropped unvalidated: the sending peer had its share of the
    /// validation queue.
    pub gossip_shed: AtomicU64,
    /// Offences counted against peers outside gossip: a fetched block that was not
    /// the one asked for, or lacked its content.
    pub penalized: AtomicU64,
}

/// A point-in-time copy of [`NetworkMetrics`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetricsSnapshot {
    /// Peers connected.
    pub peers: u64,
    /// Published per topic.
    pub published: [u64; 3],
    /// Accepted per topic.
    pub accepted: [u64; 3],
    /// Rejected per topic.
    pub rejected: [u64; 3],
    /// Dropped on a full event queue, per topic.
    pub dropped: [u64; 3],
    /// Peers banned.
    pub banned: u64,
    /// Connections refused.
    pub refused: u64,
    /// Connections refused by peers.
    pub refused_by_peers: u64,
    /// Sync requests served.
    pub sync_served: u64,
    /// Sync requests over a peer's budget.
    pub sync_refused: u64,
    /// Gossip dropped over a peer's budget.
    pub gossip_shed: u64,
    /// Offences counted outside gossip.
    pub penalized: u64,
}

impl NetworkMetrics {
    pub(crate) fn add(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn topic(counters: &[AtomicU64; 3], topic: Topic) {
        Self::add(&counters[topic.index()]);
    }

    /// Reads every counter.
    pub fn snapshot(&self) -> MetricsSnapshot {
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let each = |cs: &[AtomicU64; 3]| [load(&cs[0]), load(&cs[1]), load(&cs[2])];
        MetricsSnapshot {
            peers: load(&self.peers),
            published: each(&self.published),
            accepted: each(&self.accepted),
            rejected: each(&self.rejected),
            dropped: each(&self.dropped),
            banned: load(&self.banned),
            refused: load(&self.refused),
            refused_by_peers: load(&self.refused_by_peers),
            sync_served: load(&self.sync_served),
            sync_refused: load(&self.sync_refused),
            gossip_shed: load(&self.gossip_shed),
            penalized: load(&self.penalized),
        }
    }
}
