//! The headline promise, on real processes: an authority that signs a block holding a
//! fake credential loses its stake and its seat, and the others go on.
//!
//! Three of four validators of a testnet run as `mpmsd` processes. The test takes
//! validator 3's consensus key from its home, builds a block whose credential
//! issuance is outside its certifier's accredited scope, signs a proposal for it at
//! validator 3's turn, and injects it through the peer-to-peer network as an
//! admitted node (the testnet's full node identity). The honest nodes refuse the
//! block, submit the evidence, and the chain slashes validator 3 and removes it from
//! the set; finality continues with three; `mpmsd query evidence` shows the offence.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::time::{Duration, Instant};

use common::Net;
use mpms_consensus::ConsensusMessage;
use mpms_crypto::Hash;
use mpms_ledger::block::{tx_root, Header};
use mpms_ledger::credential::{prepare_issuance, CredentialContent};
use mpms_ledger::vote::{AuthoritySet, CommitCertificate, Vote, VoteKind};
use mpms_ledger::{codec, Block, Payload, Transaction};
use mpms_network::Topic;
use mpms_node::keys::AccountKeys;
use mpms_node::Home;
use serde_json::Value;

const MINUTE: Duration = Duration::from_secs(60);

/// The injector listens to everything and checks nothing: it only publishes.
fn decode<T: serde::de::DeserializeOwned>(v: &Value) -> T {
    serde_json::from_value(v.clone()).unwrap()
}

