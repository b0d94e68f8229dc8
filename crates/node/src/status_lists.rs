//! Publishing certifiers' W3C Bitstring Status Lists from the committed state.
//!
//! A list is read from the state at the last committed height and signed with the
//! node's status list key, derived from its peer-to-peer secret (so it stays the same
//! across restarts, and no signature made with it can pass for one of the
//! peer-to-peer protocol). Reading a list costs one state read per credential in it:
//! the last lists read are kept per height, and one list is read at a time, so a
//! flood of requests costs at most one read per list and block.

use std::collections::HashMap;
use std::sync::Mutex;

use mpms_crypto::{Hash, PublicKey, SigningKey};
use mpms_ledger::records::{keys, AccreditationStatus, Certifier, Credential, CredentialStatus};
use mpms_ledger::transaction::{MAX_STATUS_INDEX, STATUS_LIST_BITS};
use mpms_ledger::{codec, CredentialId};
use mpms_light::status_list::{Bitstring, StatusList};
use mpms_store::Store;

/// Lists kept read (16 KiB each).
const CACHED_LISTS: usize = 64;

/// Why a list could not be published.
#[derive(Debug, thiserror::Error)]
pub enum StatusListError {
    /// No certifier has this id.
    #[error("certifier not found")]
    NoCertifier,
    /// The list number is past the last list a claim may use.
    #[error("list {0} is past the last status list ({1})")]
    NoList(u64, u64),
    /// The store failed or holds a record it cannot read.
    #[error("store: {0}")]
    Store(String),
    /// Signing failed.
    #[error("signing: {0}")]
    Sign(String),
}

/// A list as read at one height.
#[derive(Clone)]
struct ReadList {
    height: u64,
    time_ms: u64,
    bits: Bitstring,
}

/// The node's status list publisher: its key and the lists it read last.
pub struct StatusListPublisher {
    key: SigningKey,
    read: Mutex<HashMap<(PublicKey, u64), ReadList>>,
}

impl StatusListPublisher {
    /// The publisher of a node whose peer-to-peer secret is `node_secret`.
    pub fn new(node_secret: &[u8; 32]) -> StatusListPublisher {
        let seed = Hash::digest_parts(&[b"mpms status list signing key", node_secret]);
        StatusListPublisher {
            key: SigningKey::from_seed(seed.as_bytes()),
            read: Mutex::new(HashMap::new()),
        }
    }

    /// The key lists are signed with (named in them as a `did:key`).
    pub fn issuer(&self) -> PublicKey {
        self.key.public_key()
    }

    /// The next free status index of `certifier` and how many lists it uses.
    pub fn next_index(store: &dyn Store, certifier: &PublicKey) -> Result<u64, StatusListError> {
        Ok(read::<u64>(store, &keys::status_next(certifier))?.unwrap_or(0))
    }

    /// List `list` of `certifier`, read at the last committed height and signed as
    /// a `vc+jwt` naming `url` as its address.
    pub fn publish(
        &self,
        store: &dyn Store,
        chain_id: &str,
        certifier: &PublicKey,
        list: u64,
        url: &str,
    ) -> Result<String, StatusListError> {
        let last_list = (MAX_STATUS_INDEX - 1) / STATUS_LIST_BITS;
        if list > last_list {
            return Err(StatusListError::NoList(list, last_list));
        }
        let read = self.read_list(store, certifier, list)?;
        StatusList {
            url: url.to_string(),
            chain_id: chain_id.to_string(),
            height: read.height,
            // Whole seconds, as the document states it.
            valid_from_ms: read.time_ms / 1000 * 1000,
            issuer: self.issuer(),
            bits: read.bits,
        }
        .sign(&self.key)
        .map_err(|e| StatusListError::Sign(e.to_string()))
    }

