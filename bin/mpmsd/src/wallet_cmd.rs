//! `mpmsd wallet`: a subject's portfolio. `sync` fetches the subject's credentials,
//! decrypts each with the subject's key, checks it (certifier signature and
//! commitment) and keeps the portfolio in a local file encrypted with the key file's
//! password; `show` prints it with stackable progress: for every schema built on
//! others, whether it is held, ready (all prerequisites held) or what is missing.
//! `export-vc` writes a credential's W3C Verifiable Credential (the certifier's JWT);
//! `bundle` writes its proof bundle, content included, for `mpmsd verify`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context};
use clap::Subcommand;
use mpms_crypto::keystore::{KdfParams, Keystore};
use mpms_crypto::Hash;
use mpms_ledger::credential::{issuance_of, open_delivery, verify_content, CredentialContent};
use mpms_ledger::records::{Credential, CredentialStatus, Schema};
use rand::rngs::OsRng;
use serde::{Deserialize, Serialize};

use crate::client::Client;
use crate::keys_cmd::{load_keys, password};

const WALLET_LABEL: &str = "mpms-wallet";

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

/// One decrypted credential.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Held {
    /// Credential id.
    pub id: Hash,
    /// The on-chain record (claim, status).
    pub record: Credential,
    /// The decrypted content.
    pub content: CredentialContent,
    /// The certifier's Verifiable Credential (a `vc+jwt`), if it made one.
    #[serde(default)]
    pub vc_jwt: Option<String>,
}

/// The portfolio.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Portfolio {
    /// The subject.
    pub subject: String,
    /// The chain.
    pub chain_id: String,
    /// The height synced at.
    pub height: u64,
    /// Credentials.
    pub credentials: Vec<Held>,
    /// Every schema of the chain (for stackable progress).
    pub schemas: Vec<Schema>,
    /// Who asked for, was granted, lost or used access to these credentials (the
    /// chain's audit trail at the synced height).
    #[serde(default)]
    pub audit: Vec<serde_json::Value>,
}

/// Where a stack stands.
#[derive(Debug, Serialize)]
pub struct Progress {
    /// The stacked schema.
    pub schema: String,
    /// "held", "ready" (every prerequisite held) or "missing".
    pub state: &'static str,
    /// Prerequisites held.
    pub have: Vec<String>,
    /// Prerequisites not held.
    pub missing: Vec<String>,
}

impl Portfolio {
    /// Schemas held now (active credentials).
    fn held_schemas(&self) -> BTreeSet<String> {
        self.credentials
            .iter()
            .filter(|c| matches!(c.record.status, CredentialStatus::Active))
            .map(|c| c.record.claim.schema.clone())
            .collect()
    }

    /// Progress on every schema with prerequisites that the subject has started on.
    pub fn progress(&self) -> Vec<Progress> {
        let held = self.held_schemas();
        let mut out = Vec::new();
        for s in self.schemas.iter().filter(|s| !s.prerequisites.is_empty()) {
            let (have, missing): (Vec<String>, Vec<String>) = s
                .prerequisites
                .iter()
                .cloned()
                .partition(|p| held.contains(p));
            if have.is_empty() && !held.contains(&s.id) {
                continue;
            }
            let state = if held.contains(&s.id) {
                "held"
            } else if missing.is_empty() {
                "ready"
            } else {
                "missing"
            };
            out.push(Progress {
                schema: s.id.clone(),
                state,
                have,
                missing,
            });
        }
        out
    }
}

