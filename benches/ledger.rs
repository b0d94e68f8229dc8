//! Execute and commit a block of 1,000 credential issuances to RocksDB (synced),
//! signatures already verified, as a validator does after batch verification.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use mpms_ledger::execute::{build_block, read_meta, SignatureCheck};
use mpms_ledger::records::{keys, Account};
use mpms_ledger::testkit::TestChain;
use mpms_ledger::{codec, SignedTransaction, State};
use mpms_store::{commit_genesis, BlockCommit, RocksOptions, RocksStore, Store};

const TXS: u64 = 1_000;
const SCHEMA: &str = "bench.course";

fn commit(store: &RocksStore, chain: &TestChain, txs: &[SignedTransaction], check: SignatureCheck) {
    let parent = store.last_header().unwrap().unwrap();
    let parent_cert = store.certificate(parent.height).unwrap();
    let proposer = chain.operators[0].public_key();
    let built = build_block(
        store,
        &parent,
        parent_cert,
        proposer,
        parent.time_ms + 1_000,
        txs,
        check,
    )
    .unwrap();
    assert_eq!(
        built.block.transactions.len(),
        txs.len(),
        "{:?}",
        built.excluded.first()
    );
    let set = read_meta(store).unwrap().authority_set;
    let cert = chain.certify(&built.block.header, 0, &set);
    store
        .commit(BlockCommit {
            block: &built.block,
            certificate: Some(&cert),
            changes: &built.outcome.changes,
            tx_hashes: Some(&built.tx_hashes()),
        })
        .unwrap();
}

fn issuance_block(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let store = RocksStore::open(
        dir.path(),
        &RocksOptions {
            sync: std::env::var("BENCH_NOSYNC").is_err(),
            ..RocksOptions::default()
        },
    )
    .unwrap();
    let chain = TestChain::new(4, 7);
    commit_genesis(&store, &chain.genesis.build().unwrap()).unwrap();
    // Block 1: the schema.
    commit(
        &store,
        &chain,
        &[chain.register_schema(0, SCHEMA)],
        SignatureCheck::Verify,
    );

    // Each iteration issues to 1,000 subjects registered just before (untimed), so
    // every block looks like real traffic: new credentials for many interns.
    let certifier = chain.certifier.public_key();
    let mut round = 0u64;
    let mut next_batch = |store: &RocksStore| -> Vec<SignedTransaction> {
        let first = round * TXS;
        round += 1;
        let subjects: Vec<u64> = (first..first + TXS).collect();
        let registrations: Vec<_> = subjects
            .iter()
            .map(|i| chain.register_subject(*i))
            .collect();
        commit(store, &chain, &registrations, SignatureCheck::Verify);
        let nonce =
            codec::decode::<Account>(&store.get(&keys::account(&certifier)).unwrap().unwrap())
                .unwrap()
                .nonce;
        subjects
            .iter()
            .enumerate()
            .map(|(k, i)| chain.issue(nonce + k as u64, SCHEMA, *i, *i))
            .collect()
    };
    let mut group = c.benchmark_group("block");
    group.sample_size(20);
    group.throughput(Throughput::Elements(TXS));
    // Execution alone: apply 1,000 issuances and compute the state tree's new root.
    group.bench_function("execute_1000_issuances", |b| {
        b.iter_batched(
            || next_batch(&store),
            |txs| {
                let parent = store.last_header().unwrap().unwrap();
                let proposer = chain.operators[0].public_key();
                let built = build_block(
                    &store,
                    &parent,
                    None,
                    proposer,
                    parent.time_ms + 1_000,
                    &txs,
                    SignatureCheck::Preverified,
                )
                .unwrap();
                assert_eq!(built.block.transactions.len(), txs.len());
                built
            },
            BatchSize::PerIteration,
        )
    });
    // The whole path: execute, certify, commit in one synced RocksDB batch.
    group.bench_function("execute_commit_1000_issuances_rocksdb", |b| {
        b.iter_batched(
            || next_batch(&store),
            |txs| commit(&store, &chain, &txs, SignatureCheck::Preverified),
            BatchSize::PerIteration,
        )
    });
    // The state tree's part of execution: the new version for a block's writes.
    group.bench_function("state_tree_update_1000_issuances", |b| {
        b.iter_batched_ref(
            || {
                let txs = next_batch(&store);
                let parent = store.last_header().unwrap().unwrap();
                let proposer = chain.operators[0].public_key();
                build_block(
                    &store,
                    &parent,
                    None,
                    proposer,
                    parent.time_ms + 1_000,
                    &txs,
                    SignatureCheck::Preverified,
                )
                .unwrap()
            },
            |built| {
                // By reference: dropping the block is not the tree's time.
                mpms_ledger::state::tree::update(
                    &store,
                    built.block.header.height,
                    &built.outcome.changes.writes,
                )
                .unwrap()
            },
            BatchSize::PerIteration,
        )
    });
    // The commit alone: one synced batch of an executed block.
    group.bench_function("commit_1000_issuances_rocksdb", |b| {
        b.iter_batched_ref(
            || {
                let txs = next_batch(&store);
                let parent = store.last_header().unwrap().unwrap();
                let parent_cert = store.certificate(parent.height).unwrap();
                let built = build_block(
                    &store,
                    &parent,
                    parent_cert,
                    chain.operators[0].public_key(),
                    parent.time_ms + 1_000,
                    &txs,
                    SignatureCheck::Preverified,
                )
                .unwrap();
                let set = read_meta(&store).unwrap().authority_set;
                let cert = chain.certify(&built.block.header, 0, &set);
                (built, cert)
            },
            |(built, cert)| {
                store
                    .commit(BlockCommit {
                        block: &built.block,
                        certificate: Some(cert),
                        changes: &built.outcome.changes,
                        tx_hashes: Some(&built.tx_hashes()),
                    })
                    .unwrap();
                built.outcome.changes.tree.puts.len()
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

criterion_group!(benches, issuance_block);
criterion_main!(benches);
