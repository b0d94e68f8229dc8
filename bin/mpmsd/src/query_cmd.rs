//! `mpmsd query`: read the chain through a node's API; prints JSON.

use clap::{Args, Subcommand};

use crate::client::Client;

/// `mpmsd query`.
#[derive(Args)]
pub struct QueryArgs {
    /// The node's API.
    #[arg(long, global = true, default_value = "http://127.0.0.1:26601")]
    pub node: String,
    #[command(subcommand)]
    pub what: Query,
}

/// What to read.
#[derive(Subcommand)]
pub enum Query {
    /// Chain and node status.
    Status,
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
    /// A grant.
    Grant {
        /// Its id.
        id: String,
    },
    /// Credential schemas.
    Schemas,
    /// The authority set.
    Validators,
    /// Governance proposals (one with an id).
    Proposals {
        /// A proposal id.
        id: Option<u64>,
    },
    /// Punished offences.
    Evidence,
}

pub fn run(args: QueryArgs) -> anyhow::Result<()> {
    let client = Client::new(&args.node);
    let value = match args.what {
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
        Query::Grant { id } => client.get(&format!("/v1/grants/{id}"))?,
        Query::Schemas => client.get("/v1/schemas")?,
        Query::Validators => client.get("/v1/authorities")?,
        Query::Proposals { id: None } => client.get("/v1/proposals")?,
        Query::Proposals { id: Some(id) } => client.get(&format!("/v1/proposals/{id}"))?,
        Query::Evidence => client.get("/v1/evidence")?,
    };
    println!("{}", serde_json::to_string_pretty(&value)?);
    Ok(())
}
