//! The simulated back end: the deterministic simulator (every node the node's own
//! core, in virtual time) at any size, with a WAN model per hop. It models network
//! delay, not CPU: confirmation latency is its figure; submission and retrieval,
//! which are CPU and loopback on a real node, are measured by the local back end.
//! Its clients issue credentials (or register subjects): see [`Workload`].

use std::time::{Duration, Instant};

use mpms_ledger::params::ConsensusTiming;
pub use mpms_sim::{Latency, Workload};
use mpms_sim::{SimConfig, Simulation};

use crate::stats::Summary;

/// A simulated network and its load.
#[derive(Debug, Clone)]
pub struct SimOptions {
    /// Nodes in all.
    pub nodes: usize,
    /// Validators among them (a full mesh for consensus traffic); the others are
    /// full nodes on a gossip overlay.
    pub validators: usize,
    /// One hop's delay.
    pub link: Latency,
    /// Transactions per virtual second.
    pub rate: f64,
    /// What they are.
    pub workload: Workload,
    /// Run until every node has committed this many blocks.
    pub blocks: u64,
    /// The seed (same seed, same run).
    pub seed: u64,
    /// The chain's consensus timing.
    pub timing: ConsensusTiming,
}

/// What a simulated run measured.
#[derive(Debug, Clone)]
pub struct SimResult {
    /// The options.
    pub options: SimOptions,
    /// Submission to commit at the node it was submitted to.
    pub confirmation: Option<Summary>,
    /// Between consecutive blocks.
    pub block_interval: Option<Summary>,
    /// Virtual time simulated.
    pub virtual_time: Duration,
    /// Events processed.
    pub events: u64,
    /// Wall time of the run.
    pub wall: Duration,
}

fn ms(v: f64) -> Duration {
    Duration::from_secs_f64(v.max(0.0) / 1_000.0)
}

/// Runs the simulation.
pub fn run(options: &SimOptions) -> Result<SimResult, String> {
    if options.validators == 0 || options.validators > options.nodes {
        return Err(format!(
            "{} validators among {} nodes: at least one, at most all",
            options.validators, options.nodes
        ));
    }
    if options.nodes > 10_000 {
        return Err("at most 10,000 simulated nodes".into());
    }
    let mut config = SimConfig::new(options.seed, options.validators);
    config.full_nodes = options.nodes - options.validators;
    config.latency = options.link;
    config.tx_per_second = options.rate;
    config.workload = options.workload;
    config.target_height = options.blocks;
    config.max_virtual_ms = 3_600_000;
    config.timing = options.timing.clone();
    let started = Instant::now();
    let report = Simulation::new(config).run().map_err(|e| e.to_string())?;
    let wall = started.elapsed();
    let confirmations: Vec<Duration> = report.confirmations_ms.iter().map(|v| ms(*v)).collect();
    let times: Vec<f64> = report.commit_times_ms.values().copied().collect();
    let intervals: Vec<Duration> = times.windows(2).map(|w| ms(w[1] - w[0])).collect();
    Ok(SimResult {
        options: options.clone(),
        confirmation: Summary::of(&confirmations),
        block_interval: Summary::of(&intervals),
        virtual_time: Duration::from_millis(report.virtual_ms),
        events: report.events,
        wall,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn a_small_simulated_network_reports_its_latency() {
        let options = SimOptions {
            nodes: 10,
            validators: 4,
            link: Latency {
                base_ms: 25.0,
                jitter: 0.1,
            },
            rate: 50.0,
            workload: Workload::Issuances { subjects: 8 },
            blocks: 60,
            seed: 7,
            timing: ConsensusTiming {
                heartbeat_ms: 2_000,
                min_block_interval_ms: 50,
                ..ConsensusTiming::default()
            },
        };
        let result = run(&options).unwrap();
        let c = result.confirmation.unwrap();
        // Three message delays of ≈ 25 ms at least; far below a second.
        assert!(c.p50 >= Duration::from_millis(70), "{c:?}");
        assert!(c.p99 < Duration::from_secs(1), "{c:?}");
        // Same seed, same figures.
        let again = run(&options).unwrap();
        assert_eq!(again.confirmation, result.confirmation);
        assert!(run(&SimOptions {
            validators: 11,
            ..options
        })
        .is_err());
    }
}
