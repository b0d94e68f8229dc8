//! Who signed a read: the `Authorization: MPMS-Sig …` header checked
//! ([`mpms_api::read_auth`]), and what that reader may see.

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use mpms_api::read_auth::verify_authorization;
use mpms_crypto::{Hash, PublicKey};
use mpms_ledger::records::{keys, Account, Grant};
use mpms_ledger::{Payload, SignedTransaction};

use super::routes::record;
use super::ApiError;
use crate::runtime::{now_ms, NodeHandle};

/// The reader a request's signed `Authorization` names; `None` for an unsigned
/// request. A header that is there but does not check out is refused (401).
#[derive(Debug, Clone, Copy)]
pub struct Reader(pub Option<PublicKey>);

impl FromRequestParts<NodeHandle> for Reader {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, node: &NodeHandle) -> Result<Reader, ApiError> {
        let Some(value) = parts.headers.get(header::AUTHORIZATION) else {
            return Ok(Reader(None));
        };
        let text = value
            .to_str()
            .map_err(|_| ApiError::unauthorized("authorization: not visible ASCII"))?;
        let path = parts
            .uri
            .path_and_query()
            .map_or(parts.uri.path(), |p| p.as_str());
        verify_authorization(text, node.chain_id(), path, now_ms())
            .map(|key| Reader(Some(key)))
            .map_err(|e| ApiError::unauthorized(e.to_string()))
    }
}

/// Whether `reader` signs for account `id`: it is the account's id or its current
/// signing key.
pub fn signs_for(node: &NodeHandle, id: &PublicKey, reader: &PublicKey) -> Result<bool, ApiError> {
    if reader == id {
        return Ok(true);
    }
    Ok(record::<Account>(node, &keys::account(id))?
        .and_then(|a| a.signing_keys.latest().copied())
        .is_some_and(|key| &key == reader))
}

/// The subject `id`'s own reader, or the refusal: 401 unsigned, 403 signed by
/// another key.
pub fn require_subject(node: &NodeHandle, id: &PublicKey, reader: Reader) -> Result<(), ApiError> {
    match reader.0 {
        None => Err(ApiError::unauthorized(format!(
            "sign the read with the key of subject {id} (Authorization: MPMS-Sig)"
        ))),
        Some(key) if signs_for(node, id, &key)? => Ok(()),
        Some(key) => Err(ApiError::forbidden(format!(
            "{key} does not sign for subject {id}"
        ))),
    }
}

/// Most grants looked through for whether a reader was granted a credential.
const MAX_GRANTS_SCANNED: usize = 10_000;

/// Whether `reader` may read the ciphertext and sealed keys `tx` carries: it is a
/// party of it (the issuance's subject, certifier or practitioner, or a grantee of
/// the credential; a grant's subject or grantee).
pub fn party_of(
    node: &NodeHandle,
    tx: &SignedTransaction,
    reader: &PublicKey,
) -> Result<bool, ApiError> {
    match &tx.tx.payload {
        Payload::IssueCredential(issuance) => {
            let claim = &issuance.claim;
            if signs_for(node, &claim.subject, reader)?
                || signs_for(node, &claim.certifier, reader)?
                || claim.practitioner.as_ref() == Some(reader)
            {
                return Ok(true);
            }
            granted(node, &claim.subject, &claim.id(), reader)
        }
        Payload::GrantAccess { grantee, .. } | Payload::GrantAccessSet { grantee, .. } => {
            Ok(grantee == reader || signs_for(node, &tx.tx.sender, reader)?)
        }
        _ => Ok(false),
    }
}

/// Whether `reader` holds (or held) a grant of credential `id` of `subject`.
fn granted(
    node: &NodeHandle,
    subject: &PublicKey,
    id: &Hash,
    reader: &PublicKey,
) -> Result<bool, ApiError> {
    let prefix = keys::subject_access_prefix(subject);
    let entries = node
        .store()
        .scan_state(&prefix, MAX_GRANTS_SCANNED)
        .map_err(|e| ApiError::internal(e.to_string()))?;
    for (key, _) in entries {
        // prefix, height (8 bytes), kind, grant id (32)
        let Some(at) = key.len().checked_sub(33) else {
            continue;
        };
        if key[at] != keys::ACCESS_GRANT {
            continue;
        }
        let Ok(grant_id) = <[u8; 32]>::try_from(&key[at + 1..]) else {
            continue;
        };
        if let Some(grant) = record::<Grant>(node, &keys::grant(&Hash::from_bytes(grant_id)))? {
            if &grant.credential == id && &grant.grantee == reader {
                return Ok(true);
            }
        }
    }
    Ok(false)
}