#[test]
fn a_validator_that_proposes_a_fake_credential_is_slashed_and_removed() {
    let mut net = Net::new(4, 1);
    for i in 0..3 {
        net.start(i);
    }
    net.wait_height(&[0, 1, 2], 2, MINUTE);
    let v: Vec<Vec<String>> = (0..3).map(|i| net.home_arg(i)).collect();
    let v = |i: usize| v[i].iter().map(String::as_str).collect::<Vec<_>>();

    // A cardiology certifier, a neurology certifier with its schema, and a subject.
    let (cardio_key, cardio) = net.account("cardio");
    let (neuro_key, neuro) = net.account("neuro");
    let (intern_key, _) = net.account("intern");
    let cardio_k = ["--key", cardio_key.to_str().unwrap()];
    let neuro_k = ["--key", neuro_key.to_str().unwrap()];
    net.tx(
        0,
        &["--key", intern_key.to_str().unwrap()],
        &["register-subject"],
    );
    for (k, name, scope, account) in [
        (&cardio_k, "Heart Institute", "cardio.*", &cardio),
        (&neuro_k, "Brain Institute", "neuro.*", &neuro),
    ] {
        net.tx(0, k, &["register-certifier", "--name", name]);
        net.tx(0, &v(0), &["transfer", "--to", account, "--amount", "1000"]);
        net.tx(0, k, &["bond", "--amount", "500"]);
        let proposed = net.tx(
            0,
            &v(0),
            &[
                "propose",
                "accredit-certifier",
                "--certifier",
                account,
                "--scope",
                scope,
            ],
        );
        let id = proposed["proposal"].as_u64().unwrap().to_string();
        net.tx(1, &v(1), &["vote", "--proposal", &id]);
        net.tx(2, &v(2), &["vote", "--proposal", &id]);
    }
    net.tx(
        0,
        &neuro_k,
        &[
            "register-schema",
            "--id",
            "neuro.eeg",
            "--description",
            "EEG reading",
        ],
    );

    // What the forger holds: validator 3's keys, the cardiology certifier's keys,
    // and the full node's peer-to-peer identity (which the members admit).
    let home3 = Home::new(&net.nodes[3].home);
    let config3 = home3.load_config().unwrap().raw;
    let (keys3, _) = home3.load_validator(&config3).unwrap().unwrap();
    let cardio_keys = AccountKeys::load(&cardio_key, "test password 1234").unwrap();
    let intern_keys = AccountKeys::load(&intern_key, "test password 1234").unwrap();
    let full = Home::new(&net.nodes[4].home);
    let node_key = full
        .load_node_key(&full.load_config().unwrap().raw)
        .unwrap();
    let chain_id = net.get(0, "/v1/status").unwrap()["chain_id"]
        .as_str()
        .unwrap()
        .to_string();
    let set: AuthoritySet = decode(&net.get(0, "/v1/authorities").unwrap()["active_set"]);
    let operator3 = keys3.operator.public_key();

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (network, events) = net.join_p2p(
        &runtime,
        node_key,
        mpms_network::NetworkConfig::local().listen,
    );
    // Only what this test sends matters; what the peer hears is not read.
    drop(events);

    // At a height whose round 0 belongs to validator 3 (whose process is down), while
    // the others wait for its proposal: the forged one.
    let deadline = Instant::now() + MINUTE;
    let mut injected_at = None;
    while injected_at.is_none() {
        assert!(Instant::now() < deadline, "validator 3's turn never came");
        let status = net.get(0, "/v1/status").unwrap();
        let (last, round) = (
            status["height"].as_u64().unwrap(),
            status["round"].as_u64().unwrap(),
        );
        let height = last + 1;
        if round != 0 || set.proposer(height, 0).map(|m| m.operator) != Some(operator3) {
            std::thread::sleep(Duration::from_millis(50));
            continue;
        }
        let parent_json = net.get(0, &format!("/v1/blocks/{last}")).unwrap();
        let parent: Header = decode(&parent_json["header"]);
        let parent_cert: CommitCertificate = decode(&parent_json["certificate"]);
        let content = CredentialContent {
            salt: [7; 32],
            holder_name: "A. Intern".into(),
            date_of_birth: "1999-04-01".into(),
            documents: vec![],
            fields: mpms_ledger::claims::course_values(
                "EEG reading",
                "2026-01-01",
                "2026-02-01",
                None,
                "passed",
            ),
        };
        let now = mpms_node::runtime::now_ms();
        let issuance = prepare_issuance(
            &chain_id,
            &cardio_keys.signing,
            cardio_keys.id(),
            mpms_ledger::credential::SchemaRef {
                id: "neuro.eeg",
                fields: &mpms_ledger::claims::course_fields(),
            },
            intern_keys.id(),
            &intern_keys.decryption.encryption_key(),
            &content,
            mpms_ledger::credential::ClaimTerms::new(now - 86_400_000, now + 365 * 86_400_000, 0),
            &mut rand::rngs::OsRng,
        )
        .unwrap();
        let nonce = net.get(0, &format!("/v1/accounts/{cardio}")).unwrap()["next_nonce"]
            .as_u64()
            .unwrap();
        let fake = Transaction {
            chain_id: chain_id.clone(),
            sender: cardio_keys.id(),
            nonce,
            payload: Payload::IssueCredential(Box::new(issuance)),
        }
        .sign(&cardio_keys.signing);
        let transactions = vec![fake];
        let block = Block {
            header: Header {
                chain_id: chain_id.clone(),
                height,
                parent: parent.hash(),
                time_ms: now.max(parent.time_ms + 1),
                proposer: operator3,
                tx_root: tx_root(&transactions),
                tx_count: 1,
                state_root: Hash::digest(b"never computed"),
                authority_set: set.hash(),
                next_authority_set: set.hash(),
                last_commit: parent_cert.hash(),
            },
            last_commit: Some(parent_cert),
            transactions,
        };
        let proposal = Vote {
            height,
            round: 0,
            kind: VoteKind::Proposal,
            block: Some(block.hash()),
            valid_round: None,
        }
        .sign(&chain_id, operator3, &keys3.consensus);
        let message = ConsensusMessage::Proposal {
            proposal,
            block: Box::new(block),
            proof: Vec::new(),
        };
        runtime
            .block_on(network.publish(Topic::Consensus, codec::encode(&message)))
            .unwrap();
        injected_at = Some(height);
    }
    let height = injected_at.unwrap();

    // The honest nodes refuse the block, report the proposal, and the chain punishes
    // validator 3: slashed, jailed, out of the set. The three go on.
    let op3 = operator3.to_string();
    net.wait("validator 3 removed from the set", MINUTE, |n| {
        n.get(0, "/v1/authorities").is_some_and(|a| {
            a["active_set"]["members"]
                .as_array()
                .is_some_and(|m| m.len() == 3 && m.iter().all(|x| x["operator"] != op3.as_str()))
        })
    });
    let evidence = net.cli(&["query", "--node", &net.nodes[1].api, "evidence"]);
    assert!(evidence.status.success(), "{}", common::text(&evidence));
    let shown = String::from_utf8_lossy(&evidence.stdout);
    assert!(
        shown.contains(&op3) && shown.contains("fake-credential"),
        "query evidence: {shown}"
    );
    assert_ne!(
        net.block(0, height).0,
        String::new(),
        "height {height} was decided"
    );
    let from = net.height(0).unwrap();
    net.wait_height(&[0, 1, 2], from + 3, MINUTE);
    // Nobody honest was touched.
    let authorities = net.get(0, "/v1/authorities").unwrap();
    for i in 0..3 {
        let op = net.operator(i);
        assert!(
            authorities["active_set"]["members"]
                .as_array()
                .unwrap()
                .iter()
                .any(|m| m["operator"] == op.as_str()),
            "validator {i} is still an authority"
        );
    }
    runtime.block_on(network.shutdown());
    for i in 0..3 {
        net.stop(i);
    }
}

