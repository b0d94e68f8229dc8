//! `mpmsd bench local` end to end: a 4-validator network of real processes, a
//! few seconds of open-loop load, and the samples it writes.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::process::Command;

use common::{base_port, BIN};

#[test]
fn a_short_local_bench_counts_every_committed_transaction_once() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("bench");
    let output = Command::new(BIN)
        .args([
            "bench",
            "local",
            "--validators",
            "4",
            "--rate",
            "40",
            "--warmup",
            "1",
            "--duration",
            "3",
            "--certifiers",
            "4",
            "--subjects",
            "16",
            "--no-progress",
            "--base-port",
        ])
        .arg(base_port().to_string())
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    // The bench read every block of the step back from the chain: each of its
    // transactions there was counted once, at that block, and none is missing.
    assert!(stdout.contains("each counted once"), "{stdout}");
    for line in ["submission", "confirmation", "retrieval", "throughput"] {
        assert!(stdout.contains(line), "{line} missing:\n{stdout}");
    }
    let csv = std::fs::read_to_string(out.join("samples.csv")).unwrap();
    let mut rows = csv.lines();
    assert_eq!(
        rows.next().unwrap(),
        "index,op,node,sent_ms,warmup,submission_ms,confirmation_ms,retrieval_ms,height,tx,failure"
    );
    let rows: Vec<Vec<&str>> = rows.map(|r| r.splitn(11, ',').collect()).collect();
    // The open loop: 40 a second for 1 + 3 seconds, whatever the latencies.
    assert_eq!(rows.len(), 160);
    let mut confirmed = std::collections::HashSet::new();
    for (i, r) in rows.iter().enumerate() {
        assert_eq!(r[0], i.to_string());
        assert!(
            ["0", "1", "2", "3"].contains(&r[2]),
            "sent to node {}",
            r[2]
        );
        let failure = r[10].trim_matches('"');
        match r[1] {
            "query" => assert!(!r[7].is_empty() || !failure.is_empty(), "row {i}: {r:?}"),
            "issue" | "grant" => {
                // Confirmed (with its submission and block), or failed with a reason.
                if failure.is_empty() {
                    assert!(
                        !r[5].is_empty() && !r[6].is_empty() && !r[8].is_empty(),
                        "row {i}: {r:?}"
                    );
                    assert!(confirmed.insert(r[9].to_string()), "{} counted twice", r[9]);
                }
            }
            other => panic!("row {i}: unknown operation {other}"),
        }
    }
    // Grants and queries follow the first committed credentials.
    assert!(rows.iter().any(|r| r[1] == "grant"), "no grant sent");
    assert!(rows.iter().any(|r| r[1] == "query"), "no query sent");
    assert!(out.join("summary.txt").exists());
}
