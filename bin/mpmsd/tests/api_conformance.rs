//! The API against its own OpenAPI document, as an integrator's tooling sees it:
//! Schemathesis (installed by `.ci/setup`) generates requests from the document
//! served by a live devnet (both demo scenarios played first, so that credentials,
//! grants, schemas and proposals exist) and checks every answer: no server error,
//! every status, content type, header and body as documented, schema-invalid
//! requests refused, schema-valid ones accepted, and the stateful links followed.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::Devnet;

#[test]
fn schemathesis_finds_no_failure_against_a_live_node() {
    let dir = tempfile::tempdir().unwrap();
    let devnet = Devnet::start(&dir.path().join("devnet"), &["--validators", "1"]);
    devnet.demo(&[]);
    devnet.demo(&["--scenario", "patient"]);

    let config =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/conformance/schemathesis.toml");
    // In the temporary directory: Schemathesis keeps a cache where it runs. One
    // worker: with two, Hypothesis's source cache is shared between threads, and
    // once in a while Schemathesis stops on its own KeyError (seen in CI).
    let run = Command::new("python3")
        .current_dir(dir.path())
        .env("SCHEMATHESIS_TELEMETRY", "false")
        .args(["-m", "schemathesis.cli", "--config-file"])
        .arg(&config)
        .args(["run", &format!("{}/openapi.json", devnet.api)])
        .args(["--exclude-path", "/v1/events", "--checks", "all"])
        .args(["--max-examples", "50", "--seed", "20261128"])
        .args([
            "--request-timeout",
            "10",
            "--workers",
            "1",
            "--warnings",
            "off",
        ])
        .args(["--report", "junit", "--report-dir"])
        .arg(dir.path().join("report"))
        .output()
        .unwrap_or_else(|e| {
            panic!("python3 did not start ({e}): run .ci/setup, which installs it and Schemathesis")
        });
    let out = String::from_utf8_lossy(&run.stdout);
    println!("{out}");
    assert!(
        run.status.success(),
        "schemathesis found failures (or is not installed: run .ci/setup):\n{out}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    // Every phase ran and found nothing, over every operation but the event stream.
    for expected in [
        "✅ Examples",
        "✅ Coverage",
        "✅ Fuzzing",
        "✅ Stateful",
        "No issues found",
    ] {
        assert!(out.contains(expected), "missing {expected:?}:\n{out}");
    }
    let generated: u64 = out
        .lines()
        .find_map(|l| l.trim().split_once(" generated, ")?.0.parse().ok())
        .unwrap_or_else(|| panic!("no count of cases:\n{out}"));
    assert!(generated >= 1_000, "{generated} cases:\n{out}");
}
