//! The one ed25519 verification rule of MPMS, for single signatures and batches alike.
//!
//! Consensus needs every node to reach the same verdict on a signature, whether it
//! checks it alone (a vote, evidence) or in a block's batch. ed25519 libraries differ
//! on edge cases (small-order points, points with a torsion component, non-canonical
//! encodings), and a batch checked with one equation but a single signature with
//! another accept different sets: a Byzantine signer can then craft a signature that
//! a block accepts and evidence rejects. Here both use the same, **cofactored**
//! equation (as ZIP-215 does), so a batch accepts exactly when every item would:
//!
//! - the key `A` and the nonce `R` must be canonical encodings (y < p) of points that
//!   are not of small order;
//! - the scalar `S` must be canonical (S < ℓ);
//! - with `k = SHA-512(R ‖ A ‖ M) mod ℓ`, the signature is valid if and only if
//!   `[8](S·B − k·A − R)` is the identity.
//!
//! A batch checks `[8](Σ zᵢRᵢ + Σ zᵢkᵢAᵢ − (Σ zᵢSᵢ)·B)` with 128-bit coefficients zᵢ
//! derived from the whole batch: it passes when every item passes, and otherwise
//! fails except with probability 2⁻¹²⁸. Every signature an honest ed25519 signer
//! makes is valid under this rule.

use curve25519_dalek::constants::ED25519_BASEPOINT_POINT;
use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::{IsIdentity, VartimeMultiscalarMul};
use sha2::{Digest, Sha512};

/// A decoded, checked public key.
#[derive(Clone, Copy)]
pub(crate) struct Key {
    point: EdwardsPoint,
    bytes: [u8; 32],
}

/// Whether `bytes` encode a field element y < p = 2²⁵⁵ − 19 (the sign bit aside).
fn canonical_y(bytes: &[u8; 32]) -> bool {
    // y ≥ p only for y in [p, 2²⁵⁵ − 1]: low byte ≥ 0xed, bytes 1..=30 all 0xff and
    // the top byte 0x7f (sign bit masked).
    let top = bytes[31] & 0x7f;
    !(top == 0x7f && bytes[1..31].iter().all(|b| *b == 0xff) && bytes[0] >= 0xed)
}

/// Decodes a point that must be canonically encoded and not of small order.
fn point(bytes: &[u8; 32]) -> Option<EdwardsPoint> {
    if !canonical_y(bytes) {
        return None;
    }
    let point = CompressedEdwardsY(*bytes).decompress()?;
    // With y canonical, the one other non-canonical encoding is x = 0 with the sign
    // bit set; x = 0 means y = ±1, the identity or the point of order 2, both of
    // small order and refused here. (So no re-encoding, which costs an inversion,
    // is needed to prove the encoding canonical.)
    if point.is_small_order() {
        return None;
    }
    Some(point)
}

impl Key {
    /// The key encoded by `bytes`, if it is usable.
    pub(crate) fn decode(bytes: &[u8; 32]) -> Option<Key> {
        point(bytes).map(|point| Key {
            point,
            bytes: *bytes,
        })
    }
}

/// A signature's parts, decoded and checked.
struct Parts {
    r: EdwardsPoint,
    s: Scalar,
    k: Scalar,
}

/// `SHA-512(R ‖ A ‖ M)`: the hash an ed25519 check reduces to its challenge `k`. It
/// fixes the key, the message and `R`.
pub(crate) fn challenge(key: &[u8; 32], message: &[u8], signature: &[u8; 64]) -> [u8; 64] {
    let mut hash = Sha512::new();
    hash.update(&signature[..32]);
    hash.update(key);
    hash.update(message);
    hash.finalize().into()
}

fn parts(signature: &[u8; 64], challenge: &[u8; 64]) -> Option<Parts> {
    let mut r_bytes = [0u8; 32];
    r_bytes.copy_from_slice(&signature[..32]);
    let mut s_bytes = [0u8; 32];
    s_bytes.copy_from_slice(&signature[32..]);
    let r = point(&r_bytes)?;
    let s = Option::<Scalar>::from(Scalar::from_canonical_bytes(s_bytes))?;
    let k = Scalar::from_bytes_mod_order_wide(challenge);
    Some(Parts { r, s, k })
}

/// Whether `signature` is a valid signature of `message` under `key`.
#[cfg(test)]
pub(crate) fn verify(key: &Key, message: &[u8], signature: &[u8; 64]) -> bool {
    verify_challenged(key, signature, &challenge(&key.bytes, message, signature))
}

/// Whether `signature` is valid under `key` for the message whose [`challenge`] is
/// given.
pub(crate) fn verify_challenged(key: &Key, signature: &[u8; 64], challenge: &[u8; 64]) -> bool {
    let Some(Parts { r, s, k }) = parts(signature, challenge) else {
        return false;
    };
    // S·B − k·A, then minus R; valid when what is left has no prime-order part.
    let sb_minus_ka = EdwardsPoint::vartime_double_scalar_mul_basepoint(&k, &-key.point, &s);
    (sb_minus_ka - r).mul_by_cofactor().is_identity()
}

