//! The `Store` contract, on both implementations.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod chain_writer;

use chain_writer::{append_block, chain, ensure_genesis, state_matches_last_block};
use mpms_crypto::Hash;
use mpms_ledger::state::StateChanges;
use mpms_ledger::{Block, State};
use mpms_store::{
    check_integrity, BlockCommit, MemStore, RocksOptions, RocksStore, Store, StoreError, TxLocation,
};

fn exercise(store: &dyn Store) {
    let c = chain();
    assert_eq!(store.last_height().unwrap(), None);
    // Only genesis may come first.
    let g = c.genesis.build().unwrap();
    let mut wrong = Block {
        header: g.header.clone(),
        last_commit: None,
        transactions: vec![],
    };
    wrong.header.height = 3;
    assert!(matches!(
        store.commit(BlockCommit {
            block: &wrong,
            certificate: None,
            changes: &g.changes,
            tx_hashes: None
        }),
        Err(StoreError::NotNext { .. })
    ));
    ensure_genesis(store, &c);
    for _ in 0..3 {
        append_block(store, &c);
    }
    assert_eq!(check_integrity(store).unwrap(), 3);
    state_matches_last_block(store, 3);
    let b2 = store.block(2).unwrap().unwrap();
    assert_eq!(store.height_of(&b2.hash()).unwrap(), Some(2));
    assert_eq!(store.certificate(2).unwrap().unwrap().block, b2.hash());
    assert_eq!(
        store.tx_location(&b2.transactions[5].hash()).unwrap(),
        Some(TxLocation {
            height: 2,
            index: 5
        })
    );
    assert_eq!(store.tx_location(&Hash::digest(b"none")).unwrap(), None);
    assert_eq!(store.header(9).unwrap(), None);
    // A block that does not extend the chain is refused and changes nothing.
    let mut stale = b2.clone();
    stale.header.height = 4;
    let cert = store.certificate(2).unwrap().unwrap();
    let mut changes = StateChanges::default();
    changes.writes.insert(b"junk".to_vec(), Some(b"x".to_vec()));
    assert!(store
        .commit(BlockCommit {
            block: &stale,
            certificate: Some(&cert),
            changes: &changes,
            tx_hashes: None
        })
        .is_err());
    assert_eq!(store.get(b"junk").unwrap(), None);
    assert_eq!(store.last_height().unwrap(), Some(3));
    // Safety record.
    assert_eq!(store.safety_record().unwrap(), None);
    store.save_safety_record(b"h=3 r=0 step=precommit").unwrap();
    assert_eq!(
        store.safety_record().unwrap().unwrap(),
        b"h=3 r=0 step=precommit"
    );
}

#[test]
fn memory_store_contract() {
    exercise(&MemStore::new());
}

#[test]
fn rocks_store_contract_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = RocksStore::open(dir.path(), &RocksOptions::default()).unwrap();
        exercise(&store);
    }
    let store = RocksStore::open(dir.path(), &RocksOptions::default()).unwrap();
    assert_eq!(check_integrity(&store).unwrap(), 3);
    assert_eq!(
        store.safety_record().unwrap().unwrap(),
        b"h=3 r=0 step=precommit"
    );
    append_block(&store, &chain());
    assert_eq!(check_integrity(&store).unwrap(), 4);
}

#[test]
fn both_stores_hold_identical_state() {
    let dir = tempfile::tempdir().unwrap();
    let rocks = RocksStore::open(dir.path(), &RocksOptions::default()).unwrap();
    let mem = MemStore::new();
    let c = chain();
    for store in [&rocks as &dyn Store, &mem] {
        ensure_genesis(store, &c);
        for _ in 0..4 {
            append_block(store, &c);
        }
    }
    assert_eq!(rocks.state_entries().unwrap(), mem.state_entries());
    assert_eq!(rocks.last_header().unwrap(), mem.last_header().unwrap());
}

