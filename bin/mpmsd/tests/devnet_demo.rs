//! The README's main job: `mpmsd devnet` starts a local network and serves its API;
//! `mpmsd demo` plays the intern's and the patient's scenarios against it; Ctrl-C
//! (SIGINT) stops it cleanly. After the patient's scenario, no personal or clinical
//! field is in plaintext in any transaction the nodes gossiped, nor in any node's
//! RocksDB files.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::process::Command;
use std::time::{Duration, Instant};

mod common;

use common::Devnet;

#[test]
fn devnet_serves_and_the_demo_runs_against_it() {
    let dir = tempfile::tempdir().unwrap();
    let net = dir.path().join("devnet");
    let mut devnet = Devnet::start(&net, &[]);
    assert!(
        devnet.printed.iter().any(|l| l.contains("4 validators")),
        "{:?}",
        devnet.printed
    );
    let api = devnet.api.clone();
    let run_demo = |args: &[&str]| devnet.demo(args);

    let out = run_demo(&[]);
    for expected in [
        "the intern registers as a subject",
        "cardio.bls issued to the intern",
        "decrypted: cardio.bls for Dr. Amina Okafor",
        "inclusion: valid (transaction",
        "certificate quorum: valid",
        "authority-set chain: valid",
        "certifier signature: valid",
        "certifier accredited: valid",
        "status: valid (active as of height",
    ] {
        assert!(out.contains(expected), "missing {expected:?} in:\n{out}");
    }
    // Every step names its block.
    assert!(out.contains("[block "), "{out}");

    // The cardiac patient's record on the same 4-validator network.
    let out = run_demo(&["--scenario", "patient"]);
    for expected in [
        "St. Mary delegates signing of record.* to its attending cardiologist",
        "diagnosis recorded (signed by the cardiologist for St. Mary)",
        // The employer sees the certificate and nothing else.
        "the employer reads: record.medical-certificate for Maria Gonzalez",
        "fit_for_work: false",
        // The referral opens the three entries.
        "record.condition for Maria Gonzalez: code: Angina pectoris, unspecified",
        "record.medication for Maria Gonzalez",
        // The history after the correction: both entries, linked.
        "[superseded by correction",
        "value: 58 ng/L",
        "[corrects",
        "the insurer reads: record.medical-certificate",
        "certifier signature: valid (signed by practitioner",
        "attending cardiologist",
        "status: valid (active as of height",
    ] {
        assert!(out.contains(expected), "missing {expected:?} in:\n{out}");
    }
    let employer = out
        .lines()
        .find(|l| l.contains("the employer reads:"))
        .unwrap();
    assert!(!employer.contains("Angina") && !employer.contains("Troponin"));

    // What the nodes gossiped: every committed transaction's canonical bytes (the
    // gossip payload, byte for byte, and what proposals and blocks carry).
    let private: [&[u8]; 9] = [
        b"Maria Gonzalez",
        b"1961-07-23",
        b"Angina",
        b"I20.9",
        b"Troponin",
        b"10839-9",
        b"Aspirin",
        b"once daily",
        b"Sick leave",
    ];
    let holds = |bytes: &[u8]| {
        private
            .iter()
            .find(|p| bytes.windows(p.len()).any(|w| w == **p))
            .map(|p| String::from_utf8_lossy(p).to_string())
    };
    let get = |path: &str| -> serde_json::Value {
        ureq::get(&format!("{api}{path}"))
            .call()
            .unwrap()
            .into_json()
            .unwrap()
    };
    let height = get("/v1/status")["height"].as_u64().unwrap();
    let mut scanned = 0;
    for h in 1..=height {
        let block = get(&format!("/v1/blocks/{h}"));
        for hash in block["transactions"].as_array().unwrap() {
            let tx = get(&format!("/v1/transactions/{}", hash.as_str().unwrap()));
            let bytes = hex::decode(tx["transaction_bytes"].as_str().unwrap()).unwrap();
            assert_eq!(holds(&bytes), None, "plaintext in transaction {hash}");
            assert_eq!(holds(tx.to_string().as_bytes()), None, "{hash}");
            scanned += 1;
        }
    }
    assert!(scanned >= 30, "{scanned} transactions");

    // Ctrl-C stops every node cleanly.
    let status = Command::new("kill")
        .args(["-INT", &devnet.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = devnet.child.try_wait().unwrap() {
            assert!(status.success(), "devnet exited with {status}");
            break;
        }
        assert!(Instant::now() < deadline, "devnet did not stop");
        std::thread::sleep(Duration::from_millis(50));
    }

    // Every node's storage: each file's raw bytes (write-ahead logs, manifests), and
    // every key and value of every RocksDB column family, read back (table files are
    // LZ4-compressed, so only reading them back shows what they hold).
    let mut files = 0;
    let mut databases = 0;
    let mut stack = vec![net.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let bytes = std::fs::read(&path).unwrap();
            assert_eq!(holds(&bytes), None, "plaintext in {}", path.display());
            files += 1;
            if path.file_name().is_some_and(|n| n == "CURRENT") {
                let db_dir = path.parent().unwrap();
                let opts = rocksdb::Options::default();
                let cfs = rocksdb::DB::list_cf(&opts, db_dir).unwrap();
                let db = rocksdb::DB::open_cf_for_read_only(&opts, db_dir, &cfs, false).unwrap();
                for cf in &cfs {
                    let handle = db.cf_handle(cf).unwrap();
                    for item in db.iterator_cf(handle, rocksdb::IteratorMode::Start) {
                        let (key, value) = item.unwrap();
                        assert_eq!(holds(&key), None, "{} {cf}", db_dir.display());
                        assert_eq!(holds(&value), None, "{} {cf}", db_dir.display());
                    }
                }
                databases += 1;
            }
        }
    }
    assert!(databases >= 4, "{databases} databases in {files} files");
}
