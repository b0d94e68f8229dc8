//! Data a transaction carries that its owner may later have erased: a credential's
//! ciphertext and the content keys sealed to its readers.
//!
//! A transaction commits to such data by digest only: its signature, its hash (and
//! so the block's transaction root) and everything the state machine records are
//! computed with the data replaced by its digest ([`crate::SignedTransaction::hash`]).
//! The bytes travel with the transaction (gossip, blocks, sync) until erased; a node
//! that erases them keeps a transaction, a block and a chain that verify exactly as
//! before, and a node syncing from genesis later verifies and executes them the
//! same way.

use mpms_crypto::Hash;
use serde::{Deserialize, Serialize};

use crate::codec;

/// A value a transaction commits to by digest, held until erased.
///
/// Decoding checks that a value present hashes to the digest, so a held value is
/// always the one committed to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(
    try_from = "Parts<T>",
    bound(deserialize = "T: Serialize + serde::de::DeserializeOwned")
)]
pub struct Erasable<T: Serialize> {
    digest: Hash,
    /// The value, or `null` once erased (or when served to a reader who is not a
    /// party of it).
    value: Option<T>,
}

/// The encoded form, checked on the way in.
#[derive(Deserialize)]
struct Parts<T> {
    digest: Hash,
    value: Option<T>,
}

/// A value present that does not hash to its digest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("erasable data does not match its digest")]
pub struct DigestMismatch;

impl<T: Serialize> TryFrom<Parts<T>> for Erasable<T> {
    type Error = DigestMismatch;

    fn try_from(parts: Parts<T>) -> Result<Erasable<T>, DigestMismatch> {
        if let Some(value) = &parts.value {
            if digest_of(value) != parts.digest {
                return Err(DigestMismatch);
            }
        }
        Ok(Erasable {
            digest: parts.digest,
            value: parts.value,
        })
    }
}

fn digest_of<T: Serialize>(value: &T) -> Hash {
    Hash::digest_parts(&[b"mpms/erasable/v1", &codec::encode(value)])
}

impl<T: Serialize> Erasable<T> {
    /// `value`, held, committed to by its digest.
    pub fn new(value: T) -> Erasable<T> {
        Erasable {
            digest: digest_of(&value),
            value: Some(value),
        }
    }

    /// The value, unless erased.
    pub fn get(&self) -> Option<&T> {
        self.value.as_ref()
    }

    /// What the transaction commits to.
    pub fn digest(&self) -> Hash {
        self.digest
    }

    /// Whether the value was erased.
    pub fn is_erased(&self) -> bool {
        self.value.is_none()
    }

    /// Drops the value, keeping the digest.
    pub fn erase(&mut self) {
        self.value = None;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_held_value_must_match_its_digest() {
        let held = Erasable::new(b"ciphertext".to_vec());
        let bytes = codec::encode(&held);
        assert_eq!(codec::decode::<Erasable<Vec<u8>>>(&bytes).unwrap(), held);
        // Another value under the same digest is refused on decoding.
        let forged = Parts {
            digest: held.digest(),
            value: Some(b"other".to_vec()),
        };
        assert!(Erasable::try_from(forged).is_err());
        let mut tampered = bytes.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert!(codec::decode::<Erasable<Vec<u8>>>(&tampered).is_err());
        // Erased, it keeps its digest and decodes.
        let mut erased = held.clone();
        erased.erase();
        assert!(erased.is_erased());
        assert_eq!(erased.digest(), held.digest());
        let back: Erasable<Vec<u8>> = codec::decode(&codec::encode(&erased)).unwrap();
        assert_eq!(back, erased);
        // The JSON form checks the same.
        let json = serde_json::to_string(&held).unwrap();
        assert_eq!(
            serde_json::from_str::<Erasable<Vec<u8>>>(&json).unwrap(),
            held
        );
    }
}
