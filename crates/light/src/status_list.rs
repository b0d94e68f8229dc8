//! W3C Bitstring Status List (v1.0) credentials: the revocation status of a
//! certifier's credentials in a form any Verifiable Credential verifier reads.
//!
//! Each credential names an entry (its claim's `status_index`) in its certifier's
//! status lists; list `n` holds entries `n·131,072 … (n+1)·131,072 − 1`. A node
//! publishes each list as a `BitstringStatusListCredential`, secured as a `vc+jwt`
//! under a key of its own, built from its committed state at a height: an entry's bit
//! is set when its credential is revoked (by its certifier or by governance),
//! superseded by a correction, or when the certifier is slashed for fraud. The list
//! is valid from that block's time for [`STATUS_LIST_VALIDITY_MS`], so a list served
//! by a node that stopped following the chain expires.
//!
//! The list is a convenience for generic verifiers: it says what one node read. The
//! chain's status proof (`mpmsd verify`) is certified by the authorities and needs no
//! trust in any node.

use std::io::{Read, Write};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use mpms_crypto::{PublicKey, SigningKey};
use mpms_ledger::transaction::STATUS_LIST_BITS;
use serde_json::{json, Value};

use crate::vc::{did_key, mpms_context, rfc3339, sign_jwt, verify_signed, VcError, VC_CONTEXT};

/// Bytes of one list's bitstring (131,072 bits: 16 KiB, the minimum the
/// specification sets, so that one credential hides among many).
pub const LIST_BYTES: usize = (STATUS_LIST_BITS / 8) as usize;

/// How long a published list stays valid after the block it was read at.
pub const STATUS_LIST_VALIDITY_MS: u64 = 10 * 60 * 1000;

/// The credential type of a status list.
pub const STATUS_LIST_CREDENTIAL_TYPE: &str = "BitstringStatusListCredential";

/// One status list's bits: bit `i` is the left-most bit of byte `i / 8` counting
/// from the most significant (the specification's order).
#[derive(Clone, PartialEq, Eq)]
pub struct Bitstring(Vec<u8>);

impl std::fmt::Debug for Bitstring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let set = self.0.iter().map(|b| b.count_ones()).sum::<u32>();
        write!(f, "Bitstring({set} of {STATUS_LIST_BITS} set)")
    }
}

impl Default for Bitstring {
    fn default() -> Self {
        Bitstring(vec![0; LIST_BYTES])
    }
}

impl Bitstring {
    /// Sets entry `index` (taken modulo the list size).
    pub fn set(&mut self, index: u64) {
        let i = (index % STATUS_LIST_BITS) as usize;
        self.0[i / 8] |= 0x80 >> (i % 8);
    }

    /// Whether entry `index` (taken modulo the list size) is set.
    pub fn get(&self, index: u64) -> bool {
        let i = (index % STATUS_LIST_BITS) as usize;
        self.0[i / 8] & (0x80 >> (i % 8)) != 0
    }

    /// The `encodedList`: the bits gzip-compressed, in multibase base64url without
    /// padding (`u…`).
    pub fn encode(&self) -> String {
        let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        // Writing to a Vec cannot fail.
        let _ = gzip.write_all(&self.0);
        let compressed = gzip.finish().unwrap_or_default();
        format!("u{}", URL_SAFE_NO_PAD.encode(compressed))
    }

    /// Reads an `encodedList`: exactly [`LIST_BYTES`] once decompressed (a longer
    /// stream is refused as soon as it passes that, whatever it announces).
    pub fn decode(encoded: &str) -> Result<Bitstring, VcError> {
        let bad = |why: &str| VcError::Mismatch(format!("status list encodedList: {why}"));
        let compressed = encoded
            .strip_prefix('u')
            .and_then(|b64| URL_SAFE_NO_PAD.decode(b64).ok())
            .ok_or_else(|| bad("not multibase base64url"))?;
        let mut bits = Vec::with_capacity(LIST_BYTES);
        flate2::read::GzDecoder::new(compressed.as_slice())
            .take(LIST_BYTES as u64 + 1)
            .read_to_end(&mut bits)
            .map_err(|_| bad("not gzip"))?;
        if bits.len() != LIST_BYTES {
            return Err(bad(&format!("not {STATUS_LIST_BITS} bits")));
        }
        Ok(Bitstring(bits))
    }
}

