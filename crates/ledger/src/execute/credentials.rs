//! Credential schemas, issuance and revocation.

use std::rc::Rc;

use mpms_crypto::{Domain, Hash};

use super::accounts::check_text;
use super::error::{CredentialRuleError, TxError};
use super::txn::Txn;
use super::{Event, IssuanceView, SignatureCheck};
use crate::records::{
    keys, Account, AccreditationStatus, Certifier, CertifierRevocations, Credential,
    CredentialStatus, Delegation, DelegationTerm, Schema,
};
use crate::transaction::{CredentialIssuance, SchemaDefinition};
use crate::History;
use crate::{codec, AccountId, CredentialId};

const MAX_SCHEMA_ID: usize = 64;
const MAX_PREREQUISITES: usize = 16;
const MAX_DESCRIPTION: usize = 1024;
const MAX_REASON: usize = 256;
const MAX_DELEGATED_SCHEMAS: usize = 32;
/// Most versions of one delegation's terms kept within the evidence window (a
/// revocation may always be added on top).
pub const MAX_DELEGATION_VERSIONS: usize = 16;

/// Whether `id` is a well-formed schema id.
pub(crate) fn valid_schema_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_SCHEMA_ID
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
}

/// Whether `pattern` is a well-formed accreditation scope entry: a schema id, or a prefix ending in `*`.
pub fn valid_scope_pattern(pattern: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some("") => true,
        Some(prefix) => valid_schema_id(prefix),
        None => valid_schema_id(pattern),
    }
}

/// A certifier's accreditation in force at a height, checked to allow acting then.
pub(crate) struct InForce {
    record: Rc<Certifier>,
    height: u64,
}

impl InForce {
    /// Whether the accreditation's scope covers `schema`.
    pub fn covers(&self, schema: &str) -> bool {
        self.record
            .accreditation
            .at(self.height)
            .is_some_and(|a| a.covers(schema))
    }
}

/// The accreditation of `certifier` in force at `height`, if it allows acting at
/// `time_ms`.
pub(crate) fn accreditation_in_force(
    txn: &Txn,
    certifier: &AccountId,
    height: u64,
    time_ms: u64,
) -> Result<InForce, TxError> {
    let record: Rc<Certifier> = txn
        .shared(&keys::certifier(certifier))?
        .ok_or(CredentialRuleError::UnknownCertifier(*certifier))?;
    let accreditation = record
        .accreditation
        .at(height)
        .ok_or(CredentialRuleError::UnknownCertifier(*certifier))?;
    match &accreditation.status {
        AccreditationStatus::Pending => Err(CredentialRuleError::NotAccredited(*certifier).into()),
        AccreditationStatus::Suspended(reason) | AccreditationStatus::Slashed(reason) => {
            Err(CredentialRuleError::CertifierSuspended {
                certifier: *certifier,
                reason: reason.clone(),
            }
            .into())
        }
        AccreditationStatus::Accredited
            if time_ms < accreditation.valid_from_ms || time_ms >= accreditation.valid_until_ms =>
        {
            Err(CredentialRuleError::AccreditationNotValid(*certifier).into())
        }
        AccreditationStatus::Accredited => Ok(InForce { record, height }),
    }
}

