//! The proof of work that prices a new account.
//!
//! The chain charges no fees: patients and interns never hold tokens. What stops one
//! client from creating accounts by the million is that each registration (subject,
//! organization, certifier) carries a stamp: a number `work` such that
//! SHA-256(`"mpms/account-work"` ‖ chain id ‖ account id ‖ `work`) starts with
//! [`crate::Params::account_creation_work_bits`] zero bits. The stamp is found once
//! per account, by the client (≈ 2^bits hashes: tens of milliseconds at the default);
//! checking it costs one hash.

use mpms_crypto::Hash;

use crate::AccountId;

const DOMAIN: &[u8] = b"mpms/account-work";

fn digest(chain_id: &str, account: &AccountId, work: u64) -> Hash {
    let len = (chain_id.len() as u64).to_le_bytes();
    Hash::digest_parts(&[
        DOMAIN,
        &len,
        chain_id.as_bytes(),
        account.as_bytes(),
        &work.to_le_bytes(),
    ])
}

fn leading_zero_bits(hash: &Hash) -> u32 {
    let mut bits = 0;
    for byte in hash.as_bytes() {
        if *byte == 0 {
            bits += 8;
        } else {
            return bits + byte.leading_zeros();
        }
    }
    bits
}

/// Whether `work` is a stamp of at least `bits` bits for `account` on `chain_id`.
pub fn meets(chain_id: &str, account: &AccountId, work: u64, bits: u8) -> bool {
    bits == 0 || leading_zero_bits(&digest(chain_id, account, work)) >= u32::from(bits)
}

/// Finds a stamp of `bits` bits for `account` on `chain_id` (the smallest).
pub fn stamp(chain_id: &str, account: &AccountId, bits: u8) -> u64 {
    (0..u64::MAX)
        .find(|work| meets(chain_id, account, *work, bits))
        .unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use mpms_crypto::SigningKey;

    #[test]
    fn a_stamp_is_found_checked_and_bound_to_its_account_and_chain() {
        let a = SigningKey::from_seed(&[1; 32]).public_key();
        let b = SigningKey::from_seed(&[2; 32]).public_key();
        let work = stamp("chain", &a, 12);
        assert!(meets("chain", &a, work, 12));
        // Bound to the account and the chain: (almost surely) worthless elsewhere.
        let elsewhere = [meets("chain", &b, work, 12), meets("other", &a, work, 12)];
        assert!(!elsewhere.iter().all(|m| *m));
        // No requirement, no work.
        assert!(meets("chain", &a, 0, 0));
        // The smallest stamp: every smaller number fails.
        assert!((0..work).all(|w| !meets("chain", &a, w, 12)));
    }
}