fn sync(node: &str, key: &Path, wallet: &Path, password: &str) -> anyhow::Result<Portfolio> {
    let client = Client::new(node);
    let party = load_keys(key, password)?;
    let reader = party.decryption("a wallet")?;
    let status = client.get("/v1/status")?;
    let subject = party.id();
    let list = client.get(&format!("/v1/subjects/{subject}/credentials?limit=1000"))?;
    let mut credentials = Vec::new();
    for item in list["credentials"].as_array().cloned().unwrap_or_default() {
        let id: Hash = serde_json::from_value(item["id"].clone()).context("credential id")?;
        let record: Credential =
            serde_json::from_value(item["credential"].clone()).context("credential record")?;
        if let Some(height) = record.erased_height {
            eprintln!("credential {id}: content erased at height {height}, not held");
            continue;
        }
        let tx = client.committed_tx(&record.issued_tx)?;
        let issuance =
            issuance_of(&tx).ok_or_else(|| anyhow!("{} does not issue {id}", record.issued_tx))?;
        let delivery = open_delivery(
            issuance,
            mpms_ledger::credential::subject_sealed(issuance)?,
            reader,
        )
        .with_context(|| format!("decrypting credential {id}"))?;
        let content = delivery.content;
        verify_content(
            &tx.tx.chain_id,
            &issuance.claim,
            &issuance.certifier_signature,
            &issuance.claim.signer(),
            &content,
        )
        .with_context(|| format!("checking credential {id}"))?;
        credentials.push(Held {
            id,
            record,
            content,
            vc_jwt: delivery.vc_jwt,
        });
    }
    let schemas: Vec<Schema> =
        serde_json::from_value(client.get("/v1/schemas?limit=1000")?["schemas"].clone())
            .context("schemas")?;
    let audit = client.get(&format!("/v1/subjects/{subject}/audit?limit=1000"))?["events"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let portfolio = Portfolio {
        audit,
        subject: subject.to_string(),
        chain_id: status["chain_id"].as_str().unwrap_or_default().to_string(),
        height: status["height"].as_u64().unwrap_or(0),
        credentials,
        schemas,
    };
    let plain = zeroize::Zeroizing::new(serde_json::to_vec(&portfolio)?);
    Keystore::encrypt(
        WALLET_LABEL,
        &plain,
        password,
        KdfParams::DEFAULT,
        &mut OsRng,
    )?
    .save(wallet)?;
    Ok(portfolio)
}

fn open(wallet: &Path, password: &str) -> anyhow::Result<Portfolio> {
    let store = Keystore::load(wallet).with_context(|| format!("{}", wallet.display()))?;
    if store.label != WALLET_LABEL {
        anyhow::bail!("{} is not a wallet", wallet.display());
    }
    let plain = store
        .decrypt(password)
        .with_context(|| format!("{}", wallet.display()))?;
    Ok(serde_json::from_slice(&plain)?)
}

/// The portfolio's current entries whose schema maps to a FHIR resource type, as a
/// FHIR Bundle. Each resource's author is the practitioner who signed it, else its
/// certifier (account ids: the chain keeps no one's name for them).
fn fhir_bundle(portfolio: &Portfolio) -> serde_json::Value {
    let mut resources = Vec::new();
    for held in &portfolio.credentials {
        if held.record.superseded_by.is_some() {
            continue;
        }
        let Some(kind) = portfolio
            .schemas
            .iter()
            .find(|s| s.id == held.record.claim.schema)
            .and_then(|s| s.fhir_resource.as_deref())
            .and_then(mpms_fhir::ResourceType::parse)
        else {
            continue;
        };
        let author = held.record.claim.signer().to_string();
        let mut resource = mpms_fhir::resource(
            kind,
            &held.content.fields,
            mpms_fhir::Parties {
                subject: &held.content.holder_name,
                author: &author,
            },
        );
        resource["id"] = serde_json::json!(held.id.to_string());
        resources.push(resource);
    }
    mpms_fhir::bundle(resources)
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
    let (current, corrected): (Vec<&Held>, Vec<&Held>) = portfolio
        .credentials
        .iter()
        .partition(|c| c.record.superseded_by.is_none());
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
        for event in &portfolio.audit {
            let at = event["height"]
                .as_u64()
                .map_or_else(|| "        ".to_string(), |h| format!("block {h:>4}"));
            let what = match event["event"].as_str().unwrap_or_default() {
                "request" => format!(
                    "{} asked for {} credential(s): {}",
                    short(&event["requester"]),
                    event["credentials"].as_array().map_or(0, Vec::len),
                    event["purpose"].as_str().unwrap_or_default()
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
                    event["outcome"]
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
                "held" => println!("  {:<16} complete", p.schema),
                "ready" => println!(
                    "  {:<16} ready: every prerequisite held ({})",
                    p.schema,
                    p.have.join(", ")
                ),
                _ => println!(
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

fn find<'p>(portfolio: &'p Portfolio, credential: &Hash) -> anyhow::Result<&'p Held> {
    portfolio
        .credentials
        .iter()
        .find(|c| &c.id == credential)
        .ok_or_else(|| anyhow!("credential {credential} is not in the wallet (run wallet sync)"))
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
            let held = find(&portfolio, &credential)?;
            let jwt = held.vc_jwt.as_deref().ok_or_else(|| {
                anyhow!("the certifier delivered no Verifiable Credential for {credential}")
            })?;
            // Checked before it is handed out.
            let vc = mpms_light::vc::verify_jwt(jwt)?;
            vc.matches(&held.record.claim, &vc.issuer_key)?;
            vc.matches_content(&held.record.claim, &held.content)?;
            std::fs::write(&out, format!("{jwt}\n"))
                .with_context(|| format!("{}", out.display()))?;
            println!(
                "wrote the Verifiable Credential of {credential} to {}",
                out.display()
            );
        }
        WalletCommand::ExportFhir {
            wallet,
            password_file,
            out,
        } => {
            let portfolio = open(&wallet, &password(&password_file)?)?;
            let bundle = fhir_bundle(&portfolio);
            let count = bundle["entry"].as_array().map_or(0, Vec::len);
            std::fs::write(&out, serde_json::to_string_pretty(&bundle)?)
                .with_context(|| format!("{}", out.display()))?;
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
            let held = find(&portfolio, &credential)?;
            let mut bundle: mpms_light::ProofBundle =
                Client::new(&node).get_as(&format!("/v1/credentials/{credential}/bundle"))?;
            if !without_content {
                bundle.content = Some(held.content.clone());
            }
            let anchor = mpms_light::Anchor::from_genesis(&bundle.genesis)?;
            let now_ms = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64);
            let verdict = mpms_light::verify::verify_bundle(&bundle, &anchor, None, now_ms);
            if let Some(failed) = verdict.first_failure() {
                anyhow::bail!("the node's bundle does not check: {} failed", failed.name);
            }
            std::fs::write(&out, serde_json::to_vec_pretty(&bundle)?)
                .with_context(|| format!("{}", out.display()))?;
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