/// The transaction index is written behind each commit. If the process dies between
/// the two, the entries (and the indexed height) are lost; opening the store writes
/// them again from the blocks.
#[test]
fn rocks_rebuilds_a_lost_transaction_index_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let c = chain();
    let hashes: Vec<Hash> = {
        let store = RocksStore::open(dir.path(), &RocksOptions::default()).unwrap();
        ensure_genesis(&store, &c);
        append_block(&store, &c);
        append_block(&store, &c);
        // Served at once, whether or not the background writer is done.
        let block = store.block(2).unwrap().unwrap();
        let hashes: Vec<Hash> = block.transactions.iter().map(|t| t.hash()).collect();
        assert!(!hashes.is_empty());
        for (index, hash) in hashes.iter().enumerate() {
            let index = index as u32;
            assert_eq!(
                store.tx_location(hash).unwrap(),
                Some(TxLocation { height: 2, index })
            );
        }
        hashes
    };
    {
        // What a crash right after block 2's commit leaves: no index entries for it,
        // and an indexed height of 1.
        let names = [
            "blocks",
            "certificates",
            "tx_index",
            "state",
            "state_tree",
            "safety",
            "meta",
        ];
        let mut options = rocksdb::Options::default();
        options.create_if_missing(false);
        let db = rocksdb::DB::open_cf(&options, dir.path(), names).unwrap();
        let index = db.cf_handle("tx_index").unwrap();
        for hash in &hashes {
            db.delete_cf(index, hash.as_bytes()).unwrap();
        }
        let meta = db.cf_handle("meta").unwrap();
        db.put_cf(meta, b"indexed-height", 1u64.to_le_bytes())
            .unwrap();
        assert!(db.get_cf(index, hashes[0].as_bytes()).unwrap().is_none());
    }
    let store = RocksStore::open(dir.path(), &RocksOptions::default()).unwrap();
    for (index, hash) in hashes.iter().enumerate() {
        let index = index as u32;
        assert_eq!(
            store.tx_location(hash).unwrap(),
            Some(TxLocation { height: 2, index })
        );
    }
    assert_eq!(check_integrity(&store).unwrap(), 2);
}

/// Both stores keep exactly the configured number of state versions provable, prove
/// the same as an unpruned state there, and hold a bounded tree however long the
/// chain grows.
#[test]
fn state_history_is_kept_and_pruned_beyond_the_window() {
    use mpms_ledger::records::keys;
    use mpms_ledger::state::tree;

    const KEPT: u64 = 3;
    let dir = tempfile::tempdir().unwrap();
    let rocks = RocksStore::open(
        dir.path(),
        &RocksOptions {
            state_history: KEPT,
            ..RocksOptions::default()
        },
    )
    .unwrap();
    let mem = MemStore::with_state_history(KEPT);
    let everything = MemStore::with_state_history(u64::MAX);
    let c = chain();
    for store in [&rocks as &dyn Store, &mem, &everything] {
        ensure_genesis(store, &c);
    }
    let certifier = keys::account(&c.certifier.public_key());
    let mut sizes = Vec::new();
    for _ in 0..12 {
        let mut height = 0;
        for store in [&rocks as &dyn Store, &mem, &everything] {
            height = append_block(store, &c);
        }
        sizes.push(rocks.tree_range(&[0], &[0xff], usize::MAX).unwrap().len());
        let root = rocks.header(height).unwrap().unwrap().state_root;
        for kept in height.saturating_sub(KEPT - 1)..=height {
            let header = rocks.header(kept).unwrap().unwrap();
            for store in [&rocks as &dyn Store, &mem] {
                let proof = tree::prove(store, kept, &certifier).unwrap();
                proof.verify(&header.state_root).unwrap();
                assert_eq!(proof, tree::prove(&everything, kept, &certifier).unwrap());
            }
        }
        if let Some(gone) = height.checked_sub(KEPT) {
            assert!(
                tree::prove(&rocks, gone, &certifier).is_err(),
                "height {gone} kept"
            );
            assert!(tree::root_at(&rocks, gone).unwrap().is_none());
        }
        assert_eq!(tree::root_at(&rocks, height).unwrap(), Some(root));
    }
    // Every block adds as many subjects and credentials as the last: once pruning
    // runs, the tree grows by the live state only, not by the versions.
    let growth: Vec<i64> = sizes
        .windows(2)
        .map(|w| w[1] as i64 - w[0] as i64)
        .collect();
    assert!(
        growth[growth.len() - 1] <= growth[3] + growth[3] / 10,
        "tree entries per block: {sizes:?}"
    );
    let full = everything
        .tree_range(&[0], &[0xff], usize::MAX)
        .unwrap()
        .len();
    assert!(
        sizes[sizes.len() - 1] * 10 < full * 8,
        "{sizes:?} vs {full}"
    );
}

