//! `mpmsd verify`: checks a credential's proof bundle, its Verifiable Credential, or
//! an SD-JWT presentation of it, offline against a trust anchor, and prints the
//! verdict.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context};
use mpms_crypto::Hash;
use mpms_ledger::credential::CredentialContent;
use mpms_ledger::Genesis;
use mpms_light::vc::VerifiedVc;
use mpms_light::verify::{select_status, verify_bundle, Outcome, StatusCandidate};
use mpms_light::{Anchor, Policy, ProofBundle, Verdict};

use crate::client::connect;

/// The largest bundle, content or genesis file read (a bundle is a few kilobytes per
/// authority-set change).
const MAX_FILE_BYTES: u64 = 64 << 20;

/// `mpmsd verify`.
#[derive(clap::Args)]
pub struct VerifyArgs {
    /// The proof bundle (a JSON file from `GET /v1/credentials/{id}/bundle` or
    /// `mpmsd wallet bundle`), a W3C Verifiable Credential (a `vc+jwt` file from
    /// `mpmsd wallet export-vc`), or an SD-JWT VC presentation (from `mpmsd wallet
    /// present`, with --audience and --nonce).
    pub file: PathBuf,
    /// For a Verifiable Credential: the credential's proof bundle, to check that the
    /// chain holds it, who signed it and its status (else fetched from `--node`).
    #[arg(long)]
    pub bundle: Option<PathBuf>,
    /// The credential's content (JSON), checked against the claim's commitment
    /// (instead of the content the bundle may carry).
    #[arg(long)]
    pub content: Option<PathBuf>,
    /// The consortium's genesis file: the trust anchor.
    #[arg(long, conflicts_with = "genesis_hash")]
    pub genesis: Option<PathBuf>,
    /// The consortium's published genesis hash, as the trust anchor instead of the
    /// file: the bundle's genesis must hash to it.
    #[arg(long)]
    pub genesis_hash: Option<Hash>,
    /// Kept for older scripts: a status is asked of every `--node` given.
    #[arg(long, hide = true)]
    pub refresh: bool,
    /// A node's API to ask for the credential's status (and, for a Verifiable
    /// Credential without --bundle, its bundle). Repeat it to ask several: the
    /// highest status certified from the trust anchor wins, so one node that keeps
    /// old state cannot hide a revocation.
    #[arg(long)]
    pub node: Vec<String>,
    /// The oldest status accepted, by this machine's clock: `90s`, `10m`, `2h`,
    /// `1d`, or `any` (accept a status of any age, explicitly).
    #[arg(long, default_value = "10m", value_parser = parse_max_age)]
    pub max_age: MaxAge,
    /// Accept an entry superseded by a correction (history) instead of failing it.
    #[arg(long)]
    pub allow_superseded: bool,
    /// Accept a verdict that could not check the content (none given, or erased):
    /// "signature and chain only".
    #[arg(long)]
    pub accept_partial: bool,
    /// For an SD-JWT presentation: the audience the holder had to bind it to (the
    /// verifier's own name).
    #[arg(long)]
    pub audience: Option<String>,
    /// For an SD-JWT presentation: the nonce the verifier gave the holder.
    #[arg(long)]
    pub nonce: Option<String>,
    /// For an SD-JWT presentation: the oldest key binding accepted, by this
    /// machine's clock (`90s`, `10m`, ...).
    #[arg(long, default_value = "5m", value_parser = parse_max_age)]
    pub presentation_max_age: MaxAge,
    /// Prints the verdict as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `--max-age`: milliseconds, or any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MaxAge(Option<u64>);

fn parse_max_age(text: &str) -> Result<MaxAge, String> {
    if text == "any" {
        return Ok(MaxAge(None));
    }
    let (number, unit) = text.split_at(
        text.find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len()),
    );
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{text:?}: a number and s, m, h or d, or `any`"))?;
    let per = match unit {
        "" | "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return Err(format!("{text:?}: the unit is s, m, h or d")),
    };
    n.checked_mul(per)
        .map(|ms| MaxAge(Some(ms)))
        .ok_or_else(|| format!("{text:?}: too long"))
}

