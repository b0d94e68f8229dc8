//! `mpmsd`: the MPMS node daemon and command-line client.

mod ledger_demo;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// MPMS: a permissioned Proof-of-Authority blockchain for medical credentials.
#[derive(Parser)]
#[command(name = "mpmsd", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs the medical-credential workflow on a fresh 4-authority chain stored in
    /// RocksDB (real execution, commit certificates, encryption), step by step.
    LedgerDemo {
        /// Directory for the chain's database (created; must not hold a chain yet).
        /// Defaults to a new temporary directory.
        #[arg(long)]
        home: Option<PathBuf>,
    },
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    match Cli::parse().command {
        Command::LedgerDemo { home } => ledger_demo::run(home),
    }
}