pub(super) fn register_schema(
    txn: &mut Txn,
    sender: AccountId,
    def: &SchemaDefinition,
) -> Result<(), TxError> {
    if !txn.contains(&keys::certifier(&sender))? {
        return Err(TxError::NotRegistered {
            role: "certifier",
            account: sender,
        });
    }
    if !valid_schema_id(&def.id) {
        return Err(TxError::field("id", "1 to 64 characters of a-z 0-9 . _ -"));
    }
    check_text("description", &def.description, MAX_DESCRIPTION, true)?;
    check_text("output", &def.output, MAX_DESCRIPTION, false)?;
    check_text(
        "completion_condition",
        &def.completion_condition,
        MAX_DESCRIPTION,
        false,
    )?;
    crate::claims::check_specs(&def.fields).map_err(|e| TxError::field("fields", e.to_string()))?;
    if let Some(name) = &def.fhir_resource {
        if name.is_empty() || name.len() > 64 || !name.bytes().all(|b| b.is_ascii_alphabetic()) {
            return Err(TxError::field(
                "fhir_resource",
                "a FHIR resource type: 1 to 64 ASCII letters",
            ));
        }
    }
    if def.max_validity_ms == Some(0) {
        return Err(TxError::field("max_validity_ms", "must be positive"));
    }
    crate::record_schema::check(def).map_err(|(field, reason)| TxError::field(field, reason))?;
    let accreditation = accreditation_in_force(txn, &sender, txn.height(), txn.ctx.time_ms)?;
    if !accreditation.covers(&def.id) {
        return Err(CredentialRuleError::OutOfScope {
            schema: def.id.clone(),
            certifier: sender,
        }
        .into());
    }
    if txn.contains(&keys::schema(&def.id))? {
        return Err(TxError::SchemaExists(def.id.clone()));
    }
    if def.prerequisites.len() > MAX_PREREQUISITES {
        return Err(TxError::field(
            "prerequisites",
            format!("more than {MAX_PREREQUISITES}"),
        ));
    }
    for (i, prerequisite) in def.prerequisites.iter().enumerate() {
        if def.prerequisites[..i].contains(prerequisite) {
            return Err(TxError::field(
                "prerequisites",
                format!("{prerequisite} listed twice"),
            ));
        }
        if !txn.contains(&keys::schema(prerequisite))? {
            return Err(CredentialRuleError::UnknownSchema(prerequisite.clone()).into());
        }
    }
    let schema = Schema {
        id: def.id.clone(),
        owner: sender,
        description: def.description.clone(),
        prerequisites: def.prerequisites.clone(),
        output: def.output.clone(),
        completion_condition: def.completion_condition.clone(),
        max_validity_ms: def.max_validity_ms,
        fields: def.fields.clone(),
        fhir_resource: def.fhir_resource.clone(),
        registered_height: txn.height(),
    };
    txn.put(keys::schema(&def.id), &schema);
    txn.emit(Event::SchemaRegistered(def.id.clone()));
    Ok(())
}

/// Whether something registered at `registered` may be relied on by an issuance
/// in the block at `height`, seen through `view`: only what was committed before the
/// block counts (for mempool admission, also the sender's pending transactions).
/// Judging evidence, something not committed before the block was absent from the
/// state its voters judged it by: the issuance broke the rule `missing` names.
fn final_before(
    view: IssuanceView,
    registered: u64,
    height: u64,
    what: impl FnOnce() -> String,
    missing: impl FnOnce() -> CredentialRuleError,
) -> Result<(), TxError> {
    match view {
        _ if registered < height => Ok(()),
        IssuanceView::Pending if registered <= height => Ok(()),
        IssuanceView::Block => Err(TxError::NotFinalYet(format!(
            "{} in this same block; the issuance can go in the next one",
            what()
        ))),
        IssuanceView::Pending => Err(TxError::NotFinalYet(format!(
            "{} at height {registered}, not before the block at height {height}",
            what()
        ))),
        IssuanceView::Evidence => Err(missing().into()),
    }
}

