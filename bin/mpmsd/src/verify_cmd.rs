//! `mpmsd verify`: checks a credential's proof bundle offline and prints the verdict.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail, Context};
use mpms_ledger::credential::CredentialContent;
use mpms_ledger::Genesis;
use mpms_light::verify::{refresh, verify_bundle, Outcome};
use mpms_light::{Anchor, ProofBundle, StatusProof, Verdict};

use crate::client::Client;

/// The largest bundle, content or genesis file read (a bundle is a few kilobytes per
/// authority-set change).
const MAX_FILE_BYTES: u64 = 64 << 20;

/// `mpmsd verify`.
#[derive(clap::Args)]
pub struct VerifyArgs {
    /// The proof bundle (a JSON file from `GET /v1/credentials/{id}/bundle` or
    /// `mpmsd wallet bundle`), or a W3C Verifiable Credential (a `vc+jwt` file from
    /// `mpmsd wallet export-vc`).
    pub file: PathBuf,
    /// For a Verifiable Credential: the credential's proof bundle, to check that the
    /// chain holds it, who signed it and its status (else fetched from `--node`).
    #[arg(long)]
    pub bundle: Option<PathBuf>,
    /// The credential's content (JSON), checked against the claim's commitment
    /// (instead of the content the bundle may carry).
    #[arg(long)]
    pub content: Option<PathBuf>,
    /// The consortium's genesis file: the trust anchor. Without it the bundle's own
    /// genesis is the anchor, and its hash is printed to compare with the
    /// consortium's published one.
    #[arg(long)]
    pub genesis: Option<PathBuf>,
    /// Fetches a newer status proof from `--node` and checks it like the rest (a
    /// node cannot forge one).
    #[arg(long, requires = "node")]
    pub refresh: bool,
    /// A node's API, for `--refresh` (and, for a Verifiable Credential, to fetch its
    /// bundle).
    #[arg(long)]
    pub node: Option<String>,
    /// Prints the verdict as JSON.
    #[arg(long)]
    pub json: bool,
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path, what: &str) -> anyhow::Result<T> {
    let file = std::fs::File::open(path).with_context(|| format!("{what} {}", path.display()))?;
    let mut text = Vec::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut text)
        .with_context(|| format!("{what} {}", path.display()))?;
    if text.len() as u64 > MAX_FILE_BYTES {
        bail!(
            "{what} {}: larger than {MAX_FILE_BYTES} bytes",
            path.display()
        );
    }
    serde_json::from_slice(&text).with_context(|| format!("{what} {}", path.display()))
}

fn read_text(path: &Path, what: &str) -> anyhow::Result<String> {
    let file = std::fs::File::open(path).with_context(|| format!("{what} {}", path.display()))?;
    let mut text = String::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_string(&mut text)
        .with_context(|| format!("{what} {}", path.display()))?;
    if text.len() as u64 > MAX_FILE_BYTES {
        bail!(
            "{what} {}: larger than {MAX_FILE_BYTES} bytes",
            path.display()
        );
    }
    Ok(text)
}

/// Runs the command; the process fails (naming the failed check) unless every check
/// passes.
pub fn run(args: VerifyArgs) -> anyhow::Result<()> {
    let text = read_text(&args.file, "file")?;
    if !text.trim_start().starts_with('{') {
        return verify_vc(&args, &text);
    }
    let bundle: ProofBundle =
        serde_json::from_str(&text).with_context(|| format!("bundle {}", args.file.display()))?;
    let (verdict, _) = check_bundle(&args, bundle, None)?;
    match verdict.first_failure() {
        None => Ok(()),
        Some(check) => bail!("verification failed: {}", check.name),
    }
}

