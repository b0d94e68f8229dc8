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
    /// The proof bundle: a JSON file from `GET /v1/credentials/{id}/bundle` or
    /// `mpmsd wallet bundle`.
    pub bundle: PathBuf,
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
    /// A node's API, for `--refresh`.
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

/// Runs the command; the process fails (naming the failed check) unless every check
/// passes.
pub fn run(args: VerifyArgs) -> anyhow::Result<()> {
    let mut bundle: ProofBundle = read_json(&args.bundle, "bundle")?;
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
    let verdict = verify_bundle(&bundle, &anchor, content.as_ref(), now_ms);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&verdict)?);
    } else {
        print_verdict(&bundle, &anchor, &anchor_source, &verdict);
    }
    match verdict.first_failure() {
        None => Ok(()),
        Some(check) => bail!("verification failed: {}", check.name),
    }
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
