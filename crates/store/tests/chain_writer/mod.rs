//! Builds and commits blocks of a deterministic test chain; shared by the store tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, missing_docs)]

use mpms_ledger::codec;
use mpms_ledger::execute::{build_block, read_meta, SignatureCheck};
use mpms_ledger::records::{keys, Account, Subject};
use mpms_ledger::testkit::TestChain;
use mpms_store::{commit_genesis, BlockCommit, Store};

/// Subjects registered per block.
pub const SUBJECTS_PER_BLOCK: u64 = 20;
pub const SCHEMA: &str = "course.basic";

pub fn chain() -> TestChain {
    TestChain::new(4, 42)
}

/// Commits genesis if the store is empty.
pub fn ensure_genesis(store: &dyn Store, chain: &TestChain) {
    if store.last_height().unwrap().is_none() {
        commit_genesis(store, &chain.genesis.build().unwrap()).unwrap();
    }
}

fn subjects_of(height: u64) -> std::ops::Range<u64> {
    height * SUBJECTS_PER_BLOCK..(height + 1) * SUBJECTS_PER_BLOCK
}

/// Builds, certifies and commits the next block: registers this height's subjects and
/// issues a credential to each subject of the previous height. Returns its height.
pub fn append_block(store: &dyn Store, chain: &TestChain) -> u64 {
    append_block_as(store, chain, |_| {})
}

/// [`append_block`], committing the block as `edit` leaves it (its hash and
/// certificate must still hold: e.g. without its erasable values).
pub fn append_block_as(
    store: &dyn Store,
    chain: &TestChain,
    edit: impl FnOnce(&mut mpms_ledger::Block),
) -> u64 {
    let parent = store.last_header().unwrap().expect("genesis");
    let height = parent.height + 1;
    let certifier = chain.certifier.public_key();
    let mut nonce =
        codec::decode::<Account>(&store.get(&keys::account(&certifier)).unwrap().unwrap())
            .unwrap()
            .nonce;
    let mut txs = Vec::new();
    if height == 1 {
        txs.push(chain.register_schema(nonce, SCHEMA));
        nonce += 1;
    }
    txs.extend(subjects_of(height).map(|i| chain.register_subject(i)));
    if height > 1 {
        for i in subjects_of(height - 1) {
            txs.push(chain.issue(nonce, SCHEMA, i, i));
            nonce += 1;
        }
    }
    let parent_cert = store.certificate(parent.height).unwrap();
    let proposer = chain.operators[(height % 4) as usize].public_key();
    let mut built = build_block(
        store,
        &parent,
        parent_cert,
        proposer,
        parent.time_ms + 1_000,
        &txs,
        SignatureCheck::Verify,
    )
    .unwrap();
    assert!(built.excluded.is_empty(), "excluded: {:?}", built.excluded);
    let set = read_meta(store).unwrap().authority_set;
    let cert = chain.certify(&built.block.header, 0, &set);
    edit(&mut built.block);
    store
        .commit(BlockCommit {
            block: &built.block,
            certificate: Some(&cert),
            changes: &built.outcome.changes,
            tx_hashes: Some(&built.tx_hashes()),
        })
        .unwrap();
    height
}

/// Whether subject `i`'s registration is in state.
pub fn subject_registered(store: &dyn Store, i: u64) -> bool {
    let (k, _) = chain().subject(i);
    store
        .get(&keys::subject(&k.public_key()))
        .unwrap()
        .map(|b| codec::decode::<Subject>(&b).unwrap())
        .is_some()
}

/// The state after `last` is exactly the blocks' effects: this height's subjects are
/// registered, the next height's are not.
pub fn state_matches_last_block(store: &dyn Store, last: u64) {
    if last >= 1 {
        assert!(
            subjects_of(last).all(|i| subject_registered(store, i)),
            "block {last}'s writes missing"
        );
    }
    assert!(
        !subjects_of(last + 1).any(|i| subject_registered(store, i)),
        "writes beyond block {last}"
    );
}