/// Evidence can also be submitted by hand: `mpmsd tx submit-evidence --file F` takes
/// the JSON form documented in docs/CONSENSUS.md or the canonical bytes; an offence is
/// punished once.
#[test]
fn evidence_submitted_by_hand_is_judged_and_punished_once() {
    let mut net = Net::new(4, 0);
    for i in 0..3 {
        net.start(i);
    }
    net.wait_height(&[0, 1, 2], 2, MINUTE);
    let home3 = Home::new(&net.nodes[3].home);
    let config3 = home3.load_config().unwrap().raw;
    let (keys3, _) = home3.load_validator(&config3).unwrap().unwrap();
    let chain_id = net.get(0, "/v1/status").unwrap()["chain_id"]
        .as_str()
        .unwrap()
        .to_string();
    let operator3 = keys3.operator.public_key();
    let statement = |block: &[u8]| {
        Vote {
            height: 1,
            round: 0,
            kind: VoteKind::Prevote,
            block: Some(Hash::digest(block)),
            valid_round: None,
        }
        .sign(&chain_id, operator3, &keys3.consensus)
    };
    let evidence = mpms_ledger::evidence::Evidence::Equivocation {
        first: statement(b"one block"),
        second: statement(b"another block"),
    };
    let json_file = net.dir.path().join("evidence.json");
    std::fs::write(&json_file, serde_json::to_vec_pretty(&evidence).unwrap()).unwrap();
    let bytes_file = net.dir.path().join("evidence.bin");
    std::fs::write(&bytes_file, codec::encode(&evidence)).unwrap();
    let v0 = net.home_arg(0);
    let v0: Vec<&str> = v0.iter().map(String::as_str).collect();

    // Garbage is refused before anything is signed.
    let junk = net.dir.path().join("junk.json");
    std::fs::write(&junk, b"{\"Equivocation\": 5}").unwrap();
    let out = net.tx_result(
        0,
        &v0,
        &["submit-evidence", "--file", junk.to_str().unwrap()],
    );
    assert!(!out.status.success());
    assert!(
        common::text(&out).contains("not evidence JSON"),
        "{}",
        common::text(&out)
    );

    let done = net.tx(
        0,
        &v0,
        &["submit-evidence", "--file", json_file.to_str().unwrap()],
    );
    assert_eq!(done["offence"], evidence.offence_id().to_string());
    // The same offence again, as bytes: refused.
    let out = net.tx_result(
        1,
        &v0,
        &["submit-evidence", "--file", bytes_file.to_str().unwrap()],
    );
    assert!(!out.status.success());
    assert!(
        common::text(&out).contains("already punished"),
        "{}",
        common::text(&out)
    );
    let shown = net.cli(&["query", "--node", &net.nodes[2].api, "evidence"]);
    let shown = String::from_utf8_lossy(&shown.stdout);
    assert!(
        shown.contains("equivocation") && shown.contains(&operator3.to_string()),
        "{shown}"
    );
    for i in 0..3 {
        net.stop(i);
    }
}
