//! Proof bundles built from a certified chain verify offline, and each single
//! tampering is caught by the check it concerns.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use mpms_crypto::Hash;
use mpms_ledger::credential::CredentialContent;
use mpms_ledger::testkit::TestChain;
use mpms_ledger::transaction::GovernanceAction;
use mpms_ledger::Payload;
use mpms_light::bundle::{build_bundle, build_status};
use mpms_light::testkit::CertifiedChain;
use mpms_light::verify::{select_status, verify_bundle, Outcome, Scope, StatusCandidate};
use mpms_light::{Anchor, CheckName, Policy, ProofBundle, Verdict};

const SCHEMA: &str = "med.cardiology.ecg";

struct Fixture {
    chain: CertifiedChain,
    id: Hash,
    content: CredentialContent,
}

/// A credential issued in a block of three, then two changes of the authority set
/// (two consensus-key rotations), then a few more blocks.
fn fixture() -> Fixture {
    let mut chain = CertifiedChain::new(TestChain::new(4, 31));
    let subjects: Vec<_> = (1..=3).map(|i| chain.chain.register_subject(i)).collect();
    chain.commit(&subjects);
    let schema = chain.tx(
        &chain.chain.certifier.clone(),
        0,
        chain.chain.register_schema(0, SCHEMA).tx.payload,
    );
    chain.commit(&[schema]);
    let certifier = chain.chain.certifier.clone();
    let issues: Vec<_> = (1..=3u64)
        .map(|i| {
            let payload = chain.chain.issue(0, SCHEMA, i, 100 + i).tx.payload;
            chain.tx(&certifier, i - 1, payload)
        })
        .collect();
    let block = chain.commit(&issues);
    let mpms_ledger::Payload::IssueCredential(issuance) = &block.transactions[1].tx.payload else {
        panic!("an issuance")
    };
    let id = issuance.claim.id();
    chain.rotate_consensus_key(3);
    chain.commit(&[]);
    chain.rotate_consensus_key(2);
    chain.commit(&[]);
    let content = chain.chain.content(2, 102);
    Fixture { chain, id, content }
}

fn anchor(f: &Fixture) -> Anchor {
    Anchor::from_genesis(&f.chain.chain.genesis).unwrap()
}

fn now(f: &Fixture) -> u64 {
    f.chain.last.time_ms + 60_000
}

fn bundle(f: &Fixture) -> ProofBundle {
    let mut b = build_bundle(&f.chain.store, &f.chain.chain.genesis, &f.id).unwrap();
    b.content = Some(f.content.clone());
    b
}

fn verdict(f: &Fixture, b: &ProofBundle) -> Verdict {
    verify_bundle(b, &anchor(f), None, now(f), &Policy::strict())
}

/// Any age of status accepted, the rest strict.
fn any_age() -> Policy {
    Policy {
        max_age_ms: None,
        ..Policy::strict()
    }
}