impl VerifyArgs {
    fn policy(&self) -> Policy {
        Policy {
            max_age_ms: self.max_age.0,
            allow_superseded: self.allow_superseded,
            accept_partial: self.accept_partial,
        }
    }
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

fn read_json<T: serde::de::DeserializeOwned>(path: &Path, what: &str) -> anyhow::Result<T> {
    serde_json::from_str(&read_text(path, what)?)
        .with_context(|| format!("{what} {}", path.display()))
}

/// Runs the command. The process succeeds only if every check passes against a
/// trust anchor the verifier brought (`--genesis` or `--genesis-hash`); otherwise it
/// fails naming the first failed check.
pub fn run(args: VerifyArgs) -> anyhow::Result<()> {
    let text = read_text(&args.file, "file")?;
    if text.contains('~') {
        return verify_presentation(&args, text.trim());
    }
    if !text.trim_start().starts_with('{') {
        return verify_vc(&args, &text);
    }
    let bundle = ProofBundle::from_json(&text)
        .map_err(|e| anyhow!("verification failed: bundle {}: {e}", args.file.display()))?;
    let (verdict, _) = check_bundle(&args, bundle, args.json, &args.policy(), true)?;
    match verdict.first_failure() {
        None => Ok(()),
        Some(check) => bail!("verification failed: {}", check.name),
    }
}

/// The trust anchor the verifier brought: its genesis file, or the bundle's genesis
/// if it hashes to the published hash. `Err` names what is missing.
fn anchor(args: &VerifyArgs, bundle: &ProofBundle) -> anyhow::Result<(Anchor, String)> {
    if let Some(path) = &args.genesis {
        let genesis: Genesis = read_json(path, "genesis")?;
        let anchor = Anchor::from_genesis(&genesis).map_err(|e| anyhow!("genesis: {e}"))?;
        return Ok((anchor, format!("genesis file {}", path.display())));
    }
    let Some(published) = args.genesis_hash else {
        bail!(
            "verification failed: anchor: no trust anchor; give the consortium's genesis file (--genesis FILE) or its published hash (--genesis-hash HASH)"
        );
    };
    // The hash first: nothing is built from the bundle's genesis block.
    let anchor = Anchor::from_published(&bundle.genesis, &published)
        .map_err(|e| anyhow!("verification failed: anchor: the bundle's {e}"))?;
    Ok((anchor, "the published genesis hash".to_string()))
}

/// Checks a Verifiable Credential: its JWS, then against the chain through its proof
/// bundle (given, or fetched from `--node`): that the chain holds the credential it
/// describes, signed with the certifier's key of the issue height, its status, and
/// (with the content) its personal fields.
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
    let bundle: ProofBundle = match (&args.bundle, args.node.first()) {
        (Some(path), _) => ProofBundle::from_json(&read_text(path, "bundle")?)
            .map_err(|e| anyhow!("verification failed: bundle {}: {e}", path.display()))?,
        (None, Some(_)) => fetch_bundle(&args.node, &vc.credential_id)?,
        (None, None) => bail!(
            "verification failed: on chain: only the signature was checked; give --bundle FILE or --node URL (with --genesis) to check the credential against the chain"
        ),
    };
    if bundle.credential_id != vc.credential_id {
        bail!("verification failed: on chain: the bundle is for another credential");
    }
    let (verdict, bundle) = check_bundle(args, bundle, false, &args.policy(), true)?;
    if let Some(check) = verdict.first_failure() {
        bail!("verification failed: {}", check.name);
    }
    if vc.chain_id != bundle.genesis.header.chain_id {
        bail!("verification failed: anchor: the credential names another chain");
    }
    vc_matches_chain(args, &vc, &bundle)
}

