//! Safety without a quorum: with 2 of 4 validators stopped no block is finalized;
//! when they return finality resumes, and no transaction acknowledged as committed is
//! missing anywhere.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::time::Duration;

use common::Net;

const MINUTE: Duration = Duration::from_secs(60);

#[test]
fn two_of_four_stopped_halts_finality_until_they_return() {
    let mut net = Net::new(4, 0);
    net.start_all();
    net.wait_height(&[0, 1, 2, 3], 1, MINUTE);

    // Transactions acknowledged as committed, through different nodes.
    let mut committed = Vec::new();
    for i in 0..4 {
        let (key, _) = net.account(&format!("subject-{i}"));
        let out = net.tx(i, &["--key", key.to_str().unwrap()], &["register-subject"]);
        assert!(out["height"].as_u64().is_some());
        committed.push(out["hash"].as_str().unwrap().to_string());
    }

    // One validator is killed, another stopped cleanly.
    net.kill(2);
    net.stop(3);
    std::thread::sleep(Duration::from_secs(2));
    let stalled = net.height(0).unwrap().max(net.height(1).unwrap());
    // A transaction is still admitted, but nothing is finalized.
    let (key, _) = net.account("waiting");
    let pending = net.tx(
        0,
        &["--key", key.to_str().unwrap(), "--no-wait"],
        &["register-subject"],
    );
    let pending = pending["hash"].as_str().unwrap().to_string();
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(net.height(0), Some(stalled), "no finality with 2 of 4");
    assert_eq!(net.height(1), Some(stalled), "no finality with 2 of 4");
    let status = net.get(0, &format!("/v1/transactions/{pending}")).unwrap();
    assert_eq!(status["status"], "pending");

    // They return: finality resumes, the waiting transaction is committed.
    net.start(2);
    net.start(3);
    net.wait_height(&[0, 1, 2, 3], stalled + 1, MINUTE);
    net.wait("the waiting transaction to commit", MINUTE, |n| {
        n.get(2, &format!("/v1/transactions/{pending}"))
            .is_some_and(|v| v["status"] == "committed")
    });
    committed.push(pending);
    for i in 0..4 {
        for hash in &committed {
            let v = net
                .get(i, &format!("/v1/transactions/{hash}"))
                .unwrap_or_else(|| panic!("node {i} lost transaction {hash}"));
            assert_eq!(v["status"], "committed", "node {i}, {hash}");
        }
    }
    let common_height = (0..4).map(|i| net.height(i).unwrap()).min().unwrap();
    net.assert_identical(&[0, 1, 2, 3], common_height);
    for i in 0..4 {
        net.stop(i);
    }
}
