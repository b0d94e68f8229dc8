//! Access requests, grants, grant revocation and recorded inspections: the audit
//! trail of who was allowed to read which credential, and who did.

use mpms_crypto::{Hash, SignerSealed};

use super::credentials::current_status;
use super::error::TxError;
use super::txn::Txn;
use super::Event;
use crate::records::{
    keys, AccessRequest, Admission, Credential, CredentialStatus, Grant, GrantSet, Inspection,
    Organization,
};
use crate::transaction::{
    grant_id, request_id, set_member_grant_id, GrantSelection, GrantedEntry, MAX_SEALED_NOTE,
};
use crate::{AccountId, CredentialId, GrantId, RequestId};

const MAX_REQUESTED: usize = 32;

/// A purpose or an outcome sealed to the subject: the chain cannot read it, only
/// bound it (a usable ephemeral point, a ciphertext no longer than a note's).
fn check_sealed_note(field: &'static str, note: &SignerSealed) -> Result<(), TxError> {
    if !note.ephemeral.is_valid() {
        return Err(TxError::field(
            field,
            "the ephemeral point is not a usable key",
        ));
    }
    if note.ciphertext.len() < 16 || note.ciphertext.len() > MAX_SEALED_NOTE {
        return Err(TxError::field(
            field,
            format!("a sealed note of 16 to {MAX_SEALED_NOTE} bytes"),
        ));
    }
    Ok(())
}

fn require_organization(txn: &Txn, id: &AccountId) -> Result<(), TxError> {
    if txn.contains(&keys::organization(id))? {
        Ok(())
    } else {
        Err(TxError::NotRegistered {
            role: "organization",
            account: *id,
        })
    }
}

pub(super) fn request(
    txn: &mut Txn,
    sender: AccountId,
    nonce: u64,
    subject: AccountId,
    credentials: &[CredentialId],
    purpose: &SignerSealed,
) -> Result<(), TxError> {
    require_organization(txn, &sender)?;
    // Only an organization governance admitted asks: anyone may register one under
    // any name.
    let requester: Organization =
        txn.get(&keys::organization(&sender))?
            .ok_or(TxError::NotRegistered {
                role: "organization",
                account: sender,
            })?;
    if !matches!(requester.admission, Admission::Admitted(_)) {
        return Err(TxError::NotAdmitted(sender));
    }
    // The subject is whoever the credentials name (an account or an entry key): each
    // is checked below.
    check_sealed_note("purpose", purpose)?;
    if credentials.is_empty() || credentials.len() > MAX_REQUESTED {
        return Err(TxError::field(
            "credentials",
            format!("ask for 1 to {MAX_REQUESTED}"),
        ));
    }
    for (i, id) in credentials.iter().enumerate() {
        if credentials[..i].contains(id) {
            return Err(TxError::field("credentials", format!("{id} listed twice")));
        }
        let credential: Credential = txn
            .get(&keys::credential(id))?
            .ok_or(TxError::UnknownCredential(*id))?;
        if credential.claim.subject != subject {
            return Err(TxError::field(
                "credentials",
                format!("{id} belongs to another subject"),
            ));
        }
    }
    let id = request_id(&sender, nonce);
    let request = AccessRequest {
        requester: sender,
        subject,
        credentials: credentials.to_vec(),
        purpose: purpose.clone(),
        height: txn.height(),
    };
    txn.put(keys::request(&id), &request);
    txn.put(
        keys::subject_access(&subject, txn.height(), keys::ACCESS_REQUEST, &id),
        &(),
    );
    txn.emit(Event::AccessRequested(id));
    Ok(())
}

/// The fields of a grant.
pub(super) struct GrantArgs {
    pub credential: CredentialId,
    pub grantee: AccountId,
    pub request: Option<RequestId>,
    pub sealed_key: Hash,
    pub tx: Hash,
    pub expires_at_ms: u64,
}

/// Checks that `sender` may grant access to credential `id` now: its own, active,
/// unexpired.
fn grantable(txn: &Txn, sender: AccountId, id: &CredentialId) -> Result<Credential, TxError> {
    let credential: Credential = txn
        .get(&keys::credential(id))?
        .ok_or(TxError::UnknownCredential(*id))?;
    if credential.claim.subject != sender {
        return Err(TxError::NotSubject);
    }
    if current_status(txn, &credential)? != CredentialStatus::Active {
        return Err(TxError::CredentialRevoked(*id));
    }
    if credential.claim.valid_until_ms <= txn.ctx.time_ms {
        return Err(TxError::CredentialExpired(*id));
    }
    if credential.erased_height.is_some() {
        return Err(TxError::ContentErased(*id));
    }
    Ok(credential)
}

