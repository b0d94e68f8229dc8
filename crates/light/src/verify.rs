//! Checking a proof bundle offline: each check named, each failure saying why.

use mpms_crypto::{Domain, Hash, PublicKey};
use mpms_ledger::block::verify_tx_inclusion;
use mpms_ledger::credential::{issuance_of, CredentialContent};
use mpms_ledger::records::{
    keys, Account, AccreditationStatus, Certifier, CertifierRevocations, Credential,
    CredentialStatus, Delegation, DelegationTerm,
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

/// What a verifier accepts: how old a status may be, whether a corrected entry
/// counts, whether a verdict without the content counts. [`Policy::strict`] is the
/// default; anything laxer is the caller's explicit choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Policy {
    /// The oldest status accepted, by the verifier's clock (milliseconds); `None`
    /// accepts any age.
    pub max_age_ms: Option<u64>,
    /// Whether an entry superseded by a correction passes (history), or fails naming
    /// the correction.
    pub allow_superseded: bool,
    /// Whether a verdict that could not check the content (none given) passes as
    /// "signature and chain only".
    pub accept_partial: bool,
}

/// The default oldest status a verifier accepts: 10 minutes. A healthy chain makes a
/// block every few seconds; a node serving an older status either lags or hides
/// what happened since (a revocation).
pub const DEFAULT_MAX_AGE_MS: u64 = 10 * 60 * 1000;

/// A block may be this far ahead of a verifier's clock (the chain's validators accept
/// blocks up to their clock drift ahead of theirs).
pub const MAX_STATUS_AHEAD_MS: u64 = 10_000;

impl Policy {
    /// Fresh status only ([`DEFAULT_MAX_AGE_MS`]), no superseded entry, the content
    /// checked.
    pub fn strict() -> Policy {
        Policy {
            max_age_ms: Some(DEFAULT_MAX_AGE_MS),
            allow_superseded: false,
            accept_partial: false,
        }
    }

    /// What a holder checks of its own credentials (a wallet, a demo): any age of
    /// status (it reads it from its own node), history included, content optional.
    pub fn holder() -> Policy {
        Policy {
            max_age_ms: None,
            allow_superseded: true,
            accept_partial: true,
        }
    }
}

impl Default for Policy {
    fn default() -> Self {
        Policy::strict()
    }
}

/// How fresh the status a verdict rests on was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Freshness {
    /// The height the status is proven at.
    pub status_height: u64,
    /// That block's certified time (Unix ms).
    pub status_time_ms: u64,
    /// Its age when checked, by the verifier's clock (milliseconds; 0 if ahead).
    pub age_ms: u64,
    /// The oldest the policy accepted (`None`: any).
    pub max_age_ms: Option<u64>,
}

