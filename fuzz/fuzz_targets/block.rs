//! Blocks, headers and finalized blocks in canonical bytes, as proposals and sync
//! deliver them: canonical decoding; body checks, certificate checks and execution
//! never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mpms_consensus::messages::{check_finalized, FinalizedBlock};
use mpms_ledger::execute::execute_block;
use mpms_ledger::{codec, Block, Header};

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    let Some((kind, bytes)) = data.split_first() else {
        return;
    };
    let f = common::fixture();
    match kind % 3 {
        0 => {
            let Ok(block) = codec::decode::<Block>(bytes) else {
                return;
            };
            assert_eq!(codec::encode(&block), bytes, "a non-canonical encoding decoded");
            let _ = block.check_body(10_000, 16 << 20);
            let _ = block.tx_proof(0);
            let _ = execute_block(&f.state, &f.last, &block);
        }
        1 => {
            let Ok(finalized) = codec::decode::<FinalizedBlock>(bytes) else {
                return;
            };
            assert_eq!(codec::encode(&finalized), bytes, "a non-canonical encoding decoded");
            if check_finalized(f.chain.chain_id(), &f.last, &f.set, &finalized).is_ok() {
                let _ = execute_block(&f.state, &f.last, &finalized.block);
            }
        }
        _ => {
            let Ok(header) = codec::decode::<Header>(bytes) else {
                return;
            };
            assert_eq!(codec::encode(&header), bytes, "a non-canonical encoding decoded");
            let _ = header.check_link(&f.last);
            let _ = header.hash();
        }
    }
});
