//! Writes the fuzz targets' seed corpora under `fuzz/corpus/`: one valid example of
//! each input shape, against the chain the targets run on (`TestChain::new(4, 7)`
//! with three subjects, the `med.bls` schema and one credential). The fuzzer mutates
//! from there. Run on demand:
//! `cargo test -p mpms --test fuzz_seeds -- --ignored --nocapture`.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::{Path, PathBuf};

use mpms_consensus::messages::{ConsensusMessage, FinalizedBlock};
use mpms_crypto::keystore::{KdfParams, Keystore};
use mpms_crypto::{DecryptionKey, Hash, SigningKey};
use mpms_ledger::evidence::Evidence;
use mpms_ledger::execute::{build_block, SignatureCheck};
use mpms_ledger::testkit::TestChain;
use mpms_ledger::transaction::{
    GovernanceAction, InspectionOutcome, OrganizationKind, SchemaDefinition,
};
use mpms_ledger::{codec, MemState, Payload, SignedTransaction, Vote, VoteKind};
use mpms_network::wire::{SyncRequest, SyncResponse};

fn corpus(target: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz")
        .join("corpus")
        .join(target);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn write(target: &str, name: &str, bytes: &[u8]) {
    std::fs::write(corpus(target).join(name), bytes).unwrap();
}

fn tagged(tag: u8, bytes: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    out.extend_from_slice(bytes);
    out
}

fn frame(bytes: &[u8]) -> Vec<u8> {
    let mut out = (bytes.len() as u32).to_le_bytes().to_vec();
    out.extend_from_slice(bytes);
    out
}

#[test]
#[ignore = "writes fuzz/corpus: run on demand"]
fn write_fuzz_seed_corpora() {
    let chain = TestChain::new(4, 7);
    let genesis = chain.genesis.build().unwrap();
    let mut state = MemState::new();
    state.apply(&genesis.changes);
    let first: Vec<SignedTransaction> = (1..=3)
        .map(|i| chain.register_subject(i))
        .chain([chain.register_schema(0, "med.bls")])
        .collect();
    let set = genesis.authority_set.clone();
    let built = build_block(
        &state,
        &genesis.header,
        None,
        set.proposer(1, 0).unwrap().operator,
        genesis.header.time_ms + 1_000,
        &first,
        SignatureCheck::Verify,
    )
    .unwrap();
    state.apply(&built.outcome.changes);
    let certificate = chain.certify(&built.block.header, 0, &set);

    // Transactions: one of each kind the chain knows.
    let (subject, subject_dk) = chain.subject(1);
    let operator = &chain.operators[0];
    let credential = Hash::digest(b"credential");
    let txs: Vec<(&str, SignedTransaction)> = vec![
        ("register-subject", chain.register_subject(4)),
        ("register-schema", chain.register_schema(1, "med.acls")),
        ("issue", chain.issue(1, "med.bls", 1, 1)),
        (
            "transfer",
            chain.tx(
                operator,
                0,
                Payload::Transfer {
                    to: subject.public_key(),
                    amount: 5,
                },
            ),
        ),
        (
            "rotate-keys",
            chain.tx(
                &subject,
                1,
                Payload::RotateKeys {
                    signing_key: Some(SigningKey::from_seed(&[9; 32]).public_key()),
                    encryption_key: Some(DecryptionKey::derive(b"new").encryption_key()),
                },
            ),
        ),
        (
            "register-organization",
            chain.tx(
                &SigningKey::from_seed(&[31; 32]),
                0,
                Payload::RegisterOrganization {
                    name: "Board".into(),
                    kind: OrganizationKind::LicensingBoard,
                    encryption_key: DecryptionKey::derive(b"board").encryption_key(),
                    work: chain.work(&SigningKey::from_seed(&[31; 32]).public_key()),
                },
            ),
        ),
        (
            "register-certifier",
            chain.tx(
                &SigningKey::from_seed(&[32; 32]),
                0,
                Payload::RegisterCertifier {
                    name: "College".into(),
                    encryption_key: DecryptionKey::derive(b"college").encryption_key(),
                    work: chain.work(&SigningKey::from_seed(&[32; 32]).public_key()),
                },
            ),
        ),
        ("bond", chain.tx(operator, 0, Payload::Bond { amount: 10 })),
        (
            "unbond",
            chain.tx(operator, 0, Payload::Unbond { amount: 10 }),
        ),
        ("withdraw", chain.tx(operator, 0, Payload::WithdrawUnbonded)),
        (
            "schema-stacked",
            chain.tx(
                &chain.certifier,
                1,
                Payload::RegisterSchema(Box::new(SchemaDefinition {
                    id: "med.acls".into(),
                    description: "advanced".into(),
                    prerequisites: vec!["med.bls".into()],
                    output: "competence".into(),
                    completion_condition: "pass".into(),
                    max_validity_ms: Some(1_000),
                    fields: mpms_ledger::claims::course_fields(),
                    fhir_resource: None,
                })),
            ),
        ),
        (
            "revoke",
            chain.tx(
                &chain.certifier,
                1,
                Payload::RevokeCredential {
                    credential,
                    reason: "error".into(),
                },
            ),
        ),
        (
            "request-access",
            chain.tx(
                operator,
                0,
                Payload::RequestAccess {
                    subject: subject.public_key(),
                    credentials: vec![credential],
                    purpose: mpms_ledger::notes::seal_purpose(
                        &subject.public_key(),
                        &operator.public_key(),
                        "hiring",
                        &mut mpms_ledger::testkit::DeterministicRng(Hash::digest(b"purpose"), 0),
                    )
                    .unwrap(),
                },
            ),
        ),
        (
            "revoke-grant",
            chain.tx(&subject, 1, Payload::RevokeGrant { grant: credential }),
        ),
        (
            "inspection",
            chain.tx(
                operator,
                0,
                Payload::RecordInspection {
                    grant: credential,
                    outcome: mpms_ledger::notes::seal_outcome(
                        &subject.public_key(),
                        &credential,
                        &InspectionOutcome::Failed("mismatch".into()),
                        &mut mpms_ledger::testkit::DeterministicRng(Hash::digest(b"outcome"), 0),
                    )
                    .unwrap(),
                },
            ),
        ),
        (
            "propose",
            chain.tx(
                operator,
                0,
                Payload::Propose {
                    action: GovernanceAction::AddAuthority {
                        operator: subject.public_key(),
                        consensus_key: SigningKey::from_seed(&[33; 32]).public_key(),
                        peer_id: "peer".into(),
                    },
                },
            ),
        ),
        (
            "vote",
            chain.tx(
                operator,
                0,
                Payload::Vote {
                    proposal: 0,
                    approve: true,
                },
            ),
        ),
    ];
    let vote = |i: usize, block: Option<Hash>| {
        Vote {
            height: 1,
            round: 0,
            kind: VoteKind::Prevote,
            block,
            valid_round: None,
        }
        .sign(
            chain.chain_id(),
            chain.operators[i].public_key(),
            &chain.consensus[i],
        )
    };
    let evidence = Evidence::Equivocation {
        first: vote(2, Some(Hash::digest(b"a"))),
        second: vote(2, Some(Hash::digest(b"b"))),
    };
    let evidence_tx = chain.tx(
        operator,
        0,
        Payload::SubmitEvidence(Box::new(evidence.clone())),
    );
    for (name, tx) in txs.iter().chain([&("evidence", evidence_tx)]) {
        write("transaction", name, &codec::encode(tx));
        write(
            "api_json",
            name,
            &tagged(0, serde_json::to_vec(tx).unwrap().as_slice()),
        );
        write(
            "gossip",
            &format!("tx-{name}"),
            &tagged(0, &codec::encode(tx)),
        );
    }
    write(
        "api_json",
        "evidence",
        &tagged(1, &serde_json::to_vec(&evidence).unwrap()),
    );

    // Blocks, finalized blocks, headers.
    let finalized = FinalizedBlock {
        block: built.block.clone(),
        certificate: certificate.clone(),
    };
    write("block", "block", &tagged(0, &codec::encode(&built.block)));
    write("block", "finalized", &tagged(1, &codec::encode(&finalized)));
    write(
        "block",
        "header",
        &tagged(2, &codec::encode(&built.block.header)),
    );

    // Votes, certificates, evidence.
    write(
        "vote_and_certificate",
        "vote",
        &tagged(0, &codec::encode(&vote(1, None))),
    );
    write(
        "vote_and_certificate",
        "certificate",
        &tagged(1, &codec::encode(&certificate)),
    );
    write(
        "vote_and_certificate",
        "evidence",
        &tagged(2, &codec::encode(&evidence)),
    );

    // Gossip: consensus messages and finalized blocks.
    let proposal = Vote {
        height: 1,
        round: 0,
        kind: VoteKind::Proposal,
        block: Some(built.block.hash()),
        valid_round: None,
    }
    .sign(
        chain.chain_id(),
        chain.operators[1].public_key(),
        &chain.consensus[1],
    );
    let proposal = ConsensusMessage::Proposal {
        proposal,
        block: Box::new(built.block.clone()),
        proof: vec![vote(0, Some(built.block.hash()))],
    };
    let resent = ConsensusMessage::Resent {
        statements: vec![proposal.clone(), ConsensusMessage::Vote(vote(2, None))],
        sent_at_ms: 7,
    };
    write("gossip", "proposal", &tagged(1, &codec::encode(&proposal)));
    write(
        "gossip",
        "vote",
        &tagged(1, &codec::encode(&ConsensusMessage::Vote(vote(3, None)))),
    );
    write("gossip", "resent", &tagged(1, &codec::encode(&resent)));
    write(
        "gossip",
        "finalized",
        &tagged(2, &codec::encode(&finalized)),
    );

    // Sync frames.
    write(
        "sync_codec",
        "status",
        &frame(&codec::encode(&SyncRequest::Status)),
    );
    write(
        "sync_codec",
        "blocks-request",
        &frame(&codec::encode(&SyncRequest::Blocks { from: 1, count: 64 })),
    );
    write(
        "sync_codec",
        "blocks",
        &frame(&codec::encode(&SyncResponse::Blocks(vec![finalized]))),
    );
    write(
        "sync_codec",
        "height",
        &frame(&codec::encode(&SyncResponse::Status { height: 9 })),
    );

    // Files: genesis, node.toml, a keystore, a join request.
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for entry in std::fs::read_dir(root.join("config")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let text = std::fs::read(&path).unwrap();
        if name.ends_with(".json") {
            write("files", &name, &tagged(0, &text));
        } else if name.ends_with(".toml") {
            write("files", &name, &tagged(1, &text));
        }
    }
    write(
        "files",
        "genesis-testkit.json",
        &tagged(0, chain.genesis.to_json().as_bytes()),
    );
    let keystore = Keystore::encrypt(
        "validator-consensus-key",
        &[7u8; 32],
        "password",
        KdfParams::INSECURE_FAST,
        &mut rand::thread_rng(),
    )
    .unwrap();
    write(
        "files",
        "keystore.json",
        &tagged(2, keystore.to_json().as_bytes()),
    );
    let dir = tempfile::tempdir().unwrap();
    let nodes = mpms_node::testnet::generate(
        dir.path(),
        &mpms_node::testnet::TestnetOptions {
            validators: 1,
            full_nodes: 0,
            chain_id: "mpms-fuzz-seed".into(),
            base_port: 0,
            kdf: KdfParams::INSECURE_FAST,
            genesis_time_ms: 1,
            heartbeat_ms: 300,
        },
    )
    .unwrap();
    let home = mpms_node::home::Home::new(&nodes[0].home);
    let config = home.load_config().unwrap().raw;
    let request = mpms_node::join::JoinRequest::create(
        &home,
        &config,
        "Regional Hospital",
        OrganizationKind::Hospital,
    )
    .unwrap();
    write(
        "files",
        "join-request.json",
        &tagged(3, request.to_json().as_bytes()),
    );
    let _ = subject_dk;
    println!("seed corpora written under fuzz/corpus/");
}
