//! Sealing to a signing key: a short message (an access request's purpose, an
//! inspection's outcome) encrypted to whoever holds an ed25519 key, when the sender
//! knows no encryption key of the reader (an entry key has none: it is all its owner
//! shows).
//!
//! HPKE (RFC 9180) takes X25519 keys whose secrets are clamped; an ed25519 secret
//! scalar (an entry key's is a sum) is not, so the exchange is written here, in the
//! shape of HPKE's base mode over the ed25519 group: the sender draws `e`, sends
//! `E = e·B`, and both ends derive `K = HKDF-SHA256(salt = E ‖ P, ikm = e·P = s·E,
//! info = "mpms/signer-seal/v1" ‖ info)`; the message is ChaCha20-Poly1305 under `K`
//! with a zero nonce (each key seals one message) and the caller's associated data.
//! Points of small order or outside the prime-order subgroup are refused both ways.

use chacha20poly1305::aead::{Aead as _, KeyInit, Payload};
use chacha20poly1305::ChaCha20Poly1305;
use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::Scalar;
use rand::{CryptoRng, RngCore};
use serde::{Deserialize, Serialize};
use zeroize::Zeroize;

use crate::seal::SealError;
use crate::{PublicKey, SigningKey};

/// Largest message sealed to a signing key (4 KiB): these are short texts.
pub const MAX_SIGNER_PLAINTEXT: usize = 4 << 10;

/// A message sealed to an ed25519 key ([`seal_to_signer`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SignerSealed {
    /// The sender's ephemeral point `E` (compressed ed25519).
    pub ephemeral: PublicKey,
    /// The ciphertext, tag included.
    #[serde(with = "serde_bytes")]
    pub ciphertext: Vec<u8>,
}

/// A point that is a usable key: canonical, in the prime-order subgroup, not the
/// identity.
fn prime_order_point(key: &PublicKey) -> Option<EdwardsPoint> {
    let point = CompressedEdwardsY(*key.as_bytes()).decompress()?;
    let canonical = point.compress().as_bytes() == key.as_bytes();
    (canonical && point.is_torsion_free() && !point.is_small_order()).then_some(point)
}

fn cipher(
    shared: &EdwardsPoint,
    ephemeral: &PublicKey,
    recipient: &PublicKey,
    info: &[u8],
) -> ChaCha20Poly1305 {
    let mut salt = [0u8; 64];
    salt[..32].copy_from_slice(ephemeral.as_bytes());
    salt[32..].copy_from_slice(recipient.as_bytes());
    let mut ikm = shared.compress().to_bytes();
    let hkdf = hkdf::Hkdf::<sha2::Sha256>::new(Some(&salt), &ikm);
    ikm.zeroize();
    let mut key = [0u8; 32];
    let labelled = [b"mpms/signer-seal/v1".as_slice(), info].concat();
    // 32 bytes from SHA-256's HKDF: always within its output limit.
    let _ = hkdf.expand(&labelled, &mut key);
    let cipher = ChaCha20Poly1305::new(&key.into());
    key.zeroize();
    cipher
}

