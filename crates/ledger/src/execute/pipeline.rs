//! Fetching what transactions will read ahead of execution, on a second thread.
//!
//! Executing a transaction reads a few keys of committed state, which does not change
//! while a block executes. So for a large block a second thread fetches the keys the
//! next transactions will read into the block's read cache (and derives the ids of
//! the credentials they issue, which name some of those keys) while this thread
//! hashes and executes the current ones. Reads are most of the work of preparing a
//! transaction, hashing the rest, so the two threads stay about even. The outcome is
//! the same as reading inline; only the wall time differs.

use std::ops::ControlFlow;
use std::sync::mpsc;

use mpms_crypto::Hash;

use crate::records::keys;
use crate::state::State;
use crate::transaction::{Payload, SignedTransaction};
use crate::{codec, CredentialId};

/// What a transaction's execution needs that depends on the transaction alone.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Prepared {
    /// Encoded size in bytes.
    pub size: u64,
    /// The transaction hash (digest of the canonical encoding).
    pub hash: Hash,
    /// For an issuance, the id of the credential it issues.
    pub credential: Option<CredentialId>,
}

impl Prepared {
    /// Encodes and hashes `tx` once.
    pub fn of(tx: &SignedTransaction) -> Prepared {
        Prepared::with_credential(tx, credential_id(tx))
    }

    /// Encodes and hashes `tx`, whose credential id (if it issues one) is known.
    fn with_credential(tx: &SignedTransaction, credential: Option<CredentialId>) -> Prepared {
        let encoded = codec::encode(tx);
        // The hash leaves erasable values out (see `SignedTransaction::hash`); the
        // size counts what travels.
        let hash = if tx.tx.payload.holds_erasable() {
            tx.hash()
        } else {
            Hash::digest(&encoded)
        };
        Prepared {
            size: encoded.len() as u64,
            hash,
            credential,
        }
    }
}

/// The id of the credential `tx` issues, if it is an issuance.
fn credential_id(tx: &SignedTransaction) -> Option<CredentialId> {
    match &tx.tx.payload {
        Payload::IssueCredential(issuance) => Some(issuance.claim.id()),
        _ => None,
    }
}

/// Committed-state values fetched ahead of execution (`None`: the key is absent).
pub(crate) type Prefetched = Vec<(Vec<u8>, Option<Vec<u8>>)>;

/// One step of a pipelined run, in order.
pub(crate) enum Step<'t> {
    /// Values of committed state the next transactions will read.
    Warm(Prefetched),
    /// The next transaction, prepared.
    Apply(&'t SignedTransaction, Prepared),
}

/// Transactions prepared per hand-over between the threads.
const CHUNK: usize = 64;
/// Below this many transactions a second thread costs more than it saves.
const MIN_PIPELINED: usize = 2 * CHUNK;
/// Chunks the preparing thread may run ahead.
const AHEAD: usize = 4;

/// Feeds `txs`, prepared, to `step` in order, until `step` breaks. For large inputs a
/// second thread fetches their reads, staying at most a few chunks ahead, and stops
/// when `step` breaks.
pub(crate) fn run<'t, B>(
    base: &dyn State,
    txs: &[&'t SignedTransaction],
    mut step: impl FnMut(Step<'t>) -> ControlFlow<B>,
) -> Option<B> {
    if txs.len() < MIN_PIPELINED {
        for tx in txs {
            if let ControlFlow::Break(b) = step(Step::Apply(tx, Prepared::of(tx))) {
                return Some(b);
            }
        }
        return None;
    }
    std::thread::scope(|scope| {
        let (sender, receiver) =
            mpsc::sync_channel::<(Prefetched, Vec<Option<CredentialId>>)>(AHEAD);
        scope.spawn(move || {
            let mut fetched = foldhash::HashSet::default();
            let mut hints = Vec::new();
            for chunk in txs.chunks(CHUNK) {
                let ids: Vec<Option<CredentialId>> =
                    chunk.iter().map(|tx| credential_id(tx)).collect();
                let mut wanted = Vec::new();
                for (tx, id) in chunk.iter().zip(&ids) {
                    hints.clear();
                    read_hints(tx, id.as_ref(), &mut hints);
                    for key in hints.drain(..) {
                        if fetched.insert(key.clone()) {
                            wanted.push(key);
                        }
                    }
                }
                // One batched lookup per chunk. A failed read is left to the executing
                // thread, which reads the key again and reports the error in order.
                let found = base.get_many(&wanted);
                let values: Prefetched = wanted
                    .into_iter()
                    .zip(found)
                    .filter_map(|(key, value)| value.ok().map(|value| (key, value)))
                    .collect();
                if sender.send((values, ids)).is_err() {
                    return; // the executing thread stopped early
                }
            }
        });
        let mut chunks = txs.chunks(CHUNK);
        for (values, ids) in receiver.iter() {
            let Some(chunk) = chunks.next() else { break };
            if let ControlFlow::Break(b) = step(Step::Warm(values)) {
                return Some(b);
            }
            for (tx, id) in chunk.iter().zip(ids) {
                let prepared = Prepared::with_credential(tx, id);
                if let ControlFlow::Break(b) = step(Step::Apply(tx, prepared)) {
                    return Some(b);
                }
            }
        }
        None
    })
}

/// Keys of committed state that executing `tx` will read. Only a hint: a missing or
/// extra key changes the speed, never the result.
fn read_hints(tx: &SignedTransaction, credential: Option<&CredentialId>, out: &mut Vec<Vec<u8>>) {
    out.push(keys::account(&tx.tx.sender));
    if let Payload::IssueCredential(issuance) = &tx.tx.payload {
        let claim = &issuance.claim;
        out.push(keys::certifier(&claim.certifier));
        if let Some(practitioner) = &claim.practitioner {
            out.push(keys::account(practitioner));
            out.push(keys::delegation(&claim.certifier, practitioner));
        }
        out.push(keys::schema(&claim.schema));
        out.push(keys::account(&claim.subject));
        out.push(keys::held(&claim.subject, &claim.schema));
        if let Some(id) = credential {
            out.push(keys::credential(id));
        }
    }
}
