//! Checking a proof bundle offline: each check named, each failure saying why.

use mpms_crypto::{Domain, Hash, PublicKey};
use mpms_ledger::block::verify_tx_inclusion;
use mpms_ledger::credential::{issuance_of, CredentialContent};
use mpms_ledger::records::{
    keys, Account, AccreditationStatus, Certifier, Credential, CredentialStatus, Delegation,
    DelegationTerm,
};
use mpms_ledger::state::StateProof;
use mpms_ledger::transaction::{CredentialClaim, CredentialIssuance};
use mpms_ledger::{codec, Header};
use serde::Serialize;

use crate::bundle::{BUNDLE_FORMAT, MAX_AUTHORITY_CHANGES};
use crate::{Anchor, AuthorityPath, ProofBundle, StatusProof};

/// The checks, in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum CheckName {
    /// The bundle is for the trusted genesis.
    Anchor,
    /// The certified chain of authority-set changes from genesis.
    AuthoritySetChain,
    /// The issuing block and the status block are final: certified by more than 2/3
    /// of the set for their heights.
    CertificateQuorum,
    /// The issuing transaction is in the issuing block and issues this credential.
    Inclusion,
    /// The certifier signed the claim with the key it held at the issue height.
    CertifierSignature,
    /// The content is what the claim commits to.
    ContentCommitment,
    /// The certifier was accredited, within dates and for the schema, at the issue
    /// height.
    CertifierAccredited,
    /// The credential's status at the status height.
    Status,
}

impl CheckName {
    /// The check's name as printed.
    pub fn as_str(self) -> &'static str {
        match self {
            CheckName::Anchor => "anchor",
            CheckName::AuthoritySetChain => "authority-set chain",
            CheckName::CertificateQuorum => "certificate quorum",
            CheckName::Inclusion => "inclusion",
            CheckName::CertifierSignature => "certifier signature",
            CheckName::ContentCommitment => "content commitment",
            CheckName::CertifierAccredited => "certifier accredited",
            CheckName::Status => "status",
        }
    }
}

impl std::fmt::Display for CheckName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What one check found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(tag = "outcome", content = "detail", rename_all = "kebab-case")]
pub enum Outcome {
    /// It holds.
    Passed(String),
    /// It does not hold.
    Failed(String),
    /// It could not run (nothing to check, or an earlier check failed).
    Skipped(String),
}

/// One named check and its outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Check {
    /// Which check.
    pub name: CheckName,
    /// What it found.
    #[serde(flatten)]
    pub outcome: Outcome,
}

/// The result of checking a bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Verdict {
    /// Every check, in order.
    pub checks: Vec<Check>,
    /// The height the status is proven at.
    pub status_height: u64,
    /// How old that block was when checked (milliseconds).
    pub status_age_ms: u64,
}

impl Verdict {
    /// Whether no check failed.
    pub fn passed(&self) -> bool {
        self.first_failure().is_none()
    }

    /// The first failed check.
    pub fn first_failure(&self) -> Option<&Check> {
        self.checks
            .iter()
            .find(|c| matches!(c.outcome, Outcome::Failed(_)))
    }

    /// The outcome of check `name`.
    pub fn outcome(&self, name: CheckName) -> Option<&Outcome> {
        self.checks
            .iter()
            .find(|c| c.name == name)
            .map(|c| &c.outcome)
    }
}

/// Where a check stands while the bundle is walked.
struct Checks(Vec<Check>);

impl Checks {
    fn record(&mut self, name: CheckName, result: Result<String, String>) -> bool {
        let passed = result.is_ok();
        let outcome = match result {
            Ok(detail) => Outcome::Passed(detail),
            Err(detail) => Outcome::Failed(detail),
        };
        self.0.push(Check { name, outcome });
        passed
    }

    fn skip(&mut self, name: CheckName, why: &str) {
        self.0.push(Check {
            name,
            outcome: Outcome::Skipped(why.to_string()),
        });
    }
}

