//! Node commands: `init`, `testnet`, `start`, `devnet`.

use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::Args;
use mpms_crypto::keystore::KdfParams;
use mpms_node::config::NodeConfig;
use mpms_node::home::{self, Home, InitOptions, PASSWORD_ENV};
use mpms_node::join::JoinRequest;
use mpms_node::keys::AccountKeys;
use mpms_node::launch::{launch, shutdown_signal};
use mpms_node::testnet::{self, TestnetOptions};

/// `mpmsd init`.
#[derive(Args)]
pub struct InitArgs {
    /// The home directory to create.
    #[arg(long)]
    home: PathBuf,
    /// The node's name.
    #[arg(long, default_value = "mpms-node")]
    moniker: String,
    /// Also create a consensus keystore: this node can become an authority.
    #[arg(long)]
    validator: bool,
    /// A file holding the password the home's key files are encrypted with (else
    /// MPMS_KEYSTORE_PASSWORD). Its absolute path goes into node.toml.
    #[arg(long)]
    password_file: Option<PathBuf>,
    /// The chain's genesis file, copied into the home.
    #[arg(long)]
    genesis: Option<PathBuf>,
    /// Use this account key file as the operator account (an institution's existing
    /// account; it must open with the same password); default: a new account.
    #[arg(long)]
    operator_key: Option<PathBuf>,
    /// The consortium's boot nodes, `/ip4/A.B.C.D/tcp/PORT/p2p/PEER_ID`, separated by
    /// commas.
    #[arg(long, value_delimiter = ',')]
    boot_nodes: Vec<String>,
    /// Where to listen for peers (multiaddr). Default /ip4/0.0.0.0/tcp/26656.
    #[arg(long)]
    p2p_listen: Option<String>,
    /// The public API's address. Default 127.0.0.1:8080.
    #[arg(long)]
    api_listen: Option<String>,
    /// The admin API's address (loopback). Default 127.0.0.1:8081.
    #[arg(long)]
    admin_listen: Option<String>,
}

/// `mpmsd join-request`.
#[derive(Args)]
pub struct JoinRequestArgs {
    /// The node's home.
    #[arg(long)]
    home: PathBuf,
    /// The institution's public name, registered as an organization.
    #[arg(long)]
    name: String,
    /// The institution's kind.
    #[arg(long, value_enum)]
    kind: crate::tx_cmd::Kind,
    /// Where to write the request.
    #[arg(long, default_value = "join-request.json")]
    out: PathBuf,
    /// A file holding the key files' password (else the home's, else
    /// MPMS_KEYSTORE_PASSWORD).
    #[arg(long)]
    password_file: Option<PathBuf>,
}

/// `mpmsd testnet`.
#[derive(Args)]
pub struct TestnetArgs {
    /// Validators.
    #[arg(long, default_value_t = 4)]
    validators: usize,
    /// Full nodes.
    #[arg(long, default_value_t = 0)]
    full_nodes: usize,
    /// Where to write the homes (must not exist or be empty).
    #[arg(long)]
    out: PathBuf,
    /// The chain id.
    #[arg(long, default_value = "mpms-testnet")]
    chain_id: String,
    /// The first port; node i uses base+10i (p2p), +1 (API), +2 (admin).
    #[arg(long, default_value_t = 26_600)]
    base_port: u16,
    /// Empty-block heartbeat in milliseconds.
    #[arg(long, default_value_t = 2_000)]
    heartbeat_ms: u64,
    /// Cheap keystore key derivation: for throwaway local networks and tests only.
    #[arg(long)]
    insecure_fast_kdf: bool,
}

/// `mpmsd devnet`.
#[derive(Args)]
pub struct DevnetArgs {
    /// Validators.
    #[arg(long, default_value_t = 4)]
    validators: usize,
    /// Where to keep the network (kept after exit). Default: a new temporary
    /// directory, removed on exit.
    #[arg(long)]
    dir: Option<PathBuf>,
    /// The first port; validator i uses base+10i (p2p), +1 (API), +2 (admin).
    #[arg(long, default_value_t = 26_600)]
    base_port: u16,
}

