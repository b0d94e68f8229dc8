//! A 4-validator testnet of separate `mpmsd` processes on 127.0.0.1 runs the whole
//! credential workflow through the CLI and the API; then one validator is killed
//! with SIGKILL (the chain keeps finalizing), restarted (it catches up), and every
//! node holds identical blocks and state roots. Throughout, a peer on the gossip
//! network records every message; at the end, neither those messages nor any byte
//! the nodes wrote (raw files, and every RocksDB entry decompressed) holds the
//! personal data the workflow used.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::time::Duration;

use common::{text, Net};

const MINUTE: Duration = Duration::from_secs(60);

fn as_refs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

#[test]
fn whole_workflow_then_a_validator_crashes_and_catches_up() {
    // Four validators; the full node's identity is the test's listening peer.
    let mut net = Net::new(4, 1);
    for i in 0..4 {
        net.start(i);
    }
    net.wait_height(&[0, 1, 2, 3], 1, MINUTE);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let listener = mpms_node::Home::new(&net.nodes[4].home);
    let listener_config = listener.load_config().unwrap().raw;
    let (network, mut events) = net.join_p2p(
        &runtime,
        listener.load_node_key(&listener_config).unwrap(),
        listener_config.network.listen.clone(),
    );
    let heard = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let recorder = {
        let heard = heard.clone();
        runtime.spawn(async move {
            while let Some(event) = events.recv().await {
                if let mpms_network::NetworkEvent::Message { topic, data, .. } = event {
                    heard.lock().unwrap().push((topic, data));
                }
            }
        })
    };
    // The personal data the workflow uses: none of it may be seen in plaintext.
    let diploma = net.dir.path().join("diploma.txt");
    std::fs::write(
        &diploma,
        "DIPLOMA-SCAN of Dr. Amina Okafor, licence 448812-CARD",
    )
    .unwrap();
    // Personal and clinical fields: the intern's, and the patient's FHIR glucose
    // result (name, test code and display) and typed lab result (docs' commands).
    let personal = [
        "Amina",
        "Okafor",
        "1994-03-17",
        "DIPLOMA-SCAN",
        "448812-CARD",
        "van de Heuvel",
        "15074-8",
        "Moles/volume",
        "Jane Roe",
        "2339-0",
    ];

    let v0 = net.home_arg(0);
    let v0: Vec<&str> = v0.iter().map(String::as_str).collect();
    let v1 = net.home_arg(1);
    let v1: Vec<&str> = v1.iter().map(String::as_str).collect();
    let v2 = net.home_arg(2);
    let v2: Vec<&str> = v2.iter().map(String::as_str).collect();

    // Roles register (through different nodes).
    let (intern_key, intern) = net.account("intern");
    let (hospital_key, hospital) = net.account("hospital");
    let (board_key, board) = net.account("board");
    let intern_k = ["--key", intern_key.to_str().unwrap()];
    let hospital_k = ["--key", hospital_key.to_str().unwrap()];
    let board_k = ["--key", board_key.to_str().unwrap()];
    net.tx(0, &intern_k, &["register-subject"]);
    net.tx(
        1,
        &hospital_k,
        &["register-certifier", "--name", "St. Mary Teaching Hospital"],
    );
    net.tx(
        2,
        &board_k,
        &[
            "register-organization",
            "--name",
            "State Medical Licensing Board",
            "--kind",
            "licensing-board",
        ],
    );
    // The hospital gets funds from an authority and bonds certifier stake.
    net.tx(0, &v0, &["transfer", "--to", &hospital, "--amount", "1000"]);
    net.tx(1, &hospital_k, &["bond", "--amount", "500"]);

    // Governance accredits the hospital for cardiology: a proposal and two votes.
    let proposed = net.tx(
        0,
        &v0,
        &[
            "propose",
            "accredit-certifier",
            "--certifier",
            &hospital,
            "--scope",
            "cardio.*",
            "--scope",
            "record.*",
        ],
    );
    let proposal = proposed["proposal"]
        .as_u64()
        .expect("proposal id")
        .to_string();
    net.tx(1, &v1, &["vote", "--proposal", &proposal]);
    net.tx(2, &v2, &["vote", "--proposal", &proposal]);
    let certifier = net.get(3, &format!("/v1/certifiers/{hospital}")).unwrap();
    assert!(
        certifier.to_string().contains("cardio.*"),
        "accredited: {certifier}"
    );
    // The board asks subjects for access only once governance admits it.
    let organization = net.get(3, &format!("/v1/organizations/{board}")).unwrap();
    assert_eq!(organization["admission"], "Pending", "{organization}");
    let proposed = net.tx(
        0,
        &v0,
        &["propose", "admit-organization", "--organization", &board],
    );
    let proposal = proposed["proposal"]
        .as_u64()
        .expect("proposal id")
        .to_string();
    net.tx(1, &v1, &["vote", "--proposal", &proposal]);
    net.tx(2, &v2, &["vote", "--proposal", &proposal]);
    let organization = net.get(3, &format!("/v1/organizations/{board}")).unwrap();
    assert!(
        organization["admission"]["Admitted"].is_u64(),
        "{organization}"
    );

    // A university is accredited for neurology the same way.
    let (university_key, university) = net.account("university");
    let university_k = ["--key", university_key.to_str().unwrap()];
    net.tx(
        2,
        &university_k,
        &["register-certifier", "--name", "State University"],
    );
    net.tx(
        0,
        &v0,
        &["transfer", "--to", &university, "--amount", "1000"],
    );
    net.tx(2, &university_k, &["bond", "--amount", "500"]);
    let proposed = net.tx(
        1,
        &v1,
        &[
            "propose",
            "accredit-certifier",
            "--certifier",
            &university,
            "--scope",
            "neuro.*",
        ],
    );
    let proposal = proposed["proposal"]
        .as_u64()
        .expect("proposal id")
        .to_string();
    net.tx(0, &v0, &["vote", "--proposal", &proposal]);
    net.tx(2, &v2, &["vote", "--proposal", &proposal]);
    // Registering a schema outside one's scope is refused with the reason.
    let out = net.tx_result(
        1,
        &hospital_k,
        &[
            "register-schema",
            "--id",
            "neuro.stroke",
            "--description",
            "Stroke care",
        ],
    );
    assert!(!out.status.success());
    assert!(text(&out).contains("outside the scope"), "{}", text(&out));
    net.tx(
        2,
        &university_k,
        &[
            "register-schema",
            "--id",
            "neuro.stroke",
            "--description",
            "Stroke care",
        ],
    );

    // The hospital's schemas, one with a prerequisite.
    for args in [
        &[
            "register-schema",
            "--id",
            "cardio.bls",
            "--description",
            "Basic life support",
        ][..],
        &[
            "register-schema",
            "--id",
            "cardio.acls",
            "--description",
            "Advanced cardiac life support",
            "--prerequisite",
            "cardio.bls",
        ][..],
    ] {
        net.tx(1, &hospital_k, args);
    }
    let issue = |schema: &str| {
        vec![
            "issue-credential".to_string(),
            "--schema".into(),
            schema.into(),
            "--subject".into(),
            intern.clone(),
            "--holder-name".into(),
            "Dr. Amina Okafor".into(),
            "--date-of-birth".into(),
            "1994-03-17".into(),
            "--document".into(),
            format!("diploma={}", diploma.display()),
            "--description".into(),
            format!("{schema} course"),
            "--start-date".into(),
            "2026-01-05".into(),
            "--end-date".into(),
            "2026-02-05".into(),
            "--result".into(),
            "passed".into(),
        ]
    };
    // Out of scope: refused with the reason.
    let out = net.tx_result(1, &hospital_k, &as_refs(&issue("neuro.stroke")));
    assert!(!out.status.success());
    assert!(
        text(&out).contains("outside the scope"),
        "out of scope: {}",
        text(&out)
    );
    // The advanced course before its prerequisite: refused.
    let out = net.tx_result(1, &hospital_k, &as_refs(&issue("cardio.acls")));
    assert!(!out.status.success());
    assert!(text(&out).contains("prerequisite"), "{}", text(&out));
    let bls = net.tx(1, &hospital_k, &as_refs(&issue("cardio.bls")));
    let acls = net.tx(1, &hospital_k, &as_refs(&issue("cardio.acls")));
    let bls = bls["credential"].as_str().unwrap().to_string();
    let acls = acls["credential"].as_str().unwrap().to_string();
    // The listing is the subject's alone: a read it signs (unsigned: refused).
    let intern_signing = common::Net::signing_key(&intern_key);
    let held = net
        .get_signed(
            2,
            &format!("/v1/subjects/{intern}/credentials"),
            &intern_signing,
        )
        .unwrap();
    assert_eq!(held["credentials"].as_array().unwrap().len(), 2);
    assert!(net
        .get(2, &format!("/v1/subjects/{intern}/credentials"))
        .is_none());
    assert!(net
        .get_signed(
            2,
            &format!("/v1/subjects/{intern}/credentials"),
            &common::Net::signing_key(&board_key)
        )
        .is_none());
    // The intern's wallet: synced, decrypted, stackable progress shown.
    let wallet = net.dir.path().join("intern.wallet");
    let synced = net.cli(&[
        "wallet",
        "sync",
        "--node",
        &net.nodes[3].api,
        "--key",
        intern_key.to_str().unwrap(),
        "--wallet",
        wallet.to_str().unwrap(),
    ]);
    assert!(synced.status.success(), "{}", text(&synced));
    assert!(String::from_utf8_lossy(&synced.stdout).contains("synced 2 credentials"));
    let shown = net.cli(&["wallet", "show", "--wallet", wallet.to_str().unwrap()]);
    assert!(shown.status.success(), "{}", text(&shown));
    let shown = String::from_utf8_lossy(&shown.stdout).to_string();
    assert!(shown.contains("Dr. Amina Okafor"), "{shown}");
    assert!(
        shown.contains("cardio.acls") && shown.contains("complete"),
        "{shown}"
    );
    // The wallet file is encrypted.
    let raw = std::fs::read(&wallet).unwrap();
    assert!(!raw.windows(5).any(|w| w == b"Amina"));

    // The certifier's W3C Verifiable Credential, delivered sealed with the content:
    // exported from the wallet, checked by mpmsd against the chain, and by an
    // independent JOSE implementation.
    let vc_path = net.dir.path().join("acls.jwt");
    let exported = net.cli(&[
        "wallet",
        "export-vc",
        "--wallet",
        wallet.to_str().unwrap(),
        "--credential",
        &acls,
        "--out",
        vc_path.to_str().unwrap(),
    ]);
    assert!(exported.status.success(), "{}", text(&exported));
    // Its signature alone checks offline, but without the chain it is not a
    // verified credential.
    let offline = net.cli(&["verify", vc_path.to_str().unwrap()]);
    assert!(!offline.status.success(), "{}", text(&offline));
    assert!(
        text(&offline).contains("[ok  ] vc signature")
            && text(&offline).contains("verification failed: on chain"),
        "{}",
        text(&offline)
    );
    let genesis_path = net.genesis();
    let against_chain = net.cli(&[
        "verify",
        vc_path.to_str().unwrap(),
        "--node",
        &net.nodes[2].api,
        "--genesis",
        genesis_path.to_str().unwrap(),
    ]);
    // Without the personal fields it cannot be checked whole: refused, unless the
    // verifier accepts a check of signature and chain only, which says so.
    assert!(!against_chain.status.success(), "{}", text(&against_chain));
    assert!(
        text(&against_chain).contains("signature and chain only"),
        "{}",
        text(&against_chain)
    );
    let partial = net.cli(&[
        "verify",
        vc_path.to_str().unwrap(),
        "--node",
        &net.nodes[2].api,
        "--genesis",
        genesis_path.to_str().unwrap(),
        "--accept-partial",
    ]);
    assert!(partial.status.success(), "{}", text(&partial));
    assert!(
        text(&partial).contains("[ok  ] vc matches chain")
            && text(&partial).contains("VALID (signature and chain only"),
        "{}",
        text(&partial)
    );
    // With the content (the subject's, from its wallet), the personal fields are
    // checked against the chain's commitment too.
    let content_path = net.dir.path().join("acls-content.json");
    let portfolio = net.cli(&[
        "wallet",
        "show",
        "--json",
        "--wallet",
        wallet.to_str().unwrap(),
    ]);
    let portfolio: serde_json::Value = serde_json::from_slice(&portfolio.stdout).unwrap();
    let held = portfolio["portfolio"]["credentials"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == acls.as_str())
        .unwrap();
    std::fs::write(&content_path, held["content"].to_string()).unwrap();
    let with_content = net.cli(&[
        "verify",
        vc_path.to_str().unwrap(),
        "--node",
        &net.nodes[2].api,
        "--genesis",
        genesis_path.to_str().unwrap(),
        "--content",
        content_path.to_str().unwrap(),
    ]);
    assert!(with_content.status.success(), "{}", text(&with_content));
    assert!(
        text(&with_content).contains("[ok  ] vc content"),
        "{}",
        text(&with_content)
    );
    let jwt = std::fs::read_to_string(&vc_path).unwrap();
    common::jose_verifies(&jwt, &hospital, "Dr. Amina Okafor").unwrap();
    // One character of the signature changed: the independent verifier refuses it.
    let mut forged = jwt.trim().as_bytes().to_vec();
    let at = forged.len() - 20;
    forged[at] = if forged[at] == b'A' { b'B' } else { b'A' };
    let forged = String::from_utf8(forged).unwrap();
    assert!(common::jose_verifies(&forged, &hospital, "Dr. Amina Okafor").is_err());
    // Generic W3C verifiers read its status from the certifier's status list, as the
    // node it was issued through publishes it: not revoked.
    assert_eq!(common::w3c_status_revoked(&jwt), Ok(false));
    // The wallet's bundle carries the content; it verifies with the genesis file.
    let bundle_out = net.dir.path().join("acls-bundle.json");
    let bundled = net.cli(&[
        "wallet",
        "bundle",
        "--node",
        &net.nodes[1].api,
        "--wallet",
        wallet.to_str().unwrap(),
        "--credential",
        &acls,
        "--out",
        bundle_out.to_str().unwrap(),
    ]);
    assert!(bundled.status.success(), "{}", text(&bundled));
    let checked = net.cli(&[
        "verify",
        bundle_out.to_str().unwrap(),
        "--genesis",
        genesis_path.to_str().unwrap(),
    ]);
    assert!(checked.status.success(), "{}", text(&checked));
    assert!(
        text(&checked).contains("[ok  ] content commitment"),
        "{}",
        text(&checked)
    );
    // Without a trust anchor a bundle is not verified; the published genesis hash
    // anchors it as the file does.
    let unanchored = net.cli(&["verify", bundle_out.to_str().unwrap()]);
    assert!(!unanchored.status.success());
    assert!(
        text(&unanchored).contains("verification failed: anchor"),
        "{}",
        text(&unanchored)
    );
    let genesis_hash = net.get(0, "/v1/blocks/0").unwrap()["hash"]
        .as_str()
        .unwrap()
        .to_string();
    let by_hash = net.cli(&[
        "verify",
        bundle_out.to_str().unwrap(),
        "--genesis-hash",
        &genesis_hash,
    ]);
    assert!(by_hash.status.success(), "{}", text(&by_hash));
    // docs/CREDENTIALS.md's commands, run as written: the subject's, then the
    // verifier's (in a directory of its own, with only the genesis file and what the
    // subject handed over).
    let blocks = common::doc_shell_blocks("CREDENTIALS.md");
    assert_eq!(blocks.len(), 4, "{blocks:?}");
    // The hospital's typed lab result, then content that does not fit its schema.
    let hospital_dir = net.dir.path().join("hospital");
    std::fs::create_dir_all(&hospital_dir).unwrap();
    std::fs::copy(&hospital_key, hospital_dir.join("hospital.key")).unwrap();
    let hospital_env = [
        ("NODE", net.nodes[1].api.as_str()),
        ("PATIENT", intern.as_str()),
        ("MPMS_KEYSTORE_PASSWORD", "test password 1234"),
    ];
    let out = common::run_shell(&hospital_dir, &blocks[0], &hospital_env);
    assert!(out.status.success(), "{}", text(&out));
    // The record schema's public definition is its kind's: a generic description,
    // a number field that names no unit.
    let schema = net.get(1, "/v1/schemas/record.lab-result").unwrap();
    assert_eq!(schema["description"], "A laboratory result", "{schema}");
    assert_eq!(schema["fields"].as_array().unwrap().len(), 4, "{schema}");
    assert!(!schema.to_string().contains("mmol"), "{schema}");
    // A record schema named or described after what it holds is refused by the chain.
    let refused = net.cli(&[
        "tx",
        "--node",
        &net.nodes[1].api,
        "--key",
        hospital_key.to_str().unwrap(),
        "register-schema",
        "--id",
        "cardio.glucose",
        "--description",
        "A blood glucose result",
        "--fhir-resource",
        "Observation",
        "--field",
        "status:text",
        "--field",
        "code:code:http://loinc.org",
    ]);
    assert!(!refused.status.success(), "{}", text(&refused));
    assert!(text(&refused).contains("record.KIND"), "{}", text(&refused));
    let out = common::run_shell(&hospital_dir, &blocks[1], &hospital_env);
    assert!(out.status.success(), "{}", text(&out));
    let blocks = &blocks[2..];
    let subject_dir = net.dir.path().join("subject");
    let verifier_dir = net.dir.path().join("verifier");
    std::fs::create_dir_all(&subject_dir).unwrap();
    std::fs::create_dir_all(&verifier_dir).unwrap();
    std::fs::copy(&intern_key, subject_dir.join("subject.key")).unwrap();
    std::fs::copy(net.genesis(), verifier_dir.join("genesis.json")).unwrap();
    std::fs::copy(&board_key, verifier_dir.join("verifier.key")).unwrap();
    let env = [
        ("NODE", net.nodes[2].api.as_str()),
        ("CREDENTIAL", acls.as_str()),
        ("SUBJECT", intern.as_str()),
        ("MPMS_KEYSTORE_PASSWORD", "test password 1234"),
    ];
    let out = common::run_shell(&subject_dir, &blocks[0], &env);
    assert!(out.status.success(), "{}", text(&out));
    for file in ["credential-bundle.json", "credential.jwt"] {
        std::fs::copy(subject_dir.join(file), verifier_dir.join(file)).unwrap();
    }
    let out = common::run_shell(&verifier_dir, &blocks[1], &env);
    assert!(out.status.success(), "{}", text(&out));
    let shown = text(&out);
    // The bundle, the refreshed bundle, and the Verifiable Credential (its bundle,
    // then the credential itself) are valid.
    assert_eq!(shown.matches("VALID").count(), 4, "{shown}");
    assert!(shown.contains("\"events\""), "{shown}");

    // docs/PATIENTS.md's commands, run as written: the hospital sends a FHIR
    // Observation (the specification's glucose example) signed by its cardiologist
    // under a delegation; the patient exports the record as a FHIR Bundle.
    let patient_blocks = common::doc_shell_blocks("PATIENTS.md");
    assert_eq!(patient_blocks.len(), 6, "{patient_blocks:?}");
    std::fs::copy(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../crates/fhir/tests/examples/observation-example-f001-glucose.json"),
        hospital_dir.join("glucose.json"),
    )
    .unwrap();
    let out = common::run_shell(&hospital_dir, &patient_blocks[0], &hospital_env);
    assert!(out.status.success(), "{}", text(&out));
    let patient_dir = net.dir.path().join("patient");
    std::fs::create_dir_all(&patient_dir).unwrap();
    std::fs::copy(&intern_key, patient_dir.join("patient.key")).unwrap();
    let out = common::run_shell(&patient_dir, &patient_blocks[1], &hospital_env);
    assert!(out.status.success(), "{}", text(&out));
    let record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(patient_dir.join("record.json")).unwrap()).unwrap();
    assert_eq!(record["resourceType"], "Bundle");
    let entries = record["entry"].as_array().unwrap();
    // The glucose result, and the typed lab result CREDENTIALS.md's commands issued
    // (a record schema maps to FHIR too).
    assert_eq!(entries.len(), 2, "{record}");
    let glucose = &entries
        .iter()
        .find(|e| e["resource"]["code"]["coding"][0]["code"] == "15074-8")
        .unwrap()["resource"];
    assert_eq!(glucose["resourceType"], "Observation");
    assert_eq!(glucose["code"]["coding"][0]["code"], "15074-8");
    assert_eq!(glucose["valueQuantity"]["value"], 6.3);
    assert_eq!(glucose["subject"]["display"], "P. van de Heuvel");
    // Signed by the cardiologist for the hospital, under the delegation.
    let id = glucose["id"].as_str().unwrap();
    let issued = net.get(1, &format!("/v1/credentials/{id}")).unwrap();
    // The glucose result was issued to an entry key of the patient: the patient's
    // keys find it from the sealed key's enc, and sign for it.
    let glucose_signing = {
        let keys = mpms_node::keys::AccountKeys::load(&intern_key, "test password 1234").unwrap();
        let notes = net
            .get(
                1,
                &format!("/v1/issuances?from_height={}", issued["issued_height"]),
            )
            .unwrap();
        let note = notes["issuances"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["credential"].as_str() == Some(id))
            .unwrap()
            .clone();
        let enc: mpms_crypto::EncryptionKey = serde_json::from_value(note["enc"].clone()).unwrap();
        let entry: mpms_crypto::PublicKey =
            serde_json::from_value(issued["claim"]["subject"].clone()).unwrap();
        mpms_ledger::credential::entry_tweak(
            &entry,
            &keys.signing.public_key(),
            &keys.decryption,
            &enc,
        )
        .unwrap()
        .entry_signing_key(&keys.signing)
    };
    assert_eq!(issued["claim"]["certifier"].as_str().unwrap(), hospital);
    assert_eq!(glucose["subject"]["display"], "P. van de Heuvel");
    let practitioner = issued["claim"]["practitioner"]
        .as_str()
        .unwrap()
        .to_string();
    let delegation = net
        .get(
            1,
            &format!("/v1/certifiers/{hospital}/delegations/{practitioner}"),
        )
        .unwrap();
    assert_eq!(delegation["practitioner"].as_str().unwrap(), practitioner);
    // The role is on chain as a salted digest only: no specialty shows.
    assert!(
        !delegation.to_string().contains("cardiologist"),
        "{delegation}"
    );
    let bundle = net.get(2, &format!("/v1/credentials/{id}/bundle")).unwrap();
    let bundle_path = patient_dir.join("glucose-bundle.json");
    std::fs::write(&bundle_path, bundle.to_string()).unwrap();
    // A node's bundle carries no content: signature and chain only, accepted.
    let verified = net.cli(&[
        "verify",
        bundle_path.to_str().unwrap(),
        "--genesis",
        net.genesis().to_str().unwrap(),
        "--accept-partial",
    ]);
    assert!(verified.status.success(), "{}", text(&verified));
    assert!(
        text(&verified).contains("signed by practitioner"),
        "{}",
        text(&verified)
    );

    // docs/PATIENTS.md's selective disclosure, run as written: the hospital records a
    // sick-leave certificate, the patient shows the employer three of its fields in
    // an SD-JWT presentation, the employer checks it and the chain's status.
    let employer_name = "https://hr.acme.example";
    let nonce = "7f3a9c51e2d04b68";
    let out = common::run_shell(&hospital_dir, &patient_blocks[2], &hospital_env);
    assert!(out.status.success(), "{}", text(&out));
    std::fs::copy(
        hospital_dir.join("certificate.json"),
        patient_dir.join("certificate.json"),
    )
    .unwrap();
    let present_env = [
        ("NODE", net.nodes[2].api.as_str()),
        ("EMPLOYER", employer_name),
        ("NONCE", nonce),
        ("MPMS_KEYSTORE_PASSWORD", "test password 1234"),
    ];
    let out = common::run_shell(&patient_dir, &patient_blocks[3], &present_env);
    assert!(out.status.success(), "{}", text(&out));
    let employer_dir = net.dir.path().join("employer");
    std::fs::create_dir_all(&employer_dir).unwrap();
    std::fs::copy(net.genesis(), employer_dir.join("genesis.json")).unwrap();
    let presentation_path = employer_dir.join("sick-leave.sd-jwt");
    std::fs::copy(patient_dir.join("sick-leave.sd-jwt"), &presentation_path).unwrap();
    let out = common::run_shell(&employer_dir, &patient_blocks[4], &present_env);
    assert!(out.status.success(), "{}", text(&out));
    let shown = text(&out);
    assert!(
        shown.contains("fit_for_work: false")
            && shown.contains("from: \"2026-11-02\"")
            && shown.contains("until: \"2026-11-16\"")
            && shown.contains("4 withheld by the holder")
            && shown.contains("VALID"),
        "{shown}"
    );
    let presentation = std::fs::read_to_string(&presentation_path).unwrap();
    for hidden in ["myocardial", "1961", "Heuvel"] {
        assert!(!shown.contains(hidden), "{hidden} shown: {shown}");
        assert!(
            !common::sd_jwt_readable(&presentation).contains(hidden),
            "{hidden} in the presentation"
        );
    }
    // An independent SD-JWT VC implementation accepts it for this employer and nonce,
    // and refuses it for another nonce, another employer, or without its key binding.
    let vct = format!(
        "urn:mpms:{}:schema:record.medical-certificate",
        net.chain_id()
    );
    let said = common::openvc_sd_jwt(&presentation, employer_name, nonce, &vct).unwrap();
    assert_eq!(said["claims"]["claims"]["fit_for_work"], false, "{said}");
    assert!(
        said["claims"]["claims"].get("diagnosis").is_none(),
        "{said}"
    );
    assert!(common::openvc_sd_jwt(&presentation, employer_name, "another nonce", &vct).is_err());
    assert!(common::openvc_sd_jwt(&presentation, "https://evil.example", nonce, &vct).is_err());
    let bare = &presentation.trim()[..presentation.trim().rfind('~').unwrap() + 1];
    assert!(common::openvc_sd_jwt(bare, employer_name, nonce, &vct).is_err());
    // The same presentation replayed with another nonce, or stripped of its binding,
    // fails `mpmsd verify` too.
    let replayed = net.cli(&[
        "verify",
        presentation_path.to_str().unwrap(),
        "--audience",
        employer_name,
        "--nonce",
        "another nonce",
        "--genesis",
        net.genesis().to_str().unwrap(),
        "--node",
        &net.nodes[2].api,
    ]);
    assert!(!replayed.status.success(), "{}", text(&replayed));
    assert!(
        text(&replayed).contains("another nonce"),
        "{}",
        text(&replayed)
    );
    let bare_path = employer_dir.join("bare.sd-jwt");
    std::fs::write(&bare_path, bare).unwrap();
    let stripped = net.cli(&[
        "verify",
        bare_path.to_str().unwrap(),
        "--audience",
        employer_name,
        "--nonce",
        nonce,
        "--genesis",
        net.genesis().to_str().unwrap(),
        "--node",
        &net.nodes[2].api,
    ]);
    assert!(!stripped.status.success(), "{}", text(&stripped));
    assert!(
        text(&stripped).contains("no key binding"),
        "{}",
        text(&stripped)
    );

    // What the employer can find from the certificate: it reads every public route
    // that takes what the certificate names, and every block and transaction a full
    // node of its own would receive. The patient's other entries (the glucose
    // result, the intern's courses under the same key) are found nowhere: the
    // certificate was issued to an entry key of its own.
    let certificate: serde_json::Value =
        serde_json::from_slice(&std::fs::read(hospital_dir.join("certificate.json")).unwrap())
            .unwrap();
    let certificate_id = certificate["credential"].as_str().unwrap().to_string();
    let certificate_subject = certificate["subject"].as_str().unwrap().to_string();
    let others: Vec<String> = [
        intern.clone(),
        id.to_string(),
        glucose_subject_of(&issued),
        bls.clone(),
        acls.clone(),
    ]
    .into();
    let seen = employer_view(&net, &certificate_id, &certificate_subject);
    for other in &others {
        assert!(
            !seen.contains(other.as_str()),
            "the employer found {other} from the certificate"
        );
    }
    assert!(seen.contains(&certificate_id));

    // Erasure: the glucose result is granted to the board, then its content erased.
    // Its ciphertext and both sealed keys must leave every node's files.
    let granted = net.tx(
        0,
        &intern_k,
        &[
            "grant-access",
            "--credential",
            id,
            "--grantee",
            &board,
            "--days",
            "30",
        ],
    );
    let glucose_grant = granted["grant"].as_str().unwrap().to_string();
    // A transaction's sealed values are served to its parties only (signed reads);
    // anyone else reads it erased, with the same hash.
    let read_tx = |tx: Option<serde_json::Value>| -> mpms_ledger::SignedTransaction {
        let tx = tx.unwrap();
        mpms_ledger::codec::decode(&hex::decode(tx["transaction_bytes"].as_str().unwrap()).unwrap())
            .unwrap()
    };
    let hospital_signing = common::Net::signing_key(&hospital_key);
    let board_signing = common::Net::signing_key(&board_key);
    let committed_tx = |hash: &str| {
        read_tx(net.get_signed(0, &format!("/v1/transactions/{hash}"), &hospital_signing))
    };
    let issuing = committed_tx(issued["issued_tx"].as_str().unwrap());
    let public = read_tx(net.get(
        0,
        &format!("/v1/transactions/{}", issued["issued_tx"].as_str().unwrap()),
    ));
    assert_eq!(public.hash(), issuing.hash());
    assert!(public.tx.payload.any_erased() && !issuing.tx.payload.any_erased());
    let mpms_ledger::Payload::IssueCredential(issuance) = &issuing.tx.payload else {
        panic!("an issuance")
    };
    let grant_record = net.get(0, &format!("/v1/grants/{glucose_grant}")).unwrap();
    let granting = read_tx(net.get_signed(
        0,
        &format!(
            "/v1/transactions/{}",
            grant_record["granted_tx"].as_str().unwrap()
        ),
        &board_signing,
    ));
    let mpms_ledger::Payload::GrantAccess { sealed_key, .. } = &granting.tx.payload else {
        panic!("a grant")
    };
    // A stretch of each: the content's ciphertext, the key sealed to the patient,
    // the key sealed to the board.
    let erased_bytes: Vec<Vec<u8>> = vec![
        issuance.content.get().unwrap().ciphertext[..48].to_vec(),
        issuance.subject_key.get().unwrap().ciphertext[..32].to_vec(),
        sealed_key.get().unwrap().ciphertext[..32].to_vec(),
    ];
    let issuing_hash = issuing.hash();
    std::fs::copy(net.genesis(), patient_dir.join("genesis.json")).unwrap();
    let erase_env = [
        ("NODE", net.nodes[1].api.as_str()),
        ("CREDENTIAL", id),
        ("MPMS_KEYSTORE_PASSWORD", "test password 1234"),
    ];
    let out = common::run_shell(&patient_dir, &patient_blocks[5], &erase_env);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("content erased")
            && text(&out).contains("VALID (signature and chain only"),
        "{}",
        text(&out)
    );
    // The chain keeps the claim, its commitment and the transaction, hash unchanged.
    let after = committed_tx(&issuing_hash.to_string());
    assert_eq!(after.hash(), issuing_hash);
    let mpms_ledger::Payload::IssueCredential(kept) = &after.tx.payload else {
        panic!("an issuance")
    };
    assert!(kept.content.is_erased() && kept.subject_key.is_erased());
    assert_eq!(kept.claim, issuance.claim);
    // The board can no longer open it; nobody can grant it again.
    let opened = net.cli(&[
        "credential",
        "open",
        "--node",
        &net.nodes[2].api,
        "--key",
        board_key.to_str().unwrap(),
        "--grant",
        &glucose_grant,
    ]);
    assert!(!opened.status.success());
    assert!(text(&opened).contains("erased"), "{}", text(&opened));
    let regrant = net.tx_result(
        0,
        &intern_k,
        &["grant-access", "--credential", id, "--grantee", &board],
    );
    assert!(!regrant.status.success());

    // No personal data in plaintext on chain.
    for i in 1..=net.height(0).unwrap() {
        let block = net.get(0, &format!("/v1/blocks/{i}")).unwrap();
        for hash in block["transactions"].as_array().unwrap() {
            let tx = net
                .get(0, &format!("/v1/transactions/{}", hash.as_str().unwrap()))
                .unwrap();
            let bytes = hex::decode(tx["transaction_bytes"].as_str().unwrap()).unwrap();
            // Names, and the lab result's test and value, never in plaintext.
            for personal in ["Amina", "Jane Roe", "Glucose", "2339-0"] {
                assert!(!tx.to_string().contains(personal), "{personal}");
                assert!(
                    !bytes
                        .windows(personal.len())
                        .any(|w| w == personal.as_bytes()),
                    "{personal}"
                );
            }
        }
    }

    // Every public byte about the patient: what a reader with no signature gets from
    // every route and transaction that names the patient's entries, their entry
    // keys, its grants or its account, field by field. Each field must be listed in
    // docs/PATIENTS.md's table of public fields, and none shows a name, a value or a
    // sealed key.
    let public = public_about(
        &net,
        &[id.to_string(), certificate_id.clone()],
        &[
            glucose_subject_of(&issued),
            certificate_subject.clone(),
            intern.clone(),
        ],
        std::slice::from_ref(&glucose_grant),
    );
    let table = common::doc_table("PATIENTS.md", "## Every public field");
    let listed = |source: &str, path: &str| {
        table.iter().any(|row| {
            row[0].trim_matches('`') == source
                && row[1].split(", ").any(|field| {
                    let field = field.trim_matches('`');
                    path == field || path.starts_with(&format!("{field}."))
                })
        })
    };
    let unlisted: Vec<String> = public
        .iter()
        .filter(|(source, path, _)| !listed(source, path))
        .map(|(source, path, value)| format!("{source} {path} = {value}"))
        .collect();
    assert!(
        unlisted.is_empty(),
        "public fields missing from PATIENTS.md:\n{}",
        unlisted.join("\n")
    );
    for (source, path, value) in &public {
        for personal in [
            "Heuvel",
            "1961-03-14",
            "15074-8",
            "myocardial",
            "Sick leave",
            "cardiolog",
        ] {
            assert!(
                !value.contains(personal),
                "{source} {path} shows {personal}"
            );
        }
    }
    let mut sources: Vec<&str> = public.iter().map(|(s, _, _)| s.as_str()).collect();
    sources.dedup();
    println!(
        "public about the patient: {} fields from {} routes, each in PATIENTS.md's table",
        public.len(),
        sources.len()
    );
    let mut fields: Vec<(&str, &str, &str)> = public
        .iter()
        .map(|(s, p, v)| (s.as_str(), p.as_str(), v.as_str()))
        .collect();
    fields.dedup_by(|a, b| a.0 == b.0 && a.1 == b.1);
    for (source, path, value) in fields {
        let shown: String = value.chars().take(40).collect();
        println!("  {source} {path} (e.g. {shown})");
    }

    // The board asks, the intern grants, the board decrypts and verifies.
    let request = net.tx(
        2,
        &board_k,
        &[
            "request-access",
            "--subject",
            &intern,
            "--credential",
            &acls,
            "--purpose",
            "licensing",
        ],
    );
    let request = request["request"].as_str().unwrap().to_string();
    let grant = net.tx(
        0,
        &intern_k,
        &[
            "grant-access",
            "--credential",
            &acls,
            "--grantee",
            &board,
            "--request",
            &request,
        ],
    );
    let grant = grant["grant"].as_str().unwrap().to_string();
    let open = |node: usize| {
        net.cli(&[
            "credential",
            "open",
            "--node",
            &net.nodes[node].api,
            "--grant",
            &grant,
            "--key",
            board_key.to_str().unwrap(),
        ])
    };
    let opened = open(3);
    assert!(opened.status.success(), "{}", text(&opened));
    let opened = String::from_utf8_lossy(&opened.stdout).to_string();
    assert!(opened.contains("Dr. Amina Okafor"), "{opened}");
    assert!(opened.contains("\"valid\""), "{opened}");
    // The board records its inspection on chain.
    net.tx(2, &board_k, &["record-inspection", "--grant", &grant]);
    // Its outcome is sealed to the intern: the grant's public record shows none of it,
    // the intern's key opens it.
    let recorded = net.get(0, &format!("/v1/grants/{grant}")).unwrap();
    assert!(!recorded.to_string().contains("Verified"), "{recorded}");
    let sealed: mpms_crypto::SignerSealed =
        serde_json::from_value(recorded["inspections"][0]["outcome"].clone()).unwrap();
    let grant_id: mpms_crypto::Hash = grant.parse().unwrap();
    assert_eq!(
        mpms_ledger::notes::open_outcome(&intern_signing, &grant_id, &sealed).unwrap(),
        mpms_ledger::transaction::InspectionOutcome::Verified
    );
    // The intern's key opens nothing granted to the board.
    let wrong = net.cli(&[
        "credential",
        "open",
        "--node",
        &net.nodes[0].api,
        "--grant",
        &grant,
        "--key",
        intern_key.to_str().unwrap(),
    ]);
    assert!(!wrong.status.success());
    // The intern revokes the grant: the board can no longer open it.
    net.tx(0, &intern_k, &["revoke-grant", "--grant", &grant]);
    let after = open(1);
    assert!(!after.status.success());
    assert!(text(&after).contains("revoked"), "{}", text(&after));
    // The intern's audit trail: the board's request, the grant, the board's
    // inspection and the revocation, in order, with heights and times.
    let audit = net.cli(&[
        "query",
        "--node",
        &net.nodes[2].api,
        "--key",
        intern_key.to_str().unwrap(),
        "audit",
        "--subject",
        &intern,
    ]);
    assert!(audit.status.success(), "{}", text(&audit));
    let audit: serde_json::Value = serde_json::from_slice(&audit.stdout).unwrap();
    let events: Vec<&str> = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    // The licensing, on the intern's account. The glucose result's grant (since
    // erased) is in the trail of the entry key it was issued to, which names neither
    // the account nor anything else of it.
    assert_eq!(
        events,
        ["request", "grant", "inspection", "grant-revoked"],
        "{audit}"
    );
    // The request's purpose is sealed to the intern: the trail shows none of it, the
    // intern's key opens it.
    assert!(!audit.to_string().contains("licensing"), "{audit}");
    let purpose: mpms_crypto::SignerSealed =
        serde_json::from_value(audit["events"][0]["purpose"].clone()).unwrap();
    let requester: mpms_crypto::PublicKey = board.parse().unwrap();
    assert_eq!(
        mpms_ledger::notes::open_purpose(&intern_signing, &requester, &purpose).unwrap(),
        "licensing"
    );
    // The trail pages with a cursor: one request or grant a page, in the order they
    // were made, each grant with its later events.
    let first = net
        .get_signed(
            2,
            &format!("/v1/subjects/{intern}/audit?limit=1"),
            &intern_signing,
        )
        .unwrap();
    assert_eq!(first["events"][0]["event"], "request", "{first}");
    assert_eq!(first["truncated"], true, "{first}");
    let next = first["next"].as_str().unwrap();
    let second = net
        .get_signed(
            2,
            &format!("/v1/subjects/{intern}/audit?limit=1&after={next}"),
            &intern_signing,
        )
        .unwrap();
    let paged: Vec<&str> = second["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(paged, ["grant", "inspection", "grant-revoked"], "{second}");
    assert!(second.get("next").is_none(), "{second}");
    assert!(net
        .get_signed(
            2,
            &format!("/v1/subjects/{intern}/audit?after=00"),
            &intern_signing
        )
        .is_none());
    // Unsigned, the trail is refused; signed by the board, it is the board's own
    // events; signed by a party that never asked, it is empty.
    assert!(net
        .get(2, &format!("/v1/subjects/{intern}/audit"))
        .is_none());
    let as_board = net
        .get_signed(2, &format!("/v1/subjects/{intern}/audit"), &board_signing)
        .unwrap();
    assert_eq!(as_board["events"], audit["events"], "{as_board}");
    let as_hospital = net
        .get_signed(
            2,
            &format!("/v1/subjects/{intern}/audit"),
            &hospital_signing,
        )
        .unwrap();
    assert_eq!(
        as_hospital["events"],
        serde_json::json!([]),
        "{as_hospital}"
    );
    let glucose_subject = issued["claim"]["subject"].as_str().unwrap();
    assert_ne!(glucose_subject, intern);
    // The entry's trail, read with its entry key.
    let entry_audit = net
        .get_signed(
            2,
            &format!("/v1/subjects/{glucose_subject}/audit"),
            &glucose_signing,
        )
        .unwrap();
    let entry_events: Vec<&str> = entry_audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(entry_events, ["grant"], "{entry_audit}");
    assert!(!entry_audit.to_string().contains(&intern), "{entry_audit}");
    for event in audit["events"].as_array().unwrap() {
        assert!(event["height"].as_u64().unwrap() > 0, "{event}");
        assert!(event["time_ms"].as_u64().unwrap() > 0, "{event}");
        assert_eq!(
            event["grantee"].as_str().unwrap_or(&board),
            board,
            "{event}"
        );
    }
    // The wallet shows it.
    let resynced = net.cli(&[
        "wallet",
        "sync",
        "--node",
        &net.nodes[1].api,
        "--key",
        intern_key.to_str().unwrap(),
        "--wallet",
        wallet.to_str().unwrap(),
    ]);
    assert!(resynced.status.success(), "{}", text(&resynced));
    let shown = net.cli(&["wallet", "show", "--wallet", wallet.to_str().unwrap()]);
    let shown = String::from_utf8_lossy(&shown.stdout).to_string();
    assert!(shown.contains("Access to your credentials:"), "{shown}");
    assert!(
        shown.contains("inspected") && shown.contains("you revoked"),
        "{shown}"
    );
    // A verifier takes the basic credential's proof bundle from one node while it is
    // valid; `mpmsd verify` checks it with only the genesis file. A node's bundle
    // carries no content: the verifier accepts a check of signature and chain only.
    let bundle_path = net.dir.path().join("bls-bundle.json");
    let bundle = net
        .get(2, &format!("/v1/credentials/{bls}/bundle"))
        .unwrap();
    std::fs::write(&bundle_path, bundle.to_string()).unwrap();
    let genesis = net.genesis();
    let verify = |extra: &[&str]| {
        let mut args = vec![
            "verify",
            bundle_path.to_str().unwrap(),
            "--genesis",
            genesis.to_str().unwrap(),
            "--accept-partial",
        ];
        args.extend_from_slice(extra);
        net.cli(&args)
    };
    let checked = verify(&[]);
    assert!(checked.status.success(), "{}", text(&checked));
    assert!(
        text(&checked).contains("VALID (signature and chain only"),
        "{}",
        text(&checked)
    );
    let whole = net.cli(&[
        "verify",
        bundle_path.to_str().unwrap(),
        "--genesis",
        genesis.to_str().unwrap(),
    ]);
    assert!(!whole.status.success(), "{}", text(&whole));
    assert!(
        text(&whole).contains("verification failed: content commitment"),
        "{}",
        text(&whole)
    );
    // The hospital revokes the basic credential.
    net.tx(
        1,
        &hospital_k,
        &[
            "revoke-credential",
            "--credential",
            &bls,
            "--reason",
            "issued in error",
        ],
    );
    let status = net.get(2, &format!("/v1/credentials/{bls}")).unwrap();
    assert!(status["status"].to_string().contains("Revoked"), "{status}");
    // The bundle taken before still checks (as of its height, which it names); with
    // --node the newer status proof of another node shows the revocation.
    let stale = verify(&[]);
    assert!(stale.status.success(), "{}", text(&stale));
    let refreshed = verify(&["--node", &net.nodes[3].api]);
    assert!(!refreshed.status.success(), "{}", text(&refreshed));
    assert!(
        text(&refreshed).contains("verification failed: status")
            && text(&refreshed).contains("revoked at height"),
        "{}",
        text(&refreshed)
    );
    // An inclusion proof is served for the advanced credential.
    let proof = net
        .get(3, &format!("/v1/credentials/{acls}/proof"))
        .unwrap();
    assert!(proof["certificate"]["signatures"].as_array().unwrap().len() >= 3);

    // The hospital's diplomas are shown forged: governance revokes every credential
    // it issued. The advanced credential's bundle, valid a moment ago, now fails
    // against any node, which shows it revoked.
    let proposed = net.tx(
        0,
        &v0,
        &[
            "propose",
            "revoke-certifier-credentials",
            "--certifier",
            &hospital,
            "--reason",
            "diplomas shown forged",
        ],
    );
    let proposal = proposed["proposal"]
        .as_u64()
        .expect("proposal id")
        .to_string();
    net.tx(1, &v1, &["vote", "--proposal", &proposal]);
    net.tx(2, &v2, &["vote", "--proposal", &proposal]);
    let shown = net.get(3, &format!("/v1/credentials/{acls}")).unwrap();
    assert!(
        shown["status"]
            .to_string()
            .contains("revoked by governance"),
        "{shown}"
    );
    let revoked = net.cli(&[
        "verify",
        bundle_out.to_str().unwrap(),
        "--genesis",
        genesis_path.to_str().unwrap(),
        "--node",
        &net.nodes[2].api,
    ]);
    assert!(!revoked.status.success(), "{}", text(&revoked));
    assert!(
        text(&revoked).contains("verification failed: status")
            && text(&revoked).contains("diplomas shown forged"),
        "{}",
        text(&revoked)
    );
    // The certifier's status list says so to generic verifiers too (once the node
    // that publishes it has committed the vote's block).
    let mut listed = common::w3c_status_revoked(&jwt);
    for _ in 0..20 {
        if listed == Ok(true) {
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
        listed = common::w3c_status_revoked(&jwt);
    }
    assert_eq!(listed, Ok(true));

    // Validator 3 is killed, and its data lost: the chain keeps finalizing with
    // three of four.
    net.kill(3);
    std::fs::remove_dir_all(net.nodes[3].home.join("data")).unwrap();
    let before = net.height(0).unwrap();
    let (late_key, _) = net.account("late");
    net.tx(
        0,
        &["--key", late_key.to_str().unwrap()],
        &["register-subject"],
    );
    net.wait_height(&[0, 1, 2], before + 2, MINUTE);
    // Restarted from genesis, it catches up: every block it is served since the
    // erasure holds the erased transactions, and verifies.
    net.start(3);
    let target = net.height(0).unwrap();
    net.wait_height(&[3], target, MINUTE);
    let common_height = (0..4).map(|i| net.height(i).unwrap()).min().unwrap();
    net.assert_identical(&[0, 1, 2, 3], common_height);
    for i in 0..4 {
        net.stop(i);
    }

    // Privacy: every gossip message heard, every file the nodes wrote, and every
    // entry of their stores (read back decompressed) is free of the personal data.
    recorder.abort();
    drop(network);
    let heard = heard.lock().unwrap();
    let topics: std::collections::BTreeSet<String> =
        heard.iter().map(|(t, _)| format!("{t:?}")).collect();
    assert!(
        topics.len() >= 2 && heard.len() > 50,
        "heard {} messages on {topics:?}",
        heard.len()
    );
    let leaks = |bytes: &[u8]| {
        personal
            .iter()
            .find(|p| bytes.windows(p.len()).any(|w| w == p.as_bytes()))
            .copied()
    };
    // The scan finds what it looks for where it is in plaintext.
    assert!(leaks(&std::fs::read(&diploma).unwrap()).is_some());
    for (topic, data) in heard.iter() {
        assert_eq!(leaks(data), None, "a {topic:?} gossip message");
    }
    let mut files = 0;
    let mut entries = 0;
    for node in &net.nodes[..4] {
        let mut dirs = vec![node.home.clone()];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    dirs.push(path);
                } else {
                    files += 1;
                    let bytes = std::fs::read(&path).unwrap();
                    assert_eq!(leaks(&bytes), None, "{}", path.display());
                    for erased in &erased_bytes {
                        assert!(
                            !bytes.windows(erased.len()).any(|w| w == erased),
                            "erased bytes in {}",
                            path.display()
                        );
                    }
                }
            }
        }
        let store = mpms_store::RocksStore::open(
            &node.home.join("data"),
            &mpms_store::RocksOptions::default(),
        )
        .unwrap();
        store
            .for_each_entry(|family, key, value| {
                entries += 1;
                assert_eq!(leaks(key), None, "a key in {family}");
                assert_eq!(leaks(value), None, "a value in {family}");
                for erased in &erased_bytes {
                    assert!(
                        !value.windows(erased.len()).any(|w| w == erased),
                        "erased bytes in a value in {family}"
                    );
                }
            })
            .unwrap();
    }
    assert!(
        files > 40 && entries > 1_000,
        "{files} files, {entries} entries"
    );
    println!(
        "privacy: {} gossip messages on {topics:?}, {files} files and {entries} store entries of 4 nodes scanned: no personal data",
        heard.len()
    );
}