/// Checks `proof` is for `key` at `header`'s height and holds against its state root;
/// returns the proven record.
fn proven<T: serde::de::DeserializeOwned>(
    proof: &StateProof,
    key: &[u8],
    header: &Header,
    what: &str,
) -> Result<Option<T>, String> {
    if proof.key != key {
        return Err(format!("the {what} proof is for another state key"));
    }
    if proof.height != header.height {
        return Err(format!(
            "the {what} proof is for height {}, not {}",
            proof.height, header.height
        ));
    }
    proof
        .verify(&header.state_root)
        .map_err(|e| format!("{what}: {e}"))?;
    proof
        .record()
        .map_err(|e| format!("the proven {what} does not decode: {e}"))
}

fn millis_to_text(ms: u64) -> String {
    let secs = ms / 1000;
    match secs {
        0..=119 => format!("{secs} s"),
        120..=7_199 => format!("{} min", secs / 60),
        7_200..=172_799 => format!("{} h", secs / 3600),
        _ => format!("{} days", secs / 86_400),
    }
}

/// Checks `bundle` against `anchor` (the trusted genesis), with `content` if the
/// verifier holds it (else the bundle's own, if any), at time `now_ms`.
pub fn verify_bundle(
    bundle: &ProofBundle,
    anchor: &Anchor,
    content: Option<&CredentialContent>,
    now_ms: u64,
) -> Verdict {
    let mut checks = Checks(Vec::new());
    let status = &bundle.status;
    let at = &status.at.header;
    let verdict = |checks: Checks| Verdict {
        checks: checks.0,
        status_height: at.height,
        status_age_ms: now_ms.saturating_sub(at.time_ms),
    };
    let skip_rest = |checks: &mut Checks, from: usize, why: &str| {
        for name in ALL.iter().skip(from) {
            checks.skip(*name, why);
        }
    };

    // Anchor.
    let anchored = if bundle.format != BUNDLE_FORMAT {
        Err(format!(
            "format {:?}: this verifier reads {BUNDLE_FORMAT}",
            bundle.format.chars().take(64).collect::<String>()
        ))
    } else {
        // Compared as documents: the bundle's genesis is not rebuilt (it may be
        // large and it is not trusted).
        if bundle.genesis != anchor.genesis {
            Err(format!(
                "the bundle names another genesis (chain {:?}) than the trusted one (chain {}, genesis {})",
                bundle.genesis.chain_id.chars().take(64).collect::<String>(),
                anchor.chain_id,
                anchor.genesis_hash
            ))
        } else if status.credential_id != bundle.credential_id {
            Err("the status proof is for another credential".into())
        } else {
            Ok(format!(
                "chain {}, genesis {}",
                anchor.chain_id, anchor.genesis_hash
            ))
        }
    };
    if !checks.record(CheckName::Anchor, anchored) {
        skip_rest(&mut checks, 1, "the bundle is not for the trusted chain");
        return verdict(checks);
    }

    // Authority-set chain.
    let path = if status.authority_changes.len() > MAX_AUTHORITY_CHANGES {
        Err(format!(
            "{} changes, at most {MAX_AUTHORITY_CHANGES}",
            status.authority_changes.len()
        ))
    } else {
        AuthorityPath::follow(anchor, &status.authority_changes).map_err(|e| e.to_string())
    };
    let path = match path {
        Ok(path) => {
            checks.record(
                CheckName::AuthoritySetChain,
                Ok(format!(
                    "{} change(s) from genesis, each certified by the set before it",
                    path.len()
                )),
            );
            path
        }
        Err(e) => {
            checks.record(CheckName::AuthoritySetChain, Err(e));
            skip_rest(&mut checks, 2, "the authority sets are unknown");
            return verdict(checks);
        }
    };

    // Certificate quorum of the issuing and the status block.
    let issued = &bundle.issued.header;
    let quorum = path
        .check(&bundle.issued)
        .and_then(|()| path.check(&status.at))
        .map_err(|e| e.to_string())
        .and_then(|()| {
            if at.height < issued.height {
                Err("the status height is before the issue height".into())
            } else {
                Ok(format!(
                    "block {} ({} of {} signed) and block {} ({} of {} signed)",
                    issued.height,
                    bundle.issued.certificate.signatures.len(),
                    path.set_at(issued.height).len(),
                    at.height,
                    status.at.certificate.signatures.len(),
                    path.set_at(at.height).len(),
                ))
            }
        });
    if !checks.record(CheckName::CertificateQuorum, quorum) {
        skip_rest(&mut checks, 3, "the blocks are not proven final");
        return verdict(checks);
    }

    // Inclusion.
    let tx = &bundle.transaction;
    let included = match issuance_of(tx) {
        None => Err("the transaction does not issue a credential".to_string()),
        Some(_) if tx.tx.chain_id != anchor.chain_id => {
            Err("the transaction is for another chain".into())
        }
        Some(issuance) if issuance.claim.id() != bundle.credential_id => {
            Err("the transaction issues another credential".into())
        }
        Some(_) if !verify_tx_inclusion(issued, tx, &bundle.tx_proof) => Err(format!(
            "the Merkle proof does not place the transaction in block {}",
            issued.height
        )),
        Some(_) => Ok(format!(
            "transaction {} is number {} of block {}",
            tx.hash(),
            bundle.tx_proof.index,
            issued.height
        )),
    };
    let Some(issuance) = issuance_of(tx).filter(|_| checks.record(CheckName::Inclusion, included))
    else {
        skip_rest(&mut checks, 4, "the issuing transaction is not proven");
        return verdict(checks);
    };

    checks.record(
        CheckName::CertifierSignature,
        certifier_signature(bundle, issuance, &anchor.chain_id),
    );

    let content = content.or(bundle.content.as_ref());
    match content {
        None if issuance.content.is_erased() => checks.skip(
            CheckName::ContentCommitment,
            "content erased at its subject's request (the claim and its commitment remain)",
        ),
        None => checks.skip(CheckName::ContentCommitment, "no content given"),
        Some(content) => {
            let result = if content.commitment() == issuance.claim.commitment {
                Ok(format!(
                    "content matches commitment {}",
                    issuance.claim.commitment
                ))
            } else {
                Err("the content does not match the claim's commitment".into())
            };
            checks.record(CheckName::ContentCommitment, result);
        }
    }

    checks.record(
        CheckName::CertifierAccredited,
        accredited(status, issuance, issued),
    );
    checks.record(
        CheckName::Status,
        credential_status(status, tx.hash(), issuance, issued, now_ms),
    );
    verdict(checks)
}

