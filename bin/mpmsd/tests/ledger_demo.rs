//! Runs `mpmsd ledger-demo` as a real process and checks what it reports.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::process::Command;

#[test]
fn ledger_demo_runs_the_whole_workflow() {
    let home = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_mpmsd"))
        .args(["ledger-demo", "--home"])
        .arg(home.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "demo failed:\n{stdout}\n{stderr}");
    for expected in [
        "passed (3 of 4)",
        "REFUSED, credential rejected: schema neuro.stroke is outside the scope",
        "REFUSED, credential rejected: subject lacks prerequisite cardio.bls",
        "board decrypted: Dr. Amina Okafor",
        "Merkle proof: valid",
        "certificate: valid",
        "REFUSED, grant",
        "Personal data in plaintext on chain: none",
    ] {
        assert!(
            stdout.contains(expected),
            "missing {expected:?} in:\n{stdout}"
        );
    }
    // A second run on the same home refuses to overwrite the chain.
    let again = Command::new(env!("CARGO_BIN_EXE_mpmsd"))
        .args(["ledger-demo", "--home"])
        .arg(home.path())
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already holds a chain"));
}
