//! A validator restored without its safety record, whose chain cannot decide the
//! height it may have signed at without it: its operator states a round after which
//! it signed nothing, with the command docs/SECURITY.md gives, run here as written;
//! the validator then signs from the next round on (here, alone, it makes blocks
//! again). The command refuses a home that holds its record.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::time::Duration;

use common::{doc_shell_blocks, run_shell, text, Net};

#[test]
fn an_operator_resumes_a_validator_that_lost_its_record() {
    let block = doc_shell_blocks("SECURITY.md")
        .into_iter()
        .find(|b| b.contains("mpmsd keys resume-signing"))
        .expect("docs/SECURITY.md gives the command");
    let mut net = Net::new(1, 0);
    let home = net.nodes[0].home.clone();
    let home_str = home.to_str().unwrap().to_string();
    let env = [
        ("MPMS_HOME", home_str.as_str()),
        ("STUCK_HEIGHT", "1"),
        ("ROUND", "3"),
    ];
    // The home holds its record ("never signed"): nothing to state.
    let refused = run_shell(net.dir.path(), &block, &env);
    assert!(!refused.status.success(), "{}", text(&refused));
    // Restored from a backup: the record is gone. Alone, the validator would wait
    // for good for a block newer than its start.
    let record = home.join("keys").join("consensus.safety");
    std::fs::remove_file(&record).unwrap();
    let out = run_shell(net.dir.path(), &block, &env);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("round 3 of height 1"),
        "{}",
        text(&out)
    );
    net.start(0);
    net.wait_height(&[0], 2, Duration::from_secs(60));
    net.stop(0);
    // What it signed since is its record now.
    let again = run_shell(net.dir.path(), &block, &env);
    assert!(!again.status.success(), "{}", text(&again));
}