const ALL: [CheckName; 8] = [
    CheckName::Anchor,
    CheckName::AuthoritySetChain,
    CheckName::CertificateQuorum,
    CheckName::Inclusion,
    CheckName::CertifierSignature,
    CheckName::ContentCommitment,
    CheckName::CertifierAccredited,
    CheckName::Status,
];

/// The signing key at the issue height of the claim's signer (the certifier, or the
/// practitioner who signed for it), from its account's history at the status height
/// or, failing that, from its account at the issue height (each proven against the
/// bundle's headers, which [`verify_bundle`] checks are final).
pub fn signer_key(bundle: &ProofBundle, claim: &CredentialClaim) -> Result<PublicKey, String> {
    let height = bundle.issued.header.height;
    let signer = claim.signer();
    let (what, at_status) = match claim.practitioner {
        None => ("certifier account", &bundle.status.certifier_account),
        Some(_) => (
            "practitioner account",
            bundle
                .status
                .practitioner_account
                .as_ref()
                .ok_or("the bundle has no proof of the practitioner's account")?,
        ),
    };
    let key = keys::account(&signer);
    let at_status: Option<Account> = proven(at_status, &key, &bundle.status.at.header, what)?;
    let Some(account) = at_status else {
        // No account: it signs with the key it is named by.
        return Ok(signer);
    };
    if let Some(key) = account.signing_keys.at(height) {
        return Ok(*key);
    }
    let Some(at_issue) = &bundle.signer_account_at_issue else {
        return Err(format!(
            "the signer's key at height {height} is no longer in its account's history, and the bundle has no proof of the account at that height"
        ));
    };
    let account: Option<Account> = proven(at_issue, &key, &bundle.issued.header, what)?;
    Ok(account.map_or(signer, |a| a.signing_key_at(&signer, height)))
}

