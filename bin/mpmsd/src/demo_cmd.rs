//! `mpmsd demo`: the published prototype's scenario against a running network,
//! through its API: an intern and a hospital register, governance accredits the
//! hospital, the hospital issues a micro-credential, the licensing board asks, the
//! intern grants, the board decrypts and verifies. Each step prints its block.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context};
use clap::Args;
use mpms_crypto::{DecryptionKey, Hash, SigningKey};
use mpms_node::home::Home;
use rand::rngs::OsRng;

use crate::client::{Client, SubmitError};
use crate::keys_cmd::Party;
use crate::tx_cmd::{self, Kind, ProposeAction, TxAction};

/// `mpmsd demo`.
#[derive(Args)]
pub struct DemoArgs {
    /// The node's API.
    #[arg(long, default_value = "http://127.0.0.1:26601")]
    node: String,
    /// The network directory of `mpmsd devnet --dir` or `mpmsd testnet --out`: the
    /// validators' homes, whose operator keys vote the accreditation.
    #[arg(long)]
    network: PathBuf,
}

fn party() -> Party {
    Party {
        signing: SigningKey::generate(&mut OsRng),
        decryption: Some(DecryptionKey::generate(&mut OsRng)),
    }
}

struct Demo {
    client: Client,
}

impl Demo {
    fn step(&self, who: &Party, what: &str, action: TxAction) -> anyhow::Result<serde_json::Value> {
        let (payload, out) = tx_cmd::payload(&self.client, who, &None, action)?;
        match tx_cmd::send(&self.client, who, payload, true) {
            Ok((_, _, height)) => {
                println!("  [block {:>4}] {what}", height.unwrap_or(0));
                Ok(out)
            }
            Err(SubmitError::Refused(reason)) => bail!("{what}: refused: {reason}"),
            Err(SubmitError::Other(e)) => Err(e),
        }
    }
}