/// Seals `plaintext` to the holder of `recipient`'s secret; `info` names the purpose,
/// `aad` is authenticated but not encrypted.
pub fn seal_to_signer<R: RngCore + CryptoRng>(
    recipient: &PublicKey,
    info: &[u8],
    aad: &[u8],
    plaintext: &[u8],
    rng: &mut R,
) -> Result<SignerSealed, SealError> {
    if plaintext.len() > MAX_SIGNER_PLAINTEXT {
        return Err(SealError::TooLarge(plaintext.len()));
    }
    let point = prime_order_point(recipient).ok_or(SealError::InvalidKey)?;
    let mut wide = [0u8; 64];
    rng.fill_bytes(&mut wide);
    let mut e = Scalar::from_bytes_mod_order_wide(&wide);
    wide.zeroize();
    let ephemeral = PublicKey::from_bytes(EdwardsPoint::mul_base(&e).compress().to_bytes());
    let shared = point * e;
    e.zeroize();
    let ciphertext = cipher(&shared, &ephemeral, recipient, info)
        .encrypt(
            &[0u8; 12].into(),
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .map_err(|_| SealError::Hpke("encryption failed".into()))?;
    Ok(SignerSealed {
        ephemeral,
        ciphertext,
    })
}

/// Opens what [`seal_to_signer`] sealed to `key`'s public key, with the same `info`
/// and `aad`.
pub fn open_as_signer(
    key: &SigningKey,
    info: &[u8],
    aad: &[u8],
    sealed: &SignerSealed,
) -> Result<Vec<u8>, SealError> {
    let point = prime_order_point(&sealed.ephemeral).ok_or(SealError::Decrypt)?;
    let mut s = key.secret_scalar();
    let shared = point * s;
    s.zeroize();
    cipher(&shared, &sealed.ephemeral, &key.public_key(), info)
        .decrypt(
            &[0u8; 12].into(),
            Payload {
                msg: &sealed.ciphertext,
                aad,
            },
        )
        .map_err(|_| SealError::Decrypt)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::seal::{Sealer, CONTENT_KEY_INFO};
    use crate::{DecryptionKey, EntryTweak};
    use rand::SeedableRng;

    #[test]
    fn a_message_sealed_to_a_key_opens_with_its_secret_only() {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(5);
        let account = SigningKey::generate(&mut rng);
        // An entry key (a sum of scalars) opens as well as a seed key.
        let decryption = DecryptionKey::generate(&mut rng);
        let sealer = Sealer::new(&decryption.encryption_key(), CONTENT_KEY_INFO, &mut rng).unwrap();
        let entry = EntryTweak::of_sealer(&sealer)
            .unwrap()
            .entry_signing_key(&account);
        for key in [&account, &entry] {
            let sealed = seal_to_signer(
                &key.public_key(),
                b"purpose",
                b"request",
                b"income protection claim",
                &mut rng,
            )
            .unwrap();
            assert_eq!(
                open_as_signer(key, b"purpose", b"request", &sealed).unwrap(),
                b"income protection claim"
            );
            // Not with another key, another info or aad, or an altered ciphertext.
            let other = SigningKey::generate(&mut rng);
            assert!(open_as_signer(&other, b"purpose", b"request", &sealed).is_err());
            assert!(open_as_signer(key, b"outcome", b"request", &sealed).is_err());
            assert!(open_as_signer(key, b"purpose", b"another", &sealed).is_err());
            let mut altered = sealed.clone();
            altered.ciphertext[0] ^= 1;
            assert!(open_as_signer(key, b"purpose", b"request", &altered).is_err());
            // Nothing of the text shows.
            assert!(!sealed.ciphertext.windows(6).any(|w| w == b"income"));
        }
    }

    #[test]
    fn small_order_and_mixed_points_are_refused() {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(6);
        // The identity, a point of order 4, and a key plus a torsion point.
        let identity = PublicKey::from_bytes(EdwardsPoint::default().compress().to_bytes());
        let order4 = PublicKey::from_bytes([0; 32]);
        let key = SigningKey::generate(&mut rng);
        let torsion = CompressedEdwardsY([0; 32]).decompress().unwrap();
        let mixed = PublicKey::from_bytes(
            (CompressedEdwardsY(*key.public_key().as_bytes())
                .decompress()
                .unwrap()
                + torsion)
                .compress()
                .to_bytes(),
        );
        for bad in [identity, order4, mixed] {
            assert!(seal_to_signer(&bad, b"i", b"a", b"m", &mut rng).is_err());
        }
        let mut sealed = seal_to_signer(&key.public_key(), b"i", b"a", b"m", &mut rng).unwrap();
        sealed.ephemeral = order4;
        assert!(open_as_signer(&key, b"i", b"a", &sealed).is_err());
        assert!(seal_to_signer(
            &key.public_key(),
            b"i",
            b"a",
            &[0; MAX_SIGNER_PLAINTEXT + 1],
            &mut rng
        )
        .is_err());
    }
}