/// Checks a grant's grantee, the request it answers (which must ask for every one
/// of `credentials`) and its expiry.
fn check_grant_terms(
    txn: &Txn,
    sender: AccountId,
    grantee: &AccountId,
    request: Option<RequestId>,
    credentials: &[CredentialId],
    expires_at_ms: u64,
) -> Result<(), TxError> {
    require_organization(txn, grantee)?;
    if let Some(request_id) = request {
        let request: AccessRequest = txn
            .get(&keys::request(&request_id))?
            .ok_or(TxError::UnknownRequest(request_id))?;
        if request.subject != sender
            || &request.requester != grantee
            || !credentials.iter().all(|c| request.credentials.contains(c))
        {
            return Err(TxError::RequestMismatch(request_id));
        }
    }
    if expires_at_ms <= txn.ctx.time_ms {
        return Err(TxError::field("expires_at_ms", "must be in the future"));
    }
    Ok(())
}

/// Records grant `id` of one credential.
fn put_grant(txn: &mut Txn, id: GrantId, grant: &Grant) {
    txn.put(keys::grant(&id), grant);
    txn.put(
        keys::subject_access(
            &grant.subject,
            grant.granted_height,
            keys::ACCESS_GRANT,
            &id,
        ),
        &(),
    );
    txn.emit(Event::AccessGranted(id));
}

pub(super) fn grant(
    txn: &mut Txn,
    sender: AccountId,
    nonce: u64,
    args: GrantArgs,
) -> Result<(), TxError> {
    grantable(txn, sender, &args.credential)?;
    check_grant_terms(
        txn,
        sender,
        &args.grantee,
        args.request,
        std::slice::from_ref(&args.credential),
        args.expires_at_ms,
    )?;
    let grant = Grant {
        credential: args.credential,
        subject: sender,
        grantee: args.grantee,
        request: args.request,
        sealed_key: args.sealed_key,
        granted_tx: args.tx,
        entry: 0,
        expires_at_ms: args.expires_at_ms,
        granted_height: txn.height(),
        revoked_height: None,
        inspection_count: 0,
    };
    put_grant(txn, grant_id(&sender, nonce), &grant);
    Ok(())
}

/// The fields of a set grant.
pub(super) struct SetArgs<'a> {
    pub tx: Hash,
    pub grantee: AccountId,
    pub request: Option<RequestId>,
    pub selection: &'a GrantSelection,
    pub entries: &'a [GrantedEntry],
    pub expires_at_ms: u64,
}

/// Most entries in one set grant.
pub const MAX_SET_ENTRIES: usize = 64;