/// For a claim a practitioner signed: the delegation terms in force at the issue
/// height, checked to allow signing this claim then.
fn delegation_at_issue(
    bundle: &ProofBundle,
    claim: &CredentialClaim,
    practitioner: &PublicKey,
) -> Result<DelegationTerm, String> {
    let issued = &bundle.issued.header;
    if bundle.status.delegation.is_none() && bundle.delegation_at_issue.is_none() {
        return Err("the bundle has no proof of the practitioner's delegation".into());
    }
    let delegation: Option<Delegation> = match &bundle.status.delegation {
        Some(proof) => proven(
            proof,
            &keys::delegation(&claim.certifier, practitioner),
            &bundle.status.at.header,
            "delegation",
        )?,
        None => None,
    };
    let mut term = delegation
        .as_ref()
        .and_then(|d| d.terms.at(issued.height))
        .cloned();
    // Forgotten since (older than the evidence window): the delegation as proven at
    // the issue height itself, if the bundle carries it.
    if term.is_none() {
        if let Some(at_issue) = &bundle.delegation_at_issue {
            let then: Option<Delegation> = proven(
                at_issue,
                &keys::delegation(&claim.certifier, practitioner),
                issued,
                "delegation at issue",
            )?;
            term = then.and_then(|d| d.terms.at(issued.height).cloned());
        }
    }
    let term = term.ok_or_else(|| {
        format!(
            "practitioner {practitioner} held no delegation from certifier {} at block {}",
            claim.certifier, issued.height
        )
    })?;
    if let Some(reason) = &term.revoked {
        return Err(format!(
            "practitioner {practitioner}'s delegation was revoked before block {}: {reason}",
            issued.height
        ));
    }
    if !term.valid_at(issued.time_ms) {
        return Err(format!(
            "practitioner {practitioner}'s delegation was not valid at block {}'s time",
            issued.height
        ));
    }
    if !term.covers(&claim.schema) {
        return Err(format!(
            "schema {} is outside practitioner {practitioner}'s delegation",
            claim.schema
        ));
    }
    Ok(term)
}

fn certifier_signature(
    bundle: &ProofBundle,
    issuance: &CredentialIssuance,
    chain_id: &str,
) -> Result<String, String> {
    let claim = &issuance.claim;
    let delegation = match &claim.practitioner {
        Some(p) => Some(delegation_at_issue(bundle, claim, p)?),
        None => None,
    };
    let key = signer_key(bundle, claim)?;
    key.verify(
        chain_id,
        Domain::CredentialClaim,
        &codec::encode(claim),
        &issuance.certifier_signature,
    )
    .map_err(|_| format!("the claim's signature does not verify under the signer's key {key}"))?;
    Ok(match (claim.practitioner, delegation) {
        (Some(p), Some(term)) => format!(
            "signed by practitioner {p} ({}) with key {key}, for certifier {} under its delegation in force at block {}",
            term.role, claim.certifier, bundle.issued.header.height
        ),
        _ => format!("signed by certifier {} with key {key}", claim.certifier),
    })
}

