//! `mpmsd verify` checks a proof bundle with only the bundle and the genesis file, in
//! a process without network, and names the check that fails.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::Path;
use std::process::{Command, Output};

use mpms_ledger::testkit::TestChain;
use mpms_light::bundle::build_bundle;
use mpms_light::testkit::CertifiedChain;

const BIN: &str = env!("CARGO_BIN_EXE_mpmsd");
const SCHEMA: &str = "med.internship.cardiology";

/// Writes `genesis.json`, `bundle.json` (content included) and `content.json` for a
/// credential issued before two changes of the authority set.
fn write_files(dir: &Path) {
    let mut chain = CertifiedChain::new(TestChain::new(4, 77));
    chain.commit(&[chain.chain.register_subject(1)]);
    let certifier = chain.chain.certifier.clone();
    let schema = chain.tx(
        &certifier,
        0,
        chain.chain.register_schema(0, SCHEMA).tx.payload,
    );
    chain.commit(&[schema]);
    let issue = chain.tx(&certifier, 0, chain.chain.issue(0, SCHEMA, 1, 5).tx.payload);
    let block = chain.commit(&[issue]);
    let mpms_ledger::Payload::IssueCredential(issuance) = &block.transactions[0].tx.payload else {
        unreachable!()
    };
    let id = issuance.claim.id();
    chain.rotate_consensus_key(1);
    chain.rotate_consensus_key(3);
    chain.commit(&[]);
    let mut bundle = build_bundle(&chain.store, &chain.chain.genesis, &id).unwrap();
    assert_eq!(bundle.status.authority_changes.len(), 2);
    let content = chain.chain.content(1, 5);
    bundle.content = Some(content.clone());
    let write = |name: &str, value: String| std::fs::write(dir.join(name), value).unwrap();
    write(
        "genesis.json",
        serde_json::to_string_pretty(&chain.chain.genesis).unwrap(),
    );
    write(
        "bundle.json",
        serde_json::to_string_pretty(&bundle).unwrap(),
    );
    write(
        "content.json",
        serde_json::to_string_pretty(&content).unwrap(),
    );
    let other = TestChain::new(4, 78);
    write(
        "other-genesis.json",
        serde_json::to_string_pretty(&other.genesis).unwrap(),
    );
}

/// Whether this machine lets an unprivileged process drop its network
/// (`unshare --net`); where it does, verification runs without any network.
fn can_unshare() -> bool {
    Command::new("unshare")
        .args(["--net", "--map-root-user", "true"])
        .status()
        .is_ok_and(|s| s.success())
}

fn verify(dir: &Path, args: &[&str]) -> Output {
    let mut command = if can_unshare() {
        let mut c = Command::new("unshare");
        c.args(["--net", "--map-root-user", BIN]);
        c
    } else {
        Command::new(BIN)
    };
    command
        .current_dir(dir)
        .arg("verify")
        .args(args)
        .output()
        .unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn a_bundle_verifies_offline_with_only_the_genesis_file() {
    let dir = tempfile::tempdir().unwrap();
    write_files(dir.path());
    // The bundle's status is as of a block made long ago: by default a status older
    // than ten minutes is refused, and the verdict says how old it is.
    let out = verify(dir.path(), &["bundle.json", "--genesis", "genesis.json"]);
    let shown = text(&out);
    assert!(!out.status.success(), "{shown}");
    assert!(
        shown.contains("[FAIL] status") && shown.contains("days old: more than the 10 min allowed"),
        "{shown}"
    );
    // Accepted explicitly at any age, every check passes.
    let out = verify(
        dir.path(),
        &[
            "bundle.json",
            "--genesis",
            "genesis.json",
            "--max-age",
            "any",
        ],
    );
    let shown = text(&out);
    assert!(out.status.success(), "{shown}");
    assert!(shown.contains("any age accepted"), "{shown}");
    for check in [
        "anchor",
        "authority-set chain",
        "certificate quorum",
        "inclusion",
        "certifier signature",
        "content commitment",
        "certifier accredited",
        "status",
    ] {
        assert!(
            shown.contains(&format!("[ok  ] {check}")),
            "{check}: {shown}"
        );
    }
    assert!(shown.contains("2 change(s) from genesis"), "{shown}");
    assert!(shown.contains("VALID"), "{shown}");

    // The verdict as JSON names every check's outcome.
    let out = verify(
        dir.path(),
        &[
            "bundle.json",
            "--genesis",
            "genesis.json",
            "--max-age",
            "any",
            "--json",
        ],
    );
    assert!(out.status.success());
    let verdict: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(verdict["checks"].as_array().unwrap().len(), 8);
    assert!(verdict["checks"]
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c["outcome"] == "passed"));
}

#[test]
fn a_failed_check_is_named_and_fails_the_process() {
    let dir = tempfile::tempdir().unwrap();
    write_files(dir.path());
    // Content that differs in one byte from what the certifier committed to.
    let content = std::fs::read_to_string(dir.path().join("content.json")).unwrap();
    let tampered = content.replacen("Intern 1", "Intern 7", 1);
    assert_ne!(content, tampered);
    std::fs::write(dir.path().join("tampered.json"), tampered).unwrap();
    let out = verify(
        dir.path(),
        &[
            "bundle.json",
            "--genesis",
            "genesis.json",
            "--content",
            "tampered.json",
            "--max-age",
            "any",
        ],
    );
    let shown = text(&out);
    assert!(!out.status.success(), "{shown}");
    assert!(
        shown.contains("verification failed: content commitment"),
        "{shown}"
    );
    assert!(shown.contains("[FAIL] content commitment"), "{shown}");

    // Another consortium's genesis does not anchor this bundle.
    let out = verify(
        dir.path(),
        &["bundle.json", "--genesis", "other-genesis.json"],
    );
    assert!(!out.status.success());
    assert!(
        text(&out).contains("verification failed: anchor"),
        "{}",
        text(&out)
    );

    // Malformed input is an error, not a verdict.
    std::fs::write(dir.path().join("junk.json"), "{\"format\": 1").unwrap();
    let out = verify(dir.path(), &["junk.json"]);
    assert!(!out.status.success());
    assert!(text(&out).contains("bundle junk.json"), "{}", text(&out));
}