/// Checks an SD-JWT VC presentation: its issuer signature, its disclosures and its
/// key binding (to `--audience` and `--nonce`, recent), then against the chain
/// through the credential's proof bundle (given, or fetched from `--node`): that the
/// chain holds the credential it names, signed with the key that signed the
/// presentation's issuer JWT, and its status. Prints what was disclosed.
fn verify_presentation(args: &VerifyArgs, presentation: &str) -> anyhow::Result<()> {
    let (Some(audience), Some(nonce)) = (&args.audience, &args.nonce) else {
        bail!(
            "verification failed: key binding: give the --audience and --nonce the holder was asked to bind the presentation to"
        );
    };
    let max_age = args
        .presentation_max_age
        .0
        .ok_or_else(|| anyhow!("--presentation-max-age: give a duration"))?;
    let shown = mpms_light::sd_jwt::verify_presentation(
        presentation,
        audience,
        nonce,
        mpms_client::now_ms(),
        max_age,
    )
    .map_err(|e| anyhow!("verification failed: presentation: {e}"))?;
    println!(
        "SD-JWT presentation of credential {} on chain {}",
        shown.credential_id, shown.chain_id
    );
    println!(
        "  [ok  ] {:<22} dc+sd-jwt signed by {}; every disclosure is one it signed",
        "presentation",
        mpms_light::vc::did_key(&shown.issuer_key)
    );
    println!(
        "  [ok  ] {:<22} signed by the holder's key for {audience:?}, nonce {nonce:?}",
        "key binding"
    );
    let bundle: ProofBundle = match (&args.bundle, args.node.first()) {
        (Some(path), _) => ProofBundle::from_json(&read_text(path, "bundle")?)
            .map_err(|e| anyhow!("verification failed: bundle {}: {e}", path.display()))?,
        (None, Some(_)) => fetch_bundle(&args.node, &shown.credential_id)?,
        (None, None) => bail!(
            "verification failed: on chain: only the signatures were checked; give --bundle FILE or --node URL (with --genesis) to check the credential against the chain"
        ),
    };
    if bundle.credential_id != shown.credential_id {
        bail!("verification failed: on chain: the bundle is for another credential");
    }
    // A presentation shows part of the content by design: the chain's commitment to
    // the whole is not what it is checked against (its disclosures are, against the
    // issuer's signature over their digests).
    let policy = Policy {
        accept_partial: true,
        ..args.policy()
    };
    let (verdict, bundle) = check_bundle(args, bundle, false, &policy, false)?;
    if let Some(check) = verdict.first_failure() {
        bail!("verification failed: {}", check.name);
    }
    if shown.chain_id != bundle.genesis.header.chain_id {
        bail!("verification failed: anchor: the presentation names another chain");
    }
    let issuance = mpms_ledger::credential::issuance_of(&bundle.transaction)
        .ok_or_else(|| anyhow!("verification failed: inclusion"))?;
    let key = mpms_light::verify::signer_key(&bundle, &issuance.claim)
        .map_err(|e| anyhow!("verification failed: certifier signature: {e}"))?;
    if let Err(e) = shown.matches(&issuance.claim, &key) {
        println!("  [FAIL] {:<22} {e}", "presentation matches chain");
        bail!("verification failed: presentation matches chain");
    }
    println!(
        "  [ok  ] {:<22} issuer, type, dates, holder and id are the chain's claim, signed with the certifier's key at the issue height",
        "presentation matches chain"
    );
    println!("disclosed:");
    for name in mpms_light::sd_jwt::DISCLOSABLE {
        if let Some(value) = shown.disclosed.get(name) {
            println!("  {name}: {value}");
        }
    }
    if let Some(claims) = shown.disclosed.get("claims").and_then(|c| c.as_object()) {
        for (name, value) in claims {
            println!("  {name}: {value}");
        }
    }
    println!(
        "VALID (the disclosed members as the issuer signed them; {} withheld by the holder)",
        shown.withheld
    );
    Ok(())
}

fn vc_matches_chain(
    args: &VerifyArgs,
    vc: &VerifiedVc,
    bundle: &ProofBundle,
) -> anyhow::Result<()> {
    let issuance = mpms_ledger::credential::issuance_of(&bundle.transaction)
        .ok_or_else(|| anyhow!("verification failed: inclusion"))?;
    let key = mpms_light::verify::signer_key(bundle, &issuance.claim)
        .map_err(|e| anyhow!("verification failed: certifier signature: {e}"))?;
    if let Err(e) = vc.matches(&issuance.claim, &key) {
        println!("  [FAIL] {:<22} {e}", "vc matches chain");
        bail!("verification failed: vc matches chain");
    }
    println!(
        "  [ok  ] {:<22} the credential is the chain's claim, signed with the certifier's key at the issue height",
        "vc matches chain"
    );
    let content: Option<CredentialContent> = match &args.content {
        Some(path) => Some(read_json(path, "content")?),
        None => bundle.content.clone(),
    };
    match content {
        Some(content) => {
            if let Err(e) = vc.matches_content(&issuance.claim, &content) {
                println!("  [FAIL] {:<22} {e}", "vc content");
                bail!("verification failed: vc content");
            }
            println!(
                "  [ok  ] {:<22} its personal fields are the content the chain's claim commits to",
                "vc content"
            );
        }
        None if args.accept_partial => {
            println!(
                "  [skip] {:<22} no content to check its personal fields against: they rest on the signer's signature alone",
                "vc content"
            );
            println!("VALID (signature and chain only: the personal fields were not checked)");
            return Ok(());
        }
        None => {
            println!(
                "  [FAIL] {:<22} no content to check its personal fields against: signature and chain only (give --content, or --accept-partial)",
                "vc content"
            );
            bail!("verification failed: vc content");
        }
    }
    println!("VALID");
    Ok(())
}

