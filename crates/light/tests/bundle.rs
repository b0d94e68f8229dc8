//! Proof bundles built from a certified chain verify offline, and each single
//! tampering is caught by the check it concerns.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use mpms_crypto::Hash;
use mpms_ledger::credential::CredentialContent;
use mpms_ledger::testkit::TestChain;
use mpms_ledger::Payload;
use mpms_light::bundle::{build_bundle, build_status};
use mpms_light::testkit::CertifiedChain;
use mpms_light::verify::{refresh, verify_bundle, Outcome};
use mpms_light::{Anchor, CheckName, ProofBundle, Verdict};

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
    verify_bundle(b, &anchor(f), None, now(f))
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
    // JSON round trip: the file form checks the same.
    let text = serde_json::to_string(&b).unwrap();
    let back: ProofBundle = serde_json::from_str(&text).unwrap();
    assert!(verdict(&f, &back).passed());
    // Without content, the content check is skipped and the rest passes.
    let mut bare = b.clone();
    bare.content = None;
    let v = verdict(&f, &bare);
    assert!(v.passed());
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
    let v = verify_bundle(&bundle(&f), &anchor(&f), Some(&content), now(&f));
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
    // A fresh status proof from any node finds the revocation.
    let mut refreshed = old.clone();
    refresh(&mut refreshed, build_status(&f.chain.store, &f.id).unwrap()).unwrap();
    let why = fails_at(&f, &refreshed, CheckName::Status);
    assert!(
        why.contains(&format!("revoked at height {revoked_at}")),
        "{why}"
    );
    // An older status cannot replace a newer one.
    assert!(refresh(&mut refreshed, old.status.clone()).is_err());
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
    assert!(verify_bundle(&b, &anchor(&f), None, until - 1).passed());
    // The same bundle checked after the credential's end: the status fails.
    let v = verify_bundle(&b, &anchor(&f), None, until);
    let failed = v.first_failure().unwrap();
    assert_eq!(failed.name, CheckName::Status, "{v:#?}");
}

#[test]
fn a_practitioners_claim_is_checked_against_the_delegation_at_its_height() {
    use mpms_ledger::credential::{prepare_issuance_with_vc, Issuer, SchemaRef};
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
            role: "attending cardiologist".into(),
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
        sk.public_key(),
        &dk.encryption_key(),
        &content,
        mpms_ledger::credential::ClaimTerms::new(0, u64::MAX),
        |_| None,
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
    let f = Fixture { chain, id, content };
    let b = bundle(&f);
    let v = verdict(&f, &b);
    assert!(v.passed(), "{v:#?}");
    let Some(Outcome::Passed(how)) = v.outcome(CheckName::CertifierSignature) else {
        panic!("{v:#?}")
    };
    assert!(
        how.contains("practitioner") && how.contains("attending cardiologist"),
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
