//! Every gossip message as a peer sends it (transactions, consensus messages with
//! re-sends and proofs of lock, finalized blocks): the gossip validator's verdict
//! never panics, and what it accepts decodes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mpms_consensus::messages::{ConsensusMessage, FinalizedBlock};
use mpms_ledger::{codec, Params, SignedTransaction};
use mpms_network::validate::Limits;
use mpms_network::{ChainValidator, GossipValidator, Topic, Verdict};
use std::sync::OnceLock;

#[path = "common.rs"]
mod common;

fn validator() -> &'static ChainValidator {
    static VALIDATOR: OnceLock<ChainValidator> = OnceLock::new();
    VALIDATOR.get_or_init(|| {
        let f = common::fixture();
        ChainValidator::new(
            f.chain.chain_id(),
            Limits::from_params(&Params::default()),
            f.set.clone(),
            f.last.height + 1,
        )
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((kind, bytes)) = data.split_first() else {
        return;
    };
    let topic = Topic::ALL[usize::from(*kind) % Topic::ALL.len()];
    if validator().validate(topic, bytes) == Verdict::Accept {
        let decodes = match topic {
            Topic::Transactions => codec::decode::<SignedTransaction>(bytes).is_ok(),
            Topic::Consensus => codec::decode::<ConsensusMessage>(bytes).is_ok(),
            Topic::Blocks => codec::decode::<FinalizedBlock>(bytes).is_ok(),
        };
        assert!(decodes, "accepted gossip that does not decode");
    }
});
