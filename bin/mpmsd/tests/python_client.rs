//! A transaction built and signed outside Rust: `tests/python/mpms_tx.py` (Python's
//! standard library and the `cryptography` package's Ed25519, following
//! docs/ENCODING.md) encodes, signs and submits transactions to a live devnet,
//! which accepts and commits them; the bytes the node stores are the Python
//! script's, byte for byte. The same script rebuilds every test vector of
//! docs/encoding-vectors.json from its JSON form.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::path::PathBuf;
use std::process::{Command, Output};

use common::Devnet;
use serde_json::Value;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn python(args: &[&str]) -> Output {
    Command::new("python3")
        .current_dir(repo())
        .arg("tests/python/mpms_tx.py")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("python3 did not start ({e}): run .ci/setup"))
}

fn ok(out: &Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{stdout}\n{}\n(python3 needs the `cryptography` package: run .ci/setup)",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[test]
fn the_python_encoder_rebuilds_every_test_vector() {
    let out = ok(&python(&["check-vectors", "docs/encoding-vectors.json"]));
    assert!(out.contains(" 0 mismatches, 0 vectors skipped"), "{out}");
}

/// The hash of the transaction the script submitted: the node's answer to the
/// submission (the first JSON object it prints) names it.
fn submitted_hash(out: &str) -> String {
    out.lines()
        .find_map(|l| l.trim().strip_prefix("\"hash\": \""))
        .and_then(|rest| rest.split('"').next())
        .map(str::to_string)
        .unwrap_or_else(|| panic!("no transaction hash in:\n{out}"))
}

#[test]
fn a_transaction_signed_in_python_is_accepted_and_committed() {
    let dir = tempfile::tempdir().unwrap();
    let devnet = Devnet::start(&dir.path().join("devnet"), &["--validators", "1"]);
    let get = |path: &str| -> Value {
        ureq::get(&format!("{}{path}", devnet.api))
            .call()
            .unwrap()
            .into_json()
            .unwrap()
    };
    let seed = "42".repeat(32);
    let first_key = "22".repeat(32);
    let second_key = "33".repeat(32);

    // A new subject registers (with its proof of work), then rotates its
    // encryption key: two transactions, nonces 0 and 1.
    let register = ok(&python(&[
        "submit",
        "--api",
        &devnet.api,
        "--seed-hex",
        &seed,
        "--payload",
        "register-subject",
        "--encryption-key",
        &first_key,
        "--wait",
    ]));
    let hash = submitted_hash(&register);
    let committed = get(&format!("/v1/transactions/{hash}"));
    assert_eq!(committed["status"], "committed", "{committed}");
    let sender = committed["transaction"]["tx"]["sender"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        get(&format!("/v1/subjects/{sender}"))["encryption_key"],
        first_key
    );

    // The bytes the node stores are the ones Python built.
    let dry = ok(&python(&[
        "submit",
        "--api",
        &devnet.api,
        "--seed-hex",
        &seed,
        "--payload",
        "rotate-keys",
        "--new-encryption-key",
        &second_key,
        "--dry-run",
    ]));
    let rotate = ok(&python(&[
        "submit",
        "--api",
        &devnet.api,
        "--seed-hex",
        &seed,
        "--payload",
        "rotate-keys",
        "--new-encryption-key",
        &second_key,
        "--wait",
    ]));
    let hash = submitted_hash(&rotate);
    let committed = get(&format!("/v1/transactions/{hash}"));
    assert_eq!(committed["status"], "committed", "{committed}");
    let stored = committed["transaction_bytes"].as_str().unwrap();
    assert!(
        dry.contains(stored),
        "the node stores other bytes than Python built:\n{stored}\n{dry}"
    );
    assert_eq!(get(&format!("/v1/accounts/{sender}"))["nonce"], 2);
    assert_eq!(
        get(&format!("/v1/subjects/{sender}"))["encryption_key"],
        second_key
    );

    // A signature over anything but the canonical bytes is refused, with a reason.
    let wrong = ok(&python(&[
        "submit",
        "--api",
        &devnet.api,
        "--seed-hex",
        &"43".repeat(32),
        "--sender",
        &sender,
        "--payload",
        "rotate-keys",
        "--new-encryption-key",
        &first_key,
        "--dry-run",
    ]));
    assert!(wrong.contains(&sender), "{wrong}");
    let refused = python(&[
        "submit",
        "--api",
        &devnet.api,
        "--seed-hex",
        &"43".repeat(32),
        "--sender",
        &sender,
        "--payload",
        "rotate-keys",
        "--new-encryption-key",
        &first_key,
    ]);
    assert!(!refused.status.success());
    let said = String::from_utf8_lossy(&refused.stdout).to_string()
        + &String::from_utf8_lossy(&refused.stderr);
    assert!(said.contains("signature"), "{said}");
    assert_eq!(
        get(&format!("/v1/subjects/{sender}"))["encryption_key"],
        second_key
    );
}
