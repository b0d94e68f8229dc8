//! Per-peer budgets: how much of this node's work one peer may hold at a time. A peer
//! over its budget has its further messages or requests dropped (not counted as
//! offences: it may only be fast), so no peer can fill a queue that others need.

use std::collections::HashMap;
use std::time::Instant;

use crate::PeerId;

/// Most of one peer's gossip messages awaiting validation at a time.
pub const GOSSIP_PENDING_MESSAGES: usize = 1_024;

/// Most of one peer's sync requests being answered at a time.
pub const SYNC_IN_FLIGHT: usize = 2;

/// Gossip awaiting validation: each peer's at most [`GOSSIP_PENDING_MESSAGES`]
/// messages and twice the largest message in bytes, and everyone's at most a total
/// of bytes (so that many peers together cannot hold more either).
#[derive(Debug)]
pub struct GossipBudget {
    max_bytes: usize,
    max_total_bytes: usize,
    total_bytes: usize,
    pending: HashMap<PeerId, (usize, usize)>,
}

impl GossipBudget {
    /// A budget for messages of at most `max_message_bytes`, `max_total_bytes` in
    /// all.
    pub fn new(max_message_bytes: usize, max_total_bytes: usize) -> GossipBudget {
        GossipBudget {
            max_bytes: max_message_bytes.saturating_mul(2),
            max_total_bytes,
            total_bytes: 0,
            pending: HashMap::new(),
        }
    }

    /// Takes room for a message of `bytes` from `peer`; false if over its budget or
    /// the total.
    pub fn take(&mut self, peer: PeerId, bytes: usize) -> bool {
        let (count, used) = self.pending.get(&peer).copied().unwrap_or((0, 0));
        if count >= GOSSIP_PENDING_MESSAGES
            || used.saturating_add(bytes) > self.max_bytes
            || self.total_bytes.saturating_add(bytes) > self.max_total_bytes
        {
            return false;
        }
        self.pending.insert(peer, (count + 1, used + bytes));
        self.total_bytes += bytes;
        true
    }

    /// Gives back the room of a message of `bytes` from `peer` once judged.
    pub fn give_back(&mut self, peer: PeerId, bytes: usize) {
        if let Some((count, used)) = self.pending.get_mut(&peer) {
            *count = count.saturating_sub(1);
            *used = used.saturating_sub(bytes);
            self.total_bytes = self.total_bytes.saturating_sub(bytes);
            if *count == 0 {
                self.pending.remove(&peer);
            }
        }
    }

    /// Messages awaiting validation, over all peers.
    pub fn pending(&self) -> usize {
        self.pending.values().map(|(count, _)| count).sum()
    }
}

/// Each peer's sync requests: a token bucket of `per_sec` requests a second (bursts
/// of as many), and at most [`SYNC_IN_FLIGHT`] being answered.
#[derive(Debug)]
pub struct SyncBudget {
    per_sec: f64,
    peers: HashMap<PeerId, Bucket>,
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
    in_flight: usize,
}

/// Peers whose sync budget is remembered; beyond it, idle ones are forgotten.
const MAX_SYNC_PEERS: usize = 4_096;

impl SyncBudget {
    /// A budget of `per_sec` requests a second per peer.
    pub fn new(per_sec: u32) -> SyncBudget {
        SyncBudget {
            per_sec: f64::from(per_sec.max(1)),
            peers: HashMap::new(),
        }
    }

    /// Takes one request of `peer` at `now`; false if over its budget.
    pub fn take(&mut self, peer: PeerId, now: Instant) -> bool {
        if self.peers.len() >= MAX_SYNC_PEERS && !self.peers.contains_key(&peer) {
            self.peers.retain(|_, b| b.in_flight > 0);
        }
        let burst = self.per_sec;
        let bucket = self.peers.entry(peer).or_insert(Bucket {
            tokens: burst,
            at: now,
            in_flight: 0,
        });
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * self.per_sec).min(burst);
        bucket.at = now;
        if bucket.in_flight >= SYNC_IN_FLIGHT || bucket.tokens < 1.0 {
            return false;
        }
        bucket.tokens -= 1.0;
        bucket.in_flight += 1;
        true
    }

    /// One request of `peer` was answered.
    pub fn done(&mut self, peer: PeerId) {
        if let Some(bucket) = self.peers.get_mut(&peer) {
            bucket.in_flight = bucket.in_flight.saturating_sub(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn gossip_budget_bounds_count_and_bytes_per_peer() {
        let (a, b) = (PeerId::random(), PeerId::random());
        let mut budget = GossipBudget::new(1_000, 1 << 20);
        assert!(budget.take(a, 1_500));
        assert!(!budget.take(a, 600), "over twice the largest message");
        assert!(budget.take(b, 600), "another peer has its own share");
        budget.give_back(a, 1_500);
        assert!(budget.take(a, 600));
        let mut budget = GossipBudget::new(1 << 20, 1 << 30);
        for _ in 0..GOSSIP_PENDING_MESSAGES {
            assert!(budget.take(a, 1));
        }
        assert!(!budget.take(a, 1));
        assert_eq!(budget.pending(), GOSSIP_PENDING_MESSAGES);
    }

    /// Many peers, each within its share, cannot together hold more than the total.
    #[test]
    fn gossip_budget_bounds_the_total_bytes() {
        let mut budget = GossipBudget::new(1_000, 5_000);
        let peers: Vec<PeerId> = (0..10).map(|_| PeerId::random()).collect();
        let taken = peers.iter().filter(|p| budget.take(**p, 1_000)).count();
        assert_eq!(taken, 5);
        budget.give_back(peers[0], 1_000);
        assert!(budget.take(peers[9], 1_000));
    }

    #[test]
    fn sync_budget_is_a_rate_and_an_in_flight_bound() {
        let peer = PeerId::random();
        let start = Instant::now();
        let mut budget = SyncBudget::new(4);
        // Two in flight at most.
        assert!(budget.take(peer, start));
        assert!(budget.take(peer, start));
        assert!(!budget.take(peer, start));
        budget.done(peer);
        budget.done(peer);
        // The burst of four is spent after two more.
        assert!(budget.take(peer, start));
        budget.done(peer);
        assert!(budget.take(peer, start));
        budget.done(peer);
        assert!(!budget.take(peer, start));
        // A quarter of a second later one more request is allowed.
        assert!(budget.take(peer, start + Duration::from_millis(250)));
    }
}