/// Blocks that rewrite the same state (transfers between the authorities' accounts,
/// and the recent block hashes, one added and one dropped each block): once pruning
/// keeps pace, the state tree's files on disk stop growing.
#[test]
fn the_state_tree_on_disk_stops_growing_under_constant_churn() {
    use mpms_ledger::execute::{build_block, read_meta, SignatureCheck};
    use mpms_ledger::Payload;
    use mpms_store::commit_genesis;

    let dir = tempfile::tempdir().unwrap();
    let store = RocksStore::open(
        dir.path(),
        &RocksOptions {
            state_history: 4,
            ..RocksOptions::default()
        },
    )
    .unwrap();
    let mut c = chain();
    c.genesis.params.evidence_max_age_blocks = 8;
    commit_genesis(&store, &c.genesis.build().unwrap()).unwrap();
    let mut nonces = vec![0u64; c.operators.len()];
    let mut append = |store: &RocksStore| {
        let parent = store.last_header().unwrap().unwrap();
        let mut txs = Vec::new();
        for (i, from) in c.operators.iter().enumerate() {
            let to = c.operators[(i + 1) % c.operators.len()].public_key();
            for _ in 0..3 {
                txs.push(c.tx(from, nonces[i], Payload::Transfer { to, amount: 1 }));
                nonces[i] += 1;
            }
        }
        let built = build_block(
            store,
            &parent,
            store.certificate(parent.height).unwrap(),
            c.operators[0].public_key(),
            parent.time_ms + 1_000,
            &txs,
            SignatureCheck::Verify,
        )
        .unwrap();
        assert!(built.excluded.is_empty(), "{:?}", built.excluded);
        let set = read_meta(store).unwrap().authority_set;
        let cert = c.certify(&built.block.header, 0, &set);
        store
            .commit(BlockCommit {
                block: &built.block,
                certificate: Some(&cert),
                changes: &built.outcome.changes,
                tx_hashes: Some(&built.tx_hashes()),
            })
            .unwrap();
    };
    let mut sizes = Vec::new();
    for _ in 0..4 {
        for _ in 0..60 {
            append(&store);
        }
        let entries = store.tree_range(&[0], &[0xff], usize::MAX).unwrap().len();
        sizes.push((entries, store.compact_state_tree().unwrap()));
    }
    println!("state tree every 60 blocks (entries, bytes on disk): {sizes:?}");
    // The first sample still fills the windows; after it, as many entries and bytes
    // (the recent block hashes are new keys each block, so the tree's shape, and
    // its node count, wobble by a few).
    let (entries, bytes) = sizes[1];
    for (later_entries, later_bytes) in &sizes[2..] {
        assert!(
            *later_entries <= entries + entries / 10,
            "tree entries: {sizes:?}"
        );
        assert!(
            *later_bytes <= bytes + bytes / 10,
            "tree bytes on disk: {sizes:?}"
        );
    }
}

/// A committed issuance, its block's height and position.
fn an_issuance(store: &dyn Store) -> (u64, usize, mpms_ledger::SignedTransaction) {
    for height in 1..=store.last_height().unwrap().unwrap() {
        let block = store.block(height).unwrap().unwrap();
        if let Some((i, tx)) = block
            .transactions
            .iter()
            .enumerate()
            .find(|(_, t)| matches!(t.tx.payload, mpms_ledger::Payload::IssueCredential(_)))
        {
            return (height, i, tx.clone());
        }
    }
    panic!("no issuance committed")
}

