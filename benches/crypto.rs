//! Hot-path cryptography: sign, verify, batch verify, Merkle root.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use criterion::{black_box, criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use mpms_crypto::{merkle, verify_batch, BatchItem, Domain, Hash, SigningKey};

/// A typical encoded transaction is a few hundred bytes.
const MESSAGE: [u8; 256] = [7u8; 256];

fn signatures(c: &mut Criterion) {
    let key = SigningKey::from_seed(&[1; 32]);
    let pk = key.public_key();
    let sig = key.sign("mpms-bench", Domain::Transaction, &MESSAGE);
    c.bench_function("ed25519/sign", |b| {
        b.iter(|| key.sign("mpms-bench", Domain::Transaction, black_box(&MESSAGE)))
    });
    // Every measured check is of a signature never seen before: a node remembers the
    // signatures it found valid and does not check them again.
    let mut counter = 0u64;
    let mut fresh = move || {
        counter += 1;
        let mut m = MESSAGE;
        m[..8].copy_from_slice(&counter.to_le_bytes());
        let s = key.sign("mpms-bench", Domain::Transaction, &m);
        (m, s)
    };
    c.bench_function("ed25519/verify", |b| {
        b.iter_batched(
            &mut fresh,
            |(m, s)| {
                pk.verify("mpms-bench", Domain::Transaction, black_box(&m), &s)
                    .unwrap()
            },
            BatchSize::SmallInput,
        )
    });
    c.bench_function("ed25519/verify_remembered", |b| {
        b.iter(|| {
            pk.verify("mpms-bench", Domain::Transaction, black_box(&MESSAGE), &sig)
                .unwrap()
        })
    });
    let mut round = 0u64;
    let mut batch = move || {
        round += 1;
        (0..64u8)
            .map(|i| {
                let k = SigningKey::from_seed(&[i; 32]);
                let mut m = MESSAGE;
                m[..8].copy_from_slice(&round.to_le_bytes());
                m[8] = i;
                let s = k.sign("mpms-bench", Domain::Transaction, &m);
                BatchItem::new("mpms-bench", Domain::Transaction, &m, s, k.public_key())
            })
            .collect::<Vec<BatchItem>>()
    };
    let mut group = c.benchmark_group("ed25519");
    group.throughput(Throughput::Elements(64));
    group.bench_function("verify_batch_64", |b| {
        b.iter_batched(
            &mut batch,
            |items| verify_batch(&items).unwrap(),
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

fn merkle_root(c: &mut Criterion) {
    let tx_hashes: Vec<Hash> = (0..1000u32)
        .map(|i| Hash::digest(&i.to_le_bytes()))
        .collect();
    c.bench_function("merkle/root_1000_tx_hashes", |b| {
        b.iter(|| {
            let leaves: Vec<Hash> = tx_hashes
                .iter()
                .map(|h| merkle::leaf_hash(h.as_bytes()))
                .collect();
            merkle::root_of(black_box(&leaves))
        })
    });
    let data = vec![0u8; 1 << 20];
    let mut group = c.benchmark_group("sha256");
    group.throughput(Throughput::Bytes(data.len() as u64));
    group.bench_function("1MiB", |b| b.iter(|| Hash::digest(black_box(&data))));
    group.finish();
}

criterion_group!(benches, signatures, merkle_root);
criterion_main!(benches);