/// What a status list credential says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusList {
    /// Its address (the credential's `id`).
    pub url: String,
    /// The chain it was read from.
    pub chain_id: String,
    /// The height of the state it was read at.
    pub height: u64,
    /// The time of that block (Unix ms, whole seconds): `validFrom`.
    pub valid_from_ms: u64,
    /// The key that signed it.
    pub issuer: PublicKey,
    /// The bits.
    pub bits: Bitstring,
}

impl StatusList {
    /// Until when it is valid (Unix ms): `validUntil`.
    pub fn valid_until_ms(&self) -> u64 {
        self.valid_from_ms.saturating_add(STATUS_LIST_VALIDITY_MS)
    }

    /// The credential (VC Data Model 2.0) of this list.
    pub fn document(&self) -> Value {
        json!({
            "@context": [VC_CONTEXT, mpms_context()],
            "id": self.url,
            "type": ["VerifiableCredential", STATUS_LIST_CREDENTIAL_TYPE],
            "issuer": did_key(&self.issuer),
            "validFrom": rfc3339(self.valid_from_ms),
            "validUntil": rfc3339(self.valid_until_ms()),
            "credentialSubject": {
                "id": format!("{}#list", self.url),
                "type": "BitstringStatusList",
                "statusPurpose": "revocation",
                "encodedList": self.bits.encode(),
                "chain": self.chain_id,
                "height": self.height,
            },
        })
    }

    /// The list as a `vc+jwt` signed with `key` (whose public key is `issuer`).
    pub fn sign(&self, key: &SigningKey) -> Result<String, VcError> {
        if key.public_key() != self.issuer {
            return Err(VcError::Sign("the key is not the list's issuer".into()));
        }
        sign_jwt(&self.document(), key)
    }

    /// Checks a status list `vc+jwt` fetched from `url`: its signature, that it is
    /// the list at `url`, its shape, and that it is valid at `now_ms` (its
    /// `validFrom` no later, its `validUntil` not past). Who signed it is the
    /// caller's to judge ([`StatusList::issuer`]).
    pub fn verify(jwt: &str, url: &str, now_ms: u64) -> Result<StatusList, VcError> {
        let (issuer, doc) = verify_signed(jwt)?;
        let bad = |why: String| VcError::Mismatch(format!("status list: {why}"));
        if doc["id"] != url {
            return Err(bad(format!("it is {}, not the list at {url}", doc["id"])));
        }
        let subject = &doc["credentialSubject"];
        let typed = doc["type"]
            .as_array()
            .is_some_and(|t| t.iter().any(|x| x == STATUS_LIST_CREDENTIAL_TYPE));
        if !typed
            || subject["type"] != "BitstringStatusList"
            || subject["statusPurpose"] != "revocation"
        {
            return Err(bad("not a revocation BitstringStatusListCredential".into()));
        }
        let bits = Bitstring::decode(subject["encodedList"].as_str().unwrap_or_default())?;
        let list = StatusList {
            url: url.to_string(),
            chain_id: subject["chain"].as_str().unwrap_or_default().to_string(),
            height: subject["height"]
                .as_u64()
                .ok_or_else(|| bad("no height".into()))?,
            valid_from_ms: parse_time(&doc["validFrom"])
                .ok_or_else(|| bad("no validFrom".into()))?,
            issuer,
            bits,
        };
        // Every member is one this list would have: nothing unchecked rides along.
        if list.document() != doc {
            return Err(bad("members other than a status list's".into()));
        }
        if list.valid_from_ms > now_ms {
            return Err(bad("valid only from a time still to come".into()));
        }
        if list.valid_until_ms() < now_ms {
            return Err(bad(format!(
                "expired {} s ago (lists are valid for {} minutes after the block read)",
                (now_ms - list.valid_until_ms()) / 1000,
                STATUS_LIST_VALIDITY_MS / 60_000
            )));
        }
        Ok(list)
    }
}