/// Checks an issuance against the rules as in force at `height` and time `time_ms`,
/// reading only state committed before that height (see [`IssuanceView`]). Used both
/// to execute issuances and to judge fake-credential evidence about a past block, so
/// the two can never disagree. A rule violation is `Err(TxError::Credential(_))`;
/// executing a block, reliance on something not final before it is
/// `Err(TxError::NotFinalYet(_))` (the issuance waits for a later block); judging
/// evidence, that reliance is a rule violation too (see [`IssuanceView::Evidence`]).
pub(crate) fn check_issuance(
    txn: &Txn,
    issuance: &CredentialIssuance,
    height: u64,
    time_ms: u64,
    check_signature: bool,
    view: IssuanceView,
) -> Result<(), TxError> {
    let claim = &issuance.claim;
    if claim.valid_until_ms <= claim.valid_from_ms {
        return Err(
            CredentialRuleError::InvalidDates("end date is not after start date".into()).into(),
        );
    }
    if claim.status_index >= crate::transaction::MAX_STATUS_INDEX {
        return Err(CredentialRuleError::StatusIndexOutOfRange(claim.status_index).into());
    }
    // Accreditation changes always take effect from the height after the vote, so the
    // accreditation in force at `height` was final before it, in every view.
    let accreditation = accreditation_in_force(txn, &claim.certifier, height, time_ms)?;
    let schema: Rc<Schema> = txn
        .shared(&keys::schema(&claim.schema))?
        .ok_or_else(|| CredentialRuleError::UnknownSchema(claim.schema.clone()))?;
    final_before(
        view,
        schema.registered_height,
        height,
        || format!("schema {} was registered", claim.schema),
        || CredentialRuleError::UnknownSchema(claim.schema.clone()),
    )?;
    if !accreditation.covers(&claim.schema) {
        return Err(CredentialRuleError::OutOfScope {
            schema: claim.schema.clone(),
            certifier: claim.certifier,
        }
        .into());
    }
    if claim.valid_until_ms <= time_ms {
        return Err(CredentialRuleError::InvalidDates("already expired at issuance".into()).into());
    }
    if let Some(max) = schema.max_validity_ms {
        if claim.valid_until_ms - claim.valid_from_ms > max {
            return Err(CredentialRuleError::InvalidDates(format!(
                "validity exceeds the schema's maximum of {max} ms"
            ))
            .into());
        }
    }
    // The subject is a registered subject's account or an entry key (see
    // `mpms_crypto::entry`): any usable ed25519 key, which only its owner can sign
    // for. The chain cannot tell whose entry key it is, and must not. The rule reads
    // no state, so no later registration can change a verdict on an old block (a
    // subject registered after an issuance to its key made it neither valid nor
    // fake).
    if !claim.subject.is_valid() {
        return Err(CredentialRuleError::UnknownSubject(claim.subject).into());
    }
    for prerequisite in &schema.prerequisites {
        match holding(txn, &claim.subject, prerequisite, height, time_ms)? {
            Holding::Held => {}
            Holding::Since(issued) => {
                final_before(
                    view,
                    issued,
                    height,
                    || format!("prerequisite {prerequisite} was issued"),
                    || CredentialRuleError::MissingPrerequisite(prerequisite.clone()),
                )?;
            }
            Holding::No => {
                return Err(CredentialRuleError::MissingPrerequisite(prerequisite.clone()).into())
            }
        }
    }
    if let Some(practitioner) = claim.practitioner {
        delegation_in_force(txn, claim, &practitioner, height, time_ms)?;
    }
    if let Some(earlier) = &claim.supersedes {
        // Only what never changes about the earlier entry is judged here (so evidence
        // about an old block sees what its validators saw); whether it was revoked or
        // corrected already is checked at execution only.
        let old = txn
            .get::<Credential>(&keys::credential(earlier))?
            .ok_or(CredentialRuleError::UnknownCorrected(*earlier))?;
        final_before(
            view,
            old.issued_height,
            height,
            || format!("corrected entry {earlier} was issued"),
            || CredentialRuleError::UnknownCorrected(*earlier),
        )?;
        if old.claim.certifier != claim.certifier
            || old.claim.subject != claim.subject
            || old.claim.schema != claim.schema
        {
            return Err(CredentialRuleError::CorrectionMismatch(*earlier).into());
        }
    }
    if check_signature {
        claim_key(txn, claim, height)?
            .verify(
                &txn.meta.chain_id,
                Domain::CredentialClaim,
                &codec::encode(claim),
                &issuance.certifier_signature,
            )
            .map_err(|_| CredentialRuleError::BadCertifierSignature)?;
    }
    Ok(())
}

/// The key that must have signed `claim` at `height`: its signer's (the certifier,
/// or the practitioner signing for it) signing key then.
pub(crate) fn claim_key(
    txn: &Txn,
    claim: &crate::transaction::CredentialClaim,
    height: u64,
) -> Result<mpms_crypto::PublicKey, TxError> {
    let signer = claim.signer();
    Ok(
        match txn.get::<crate::records::Account>(&keys::account(&signer))? {
            Some(account) => account.signing_key_at(&signer, height),
            None => signer,
        },
    )
}

