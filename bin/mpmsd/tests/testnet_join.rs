//! A fifth institution joins a running 4-validator network: with only the genesis
//! and boot nodes it is admitted by governance, syncs, is voted in as an authority
//! and starts proposing blocks.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::time::Duration;

use common::{text, Net};
use mpms_node::config::NodeConfig;

const MINUTE: Duration = Duration::from_secs(60);

#[test]
fn a_fifth_node_syncs_is_voted_in_and_proposes() {
    let mut net = Net::new(4, 0);
    net.start_all();
    net.wait_height(&[0, 1, 2, 3], 3, MINUTE);
    let homes: Vec<Vec<String>> = (0..4).map(|i| net.home_arg(i)).collect();
    let v = |i: usize| homes[i].iter().map(String::as_str).collect::<Vec<_>>();

    // The institution's account, registered as an organization.
    let (org_key, operator) = net.account("clinic");
    let org_k = ["--key", org_key.to_str().unwrap()];
    net.tx(
        0,
        &org_k,
        &[
            "register-organization",
            "--name",
            "Regional Clinic",
            "--kind",
            "hospital",
        ],
    );

    // Its node: the genesis, validator keys with that account as operator, and the
    // network's validators as boot nodes.
    let home = net.dir.path().join("clinic-node");
    let password = net.password.to_str().unwrap().to_string();
    let init = net.cli(&[
        "init",
        "--home",
        home.to_str().unwrap(),
        "--moniker",
        "clinic",
        "--validator",
        "--operator-key",
        org_key.to_str().unwrap(),
        "--password-file",
        &password,
        "--genesis",
        net.genesis().to_str().unwrap(),
    ]);
    assert!(init.status.success(), "{}", text(&init));
    let printed = String::from_utf8_lossy(&init.stdout).to_string();
    let field = |name: &str| {
        printed
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .unwrap()
            .trim()
            .to_string()
    };
    let peer_id = field("peer id:");
    let consensus_key = field("consensus:");
    assert_eq!(field("operator:"), operator);
    let config_path = home.join("config").join("node.toml");
    let mut config = NodeConfig::load(&config_path).unwrap().raw;
    let validator_config = NodeConfig::load(&net.nodes[1].home.join("config").join("node.toml"))
        .unwrap()
        .raw;
    let port = net.base + 40;
    config.network.listen = vec![format!("/ip4/127.0.0.1/tcp/{port}")];
    config.network.boot_nodes = validator_config.network.boot_nodes.clone();
    config.network.heartbeat_ms = 200;
    config.consensus.heartbeat_ms = 500;
    config.api.listen = format!("127.0.0.1:{}", port + 1);
    config.api.admin_listen = format!("127.0.0.1:{}", port + 2);
    std::fs::write(&config_path, config.to_toml()).unwrap();
    let clinic = net.add(home.clone(), format!("http://127.0.0.1:{}", port + 1));

    // Governance admits its node to the permissioned network; it starts and syncs.
    let admitted = net.tx(
        0,
        &v(0),
        &[
            "propose",
            "admit-node",
            "--peer-id",
            &peer_id,
            "--operator",
            &operator,
        ],
    );
    let proposal = admitted["proposal"].as_u64().unwrap().to_string();
    net.tx(1, &v(1), &["vote", "--proposal", &proposal]);
    net.tx(2, &v(2), &["vote", "--proposal", &proposal]);
    net.start(clinic);
    let target = net.height(0).unwrap();
    net.wait_height(&[clinic], target, MINUTE);

    // It bonds stake and is voted in as an authority.
    net.tx(
        0,
        &v(0),
        &["transfer", "--to", &operator, "--amount", "20000"],
    );
    net.tx(clinic, &org_k, &["bond", "--amount", "10000"]);
    let added = net.tx(
        1,
        &v(1),
        &[
            "propose",
            "add-authority",
            "--operator",
            &operator,
            "--consensus-key",
            &consensus_key,
            "--peer-id",
            &peer_id,
        ],
    );
    let proposal = added["proposal"].as_u64().unwrap().to_string();
    net.tx(2, &v(2), &["vote", "--proposal", &proposal]);
    net.tx(3, &v(3), &["vote", "--proposal", &proposal]);
    net.wait("the clinic in the authority set", MINUTE, |n| {
        n.get(0, "/v1/authorities").is_some_and(|a| {
            a["active_set"]["members"]
                .as_array()
                .is_some_and(|m| m.iter().any(|x| x["operator"] == operator.as_str()))
        })
    });
    net.wait(
        "the clinic's node to know it is an authority",
        MINUTE,
        |n| {
            n.get(clinic, "/v1/status")
                .is_some_and(|s| s["authority"] == true)
        },
    );
    // It takes its turn: a finalized block proposed by the clinic.
    let from = net.height(0).unwrap();
    net.wait("a block proposed by the clinic", MINUTE, |n| {
        let to = n.height(0).unwrap_or(from);
        (from..=to).any(|h| {
            n.get(0, &format!("/v1/blocks/{h}"))
                .is_some_and(|b| b["header"]["proposer"] == operator.as_str())
        })
    });
    let common_height = (0..5).map(|i| net.height(i).unwrap()).min().unwrap();
    net.assert_identical(&[0, 1, 2, 3, clinic], common_height);
    for i in 0..5 {
        net.stop(i);
    }
}
