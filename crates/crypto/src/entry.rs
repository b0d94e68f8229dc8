//! Entry keys: each entry of a subject's record under a key of its own.
//!
//! A patient's record is many entries from many certifiers. If every entry named the
//! patient's account, anyone shown one entry could list all the others. Instead, a
//! certifier issues each entry to an **entry key** that only the patient can sign
//! with and that nobody else can link to the patient's account or to its other
//! entries:
//!
//! 1. The certifier seals the entry's content key to the patient's registered
//!    encryption key with HPKE ([`crate::seal::Sealer`], info
//!    [`crate::seal::CONTENT_KEY_INFO`]) and exports from the same context a 64-byte
//!    secret under [`ENTRY_KEY_LABEL`]. Reduced mod the group order it is the tweak
//!    `t`.
//! 2. The entry key is `A + t·B`, where `A` is the patient's signing key and `B` the
//!    ed25519 base point. The certifier knows `t` but not the patient's secret `a`,
//!    so it cannot sign for the entry; the patient signs with `a + t`.
//! 3. The patient finds its entries by deriving `t` from each sealed key's `enc` (an
//!    X25519 exchange and an HKDF, no ciphertext needed) and comparing `A + t·B` with
//!    the entry's subject. To anyone without the patient's decryption key, `enc` is
//!    a random point and the entry key a random key.
//!
//! A signer's nonces come from a prefix of its own (derived from the patient's prefix
//! and `t`), never the patient's: two keys whose secrets differ by a known `t` must
//! never share one.

use curve25519_dalek::Scalar;
use zeroize::Zeroize;

use crate::seal::{
    export_received, DecryptionKey, EncryptionKey, SealError, Sealer, CONTENT_KEY_INFO,
};
use crate::{PublicKey, SigningKey};

/// The HPKE exporter label of an entry key's tweak.
pub const ENTRY_KEY_LABEL: &[u8] = b"mpms/entry-key/v1";

/// The secret scalar `t` that turns a subject's key into one entry's key. Zeroized on
/// drop; never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct EntryTweak(Scalar);

impl Drop for EntryTweak {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl std::fmt::Debug for EntryTweak {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EntryTweak(..)")
    }
}

impl EntryTweak {
    fn from_exported(mut wide: [u8; 64]) -> EntryTweak {
        let tweak = EntryTweak(Scalar::from_bytes_mod_order_wide(&wide));
        wide.zeroize();
        tweak
    }

    /// The tweak of the entry whose content key `sealer` seals.
    pub fn of_sealer(sealer: &Sealer) -> Result<EntryTweak, SealError> {
        let mut wide = [0u8; 64];
        sealer.export(ENTRY_KEY_LABEL, &mut wide)?;
        Ok(EntryTweak::from_exported(wide))
    }

    /// The tweak the holder of `key` derives from a sealed content key's `enc`.
    pub fn received(key: &DecryptionKey, enc: &EncryptionKey) -> Result<EntryTweak, SealError> {
        let mut wide = [0u8; 64];
        export_received(key, CONTENT_KEY_INFO, enc, ENTRY_KEY_LABEL, &mut wide)?;
        Ok(EntryTweak::from_exported(wide))
    }

    /// The canonical 32-byte encoding (to keep in a wallet). Handle with care.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// A tweak from its canonical encoding; `None` if not canonical.
    pub fn from_bytes(bytes: [u8; 32]) -> Option<EntryTweak> {
        Option::from(Scalar::from_canonical_bytes(bytes)).map(EntryTweak)
    }

    /// The entry key of `subject` (its signing key): `subject + t·B`; `None` if
    /// `subject` is not a usable key.
    pub fn entry_key(&self, subject: &PublicKey) -> Option<PublicKey> {
        subject.tweaked(&self.0)
    }