fn read_password(file: &Option<PathBuf>) -> anyhow::Result<Option<String>> {
    match file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            Ok(Some(text.trim_end_matches(['\n', '\r']).to_string()))
        }
        None => Ok(std::env::var(PASSWORD_ENV).ok()),
    }
}

pub fn init(args: InitArgs) -> anyhow::Result<()> {
    let home = Home::new(&args.home);
    let genesis = match &args.genesis {
        Some(path) => {
            let text =
                std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
            Some(
                mpms_ledger::Genesis::from_json(&text)
                    .with_context(|| format!("{}", path.display()))?,
            )
        }
        None => None,
    };
    let password = match read_password(&args.password_file)? {
        Some(p) if p.len() >= 8 => p,
        Some(_) => bail!("the key files' password must be at least 8 characters"),
        None => bail!(
            "a home's key files are encrypted: give --password-file FILE (or set {PASSWORD_ENV})"
        ),
    };
    let operator = match &args.operator_key {
        Some(file) => Some(
            AccountKeys::load(file, &password)
                .with_context(|| format!("--operator-key {}", file.display()))?,
        ),
        None => None,
    };
    let mut config = NodeConfig::default();
    if let Some(file) = &args.password_file {
        config.node.password_file = std::path::absolute(file)?;
    }
    config.network.boot_nodes = args.boot_nodes.clone();
    if let Some(listen) = &args.p2p_listen {
        config.network.listen = vec![listen.clone()];
    }
    if let Some(api) = &args.api_listen {
        config.api.listen = api.clone();
    }
    if let Some(admin) = &args.admin_listen {
        config.api.admin_listen = admin.clone();
    }
    // Refuse a bad value now, naming the option, rather than at the first start.
    config.clone().check().map_err(|e| anyhow::anyhow!("{e}"))?;
    let made = home::init(
        &home,
        InitOptions {
            moniker: &args.moniker,
            config,
            genesis: genesis.as_ref(),
            password: &password,
            operator,
            validator: args.validator.then_some(None),
            node_secret: None,
            store_password: false,
            kdf: KdfParams::DEFAULT,
        },
    )?;
    let root = args.home.display();
    println!("home:      {root}");
    println!("config:    {}", home.config_path().display());
    println!("peer id:   {}", made.peer_id);
    println!("operator:  {}", made.operator);
    if let Some(key) = made.consensus {
        println!("consensus: {key}");
    }
    println!("next:");
    let mut step = 1;
    if genesis.is_none() {
        println!(
            "  {step}. put the chain's genesis at {}",
            home.resolve(std::path::Path::new("config/genesis.json"))
                .display()
        );
        step += 1;
    }
    println!("  {step}. back up {root}/config/node_key, {root}/keys/ and the password file");
    println!(
        "  {}. write your join request for the consortium: mpmsd join-request --home {root} --name \"<your institution>\" --kind hospital",
        step + 1
    );
    println!(
        "  {}. start the node: mpmsd start --home {root} (it waits for the consortium to admit it)",
        step + 2
    );
    Ok(())
}

pub fn join_request(args: JoinRequestArgs) -> anyhow::Result<()> {
    let (home, config) = crate::keys_cmd::open_home(&args.home, &args.password_file)?;
    let request = JoinRequest::create(&home, &config, &args.name, args.kind.into())?;
    std::fs::write(&args.out, request.to_json())
        .with_context(|| format!("writing {}", args.out.display()))?;
    let body = &request.body;
    println!("join request: {}", args.out.display());
    println!("  chain:          {}", body.chain_id);
    println!("  organization:   {}", body.organization);
    println!("  operator:       {}", body.operator);
    println!("  peer id:        {}", body.peer_id);
    if let Some(key) = body.consensus_key {
        println!("  consensus key:  {key}");
    }
    println!(
        "Send {} to the consortium. An authority admits the node:",
        args.out.display()
    );
    println!(
        "  mpmsd tx --home <its home> propose admit-node --request {}",
        args.out.display()
    );
    if body.consensus_key.is_some() {
        println!(
            "and, once this node is synced and its stake bonded, proposes it as an authority:"
        );
        println!(
            "  mpmsd tx --home <its home> propose add-authority --request {}",
            args.out.display()
        );
    }
    Ok(())
}