/// The bundle fails, and the first failed check is `name`.
fn fails_at(f: &Fixture, b: &ProofBundle, name: CheckName) -> String {
    let v = verdict(f, b);
    let failed = v
        .first_failure()
        .unwrap_or_else(|| panic!("passed: {v:#?}"));
    assert_eq!(failed.name, name, "{v:#?}");
    match &failed.outcome {
        Outcome::Failed(why) => why.clone(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn an_untampered_bundle_passes_every_check() {
    let f = fixture();
    let b = bundle(&f);
    assert_eq!(b.status.authority_changes.len(), 2);
    assert!(b.issued.header.height < b.status.authority_changes[0].block.header.height);
    let v = verdict(&f, &b);
    assert!(v.passed(), "{v:#?}");
    for check in &v.checks {
        assert!(matches!(check.outcome, Outcome::Passed(_)), "{check:?}");
    }
    assert_eq!(v.status_height, f.chain.last.height);
    assert_eq!(v.status_age_ms, 60_000);
    assert_eq!(v.scope, Scope::Full);
    assert_eq!(v.freshness.age_ms, 60_000);
    // JSON round trip: the file form checks the same.
    let text = serde_json::to_string(&b).unwrap();
    let back = ProofBundle::from_json(&text).unwrap();
    assert!(verdict(&f, &back).passed());
    // Without content the verdict is "signature and chain only": not VALID unless
    // the caller accepts a partial check. (It used to pass as VALID.)
    let mut bare = b.clone();
    bare.content = None;
    let why = fails_at(&f, &bare, CheckName::ContentCommitment);
    assert!(why.contains("signature and chain only"), "{why}");
    let partial = Policy {
        accept_partial: true,
        ..Policy::strict()
    };
    let v = verify_bundle(&bare, &anchor(&f), None, now(&f), &partial);
    assert!(v.passed(), "{v:#?}");
    assert_eq!(v.scope, Scope::SignatureAndChainOnly);
    assert!(matches!(
        v.outcome(CheckName::ContentCommitment),
        Some(Outcome::Skipped(_))
    ));
}

#[test]
fn one_byte_of_content_is_caught() {
    let f = fixture();
    let mut b = bundle(&f);
    b.content.as_mut().unwrap().holder_name.push('x');
    fails_at(&f, &b, CheckName::ContentCommitment);
    // Content given by the verifier takes precedence over the bundle's.
    let mut content = f.content.clone();
    content.salt[0] ^= 1;
    let v = verify_bundle(
        &bundle(&f),
        &anchor(&f),
        Some(&content),
        now(&f),
        &Policy::strict(),
    );
    assert_eq!(
        v.first_failure().unwrap().name,
        CheckName::ContentCommitment
    );
}

#[test]
fn a_changed_merkle_proof_is_caught() {
    let f = fixture();
    let mut b = bundle(&f);
    b.tx_proof.siblings[0] = Hash::digest(b"forged");
    fails_at(&f, &b, CheckName::Inclusion);
    let mut b = bundle(&f);
    b.tx_proof.index = 0;
    fails_at(&f, &b, CheckName::Inclusion);
}

#[test]
fn a_changed_header_is_caught() {
    let f = fixture();
    let mut b = bundle(&f);
    b.issued.header.time_ms += 1;
    fails_at(&f, &b, CheckName::CertificateQuorum);
    let mut b = bundle(&f);
    b.status.at.header.state_root = Hash::digest(b"forged");
    fails_at(&f, &b, CheckName::CertificateQuorum);
}

#[test]
fn a_changed_certificate_is_caught() {
    let f = fixture();
    let mut b = bundle(&f);
    let other = b.status.at.certificate.signatures[0].signature;
    b.issued.certificate.signatures[0].signature = other;
    let why = fails_at(&f, &b, CheckName::CertificateQuorum);
    assert!(why.contains("invalid signature"), "{why}");
}

#[test]
fn a_signature_removed_from_the_quorum_is_caught() {
    let f = fixture();
    let mut b = bundle(&f);
    b.issued.certificate.signatures.pop();
    let why = fails_at(&f, &b, CheckName::CertificateQuorum);
    assert!(why.contains("need more than 2/3"), "{why}");
    // The same in a certificate of the chain of authority sets.
    let mut b = bundle(&f);
    b.status.authority_changes[1]
        .block
        .certificate
        .signatures
        .pop();
    fails_at(&f, &b, CheckName::AuthoritySetChain);
}

#[test]
fn a_swapped_authority_set_is_caught() {
    let f = fixture();
    let mut b = bundle(&f);
    let first = b.status.authority_changes[0].next_set.clone();
    b.status.authority_changes[1].next_set = first;
    fails_at(&f, &b, CheckName::AuthoritySetChain);
    // A change left out: the status block names a set the verifier does not hold.
    let mut b = bundle(&f);
    b.status.authority_changes.remove(1);
    let why = fails_at(&f, &b, CheckName::CertificateQuorum);
    assert!(why.contains("names authority set"), "{why}");
    // Another genesis is another chain.
    let other = TestChain::new(4, 32);
    let v = verify_bundle(
        &bundle(&f),
        &Anchor::from_genesis(&other.genesis).unwrap(),
        None,
        now(&f),
        &Policy::strict(),
    );
    assert_eq!(v.first_failure().unwrap().name, CheckName::Anchor);
}

#[test]
fn a_forged_state_proof_is_caught() {
    let f = fixture();
    let mut b = bundle(&f);
    let proof = &mut b.status.credential.proof;
    let last = proof.len() - 1;
    proof[last] ^= 1;
    fails_at(&f, &b, CheckName::Status);
    // A proof of another key (another credential's record) is refused.
    let mut b = bundle(&f);
    let other_key = mpms_ledger::records::keys::credential(&Hash::digest(b"other"));
    b.status.credential =
        mpms_ledger::state::tree::prove(&f.chain.store, f.chain.last.height, &other_key).unwrap();
    fails_at(&f, &b, CheckName::Status);
    // The certifier's record swapped for a proof that it does not exist.
    let mut b = bundle(&f);
    b.status.certifier.value = None;
    fails_at(&f, &b, CheckName::CertifierAccredited);
}

#[test]
fn a_claim_signature_is_checked_with_the_certifiers_key() {
    let f = fixture();
    let mut b = bundle(&f);
    let Payload::IssueCredential(issuance) = &mut b.transaction.tx.payload else {
        unreachable!()
    };
    issuance.certifier_signature = f.chain.chain.operators[0].sign(
        f.chain.chain.chain_id(),
        mpms_crypto::Domain::CredentialClaim,
        &mpms_ledger::codec::encode(&issuance.claim),
    );
    // The transaction no longer hashes to the included one.
    fails_at(&f, &b, CheckName::Inclusion);
}

#[test]
fn an_old_status_hides_a_revocation_until_refreshed() {
    let mut f = fixture();
    let old = bundle(&f);
    let certifier = f.chain.chain.certifier.clone();
    let revoke = f.chain.tx(
        &certifier,
        0,
        Payload::RevokeCredential {
            credential: f.id,
            reason: "issued in error".into(),
        },
    );
    let revoked_at = f.chain.commit(&[revoke]).header.height;
    f.chain.commit(&[]);
    // The old bundle still says active, and says as of which height.
    let v = verdict(&f, &old);
    assert!(v.passed(), "{v:#?}");
    assert_eq!(v.status_height, revoked_at - 1);
    let Some(Outcome::Passed(status)) = v.outcome(CheckName::Status) else {
        panic!()
    };
    assert!(
        status.contains(&format!("as of height {}", revoked_at - 1)),
        "{status}"
    );
    // A fresh status proof from any node finds the revocation: of the statuses
    // several nodes serve, the highest certified one is taken.
    let candidates = vec![
        StatusCandidate {
            source: "a node that keeps old state".into(),
            status: old.status.clone(),
        },
        StatusCandidate {
            source: "a node at the tip".into(),
            status: build_status(&f.chain.store, &f.id).unwrap(),
        },
    ];
    let (fresh, notes) = select_status(&anchor(&f), &f.id, candidates).unwrap();
    assert!(
        notes
            .iter()
            .any(|n| n.contains("using the status of a node at the tip")),
        "{notes:?}"
    );
    let mut refreshed = old.clone();
    refreshed.status = fresh;
    let why = fails_at(&f, &refreshed, CheckName::Status);
    assert!(
        why.contains(&format!("revoked at height {revoked_at}")),
        "{why}"
    );
    // A status whose block is not certified from the anchor is refused, and does not
    // win for being higher.
    let mut forged = build_status(&f.chain.store, &f.id).unwrap();
    forged.at.header.height += 5;
    let candidates = vec![
        StatusCandidate {
            source: "the bundle".into(),
            status: old.status.clone(),
        },
        StatusCandidate {
            source: "a forger".into(),
            status: forged,
        },
    ];
    let (chosen, notes) = select_status(&anchor(&f), &f.id, candidates).unwrap();
    assert_eq!(chosen, old.status);
    assert!(
        notes.iter().any(|n| n.starts_with("a forger: refused")),
        "{notes:?}"
    );
}

/// A status older than the policy allows fails the status check, however valid it
/// was then: a node that keeps old state would hide a revocation. The verdict says
/// how fresh its status was; only a caller that opts in accepts any age. (Any past
/// height used to pass.)
#[test]
fn a_status_older_than_the_max_age_fails() {
    let f = fixture();
    let b = bundle(&f);
    let at = b.status.at.header.time_ms;
    let late = at + mpms_light::verify::DEFAULT_MAX_AGE_MS + 1;
    let v = verify_bundle(&b, &anchor(&f), None, late, &Policy::strict());
    assert_eq!(v.first_failure().unwrap().name, CheckName::Status, "{v:#?}");
    let Some(Outcome::Failed(why)) = v.outcome(CheckName::Status) else {
        panic!()
    };
    assert!(why.contains("old: more than the 10 min allowed"), "{why}");
    let v = verify_bundle(&b, &anchor(&f), None, late, &any_age());
    assert!(v.passed(), "{v:#?}");
    assert_eq!(v.freshness.age_ms, late - at);
    assert_eq!(v.freshness.max_age_ms, None);
    // A status timed ahead of the verifier's clock is refused too.
    let early = at - mpms_light::verify::MAX_STATUS_AHEAD_MS - 1;
    let v = verify_bundle(&b, &anchor(&f), None, early, &any_age());
    assert_eq!(v.first_failure().unwrap().name, CheckName::Status, "{v:#?}");
}

#[test]
fn expiry_is_judged_now_not_only_at_the_status_height() {
    let f = fixture();
    let b = bundle(&f);
    let Payload::IssueCredential(issuance) = &b.transaction.tx.payload else {
        unreachable!()
    };
    let until = issuance.claim.valid_until_ms;
    // Active at H, still within its dates: valid.
    assert!(verify_bundle(&b, &anchor(&f), None, until - 1, &any_age()).passed());
    // The same bundle checked after the credential's end: the status fails.
    let v = verify_bundle(&b, &anchor(&f), None, until, &any_age());
    let failed = v.first_failure().unwrap();
    assert_eq!(failed.name, CheckName::Status, "{v:#?}");
}

/// A credential a practitioner signed for its hospital under a delegation, revoked
/// after the issue.
fn practitioner_fixture() -> Fixture {
    use mpms_ledger::credential::{prepare_issuance_with_vc, Issuer, Recipient, SchemaRef};
    use mpms_ledger::testkit::DeterministicRng;
    let mut chain = CertifiedChain::new(TestChain::new(4, 32));
    let subject = chain.chain.register_subject(1);
    chain.commit(&[subject]);
    let hospital = chain.chain.certifier.clone();
    let doctor = mpms_crypto::SigningKey::from_seed(&[0x70; 32]);
    let schema = chain.tx(
        &hospital,
        0,
        chain.chain.register_schema(0, SCHEMA).tx.payload,
    );
    let delegate = chain.tx(
        &hospital,
        1,
        Payload::Delegate {
            practitioner: doctor.public_key(),
            role: mpms_ledger::records::role_digest("attending cardiologist", &[7; 16]),
            schemas: vec!["med.cardiology.*".into()],
            valid_from_ms: 0,
            valid_until_ms: u64::MAX,
        },
    );
    chain.commit(&[schema, delegate]);
    let (sk, dk) = chain.chain.subject(1);
    let content = chain.chain.content(1, 7);
    let issuance = prepare_issuance_with_vc(
        chain.chain.chain_id(),
        Issuer::practitioner(&doctor, doctor.public_key(), hospital.public_key()),
        SchemaRef {
            id: SCHEMA,
            fields: &mpms_ledger::claims::course_fields(),
        },
        Recipient::Named {
            subject: sk.public_key(),
            encryption_key: &dk.encryption_key(),
        },
        &content,
        mpms_ledger::credential::ClaimTerms::new(0, u64::MAX, 0),
        |_| mpms_ledger::credential::SignedForms::default(),
        &mut DeterministicRng(Hash::digest(b"doctor"), 0),
    )
    .unwrap();
    let id = issuance.claim.id();
    let issue = chain.tx(&hospital, 0, Payload::IssueCredential(Box::new(issuance)));
    chain.commit(&[issue]);
    // Revoked afterwards: the credential stays valid, judged as of its block.
    let revoke = chain.tx(
        &hospital,
        0,
        Payload::RevokeDelegation {
            practitioner: doctor.public_key(),
            reason: "left the hospital".into(),
        },
    );
    chain.commit(&[revoke]);
    chain.commit(&[]);
    Fixture { chain, id, content }
}

#[test]
fn a_practitioners_claim_is_checked_against_the_delegation_at_its_height() {
    let f = practitioner_fixture();
    let b = bundle(&f);
    let v = verdict(&f, &b);
    assert!(v.passed(), "{v:#?}");
    let Some(Outcome::Passed(how)) = v.outcome(CheckName::CertifierSignature) else {
        panic!("{v:#?}")
    };
    assert!(
        how.contains("practitioner")
            && how.contains(
                &mpms_ledger::records::role_digest("attending cardiologist", &[7; 16]).to_string()
            )
            && !how.contains("cardiologist"),
        "{how}"
    );
    // Without the delegation's proof, or with the certifier's account proven in place
    // of the practitioner's, the signature is not accepted.
    // The delegation proven at the issue height stands in for the one at the status
    // height (which may have forgotten terms older than the evidence window).
    let mut at_issue_only = b.clone();
    at_issue_only.status.delegation = None;
    assert!(verdict(&f, &at_issue_only).passed());
    let mut stripped = at_issue_only.clone();
    stripped.delegation_at_issue = None;
    let why = fails_at(&f, &stripped, CheckName::CertifierSignature);
    assert!(why.contains("delegation"), "{why}");
    // A delegation proof against the wrong header is refused.
    let mut misplaced = at_issue_only.clone();
    misplaced.delegation_at_issue = b.status.delegation.clone();
    fails_at(&f, &misplaced, CheckName::CertifierSignature);
    let mut swapped = b.clone();
    swapped.status.practitioner_account = Some(b.status.certifier_account.clone());
    fails_at(&f, &swapped, CheckName::CertifierSignature);
}

/// The signer's account proven at the issue height is checked whenever the bundle
/// carries it, against the key history at the status height: each of its four
/// members edited fails the signature check. (Such edits used to verify: the proof
/// was read only when the history had forgotten the key.)
/// One tampering of a state proof.
type ProofEdit = Box<dyn Fn(&mut mpms_ledger::state::StateProof)>;

#[test]
fn the_signers_account_at_issue_is_checked_whenever_present() {
    let f = fixture();
    let b = bundle(&f);
    let at_issue = b.signer_account_at_issue.clone().expect("carried");
    let edits: Vec<ProofEdit> = vec![
        Box::new(|p| p.height += 1),
        Box::new(|p| p.key.push(0)),
        Box::new(|p| {
            if let Some(v) = p.value.as_mut() {
                let last = v.len() - 1;
                v[last] ^= 1;
            }
        }),
        Box::new(|p| {
            let last = p.proof.len() - 1;
            p.proof[last] ^= 1;
        }),
    ];
    for edit in edits {
        let mut tampered = b.clone();
        let mut proof = at_issue.clone();
        edit(&mut proof);
        tampered.signer_account_at_issue = Some(proof);
        fails_at(&f, &tampered, CheckName::CertifierSignature);
    }
    // Left out while the history at the status height holds the key: fine.
    let mut without = b.clone();
    without.signer_account_at_issue = None;
    assert!(verdict(&f, &without).passed());
}

/// Proofs a claim does not need are refused, not ignored: a practitioner's
/// delegation or account in the bundle of a credential the certifier signed itself.
#[test]
fn proofs_a_claim_does_not_need_are_refused() {
    let f = fixture();
    let p = practitioner_fixture();
    let other = bundle(&p);
    let mut b = bundle(&f);
    b.status.delegation = other.status.delegation.clone();
    fails_at(&f, &b, CheckName::CertifierSignature);
    let mut b = bundle(&f);
    b.status.practitioner_account = other.status.practitioner_account.clone();
    fails_at(&f, &b, CheckName::CertifierSignature);
    let mut b = bundle(&f);
    b.delegation_at_issue = other.delegation_at_issue.clone();
    fails_at(&f, &b, CheckName::CertifierSignature);
    // On a practitioner's claim, the certifier's account is checked too.
    let mut b = bundle(&p);
    b.status.certifier_account.proof.push(0);
    fails_at(&p, &b, CheckName::CertifierSignature);
}

/// A member this verifier does not read is refused when the bundle is read, at any
/// depth. (Unknown members used to be ignored.)
#[test]
fn members_the_verifier_does_not_read_are_refused() {
    let f = fixture();
    let b = bundle(&f);
    let mut value = serde_json::to_value(&b).unwrap();
    value["note"] = serde_json::json!("trust me");
    let err = ProofBundle::from_json(&value.to_string()).unwrap_err();
    assert!(err.to_string().contains(".note"), "{err}");
    let mut value = serde_json::to_value(&b).unwrap();
    value["status"]["at"]["header"]["extra"] = serde_json::json!(1);
    let err = ProofBundle::from_json(&value.to_string()).unwrap_err();
    assert!(err.to_string().contains(".status.at.header.extra"), "{err}");
    assert_eq!(
        ProofBundle::from_json(&serde_json::to_string(&b).unwrap()).unwrap(),
        b
    );
}

/// A corrected entry is history: it fails the status check, naming the correction,
/// unless the caller asks for history. (It used to pass as VALID.)
#[test]
fn a_superseded_entry_fails_unless_history_is_asked() {
    use mpms_ledger::credential::{
        prepare_issuance_with_vc, ClaimTerms, Issuer, Recipient, SchemaRef,
    };
    use mpms_ledger::testkit::DeterministicRng;
    let mut f = fixture();
    let certifier = f.chain.chain.certifier.clone();
    let (sk, dk) = f.chain.chain.subject(2);
    let corrected = f.chain.chain.content(2, 999);
    let valid_until = f.chain.last.time_ms + 365 * 86_400_000;
    let correction = prepare_issuance_with_vc(
        f.chain.chain.chain_id(),
        Issuer::certifier(&certifier, certifier.public_key()),
        SchemaRef {
            id: SCHEMA,
            fields: &mpms_ledger::claims::course_fields(),
        },
        Recipient::Named {
            subject: sk.public_key(),
            encryption_key: &dk.encryption_key(),
        },
        &corrected,
        ClaimTerms::new(0, valid_until, 1_000_000).correcting(f.id),
        |_| mpms_ledger::credential::SignedForms::default(),
        &mut DeterministicRng(Hash::digest(b"correction"), 0),
    )
    .unwrap();
    let correction_id = correction.claim.id();
    let tx = f.chain.tx(
        &certifier,
        0,
        Payload::IssueCredential(Box::new(correction)),
    );
    f.chain.commit(&[tx]);
    f.chain.commit(&[]);
    let b = bundle(&f);
    let why = fails_at(&f, &b, CheckName::Status);
    assert!(
        why.contains(&format!("superseded by correction {correction_id}")),
        "{why}"
    );
    let history = Policy {
        allow_superseded: true,
        ..Policy::strict()
    };
    let v = verify_bundle(&b, &anchor(&f), None, now(&f), &history);
    assert!(v.passed(), "{v:#?}");
}

/// Every single-member edit of a bundle fails, with the check that member concerns
/// (or is refused when the bundle is read). The members are found by walking the
/// bundle as JSON, so a member added to the format without a row here fails this
/// test until it is mapped to its check.
#[test]
fn every_single_member_edit_fails_with_its_check() {
    use serde_json::Value;
    // Longest prefix wins.
    const TABLE: &[(&str, Option<CheckName>)] = &[
        ("format", Some(CheckName::Anchor)),
        ("genesis", Some(CheckName::Anchor)),
        ("credential_id", Some(CheckName::Anchor)),
        ("transaction", Some(CheckName::Inclusion)),
        ("tx_proof", Some(CheckName::Inclusion)),
        ("issued", Some(CheckName::CertificateQuorum)),
        (
            "signer_account_at_issue",
            Some(CheckName::CertifierSignature),
        ),
        ("delegation_at_issue", Some(CheckName::CertifierSignature)),
        ("status.credential_id", Some(CheckName::Anchor)),
        (
            "status.authority_changes",
            Some(CheckName::AuthoritySetChain),
        ),
        ("status.at", Some(CheckName::CertificateQuorum)),
        ("status.credential", Some(CheckName::Status)),
        ("status.certifier", Some(CheckName::CertifierAccredited)),
        (
            "status.certifier_account",
            Some(CheckName::CertifierSignature),
        ),
        ("status.certifier_revocations", Some(CheckName::Status)),
        ("status.delegation", Some(CheckName::CertifierSignature)),
        (
            "status.practitioner_account",
            Some(CheckName::CertifierSignature),
        ),
        ("content", Some(CheckName::ContentCommitment)),
    ];
    fn leaves(v: &Value, path: &str, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                for (k, x) in m {
                    let p = if path.is_empty() {
                        k.clone()
                    } else {
                        format!("{path}.{k}")
                    };
                    leaves(x, &p, out);
                }
            }
            Value::Array(a) => {
                for (i, x) in a.iter().enumerate() {
                    leaves(x, &format!("{path}[{i}]"), out);
                }
            }
            Value::Null => {}
            _ => out.push(path.to_string()),
        }
    }
    fn at<'a>(v: &'a mut Value, path: &str) -> &'a mut Value {
        let mut v = v;
        for part in path.split('.') {
            let (name, indexes) = part.split_once('[').map_or((part, ""), |(n, r)| (n, r));
            v = &mut v[name];
            for index in indexes.split('[').filter(|s| !s.is_empty()) {
                let i: usize = index.trim_end_matches(']').parse().unwrap();
                v = &mut v[i];
            }
        }
        v
    }
    fn mutate(v: &mut Value) {
        match v {
            Value::Number(n) => *v = Value::from(n.as_u64().unwrap_or(0) ^ 1),
            Value::Bool(b) => *b = !*b,
            Value::String(s) if !s.is_empty() && s.chars().all(|c| c.is_ascii_hexdigit()) => {
                let last = s.pop().unwrap();
                s.push(if last == '0' { '1' } else { '0' });
            }
            Value::String(s) => s.push('x'),
            _ => {}
        }
    }
    let mut matched = std::collections::BTreeSet::new();
    for f in [fixture(), practitioner_fixture()] {
        let b = bundle(&f);
        assert!(verdict(&f, &b).passed());
        let whole = serde_json::to_value(&b).unwrap();
        let mut paths = Vec::new();
        leaves(&whole, "", &mut paths);
        for path in paths {
            let bare = path.split('[').next().unwrap().to_string();
            let (prefix, want) = TABLE
                .iter()
                .filter(|(p, _)| bare == *p || bare.starts_with(&format!("{p}.")))
                .max_by_key(|(p, _)| p.len())
                .unwrap_or_else(|| {
                    panic!("a new member `{path}`: map it to the check it concerns")
                });
            matched.insert(*prefix);
            let mut edited = whole.clone();
            mutate(at(&mut edited, &path));
            let Ok(tampered) = ProofBundle::from_json(&edited.to_string()) else {
                continue; // refused when read
            };
            let v = verdict(&f, &tampered);
            let failed = v
                .first_failure()
                .unwrap_or_else(|| panic!("editing `{path}` still verifies"));
            assert_eq!(Some(failed.name), *want, "editing `{path}`: {failed:?}");
        }
    }
    for (prefix, _) in TABLE {
        assert!(
            matched.contains(prefix),
            "no member under `{prefix}`: a stale row"
        );
    }
}

