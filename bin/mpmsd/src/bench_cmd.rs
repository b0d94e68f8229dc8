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
use mpms_bench::run::{run_step, StepConfig};
use mpms_bench::workload::{Actors, Mix};
use mpms_bench::{setup, verify};
use mpms_ledger::Params;
use mpms_node::testnet::TestnetExtras;

/// `mpmsd bench`.
#[derive(Subcommand)]
pub enum BenchCommand {
    /// Starts a network of real mpmsd processes on 127.0.0.1 (each with its own
    /// RocksDB and libp2p), loads it at a fixed rate, reports, and stops it.
    Local(LocalArgs),
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
    #[arg(long, default_value_t = 200.0)]
    rate: f64,
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
    /// No live progress line.
    #[arg(long)]
    no_progress: bool,
}

pub fn run(command: BenchCommand) -> anyhow::Result<()> {
    match command {
        BenchCommand::Local(args) => local(args),
    }
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
    let config = StepConfig {
        rate: args.rate,
        duration: Duration::from_secs(args.duration),
        warmup: Duration::from_secs(args.warmup),
        drain: Duration::from_secs(args.drain),
        mix: args.mix,
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
            let from = apis[0].get_json("/v1/blocks/latest").await?["header"]["height"]
                .as_u64()
                .unwrap_or(0)
                + 1;
            let before = network.usage();
            let actors = Arc::new(Mutex::new(actors));
            let result = run_step(&apis, actors, config).await?;
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
            std::fs::write(args.out.join("summary.txt"), &text)?;
            report::write_csv(&result, &args.out.join("samples.csv"))?;
            println!("samples: {}", args.out.join("samples.csv").display());
            anyhow::Ok(())
        }
        .await;
        network.stop();
        outcome
    })
}
