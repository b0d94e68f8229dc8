//! `mpmsd bench`: submission, confirmation and retrieval latency and throughput of
//! a network under an open-loop load (see the `mpms-bench` crate).

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use mpms_bench::api::Api;
use mpms_bench::local::{sibling_binary, LocalNetwork, LocalOptions};
use mpms_bench::report::{self, NodeUsage};
use mpms_bench::run::{ms, run_step, StepConfig};
use mpms_bench::simulated::{self, Latency, SimOptions};
use mpms_bench::workload::{Actors, Mix};
use mpms_bench::{setup, verify};
use mpms_ledger::params::ConsensusTiming;
use mpms_ledger::Params;

use mpms_node::testnet::TestnetExtras;

/// `mpmsd bench`.
#[derive(Subcommand)]
pub enum BenchCommand {
    /// Starts a network of real mpmsd processes on 127.0.0.1 (each with its own
    /// RocksDB and libp2p), loads it at a fixed rate, reports, and stops it.
    Local(LocalArgs),
    /// Runs the deterministic simulator (every node the node's own core, in virtual
    /// time, with a per-hop network delay) at one or more network sizes.
    Sim(SimArgs),
}

/// `mpmsd bench sim`.
#[derive(Args)]
pub struct SimArgs {
    /// Network sizes (nodes in all), comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "10,50,100,1000")]
    nodes: Vec<usize>,
    /// Validators in each network (the rest are full nodes).
    #[arg(long, default_value_t = 16)]
    validators: usize,
    /// Mean one-hop delay, ms.
    #[arg(long, default_value_t = 25.0)]
    link_ms: f64,
    /// Relative spread of the delay (0.1 = ±10 %).
    #[arg(long, default_value_t = 0.1)]
    jitter: f64,
    /// Transactions per virtual second.
    #[arg(long, default_value_t = 50.0)]
    rate: f64,
    /// Blocks every node must commit.
    #[arg(long, default_value_t = 100)]
    blocks: u64,
    /// The chain's minimum block interval, ms.
    #[arg(long, default_value_t = 50)]
    min_block_interval_ms: u64,
    /// The seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

/// `mpmsd bench local`.
#[derive(Args)]
pub struct LocalArgs {
    /// Validators.
    #[arg(long, default_value_t = 4)]
    validators: usize,
    /// Full nodes (clients send to every node in turn).
    #[arg(long, default_value_t = 0)]
    full_nodes: usize,
    /// Sends per second, all nodes together (open loop: kept whatever the latency).
    /// Several rates, comma-separated, run as steps one after another on the same
    /// network.
    #[arg(long, value_delimiter = ',', default_value = "200")]
    rate: Vec<f64>,
    /// Stop stepping once a step's confirmation p99 exceeds this (ms): finds the
    /// highest rate the network sustains under that bound.
    #[arg(long)]
    max_p99_ms: Option<f64>,
    /// Seconds measured.
    #[arg(long, default_value_t = 30)]
    duration: u64,
    /// Seconds of warm-up before, sent at the same rate and discarded.
    #[arg(long, default_value_t = 5)]
    warmup: u64,
    /// Operation weights: issue (a certifier issues a credential), grant (a subject
    /// grants access to one it holds), query (a credential read by id).
    #[arg(long, default_value = "issue=8,grant=1,query=1")]
    mix: Mix,
    /// Certifiers (accredited in the genesis); each account has at most 128
    /// transactions pending, so high rates need more of them.
    #[arg(long, default_value_t = 32)]
    certifiers: usize,
    /// Subjects (registered before the step).
    #[arg(long, default_value_t = 256)]
    subjects: usize,
    /// Node i uses ports base-port + 10 i to + 2.
    #[arg(long, default_value_t = 27_000)]
    base_port: u16,
    /// Seconds a transaction may take to be confirmed after the last send.
    #[arg(long, default_value_t = 30)]
    drain: u64,
    /// Results directory (must not exist or be empty): the network's homes and
    /// logs, samples.csv (every send), summary.txt.
    #[arg(long)]
    out: PathBuf,
    /// The chain's minimum block interval, ms (a genesis parameter: a transaction
    /// waits for the next block at most this long).
    #[arg(long, default_value_t = 50)]
    min_block_interval_ms: u64,
    /// No live progress line.
    #[arg(long)]
    no_progress: bool,
}

pub fn run(command: BenchCommand) -> anyhow::Result<()> {
    match command {
        BenchCommand::Local(args) => local(args),
        BenchCommand::Sim(args) => sim(args),
    }
}

fn sim(args: SimArgs) -> anyhow::Result<()> {
    if !(0.0..=10_000.0).contains(&args.link_ms) || !(0.0..1.0).contains(&args.jitter) {
        bail!("the link delay is 0 to 10,000 ms and the jitter 0 to below 1");
    }
    if !(args.rate > 0.0 && args.rate <= 100_000.0) {
        bail!("the rate is above 0 and at most 100,000 a second");
    }
    println!(
        "| nodes | validators | confirmation p50 / p90 / p99 / max | block interval p50 | virtual time | events | wall time |"
    );
    println!("|---|---|---|---|---|---|---|");
    for nodes in args.nodes {
        let options = SimOptions {
            nodes,
            validators: args.validators.min(nodes),
            link: Latency {
                base_ms: args.link_ms,
                jitter: args.jitter,
            },
            rate: args.rate,
            blocks: args.blocks,
            seed: args.seed,
            timing: ConsensusTiming {
                heartbeat_ms: 2_000,
                min_block_interval_ms: args.min_block_interval_ms,
                ..ConsensusTiming::default()
            },
        };
        let r = simulated::run(&options).map_err(|e| anyhow::anyhow!("{nodes} nodes: {e}"))?;
        let c = r.confirmation.map_or("–".to_string(), |c| {
            format!(
                "{:.0} / {:.0} / {:.0} / {:.0} ms",
                ms(c.p50),
                ms(c.p90),
                ms(c.p99),
                ms(c.max)
            )
        });
        println!(
            "| {nodes} | {} | {c} | {} | {:.1} s | {} | {:.1} s |",
            options.validators,
            r.block_interval
                .map_or("–".to_string(), |b| format!("{:.0} ms", ms(b.p50))),
            r.virtual_time.as_secs_f64(),
            r.events,
            r.wall.as_secs_f64()
        );
    }
    Ok(())
}

fn local(args: LocalArgs) -> anyhow::Result<()> {
    if args.out.exists() && std::fs::read_dir(&args.out)?.next().is_some() {
        bail!("{} is not empty", args.out.display());
    }
    if args.certifiers == 0 || args.subjects == 0 {
        bail!("a benchmark needs at least one certifier and one subject");
    }
    if args.certifiers > 10_000 || args.subjects > 100_000 {
        bail!("at most 10,000 certifiers and 100,000 subjects");
    }
    std::fs::create_dir_all(&args.out)?;
    let bin = sibling_binary().context("cannot find the mpmsd binary")?;
    let chain_id = "mpms-bench";
    let mut actors = Actors::generate(chain_id, args.certifiers, args.subjects);
    let now_ms = mpms_node::runtime::now_ms();
    let extras = TestnetExtras {
        organizations: vec![actors.genesis_verifier()],
        certifiers: actors.genesis_certifiers(Params::default().min_certifier_stake, now_ms),
        // Registration is not what is measured: a cheap proof of work.
        account_creation_work_bits: Some(8),
        min_block_interval_ms: Some(args.min_block_interval_ms),
        // Every client is on 127.0.0.1: the per-address limit would measure itself.
        max_submissions_per_sec: Some(1_000_000),
    };
    let options = LocalOptions {
        dir: args.out.join("network"),
        bin,
        validators: args.validators,
        full_nodes: args.full_nodes,
        base_port: args.base_port,
        chain_id: chain_id.to_string(),
    };
    if args.rate.is_empty() || args.rate.iter().any(|r| !(*r > 0.0 && *r <= 1_000_000.0)) {
        bail!("every rate is above 0 and at most 1,000,000 a second");
    }
    let step = |rate: f64| StepConfig {
        rate,
        duration: Duration::from_secs(args.duration),
        warmup: Duration::from_secs(args.warmup),
        drain: Duration::from_secs(args.drain),
        mix: args.mix.clone(),
        progress: !args.no_progress,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        println!(
            "starting {} validators and {} full nodes under {}",
            args.validators,
            args.full_nodes,
            options.dir.display()
        );
        let mut network = LocalNetwork::start(&options, &extras)?;
        let outcome = async {
            network.wait_ready(Duration::from_secs(120)).await?;
            let apis: Vec<Api> = network
                .nodes
                .iter()
                .map(|n| Api::new(&n.api, Duration::from_secs(10)))
                .collect();
            println!(
                "registering {} subjects and {} schemas",
                args.subjects, args.certifiers
            );
            setup::register(&apis[0], &mut actors, Duration::from_secs(120))
                .await
                .context("setting up the benchmark's accounts")?;
            let actors = Arc::new(Mutex::new(actors));
            let mut results = Vec::new();
            let mut summaries = String::new();
            for &rate in &args.rate {
                let from = apis[0].get_json("/v1/blocks/latest").await?["header"]["height"]
                    .as_u64()
                    .unwrap_or(0)
                    + 1;
                let before = network.usage();
                let result = run_step(&apis, actors.clone(), step(rate)).await?;
                let after = network.usage();
                let usage: Vec<NodeUsage> = network
                    .nodes
                    .iter()
                    .zip(before.into_iter().zip(after))
                    .filter_map(|(n, (b, a))| Some(NodeUsage::between(&n.moniker, b?, a?)))
                    .collect();
                let verified = verify::against_chain(&apis[0], &result, from)
                    .await
                    .map_err(|e| anyhow::anyhow!("verification: {e}"))?;
                let mut text = report::summary(&result, &usage);
                text.push_str(&format!(
                    "  verified      {} transactions in {} blocks, each counted once\n",
                    verified.committed, verified.blocks
                ));
                print!("{text}");
                summaries.push_str(&text);
                std::fs::write(args.out.join("summary.txt"), &summaries)?;
                let csv = if args.rate.len() == 1 {
                    args.out.join("samples.csv")
                } else {
                    args.out.join(format!("samples-{rate}.csv"))
                };
                report::write_csv(&result, &csv)?;
                println!("samples: {}", csv.display());
                let p99 = result.confirmation().map_or(f64::INFINITY, |c| ms(c.p99));
                results.push(result);
                if args.max_p99_ms.is_some_and(|bound| p99 > bound) {
                    println!("confirmation p99 {p99:.0} ms is above the bound: stepping stops");
                    break;
                }
            }
            if results.len() > 1 {
                let rows: Vec<(String, &mpms_bench::run::StepResult)> = results
                    .iter()
                    .map(|r| (format!("{:.0}/s", r.config.rate), r))
                    .collect();
                let table = report::size_table("rate", &rows);
                print!("{table}");
                summaries.push_str(&table);
                std::fs::write(args.out.join("summary.txt"), &summaries)?;
            }
            anyhow::Ok(())
        }
        .await;
        network.stop();
        outcome
    })
}