/// Unix ms of an RFC 3339 time.
fn parse_time(value: &Value) -> Option<u64> {
    let t = time::OffsetDateTime::parse(
        value.as_str()?,
        &time::format_description::well_known::Rfc3339,
    )
    .ok()?;
    u64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn list(bits: Bitstring) -> (StatusList, SigningKey) {
        let key = SigningKey::from_seed(&[7; 32]);
        let list = StatusList {
            url: "http://127.0.0.1:26601/v1/status-lists/ab/0".into(),
            chain_id: "mpms-test".into(),
            height: 42,
            valid_from_ms: 1_700_000_000_000,
            issuer: key.public_key(),
            bits,
        };
        (list, key)
    }

    #[test]
    fn bits_are_read_left_to_right_and_round_trip() {
        let mut bits = Bitstring::default();
        bits.set(0);
        bits.set(9);
        bits.set(STATUS_LIST_BITS + 17); // list 1, entry 17
        assert_eq!(bits.0[0], 0x80);
        assert_eq!(bits.0[1], 0x40);
        assert!(bits.get(17) && !bits.get(16));
        let encoded = bits.encode();
        assert!(encoded.starts_with("uH4sI"), "gzip in base64url: {encoded}");
        assert_eq!(Bitstring::decode(&encoded).unwrap(), bits);
    }

    #[test]
    fn bad_encoded_lists_are_refused() {
        let gz = |bytes: &[u8]| {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(bytes).unwrap();
            format!("u{}", URL_SAFE_NO_PAD.encode(e.finish().unwrap()))
        };
        // Too short, too long (a bomb stops at one byte past the list), not gzip,
        // not multibase.
        for bad in [
            gz(&[0; 100]),
            gz(&vec![0; 64 << 20]),
            format!("u{}", URL_SAFE_NO_PAD.encode([1, 2, 3])),
            "zabc".to_string(),
        ] {
            assert!(Bitstring::decode(&bad).is_err());
        }
    }

    #[test]
    fn a_signed_list_verifies_only_as_itself_and_while_valid() {
        let mut bits = Bitstring::default();
        bits.set(5);
        let (list, key) = list(bits);
        let jwt = list.sign(&key).unwrap();
        let at = list.valid_from_ms + 1000;
        let read = StatusList::verify(&jwt, &list.url, at).unwrap();
        assert_eq!(read, list);
        assert!(read.bits.get(5) && !read.bits.get(4));
        // Fetched from another address, too early, too late: refused.
        assert!(StatusList::verify(&jwt, "http://127.0.0.1:1/v1/status-lists/ab/1", at).is_err());
        assert!(StatusList::verify(&jwt, &list.url, list.valid_from_ms - 1).is_err());
        let late = list.valid_until_ms() + 1;
        let err = StatusList::verify(&jwt, &list.url, late).unwrap_err();
        assert!(err.to_string().contains("expired"), "{err}");
        // Signed by another key than it names: refused at signing.
        assert!(list.sign(&SigningKey::from_seed(&[8; 32])).is_err());
    }

    #[test]
    fn a_list_with_an_extra_member_is_refused() {
        let (list, key) = list(Bitstring::default());
        let mut doc = list.document();
        doc["credentialSubject"]["note"] = json!("trust me");
        let jwt = sign_jwt(&doc, &key).unwrap();
        let err = StatusList::verify(&jwt, &list.url, list.valid_from_ms).unwrap_err();
        assert!(err.to_string().contains("members"), "{err}");
    }
}