/// How much of the credential a verdict covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Scope {
    /// Every check ran, the content's included.
    Full,
    /// The content was not checked (not given, or erased): the signature, the chain
    /// and the status only.
    SignatureAndChainOnly,
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
    /// How fresh the status was, against the policy.
    pub freshness: Freshness,
    /// What the verdict covers.
    pub scope: Scope,
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
/// verifier holds it (else the bundle's own, if any), at time `now_ms`, under
/// `policy`.
pub fn verify_bundle(
    bundle: &ProofBundle,
    anchor: &Anchor,
    content: Option<&CredentialContent>,
    now_ms: u64,
    policy: &Policy,
) -> Verdict {
    let mut checks = Checks(Vec::new());
    let status = &bundle.status;
    let at = &status.at.header;
    let freshness = Freshness {
        status_height: at.height,
        status_time_ms: at.time_ms,
        age_ms: now_ms.saturating_sub(at.time_ms),
        max_age_ms: policy.max_age_ms,
    };
    let verdict = |checks: Checks| {
        let partial = !matches!(
            checks
                .0
                .iter()
                .find(|c| c.name == CheckName::ContentCommitment)
                .map(|c| &c.outcome),
            Some(Outcome::Passed(_))
        );
        let mut checks = checks;
        let failed = checks
            .0
            .iter()
            .any(|c| matches!(c.outcome, Outcome::Failed(_)));
        if partial && !policy.accept_partial && !failed {
            // The content is the credential: without it the verdict is not VALID
            // unless the caller accepts a partial one.
            if let Some(check) = checks
                .0
                .iter_mut()
                .find(|c| c.name == CheckName::ContentCommitment)
            {
                if let Outcome::Skipped(why) = &check.outcome {
                    check.outcome = Outcome::Failed(format!(
                        "{why}: signature and chain only (accept a partial check to pass)"
                    ));
                }
            }
        }
        Verdict {
            checks: checks.0,
            status_height: at.height,
            status_age_ms: freshness.age_ms,
            freshness,
            scope: if partial {
                Scope::SignatureAndChainOnly
            } else {
                Scope::Full
            },
        }
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
        // The bundle's genesis block must be the trusted one: its header by hash,
        // the first authority set whole.
        if bundle.genesis != anchor.genesis_block() {
            Err(format!(
                "the bundle names another genesis block ({}, chain {:?}) than the trusted one (chain {}, genesis {})",
                bundle.genesis.header.hash(),
                bundle.genesis.header.chain_id.chars().take(64).collect::<String>(),
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
    } else if let Some(late) = status
        .authority_changes
        .iter()
        .find(|c| c.block.header.height > at.height)
    {
        // A change after the status height is nothing the verdict rests on.
        Err(format!(
            "a change at height {}, after the status height {}",
            late.block.header.height, at.height
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
        credential_status(status, tx.hash(), issuance, issued, now_ms, policy),
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
/// and from its account at the issue height when the bundle carries it (each proven
/// against the bundle's headers, which [`verify_bundle`] checks are final): the two
/// must agree wherever both say, and one must say.
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
    // No account at the status height: it never existed (accounts are not deleted),
    // and it signs with the key it is named by.
    let from_status = match &at_status {
        None => Some(signer),
        Some(account) => account.signing_keys.at(height).copied(),
    };
    let from_issue = match &bundle.signer_account_at_issue {
        None => None,
        Some(proof) => {
            let then: Option<Account> = proven(proof, &key, &bundle.issued.header, what)?;
            Some(then.map_or(signer, |a| a.signing_key_at(&signer, height)))
        }
    };
    match (from_status, from_issue) {
        (Some(a), Some(b)) if a != b => Err(format!(
            "the signer's account at the issue height names key {b}, its history at the status height {a}"
        )),
        (Some(key), _) | (None, Some(key)) => Ok(key),
        (None, None) => Err(format!(
            "the signer's key at height {height} is no longer in its account's history, and the bundle has no proof of the account at that height"
        )),
    }
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
    let from_status = delegation
        .as_ref()
        .and_then(|d| d.terms.at(issued.height))
        .cloned();
    // The delegation as proven at the issue height itself, when the bundle carries
    // it (needed once the history at the status height forgot that term): it must
    // agree with the history wherever both say.
    let from_issue = match &bundle.delegation_at_issue {
        None => None,
        Some(at_issue) => {
            let then: Option<Delegation> = proven(
                at_issue,
                &keys::delegation(&claim.certifier, practitioner),
                issued,
                "delegation at issue",
            )?;
            Some(then.and_then(|d| d.terms.at(issued.height).cloned()))
        }
    };
    let term =
        match (from_status, from_issue) {
            (Some(a), Some(b)) if Some(&a) != b.as_ref() => return Err(
                "the delegation at the issue height differs from its history at the status height"
                    .into(),
            ),
            (Some(term), _) => Some(term),
            (None, Some(term)) => term,
            (None, None) => None,
        };
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
    let status = &bundle.status;
    // Every proof the bundle carries is checked or refused: the certifier's account
    // is proven whoever signed; a certifier's own claim carries no practitioner's.
    let _: Option<Account> = proven(
        &status.certifier_account,
        &keys::account(&claim.certifier),
        &status.at.header,
        "certifier account",
    )?;
    let delegation = match &claim.practitioner {
        Some(p) => Some(delegation_at_issue(bundle, claim, p)?),
        None => {
            if status.delegation.is_some()
                || status.practitioner_account.is_some()
                || bundle.delegation_at_issue.is_some()
            {
                return Err(
                    "the bundle carries a practitioner's delegation or account for a claim the certifier signed itself"
                        .into(),
                );
            }
            None
        }
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
            "signed by practitioner {p} (role digest {}) with key {key}, for certifier {} under its delegation in force at block {}",
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
        AccreditationStatus::Slashed(reason) => {
            return Err(format!(
                "slashed for fraud at height {}: {}",
                issued.height,
                reason.chars().take(200).collect::<String>()
            ))
        }
    }
    // A certifier slashed for fraud since: none of its credentials is trusted until
    // governance accredits it again (and revokes what it must by height range).
    if let Some((since, AccreditationStatus::Slashed(reason))) = certifier
        .accreditation
        .entries()
        .last()
        .map(|(h, a)| (*h, &a.status))
    {
        return Err(format!(
            "its certifier is suspended for fraud since height {since}: {} (as of height {})",
            reason.chars().take(200).collect::<String>(),
            status.at.header.height
        ));
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
    policy: &Policy,
) -> Result<String, String> {
    let at = &status.at.header;
    // Freshness first: a status older than the policy allows says nothing of what
    // happened since (a node that keeps old state hides a revocation).
    let age_ms = now_ms.saturating_sub(at.time_ms);
    if at.time_ms > now_ms.saturating_add(MAX_STATUS_AHEAD_MS) {
        return Err(format!(
            "the status block (height {}) is timed {} ahead of this verifier's clock",
            at.height,
            millis_to_text(at.time_ms - now_ms)
        ));
    }
    if let Some(max) = policy.max_age_ms {
        if age_ms > max {
            return Err(format!(
                "the status is as of height {}, {} old: more than the {} allowed (ask a node for a fresh status, or accept an older one explicitly)",
                at.height,
                millis_to_text(age_ms),
                millis_to_text(max)
            ));
        }
    }
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
    let revocations: Option<CertifierRevocations> = proven(
        &status.certifier_revocations,
        &keys::certifier_revocations(&record.claim.certifier),
        at,
        "certifier revocations",
    )?;
    let age = millis_to_text(now_ms.saturating_sub(at.time_ms));
    match &record.status_with(revocations.as_ref(), at.height) {
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
        // A corrected entry is history: it fails, naming the correction, unless the
        // caller asks for history.
        CredentialStatus::Active
            if record.superseded_by.is_some() && !policy.allow_superseded =>
        {
            Err(format!(
                "superseded by correction {} (as of height {}, {age} old): verify the correction, or ask for history",
                record.superseded_by.map(|c| c.to_string()).unwrap_or_default(),
                at.height
            ))
        }
        CredentialStatus::Active => {
            let mut text = format!("active as of height {} ({age} old)", at.height);
            if let Some(by) = record.superseded_by {
                text.push_str(&format!(", superseded by correction {by} (history accepted)"));
            }
            if let Some(height) = record.erased_height {
                text.push_str(&format!(", content erased at height {height}"));
            }
            Ok(text)
        }
    }
}

/// A status proof some node served, and who.
#[derive(Debug, Clone)]
pub struct StatusCandidate {
    /// Where it came from (a node's address, or "the bundle").
    pub source: String,
    /// The status proof.
    pub status: StatusProof,
}

/// Of the status proofs several nodes served for `credential_id`, the one at the
/// highest height whose header is certified from `anchor` by its own authority-set
/// chain; with a line per candidate saying what became of it. Two certified headers
/// of one height that differ mean the trusted authorities signed two chains: that is
/// refused. A node that keeps old state (hiding a revocation) loses to any node that
/// is further on.
pub fn select_status(
    anchor: &Anchor,
    credential_id: &mpms_ledger::CredentialId,
    candidates: Vec<StatusCandidate>,
) -> Result<(StatusProof, Vec<String>), String> {
    let mut notes = Vec::new();
    let mut best: Option<(StatusProof, String)> = None;
    let mut seen: Vec<(u64, Hash)> = Vec::new();
    for candidate in candidates {
        let StatusCandidate { source, status } = candidate;
        let certified = (|| {
            if status.credential_id != *credential_id {
                return Err("a status of another credential".to_string());
            }
            if status.authority_changes.len() > MAX_AUTHORITY_CHANGES {
                return Err("too many authority-set changes".into());
            }
            let path = AuthorityPath::follow(anchor, &status.authority_changes)
                .map_err(|e| e.to_string())?;
            path.check(&status.at).map_err(|e| e.to_string())
        })();
        let at = &status.at.header;
        match certified {
            Err(e) => notes.push(format!("{source}: refused: {e}")),
            Ok(()) => {
                let hash = at.hash();
                if seen
                    .iter()
                    .any(|(h, other)| *h == at.height && *other != hash)
                {
                    return Err(format!(
                        "two different certified blocks at height {}: the trusted authorities signed two chains",
                        at.height
                    ));
                }
                seen.push((at.height, hash));
                notes.push(format!(
                    "{source}: certified status as of height {}",
                    at.height
                ));
                if best
                    .as_ref()
                    .is_none_or(|(b, _)| b.at.header.height < at.height)
                {
                    best = Some((status, source));
                }
            }
        }
    }
    match best {
        Some((status, source)) => {
            notes.push(format!(
                "using the status of {source}, height {}",
                status.at.header.height
            ));
            Ok((status, notes))
        }
        None => Err(format!(
            "no certified status among {} candidate(s): {}",
            notes.len(),
            notes.join("; ")
        )),
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
