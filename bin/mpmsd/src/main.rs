//! `mpmsd`: the MPMS node daemon and command-line client.

mod bench_cmd;
mod client;
mod demo_cmd;
mod keys_cmd;
mod ledger_demo;
mod logs;
mod node_cmd;
mod private_file;
mod query_cmd;
mod tx_cmd;
mod verify_cmd;
mod wallet_cmd;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// MPMS: a permissioned Proof-of-Authority blockchain for medical credentials.
#[derive(Parser)]
#[command(name = "mpmsd", version, about)]
struct Cli {
    /// Log as JSON lines instead of human-readable text.
    #[arg(long, global = true)]
    log_json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Creates a node's home: configuration, node key, the operator account's key
    /// file and, with --validator, the consensus keystore (key files encrypted).
    Init(node_cmd::InitArgs),
    /// Writes the join request an institution sends the consortium: its node's peer
    /// id, its operator account, its consensus key and its organization's
    /// registration, signed by its operator.
    JoinRequest(node_cmd::JoinRequestArgs),
    /// Writes a local test network: a genesis and one home per node.
    Testnet(node_cmd::TestnetArgs),
    /// Runs the node of a home until SIGINT or SIGTERM.
    Start {
        /// The node's home.
        #[arg(long)]
        home: PathBuf,
    },
    /// Starts a local network of validators in this process, each with its own
    /// RocksDB, network and API, and keeps it up until Ctrl-C.
    Devnet(node_cmd::DevnetArgs),
    /// Keys: account key files (generate, show, import, export) and a home's keys
    /// (show, status, new-consensus-key).
    #[command(subcommand)]
    Keys(keys_cmd::KeysCommand),
    /// Signs and submits a transaction (every domain action), and waits for its block.
    Tx(Box<tx_cmd::TxArgs>),
    /// Reads the chain through a node's API.
    Query(query_cmd::QueryArgs),
    /// A subject's portfolio: sync (fetch, decrypt, check, keep encrypted), show.
    #[command(subcommand)]
    Wallet(wallet_cmd::WalletCommand),
    /// Plays the credential scenario against a running network, step by step.
    Demo(demo_cmd::DemoArgs),
    /// Credentials shared with you.
    #[command(subcommand)]
    Credential(CredentialCommand),
    /// Checks a credential's proof bundle offline: certifier signature, content
    /// commitment, inclusion, certificate quorum, authority-set chain, certifier
    /// accreditation and status. Exits non-zero naming the first failed check.
    Verify(verify_cmd::VerifyArgs),
    /// Benchmarks a network: submission, confirmation and retrieval latency and
    /// throughput under an open-loop load.
    #[command(subcommand)]
    Bench(bench_cmd::BenchCommand),
    /// Runs the medical-credential workflow on a fresh 4-authority chain stored in
    /// RocksDB (real execution, commit certificates, encryption), step by step.
    LedgerDemo {
        /// Directory for the chain's database (created; must not hold a chain yet).
        /// Defaults to a new temporary directory.
        #[arg(long)]
        home: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum CredentialCommand {
    /// Decrypts and checks a credential a subject granted you access to.
    Open {
        /// The node's API (default: the --home node's, else http://127.0.0.1:26601).
        #[arg(long)]
        node: Option<String>,
        /// The grant.
        #[arg(long)]
        grant: mpms_crypto::Hash,
        #[command(flatten)]
        signer: keys_cmd::KeySource,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Init(args) => {
            logs::init(cli.log_json, None);
            node_cmd::init(args)
        }
        Command::JoinRequest(args) => node_cmd::join_request(args),
        Command::Testnet(args) => {
            logs::init(cli.log_json, None);
            node_cmd::testnet(args)
        }
        Command::Start { home } => node_cmd::start(home, cli.log_json),
        Command::Devnet(args) => {
            logs::init(cli.log_json, Some("warn,mpms_node=info"));
            node_cmd::devnet(args)
        }
        Command::Keys(command) => keys_cmd::run(command),
        Command::Tx(args) => {
            logs::init(cli.log_json, Some("warn"));
            tx_cmd::run(*args)
        }
        Command::Query(args) => query_cmd::run(args),
        Command::Wallet(command) => wallet_cmd::run(command),
        Command::Demo(args) => {
            logs::init(cli.log_json, Some("warn"));
            demo_cmd::run(args)
        }
        Command::Credential(CredentialCommand::Open {
            node,
            grant,
            signer,
        }) => {
            let client = client::connect(node, signer.home.as_deref())?;
            let opened = mpms_client::grant::open_grant_or_set(
                &client,
                &signer.load()?,
                &grant,
                mpms_client::now_ms(),
            )?;
            println!("{}", serde_json::to_string_pretty(&opened.to_json())?);
            Ok(())
        }
        Command::Verify(args) => verify_cmd::run(args),
        Command::Bench(command) => {
            logs::init(cli.log_json, Some("warn"));
            bench_cmd::run(command)
        }
        Command::LedgerDemo { home } => {
            logs::init(cli.log_json, None);
            ledger_demo::run(home)
        }
    }
}