pub(super) fn grant_set(
    txn: &mut Txn,
    sender: AccountId,
    nonce: u64,
    args: SetArgs<'_>,
) -> Result<(), TxError> {
    if args.entries.is_empty() || args.entries.len() > MAX_SET_ENTRIES {
        return Err(TxError::field(
            "entries",
            format!("1 to {MAX_SET_ENTRIES} credentials"),
        ));
    }
    let ids: Vec<CredentialId> = args.entries.iter().map(|e| e.credential).collect();
    for (i, id) in ids.iter().enumerate() {
        if ids[..i].contains(id) {
            return Err(TxError::field("entries", format!("{id} listed twice")));
        }
    }
    let mut schemas = Vec::with_capacity(ids.len());
    for id in &ids {
        schemas.push(grantable(txn, sender, id)?.claim.schema);
    }
    if let GrantSelection::Schema(schema) = args.selection {
        if let Some(i) = schemas.iter().position(|s| s != schema) {
            return Err(TxError::field(
                "entries",
                format!("{} is not of schema {schema}", ids[i]),
            ));
        }
        // By schema means all of them: none of the subject's grantable entries of
        // the schema may be left out.
        let held: Vec<CredentialId> = txn.get(&keys::held(&sender, schema))?.unwrap_or_default();
        for id in held {
            if !ids.contains(&id) && grantable(txn, sender, &id).is_ok() {
                return Err(TxError::field(
                    "entries",
                    format!("a grant of schema {schema} leaves out {id}"),
                ));
            }
        }
    }
    check_grant_terms(
        txn,
        sender,
        &args.grantee,
        args.request,
        &ids,
        args.expires_at_ms,
    )?;
    let set = grant_id(&sender, nonce);
    let mut grants = Vec::with_capacity(ids.len());
    for (i, entry) in args.entries.iter().enumerate() {
        let id = set_member_grant_id(&set, i as u32);
        let grant = Grant {
            credential: entry.credential,
            subject: sender,
            grantee: args.grantee,
            request: args.request,
            sealed_key: entry.sealed_key.digest(),
            granted_tx: args.tx,
            entry: i as u32,
            expires_at_ms: args.expires_at_ms,
            granted_height: txn.height(),
            revoked_height: None,
            inspection_count: 0,
        };
        put_grant(txn, id, &grant);
        grants.push((entry.credential, id));
    }
    let record = GrantSet {
        subject: sender,
        grantee: args.grantee,
        request: args.request,
        selection: args.selection.clone(),
        grants,
        expires_at_ms: args.expires_at_ms,
        granted_height: txn.height(),
        revoked_height: None,
    };
    txn.put(keys::grant_set(&set), &record);
    txn.emit(Event::AccessSetGranted(set));
    Ok(())
}

pub(super) fn revoke_grant(txn: &mut Txn, sender: AccountId, id: &GrantId) -> Result<(), TxError> {
    if let Some(mut set) = txn.get::<GrantSet>(&keys::grant_set(id))? {
        if set.subject != sender {
            return Err(TxError::NotSubject);
        }
        if set.revoked_height.is_some() {
            return Err(TxError::GrantRevoked(*id));
        }
        set.revoked_height = Some(txn.height());
        txn.put(keys::grant_set(id), &set);
        for (_, member) in &set.grants {
            let key = keys::grant(member);
            if let Some(mut grant) = txn.get::<Grant>(&key)? {
                if grant.revoked_height.is_none() {
                    grant.revoked_height = Some(txn.height());
                    txn.put(key, &grant);
                    txn.emit(Event::GrantRevoked(*member));
                }
            }
        }
        txn.emit(Event::GrantRevoked(*id));
        return Ok(());
    }
    let key = keys::grant(id);
    let mut grant: Grant = txn.get(&key)?.ok_or(TxError::UnknownGrant(*id))?;
    if grant.subject != sender {
        return Err(TxError::NotSubject);
    }
    if grant.revoked_height.is_some() {
        return Err(TxError::GrantRevoked(*id));
    }
    grant.revoked_height = Some(txn.height());
    txn.put(key, &grant);
    txn.emit(Event::GrantRevoked(*id));
    Ok(())
}

pub(super) fn record_inspection(
    txn: &mut Txn,
    sender: AccountId,
    id: &GrantId,
    outcome: &SignerSealed,
) -> Result<(), TxError> {
    let key = keys::grant(id);
    let mut grant: Grant = txn.get(&key)?.ok_or(TxError::UnknownGrant(*id))?;
    if grant.grantee != sender {
        return Err(TxError::NotGrantee);
    }
    if grant.revoked_height.is_some() {
        return Err(TxError::GrantRevoked(*id));
    }
    if grant.expires_at_ms <= txn.ctx.time_ms {
        return Err(TxError::GrantExpired(*id));
    }
    // A revoked credential is not inspected: there is nothing left to verify.
    let credential: Credential = txn
        .get(&keys::credential(&grant.credential))?
        .ok_or(TxError::UnknownCredential(grant.credential))?;
    if current_status(txn, &credential)? != CredentialStatus::Active {
        return Err(TxError::CredentialRevoked(grant.credential));
    }
    if credential.erased_height.is_some() {
        return Err(TxError::ContentErased(grant.credential));
    }
    check_sealed_note("outcome", outcome)?;
    let inspection = Inspection {
        height: txn.height(),
        outcome: outcome.clone(),
    };
    txn.put(keys::inspection(id, grant.inspection_count), &inspection);
    grant.inspection_count = grant.inspection_count.saturating_add(1);
    txn.put(key, &grant);
    txn.emit(Event::InspectionRecorded(*id));
    Ok(())
}