/// Whether every `(key, message, signature)` is valid; the same verdict as checking
/// each with [`verify`] (except with probability 2⁻¹²⁸).
#[cfg(test)]
pub(crate) fn verify_all<'a>(
    items: impl ExactSizeIterator<Item = (&'a Key, &'a [u8], &'a [u8; 64])>,
) -> bool {
    let challenges: Vec<(&Key, [u8; 64], &[u8; 64])> = items
        .map(|(key, message, signature)| {
            (key, challenge(&key.bytes, message, signature), signature)
        })
        .collect();
    verify_all_challenged(challenges.iter().map(|(k, c, s)| (*k, c, *s)))
}

/// Whether every `(key, challenge, signature)` is valid (see [`verify_challenged`]);
/// the same verdict as checking each alone (except with probability 2⁻¹²⁸).
pub(crate) fn verify_all_challenged<'a>(
    items: impl ExactSizeIterator<Item = (&'a Key, &'a [u8; 64], &'a [u8; 64])>,
) -> bool {
    let mut decoded = Vec::with_capacity(items.len());
    // The coefficients depend on everything in the batch, so no item can be chosen
    // after them.
    let mut transcript = Sha512::new();
    transcript.update(b"MPMS batch verification v1");
    for (key, challenge, signature) in items {
        let Some(p) = parts(signature, challenge) else {
            return false;
        };
        transcript.update(key.bytes);
        transcript.update(signature);
        transcript.update(p.k.as_bytes());
        decoded.push((key.point, p));
    }
    if decoded.is_empty() {
        return true;
    }
    let seed: [u8; 64] = transcript.finalize().into();
    let coefficients: Vec<Scalar> = (0..decoded.len() as u64)
        .map(|i| {
            let mut h = Sha512::new();
            h.update(seed);
            h.update(i.to_le_bytes());
            let out: [u8; 64] = h.finalize().into();
            let mut z = [0u8; 32];
            z[..16].copy_from_slice(&out[..16]);
            Scalar::from_bytes_mod_order(z)
        })
        .collect();
    let b_coefficient: Scalar = decoded
        .iter()
        .zip(&coefficients)
        .map(|((_, p), z)| z * p.s)
        .sum();
    let scalars = std::iter::once(-b_coefficient)
        .chain(coefficients.iter().copied())
        .chain(decoded.iter().zip(&coefficients).map(|((_, p), z)| z * p.k));
    let points = std::iter::once(ED25519_BASEPOINT_POINT)
        .chain(decoded.iter().map(|(_, p)| p.r))
        .chain(decoded.iter().map(|(a, _)| *a));
    EdwardsPoint::vartime_multiscalar_mul(scalars, points)
        .mul_by_cofactor()
        .is_identity()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use curve25519_dalek::constants::EIGHT_TORSION;
    use rand::SeedableRng;

    use super::*;

    /// A key made from a scalar, so tests can sign by hand: `A = a·B + t`.
    struct HandKey {
        a: Scalar,
        key: Key,
    }

    fn hand_key(seed: u64, torsion: usize) -> HandKey {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(seed);
        let a = Scalar::random(&mut rng);
        let point = ED25519_BASEPOINT_POINT * a + EIGHT_TORSION[torsion];
        let bytes = point.compress().0;
        HandKey {
            a,
            key: Key { point, bytes },
        }
    }

    /// A signature with nonce point `R = r·B + t` (t a torsion point), S as given or
    /// computed honestly for that R.
    fn hand_sign(k: &HandKey, message: &[u8], torsion: usize, seed: u64) -> [u8; 64] {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(seed);
        let r = Scalar::random(&mut rng);
        let big_r = ED25519_BASEPOINT_POINT * r + EIGHT_TORSION[torsion];
        let r_bytes = big_r.compress().0;
        let mut h = Sha512::new();
        h.update(r_bytes);
        h.update(k.key.bytes);
        h.update(message);
        let kk = Scalar::from_bytes_mod_order_wide(&h.finalize().into());
        let s = r + kk * k.a;
        let mut sig = [0u8; 64];
        sig[..32].copy_from_slice(&r_bytes);
        sig[32..].copy_from_slice(s.as_bytes());
        sig
    }

    #[test]
    fn honest_signatures_verify_alone_and_in_batches() {
        let keys: Vec<HandKey> = (0..8).map(|i| hand_key(i, 0)).collect();
        let sigs: Vec<[u8; 64]> = keys
            .iter()
            .enumerate()
            .map(|(i, k)| hand_sign(k, b"m", 0, i as u64))
            .collect();
        for (k, s) in keys.iter().zip(&sigs) {
            assert!(verify(&k.key, b"m", s));
        }
        let items: Vec<(&Key, &[u8], &[u8; 64])> = keys
            .iter()
            .zip(&sigs)
            .map(|(k, s)| (&k.key, b"m".as_slice(), s))
            .collect();
        assert!(verify_all(items.into_iter()));
    }

    #[test]
    fn small_order_and_non_canonical_points_are_refused() {
        for t in &EIGHT_TORSION {
            assert!(Key::decode(&t.compress().0).is_none(), "small-order key");
        }
        // y = p (non-canonical zero) and y = p + 1 (non-canonical one).
        let mut p = [0xffu8; 32];
        p[0] = 0xed;
        p[31] = 0x7f;
        assert!(Key::decode(&p).is_none());
        p[0] = 0xee;
        assert!(Key::decode(&p).is_none());
        // x = 0 with the sign bit set: y = 1 and y = −1 (= p − 1).
        let mut one = [0u8; 32];
        one[0] = 1;
        one[31] = 0x80;
        assert!(Key::decode(&one).is_none());
        let mut minus_one = [0xffu8; 32];
        minus_one[0] = 0xec;
        assert!(Key::decode(&minus_one).is_none());
        minus_one[31] = 0x7f;
        assert!(Key::decode(&minus_one).is_none());
        // Every encoding accepted re-encodes to itself (no inversion needed to know).
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(5);
        for i in 0..200 {
            let mut bytes = [0u8; 32];
            rand::RngCore::fill_bytes(&mut rng, &mut bytes);
            if i % 2 == 0 {
                bytes = (ED25519_BASEPOINT_POINT * Scalar::random(&mut rng))
                    .compress()
                    .0;
                bytes[31] ^= 0x80 * u8::from(i % 4 == 0);
            }
            if let Some(key) = Key::decode(&bytes) {
                assert_eq!(key.point.compress().0, bytes);
            }
        }
        // An honest signature whose R is swapped for a small-order point.
        let k = hand_key(1, 0);
        let mut sig = hand_sign(&k, b"m", 0, 1);
        sig[..32].copy_from_slice(&EIGHT_TORSION[3].compress().0);
        assert!(!verify(&k.key, b"m", &sig));
        // S + ℓ: the same equation, a non-canonical scalar.
        let sig = hand_sign(&k, b"m", 0, 2);
        let s = Scalar::from_canonical_bytes(sig[32..].try_into().unwrap()).unwrap();
        let mut wide = [0u8; 32];
        let l_plus_s =
            BASEPOINT_ORDER_BYTES
                .iter()
                .zip(s.as_bytes())
                .scan(0u16, |carry, (a, b)| {
                    let sum = u16::from(*a) + u16::from(*b) + *carry;
                    *carry = sum >> 8;
                    Some((sum & 0xff) as u8)
                });
        for (w, b) in wide.iter_mut().zip(l_plus_s) {
            *w = b;
        }
        let mut bad = sig;
        bad[32..].copy_from_slice(&wide);
        assert!(verify(&k.key, b"m", &sig));
        assert!(!verify(&k.key, b"m", &bad));
    }

    /// ℓ, little-endian.
    const BASEPOINT_ORDER_BYTES: [u8; 32] = [
        0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde,
        0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
    ];

    /// Torsion components in R or A: the cofactored equation accepts them, alone and
    /// in a batch alike (a cofactorless batch would accept them only sometimes).
    #[test]
    fn torsion_components_get_one_verdict_alone_and_batched() {
        let plain = hand_key(3, 0);
        let mixed_key = hand_key(4, 5);
        let cases: Vec<(&HandKey, [u8; 64])> = vec![
            (&plain, hand_sign(&plain, b"m", 0, 10)),
            (&plain, hand_sign(&plain, b"m", 1, 11)),
            (&plain, hand_sign(&plain, b"m", 4, 12)),
            (&mixed_key, hand_sign(&mixed_key, b"m", 0, 13)),
            (&mixed_key, hand_sign(&mixed_key, b"m", 7, 14)),
        ];
        for (k, s) in &cases {
            assert!(verify(&k.key, b"m", s), "cofactored accepts");
        }
        for take in 1..=cases.len() {
            let items: Vec<(&Key, &[u8], &[u8; 64])> = cases[..take]
                .iter()
                .map(|(k, s)| (&k.key, b"m".as_slice(), s))
                .collect();
            assert!(verify_all(items.into_iter()));
        }
    }

    /// Random batches of valid and invalid items: the batch passes exactly when every
    /// item passes alone.
    #[test]
    fn batch_verdict_equals_every_single_verdict() {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(9);
        for round in 0..40u64 {
            let mut cases = Vec::new();
            for i in 0..(1 + round % 9) {
                let k = hand_key(round * 100 + i, (i % 3) as usize);
                let mut s = hand_sign(&k, b"msg", ((round + i) % 8) as usize, round * 7 + i);
                // Now and then, a corrupt one: a flipped bit in S or R.
                if rand::Rng::gen_bool(&mut rng, 0.15) {
                    let at = rand::Rng::gen_range(&mut rng, 0..64);
                    s[at] ^= 1 << rand::Rng::gen_range(&mut rng, 0..8);
                }
                cases.push((k, s));
            }
            let singles = cases.iter().all(|(k, s)| verify(&k.key, b"msg", s));
            let items: Vec<(&Key, &[u8], &[u8; 64])> = cases
                .iter()
                .map(|(k, s)| (&k.key, b"msg".as_slice(), s))
                .collect();
            assert_eq!(verify_all(items.into_iter()), singles, "round {round}");
        }
    }
}