/// The subject a credential record names.
fn glucose_subject_of(record: &serde_json::Value) -> String {
    record["claim"]["subject"].as_str().unwrap().to_string()
}

/// Every public byte about a patient: the leaves of what a reader with no signature
/// gets from each route naming one of the patient's `credentials`, `subjects` (its
/// entry keys and its account) or `grants`, and from each committed transaction
/// naming one of them, as (route, field path, value); array items share their
/// array's path.
fn public_about(
    net: &common::Net,
    credentials: &[String],
    subjects: &[String],
    grants: &[String],
) -> Vec<(String, String, String)> {
    fn leaves(
        source: &str,
        path: &str,
        value: &serde_json::Value,
        out: &mut Vec<(String, String, String)>,
    ) {
        let join = |key: &str| {
            if path.is_empty() {
                key.to_string()
            } else {
                format!("{path}.{key}")
            }
        };
        match value {
            serde_json::Value::Object(map) => {
                for (key, value) in map {
                    leaves(source, &join(key), value, out);
                }
            }
            serde_json::Value::Array(items) => {
                for item in items {
                    leaves(source, path, item, out);
                }
            }
            leaf => out.push((source.to_string(), path.to_string(), leaf.to_string())),
        }
    }
    let mut out = Vec::new();
    let read = |source: &str, path: String, out: &mut Vec<(String, String, String)>| {
        if let Some(value) = net.get(1, &path) {
            leaves(source, "", &value, out);
        }
    };
    for id in credentials {
        read(
            "GET /v1/credentials/{id}",
            format!("/v1/credentials/{id}"),
            &mut out,
        );
        read(
            "GET /v1/credentials/{id}/bundle",
            format!("/v1/credentials/{id}/bundle"),
            &mut out,
        );
        read(
            "GET /v1/credentials/{id}/status-proof",
            format!("/v1/credentials/{id}/status-proof"),
            &mut out,
        );
        read(
            "GET /v1/credentials/{id}/proof",
            format!("/v1/credentials/{id}/proof"),
            &mut out,
        );
    }
    for subject in subjects {
        read(
            "GET /v1/subjects/{id}",
            format!("/v1/subjects/{subject}"),
            &mut out,
        );
        read(
            "GET /v1/accounts/{id}",
            format!("/v1/accounts/{subject}"),
            &mut out,
        );
        // Refused without the subject's signature: nothing is read.
        assert!(net
            .get(1, &format!("/v1/subjects/{subject}/credentials"))
            .is_none());
        assert!(net
            .get(1, &format!("/v1/subjects/{subject}/audit"))
            .is_none());
    }
    for grant in grants {
        read(
            "GET /v1/grants/{id}",
            format!("/v1/grants/{grant}"),
            &mut out,
        );
    }
    let issuances = net.get(1, "/v1/issuances?from_height=1").unwrap();
    for note in issuances["issuances"].as_array().unwrap() {
        if credentials
            .iter()
            .any(|c| note["credential"].as_str() == Some(c))
        {
            leaves("GET /v1/issuances", "issuances", note, &mut out);
        }
    }
    for h in 1..=net.height(1).unwrap() {
        let block = net.get(1, &format!("/v1/blocks/{h}")).unwrap();
        for hash in block["transactions"].as_array().unwrap() {
            let tx = net
                .get(1, &format!("/v1/transactions/{}", hash.as_str().unwrap()))
                .unwrap();
            let text = tx.to_string();
            let names = |ids: &[String]| ids.iter().any(|i| text.contains(i.as_str()));
            if names(credentials) || names(subjects) || names(grants) {
                leaves("GET /v1/transactions/{hash}", "", &tx, &mut out);
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// Everything an employer holding certificate `id` (issued to `subject`) reads
/// about it: the public routes that take the certificate, its subject or what they
/// name, and every transaction of every block that names either (what its own full
/// node would receive by gossip and sync), as one text.
fn employer_view(net: &common::Net, id: &str, subject: &str) -> String {
    let mut seen = String::new();
    let mut read = |path: String| {
        if let Some(value) = net.get(1, &path) {
            seen.push_str(&value.to_string());
            seen.push('\n');
        }
    };
    for path in [
        format!("/v1/credentials/{id}"),
        format!("/v1/credentials/{id}/bundle"),
        format!("/v1/credentials/{id}/status-proof"),
        format!("/v1/credentials/{id}/proof"),
        format!("/v1/subjects/{subject}"),
        format!("/v1/subjects/{subject}/credentials"),
        format!("/v1/subjects/{subject}/audit"),
        format!("/v1/accounts/{subject}"),
    ] {
        read(path);
    }
    let height = net.height(1).unwrap();
    let mut naming = 0;
    for h in 1..=height {
        let block = net.get(1, &format!("/v1/blocks/{h}")).unwrap();
        for hash in block["transactions"].as_array().unwrap() {
            let tx = net
                .get(1, &format!("/v1/transactions/{}", hash.as_str().unwrap()))
                .unwrap();
            let text = tx["transaction"].to_string();
            if text.contains(subject) || text.contains(id) {
                naming += 1;
                seen.push_str(&text);
                seen.push('\n');
            }
        }
    }
    // The certificate's issuance at least.
    assert!(naming >= 1);
    seen
}