fn accredited(
    status: &StatusProof,
    issuance: &CredentialIssuance,
    issued: &Header,
) -> Result<String, String> {
    let claim = &issuance.claim;
    let certifier: Certifier = proven(
        &status.certifier,
        &keys::certifier(&claim.certifier),
        &status.at.header,
        "certifier record",
    )?
    .ok_or_else(|| "the certifier is not registered".to_string())?;
    let accreditation = certifier
        .accreditation
        .at(issued.height)
        .ok_or_else(|| format!("no accreditation at height {}", issued.height))?;
    match &accreditation.status {
        AccreditationStatus::Accredited => {}
        AccreditationStatus::Pending => {
            return Err(format!("not accredited at height {}", issued.height))
        }
        AccreditationStatus::Suspended(reason) => {
            return Err(format!(
                "suspended at height {}: {}",
                issued.height,
                reason.chars().take(200).collect::<String>()
            ))
        }
    }
    if issued.time_ms < accreditation.valid_from_ms
        || issued.time_ms >= accreditation.valid_until_ms
    {
        return Err("the accreditation was not valid at the issue time".into());
    }
    if !accreditation.covers(&claim.schema) {
        return Err(format!(
            "schema {} is outside the accreditation's scope",
            claim.schema
        ));
    }
    Ok(format!(
        "{} was accredited for {} at height {}",
        certifier.name.chars().take(100).collect::<String>(),
        claim.schema,
        issued.height
    ))
}

fn credential_status(
    status: &StatusProof,
    tx_hash: Hash,
    issuance: &CredentialIssuance,
    issued: &Header,
    now_ms: u64,
) -> Result<String, String> {
    let at = &status.at.header;
    let record: Credential = proven(
        &status.credential,
        &keys::credential(&status.credential_id),
        at,
        "credential record",
    )?
    .ok_or_else(|| format!("no such credential at height {}", at.height))?;
    if record.claim != issuance.claim
        || record.issued_tx != tx_hash
        || record.issued_height != issued.height
        || record.certifier_signature != issuance.certifier_signature
    {
        return Err("the credential record differs from the issuing transaction".into());
    }
    let age = millis_to_text(now_ms.saturating_sub(at.time_ms));
    match &record.status {
        CredentialStatus::Revoked { reason, height } => Err(format!(
            "revoked at height {height}: {} (as of height {}, {age} old)",
            reason.chars().take(200).collect::<String>(),
            at.height
        )),
        CredentialStatus::Active if at.time_ms < record.claim.valid_from_ms => {
            Err(format!("not yet valid at height {} ({age} old)", at.height))
        }
        CredentialStatus::Active if at.time_ms >= record.claim.valid_until_ms => {
            Err(format!("expired by height {} ({age} old)", at.height))
        }
        // Expiry is a time: it is judged now, whatever the status height.
        CredentialStatus::Active if now_ms >= record.claim.valid_until_ms => Err(format!(
            "expired since the status height {} (it ran until {} ms since the epoch)",
            at.height, record.claim.valid_until_ms
        )),
        CredentialStatus::Active if now_ms < record.claim.valid_from_ms => Err(format!(
            "not yet valid now (from {} ms since the epoch)",
            record.claim.valid_from_ms
        )),
        // A corrected entry stays valid (both are provable); the verifier is told
        // which entry replaced it.
        CredentialStatus::Active => {
            let mut text = format!("active as of height {} ({age} old)", at.height);
            if let Some(by) = record.superseded_by {
                text.push_str(&format!(", superseded by correction {by}"));
            }
            if let Some(height) = record.erased_height {
                text.push_str(&format!(", content erased at height {height}"));
            }
            Ok(text)
        }
    }
}

/// Replaces the bundle's status with a newer one (fetched from any node), refusing
/// one for another credential or an older height; the result is checked like any
/// bundle, so a forged status fails verification.
pub fn refresh(bundle: &mut ProofBundle, fresh: StatusProof) -> Result<(), String> {
    if fresh.credential_id != bundle.credential_id {
        return Err("the status proof is for another credential".into());
    }
    if fresh.at.header.height < bundle.status.at.header.height {
        return Err(format!(
            "the status proof is for height {}, older than the bundle's {}",
            fresh.at.header.height, bundle.status.at.header.height
        ));
    }
    bundle.status = fresh;
    Ok(())
}