/// Governance revokes a fraudulent certifier's credentials by issue-height range: the
/// status proof carries the revocation, so the status check fails at every verifier;
/// a range that does not cover the issue height leaves the credential valid. (Before,
/// only the certifier itself could revoke: its credentials stayed VALID.)
#[test]
fn governance_revokes_a_certifiers_credentials_by_issue_height() {
    let mut f = fixture();
    let issued = bundle(&f).issued.header.height;
    let certifier = f.chain.chain.certifier.public_key();
    let before = bundle(&f);
    f.chain
        .govern(GovernanceAction::RevokeCertifierCredentials {
            certifier,
            from_height: issued + 1,
            to_height: Some(issued + 2),
            reason: "diplomas shown forged".into(),
        });
    assert!(verdict(&f, &bundle(&f)).passed(), "another range");
    let block = f
        .chain
        .govern(GovernanceAction::RevokeCertifierCredentials {
            certifier,
            from_height: 0,
            to_height: None,
            reason: "diplomas shown forged".into(),
        });
    let why = fails_at(&f, &bundle(&f), CheckName::Status);
    assert!(
        why.contains("revoked by governance")
            && why.contains(&format!("issued at heights 0 to {}", block.header.height))
            && why.contains("diplomas shown forged"),
        "{why}"
    );
    // A status from before the revocation loses to the newer one, whichever came
    // first.
    let (chosen, _) = select_status(
        &anchor(&f),
        &f.id,
        vec![
            StatusCandidate {
                source: "the old bundle".into(),
                status: before.status.clone(),
            },
            StatusCandidate {
                source: "a node".into(),
                status: bundle(&f).status,
            },
        ],
    )
    .unwrap();
    let mut refreshed = before.clone();
    refreshed.status = chosen;
    let why = fails_at(&f, &refreshed, CheckName::Status);
    assert!(why.contains("revoked by governance"), "{why}");
    // The old status's proof of no revocation, put into the new status: refused.
    let mut spliced = bundle(&f);
    spliced.status.certifier_revocations = before.status.certifier_revocations.clone();
    let why = fails_at(&f, &spliced, CheckName::Status);
    assert!(
        why.contains("certifier revocations proof is for height"),
        "{why}"
    );
}

/// A certifier slashed for fraud: every credential it issued fails while it stays so,
/// even one issued while it was accredited (before, they all stayed VALID).
#[test]
fn a_certifier_slashed_for_fraud_fails_its_credentials() {
    let mut f = fixture();
    assert!(verdict(&f, &bundle(&f)).passed());
    let block = f.chain.govern(GovernanceAction::SlashCertifier {
        certifier: f.chain.chain.certifier.public_key(),
        fraction_bps: 5_000,
        reason: "signed diplomas of a school that does not exist".into(),
    });
    let why = fails_at(&f, &bundle(&f), CheckName::CertifierAccredited);
    assert!(
        why.contains(&format!(
            "suspended for fraud since height {}",
            block.header.height + 1
        )) && why.contains("a school that does not exist"),
        "{why}"
    );
    // Suspended without fraud, its credentials stand.
    let mut g = fixture();
    g.chain.govern(GovernanceAction::SuspendCertifier {
        certifier: g.chain.chain.certifier.public_key(),
        reason: "accreditation under review".into(),
    });
    assert!(verdict(&g, &bundle(&g)).passed());
}