fn validators(network: &Path) -> anyhow::Result<Vec<Party>> {
    let mut homes: Vec<PathBuf> = std::fs::read_dir(network)
        .with_context(|| format!("{}", network.display()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.join("config").join("node.toml").exists())
        .collect();
    homes.sort();
    let mut out = Vec::new();
    for path in homes {
        let home = Home::new(&path);
        let config = home.load_config()?.raw;
        if let Some((keys, _)) = home.load_validator(&config)? {
            out.push(Party {
                signing: keys.operator,
                decryption: None,
            });
        }
    }
    if out.is_empty() {
        bail!("no validator homes under {}", network.display());
    }
    Ok(out)
}

pub fn run(args: DemoArgs) -> anyhow::Result<()> {
    let demo = Demo {
        client: Client::new(&args.node),
    };
    let chain_id = demo.client.chain_id()?;
    let authorities = validators(&args.network)?;
    println!("MPMS demo on {chain_id} through {}", args.node);

    println!("\n1. Roles register");
    let intern = party();
    let hospital = party();
    let board = party();
    demo.step(
        &intern,
        "the intern registers as a subject (a key only, no personal data)",
        TxAction::RegisterSubject,
    )?;
    demo.step(
        &hospital,
        "St. Mary Teaching Hospital registers as a certifier",
        TxAction::RegisterCertifier {
            name: "St. Mary Teaching Hospital".into(),
        },
    )?;
    demo.step(
        &board,
        "the State Medical Licensing Board registers as an organization",
        TxAction::RegisterOrganization {
            name: "State Medical Licensing Board".into(),
            kind: Kind::LicensingBoard,
        },
    )?;

    println!(
        "\n2. Governance accredits the hospital for cardiology (more than 2/3 of the authorities)"
    );
    demo.step(
        &authorities[0],
        "an authority funds the hospital's stake",
        TxAction::Transfer {
            to: Some(hospital.id()),
            request: None,
            amount: 1_000,
        },
    )?;
    demo.step(
        &hospital,
        "the hospital bonds 500",
        TxAction::Bond { amount: 500 },
    )?;
    demo.step(
        &authorities[0],
        "authority 1 proposes the accreditation (scope cardio.*)",
        TxAction::Propose {
            action: ProposeAction::AccreditCertifier {
                certifier: hospital.id(),
                scope: vec!["cardio.*".into()],
                days: 365,
            },
        },
    )?;
    let proposal = tx_cmd::latest_proposal_by(&demo.client, &authorities[0].id())?
        .ok_or_else(|| anyhow!("the proposal is not listed"))?;
    let needed = authorities.len() * 2 / 3 + 1;
    for (i, voter) in authorities.iter().enumerate().skip(1).take(needed - 1) {
        demo.step(
            voter,
            &format!("authority {} votes for proposal {proposal}", i + 1),
            TxAction::Vote {
                proposal,
                reject: false,
            },
        )?;
    }

    println!("\n3. The hospital issues a micro-credential, encrypted to the intern");
    demo.step(
        &hospital,
        "schema cardio.bls (Basic Life Support) registered",
        TxAction::RegisterSchema {
            id: "cardio.bls".into(),
            description: "Basic Life Support".into(),
            prerequisites: vec![],
            output: "competence".into(),
            condition: "pass the practical assessment".into(),
            max_validity_days: None,
            fields: Vec::new(),
        },
    )?;
    let issued = demo.step(
        &hospital,
        "cardio.bls issued to the intern",
        TxAction::IssueCredential {
            schema: "cardio.bls".into(),
            subject: intern.id(),
            holder_name: "Dr. Amina Okafor".into(),
            date_of_birth: "1998-04-12".into(),
            fields: Vec::new(),
            description: Some("Basic Life Support, 16 hours".into()),
            start_date: Some("2026-01-05".into()),
            end_date: Some("2026-01-07".into()),
            marks: Some("92/100".into()),
            documents: Vec::new(),
            result: Some("passed".into()),
            valid_days: 730,
            practitioner_key: None,
        },
    )?;
    let credential: Hash = issued["credential"]
        .as_str()
        .ok_or_else(|| anyhow!("no credential id"))?
        .parse()?;
    println!("              credential {credential}");

    println!("\n4. The licensing board asks; the intern grants");
    let request = demo.step(
        &board,
        "the board requests the intern's cardio.bls for licensing",
        TxAction::RequestAccess {
            subject: intern.id(),
            credentials: vec![credential],
            purpose: "medical licence application".into(),
        },
    )?;
    let request: Hash = request["request"]
        .as_str()
        .ok_or_else(|| anyhow!("no request id"))?
        .parse()?;
    let grant = demo.step(
        &intern,
        "the intern grants it (re-seals the content key to the board)",
        TxAction::GrantAccess {
            credential,
            grantee: board.id(),
            request: Some(request),
            days: 30,
        },
    )?;
    let grant: Hash = grant["grant"]
        .as_str()
        .ok_or_else(|| anyhow!("no grant id"))?
        .parse()?;

    println!("\n5. The board decrypts and verifies");
    let opened = tx_cmd::open_granted(&demo.client, &board, &grant)?;
    println!(
        "              decrypted: {} — {} ({})",
        opened["holder_name"].as_str().unwrap_or_default(),
        opened["description"].as_str().unwrap_or_default(),
        opened["result"].as_str().unwrap_or_default()
    );
    println!("              certifier signature and content commitment: valid");
    let bundle: mpms_light::ProofBundle = demo
        .client
        .get_as(&format!("/v1/credentials/{credential}/bundle"))?;
    let anchor = mpms_light::Anchor::from_genesis(&bundle.genesis)?;
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let verdict = mpms_light::verify::verify_bundle(&bundle, &anchor, None, now_ms);
    for check in &verdict.checks {
        let shown = match &check.outcome {
            mpms_light::verify::Outcome::Passed(d) => format!("valid ({d})"),
            mpms_light::verify::Outcome::Failed(d) => format!("INVALID: {d}"),
            mpms_light::verify::Outcome::Skipped(d) => format!("not checked: {d}"),
        };
        println!("              {}: {shown}", check.name);
    }
    if let Some(failed) = verdict.first_failure() {
        bail!("verification failed: {}", failed.name);
    }
    println!("\nDone: personal data only ever left the intern's hands encrypted.");
    Ok(())
}
