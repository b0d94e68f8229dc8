//! `mpmsd bench`: submission, confirmation and retrieval latency and throughput of
//! a network under an open-loop load (see the `mpms-bench` crate).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use mpms_bench::api::Api;
use mpms_bench::local::Usage;
use mpms_bench::local::{sibling_binary, LocalNetwork, LocalOptions};
use mpms_bench::report::{self, NodeUsage};
use mpms_bench::run::{ms, run_step, StepConfig, StepResult};
use mpms_bench::simulated::{self, Latency, SimOptions, Workload};
use mpms_bench::workload::{Actors, Mix};
use mpms_bench::{setup, verify};
use mpms_ledger::params::ConsensusTiming;
use mpms_ledger::Params;

use mpms_node::keys::AccountKeys;
use mpms_node::testnet::TestnetExtras;

/// `mpmsd bench`.
#[derive(Subcommand)]
pub enum BenchCommand {
    /// Starts a network of real mpmsd processes on 127.0.0.1 (each with its own
    /// RocksDB and libp2p), loads it at a fixed rate, reports, and stops it.
    Local(LocalArgs),
    /// Loads an existing network (a consortium testnet on real machines) through
    /// its nodes' APIs, with certifiers it has accredited.
    Remote(RemoteArgs),
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
    /// What the clients submit: `issue` (a certifier issues credentials to
    /// --subjects subjects registered first, through one validator) or `register`
    /// (each transaction registers a subject, through a random validator).
    #[arg(long, default_value = "issue")]
    workload: String,
    /// Subjects of the issue workload.
    #[arg(long, default_value_t = 256)]
    subjects: u64,
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

/// The load and the results: shared by the local and remote back ends.
#[derive(Args)]
pub struct LoadArgs {
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
    /// Subjects (registered before the first step).
    #[arg(long, default_value_t = 256)]
    subjects: usize,
    /// Seconds a transaction may take to be confirmed after the last send.
    #[arg(long, default_value_t = 30)]
    drain: u64,
    /// Results directory (must not exist or be empty): summary.txt, every send as
    /// CSV (samples.csv, or samples-<rate>.csv per step) and its chart (.png:
    /// latency over time and the cumulative distribution).
    #[arg(long)]
    out: PathBuf,
    /// No live progress line.
    #[arg(long)]
    no_progress: bool,
}

/// `mpmsd bench local`.
#[derive(Args)]
pub struct LocalArgs {
    /// Validators.
    #[arg(long, default_value_t = 4)]
    validators: usize,
    /// Full nodes (transactions go to their sender's node, queries to every node).
    /// Several, comma-separated, run one network after another, each in its own
    /// directory under --out, and end with the table of the network sizes.
    #[arg(long, value_delimiter = ',', default_value = "0")]
    full_nodes: Vec<usize>,
    /// Certifiers (accredited in the genesis); each account has at most 128
    /// transactions pending, so high rates need more of them.
    #[arg(long, default_value_t = 32)]
    certifiers: usize,
    /// Node i uses ports base-port + 10 i to + 2.
    #[arg(long, default_value_t = 27_000)]
    base_port: u16,
    /// The chain's minimum block interval, ms (a genesis parameter: a transaction
    /// waits for the next block at most this long).
    #[arg(long, default_value_t = 50)]
    min_block_interval_ms: u64,
    #[command(flatten)]
    load: LoadArgs,
}

/// `mpmsd bench remote`.
#[derive(Args)]
pub struct RemoteArgs {
    /// The nodes' API addresses, comma-separated (http://host:port).
    #[arg(long, value_delimiter = ',', required = true)]
    node: Vec<String>,
    /// Account key files of certifiers accredited for --schema-prefix (comma-separated).
    #[arg(long, value_delimiter = ',', required = true)]
    certifier_key: Vec<PathBuf>,
    /// A file holding the key files' password (else MPMS_KEYSTORE_PASSWORD).
    #[arg(long)]
    password_file: Option<PathBuf>,
    /// Each certifier registers one schema under this prefix (within its
    /// accredited scope), named for this run.
    #[arg(long, default_value = "bench.")]
    schema_prefix: String,
    #[command(flatten)]
    load: LoadArgs,
}

pub fn run(command: BenchCommand) -> anyhow::Result<()> {
    match command {
        BenchCommand::Local(args) => local(args),
        BenchCommand::Remote(args) => remote(args),
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
    let workload = match args.workload.as_str() {
        "issue" => Workload::Issuances {
            subjects: args.subjects.clamp(1, 100_000),
        },
        "register" => Workload::Registrations,
        other => bail!("unknown workload {other:?}: issue or register"),
    };
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
            workload,
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

impl LoadArgs {
    /// Checks the options and prepares the results directory.
    fn check(&self) -> anyhow::Result<()> {
        if self.rate.is_empty() || self.rate.iter().any(|r| !(*r > 0.0 && *r <= 1_000_000.0)) {
            bail!("every rate is above 0 and at most 1,000,000 a second");
        }
        if self.subjects == 0 || self.subjects > 100_000 {
            bail!("1 to 100,000 subjects");
        }
        if self.out.exists() && std::fs::read_dir(&self.out)?.next().is_some() {
            bail!("{} is not empty", self.out.display());
        }
        std::fs::create_dir_all(&self.out)?;
        Ok(())
    }

    fn step(&self, rate: f64) -> StepConfig {
        StepConfig {
            rate,
            duration: Duration::from_secs(self.duration),
            warmup: Duration::from_secs(self.warmup),
            drain: Duration::from_secs(self.drain),
            mix: self.mix.clone(),
            progress: !self.no_progress,
        }
    }
}

/// Registers the actors, runs every step, verifies each against the chain, and
/// writes the results. `usage` reads the nodes' CPU and memory (empty if remote).
async fn measure(
    load: &LoadArgs,
    out: &Path,
    apis: &[Api],
    mut actors: Actors,
    register_verifier: bool,
    usage: &dyn Fn() -> Vec<(String, Option<Usage>)>,
) -> anyhow::Result<Vec<StepResult>> {
    println!(
        "registering {} subjects and {} schemas",
        actors.subjects.len(),
        actors.certifiers.len()
    );
    setup::register(
        &apis[0],
        &mut actors,
        register_verifier,
        Duration::from_secs(300),
    )
    .await
    .context("setting up the benchmark's accounts")?;
    let actors = Arc::new(Mutex::new(actors));
    let mut results = Vec::new();
    let mut summaries = String::new();
    for &rate in &load.rate {
        let from = apis[0].get_json("/v1/blocks/latest").await?["header"]["height"]
            .as_u64()
            .unwrap_or(0)
            + 1;
        let before = usage();
        let result = run_step(apis, actors.clone(), load.step(rate)).await?;
        let after = usage();
        let used: Vec<NodeUsage> = before
            .into_iter()
            .zip(after)
            .filter_map(|((name, b), (_, a))| Some(NodeUsage::between(&name, b?, a?)))
            .collect();
        let verified = verify::against_chain(&apis[0], &result, from)
            .await
            .map_err(|e| anyhow::anyhow!("verification: {e}"))?;
        let mut text = report::summary(&result, &used);
        text.push_str(&format!(
            "  verified      {} transactions in {} blocks, each counted once\n",
            verified.committed, verified.blocks
        ));
        print!("{text}");
        summaries.push_str(&text);
        std::fs::write(out.join("summary.txt"), &summaries)?;
        let csv = if load.rate.len() == 1 {
            out.join("samples.csv")
        } else {
            out.join(format!("samples-{rate}.csv"))
        };
        report::write_csv(&result, &csv)?;
        let png = csv.with_extension("png");
        mpms_bench::chart::write(&result, &png).map_err(|e| anyhow::anyhow!("chart: {e}"))?;
        println!("samples: {}, chart: {}", csv.display(), png.display());
        let p99 = result.confirmation().map_or(f64::INFINITY, |c| ms(c.p99));
        results.push(result);
        if load.max_p99_ms.is_some_and(|bound| p99 > bound) {
            println!("confirmation p99 {p99:.0} ms is above the bound: stepping stops");
            break;
        }
    }
    if results.len() > 1 {
        let rows: Vec<(String, &StepResult)> = results
            .iter()
            .map(|r| (format!("{:.0}/s", r.config.rate), r))
            .collect();
        let table = report::size_table("rate", &rows);
        print!("{table}");
        summaries.push_str(&table);
        std::fs::write(out.join("summary.txt"), &summaries)?;
    }
    Ok(results)
}

fn local(args: LocalArgs) -> anyhow::Result<()> {
    args.load.check()?;
    if args.certifiers == 0 || args.certifiers > 10_000 {
        bail!("1 to 10,000 certifiers");
    }
    if args.full_nodes.is_empty() || args.validators == 0 {
        bail!("a network needs a validator");
    }
    let bin = sibling_binary().context("cannot find the mpmsd binary")?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let mut sizes = Vec::new();
    for &full_nodes in &args.full_nodes {
        let nodes = args.validators + full_nodes;
        let out = if args.full_nodes.len() == 1 {
            args.load.out.clone()
        } else {
            let dir = args.load.out.join(format!("{nodes}-nodes"));
            std::fs::create_dir_all(&dir)?;
            dir
        };
        let results = runtime.block_on(local_network(&args, &bin, full_nodes, &out))?;
        if let Some(last) = results.into_iter().last() {
            sizes.push((nodes, last));
        }
    }
    if sizes.len() > 1 {
        let rows: Vec<(String, &StepResult)> = sizes
            .iter()
            .map(|(n, r)| (format!("{n} ({} validators)", args.validators), r))
            .collect();
        let table = report::size_table("nodes", &rows);
        print!("{table}");
        std::fs::write(args.load.out.join("sizes.md"), table)?;
    }
    Ok(())
}

/// One local network: started, measured, stopped.
async fn local_network(
    args: &LocalArgs,
    bin: &Path,
    full_nodes: usize,
    out: &Path,
) -> anyhow::Result<Vec<StepResult>> {
    let chain_id = "mpms-bench";
    let actors = Actors::generate(chain_id, args.certifiers, args.load.subjects);
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
        dir: out.join("network"),
        bin: bin.to_path_buf(),
        validators: args.validators,
        full_nodes,
        base_port: args.base_port,
        chain_id: chain_id.to_string(),
    };
    println!(
        "starting {} validators and {full_nodes} full nodes under {}",
        args.validators,
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
        let usage = || {
            network
                .nodes
                .iter()
                .map(|n| n.moniker.clone())
                .zip(network.usage())
                .collect()
        };
        measure(&args.load, out, &apis, actors, false, &usage).await
    }
    .await;
    network.stop();
    outcome
}

fn remote(args: RemoteArgs) -> anyhow::Result<()> {
    args.load.check()?;
    let password = match &args.password_file {
        Some(path) => std::fs::read_to_string(path)
            .with_context(|| format!("{}", path.display()))?
            .trim_end_matches(['\n', '\r'])
            .to_string(),
        None => std::env::var("MPMS_KEYSTORE_PASSWORD")
            .context("give --password-file or set MPMS_KEYSTORE_PASSWORD")?,
    };
    let mut certifiers = Vec::new();
    for path in &args.certifier_key {
        certifiers.push(
            AccountKeys::load(path, &password).with_context(|| format!("{}", path.display()))?,
        );
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let apis: Vec<Api> = args
            .node
            .iter()
            .map(|n| Api::new(n, Duration::from_secs(10)))
            .collect();
        let status = apis[0].get_json("/v1/status").await?;
        let chain_id = status["chain_id"]
            .as_str()
            .context("the node's status has no chain id")?
            .to_string();
        let mut nonces = Vec::new();
        for c in &certifiers {
            let account = apis[0]
                .get_json(&format!("/v1/accounts/{}", c.id()))
                .await?;
            nonces.push(account["next_nonce"].as_u64().unwrap_or(0));
        }
        let run_id: u32 = rand::random();
        let actors = Actors::with_certifiers(
            &chain_id,
            certifiers.into_iter().zip(nonces).collect(),
            &format!("{}r{run_id:08x}", args.schema_prefix),
            args.load.subjects,
        );
        let usage = Vec::new;
        measure(&args.load, &args.load.out, &apis, actors, true, &usage)
            .await
            .map(|_| ())
    })
}