    /// The secret of the entry key: `subject`'s secret plus `t`.
    pub fn entry_signing_key(&self, subject: &SigningKey) -> SigningKey {
        subject.tweaked(&self.0)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::{ContentKey, Domain};
    use rand::SeedableRng;

    fn rng() -> rand_chacha::ChaCha20Rng {
        rand_chacha::ChaCha20Rng::seed_from_u64(27)
    }

    #[test]
    fn only_the_subject_signs_for_an_entry_and_finds_it_from_enc_alone() {
        let mut rng = rng();
        let patient = SigningKey::generate(&mut rng);
        let decryption = DecryptionKey::generate(&mut rng);
        // The certifier: seals a content key, derives the entry key from the context.
        let sealer = Sealer::new(&decryption.encryption_key(), CONTENT_KEY_INFO, &mut rng).unwrap();
        let tweak = EntryTweak::of_sealer(&sealer).unwrap();
        let entry = tweak.entry_key(&patient.public_key()).unwrap();
        assert_ne!(entry, patient.public_key());
        let content_key = ContentKey::generate(&mut rng);
        let sealed = content_key.seal_with(sealer, b"credential id").unwrap();
        // The patient: the same tweak from enc, the content key opens as usual.
        let found = EntryTweak::received(&decryption, &sealed.enc).unwrap();
        assert_eq!(found, tweak);
        assert_eq!(found.entry_key(&patient.public_key()), Some(entry));
        assert_eq!(
            ContentKey::open_from(&decryption, b"credential id", &sealed).unwrap(),
            content_key
        );
        // Its signatures verify under the entry key with the chain's one rule.
        let signer = found.entry_signing_key(&patient);
        assert_eq!(signer.public_key(), entry);
        assert!(signer.to_seed().is_none());
        let signature = signer.sign("chain", Domain::Transaction, b"grant");
        entry
            .verify("chain", Domain::Transaction, b"grant", &signature)
            .unwrap();
        // ... and under no other key: not the patient's, not another entry's.
        assert!(patient
            .public_key()
            .verify("chain", Domain::Transaction, b"grant", &signature)
            .is_err());
        // Another key's holder derives another tweak, and the patient's key alone
        // (without t) signs nothing valid for the entry.
        let stranger = DecryptionKey::generate(&mut rng);
        let other = EntryTweak::received(&stranger, &sealed.enc).unwrap();
        assert_ne!(other.entry_key(&patient.public_key()), Some(entry));
        let plain = patient.sign("chain", Domain::Transaction, b"grant");
        assert!(entry
            .verify("chain", Domain::Transaction, b"grant", &plain)
            .is_err());
    }

    #[test]
    fn entries_of_one_subject_share_no_key_and_no_nonce() {
        let mut rng = rng();
        let patient = SigningKey::generate(&mut rng);
        let decryption = DecryptionKey::generate(&mut rng);
        let mut tweak = || {
            let sealer =
                Sealer::new(&decryption.encryption_key(), CONTENT_KEY_INFO, &mut rng).unwrap();
            EntryTweak::of_sealer(&sealer).unwrap()
        };
        let (first, second) = (tweak(), tweak());
        let (a, b) = (
            first.entry_signing_key(&patient),
            second.entry_signing_key(&patient),
        );
        assert_ne!(a.public_key(), b.public_key());
        // Deterministic nonces from distinct prefixes: the same message gets distinct
        // nonces (R, the first 32 bytes), under each key and against the patient's.
        let message = b"same message";
        let (sa, sb, sp) = (
            a.sign_raw(message),
            b.sign_raw(message),
            patient.sign_raw(message),
        );
        assert_ne!(sa.as_bytes()[..32], sb.as_bytes()[..32]);
        assert_ne!(sa.as_bytes()[..32], sp.as_bytes()[..32]);
        // Deterministic: the same key signs the same message the same way.
        assert_eq!(a.sign_raw(message), sa);
    }

    #[test]
    fn a_tweak_round_trips_and_refuses_non_canonical_bytes() {
        let mut rng = rng();
        let decryption = DecryptionKey::generate(&mut rng);
        let sealer = Sealer::new(&decryption.encryption_key(), CONTENT_KEY_INFO, &mut rng).unwrap();
        let tweak = EntryTweak::of_sealer(&sealer).unwrap();
        assert_eq!(EntryTweak::from_bytes(tweak.to_bytes()), Some(tweak));
        assert_eq!(EntryTweak::from_bytes([0xff; 32]), None);
        // A subject key that is not a usable point has no entry key.
        assert_eq!(
            EntryTweak::from_bytes([1; 32])
                .unwrap()
                .entry_key(&PublicKey::from_bytes([0; 32])),
            None
        );
    }
}