/// Checks that `practitioner` may sign `claim` for its certifier at `height` and
/// `time_ms`. Delegation changes apply from the height after the block that recorded
/// them, so the terms in force at `height` were final before it, in every view.
fn delegation_in_force(
    txn: &Txn,
    claim: &crate::transaction::CredentialClaim,
    practitioner: &AccountId,
    height: u64,
    time_ms: u64,
) -> Result<(), TxError> {
    let no_delegation = || CredentialRuleError::NoDelegation {
        certifier: claim.certifier,
        practitioner: *practitioner,
    };
    let delegation: Delegation = txn
        .get(&keys::delegation(&claim.certifier, practitioner))?
        .ok_or_else(no_delegation)?;
    let term = delegation.terms.at(height).ok_or_else(no_delegation)?;
    if let Some(reason) = &term.revoked {
        return Err(CredentialRuleError::DelegationRevoked {
            practitioner: *practitioner,
            reason: reason.clone(),
        }
        .into());
    }
    if !term.valid_at(time_ms) {
        return Err(CredentialRuleError::DelegationNotValid(*practitioner).into());
    }
    if !term.covers(&claim.schema) {
        return Err(CredentialRuleError::DelegationOutOfScope {
            schema: claim.schema.clone(),
            practitioner: *practitioner,
        }
        .into());
    }
    Ok(())
}

/// Records a delegation by certifier `sender` (or new terms for one), in force from
/// the next height.
pub(super) fn delegate(
    txn: &mut Txn,
    sender: AccountId,
    practitioner: AccountId,
    term: DelegationTerm,
) -> Result<(), TxError> {
    if !txn.contains(&keys::certifier(&sender))? {
        return Err(TxError::NotRegistered {
            role: "certifier",
            account: sender,
        });
    }
    // Only an accredited certifier delegates (what it delegates is its accreditation).
    accreditation_in_force(txn, &sender, txn.height(), txn.ctx.time_ms)?;
    if practitioner == sender {
        return Err(TxError::field(
            "practitioner",
            "a certifier signs for itself without a delegation",
        ));
    }
    if term.schemas.is_empty() || term.schemas.len() > MAX_DELEGATED_SCHEMAS {
        return Err(TxError::field(
            "schemas",
            format!("1 to {MAX_DELEGATED_SCHEMAS} schema ids or prefixes"),
        ));
    }
    if let Some(bad) = term.schemas.iter().find(|p| !valid_scope_pattern(p)) {
        return Err(TxError::field(
            "schemas",
            format!("{bad:?} is not a schema id or a prefix ending in *"),
        ));
    }
    if term.valid_until_ms <= term.valid_from_ms {
        return Err(TxError::field(
            "valid_until_ms",
            "the end is not after the start",
        ));
    }
    let key = keys::delegation(&sender, &practitioner);
    let from = txn.height() + 1;
    let delegation = match txn.get::<Delegation>(&key)? {
        Some(mut d) => {
            // Old terms are kept as long as evidence about their heights can be
            // judged (from the history floor on); above it the terms may change only
            // so often, so the record (read by every issuance it covers) stays small.
            let floor = txn.history_floor();
            d.terms.forget_before(floor);
            let replaces_pending = d.terms.entries().last().is_some_and(|(at, _)| *at == from);
            if !replaces_pending && d.terms.entries().len() >= MAX_DELEGATION_VERSIONS {
                return Err(TxError::field(
                    "practitioner",
                    format!(
                        "its delegation changed {MAX_DELEGATION_VERSIONS} times since height {floor} (the history evidence is judged on): wait before changing it again"
                    ),
                ));
            }
            d.terms.set(from, term);
            d
        }
        None => Delegation {
            certifier: sender,
            practitioner,
            terms: History::new(from, term),
        },
    };
    txn.put(key, &delegation);
    txn.emit(Event::DelegationChanged {
        certifier: sender,
        practitioner,
    });
    Ok(())
}

