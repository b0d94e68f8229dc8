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
            store.rewrite_erased(&block)?;
            rewritten += 1;
        }
    }
    Ok(rewritten)
}
