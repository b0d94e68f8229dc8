//! The modeled network: per-link latency drawn from a distribution, message loss,
//! partitions, and a gossip overlay of fixed degree. All randomness comes from the
//! simulation's seeded generator.

use std::collections::BTreeSet;

use rand::Rng;
use rand_chacha::ChaCha20Rng;

/// Per-hop latency: `base_ms` plus or minus up to `jitter` of it, uniformly.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Latency {
    /// Mean one-hop delay in milliseconds.
    pub base_ms: f64,
    /// Relative spread (0.1 = ±10%).
    pub jitter: f64,
}

impl Latency {
    /// Draws one delay in whole microseconds (at least 1).
    pub fn sample_us(&self, rng: &mut ChaCha20Rng) -> u64 {
        let spread = if self.jitter > 0.0 {
            rng.gen_range(-self.jitter..=self.jitter)
        } else {
            0.0
        };
        ((self.base_ms * (1.0 + spread)) * 1_000.0).max(1.0) as u64
    }
}

/// Who can reach whom.
#[derive(Debug, Clone)]
pub struct Topology {
    /// Gossip neighbours of each node (symmetric).
    pub neighbours: Vec<Vec<usize>>,
    /// Partition group of each node; messages cross groups only when healed.
    group: Vec<u32>,
}

impl Topology {
    /// `n` nodes; the first `core` are fully connected with each other (the authority
    /// mesh), and every node gets at least `degree` random neighbours.
    pub fn new(n: usize, core: usize, degree: usize, rng: &mut ChaCha20Rng) -> Topology {
        let mut sets: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); n];
        let core = core.min(n);
        for (a, set) in sets.iter_mut().enumerate().take(core) {
            set.extend((0..core).filter(|b| *b != a));
        }
        if n > 1 {
            // A ring keeps the overlay connected; random links give it a small diameter.
            for a in 0..n {
                let b = (a + 1) % n;
                sets[a].insert(b);
                sets[b].insert(a);
            }
            for a in 0..n {
                while sets[a].len() < degree.min(n - 1) {
                    let b = rng.gen_range(0..n);
                    if b != a {
                        sets[a].insert(b);
                        sets[b].insert(a);
                    }
                }
            }
        }
        Topology {
            neighbours: sets.into_iter().map(|s| s.into_iter().collect()).collect(),
            group: vec![0; n],
        }
    }

    /// Splits the nodes: node `i` goes to `groups[i]`.
    pub fn partition(&mut self, groups: Vec<u32>) {
        self.group = groups;
    }

    /// Removes every partition.
    pub fn heal(&mut self) {
        self.group.iter_mut().for_each(|g| *g = 0);
    }

    /// Whether `a` can currently reach `b`.
    pub fn connected(&self, a: usize, b: usize) -> bool {
        self.group.get(a) == self.group.get(b)
    }
}