/// The bundle of `credential` from the first of `nodes` that serves it.
fn fetch_bundle(nodes: &[String], credential: &Hash) -> anyhow::Result<ProofBundle> {
    let mut errors = Vec::new();
    for node in nodes {
        match connect(Some(node.to_string()), None).and_then(|c| Ok(c.bundle(credential)?)) {
            Ok(bundle) => return Ok(bundle),
            Err(e) => errors.push(format!("{node}: {e}")),
        }
    }
    bail!(
        "fetching the credential's proof bundle: {}",
        errors.join("; ")
    )
}

/// The bundle's status and every `--node`'s, the highest certified one chosen
/// ([`select_status`]), with what became of each.
fn freshest_status(
    args: &VerifyArgs,
    anchor: &Anchor,
    bundle: &ProofBundle,
) -> anyhow::Result<(mpms_light::StatusProof, Vec<String>)> {
    let mut candidates = vec![StatusCandidate {
        source: "the bundle".into(),
        status: bundle.status.clone(),
    }];
    let mut unreachable = Vec::new();
    for node in &args.node {
        match connect(Some(node.to_string()), None)
            .and_then(|c| Ok(c.status_proof(&bundle.credential_id)?))
        {
            Ok(status) => candidates.push(StatusCandidate {
                source: node.clone(),
                status,
            }),
            Err(e) => unreachable.push(format!("{node}: no status: {e}")),
        }
    }
    let (status, mut notes) = select_status(anchor, &bundle.credential_id, candidates)
        .map_err(|e| anyhow!("verification failed: status: {e}"))?;
    notes.extend(unreachable);
    Ok((status, notes))
}

/// Checks `bundle` (refreshed from `--node` if asked) against the verifier's anchor
/// and prints the verdict (as JSON if `json`). Returns it with the bundle checked.
fn check_bundle(
    args: &VerifyArgs,
    mut bundle: ProofBundle,
    json: bool,
    policy: &Policy,
    conclude: bool,
) -> anyhow::Result<(Verdict, ProofBundle)> {
    let (anchor, anchor_source) = anchor(args, &bundle)?;
    let content: Option<CredentialContent> = match &args.content {
        Some(path) => Some(read_json(path, "content")?),
        None => None,
    };
    let mut notes = Vec::new();
    if !args.node.is_empty() {
        let (status, seen) = freshest_status(args, &anchor, &bundle)?;
        bundle.status = status;
        notes = seen;
    }
    let verdict = verify_bundle(
        &bundle,
        &anchor,
        content.as_ref(),
        mpms_client::now_ms(),
        policy,
    );
    if json {
        println!("{}", serde_json::to_string_pretty(&verdict)?);
    } else {
        for note in &notes {
            println!("status source: {note}");
        }
        print_verdict(&bundle, &anchor, &anchor_source, &verdict, conclude);
    }
    Ok((verdict, bundle))
}

/// Prints the verdict's checks, and with `conclude` its conclusion (a caller that
/// checks more than the bundle concludes itself).
fn print_verdict(
    bundle: &ProofBundle,
    anchor: &Anchor,
    source: &str,
    verdict: &Verdict,
    conclude: bool,
) {
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
    let freshness = &verdict.freshness;
    println!(
        "status as of height {} ({} s old; {})",
        freshness.status_height,
        freshness.age_ms / 1000,
        match freshness.max_age_ms {
            Some(max) => format!("at most {} s accepted", max / 1000),
            None => "any age accepted".into(),
        }
    );
    if !conclude {
        return;
    }
    match (verdict.first_failure(), verdict.scope) {
        (Some(check), _) => println!("INVALID: {} failed", check.name),
        (None, mpms_light::verify::Scope::Full) => println!("VALID"),
        (None, mpms_light::verify::Scope::SignatureAndChainOnly) => {
            println!("VALID (signature and chain only: the content was not checked)")
        }
    }
}
