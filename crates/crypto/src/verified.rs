//! A bounded memory of the signatures this process has found valid, so that each is
//! checked once however many paths it takes.
//!
//! A transaction's signature reaches a node's checks several times: its gossip is
//! validated, the mempool admits it, the proposer builds a block with it, and every
//! validator executes that block; a precommit is verified as a vote and again inside
//! the certificate that quotes it. The verdict only depends on the key, the message
//! and the signature, so a valid one is remembered by an identifier that fixes all
//! three:
//!
//! `id = SHA-256(SHA-512(R ‖ A ‖ M) ‖ S)`
//!
//! `SHA-512(R ‖ A ‖ M)` is the hash every ed25519 check computes anyway (the
//! challenge), so remembering costs one short SHA-256. A hit means the same `R`, `A`,
//! `M` and `S` were found valid before (short of a hash collision), so the verdict
//! cannot change. Only valid signatures are remembered: an invalid one is checked
//! again each time it comes, like before, and can never displace the verdict of
//! another. The memory is bounded ([`CAPACITY`] identifiers, first in first out): a
//! flood of valid signatures only makes older ones cost a check again.

use std::collections::{HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{LazyLock, Mutex, MutexGuard};

use sha2::{Digest, Sha256};

/// Identifiers remembered: 32 bytes each, ≈ 9 MB in all with the index. At 10,000
/// issuances a second (two signatures each) a signature stays known for about six
/// seconds, longer than it takes a transaction to be gossiped, proposed and executed.
pub const CAPACITY: usize = 1 << 17;

/// An identifier fixing a key, a message and a signature.
pub(crate) type Id = [u8; 32];

/// The identifier of `signature` (its `S` half is bytes 32..64) over the message
/// whose ed25519 `challenge` hash is given.
pub(crate) fn id(challenge: &[u8; 64], signature: &[u8; 64]) -> Id {
    let mut h = Sha256::new();
    h.update(challenge);
    h.update(&signature[32..]);
    h.finalize().into()
}

/// How many signatures this process checked and how many it found already known.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SignatureChecks {
    /// Signatures checked on the curve (alone or in a batch), valid or not.
    pub verified: u64,
    /// Signatures found in the memory of valid ones, so not checked again.
    pub remembered: u64,
}

/// The memory.
pub(crate) struct Verified {
    inner: Mutex<Memory>,
    capacity: usize,
    verified: AtomicU64,
    remembered: AtomicU64,
}

struct Memory {
    ids: HashSet<Id>,
    order: VecDeque<Id>,
}

/// The process's one memory: a signature's validity does not depend on which part
/// of the node (or which simulated node) asks.
pub(crate) static VERIFIED: LazyLock<Verified> = LazyLock::new(|| Verified::new(CAPACITY));

impl Verified {
    pub(crate) fn new(capacity: usize) -> Verified {
        Verified {
            inner: Mutex::new(Memory {
                ids: HashSet::with_capacity(capacity.min(1 << 12)),
                order: VecDeque::new(),
            }),
            capacity: capacity.max(1),
            verified: AtomicU64::new(0),
            remembered: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Memory> {
        // A panic while holding the lock leaves at worst a few identifiers of valid
        // signatures missing from the index: still a correct memory.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether `id` is known; counts the hit.
    pub(crate) fn knows(&self, id: &Id) -> bool {
        let known = self.lock().ids.contains(id);
        if known {
            self.remembered.fetch_add(1, Ordering::Relaxed);
        }
        known
    }

    /// Which of `ids` are unknown (their positions); counts the hits.
    pub(crate) fn unknown(&self, ids: &[Id]) -> Vec<usize> {
        let memory = self.lock();
        let unknown: Vec<usize> = (0..ids.len())
            .filter(|i| !memory.ids.contains(&ids[*i]))
            .collect();
        drop(memory);
        let hits = (ids.len() - unknown.len()) as u64;
        self.remembered.fetch_add(hits, Ordering::Relaxed);
        unknown
    }

    /// Counts `n` signatures checked on the curve.
    pub(crate) fn checked(&self, n: usize) {
        self.verified.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// Remembers signatures just found valid.
    pub(crate) fn remember(&self, ids: impl IntoIterator<Item = Id>) {
        let mut memory = self.lock();
        for id in ids {
            if memory.ids.insert(id) {
                memory.order.push_back(id);
                if memory.order.len() > self.capacity {
                    if let Some(old) = memory.order.pop_front() {
                        memory.ids.remove(&old);
                    }
                }
            }
        }
    }

    fn counts(&self) -> SignatureChecks {
        SignatureChecks {
            verified: self.verified.load(Ordering::Relaxed),
            remembered: self.remembered.load(Ordering::Relaxed),
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().ids.len()
    }
}

/// This process's signature checks so far (for metrics and benchmarks).
pub fn signature_checks() -> SignatureChecks {
    VERIFIED.counts()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id_of(n: u8) -> Id {
        [n; 32]
    }

    #[test]
    fn remembers_up_to_capacity_first_in_first_out() {
        let memory = Verified::new(3);
        memory.remember((0..3).map(id_of));
        assert!((0..3).all(|n| memory.knows(&id_of(n))));
        memory.remember([id_of(3)]);
        assert_eq!(memory.len(), 3);
        assert!(!memory.knows(&id_of(0)), "the oldest went first");
        assert!(memory.knows(&id_of(3)));
        // Remembering a known one again does not push anything out.
        memory.remember([id_of(3), id_of(2)]);
        assert!(memory.knows(&id_of(1)));
        assert_eq!(memory.unknown(&[id_of(0), id_of(1), id_of(9)]), vec![0, 2]);
    }

    #[test]
    fn the_identifier_fixes_the_signature() {
        let challenge = [7u8; 64];
        let mut signature = [1u8; 64];
        let first = id(&challenge, &signature);
        signature[63] ^= 1;
        assert_ne!(first, id(&challenge, &signature), "another S");
        let mut other = challenge;
        other[0] ^= 1;
        signature[63] ^= 1;
        assert_ne!(first, id(&other, &signature), "another key, message or R");
        assert_eq!(first, id(&challenge, &signature));
    }
}
