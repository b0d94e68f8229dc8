//! Signatures at the edges of the verification rule, for tests and the simulator's
//! Byzantine signers (feature `testkit`): an honest signer never makes these.

use curve25519_dalek::constants::{ED25519_BASEPOINT_POINT, EIGHT_TORSION};
use curve25519_dalek::scalar::Scalar;
use sha2::{Digest, Sha512};

use crate::signature::{signing_message, Domain, Signature, SigningKey};

/// ℓ, the order of the base point, little-endian.
const ORDER: [u8; 32] = [
    0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
];

/// A signature by `key` over `message` (as `domain` on `chain_id`) whose nonce point
/// carries the torsion component `EIGHT_TORSION[torsion % 8]`: valid under the
/// cofactored equation (alone and in a batch), refused by a cofactorless check.
pub fn torsion_signature(
    key: &SigningKey,
    chain_id: &str,
    domain: Domain,
    message: &[u8],
    torsion: usize,
) -> Signature {
    // Edge signatures are made for seed keys only (a derived key has no seed: the
    // zero seed then signs, and the signature fails to verify as a test would see).
    let seed = key.to_seed().unwrap_or_default();
    let expanded: [u8; 64] = Sha512::digest(seed).into();
    let mut scalar_bytes = [0u8; 32];
    scalar_bytes.copy_from_slice(&expanded[..32]);
    scalar_bytes[0] &= 248;
    scalar_bytes[31] &= 127;
    scalar_bytes[31] |= 64;
    let a = Scalar::from_bytes_mod_order(scalar_bytes);
    let bytes = signing_message(chain_id, domain, message);
    let mut nonce = Sha512::new();
    nonce.update(&expanded[32..]);
    nonce.update(&bytes);
    nonce.update([torsion as u8]);
    let r = Scalar::from_bytes_mod_order_wide(&nonce.finalize().into());
    let big_r = ED25519_BASEPOINT_POINT * r + EIGHT_TORSION[torsion % 8];
    let r_bytes = big_r.compress().0;
    let mut h = Sha512::new();
    h.update(r_bytes);
    h.update(key.public_key().as_bytes());
    h.update(&bytes);
    let k = Scalar::from_bytes_mod_order_wide(&h.finalize().into());
    let s = r + k * a;
    let mut out = [0u8; 64];
    out[..32].copy_from_slice(&r_bytes);
    out[32..].copy_from_slice(s.as_bytes());
    Signature::from_bytes(out)
}

/// `signature` with S replaced by S + ℓ: the same equation, a non-canonical scalar
/// (refused).
pub fn non_canonical_s(signature: &Signature) -> Signature {
    let mut out = *signature.as_bytes();
    let mut carry = 0u16;
    for (byte, l) in out[32..].iter_mut().zip(ORDER) {
        let sum = u16::from(*byte) + u16::from(l) + carry;
        *byte = (sum & 0xff) as u8;
        carry = sum >> 8;
    }
    Signature::from_bytes(out)
}

/// `signature` with its nonce point replaced by a point of small order (refused).
pub fn small_order_r(signature: &Signature) -> Signature {
    let mut out = *signature.as_bytes();
    out[..32].copy_from_slice(&EIGHT_TORSION[1].compress().0);
    Signature::from_bytes(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edge_signatures_get_the_verdicts_of_the_rule() {
        let key = SigningKey::from_seed(&[5; 32]);
        let pk = key.public_key();
        for t in 0..8 {
            let sig = torsion_signature(&key, "c", Domain::CredentialClaim, b"claim", t);
            assert!(pk
                .verify("c", Domain::CredentialClaim, b"claim", &sig)
                .is_ok());
            assert!(pk
                .verify(
                    "c",
                    Domain::CredentialClaim,
                    b"claim",
                    &non_canonical_s(&sig)
                )
                .is_err());
            assert!(pk
                .verify("c", Domain::CredentialClaim, b"claim", &small_order_r(&sig))
                .is_err());
        }
    }
}