    /// The list read at the last committed height: from what was kept, or read now.
    fn read_list(
        &self,
        store: &dyn Store,
        certifier: &PublicKey,
        list: u64,
    ) -> Result<ReadList, StatusListError> {
        // Held while reading: one list is read at a time, and a request waiting for
        // the same list finds it read.
        let mut kept = self
            .read
            .lock()
            .map_err(|_| StatusListError::Store("status list cache poisoned".into()))?;
        let height = store
            .last_height()
            .map_err(|e| StatusListError::Store(e.to_string()))?
            .unwrap_or(0);
        if let Some(found) = kept.get(&(*certifier, list)) {
            if found.height == height {
                return Ok(found.clone());
            }
        }
        let read = read_bits(store, certifier, list, height)?;
        if kept.len() >= CACHED_LISTS {
            // Lists of older heights go first; the rest is one list more or less.
            kept.retain(|_, r| r.height == height);
            if kept.len() >= CACHED_LISTS {
                kept.clear();
            }
        }
        kept.insert((*certifier, list), read.clone());
        Ok(read)
    }
}

fn read<T: serde::de::DeserializeOwned>(
    store: &dyn Store,
    key: &[u8],
) -> Result<Option<T>, StatusListError> {
    match store.get(key) {
        Ok(None) => Ok(None),
        Ok(Some(bytes)) => codec::decode(&bytes)
            .map(Some)
            .map_err(|e| StatusListError::Store(format!("corrupt record: {e}"))),
        Err(e) => Err(StatusListError::Store(e.to_string())),
    }
}

