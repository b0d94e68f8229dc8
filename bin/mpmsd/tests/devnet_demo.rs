//! The README's main job: `mpmsd devnet` starts a local network and serves its API;
//! `mpmsd demo` plays the credential scenario against it; Ctrl-C (SIGINT) stops it
//! cleanly.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_mpmsd");

#[test]
fn devnet_serves_and_the_demo_runs_against_it() {
    let dir = tempfile::tempdir().unwrap();
    let net = dir.path().join("devnet");
    // Below Linux's ephemeral range (32768 and up), from which outgoing connections
    // take their ports.
    let base = 10_050 + (std::process::id() % 220) as u16 * 100;
    let mut devnet = Command::new(BIN)
        .args(["devnet", "--base-port", &base.to_string(), "--dir"])
        .arg(&net)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = devnet.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut printed = Vec::new();
    let api = loop {
        let line = rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .unwrap_or_else(|_| panic!("devnet printed no API address: {printed:?}"));
        if let Some(addr) = line.strip_prefix("API address: ") {
            break addr.trim().to_string();
        }
        printed.push(line);
    };
    assert!(
        printed.iter().any(|l| l.contains("4 validators")),
        "{printed:?}"
    );

    let demo = Command::new(BIN)
        .args(["demo", "--node", &api, "--network"])
        .arg(&net)
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&demo.stdout).to_string();
    assert!(
        demo.status.success(),
        "{out}\n{}",
        String::from_utf8_lossy(&demo.stderr)
    );
    for expected in [
        "the intern registers as a subject",
        "cardio.bls issued to the intern",
        "decrypted: Dr. Amina Okafor",
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

    // Ctrl-C stops every node cleanly.
    let status = Command::new("kill")
        .args(["-INT", &devnet.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = devnet.try_wait().unwrap() {
            assert!(status.success(), "devnet exited with {status}");
            break;
        }
        assert!(Instant::now() < deadline, "devnet did not stop");
        std::thread::sleep(Duration::from_millis(50));
    }
}