/// Erases an issuance in its stored block: accepted, the chain still checks out;
/// a rewrite that changes anything else is refused. Returns the erased ciphertext.
fn erase_in(store: &dyn Store) -> Vec<u8> {
    let (height, index, tx) = an_issuance(store);
    let mpms_ledger::Payload::IssueCredential(issuance) = &tx.tx.payload else {
        unreachable!()
    };
    let ciphertext = issuance.content.get().unwrap().ciphertext.clone();
    let id = issuance.claim.id();
    let stored = store.block(height).unwrap().unwrap();
    // Changing a transaction, or the header, is not erasing.
    let mut changed = stored.clone();
    changed.transactions[index].tx.nonce += 1;
    assert!(store.replace_values(&changed).is_err());
    let mut moved = stored.clone();
    moved.header.time_ms += 1;
    assert!(store.replace_values(&moved).is_err());
    let mut erased = stored.clone();
    assert!(erased.transactions[index].erase_credential(&id));
    assert!(!erased.transactions[index].erase_credential(&id));
    store.replace_values(&erased).unwrap();
    store.purge_erased().unwrap();
    let back = store.block(height).unwrap().unwrap();
    assert_eq!(back, erased);
    assert_eq!(back.hash(), stored.hash());
    assert_eq!(back.transactions[index].hash(), tx.hash());
    assert_eq!(
        check_integrity(store).unwrap(),
        store.last_height().unwrap().unwrap()
    );
    ciphertext
}

#[test]
fn erasing_rewrites_a_block_and_nothing_else() {
    let memory = MemStore::new();
    exercise(&memory);
    erase_in(&memory);

    let dir = tempfile::tempdir().unwrap();
    let ciphertext = {
        let store = RocksStore::open(dir.path(), &RocksOptions::default()).unwrap();
        exercise(&store);
        erase_in(&store)
    };
    // The bytes left the database's files.
    let needle = &ciphertext[..32];
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        assert!(
            !bytes.windows(needle.len()).any(|w| w == needle),
            "erased bytes in {}",
            path.display()
        );
    }
    let store = RocksStore::open(dir.path(), &RocksOptions::default()).unwrap();
    assert_eq!(check_integrity(&store).unwrap(), 3);
}

/// A block committed without some erasable value is marked incomplete in the same
/// write (the mark survives a restart); restoring its values and clearing the mark
/// leaves it whole.
fn incomplete_marks(store: &dyn Store) {
    let (height, index, tx) = an_issuance(store);
    assert_eq!(store.incomplete_blocks(10).unwrap(), Vec::<u64>::new());
    let whole = store.block(height).unwrap().unwrap();
    let mut stripped = whole.clone();
    stripped.transactions[index] = tx.erased();
    store.replace_values(&stripped).unwrap();
    assert_eq!(
        store.incomplete_blocks(10).unwrap(),
        Vec::<u64>::new(),
        "an erasure is not a mark"
    );
    store.replace_values(&whole).unwrap();
    assert_eq!(
        store.block(height).unwrap().unwrap(),
        whole,
        "values restored"
    );
}

#[test]
fn blocks_committed_without_their_values_are_marked_until_cleared() {
    let c = chain();
    let memory = MemStore::new();
    exercise(&memory);
    incomplete_marks(&memory);
    let dir = tempfile::tempdir().unwrap();
    {
        let store = RocksStore::open(dir.path(), &RocksOptions::default()).unwrap();
        exercise(&store);
        incomplete_marks(&store);
        // A next block without its content, as a withholding peer serves it.
        let height = chain_writer::append_block_as(&store, &c, |block| {
            for tx in &mut block.transactions {
                *tx = tx.erased();
            }
        });
        assert_eq!(store.incomplete_blocks(10).unwrap(), vec![height]);
    }
    let store = RocksStore::open(dir.path(), &RocksOptions::default()).unwrap();
    assert_eq!(
        store.incomplete_blocks(10).unwrap(),
        vec![4],
        "kept across a restart"
    );
    assert!(store.block(4).unwrap().unwrap().first_erased().is_some());
    store.clear_incomplete(4).unwrap();
    assert_eq!(store.incomplete_blocks(10).unwrap(), Vec::<u64>::new());
}
