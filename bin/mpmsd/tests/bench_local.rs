//! `mpmsd bench` end to end: networks of real processes, a few seconds of
//! open-loop load, and the samples it writes.

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
            "--full-nodes",
            "0,1",
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
    // Two networks, one after the other, and the table of their sizes.
    let sizes = std::fs::read_to_string(out.join("sizes.md")).unwrap();
    assert!(
        sizes.contains("| 4 (4 validators) |") && sizes.contains("| 5 (4 validators) |"),
        "{sizes}"
    );
    assert!(out.join("5-nodes").join("samples.csv").exists());
    let out = out.join("4-nodes");
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
    let png = std::fs::read(out.join("samples.png")).unwrap();
    assert!(
        png.starts_with(b"\x89PNG\r\n\x1a\n"),
        "samples.png is not a PNG"
    );
}

/// `mpmsd bench remote` against a running network it did not start: certifiers
/// accredited there (here in the genesis) lend their key files; the bench registers
/// its subjects, verifier and schemas, loads the network and verifies the result.
#[test]
fn a_remote_bench_loads_a_network_it_did_not_start() {
    use mpms_bench::local::{LocalNetwork, LocalOptions};
    use mpms_bench::workload::Actors;
    use mpms_crypto::keystore::KdfParams;
    use mpms_node::testnet::TestnetExtras;

    let dir = tempfile::tempdir().unwrap();
    let chain_id = "mpms-remote-bench";
    let lenders = Actors::generate(chain_id, 2, 0);
    let now_ms = mpms_node::runtime::now_ms();
    let extras = TestnetExtras {
        certifiers: lenders.genesis_certifiers(100, now_ms),
        account_creation_work_bits: Some(4),
        min_block_interval_ms: Some(50),
        max_submissions_per_sec: Some(100_000),
        ..TestnetExtras::default()
    };
    let mut network = LocalNetwork::start(
        &LocalOptions {
            dir: dir.path().join("network"),
            bin: BIN.into(),
            validators: 4,
            full_nodes: 0,
            base_port: base_port(),
            chain_id: chain_id.into(),
        },
        &extras,
    )
    .unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime
        .block_on(network.wait_ready(std::time::Duration::from_secs(60)))
        .unwrap();
    let password = dir.path().join("password");
    std::fs::write(&password, "lent for the benchmark\n").unwrap();
    let mut keys = Vec::new();
    for (k, c) in lenders.certifiers.iter().enumerate() {
        let path = dir.path().join(format!("certifier-{k}.key"));
        c.keys
            .save(&path, "lent for the benchmark", KdfParams::INSECURE_FAST)
            .unwrap();
        keys.push(path.display().to_string());
    }
    let nodes: Vec<String> = network.nodes.iter().map(|n| n.api.clone()).collect();
    let out = dir.path().join("results");
    let output = Command::new(BIN)
        .args(["bench", "remote", "--node", &nodes.join(",")])
        .args(["--certifier-key", &keys.join(",")])
        .arg("--password-file")
        .arg(&password)
        .args([
            "--rate",
            "20",
            "--warmup",
            "1",
            "--duration",
            "2",
            "--subjects",
            "8",
        ])
        .args(["--no-progress", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    network.stop();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("each counted once"), "{stdout}");
    assert!(stdout.contains("failures      none"), "{stdout}");
    let csv = std::fs::read_to_string(out.join("samples.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + 60);
}
