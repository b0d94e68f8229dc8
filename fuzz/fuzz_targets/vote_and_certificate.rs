//! Votes, commit certificates and evidence in canonical bytes: canonical decoding;
//! verification against the authority set and judging evidence never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mpms_ledger::evidence::Evidence;
use mpms_ledger::{
    codec, CommitCertificate, Executor, Payload, SignatureCheck, SignedVote, Transaction,
};

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    let Some((kind, bytes)) = data.split_first() else {
        return;
    };
    let f = common::fixture();
    let chain_id = f.chain.chain_id();
    match kind % 3 {
        0 => {
            let Ok(vote) = codec::decode::<SignedVote>(bytes) else {
                return;
            };
            assert_eq!(codec::encode(&vote), bytes, "a non-canonical encoding decoded");
            if let Some(member) = f.set.get(&vote.validator) {
                let _ = vote.verify(chain_id, &member.consensus_key);
            }
        }
        1 => {
            let Ok(cert) = codec::decode::<CommitCertificate>(bytes) else {
                return;
            };
            assert_eq!(codec::encode(&cert), bytes, "a non-canonical encoding decoded");
            let _ = cert.verify(chain_id, &f.set);
            let _ = cert.verify_for(chain_id, &f.set, f.last.height, &f.last.hash());
        }
        _ => {
            let Ok(evidence) = codec::decode::<Evidence>(bytes) else {
                return;
            };
            assert_eq!(codec::encode(&evidence), bytes, "a non-canonical encoding decoded");
            let _ = evidence.offence_id();
            // Judged as a block would judge it, submitted by an authority.
            let tx = Transaction {
                chain_id: chain_id.to_string(),
                sender: f.chain.operators[0].public_key(),
                nonce: 0,
                payload: Payload::SubmitEvidence(Box::new(evidence)),
            }
            .sign(&f.chain.operators[0]);
            if let Ok(mut executor) = Executor::new(&f.state, f.ctx()) {
                let _ = executor.apply(&tx, SignatureCheck::Preverified);
            }
        }
    }
});