/// Revokes `sender`'s delegation to `practitioner` from the next height.
pub(super) fn revoke_delegation(
    txn: &mut Txn,
    sender: AccountId,
    practitioner: AccountId,
    reason: &str,
) -> Result<(), TxError> {
    check_text("reason", reason, MAX_REASON, true)?;
    let key = keys::delegation(&sender, &practitioner);
    let mut delegation: Delegation = txn
        .get(&key)?
        .ok_or(TxError::UnknownDelegation(practitioner))?;
    let Some(latest) = delegation.terms.latest().cloned() else {
        return Err(TxError::UnknownDelegation(practitioner));
    };
    if latest.revoked.is_some() {
        return Err(TxError::UnknownDelegation(practitioner));
    }
    delegation.terms.forget_before(txn.history_floor());
    delegation.terms.set(
        txn.height() + 1,
        DelegationTerm {
            revoked: Some(reason.to_string()),
            ..latest
        },
    );
    txn.put(key, &delegation);
    txn.emit(Event::DelegationChanged {
        certifier: sender,
        practitioner,
    });
    Ok(())
}

/// The governance revocations of `certifier`'s credentials, if any.
pub(crate) fn certifier_revocations(
    txn: &Txn,
    certifier: &AccountId,
) -> Result<Option<Rc<CertifierRevocations>>, TxError> {
    txn.shared(&keys::certifier_revocations(certifier))
}

/// `credential`'s status as this block sees it: its own, or revoked by governance
/// with its certifier's credentials of a height range.
pub(crate) fn current_status(
    txn: &Txn,
    credential: &Credential,
) -> Result<CredentialStatus, TxError> {
    let revocations = certifier_revocations(txn, &credential.claim.certifier)?;
    Ok(credential.status_with(revocations.as_deref(), txn.height()))
}

/// Whether a subject holds a credential of a schema for an issuance at a height.
enum Holding {
    /// Held before the height.
    Held,
    /// Only from a credential issued at this height or later (the height of the
    /// earliest such issuance).
    Since(u64),
    /// Not held.
    No,
}

fn holding(
    txn: &Txn,
    subject: &AccountId,
    schema: &str,
    height: u64,
    time_ms: u64,
) -> Result<Holding, TxError> {
    let held: Vec<CredentialId> = txn.get(&keys::held(subject, schema))?.unwrap_or_default();
    let mut since: Option<u64> = None;
    for id in held {
        if let Some(credential) = txn.get::<Credential>(&keys::credential(&id))? {
            let revocations = certifier_revocations(txn, &credential.claim.certifier)?;
            let revocations = revocations.as_deref();
            if credential.held_at_with(height, time_ms, revocations) {
                return Ok(Holding::Held);
            }
            // Issued at this height or after: held from then on, if its dates allow.
            let issued = credential.issued_height;
            if issued >= height
                && credential.held_at_with(issued.saturating_add(1), time_ms, revocations)
            {
                since = Some(since.map_or(issued, |s| s.min(issued)));
            }
        }
    }
    Ok(since.map_or(Holding::No, Holding::Since))
}

