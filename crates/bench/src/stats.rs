//! Latency percentiles.

use std::time::Duration;

/// A latency distribution's summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    /// Samples.
    pub count: usize,
    /// Median.
    pub p50: Duration,
    /// 90th percentile.
    pub p90: Duration,
    /// 99th percentile.
    pub p99: Duration,
    /// Largest sample.
    pub max: Duration,
    /// Arithmetic mean.
    pub mean: Duration,
}

impl Summary {
    /// The summary of `samples`; `None` when there are none. Percentiles are
    /// nearest-rank: the smallest sample that at least p % of the samples do not
    /// exceed (no interpolation, so every figure is a latency that was measured).
    pub fn of(samples: &[Duration]) -> Option<Summary> {
        if samples.is_empty() {
            return None;
        }
        let mut sorted = samples.to_vec();
        sorted.sort_unstable();
        let total: u128 = sorted.iter().map(Duration::as_nanos).sum();
        let mean = total / sorted.len() as u128;
        Some(Summary {
            count: sorted.len(),
            p50: percentile(&sorted, 50.0),
            p90: percentile(&sorted, 90.0),
            p99: percentile(&sorted, 99.0),
            max: sorted[sorted.len() - 1],
            mean: Duration::from_nanos(u64::try_from(mean).unwrap_or(u64::MAX)),
        })
    }
}

/// The nearest-rank `p`-th percentile of `sorted` (ascending, non-empty).
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let n = sorted.len();
    let rank = ((p / 100.0) * n as f64).ceil() as usize;
    sorted[rank.clamp(1, n) - 1]
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    #[test]
    fn percentiles_of_one_to_a_hundred() {
        // Shuffled on purpose: the summary sorts.
        let mut samples: Vec<Duration> = (1..=100).map(ms).collect();
        samples.reverse();
        samples.swap(3, 70);
        let s = Summary::of(&samples).unwrap();
        assert_eq!(s.count, 100);
        assert_eq!(s.p50, ms(50));
        assert_eq!(s.p90, ms(90));
        assert_eq!(s.p99, ms(99));
        assert_eq!(s.max, ms(100));
        assert_eq!(s.mean, Duration::from_micros(50_500));
    }

    #[test]
    fn percentiles_of_small_and_skewed_sets() {
        let one = Summary::of(&[ms(7)]).unwrap();
        assert_eq!((one.p50, one.p99, one.max), (ms(7), ms(7), ms(7)));
        // Ten samples: p50 is the 5th, p90 the 9th, p99 the 10th.
        let ten: Vec<Duration> = [1, 1, 1, 1, 2, 2, 2, 3, 50, 900].map(ms).to_vec();
        let s = Summary::of(&ten).unwrap();
        assert_eq!(
            (s.p50, s.p90, s.p99, s.max),
            (ms(2), ms(50), ms(900), ms(900))
        );
        assert!(Summary::of(&[]).is_none());
    }
}
