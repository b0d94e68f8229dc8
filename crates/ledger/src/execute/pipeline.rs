//! Preparing transactions ahead of execution, on a second thread.
//!
//! Executing a transaction needs its encoded size and hash, and reads a few keys of
//! committed state. Both depend only on the transaction and on committed state, which
//! does not change while a block executes. So for a large block a second thread
//! prepares the next transactions (hashes them, fetches the keys they will read into
//! the block's read cache) while this thread executes the current ones. The outcome
//! is the same as preparing inline; only the wall time differs.

use std::collections::HashSet;
use std::ops::ControlFlow;
use std::sync::mpsc;

use mpms_crypto::Hash;

use crate::codec;
use crate::records::keys;
use crate::state::State;
use crate::transaction::{Payload, SignedTransaction};

/// A transaction's encoded size and hash.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Prepared {
    /// Encoded size in bytes.
    pub size: u64,
    /// The transaction hash (digest of the canonical encoding).
    pub hash: Hash,
}

impl Prepared {
    /// Encodes and hashes `tx` once.
    pub fn of(tx: &SignedTransaction) -> Prepared {
        let encoded = codec::encode(tx);
        Prepared {
            size: encoded.len() as u64,
            hash: Hash::digest(&encoded),
        }
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

/// Feeds `txs`, prepared, to `step` in order, until `step` breaks. Large inputs are
/// prepared on a second thread that stays at most a few chunks ahead and stops when
/// `step` breaks.
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
        let (sender, receiver) = mpsc::sync_channel::<(Prefetched, Vec<Prepared>)>(AHEAD);
        scope.spawn(move || {
            let mut fetched = HashSet::new();
            let mut hints = Vec::new();
            for chunk in txs.chunks(CHUNK) {
                let prepared: Vec<Prepared> = chunk.iter().map(|tx| Prepared::of(tx)).collect();
                let mut values = Prefetched::new();
                for tx in chunk {
                    hints.clear();
                    read_hints(tx, &mut hints);
                    for key in hints.drain(..) {
                        if fetched.contains(&key) {
                            continue;
                        }
                        // A failed read is left to the executing thread, which reads
                        // the key again and reports the error in order.
                        if let Ok(value) = base.get(&key) {
                            fetched.insert(key.clone());
                            values.push((key, value));
                        }
                    }
                }
                if sender.send((values, prepared)).is_err() {
                    return; // the executing thread stopped early
                }
            }
        });
        let mut chunks = txs.chunks(CHUNK);
        for (values, prepared) in receiver.iter() {
            let Some(chunk) = chunks.next() else { break };
            if let ControlFlow::Break(b) = step(Step::Warm(values)) {
                return Some(b);
            }
            for (tx, prepared) in chunk.iter().zip(prepared) {
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
fn read_hints(tx: &SignedTransaction, out: &mut Vec<Vec<u8>>) {
    out.push(keys::account(&tx.tx.sender));
    if let Payload::IssueCredential(issuance) = &tx.tx.payload {
        let claim = &issuance.claim;
        out.push(keys::certifier(&claim.certifier));
        out.push(keys::schema(&claim.schema));
        out.push(keys::subject(&claim.subject));
        out.push(keys::held(&claim.subject, &claim.schema));
        out.push(keys::credential(&claim.id()));
    }
}