/// Issues the credential `id` (the id of `issuance`'s claim), submitted by `sender`.
pub(super) fn issue(
    txn: &mut Txn,
    sender: AccountId,
    issuance: &CredentialIssuance,
    id: CredentialId,
    tx_hash: &Hash,
    check: SignatureCheck,
) -> Result<(), TxError> {
    // The signature covers the claim, not the ciphertext: only the certifier itself
    // (or the practitioner who signed for it) may publish its issuance, or anyone who
    // saw it could publish the claim first with content nobody can open.
    let claim = &issuance.claim;
    if sender != claim.certifier && Some(sender) != claim.practitioner {
        return Err(TxError::NotIssuer);
    }
    // A certifier slashed below the minimum stake issues nothing until it bonds again.
    let bonded = txn.account(&claim.certifier)?.bonded;
    let needed = txn.meta.params.min_certifier_stake;
    if bonded < needed {
        return Err(TxError::InsufficientStake {
            needed,
            available: bonded,
        });
    }
    let (height, time) = (txn.height(), txn.ctx.time_ms);
    check_issuance(
        txn,
        issuance,
        height,
        time,
        check == SignatureCheck::Verify,
        txn.view,
    )?;
    let claim = &issuance.claim;
    let key = keys::credential(&id);
    if txn.contains(&key)? {
        return Err(TxError::DuplicateCredential(id));
    }
    // One credential per status entry: its bit in the status lists is its alone.
    // (State, not a credential rule: which entries were taken changes with every
    // block, and evidence about a past block must not be judged by it.)
    let slot = keys::status_slot(&claim.certifier, claim.status_index);
    if let Some(by) = txn.get::<CredentialId>(&slot)? {
        return Err(TxError::StatusIndexTaken {
            certifier: claim.certifier,
            index: claim.status_index,
            by,
        });
    }
    if let Some(earlier) = claim.supersedes {
        let old_key = keys::credential(&earlier);
        let mut old: Credential = txn
            .get(&old_key)?
            .ok_or(TxError::UnknownCredential(earlier))?;
        if current_status(txn, &old)? != CredentialStatus::Active {
            return Err(TxError::CredentialRevoked(earlier));
        }
        if let Some(by) = old.superseded_by {
            return Err(TxError::AlreadySuperseded {
                credential: earlier,
                by,
            });
        }
        old.superseded_by = Some(id);
        txn.put(old_key, &old);
    }
    let credential = Credential {
        claim: claim.clone(),
        certifier_signature: issuance.certifier_signature,
        issued_height: height,
        issued_tx: *tx_hash,
        status: CredentialStatus::Active,
        superseded_by: None,
        erased_height: None,
    };
    txn.put(key, &credential);
    txn.put(slot, &id);
    let next_key = keys::status_next(&claim.certifier);
    let next: u64 = txn.get(&next_key)?.unwrap_or(0);
    if claim.status_index >= next {
        txn.put(next_key, &(claim.status_index + 1));
    }
    let held_key = keys::held(&claim.subject, &claim.schema);
    let mut held: Vec<CredentialId> = txn.get(&held_key)?.unwrap_or_default();
    held.push(id);
    txn.put(held_key, &held);
    // An entry key becomes an account: its owner grants, revokes grants and erases
    // from it, signing with the entry key.
    let subject_account = keys::account(&claim.subject);
    if !txn.contains(&subject_account)? {
        txn.put(subject_account, &Account::new(claim.subject, height));
    }
    txn.emit(Event::CredentialIssued(id));
    Ok(())
}

/// The subject of credential `id` has its content erased.
pub(super) fn erase(txn: &mut Txn, sender: AccountId, id: &CredentialId) -> Result<(), TxError> {
    let key = keys::credential(id);
    let mut credential: Credential = txn.get(&key)?.ok_or(TxError::UnknownCredential(*id))?;
    if credential.claim.subject != sender {
        return Err(TxError::NotSubject);
    }
    if credential.erased_height.is_some() {
        return Err(TxError::ContentErased(*id));
    }
    credential.erased_height = Some(txn.height());
    txn.put(key, &credential);
    txn.emit(Event::ContentErased(*id));
    Ok(())
}

pub(super) fn revoke(
    txn: &mut Txn,
    sender: AccountId,
    id: &CredentialId,
    reason: &str,
) -> Result<(), TxError> {
    check_text("reason", reason, MAX_REASON, true)?;
    let key = keys::credential(id);
    let mut credential: Credential = txn.get(&key)?.ok_or(TxError::UnknownCredential(*id))?;
    if credential.claim.certifier != sender {
        return Err(TxError::NotIssuer);
    }
    if credential.status != CredentialStatus::Active {
        return Err(TxError::CredentialRevoked(*id));
    }
    credential.status = CredentialStatus::Revoked {
        reason: reason.to_string(),
        height: txn.height(),
    };
    txn.put(key, &credential);
    txn.emit(Event::CredentialRevoked(*id));
    Ok(())
}
