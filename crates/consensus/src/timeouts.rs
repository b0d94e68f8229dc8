//! Round timeouts: they grow with the round, so that after the network stabilizes
//! (partial synchrony) a round eventually lasts long enough to decide, but they stay
//! bounded so a long outage never leaves a node waiting for hours.

use std::time::Duration;

/// Timeout settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timeouts {
    /// Wait for a proposal in round 0 (before the heartbeat is added).
    pub propose: Duration,
    /// Wait for more prevotes once any 2/3 arrived.
    pub prevote: Duration,
    /// Wait for more precommits once any 2/3 arrived.
    pub precommit: Duration,
    /// Added per round.
    pub delta: Duration,
    /// Upper bound for any single timeout.
    pub max: Duration,
    /// Longest a proposer waits for transactions before proposing an empty block;
    /// added to round 0's propose timeout so the others wait for it.
    pub heartbeat: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            propose: Duration::from_millis(1_000),
            prevote: Duration::from_millis(500),
            precommit: Duration::from_millis(500),
            delta: Duration::from_millis(500),
            max: Duration::from_secs(30),
            heartbeat: Duration::from_secs(5),
        }
    }
}

impl Timeouts {
    fn grow(&self, base: Duration, round: u32) -> Duration {
        base.saturating_add(self.delta.saturating_mul(round))
            .min(self.max)
    }

    /// How long to wait for the proposal of `round`.
    pub fn propose(&self, round: u32) -> Duration {
        let t = self.grow(self.propose, round);
        if round == 0 {
            t.saturating_add(self.heartbeat)
        } else {
            t
        }
    }

    /// How long to wait after 2/3 prevotes of `round`.
    pub fn prevote(&self, round: u32) -> Duration {
        self.grow(self.prevote, round)
    }

    /// How long to wait after 2/3 precommits of `round`.
    pub fn precommit(&self, round: u32) -> Duration {
        self.grow(self.precommit, round)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grow_but_stay_bounded() {
        let t = Timeouts::default();
        assert!(t.prevote(1) > t.prevote(0));
        assert_eq!(t.prevote(10_000), t.max);
        assert_eq!(t.propose(0), t.propose + t.heartbeat);
        assert_eq!(t.propose(u32::MAX), t.max);
    }
}
