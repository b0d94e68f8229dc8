//! Large blocks are prepared on a second thread while they execute. The outcome must
//! be exactly that of applying the same transactions one by one on one thread.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use mpms_ledger::block::tx_root;
use mpms_ledger::execute::{
    build_block, execute_block, BlockContext, BlockExecError, Executor, SignatureCheck,
};
use mpms_ledger::testkit::TestChain;
use mpms_ledger::{MemState, SignedTransaction, TxError};

const SCHEMA: &str = "pipeline.course";

/// Commits `txs` as one block on `state`, returning the new parent header.
fn commit(
    chain: &TestChain,
    state: &mut MemState,
    parent: &mpms_ledger::Header,
    txs: &[SignedTransaction],
) -> mpms_ledger::Header {
    let built = build_block(
        &*state,
        parent,
        None,
        chain.operators[0].public_key(),
        parent.time_ms + 1_000,
        txs,
        SignatureCheck::Verify,
    )
    .unwrap();
    assert!(built.excluded.is_empty(), "{:?}", built.excluded.first());
    state.apply(&built.outcome.changes);
    built.block.header
}

#[test]
fn pipelined_block_equals_serial_execution() {
    let chain = TestChain::new(4, 11);
    let genesis = chain.genesis.build().unwrap();
    let mut state = MemState::new();
    state.apply(&genesis.changes);
    let mut parent = genesis.header.clone();
    parent = commit(
        &chain,
        &mut state,
        &parent,
        &[chain.register_schema(0, SCHEMA)],
    );
    let registrations: Vec<_> = (0..300).map(|i| chain.register_subject(i)).collect();
    parent = commit(&chain, &mut state, &parent, &registrations);

    // 300 valid issuances (nonces 1..=300), with rejects mixed in: a replayed nonce,
    // a skipped nonce and an issuance to a subject that does not exist.
    let mut candidates = Vec::new();
    for i in 0..300u64 {
        candidates.push(chain.issue(1 + i, SCHEMA, i, i));
        match i {
            50 => candidates.push(chain.issue(1 + i, SCHEMA, i, 10_000 + i)),
            120 => candidates.push(chain.issue(1_000, SCHEMA, i, 20_000 + i)),
            200 => candidates.push(chain.issue(2 + i, SCHEMA, 9_999, 30_000 + i)),
            _ => {}
        }
    }

    let proposer = chain.operators[0].public_key();
    let time_ms = parent.time_ms + 1_000;
    let pipelined = build_block(
        &state,
        &parent,
        None,
        proposer,
        time_ms,
        &candidates,
        SignatureCheck::Verify,
    )
    .unwrap();

    // The same candidates, one at a time on this thread.
    let ctx = BlockContext {
        height: parent.height + 1,
        time_ms,
        proposer,
        parent: parent.hash(),
    };
    let mut executor = Executor::new(&state, ctx).unwrap();
    let mut serial_included = Vec::new();
    let mut serial_errors: Vec<TxError> = Vec::new();
    for tx in &candidates {
        match executor.apply(tx, SignatureCheck::Verify) {
            Ok(receipt) => serial_included.push(receipt.tx_hash),
            Err(error) => serial_errors.push(error),
        }
    }
    let serial = executor.finish().unwrap();

    assert_eq!(pipelined.block.transactions.len(), 300);
    assert_eq!(pipelined.tx_hashes(), serial_included);
    assert_eq!(pipelined.excluded.len(), 3);
    let pipelined_errors: Vec<TxError> =
        pipelined.excluded.iter().map(|e| e.error.clone()).collect();
    assert_eq!(pipelined_errors, serial_errors);
    assert_eq!(pipelined.outcome.changes, serial.changes);
    assert_eq!(pipelined.outcome.state_root, serial.state_root);
    assert_eq!(pipelined.block.header.state_root, serial.state_root);

    // A validator re-executing the block (also pipelined) agrees.
    let validated = execute_block(&state, &parent, &pipelined.block).unwrap();
    assert_eq!(validated.state_root, serial.state_root);
    assert_eq!(validated.changes, serial.changes);

    // A block whose transaction 150 replays 149's nonce is refused at exactly that
    // index, wherever the preparing thread had got to.
    let mut bad = pipelined.block.clone();
    bad.transactions[150] = bad.transactions[149].clone();
    bad.header.tx_root = tx_root(&bad.transactions);
    match execute_block(&state, &parent, &bad) {
        Err(BlockExecError::Transaction { index: 150, error }) => {
            assert!(matches!(error, TxError::NonceReplayed { .. }), "{error}")
        }
        other => panic!("expected a rejection at 150, got {other:?}"),
    }
}
