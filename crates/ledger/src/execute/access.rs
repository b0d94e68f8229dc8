//! Access requests, grants, grant revocation and recorded inspections: the audit
//! trail of who was allowed to read which credential, and who did.

use mpms_crypto::Sealed;

use super::accounts::check_text;
use super::error::TxError;
use super::txn::Txn;
use super::Event;
use crate::records::{keys, AccessRequest, Credential, CredentialStatus, Grant, Inspection};
use crate::transaction::{grant_id, request_id, InspectionOutcome};
use crate::{AccountId, CredentialId, GrantId, RequestId};

const MAX_PURPOSE: usize = 256;
const MAX_REQUESTED: usize = 32;

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
    purpose: &str,
) -> Result<(), TxError> {
    require_organization(txn, &sender)?;
    if !txn.contains(&keys::subject(&subject))? {
        return Err(TxError::NotRegistered {
            role: "subject",
            account: subject,
        });
    }
    check_text("purpose", purpose, MAX_PURPOSE, true)?;
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
        purpose: purpose.to_string(),
        height: txn.height(),
    };
    txn.put(keys::request(&id), &request);
    txn.put(
        keys::subject_access(&subject, keys::ACCESS_REQUEST, &id),
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
    pub sealed_key: Sealed,
    pub expires_at_ms: u64,
}

pub(super) fn grant(
    txn: &mut Txn,
    sender: AccountId,
    nonce: u64,
    args: GrantArgs,
) -> Result<(), TxError> {
    let credential: Credential = txn
        .get(&keys::credential(&args.credential))?
        .ok_or(TxError::UnknownCredential(args.credential))?;
    if credential.claim.subject != sender {
        return Err(TxError::NotSubject);
    }
    if credential.status != CredentialStatus::Active {
        return Err(TxError::CredentialRevoked(args.credential));
    }
    let now = txn.ctx.time_ms;
    if credential.claim.valid_until_ms <= now {
        return Err(TxError::CredentialExpired(args.credential));
    }
    require_organization(txn, &args.grantee)?;
    if let Some(request_id) = args.request {
        let request: AccessRequest = txn
            .get(&keys::request(&request_id))?
            .ok_or(TxError::UnknownRequest(request_id))?;
        if request.subject != sender
            || request.requester != args.grantee
            || !request.credentials.contains(&args.credential)
        {
            return Err(TxError::RequestMismatch(request_id));
        }
    }
    if args.expires_at_ms <= now {
        return Err(TxError::field("expires_at_ms", "must be in the future"));
    }
    let id = grant_id(&sender, nonce);
    let grant = Grant {
        credential: args.credential,
        subject: sender,
        grantee: args.grantee,
        request: args.request,
        sealed_key: args.sealed_key,
        expires_at_ms: args.expires_at_ms,
        granted_height: txn.height(),
        revoked_height: None,
        inspection_count: 0,
    };
    txn.put(keys::grant(&id), &grant);
    txn.put(keys::subject_access(&sender, keys::ACCESS_GRANT, &id), &());
    txn.emit(Event::AccessGranted(id));
    Ok(())
}

pub(super) fn revoke_grant(txn: &mut Txn, sender: AccountId, id: &GrantId) -> Result<(), TxError> {
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
    outcome: &InspectionOutcome,
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
    if credential.status != CredentialStatus::Active {
        return Err(TxError::CredentialRevoked(grant.credential));
    }
    if let InspectionOutcome::Failed(reason) = outcome {
        check_text("outcome", reason, MAX_PURPOSE, true)?;
    }
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
