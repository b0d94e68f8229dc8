//! `mpmsd query`: read the chain through a node's API; prints JSON.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::bail;
use clap::{Args, Subcommand};

use mpms_client::{Readiness, Resource};

use crate::client::{connect, Client};

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
    /// Sign the reads with this account key file: a subject's credentials and audit
    /// trail, and the sealed values of a transaction, are served to their parties
    /// only (an entry's, to its entry key: give the patient's key and the
    /// credential, see `tx`).
    #[arg(long, global = true)]
    pub key: Option<PathBuf>,
    /// A file holding the key file's password (else MPMS_KEYSTORE_PASSWORD).
    #[arg(long, global = true, requires = "key")]
    pub password_file: Option<PathBuf>,
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
    /// A subject, with its credentials (listed with the subject's --key only).
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
    /// revocations, expiries and recorded inspections, with heights and times (signed
    /// with --key: the subject's whole trail, a requester's or grantee's own events).
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
        if let Ok(Readiness { ready: true, .. }) = &answer {
            println!("ready");
            return Ok(());
        }
        if let Err(e @ mpms_client::Error::Certificate { .. }) = &answer {
            bail!("{e} (a node serving a self-signed certificate, or one of your institution's own authority: set MPMS_CA_CERT to that certificate's PEM file)");
        }
        if Instant::now() >= deadline {
            match answer {
                Ok(Readiness { reasons, .. }) => {
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
    let mut client = connect(args.node, args.home.as_deref())?;
    if let Some(key) = &args.key {
        let party =
            crate::keys_cmd::load_keys(key, &crate::keys_cmd::password(&args.password_file)?)?;
        client = client.reading_as(&party.signing)?;
    }
    let value = match &args.what {
        Query::Ready { wait } => return ready(&client, *wait),
        Query::Subject { id } => {
            let subject = client.read(&Resource::Subject(id))?;
            // Its credentials are listed to the subject alone: a signed read.
            let credentials = match args.key {
                Some(_) => client.read(&Resource::SubjectCredentials(id))?["credentials"].clone(),
                None => serde_json::Value::Null,
            };
            serde_json::json!({ "subject": subject, "credentials": credentials })
        }
        what => client.read(&resource(what))?,
    };
    println!("{}", serde_json::to_string_pretty(&value)?);
    Ok(())
}

/// What `what` reads.
fn resource(what: &Query) -> Resource<'_> {
    match what {
        Query::Status | Query::Ready { .. } => Resource::Status,
        Query::Block { height: None } => Resource::LatestBlock,
        Query::Block { height: Some(h) } => Resource::Block(*h),
        Query::Tx { hash } => Resource::Transaction(hash),
        Query::Account { id } => Resource::Account(id),
        Query::Subject { id } => Resource::Subject(id),
        Query::Credential { id, proof: false } => Resource::Credential(id),
        Query::Credential { id, proof: true } => Resource::CredentialProof(id),
        Query::Bundle { id } => Resource::Bundle(id),
        Query::Grant { id } => Resource::Grant(id),
        Query::Schemas => Resource::Schemas,
        Query::Validators => Resource::Authorities,
        Query::Params => Resource::Params,
        Query::Proposals { id: None } => Resource::Proposals,
        Query::Proposals { id: Some(id) } => Resource::Proposal(*id),
        Query::Evidence => Resource::Evidence,
        Query::Audit { subject } => Resource::Audit(subject),
    }
}
