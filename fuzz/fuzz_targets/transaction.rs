//! A transaction in canonical bytes, as the API and gossip receive it: decoding is
//! canonical (what decodes re-encodes to the same bytes), and checking and executing
//! whatever decodes never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mpms_ledger::{codec, Executor, SignatureCheck, SignedTransaction};

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    let Ok(tx) = codec::decode::<SignedTransaction>(data) else {
        return;
    };
    assert_eq!(codec::encode(&tx), data, "a non-canonical encoding decoded");
    let f = common::fixture();
    let _ = tx.verify(&tx.tx.sender);
    if let Ok(mut executor) = Executor::for_admission(&f.state, f.ctx()) {
        let _ = executor.apply(&tx, SignatureCheck::Verify);
    }
    // Past the signature, as if it were valid: the rules themselves.
    if let Ok(mut executor) = Executor::new(&f.state, f.ctx()) {
        if executor.apply(&tx, SignatureCheck::Preverified).is_ok() {
            let _ = executor.finish();
        }
    }
});
