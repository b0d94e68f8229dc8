//! Erasing a credential's content from this node's storage, once the chain has
//! recorded its subject's request ([`mpms_ledger::execute::Event::ContentErased`]).
//!
//! The blocks keep every transaction: each issuance and grant of the credential
//! loses its ciphertext and sealed keys and keeps their digests, so the blocks,
//! their transaction roots and every signature verify as before.

use std::collections::BTreeMap;

use mpms_ledger::records::{keys, Credential, Grant};
use mpms_ledger::{codec, CredentialId};
use mpms_store::{Store, StoreError};

/// Most index entries of the subject's access trail read to find the credential's
/// grants.
const MAX_SCANNED_GRANTS: usize = 1_000_000;

/// Erases what this node's blocks hold of credential `id`: its issuing
/// transaction's ciphertext and the key sealed to its subject, and the key of each
/// of its grants. Returns how many blocks were rewritten.
pub fn erase_credential(store: &dyn Store, id: &CredentialId) -> Result<usize, StoreError> {
    let Some(bytes) = store
        .get(&keys::credential(id))
        .map_err(|e| StoreError::Db(e.to_string()))?
    else {
        return Ok(0);
    };
    let credential: Credential = codec::decode(&bytes)?;
    let mut transactions = vec![credential.issued_tx];
    let prefix = keys::subject_access_prefix(&credential.claim.subject);
    for (key, _) in store.scan_state(&prefix, MAX_SCANNED_GRANTS)? {
        // Index keys end with the kind byte and the 32-byte id.
        let Some((kind, grant_id)) = key
            .len()
            .checked_sub(33)
            .map(|at| (key[at], &key[at + 1..]))
        else {
            continue;
        };
        if kind != keys::ACCESS_GRANT {
            continue;
        }
        let Ok(grant_id) = <[u8; 32]>::try_from(grant_id) else {
            continue;
        };
        let Some(bytes) = store
            .get(&keys::grant(&mpms_crypto::Hash::from_bytes(grant_id)))
            .map_err(|e| StoreError::Db(e.to_string()))?
        else {
            continue;
        };
        let grant: Grant = codec::decode(&bytes)?;
        if &grant.credential == id {
            transactions.push(grant.granted_tx);
        }
    }
    // The blocks to rewrite, each with the positions of its transactions.
    let mut blocks: BTreeMap<u64, Vec<u32>> = BTreeMap::new();
    for hash in transactions {
        if let Some(location) = store.tx_location(&hash)? {
            blocks
                .entry(location.height)
                .or_default()
                .push(location.index);
        }
    }
    let mut rewritten = 0;
    for (height, positions) in blocks {
        let Some(mut block) = store.block(height)? else {
            continue;
        };
        let mut changed = false;
        for position in positions {
            if let Some(tx) = block.transactions.get_mut(position as usize) {
                changed |= tx.erase_credential(id);
            }
        }
        if changed {
            store.replace_values(&block)?;
            rewritten += 1;
        }
    }
    Ok(rewritten)
}

/// The credentials whose erasable values `tx` lacks: its own issuance's, the granted
/// credential's, or those of set-grant entries.
fn lacking(tx: &mpms_ledger::SignedTransaction) -> Vec<CredentialId> {
    use mpms_ledger::Payload;
    match &tx.tx.payload {
        Payload::IssueCredential(issuance)
            if issuance.content.is_erased() || issuance.subject_key.is_erased() =>
        {
            vec![issuance.claim.id()]
        }
        Payload::GrantAccess {
            credential,
            sealed_key,
            ..
        } if sealed_key.is_erased() => vec![*credential],
        Payload::GrantAccessSet { entries, .. } => entries
            .iter()
            .filter(|e| e.sealed_key.is_erased())
            .map(|e| e.credential)
            .collect(),
        _ => Vec::new(),
    }
}

/// Whether the chain erased the content of credential `id` (as of the committed
/// state).
pub fn content_erased(store: &dyn Store, id: &CredentialId) -> Result<bool, StoreError> {
    let Some(bytes) = store
        .get(&keys::credential(id))
        .map_err(|e| StoreError::Db(e.to_string()))?
    else {
        return Ok(false);
    };
    let credential: Credential = codec::decode(&bytes)?;
    Ok(credential.erased_height.is_some())
}

/// Whether every value `block` lacks belongs to a credential whose content the chain
/// erased: what an honest node's copy of the block holds.
pub fn erasure_explained(
    store: &dyn Store,
    block: &mpms_ledger::Block,
) -> Result<bool, StoreError> {
    for tx in &block.transactions {
        for id in lacking(tx) {
            if !content_erased(store, &id)? {
                return Ok(false);
            }
        }
    }
    Ok(true)
}

/// `block` (whole) with the content of every credential the chain erased removed
/// again: what this node keeps once it repaired a copy it got without values.
pub fn keep_erasures(
    store: &dyn Store,
    mut block: mpms_ledger::Block,
) -> Result<mpms_ledger::Block, StoreError> {
    for tx in &mut block.transactions {
        // Every credential it carries values of: those it would lack once erased.
        for id in lacking(&tx.erased()) {
            if content_erased(store, &id)? {
                tx.erase_credential(&id);
            }
        }
    }
    Ok(block)
}