fn now_ms() -> u64 {
    mpms_node::runtime::now_ms()
}

pub fn testnet(args: TestnetArgs) -> anyhow::Result<()> {
    if args.out.exists() && std::fs::read_dir(&args.out)?.next().is_some() {
        bail!("{} is not empty", args.out.display());
    }
    let nodes = testnet::generate(
        &args.out,
        &TestnetOptions {
            validators: args.validators,
            full_nodes: args.full_nodes,
            chain_id: args.chain_id,
            base_port: args.base_port,
            kdf: if args.insecure_fast_kdf {
                KdfParams::INSECURE_FAST
            } else {
                KdfParams::DEFAULT
            },
            genesis_time_ms: now_ms(),
            heartbeat_ms: args.heartbeat_ms,
        },
    )?;
    println!("genesis: {}", args.out.join("genesis.json").display());
    for n in nodes {
        println!(
            "{:<12} home {}  api {}  p2p {}/p2p/{}",
            n.moniker,
            n.home.display(),
            n.api,
            n.p2p,
            n.peer_id
        );
    }
    Ok(())
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

/// Resolves on SIGINT or SIGTERM.
async fn termination() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

pub fn start(home: PathBuf, log_json: bool) -> anyhow::Result<()> {
    let home = Home::new(home);
    let config = home.load_config()?.raw;
    let json = log_json || config.log.format == mpms_node::config::LogFormat::Json;
    crate::logs::init(json, Some(&config.log.level));
    runtime()?.block_on(async {
        let (stop, stopped) = shutdown_signal();
        let launched = launch(&home, stopped).await?;
        println!("api: http://{}", launched.api);
        termination().await;
        tracing::info!("stopping: finishing the current block");
        let _ = stop.send(true);
        launched.stopped().await;
        tracing::info!("stopped");
        Ok(())
    })
}

pub fn devnet(args: DevnetArgs) -> anyhow::Result<()> {
    let _tmp;
    let dir = match &args.dir {
        Some(d) => d.clone(),
        None => {
            _tmp = tempfile::tempdir()?;
            _tmp.path().to_path_buf()
        }
    };
    let fresh = !dir.join("genesis.json").exists();
    if fresh {
        testnet::generate(
            &dir,
            &TestnetOptions {
                validators: args.validators,
                full_nodes: 0,
                chain_id: "mpms-devnet".into(),
                base_port: args.base_port,
                // A throwaway local network: fast key derivation.
                kdf: KdfParams::INSECURE_FAST,
                genesis_time_ms: now_ms(),
                heartbeat_ms: 2_000,
            },
        )?;
    }
    let mut homes: Vec<PathBuf> = std::fs::read_dir(&dir)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.join("config").join("node.toml").exists())
        .collect();
    homes.sort();
    runtime()?.block_on(async {
        let (stop, stopped) = shutdown_signal();
        let mut nodes = Vec::new();
        for path in &homes {
            let home = Home::new(path);
            let launched = launch(&home, stopped.clone())
                .await
                .with_context(|| format!("starting {}", path.display()))?;
            nodes.push((path.clone(), launched));
        }
        println!("MPMS devnet: {} validators, chain mpms-devnet", nodes.len());
        println!("network directory: {}", dir.display());
        for (path, n) in &nodes {
            let name = path
                .file_name()
                .map_or_else(String::new, |s| s.to_string_lossy().into_owned());
            println!("  {name:<12} API http://{}", n.api);
        }
        if let Some((_, first)) = nodes.first() {
            println!("API address: http://{}", first.api);
            println!("  try: curl http://{}/v1/status", first.api);
            println!(
                "  or:  mpmsd demo --node http://{} --network {}",
                first.api,
                dir.display()
            );
        }
        println!("Ctrl-C stops the network.");
        termination().await;
        println!("stopping...");
        let _ = stop.send(true);
        for (_, n) in nodes {
            n.stopped().await;
        }
        Ok(())
    })
}
