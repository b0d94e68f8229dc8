//! The API's JSON bodies: a transaction as JSON (then checked and executed like one
//! from bytes) and evidence as JSON (as `tx submit-evidence` reads it). Never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mpms_ledger::evidence::Evidence;
use mpms_ledger::{Executor, SignatureCheck, SignedTransaction};

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    let Some((kind, bytes)) = data.split_first() else {
        return;
    };
    let f = common::fixture();
    match kind % 2 {
        0 => {
            let Ok(tx) = serde_json::from_slice::<SignedTransaction>(bytes) else {
                return;
            };
            let _ = tx.verify(&tx.tx.sender);
            if let Ok(mut executor) = Executor::for_admission(&f.state, f.ctx()) {
                let _ = executor.apply(&tx, SignatureCheck::Verify);
            }
            if let Ok(mut executor) = Executor::new(&f.state, f.ctx()) {
                let _ = executor.apply(&tx, SignatureCheck::Preverified);
            }
        }
        _ => {
            if let Ok(evidence) = serde_json::from_slice::<Evidence>(bytes) {
                let _ = evidence.offence_id();
                let _ = serde_json::to_string(&evidence);
            }
        }
    }
});