/// Reads list `list` of `certifier` from the state (last committed at `height`): a
/// bit per credential revoked, superseded, or of a certifier slashed for fraud.
fn read_bits(
    store: &dyn Store,
    certifier: &PublicKey,
    list: u64,
    height: u64,
) -> Result<ReadList, StatusListError> {
    let time_ms = store
        .header(height)
        .map_err(|e| StatusListError::Store(e.to_string()))?
        .map(|h| h.time_ms)
        .unwrap_or(0);
    let record: Certifier =
        read(store, &keys::certifier(certifier))?.ok_or(StatusListError::NoCertifier)?;
    let slashed = matches!(
        record.accreditation.latest().map(|a| &a.status),
        Some(AccreditationStatus::Slashed(_))
    );
    let revocations = read(store, &keys::certifier_revocations(certifier))?;
    let mut bits = Bitstring::default();
    // A list is 2^17 entries: two runs of keys sharing all but the index's last 16
    // bits (indexes are below 2^32, so the list number fits the bytes before them).
    let prefix = keys::status_slot_prefix(certifier);
    for half in [2 * list, 2 * list + 1] {
        let mut run = prefix.clone();
        run.extend_from_slice(&half.to_be_bytes()[2..]);
        let entries = store
            .scan_state(&run, 1 << 16)
            .map_err(|e| StatusListError::Store(e.to_string()))?;
        for (key, value) in entries {
            let Some(index) = key
                .get(prefix.len()..)
                .and_then(|b| <[u8; 8]>::try_from(b).ok())
                .map(u64::from_be_bytes)
            else {
                continue;
            };
            let id: CredentialId = codec::decode(&value)
                .map_err(|e| StatusListError::Store(format!("corrupt status entry: {e}")))?;
            let credential: Credential = read(store, &keys::credential(&id))?
                .ok_or_else(|| StatusListError::Store(format!("no credential {id}")))?;
            let revoked = !matches!(
                credential.status_with(revocations.as_ref(), u64::MAX),
                CredentialStatus::Active
            );
            if slashed || revoked || credential.superseded_by.is_some() {
                bits.set(index);
            }
        }
    }
    Ok(ReadList {
        height,
        time_ms,
        bits,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use mpms_ledger::testkit::TestChain;
    use mpms_ledger::transaction::GovernanceAction;
    use mpms_ledger::Payload;
    use mpms_light::testkit::CertifiedChain;

    use super::*;

    const SCHEMA: &str = "course.acls";
    const URL: &str = "http://127.0.0.1:26601/v1/status-lists/x/0";

    /// Four credentials of one certifier: entries 101, 102, 103 of list 0 and entry
    /// 5 of list 1.
    fn chain() -> (CertifiedChain, Vec<CredentialId>) {
        let mut chain = CertifiedChain::new(TestChain::new(4, 31));
        let subjects: Vec<_> = (1..=3).map(|i| chain.chain.register_subject(i)).collect();
        chain.commit(&subjects);
        let certifier = chain.chain.certifier.clone();
        let schema = chain.tx(
            &certifier,
            0,
            chain.chain.register_schema(0, SCHEMA).tx.payload,
        );
        chain.commit(&[schema]);
        let serials = [101, 102, 103, STATUS_LIST_BITS + 5];
        let issues: Vec<_> = serials
            .iter()
            .enumerate()
            .map(|(n, serial)| {
                let payload = chain
                    .chain
                    .issue(0, SCHEMA, 1 + n as u64 % 3, *serial)
                    .tx
                    .payload;
                chain.tx(&certifier, n as u64, payload)
            })
            .collect();
        let block = chain.commit(&issues);
        let ids = block
            .transactions
            .iter()
            .map(|t| match &t.tx.payload {
                Payload::IssueCredential(i) => i.claim.id(),
                _ => panic!("an issuance"),
            })
            .collect();
        (chain, ids)
    }

    fn read(publisher: &StatusListPublisher, chain: &CertifiedChain, list: u64) -> StatusList {
        let certifier = chain.chain.certifier.public_key();
        let jwt = publisher
            .publish(&chain.store, "mpms-test", &certifier, list, URL)
            .unwrap();
        StatusList::verify(&jwt, URL, chain.last.time_ms).unwrap()
    }

    #[test]
    fn a_list_sets_the_bits_of_revoked_credentials_and_of_a_slashed_certifier() {
        let (mut chain, ids) = chain();
        let publisher = StatusListPublisher::new(&[3; 32]);
        let certifier = chain.chain.certifier.clone();
        let info = StatusListPublisher::next_index(&chain.store, &certifier.public_key());
        assert_eq!(info.unwrap(), STATUS_LIST_BITS + 6);
        let list = read(&publisher, &chain, 0);
        assert_eq!(list.issuer, publisher.issuer());
        assert_eq!(list.height, chain.last.height);
        assert!((100..=104).all(|i| !list.bits.get(i)));

        // Its certifier revokes one: its bit is set, no other.
        let revoke = chain.tx(
            &certifier,
            0,
            Payload::RevokeCredential {
                credential: ids[1],
                reason: "issued in error".into(),
            },
        );
        chain.commit(&[revoke]);
        let list = read(&publisher, &chain, 0);
        assert!(list.bits.get(102) && !list.bits.get(101) && !list.bits.get(103));
        assert!(!read(&publisher, &chain, 1).bits.get(5));

        // Slashed for fraud: every credential of it, in every list.
        chain.govern(GovernanceAction::SlashCertifier {
            certifier: certifier.public_key(),
            fraction_bps: 5_000,
            reason: "forged diplomas".into(),
        });
        chain.commit(&[]);
        let list = read(&publisher, &chain, 0);
        assert!((101..=103).all(|i| list.bits.get(i)) && !list.bits.get(100));
        assert!(read(&publisher, &chain, 1).bits.get(5));
    }

    #[test]
    fn unknown_certifiers_and_lists_past_the_last_are_refused() {
        let (chain, _) = chain();
        let publisher = StatusListPublisher::new(&[3; 32]);
        let stranger = SigningKey::from_seed(&[9; 32]).public_key();
        assert!(matches!(
            publisher.publish(&chain.store, "mpms-test", &stranger, 0, URL),
            Err(StatusListError::NoCertifier)
        ));
        let certifier = chain.chain.certifier.public_key();
        let last = (MAX_STATUS_INDEX - 1) / STATUS_LIST_BITS;
        assert!(publisher
            .publish(&chain.store, "mpms-test", &certifier, last, URL)
            .is_ok());
        assert!(matches!(
            publisher.publish(&chain.store, "mpms-test", &certifier, last + 1, URL),
            Err(StatusListError::NoList(..))
        ));
    }

    #[test]
    fn the_status_list_key_is_the_node_secrets_and_not_it() {
        let a = StatusListPublisher::new(&[3; 32]);
        assert_eq!(a.issuer(), StatusListPublisher::new(&[3; 32]).issuer());
        assert_ne!(a.issuer(), StatusListPublisher::new(&[4; 32]).issuer());
        assert_ne!(a.issuer(), SigningKey::from_seed(&[3; 32]).public_key());
    }
}