/// Checks a Verifiable Credential: its JWS (offline), then, with a bundle (given, or
/// fetched from `--node`), that the chain holds the credential it describes, signed
/// with the certifier's key of the issue height, and its status.
fn verify_vc(args: &VerifyArgs, jwt: &str) -> anyhow::Result<()> {
    let vc = mpms_light::vc::verify_jwt(jwt)
        .map_err(|e| anyhow!("verification failed: vc signature: {e}"))?;
    println!(
        "Verifiable Credential {} on chain {}",
        vc.credential_id, vc.chain_id
    );
    println!(
        "  [ok  ] {:<22} vc+jwt signed by {}",
        "vc signature",
        mpms_light::vc::did_key(&vc.issuer_key)
    );
    let bundle: ProofBundle = match (&args.bundle, &args.node) {
        (Some(path), _) => read_json(path, "bundle")?,
        (None, Some(node)) => Client::new(node)
            .get_as(&format!("/v1/credentials/{}/bundle", vc.credential_id))
            .context("fetching the credential's proof bundle")?,
        (None, None) => {
            println!(
                "  [skip] {:<22} give --bundle or --node to check it against the chain",
                "on chain"
            );
            println!("VALID SIGNATURE (chain and status not checked)");
            return Ok(());
        }
    };
    if bundle.credential_id != vc.credential_id {
        bail!("verification failed: on chain: the bundle is for another credential");
    }
    let (verdict, bundle) = check_bundle(args, bundle, Some(&vc))?;
    if let Some(check) = verdict.first_failure() {
        bail!("verification failed: {}", check.name);
    }
    let issuance = mpms_ledger::credential::issuance_of(&bundle.transaction)
        .ok_or_else(|| anyhow!("verification failed: inclusion"))?;
    let key = mpms_light::verify::certifier_key(&bundle, &issuance.claim.certifier)
        .map_err(|e| anyhow!("verification failed: certifier signature: {e}"))?;
    match vc.matches(&issuance.claim, &key) {
        Ok(()) => {
            println!(
                "  [ok  ] {:<22} the credential is the chain's claim, signed with the certifier's key at the issue height",
                "vc matches chain"
            );
            println!("VALID");
            Ok(())
        }
        Err(e) => {
            println!("  [FAIL] {:<22} {e}", "vc matches chain");
            bail!("verification failed: vc matches chain")
        }
    }
}

/// Checks `bundle` (refreshed from `--node` if asked) and prints the verdict.
fn check_bundle(
    args: &VerifyArgs,
    mut bundle: ProofBundle,
    vc: Option<&mpms_light::vc::VerifiedVc>,
) -> anyhow::Result<(Verdict, ProofBundle)> {
    let (anchor, anchor_source) = match &args.genesis {
        Some(path) => {
            let genesis: Genesis = read_json(path, "genesis")?;
            let anchor = Anchor::from_genesis(&genesis).map_err(|e| anyhow!("genesis: {e}"))?;
            (anchor, format!("genesis file {}", path.display()))
        }
        None => {
            let anchor = Anchor::from_genesis(&bundle.genesis)
                .map_err(|e| anyhow!("the bundle's genesis: {e}"))?;
            (
                anchor,
                "the bundle's own genesis: compare its hash with the consortium's".to_string(),
            )
        }
    };
    let content: Option<CredentialContent> = match &args.content {
        Some(path) => Some(read_json(path, "content")?),
        None => None,
    };
    if args.refresh {
        let node = args.node.as_deref().unwrap_or_default();
        let fresh: StatusProof = Client::new(node)
            .get_as(&format!(
                "/v1/credentials/{}/status-proof",
                bundle.credential_id
            ))
            .context("fetching a newer status proof")?;
        refresh(&mut bundle, fresh).map_err(|e| anyhow!("refresh from {node}: {e}"))?;
    }
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    if let Some(vc) = vc {
        if vc.chain_id != anchor.chain_id {
            bail!(
                "verification failed: anchor: the credential is on chain {}, the trust anchor is chain {}",
                vc.chain_id,
                anchor.chain_id
            );
        }
    }
    let verdict = verify_bundle(&bundle, &anchor, content.as_ref(), now_ms);
    if args.json && vc.is_none() {
        println!("{}", serde_json::to_string_pretty(&verdict)?);
    } else {
        print_verdict(&bundle, &anchor, &anchor_source, &verdict);
    }
    Ok((verdict, bundle))
}

fn print_verdict(bundle: &ProofBundle, anchor: &Anchor, source: &str, verdict: &Verdict) {
    println!("credential {}", bundle.credential_id);
    println!(
        "trust anchor: chain {} genesis {} ({source})",
        anchor.chain_id, anchor.genesis_hash
    );
    for check in &verdict.checks {
        let (mark, detail) = match &check.outcome {
            Outcome::Passed(d) => ("ok  ", d),
            Outcome::Failed(d) => ("FAIL", d),
            Outcome::Skipped(d) => ("skip", d),
        };
        println!("  [{mark}] {:<22} {detail}", check.name.as_str());
    }
    println!(
        "status as of height {} ({} s old)",
        verdict.status_height,
        verdict.status_age_ms / 1000
    );
    match verdict.first_failure() {
        None => println!("VALID"),
        Some(check) => println!("INVALID: {} failed", check.name),
    }
}
