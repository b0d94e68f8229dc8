//! `mpmsd wallet`: a subject's portfolio. `sync` fetches the subject's credentials,
//! decrypts each with the subject's key, checks it (certifier signature and
//! commitment) and keeps the portfolio in a local file encrypted with the key file's
//! password; `show` prints it with stackable progress: for every schema built on
//! others, whether it is held, ready (all prerequisites held) or what is missing.
//! `export-vc` writes a credential's W3C Verifiable Credential (the certifier's JWT);
//! `present` writes a presentation of its SD-JWT VC showing only chosen members;
//! `bundle` writes its proof bundle, content included, for `mpmsd verify`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Subcommand;
use mpms_client::wallet::{self, Held, Portfolio, Stack};
use mpms_crypto::keystore::{KdfParams, Keystore};
use mpms_crypto::Hash;
use mpms_ledger::records::{CredentialStatus, Schema};
use rand::rngs::OsRng;

use crate::client::connect;
use crate::keys_cmd::{load_keys, password};

/// `mpmsd wallet`.
#[derive(Subcommand)]
pub enum WalletCommand {
    /// Fetches, decrypts and checks the subject's credentials into the wallet file.
    Sync {
        /// The node's API.
        #[arg(long, default_value = "http://127.0.0.1:26601")]
        node: String,
        /// The subject's account key file.
        #[arg(long)]
        key: PathBuf,
        /// The wallet file (created or replaced).
        #[arg(long)]
        wallet: PathBuf,
        /// A file holding the password (else MPMS_KEYSTORE_PASSWORD).
        #[arg(long)]
        password_file: Option<PathBuf>,
    },
    /// Writes a credential's W3C Verifiable Credential (VC-JOSE-COSE JWT, signed by
    /// its certifier) to a file.
    ExportVc {
        /// The wallet file.
        #[arg(long)]
        wallet: PathBuf,
        /// A file holding the password (else MPMS_KEYSTORE_PASSWORD).
        #[arg(long)]
        password_file: Option<PathBuf>,
        /// The credential.
        #[arg(long)]
        credential: Hash,
        /// Where to write the JWT.
        #[arg(long)]
        out: PathBuf,
    },
    /// Writes a presentation of a credential's SD-JWT VC (`dc+sd-jwt`) that shows a
    /// verifier only the members named by --show, bound with the subject's key to the
    /// verifier's audience and nonce.
    Present {
        /// The wallet file.
        #[arg(long)]
        wallet: PathBuf,
        /// A file holding the password (else MPMS_KEYSTORE_PASSWORD).
        #[arg(long)]
        password_file: Option<PathBuf>,
        /// The subject's account key file (it signs the key binding).
        #[arg(long)]
        key: PathBuf,
        /// The credential.
        #[arg(long)]
        credential: Hash,
        /// A member to show: `holder_name`, `date_of_birth`, `documents` or a field of
        /// the credential by its name. Repeat it; what is not named stays hidden.
        #[arg(long)]
        show: Vec<String>,
        /// The verifier, as it names itself (its `aud`).
        #[arg(long)]
        audience: String,
        /// The verifier's nonce for this presentation.
        #[arg(long)]
        nonce: String,
        /// Where to write the presentation.
        #[arg(long)]
        out: PathBuf,
    },
    /// Writes the patient's record as a FHIR R4 Bundle (a `collection`): every
    /// current entry (not superseded by a correction) whose schema maps to a FHIR
    /// resource type.
    ExportFhir {
        /// The wallet file.
        #[arg(long)]
        wallet: PathBuf,
        /// A file holding the password (else MPMS_KEYSTORE_PASSWORD).
        #[arg(long)]
        password_file: Option<PathBuf>,
        /// Where to write the Bundle (JSON).
        #[arg(long)]
        out: PathBuf,
    },
    /// Writes a credential's proof bundle (from a node) with its content (from the
    /// wallet), checked before it is written: what a verifier checks with `mpmsd
    /// verify`.
    Bundle {
        /// The node's API.
        #[arg(long, default_value = "http://127.0.0.1:26601")]
        node: String,
        /// The wallet file.
        #[arg(long)]
        wallet: PathBuf,
        /// A file holding the password (else MPMS_KEYSTORE_PASSWORD).
        #[arg(long)]
        password_file: Option<PathBuf>,
        /// The credential.
        #[arg(long)]
        credential: Hash,
        /// Leaves the content out (the verifier then checks everything but the
        /// content).
        #[arg(long)]
        without_content: bool,
        /// Where to write the bundle.
        #[arg(long)]
        out: PathBuf,
    },
    /// Prints the portfolio and stackable progress.
    Show {
        /// The wallet file.
        #[arg(long)]
        wallet: PathBuf,
        /// A file holding the password (else MPMS_KEYSTORE_PASSWORD).
        #[arg(long)]
        password_file: Option<PathBuf>,
        /// JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

/// Syncs the wallet of the subject of key file `key` from node `node` into file
/// `wallet`, encrypted with `password`.
fn sync(node: &str, key: &Path, wallet: &Path, password: &str) -> anyhow::Result<Portfolio> {
    let party = load_keys(key, password)?;
    // The wallet already there (if this password opens it) says where the last scan
    // for entry keys stopped.
    let previous = if wallet.exists() {
        Some(open(wallet, password)?)
    } else {
        None
    };
    let synced = wallet::sync(
        &connect(Some(node.to_string()), None)?,
        &party,
        previous.as_ref(),
    )?;
    for (id, height) in &synced.erased {
        eprintln!("credential {id}: content erased at height {height}, not held");
    }
    for (id, why) in &synced.unreadable {
        eprintln!("credential {id}: not readable with this key ({why}), not held");
    }
    synced
        .portfolio
        .seal(password, KdfParams::DEFAULT, &mut OsRng)?
        .save(wallet)?;
    Ok(synced.portfolio)
}

/// The portfolio in wallet file `wallet`.
fn open(wallet: &Path, password: &str) -> anyhow::Result<Portfolio> {
    let store = Keystore::load(wallet).with_context(|| format!("{}", wallet.display()))?;
    if store.label != wallet::WALLET_LABEL {
        anyhow::bail!("{} is not a wallet", wallet.display());
    }
    Portfolio::unseal(&store, password).with_context(|| format!("{}", wallet.display()))
}

/// The first 12 hex digits of an id.
fn short_id(id: &mpms_crypto::Hash) -> String {
    id.to_string().chars().take(12).collect()
}

/// One line of the portfolio: schema, status, what the schema is, whose it is, its
/// fields, where it was issued, who signed it and what it corrects.
fn entry_line(c: &Held, schemas: &BTreeMap<&str, &Schema>) -> String {
    let status = match &c.record.status {
        CredentialStatus::Active => "active".to_string(),
        CredentialStatus::Revoked { reason, .. } => format!("REVOKED ({reason})"),
    };
    let about = schemas
        .get(c.record.claim.schema.as_str())
        .map_or("", |s| s.description.as_str());
    let fields: Vec<String> = c
        .content
        .fields
        .iter()
        .map(|(name, value)| format!("{name}: {}", value.display()))
        .collect();
    let mut line = format!(
        "  {:<16} {:<10} {} — {}: {}; {}, issued at block {}",
        c.record.claim.schema,
        status,
        about,
        c.content.holder_name,
        fields.join(", "),
        short_id(&c.id),
        c.record.issued_height
    );
    if let Some(p) = c.record.claim.practitioner {
        line.push_str(&format!(
            ", signed by practitioner {}",
            &p.to_string()[..12]
        ));
    }
    if let Some(earlier) = c.record.claim.supersedes {
        line.push_str(&format!(", corrects {}", short_id(&earlier)));
    }
    line
}

fn print(portfolio: &Portfolio) {
    println!(
        "Portfolio of {} on {} (height {})",
        portfolio.subject, portfolio.chain_id, portfolio.height
    );
    let schemas: BTreeMap<&str, &Schema> = portfolio
        .schemas
        .iter()
        .map(|s| (s.id.as_str(), s))
        .collect();
    // The current view: every entry no correction has superseded. The history: the
    // entries corrections replaced, each with what replaced it.
    let (current, corrected) = portfolio.current_and_corrected();
    for c in &current {
        println!("{}", entry_line(c, &schemas));
    }
    if !corrected.is_empty() {
        println!("History (entries corrected since):");
        for c in &corrected {
            let by = c
                .record
                .superseded_by
                .map(|id| short_id(&id))
                .unwrap_or_default();
            println!("{} — superseded by {by}", entry_line(c, &schemas));
        }
    }
    if !portfolio.audit.is_empty() {
        println!("Access to your credentials:");
        for (i, event) in portfolio.audit.iter().enumerate() {
            // The note sealed to the subject, opened at sync.
            let note = portfolio
                .audit_notes
                .get(i)
                .cloned()
                .flatten()
                .unwrap_or_else(|| "(sealed)".into());
            // Its JSON form: what the node answered.
            let event = serde_json::to_value(event).unwrap_or_default();
            let at = event["height"]
                .as_u64()
                .map_or_else(|| "        ".to_string(), |h| format!("block {h:>4}"));
            let what = match event["event"].as_str().unwrap_or_default() {
                "request" => format!(
                    "{} asked for {} credential(s): {}",
                    short(&event["requester"]),
                    event["credentials"].as_array().map_or(0, Vec::len),
                    note
                ),
                "grant" => format!(
                    "you granted {} access to {}",
                    short(&event["grantee"]),
                    short(&event["credential"])
                ),
                "grant-revoked" => format!(
                    "you revoked {}'s access to {}",
                    short(&event["grantee"]),
                    short(&event["credential"])
                ),
                "grant-expired" => format!(
                    "{}'s access to {} expired",
                    short(&event["grantee"]),
                    short(&event["credential"])
                ),
                "inspection" => format!(
                    "{} inspected {}: {}",
                    short(&event["grantee"]),
                    short(&event["credential"]),
                    note
                ),
                other => other.to_string(),
            };
            println!("  {at}  {what}");
        }
    }
    let progress = portfolio.progress();
    if !progress.is_empty() {
        println!("Stackable progress:");
        for p in progress {
            match p.state {
                Stack::Held => println!("  {:<16} complete", p.schema),
                Stack::Ready => println!(
                    "  {:<16} ready: every prerequisite held ({})",
                    p.schema,
                    p.have.join(", ")
                ),
                Stack::Missing => println!(
                    "  {:<16} missing {} (have {})",
                    p.schema,
                    p.missing.join(", "),
                    if p.have.is_empty() {
                        "none".to_string()
                    } else {
                        p.have.join(", ")
                    }
                ),
            }
        }
    }
}

/// The first 12 hex digits of an id, for display.
fn short(id: &serde_json::Value) -> String {
    id.as_str().unwrap_or_default().chars().take(12).collect()
}

pub fn run(command: WalletCommand) -> anyhow::Result<()> {
    match command {
        WalletCommand::Sync {
            node,
            key,
            wallet,
            password_file,
        } => {
            let portfolio = sync(&node, &key, &wallet, &password(&password_file)?)?;
            println!(
                "synced {} credentials at height {} into {}",
                portfolio.credentials.len(),
                portfolio.height,
                wallet.display()
            );
        }
        WalletCommand::ExportVc {
            wallet,
            password_file,
            credential,
            out,
        } => {
            let portfolio = open(&wallet, &password(&password_file)?)?;
            // Checked before it is handed out.
            let jwt = portfolio.find(&credential)?.verified_vc()?;
            crate::private_file::write(&out, format!("{jwt}\n"))?;
            println!(
                "wrote the Verifiable Credential of {credential} to {}",
                out.display()
            );
        }
        WalletCommand::Present {
            wallet,
            password_file,
            key,
            credential,
            show,
            audience,
            nonce,
            out,
        } => {
            let password = password(&password_file)?;
            let portfolio = open(&wallet, &password)?;
            let holder = load_keys(&key, &password)?;
            let held = portfolio.find(&credential)?;
            let presentation = held.present(
                &show,
                &portfolio.signer(held, &holder)?,
                &audience,
                &nonce,
                mpms_client::now_ms(),
            )?;
            crate::private_file::write(&out, format!("{presentation}\n"))?;
            println!(
                "wrote a presentation of {credential} to {} showing {}",
                out.display(),
                if show.is_empty() {
                    "no personal member".to_string()
                } else {
                    show.join(", ")
                }
            );
        }
        WalletCommand::ExportFhir {
            wallet,
            password_file,
            out,
        } => {
            let portfolio = open(&wallet, &password(&password_file)?)?;
            let bundle = portfolio.fhir_bundle();
            let count = bundle["entry"].as_array().map_or(0, Vec::len);
            crate::private_file::write(&out, serde_json::to_string_pretty(&bundle)?)?;
            println!(
                "wrote {count} FHIR resource(s) of {} to {}",
                portfolio.subject,
                out.display()
            );
        }
        WalletCommand::Bundle {
            node,
            wallet,
            password_file,
            credential,
            without_content,
            out,
        } => {
            let portfolio = open(&wallet, &password(&password_file)?)?;
            let (bundle, verdict) = wallet::proof_bundle(
                &connect(Some(node.to_string()), None)?,
                portfolio.find(&credential)?,
                without_content,
                mpms_client::now_ms(),
            )?;
            crate::private_file::write(&out, serde_json::to_vec_pretty(&bundle)?)?;
            println!(
                "wrote the proof bundle of {credential} (status as of height {}) to {}",
                verdict.status_height,
                out.display()
            );
        }
        WalletCommand::Show {
            wallet,
            password_file,
            json,
        } => {
            let portfolio = open(&wallet, &password(&password_file)?)?;
            if json {
                let progress = portfolio.progress();
                println!(
                    "{}",
                    serde_json::to_string_pretty(&serde_json::json!({
                        "portfolio": portfolio,
                        "progress": progress,
                    }))?
                );
            } else {
                print(&portfolio);
            }
        }
    }
    Ok(())
}
