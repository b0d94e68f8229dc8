//! `mpmsd query`: read the chain through a node's API; prints JSON.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::bail;
use clap::{Args, Subcommand};

use crate::client::{api_url, Client};

/// `mpmsd query`.
#[derive(Args)]
pub struct QueryArgs {
    /// The node's API (default: the API of the --home node, else
    /// http://127.0.0.1:26601, the first node of `mpmsd devnet`).
    #[arg(long, global = true)]
    pub node: Option<String>,
    /// A node's home: query that node's API.
    #[arg(long, global = true, conflicts_with = "node")]
    pub home: Option<PathBuf>,
    #[command(subcommand)]
    pub what: Query,
}

/// What to read.
#[derive(Subcommand)]
pub enum Query {
    /// Chain and node status.
    Status,
    /// Whether the node is ready (synced, peered, holding its keys), with the reasons
    /// when not. Exits 1 when not ready.
    Ready {
        /// Wait up to this many seconds for the node to become ready.
        #[arg(long, default_value_t = 0)]
        wait: u64,
    },
    /// A block (the latest without a height).
    Block {
        /// The height.
        height: Option<u64>,
    },
    /// A transaction's status.
    Tx {
        /// Its hash.
        hash: String,
    },
    /// An account.
    Account {
        /// Its id.
        id: String,
    },
    /// A subject, with its credentials.
    Subject {
        /// Its id.
        id: String,
    },
    /// A credential.
    Credential {
        /// Its id.
        id: String,
        /// With its inclusion proof and commit certificate.
        #[arg(long)]
        proof: bool,
    },
    /// A credential's proof bundle (for `mpmsd verify`).
    Bundle {
        /// The credential's id.
        id: String,
    },
    /// A grant.
    Grant {
        /// Its id.
        id: String,
    },
    /// Credential schemas.
    Schemas,
    /// The authority set.
    Validators,
    /// The chain's parameters (stakes, limits, consensus timing).
    Params,
    /// Governance proposals (one with an id).
    Proposals {
        /// A proposal id.
        id: Option<u64>,
    },
    /// Punished offences.
    Evidence,
    /// The audit trail of a subject's credentials: requests, grants, grant
    /// revocations, expiries and recorded inspections, with heights and times.
    Audit {
        /// The subject.
        #[arg(long)]
        subject: String,
    },
}

/// `query ready`: polls `/health/ready` until it answers ready or `wait` passes.
fn ready(client: &Client, wait: u64) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(wait);
    loop {
        let answer = client.health_ready();
        if let Ok((true, _)) = &answer {
            println!("ready");
            return Ok(());
        }
        if Instant::now() >= deadline {
            match answer {
                Ok((_, reasons)) => {
                    for reason in &reasons {
                        println!("not ready: {reason}");
                    }
                    bail!("the node is not ready");
                }
                Err(e) => bail!("the node does not answer: {e}"),
            }
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

pub fn run(args: QueryArgs) -> anyhow::Result<()> {
    let client = Client::new(&api_url(args.node, args.home.as_deref())?);
    let value = match args.what {
        Query::Ready { wait } => return ready(&client, wait),
        Query::Status => client.get("/v1/status")?,
        Query::Block { height: None } => client.get("/v1/blocks/latest")?,
        Query::Block { height: Some(h) } => client.get(&format!("/v1/blocks/{h}"))?,
        Query::Tx { hash } => client.get(&format!("/v1/transactions/{hash}"))?,
        Query::Account { id } => client.get(&format!("/v1/accounts/{id}"))?,
        Query::Subject { id } => {
            let subject = client.get(&format!("/v1/subjects/{id}"))?;
            let credentials = client.get(&format!("/v1/subjects/{id}/credentials"))?;
            serde_json::json!({ "subject": subject, "credentials": credentials["credentials"] })
        }
        Query::Credential { id, proof: false } => client.get(&format!("/v1/credentials/{id}"))?,
        Query::Credential { id, proof: true } => {
            client.get(&format!("/v1/credentials/{id}/proof"))?
        }
        Query::Bundle { id } => client.get(&format!("/v1/credentials/{id}/bundle"))?,
        Query::Grant { id } => client.get(&format!("/v1/grants/{id}"))?,
        Query::Schemas => client.get("/v1/schemas")?,
        Query::Validators => client.get("/v1/authorities")?,
        Query::Params => client.get("/v1/params")?,
        Query::Proposals { id: None } => client.get("/v1/proposals")?,
        Query::Proposals { id: Some(id) } => client.get(&format!("/v1/proposals/{id}"))?,
        Query::Evidence => client.get("/v1/evidence")?,
        Query::Audit { subject } => {
            client.get(&format!("/v1/subjects/{subject}/audit?limit=1000"))?
        }
    };
    println!("{}", serde_json::to_string_pretty(&value)?);
    Ok(())
}
