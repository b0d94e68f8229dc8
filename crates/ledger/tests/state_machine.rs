//! Every transaction kind: the accepted path and each rejection path. Every rejection
//! is checked to leave the state and its commitment unchanged.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod harness;

use harness::{work, Actor, Chain, CHAIN, DAY};
use mpms_crypto::{Hash, SigningKey};
use mpms_ledger::block::{tx_root, Header};
use mpms_ledger::claims::{FieldKind, FieldSpec};
use mpms_ledger::credential::{open_content, reseal_key};
use mpms_ledger::erasable::Erasable;
use mpms_ledger::evidence::Evidence;
use mpms_ledger::execute::Event;
use mpms_ledger::params::ParameterChange;
use mpms_ledger::records::{
    keys, Account, AccreditationStatus, Authority, AuthorityStatus, Certifier, Credential,
    CredentialStatus, Grant, Proposal, ProposalStatus, Schema,
};
use mpms_ledger::transaction::{
    grant_id, request_id, CredentialIssuance, GovernanceAction, InspectionOutcome,
    OrganizationKind, SchemaDefinition,
};
use mpms_ledger::{CredentialRuleError as Rule, Payload, TxError, Vote, VoteKind};
use rand::SeedableRng;

fn schema(id: &str, prerequisites: &[&str]) -> Payload {
    Payload::RegisterSchema(Box::new(SchemaDefinition {
        id: id.into(),
        description: format!("course {id}"),
        prerequisites: prerequisites.iter().map(|s| s.to_string()).collect(),
        output: "competence".into(),
        completion_condition: "pass mark 80%".into(),
        max_validity_ms: Some(2 * 365 * DAY),
        fields: mpms_ledger::claims::course_fields(),
        fhir_resource: None,
    }))
}

fn issue(
    chain: &mut Chain,
    schema_id: &str,
    subject: &Actor,
) -> Result<mpms_ledger::Receipt, TxError> {
    let certifier = Actor::new(50);
    let issuance = chain.issuance(&certifier, schema_id, subject, "Dr. A. Intern");
    let tx = chain.tx(&certifier, Payload::IssueCredential(Box::new(issuance)));
    chain.block(&[tx]).pop().unwrap()
}

fn issued_id(receipt: &mpms_ledger::Receipt) -> Hash {
    receipt
        .events
        .iter()
        .find_map(|e| match e {
            Event::CredentialIssued(id) => Some(*id),
            _ => None,
        })
        .expect("issued event")
}

fn proposal_id(receipt: &mpms_ledger::Receipt) -> u64 {
    receipt
        .events
        .iter()
        .find_map(|e| match e {
            Event::ProposalOpened(id) => Some(*id),
            _ => None,
        })
        .expect("proposal event")
}

/// Opens `action` by authority 0 and has authorities 1 and 2 approve (3 of 4).
fn govern(chain: &mut Chain, action: GovernanceAction) -> u64 {
    let a0 = &chain.authorities[0];
    let tx = chain.tx(a0, Payload::Propose { action });
    let id = proposal_id(&chain.ok(tx));
    chain.pass(id, &[1, 2]);
    id
}

fn proposal(chain: &Chain, id: u64) -> Proposal {
    chain.get(&keys::proposal(id)).unwrap()
}

// ---------------------------------------------------------------- envelopes

#[test]
fn envelope_rejections() {
    let mut c = Chain::new(4);
    let rich = Actor::new(52);
    let other = Actor::new(99);
    // Wrong signer: signed by a key that is not the sender's.
    let mut tx = c.tx(&rich, Payload::Bond { amount: 1 });
    tx.signature = other
        .key
        .sign(CHAIN, mpms_crypto::Domain::Transaction, b"x");
    assert_eq!(c.reject(tx), TxError::BadSignature);
    let mut tx = c.tx(&rich, Payload::Bond { amount: 1 });
    tx.tx.payload = Payload::Bond { amount: 2 };
    assert_eq!(c.reject(tx), TxError::BadSignature);
    // Replayed nonce.
    let tx = c.tx(&rich, Payload::Bond { amount: 1 });
    c.ok(tx.clone());
    assert_eq!(
        c.reject(tx),
        TxError::NonceReplayed {
            expected: 1,
            got: 0
        }
    );
    // Skipped nonce.
    let tx = c.tx_at(&rich, 5, Payload::Bond { amount: 1 });
    assert_eq!(
        c.reject(tx),
        TxError::NonceGap {
            expected: 1,
            got: 5
        }
    );
    // Wrong chain.
    let mut t = c.tx(&rich, Payload::Bond { amount: 1 }).tx;
    t.chain_id = "other-chain".into();
    assert!(matches!(
        c.reject(t.sign(&rich.key)),
        TxError::WrongChain { .. }
    ));
    // Unknown account.
    let tx = c.tx(&other, Payload::Bond { amount: 1 });
    assert_eq!(c.reject(tx), TxError::UnknownAccount(other.id));
    // Oversized.
    let huge = Payload::RegisterOrganization {
        name: "x".repeat(300 * 1024),
        kind: OrganizationKind::Hospital,
        encryption_key: other.enc.encryption_key(),
        work: work(&other),
    };
    assert!(matches!(
        c.reject(c.tx(&other, huge)),
        TxError::TooLarge { .. }
    ));
}

#[test]
fn same_sender_nonces_in_one_block() {
    let mut c = Chain::new(4);
    let rich = Actor::new(52);
    let txs: Vec<_> = (0..3)
        .map(|n| c.tx_at(&rich, n, Payload::Bond { amount: 10 }))
        .collect();
    let results = c.block(&txs);
    assert!(results.iter().all(Result::is_ok));
    assert_eq!(
        c.get::<Account>(&keys::account(&rich.id)).unwrap().bonded,
        30
    );
}

// ---------------------------------------------------------------- accounts

#[test]
fn transfer() {
    let mut c = Chain::new(4);
    let (rich, board, nobody) = (Actor::new(52), Actor::new(51), Actor::new(98));
    c.ok(c.tx(
        &rich,
        Payload::Transfer {
            to: board.id,
            amount: 250,
        },
    ));
    assert_eq!(
        c.get::<Account>(&keys::account(&board.id)).unwrap().balance,
        250
    );
    assert_eq!(
        c.get::<Account>(&keys::account(&rich.id)).unwrap().balance,
        1_000_000 - 250
    );
    assert_eq!(
        c.reject(c.tx(
            &board,
            Payload::Transfer {
                to: rich.id,
                amount: 251
            }
        )),
        TxError::InsufficientBalance {
            needed: 251,
            available: 250
        }
    );
    assert_eq!(
        c.reject(c.tx(
            &rich,
            Payload::Transfer {
                to: nobody.id,
                amount: 1
            }
        )),
        TxError::UnknownAccount(nobody.id)
    );
    assert!(matches!(
        c.reject(c.tx(
            &rich,
            Payload::Transfer {
                to: board.id,
                amount: 0
            }
        )),
        TxError::InvalidField {
            field: "amount",
            ..
        }
    ));
    assert!(matches!(
        c.reject(c.tx(
            &rich,
            Payload::Transfer {
                to: rich.id,
                amount: 1
            }
        )),
        TxError::InvalidField { field: "to", .. }
    ));
}

#[test]
fn registration() {
    let mut c = Chain::new(4);
    let intern = Actor::new(60);
    c.register_subject(&intern);
    let again = c.tx(
        &intern,
        Payload::RegisterSubject {
            encryption_key: intern.enc.encryption_key(),
            work: work(&intern),
        },
    );
    assert_eq!(c.reject(again), TxError::AlreadyRegistered("subject"));

    let hospital = Actor::new(61);
    let reg = |name: &str| Payload::RegisterOrganization {
        name: name.into(),
        kind: OrganizationKind::Hospital,
        encryption_key: hospital.enc.encryption_key(),
        work: work(&hospital),
    };
    assert!(matches!(
        c.reject(c.tx(&hospital, reg(" "))),
        TxError::InvalidField { field: "name", .. }
    ));
    c.ok(c.tx(&hospital, reg("General Hospital")));
    assert_eq!(
        c.reject(c.tx(&hospital, reg("Again"))),
        TxError::AlreadyRegistered("organization")
    );

    let college = Actor::new(62);
    let reg = Payload::RegisterCertifier {
        name: "Medical College".into(),
        encryption_key: college.enc.encryption_key(),
        work: work(&college),
    };
    c.ok(c.tx(&college, reg.clone()));
    let rec: Certifier = c.get(&keys::certifier(&college.id)).unwrap();
    assert_eq!(
        rec.accreditation.latest().unwrap().status,
        AccreditationStatus::Pending
    );
    assert_eq!(
        c.reject(c.tx(&college, reg)),
        TxError::AlreadyRegistered("certifier")
    );
}

#[test]
fn key_rotation() {
    let mut c = Chain::new(4);
    let rich = Actor::new(52);
    let new_key = SigningKey::from_seed(&[200; 32]);
    let bad = mpms_crypto::PublicKey::from_bytes([0u8; 32]);
    assert!(matches!(
        c.reject(c.tx(
            &rich,
            Payload::RotateKeys {
                signing_key: Some(bad),
                encryption_key: None
            }
        )),
        TxError::InvalidField {
            field: "signing_key",
            ..
        }
    ));
    assert!(matches!(
        c.reject(c.tx(
            &rich,
            Payload::RotateKeys {
                signing_key: None,
                encryption_key: None
            }
        )),
        TxError::InvalidField { .. }
    ));
    assert!(matches!(
        c.reject(c.tx(
            &rich,
            Payload::RotateKeys {
                signing_key: None,
                encryption_key: Some(rich.enc.encryption_key())
            }
        )),
        TxError::InvalidField {
            field: "encryption_key",
            ..
        }
    ));
    // The rotation and a later transaction signed by the old key in the same block:
    // the old key stays in force until the next height.
    let rotate = c.tx_at(
        &rich,
        0,
        Payload::RotateKeys {
            signing_key: Some(new_key.public_key()),
            encryption_key: None,
        },
    );
    let old_signed = c.tx_at(&rich, 1, Payload::Bond { amount: 1 });
    assert!(c.block(&[rotate, old_signed]).iter().all(Result::is_ok));
    // From the next height only the new key signs for the account.
    let stale = c.tx(&rich, Payload::Bond { amount: 1 });
    assert_eq!(c.reject(stale), TxError::BadSignature);
    let mut t = c.tx(&rich, Payload::Bond { amount: 1 }).tx;
    t.nonce = 2;
    c.ok(t.sign(&new_key));
    // A subject rotates its encryption key.
    let intern = Actor::new(60);
    c.register_subject(&intern);
    let fresh = mpms_crypto::DecryptionKey::derive(b"fresh");
    c.ok(c.tx(
        &intern,
        Payload::RotateKeys {
            signing_key: None,
            encryption_key: Some(fresh.encryption_key()),
        },
    ));
    let s: mpms_ledger::records::Subject = c.get(&keys::subject(&intern.id)).unwrap();
    assert_eq!(s.encryption_key, fresh.encryption_key());
}

#[test]
fn bonding_and_unbonding() {
    let mut c = Chain::new(4);
    let rich = Actor::new(52);
    assert_eq!(
        c.reject(c.tx(&rich, Payload::Bond { amount: 2_000_000 })),
        TxError::InsufficientBalance {
            needed: 2_000_000,
            available: 1_000_000
        }
    );
    c.ok(c.tx(&rich, Payload::Bond { amount: 300 }));
    assert_eq!(
        c.reject(c.tx(&rich, Payload::Unbond { amount: 301 })),
        TxError::InsufficientStake {
            needed: 301,
            available: 300
        }
    );
    c.ok(c.tx(&rich, Payload::Unbond { amount: 100 }));
    assert_eq!(
        c.reject(c.tx(&rich, Payload::WithdrawUnbonded)),
        TxError::NothingToWithdraw
    );
    c.skip(50);
    c.ok(c.tx(&rich, Payload::WithdrawUnbonded));
    let acct: Account = c.get(&keys::account(&rich.id)).unwrap();
    assert_eq!((acct.balance, acct.bonded), (1_000_000 - 200, 200));
    // An active authority cannot unbond below the minimum (2000 bonded, min 1000).
    let a0 = Actor::new(10);
    c.ok(c.tx(&a0, Payload::Unbond { amount: 1_000 }));
    assert!(matches!(
        c.reject(c.tx(&a0, Payload::Unbond { amount: 1 })),
        TxError::StakeLocked(_)
    ));
    // An accredited certifier keeps its minimum too (500 bonded, min 100).
    let cert = Actor::new(50);
    assert!(matches!(
        c.reject(c.tx(&cert, Payload::Unbond { amount: 401 })),
        TxError::StakeLocked(_)
    ));
    c.ok(c.tx(&cert, Payload::Unbond { amount: 400 }));
}

// ---------------------------------------------------------------- governance

#[test]
fn governance_votes_and_thresholds() {
    let mut c = Chain::new(4);
    let (rich, college) = (Actor::new(52), Actor::new(62));
    c.ok(c.tx(
        &college,
        Payload::RegisterCertifier {
            name: "College".into(),
            encryption_key: college.enc.encryption_key(),
            work: work(&college),
        },
    ));
    let accredit = GovernanceAction::AccreditCertifier {
        certifier: college.id,
        scope: vec!["nursing.*".into()],
        valid_from_ms: c.time_ms,
        valid_until_ms: c.time_ms + 100 * DAY,
    };
    // Non-authority cannot propose; insufficient stake is refused at proposal time.
    assert_eq!(
        c.reject(c.tx(
            &rich,
            Payload::Propose {
                action: accredit.clone()
            }
        )),
        TxError::NotAuthority(rich.id)
    );
    let a0 = Actor::new(10);
    assert_eq!(
        c.reject(c.tx(
            &a0,
            Payload::Propose {
                action: accredit.clone()
            }
        )),
        TxError::InsufficientStake {
            needed: 100,
            available: 0
        }
    );
    c.ok(c.tx(
        &rich,
        Payload::Transfer {
            to: college.id,
            amount: 1_000,
        },
    ));
    c.ok(c.tx(&college, Payload::Bond { amount: 150 }));
    let id = proposal_id(&c.ok(c.tx(&a0, Payload::Propose { action: accredit })));
    // Non-authority vote, double vote.
    assert_eq!(
        c.reject(c.tx(
            &rich,
            Payload::Vote {
                proposal: id,
                approve: true
            }
        )),
        TxError::NotAuthority(rich.id)
    );
    assert_eq!(
        c.reject(c.tx(
            &a0,
            Payload::Vote {
                proposal: id,
                approve: true
            }
        )),
        TxError::DoubleVote(a0.id)
    );
    assert_eq!(
        c.reject(c.tx(
            &a0,
            Payload::Vote {
                proposal: 99,
                approve: true
            }
        )),
        TxError::UnknownProposal(99)
    );
    // 2 of 4 is not enough; 3 of 4 is.
    c.pass(id, &[1]);
    assert_eq!(proposal(&c, id).status, ProposalStatus::Open);
    c.pass(id, &[2]);
    assert!(matches!(
        proposal(&c, id).status,
        ProposalStatus::Executed { .. }
    ));
    let a3 = Actor::new(13);
    assert_eq!(
        c.reject(c.tx(
            &a3,
            Payload::Vote {
                proposal: id,
                approve: true
            }
        )),
        TxError::ProposalClosed(id)
    );
    let rec: Certifier = c.get(&keys::certifier(&college.id)).unwrap();
    assert_eq!(
        rec.accreditation.at(c.height).unwrap().status,
        AccreditationStatus::Accredited
    );

    // Two against out of four: more than 2/3 can no longer approve.
    let change = GovernanceAction::SetParameter(ParameterChange::SlashFractionBps(5_000));
    let id = proposal_id(&c.ok(c.tx(
        &a0,
        Payload::Propose {
            action: change.clone(),
        },
    )));
    for i in [1, 2] {
        let a = Actor::new(10 + i);
        c.ok(c.tx(
            &a,
            Payload::Vote {
                proposal: id,
                approve: false,
            },
        ));
    }
    assert!(matches!(
        proposal(&c, id).status,
        ProposalStatus::Rejected { .. }
    ));
    // Expired proposal.
    let id = proposal_id(&c.ok(c.tx(
        &a0,
        Payload::Propose {
            action: change.clone(),
        },
    )));
    c.skip(11);
    assert_eq!(
        c.reject(c.tx(
            &a3,
            Payload::Vote {
                proposal: id,
                approve: true
            }
        )),
        TxError::ProposalExpired(id)
    );
    // A passing parameter change applies.
    govern(&mut c, change);
    assert_eq!(
        c.get::<mpms_ledger::Params>(&keys::params())
            .unwrap()
            .slash_fraction_bps,
        5_000
    );
    // Invalid actions are refused when proposed.
    let bad = GovernanceAction::SetParameter(ParameterChange::SlashFractionBps(20_000));
    assert!(matches!(
        c.reject(c.tx(&a0, Payload::Propose { action: bad })),
        TxError::InvalidAction(_)
    ));
}

#[test]
fn proposal_that_no_longer_applies_fails_cleanly() {
    let mut c = Chain::new(4);
    let (rich, college) = (Actor::new(52), Actor::new(62));
    c.ok(c.tx(
        &college,
        Payload::RegisterCertifier {
            name: "College".into(),
            encryption_key: college.enc.encryption_key(),
            work: work(&college),
        },
    ));
    c.ok(c.tx(
        &rich,
        Payload::Transfer {
            to: college.id,
            amount: 1_000,
        },
    ));
    c.ok(c.tx(&college, Payload::Bond { amount: 150 }));
    let a0 = Actor::new(10);
    let action = GovernanceAction::AccreditCertifier {
        certifier: college.id,
        scope: vec!["nursing.*".into()],
        valid_from_ms: c.time_ms,
        valid_until_ms: c.time_ms + DAY,
    };
    let id = proposal_id(&c.ok(c.tx(&a0, Payload::Propose { action })));
    // The certifier unbonds below the minimum before the vote completes.
    c.ok(c.tx(&college, Payload::Unbond { amount: 100 }));
    c.pass(id, &[1, 2]);
    assert!(matches!(
        proposal(&c, id).status,
        ProposalStatus::Failed { .. }
    ));
    let rec: Certifier = c.get(&keys::certifier(&college.id)).unwrap();
    assert_eq!(
        rec.accreditation.latest().unwrap().status,
        AccreditationStatus::Pending
    );
}

#[test]
fn authority_rotation_by_governance() {
    let mut c = Chain::new(4);
    let (rich, newcomer) = (Actor::new(52), Actor::new(70));
    let new_consensus = SigningKey::from_seed(&[170; 32]);
    c.ok(c.tx(
        &newcomer,
        Payload::RegisterOrganization {
            name: "Regional Hospital".into(),
            kind: OrganizationKind::Hospital,
            encryption_key: newcomer.enc.encryption_key(),
            work: work(&newcomer),
        },
    ));
    c.ok(c.tx(
        &rich,
        Payload::Transfer {
            to: newcomer.id,
            amount: 5_000,
        },
    ));
    c.ok(c.tx(&newcomer, Payload::Bond { amount: 1_500 }));
    let add = GovernanceAction::AddAuthority {
        operator: newcomer.id,
        consensus_key: new_consensus.public_key(),
        peer_id: "peer-new".into(),
    };
    govern(&mut c, add.clone());
    let set = c.authority_set();
    assert_eq!(set.len(), 5);
    assert_eq!(set.members[4].operator, newcomer.id);
    // Adding again is refused; reusing a consensus key is refused.
    let a0 = Actor::new(10);
    assert!(matches!(
        c.reject(c.tx(&a0, Payload::Propose { action: add })),
        TxError::InvalidAction(_)
    ));
    // With 5 authorities, 4 approvals are needed.
    let rotated = SigningKey::from_seed(&[171; 32]);
    let rotate = GovernanceAction::RotateAuthorityKey {
        operator: newcomer.id,
        consensus_key: rotated.public_key(),
    };
    let id = proposal_id(&c.ok(c.tx(&a0, Payload::Propose { action: rotate })));
    c.pass(id, &[1, 2]);
    assert_eq!(proposal(&c, id).status, ProposalStatus::Open);
    let tx = c.tx(
        &newcomer,
        Payload::Vote {
            proposal: id,
            approve: true,
        },
    );
    c.ok(tx);
    assert!(matches!(
        proposal(&c, id).status,
        ProposalStatus::Executed { .. }
    ));
    assert_eq!(
        c.authority_set().members[4].consensus_key,
        rotated.public_key()
    );
    let auth: Authority = c.get(&keys::authority(&newcomer.id)).unwrap();
    assert_eq!(
        auth.consensus_keys.at(c.height - 1),
        Some(&new_consensus.public_key())
    );
    // Remove one.
    let remove = GovernanceAction::RemoveAuthority {
        operator: Actor::new(13).id,
    };
    let id = proposal_id(&c.ok(c.tx(&a0, Payload::Propose { action: remove })));
    c.pass(id, &[1, 2]);
    let tx = c.tx(
        &newcomer,
        Payload::Vote {
            proposal: id,
            approve: true,
        },
    );
    c.ok(tx);
    let set = c.authority_set();
    assert_eq!(set.len(), 4);
    assert!(!set.contains(&Actor::new(13).id));
    // The removed authority can no longer propose.
    let a3 = Actor::new(13);
    assert!(matches!(
        c.reject(c.tx(
            &a3,
            Payload::Propose {
                action: GovernanceAction::SetParameter(ParameterChange::ProposalTtlBlocks(9))
            }
        )),
        TxError::NotAuthority(_)
    ));
}

#[test]
fn last_authority_cannot_be_removed() {
    let mut c = Chain::new(1);
    let a0 = Actor::new(10);
    let remove = GovernanceAction::RemoveAuthority { operator: a0.id };
    assert!(matches!(
        c.reject(c.tx(&a0, Payload::Propose { action: remove })),
        TxError::InvalidAction(_)
    ));
}

// ---------------------------------------------------------------- schemas & credentials

#[test]
fn schema_registration() {
    let mut c = Chain::new(4);
    let cert = Actor::new(50);
    c.ok(c.tx(&cert, schema("med.bls", &[])));
    assert_eq!(
        c.reject(c.tx(&cert, schema("med.bls", &[]))),
        TxError::SchemaExists("med.bls".into())
    );
    assert_eq!(
        c.reject(c.tx(&cert, schema("med.acls", &["med.nope"]))),
        TxError::Credential(Rule::UnknownSchema("med.nope".into()))
    );
    assert!(matches!(
        c.reject(c.tx(&cert, schema("law.contracts", &[]))),
        TxError::Credential(Rule::OutOfScope { .. })
    ));
    assert!(matches!(
        c.reject(c.tx(&cert, schema("Med BLS!", &[]))),
        TxError::InvalidField { field: "id", .. }
    ));
    // A registered but unaccredited certifier.
    let college = Actor::new(62);
    c.ok(c.tx(
        &college,
        Payload::RegisterCertifier {
            name: "College".into(),
            encryption_key: college.enc.encryption_key(),
            work: work(&college),
        },
    ));
    assert_eq!(
        c.reject(c.tx(&college, schema("med.x", &[]))),
        TxError::Credential(Rule::NotAccredited(college.id))
    );
    // Not a certifier at all.
    let rich = Actor::new(52);
    assert!(matches!(
        c.reject(c.tx(&rich, schema("med.y", &[]))),
        TxError::NotRegistered {
            role: "certifier",
            ..
        }
    ));
    // Field declarations are checked: a bad list is refused and nothing is stored.
    let with_fields = |id: &str, fields: Vec<FieldSpec>| match schema(id, &[]) {
        Payload::RegisterSchema(mut def) => {
            def.fields = fields;
            Payload::RegisterSchema(def)
        }
        _ => unreachable!(),
    };
    let text = |name: &str| FieldSpec::required(name, FieldKind::Text);
    for bad in [
        vec![text("note"), text("note")],
        vec![text("Note")],
        vec![FieldSpec::required(
            "value",
            FieldKind::Number {
                unit: String::new(),
            },
        )],
        (0..=mpms_ledger::claims::MAX_FIELDS)
            .map(|i| text(&format!("f{i}")))
            .collect(),
    ] {
        assert!(matches!(
            c.reject(c.tx(&cert, with_fields("med.fields", bad))),
            TxError::InvalidField {
                field: "fields",
                ..
            }
        ));
    }
    assert!(c.get::<Schema>(&keys::schema("med.fields")).is_none());
    // A patient-record schema: generic name, typed fields; the chain keeps the list.
    let lab: Vec<FieldSpec> = [
        "test:code:http://loinc.org",
        "value:number:mmol/L",
        "taken:date",
        "fasting?:boolean",
    ]
    .iter()
    .map(|f| mpms_ledger::claims::parse_spec(f).unwrap())
    .collect();
    c.ok(c.tx(&cert, with_fields("med.lab-result", lab.clone())));
    assert_eq!(
        c.get::<Schema>(&keys::schema("med.lab-result"))
            .expect("stored")
            .fields,
        lab
    );
}

#[test]
fn issuance_accepted_and_no_plaintext_on_chain() {
    let mut c = Chain::new(4);
    let (cert, intern) = (Actor::new(50), Actor::new(60));
    c.ok(c.tx(&cert, schema("med.bls", &[])));
    c.register_subject(&intern);
    let issuance = c.issuance(&cert, "med.bls", &intern, "Dr. A. Intern");
    let receipt = c.ok(c.tx(&cert, Payload::IssueCredential(Box::new(issuance.clone()))));
    let id = issued_id(&receipt);
    let cred: Credential = c.get(&keys::credential(&id)).unwrap();
    assert_eq!(cred.status, CredentialStatus::Active);
    assert_eq!(cred.claim, issuance.claim);
    assert_eq!(cred.issued_tx, receipt.tx_hash);
    // The subject decrypts and checks the content.
    let content = open_content(&issuance, issuance.subject_key.get().unwrap(), &intern.enc)
        .expect("subject opens");
    assert_eq!(content.holder_name, "Dr. A. Intern");
    // Nothing personal is stored in plaintext anywhere in state.
    for value in c.state.entries().values() {
        for needle in [&b"Dr. A. Intern"[..], b"1999-04-01", b"92/100"] {
            assert!(
                !value.windows(needle.len()).any(|w| w == needle),
                "plaintext personal data in state"
            );
        }
    }
    // Issuing the very same claim twice is refused.
    assert_eq!(
        c.reject(c.tx(&cert, Payload::IssueCredential(Box::new(issuance)))),
        TxError::DuplicateCredential(id)
    );
}

#[test]
fn issuance_rule_violations() {
    let mut c = Chain::new(4);
    let (cert, intern, stranger) = (Actor::new(50), Actor::new(60), Actor::new(63));
    c.ok(c.tx(&cert, schema("med.bls", &[])));
    c.ok(c.tx(&cert, schema("med.acls", &["med.bls"])));
    c.register_subject(&intern);

    let attempt =
        |c: &mut Chain,
         edit: &dyn Fn(&mut mpms_ledger::transaction::CredentialIssuance, &Actor)| {
            let mut issuance = c.issuance(&cert, "med.bls", &intern, "X");
            edit(&mut issuance, &cert);
            c.reject(c.tx(&cert, Payload::IssueCredential(Box::new(issuance))))
        };
    let resign = |i: &mut mpms_ledger::transaction::CredentialIssuance, signer: &Actor| {
        i.certifier_signature = signer.key.sign(
            CHAIN,
            mpms_crypto::Domain::CredentialClaim,
            &mpms_ledger::codec::encode(&i.claim),
        );
    };
    // End date before start date.
    let e = attempt(&mut c, &|i, s| {
        i.claim.valid_until_ms = i.claim.valid_from_ms - 1;
        resign(i, s);
    });
    assert!(matches!(e, TxError::Credential(Rule::InvalidDates(_))));
    // Already expired.
    let e = attempt(&mut c, &|i, s| {
        i.claim.valid_from_ms -= 10 * DAY;
        i.claim.valid_until_ms = i.claim.valid_from_ms + DAY;
        resign(i, s);
    });
    assert!(matches!(e, TxError::Credential(Rule::InvalidDates(_))));
    // Longer than the schema allows.
    let e = attempt(&mut c, &|i, s| {
        i.claim.valid_until_ms = i.claim.valid_from_ms + 3 * 365 * DAY;
        resign(i, s);
    });
    assert!(matches!(e, TxError::Credential(Rule::InvalidDates(_))));
    // Unknown schema; schema out of scope is checked on the certifier's scope.
    let e = attempt(&mut c, &|i, s| {
        i.claim.schema = "med.unknown".into();
        resign(i, s);
    });
    assert_eq!(
        e,
        TxError::Credential(Rule::UnknownSchema("med.unknown".into()))
    );
    // A subject that is neither a registered subject nor a usable key (an entry
    // key is any usable key: see `a_record_entry_goes_to_an_entry_key_only_its_subject_signs_for`).
    let unusable = mpms_crypto::PublicKey::from_bytes([0; 32]);
    let e = attempt(&mut c, &|i, s| {
        i.claim.subject = unusable;
        resign(i, s);
    });
    assert_eq!(e, TxError::Credential(Rule::UnknownSubject(unusable)));
    let _ = &stranger;
    // Bad certifier signature (claim altered after signing).
    let e = attempt(&mut c, &|i, _| i.claim.valid_until_ms -= 1);
    assert_eq!(e, TxError::Credential(Rule::BadCertifierSignature));
    // Signed by someone else, claiming to be the certifier.
    let e = attempt(&mut c, &|i, _| resign(i, &Actor::new(99)));
    assert_eq!(e, TxError::Credential(Rule::BadCertifierSignature));
    // Another certifier named in the claim than the sender: only the certifier
    // publishes its issuance.
    let e = attempt(&mut c, &|i, _| {
        i.claim.certifier = stranger.id;
        resign(i, &Actor::new(63));
    });
    assert_eq!(e, TxError::NotIssuer);
    // Missing prerequisite for the stacked credential.
    let issuance = c.issuance(&cert, "med.acls", &intern, "X");
    assert_eq!(
        c.reject(c.tx(&cert, Payload::IssueCredential(Box::new(issuance)))),
        TxError::Credential(Rule::MissingPrerequisite("med.bls".into()))
    );
}

#[test]
fn stacked_credentials_and_revocation() {
    let mut c = Chain::new(4);
    let (cert, intern) = (Actor::new(50), Actor::new(60));
    c.ok(c.tx(&cert, schema("med.bls", &[])));
    c.ok(c.tx(&cert, schema("med.acls", &["med.bls"])));
    c.register_subject(&intern);
    let bls = issued_id(&issue(&mut c, "med.bls", &intern).unwrap());
    let acls = issued_id(&issue(&mut c, "med.acls", &intern).expect("prerequisite held"));
    // Revocation: only the certifier, only once.
    let rich = Actor::new(52);
    assert!(matches!(
        c.reject(c.tx(
            &rich,
            Payload::RevokeCredential {
                credential: bls,
                reason: "x".into()
            }
        )),
        TxError::NotIssuer
    ));
    assert!(matches!(
        c.reject(c.tx(
            &cert,
            Payload::RevokeCredential {
                credential: bls,
                reason: "".into()
            }
        )),
        TxError::InvalidField { .. }
    ));
    let unknown = Hash::digest(b"nope");
    assert_eq!(
        c.reject(c.tx(
            &cert,
            Payload::RevokeCredential {
                credential: unknown,
                reason: "r".into()
            }
        )),
        TxError::UnknownCredential(unknown)
    );
    c.ok(c.tx(
        &cert,
        Payload::RevokeCredential {
            credential: bls,
            reason: "exam fraud".into(),
        },
    ));
    assert_eq!(
        c.reject(c.tx(
            &cert,
            Payload::RevokeCredential {
                credential: bls,
                reason: "again".into()
            }
        )),
        TxError::CredentialRevoked(bls)
    );
    let rec: Credential = c.get(&keys::credential(&bls)).unwrap();
    assert!(matches!(rec.status, CredentialStatus::Revoked { .. }));
    // With its prerequisite revoked, the stacked credential can no longer be issued.
    let issuance = c.issuance(&cert, "med.acls", &intern, "Y");
    assert_eq!(
        c.reject(c.tx(&cert, Payload::IssueCredential(Box::new(issuance)))),
        TxError::Credential(Rule::MissingPrerequisite("med.bls".into()))
    );
    let _ = acls;
}

#[test]
fn suspended_or_expired_certifier_cannot_issue() {
    let mut c = Chain::new(4);
    let (cert, intern) = (Actor::new(50), Actor::new(60));
    c.ok(c.tx(&cert, schema("med.bls", &[])));
    c.register_subject(&intern);
    govern(
        &mut c,
        GovernanceAction::SuspendCertifier {
            certifier: cert.id,
            reason: "audit".into(),
        },
    );
    let issuance = c.issuance(&cert, "med.bls", &intern, "X");
    assert!(matches!(
        c.reject(c.tx(&cert, Payload::IssueCredential(Box::new(issuance)))),
        TxError::Credential(Rule::CertifierSuspended { .. })
    ));
    // Re-accredited for a period that has not started yet.
    let start = c.time_ms + 10 * DAY;
    govern(
        &mut c,
        GovernanceAction::AccreditCertifier {
            certifier: cert.id,
            scope: vec!["med.*".into()],
            valid_from_ms: start,
            valid_until_ms: start + DAY,
        },
    );
    let issuance = c.issuance(&cert, "med.bls", &intern, "X");
    assert_eq!(
        c.reject(c.tx(&cert, Payload::IssueCredential(Box::new(issuance)))),
        TxError::Credential(Rule::AccreditationNotValid(cert.id))
    );
    // Slashed by governance for off-chain fraud.
    let before = c.get::<Account>(&keys::account(&cert.id)).unwrap().bonded;
    govern(
        &mut c,
        GovernanceAction::SlashCertifier {
            certifier: cert.id,
            fraction_bps: 5_000,
            reason: "forged exams".into(),
        },
    );
    let after = c.get::<Account>(&keys::account(&cert.id)).unwrap().bonded;
    assert_eq!(after, before / 2);
    // Marked as slashed for fraud, not merely suspended: verifiers refuse every
    // credential of a certifier in this state.
    let record: Certifier = c.get(&keys::certifier(&cert.id)).unwrap();
    assert_eq!(
        record.accreditation.latest().unwrap().status,
        AccreditationStatus::Slashed("forged exams".into())
    );
    let issuance = c.issuance(&cert, "med.bls", &intern, "X");
    assert!(matches!(
        c.reject(c.tx(&cert, Payload::IssueCredential(Box::new(issuance)))),
        TxError::Credential(Rule::CertifierSuspended { .. })
    ));
}

/// Governance revokes a certifier's credentials by issue-height range: refused when
/// the range is malformed, reaches past the chain, names no certifier or would grow
/// the record past its bound; once applied, the credentials covered can no longer be
/// granted or count as prerequisites, and the others are untouched.
/// Each credential holds its own entry in its certifier's status lists: a second
/// claim of a taken entry, or of one past the last list, is refused, and a refused
/// issuance takes no entry.
#[test]
fn a_status_entry_belongs_to_one_credential() {
    let mut c = Chain::new(4);
    let (cert, intern, other) = (Actor::new(50), Actor::new(60), Actor::new(62));
    c.ok(c.tx(&cert, schema("med.bls", &[])));
    c.register_subject(&intern);
    c.register_subject(&other);
    let issuance = c.issuance(&cert, "med.bls", &intern, "X");
    let index = issuance.claim.status_index;
    let first = issued_id(&c.ok(c.tx(&cert, Payload::IssueCredential(Box::new(issuance)))));
    assert_eq!(
        c.get::<Hash>(&keys::status_slot(&cert.id, index)),
        Some(first)
    );
    assert_eq!(c.get::<u64>(&keys::status_next(&cert.id)), Some(index + 1));
    // The same entry for another credential (another subject).
    c.status_index = index - 1;
    let again = c.issuance(&cert, "med.bls", &other, "Y");
    assert_eq!(again.claim.status_index, index);
    assert_eq!(
        c.reject(c.tx(&cert, Payload::IssueCredential(Box::new(again)))),
        TxError::StatusIndexTaken {
            certifier: cert.id,
            index,
            by: first
        }
    );
    // Past the last list.
    c.status_index = mpms_ledger::transaction::MAX_STATUS_INDEX - 1;
    let past = c.issuance(&cert, "med.bls", &other, "Y");
    assert_eq!(
        c.reject(c.tx(&cert, Payload::IssueCredential(Box::new(past)))),
        TxError::Credential(Rule::StatusIndexOutOfRange(
            mpms_ledger::transaction::MAX_STATUS_INDEX
        ))
    );
    assert_eq!(c.get::<u64>(&keys::status_next(&cert.id)), Some(index + 1));
    // The last entry is taken like any other.
    c.status_index = mpms_ledger::transaction::MAX_STATUS_INDEX - 2;
    let last = c.issuance(&cert, "med.bls", &other, "Y");
    c.ok(c.tx(&cert, Payload::IssueCredential(Box::new(last))));
    assert_eq!(
        c.get::<u64>(&keys::status_next(&cert.id)),
        Some(mpms_ledger::transaction::MAX_STATUS_INDEX)
    );
}

#[test]
fn governance_revokes_a_certifiers_credentials_by_issue_height() {
    let mut c = Chain::new(4);
    let (cert, intern, other) = (Actor::new(50), Actor::new(60), Actor::new(62));
    c.ok(c.tx(&cert, schema("med.bls", &[])));
    c.ok(c.tx(&cert, schema("med.acls", &["med.bls"])));
    c.register_subject(&intern);
    c.register_subject(&other);
    let kept = |c: &mut Chain, subject: &Actor| {
        let issuance = c.issuance(&cert, "med.bls", subject, "X");
        let tx = c.tx(&cert, Payload::IssueCredential(Box::new(issuance.clone())));
        (issued_id(&c.ok(tx)), issuance)
    };
    let (early, early_issuance) = kept(&mut c, &intern);
    let early_height = c.height;
    c.skip(3);
    let (late, late_issuance) = kept(&mut c, &other);
    let revoke =
        |from_height, to_height, reason: &str| GovernanceAction::RevokeCertifierCredentials {
            certifier: cert.id,
            from_height,
            to_height,
            reason: reason.into(),
        };
    let a0 = Actor::new(10);
    // Each case against the height it is executed at (a block is made per case).
    type Case = fn(u64) -> (u64, Option<u64>, String);
    let cases: [(Case, &str); 5] = [
        (|_| (5, Some(4), "x".into()), "to_height must not be below"),
        (|h| (0, Some(h + 2), "x".into()), "above the chain's height"),
        (|h| (h + 5, None, "x".into()), "above the chain's height"),
        (|_| (0, None, String::new()), "reason"),
        (|_| (0, None, "x".repeat(300)), "reason"),
    ];
    for (case, why) in cases {
        let (from, to, reason) = case(c.height);
        let bad = revoke(from, to, &reason);
        let err = c.reject(c.tx(&a0, Payload::Propose { action: bad }));
        assert!(err.to_string().contains(why), "{why}: {err}");
    }
    let stranger = GovernanceAction::RevokeCertifierCredentials {
        certifier: intern.id,
        from_height: 0,
        to_height: None,
        reason: "x".into(),
    };
    c.reject(c.tx(&a0, Payload::Propose { action: stranger }));
    // Only the early credential's height.
    govern(
        &mut c,
        revoke(early_height, Some(early_height), "forged exams"),
    );
    let record: Credential = c.get(&keys::credential(&early)).unwrap();
    assert_eq!(
        record.status,
        CredentialStatus::Active,
        "the record stays as issued"
    );
    let revocations: mpms_ledger::records::CertifierRevocations =
        c.get(&keys::certifier_revocations(&cert.id)).unwrap();
    assert!(matches!(
        record.status_with(Some(&revocations), c.height),
        CredentialStatus::Revoked { .. }
    ));
    let board = Actor::new(51);
    let grant = |c: &mut Chain, subject: &Actor, id: Hash, issuance: &CredentialIssuance| {
        let sealed = reseal_key(
            &id,
            issuance.subject_key.get().unwrap(),
            &subject.enc,
            &board.enc.encryption_key(),
            &mut c.rng,
        )
        .unwrap();
        Payload::GrantAccess {
            credential: id,
            grantee: board.id,
            request: None,
            sealed_key: Erasable::new(sealed),
            expires_at_ms: c.time_ms + DAY,
        }
    };
    let payload = grant(&mut c, &intern, early, &early_issuance);
    assert_eq!(
        c.reject(c.tx(&intern, payload)),
        TxError::CredentialRevoked(early)
    );
    let payload = grant(&mut c, &other, late, &late_issuance);
    c.ok(c.tx(&other, payload));
    // The revoked basic credential no longer counts as the advanced one's
    // prerequisite; the other subject's still does.
    assert_eq!(
        issue(&mut c, "med.acls", &intern).unwrap_err(),
        TxError::Credential(Rule::MissingPrerequisite("med.bls".into()))
    );
    issue(&mut c, "med.acls", &other).expect("prerequisite held");
    // The record is bounded: at the bound, governance revokes a wider range.
    for _ in 1..mpms_ledger::records::MAX_REVOKED_RANGES {
        govern(&mut c, revoke(0, Some(0), "padding"));
    }
    let err = c.reject(c.tx(
        &a0,
        Payload::Propose {
            action: revoke(0, None, "one more"),
        },
    ));
    assert!(err.to_string().contains("revoked ranges"), "{err}");
}

// ---------------------------------------------------------------- access

#[test]
fn access_request_grant_inspect_revoke() {
    let mut c = Chain::new(4);
    let (cert, intern, board, hospital) = (
        Actor::new(50),
        Actor::new(60),
        Actor::new(51),
        Actor::new(61),
    );
    c.ok(c.tx(&cert, schema("med.bls", &[])));
    c.register_subject(&intern);
    let issuance = c.issuance(&cert, "med.bls", &intern, "Dr. A. Intern");
    let cred_id =
        issued_id(&c.ok(c.tx(&cert, Payload::IssueCredential(Box::new(issuance.clone())))));

    // Only organizations request access.
    let req = |subject, creds: Vec<Hash>| Payload::RequestAccess {
        subject,
        credentials: creds,
        purpose: mpms_ledger::notes::seal_purpose(
            &subject,
            &board.id,
            "license review",
            &mut rand_chacha::ChaCha20Rng::seed_from_u64(3),
        )
        .unwrap(),
    };
    assert!(matches!(
        c.reject(c.tx(&cert, req(intern.id, vec![cred_id]))),
        TxError::NotRegistered {
            role: "organization",
            ..
        }
    ));
    assert!(matches!(
        c.reject(c.tx(&board, req(intern.id, vec![]))),
        TxError::InvalidField { .. }
    ));
    // A request names the subject its credentials name.
    assert!(matches!(
        c.reject(c.tx(&board, req(board.id, vec![cred_id]))),
        TxError::InvalidField { .. }
    ));
    let nonce = c.nonce(&board.id);
    c.ok(c.tx(&board, req(intern.id, vec![cred_id])));
    let request = request_id(&board.id, nonce);

    // The subject re-seals the content key to the board.
    let sealed = reseal_key(
        &cred_id,
        issuance.subject_key.get().unwrap(),
        &intern.enc,
        &board.enc.encryption_key(),
        &mut c.rng,
    )
    .unwrap();
    let grant = |grantee, request, expires| Payload::GrantAccess {
        credential: cred_id,
        grantee,
        request,
        sealed_key: Erasable::new(sealed.clone()),
        expires_at_ms: expires,
    };
    let later = c.time_ms + 5_000;
    assert_eq!(
        c.reject(c.tx(&board, grant(board.id, Some(request), later))),
        TxError::NotSubject
    );
    assert!(matches!(
        c.reject(c.tx(&intern, grant(cert.id, None, later))),
        TxError::NotRegistered { .. }
    ));
    assert!(matches!(
        c.reject(c.tx(&intern, grant(board.id, Some(Hash::digest(b"r")), later))),
        TxError::UnknownRequest(_)
    ));
    assert!(matches!(
        c.reject(c.tx(&intern, grant(board.id, None, c.time_ms))),
        TxError::InvalidField { .. }
    ));
    c.ok(c.tx(
        &hospital,
        Payload::RegisterOrganization {
            name: "General".into(),
            kind: OrganizationKind::Hospital,
            encryption_key: hospital.enc.encryption_key(),
            work: work(&hospital),
        },
    ));
    assert!(matches!(
        c.reject(c.tx(&intern, grant(hospital.id, Some(request), later))),
        TxError::RequestMismatch(_)
    ));
    let nonce = c.nonce(&intern.id);
    c.ok(c.tx(&intern, grant(board.id, Some(request), c.time_ms + 5_000)));
    let gid = grant_id(&intern.id, nonce);

    // The board decrypts the credential with its grant and checks it.
    // The grant records the digest of the key sealed to the board (the key itself
    // is in the granting transaction, erasable).
    let g: Grant = c.get(&keys::grant(&gid)).unwrap();
    assert_eq!(g.sealed_key, Erasable::new(sealed.clone()).digest());
    let content = open_content(&issuance, &sealed, &board.enc).expect("grantee opens");
    assert_eq!(content.field_text("result"), "passed");
    assert!(open_content(&issuance, &sealed, &hospital.enc).is_err());

    // Recorded inspection, only by the grantee.
    assert_eq!(
        c.reject(c.tx(
            &hospital,
            Payload::RecordInspection {
                grant: gid,
                outcome: sealed_verified(&intern.id, &gid)
            }
        )),
        TxError::NotGrantee
    );
    c.ok(c.tx(
        &board,
        Payload::RecordInspection {
            grant: gid,
            outcome: sealed_verified(&intern.id, &gid),
        },
    ));
    let g: Grant = c.get(&keys::grant(&gid)).unwrap();
    assert_eq!(g.inspection_count, 1);
    let first: mpms_ledger::records::Inspection = c.get(&keys::inspection(&gid, 0)).unwrap();
    assert_eq!(
        mpms_ledger::notes::open_outcome(&intern.key, &gid, &first.outcome).unwrap(),
        InspectionOutcome::Verified
    );

    // Expired grant: the grant lapses 5 s after it was made; blocks are 1 s apart.
    c.skip(5);
    assert_eq!(
        c.reject(c.tx(
            &board,
            Payload::RecordInspection {
                grant: gid,
                outcome: sealed_verified(&intern.id, &gid)
            }
        )),
        TxError::GrantExpired(gid)
    );

    // A fresh grant, revoked by the subject, can no longer be used.
    let nonce = c.nonce(&intern.id);
    c.ok(c.tx(&intern, grant(board.id, None, c.time_ms + 100_000)));
    let gid2 = grant_id(&intern.id, nonce);
    assert_eq!(
        c.reject(c.tx(&board, Payload::RevokeGrant { grant: gid2 })),
        TxError::NotSubject
    );
    c.ok(c.tx(&intern, Payload::RevokeGrant { grant: gid2 }));
    assert_eq!(
        c.reject(c.tx(&intern, Payload::RevokeGrant { grant: gid2 })),
        TxError::GrantRevoked(gid2)
    );
    assert_eq!(
        c.reject(c.tx(
            &board,
            Payload::RecordInspection {
                grant: gid2,
                outcome: sealed_verified(&intern.id, &gid2)
            }
        )),
        TxError::GrantRevoked(gid2)
    );
    let unknown = Hash::digest(b"g");
    assert_eq!(
        c.reject(c.tx(
            &board,
            Payload::RecordInspection {
                grant: unknown,
                outcome: sealed_verified(&intern.id, &unknown)
            }
        )),
        TxError::UnknownGrant(unknown)
    );

    // A revoked credential cannot be granted.
    c.ok(c.tx(
        &cert,
        Payload::RevokeCredential {
            credential: cred_id,
            reason: "error".into(),
        },
    ));
    assert_eq!(
        c.reject(c.tx(&intern, grant(board.id, None, c.time_ms + 100_000))),
        TxError::CredentialRevoked(cred_id)
    );
}

// ---------------------------------------------------------------- evidence

fn vote(c: &Chain, i: usize, height: u64, block: Hash, kind: VoteKind) -> mpms_ledger::SignedVote {
    Vote {
        height,
        round: 0,
        kind,
        block: Some(block),
        valid_round: None,
    }
    .sign(CHAIN, c.authorities[i].id, &c.consensus[i])
}

#[test]
fn equivocation_is_slashed_jailed_and_removed() {
    let mut c = Chain::new(4);
    c.skip(2);
    let offender = c.authorities[3].id;
    let first = vote(&c, 3, 2, Hash::digest(b"a"), VoteKind::Prevote);
    let second = vote(&c, 3, 2, Hash::digest(b"b"), VoteKind::Prevote);
    let rich = Actor::new(52);
    // Not evidence: the same statement twice, different steps, a forged signature.
    let same = Evidence::Equivocation {
        first,
        second: first,
    };
    assert!(matches!(
        c.reject(c.tx(&rich, Payload::SubmitEvidence(Box::new(same)))),
        TxError::InvalidEvidence(_)
    ));
    let other_step = vote(&c, 3, 2, Hash::digest(b"b"), VoteKind::Precommit);
    let ev = Evidence::Equivocation {
        first,
        second: other_step,
    };
    assert!(matches!(
        c.reject(c.tx(&rich, Payload::SubmitEvidence(Box::new(ev)))),
        TxError::InvalidEvidence(_)
    ));
    let mut forged = second;
    forged.signature = first.signature;
    let ev = Evidence::Equivocation {
        first,
        second: forged,
    };
    assert!(matches!(
        c.reject(c.tx(&rich, Payload::SubmitEvidence(Box::new(ev)))),
        TxError::InvalidEvidence(_)
    ));
    let future = Evidence::Equivocation {
        first: vote(&c, 3, 50, Hash::digest(b"a"), VoteKind::Prevote),
        second: vote(&c, 3, 50, Hash::digest(b"b"), VoteKind::Prevote),
    };
    assert!(matches!(
        c.reject(c.tx(&rich, Payload::SubmitEvidence(Box::new(future)))),
        TxError::InvalidEvidence(_)
    ));

    let stake_before = c.get::<Account>(&keys::account(&offender)).unwrap().bonded;
    let ev = Evidence::Equivocation { first, second };
    c.ok(c.tx(&rich, Payload::SubmitEvidence(Box::new(ev.clone()))));
    let stake_after = c.get::<Account>(&keys::account(&offender)).unwrap().bonded;
    assert_eq!(stake_after, stake_before - stake_before / 10);
    let auth: Authority = c.get(&keys::authority(&offender)).unwrap();
    assert_eq!(auth.status.latest(), Some(&AuthorityStatus::Jailed));
    assert!(!c.authority_set().contains(&offender));
    assert_eq!(c.authority_set().len(), 3);
    // Punished once only.
    assert_eq!(
        c.reject(c.tx(&rich, Payload::SubmitEvidence(Box::new(ev)))),
        TxError::OffenceAlreadyPunished
    );
}

#[test]
fn evidence_too_old_is_refused() {
    let mut c = Chain::new(4);
    c.skip(2);
    let ev = Evidence::Equivocation {
        first: vote(&c, 1, 1, Hash::digest(b"a"), VoteKind::Precommit),
        second: vote(&c, 1, 1, Hash::digest(b"b"), VoteKind::Precommit),
    };
    c.skip(60);
    let rich = Actor::new(52);
    assert!(matches!(
        c.reject(c.tx(&rich, Payload::SubmitEvidence(Box::new(ev)))),
        TxError::EvidenceTooOld { .. }
    ));
}

#[test]
fn fake_credential_proposer_and_voters_are_slashed() {
    let mut c = Chain::new(4);
    let (cert, intern) = (Actor::new(50), Actor::new(60));
    c.ok(c.tx(&cert, schema("med.bls", &[])));
    c.ok(c.tx(&cert, schema("med.acls", &["med.bls"])));
    c.register_subject(&intern);
    // A Byzantine proposer builds a block at the next height holding an issuance of a
    // stacked credential whose prerequisite the subject lacks.
    let issuance = c.issuance(&cert, "med.acls", &intern, "X");
    let fake_tx = c.tx(&cert, Payload::IssueCredential(Box::new(issuance)));
    let honest_tx = c.tx(&Actor::new(52), Payload::Bond { amount: 1 });
    let txs = vec![honest_tx, fake_tx.clone()];
    let height = c.height + 1;
    let header = Header {
        chain_id: CHAIN.into(),
        height,
        parent: c.last_hash,
        time_ms: c.time_ms + 1_000,
        proposer: c.authorities[1].id,
        tx_root: tx_root(&txs),
        tx_count: 2,
        state_root: Hash::digest(b"whatever"),
        authority_set: c.authority_set().hash(),
        next_authority_set: c.authority_set().hash(),
        last_commit: Hash::ZERO,
    };
    let block = mpms_ledger::Block {
        header: header.clone(),
        last_commit: None,
        transactions: txs,
    };
    let proof = block.tx_proof(1).unwrap();
    let proposal = vote(&c, 1, height, header.hash(), VoteKind::Proposal);
    let prevote = vote(&c, 2, height, header.hash(), VoteKind::Prevote);
    // Honest nodes never accept it; the chain moves on.
    c.skip(1);
    let rich = Actor::new(52);
    // Evidence that carries the subject's ciphertext and sealed key is refused: it
    // stays on chain for good, and judges the claim, not the content.
    let carrying = Evidence::FakeCredential {
        header: Box::new(header.clone()),
        vote: proposal,
        transaction: fake_tx.clone(),
        proof: proof.clone(),
    };
    assert!(matches!(
        c.reject(c.tx(&rich, Payload::SubmitEvidence(Box::new(carrying)))),
        TxError::InvalidEvidence(why) if why.contains("erased")
    ));
    for (v, who) in [(proposal, 1usize), (prevote, 2)] {
        let ev = Evidence::FakeCredential {
            header: Box::new(header.clone()),
            vote: v,
            transaction: fake_tx.erased(),
            proof: proof.clone(),
        };
        let receipt = c.ok(c.tx(&rich, Payload::SubmitEvidence(Box::new(ev))));
        assert!(receipt.events.iter().any(|e| matches!(e, Event::AuthoritySlashed { operator, .. } if *operator == c.authorities[who].id)));
        assert!(!c.authority_set().contains(&c.authorities[who].id));
    }
    assert_eq!(c.authority_set().len(), 2);

    // Evidence against a valid credential is refused.
    let mut c = Chain::new(4);
    c.ok(c.tx(&cert, schema("med.bls", &[])));
    c.register_subject(&intern);
    let issuance = c.issuance(&cert, "med.bls", &intern, "X");
    let good_tx = c.tx(&cert, Payload::IssueCredential(Box::new(issuance)));
    let height = c.height + 1;
    let mut header = header.clone();
    header.height = height;
    header.parent = c.last_hash;
    header.time_ms = c.time_ms + 1_000;
    header.tx_root = tx_root(std::slice::from_ref(&good_tx));
    header.tx_count = 1;
    let block = mpms_ledger::Block {
        header: header.clone(),
        last_commit: None,
        transactions: vec![good_tx.clone()],
    };
    let ev = Evidence::FakeCredential {
        header: Box::new(header.clone()),
        vote: vote(&c, 1, height, header.hash(), VoteKind::Proposal),
        transaction: good_tx.erased(),
        proof: block.tx_proof(0).unwrap(),
    };
    c.skip(1);
    assert!(matches!(
        c.reject(c.tx(&rich, Payload::SubmitEvidence(Box::new(ev)))),
        TxError::InvalidEvidence(_)
    ));
    // A wrong inclusion proof is refused.
    let mut bad_proof = block.tx_proof(0).unwrap();
    bad_proof.leaf_count = 2;
    let ev = Evidence::FakeCredential {
        header: Box::new(header.clone()),
        vote: vote(&c, 1, height, header.hash(), VoteKind::Proposal),
        transaction: good_tx.erased(),
        proof: bad_proof,
    };
    assert!(matches!(
        c.reject(c.tx(&rich, Payload::SubmitEvidence(Box::new(ev)))),
        TxError::InvalidEvidence(_)
    ));
}

#[test]
fn issuance_out_of_scope_or_by_unaccredited_certifier() {
    let mut c = Chain::new(4);
    let (cert, intern, rich, college) = (
        Actor::new(50),
        Actor::new(60),
        Actor::new(52),
        Actor::new(62),
    );
    c.register_subject(&intern);
    // A nursing college, accredited for nursing.* only, registers nursing.basic.
    c.ok(c.tx(
        &college,
        Payload::RegisterCertifier {
            name: "Nursing College".into(),
            encryption_key: college.enc.encryption_key(),
            work: work(&college),
        },
    ));
    c.ok(c.tx(
        &rich,
        Payload::Transfer {
            to: college.id,
            amount: 1_000,
        },
    ));
    c.ok(c.tx(&college, Payload::Bond { amount: 200 }));
    let pending = c.issuance(&college, "nursing.basic", &intern, "X");
    // Not yet accredited: cannot issue anything.
    assert_eq!(
        c.reject(c.tx(&college, Payload::IssueCredential(Box::new(pending)))),
        TxError::Credential(Rule::NotAccredited(college.id))
    );
    let start = c.time_ms - DAY;
    govern(
        &mut c,
        GovernanceAction::AccreditCertifier {
            certifier: college.id,
            scope: vec!["nursing.*".into()],
            valid_from_ms: start,
            valid_until_ms: start + 100 * DAY,
        },
    );
    c.ok(c.tx(&college, schema("nursing.basic", &[])));
    // The hospital (scope med.*) may not issue the college's schema.
    let issuance = c.issuance(&cert, "nursing.basic", &intern, "X");
    assert_eq!(
        c.reject(c.tx(&cert, Payload::IssueCredential(Box::new(issuance)))),
        TxError::Credential(Rule::OutOfScope {
            schema: "nursing.basic".into(),
            certifier: cert.id
        })
    );
    // The college may.
    let issuance = c.issuance(&college, "nursing.basic", &intern, "X");
    c.ok(c.tx(&college, Payload::IssueCredential(Box::new(issuance))));
}

#[test]
fn node_registry_by_governance() {
    use mpms_ledger::execute::admitted_peers;
    let mut c = Chain::new(4);
    let a0 = Actor::new(10);
    assert_eq!(a0.id, c.authorities[0].id);
    let admitted = |c: &Chain| admitted_peers(&c.state, c.height + 1).unwrap();
    let before = admitted(&c);
    assert_eq!(
        before.len(),
        4,
        "the genesis authorities' nodes: {before:?}"
    );
    let admit = GovernanceAction::AdmitNode {
        peer_id: "node-of-hospital".into(),
        operator: a0.id,
    };
    govern(&mut c, admit.clone());
    assert!(admitted(&c).contains("node-of-hospital"));
    // Admitting it twice is refused when proposed.
    assert!(matches!(
        c.reject(c.tx(&a0, Payload::Propose { action: admit })),
        TxError::InvalidAction(_)
    ));
    govern(
        &mut c,
        GovernanceAction::RemoveNode {
            peer_id: "node-of-hospital".into(),
        },
    );
    assert_eq!(admitted(&c), before);
    // Removing a node that is not registered is refused.
    let unknown = GovernanceAction::RemoveNode {
        peer_id: "nobody".into(),
    };
    assert!(matches!(
        c.reject(c.tx(&a0, Payload::Propose { action: unknown })),
        TxError::InvalidAction(_)
    ));
}

/// A new identity costs its client a proof of work; one without it is refused and
/// changes nothing (accounts were free to create).
#[test]
fn a_registration_carries_the_accounts_proof_of_work() {
    let mut c = Chain::new(4);
    let bits = harness::params().account_creation_work_bits;
    assert!(bits > 0);
    for (i, make) in [
        |a: &Actor, work| Payload::RegisterSubject {
            encryption_key: a.enc.encryption_key(),
            work,
        },
        |a: &Actor, work| Payload::RegisterOrganization {
            name: "Clinic".into(),
            kind: OrganizationKind::Hospital,
            encryption_key: a.enc.encryption_key(),
            work,
        },
        |a: &Actor, work| Payload::RegisterCertifier {
            name: "College".into(),
            encryption_key: a.enc.encryption_key(),
            work,
        },
    ]
    .into_iter()
    .enumerate()
    {
        let a = Actor::new(90 + i as u8);
        let not_a_stamp = (0..)
            .find(|w| !mpms_ledger::work::meets(CHAIN, &a.id, *w, bits))
            .unwrap();
        let refused = c.reject(c.tx(&a, make(&a, not_a_stamp)));
        assert!(
            matches!(refused, TxError::InvalidField { field: "work", .. }),
            "{refused:?}"
        );
        // Another account's stamp is worth nothing here either.
        let other = Actor::new(120 + i as u8);
        let borrowed = work(&other);
        if !mpms_ledger::work::meets(CHAIN, &a.id, borrowed, bits) {
            c.reject(c.tx(&a, make(&a, borrowed)));
        }
        c.ok(c.tx(&a, make(&a, work(&a))));
    }
}

/// An account that rotates its signing key again and again keeps a small record:
/// keys older than the evidence window are forgotten, and within the window at most
/// sixteen are kept (every rotation used to add one for ever, until the account no
/// longer decoded).
#[test]
fn rotating_keys_again_and_again_keeps_the_record_small() {
    let mut c = Chain::new(4);
    let mut actor = Actor::new(52);
    let size = |c: &Chain| {
        mpms_ledger::State::get(&c.state, &keys::account(&Actor::new(52).id))
            .unwrap()
            .unwrap()
            .len()
    };
    let rotate = |c: &Chain, actor: &Actor, seed: u8| {
        c.tx(
            actor,
            Payload::RotateKeys {
                signing_key: Some(SigningKey::from_seed(&[seed; 32]).public_key()),
                encryption_key: None,
            },
        )
    };
    let mut refused = None;
    for seed in 100..140u8 {
        let tx = rotate(&c, &actor, seed);
        let results = c.block(&[tx]);
        match &results[0] {
            Ok(_) => actor.key = SigningKey::from_seed(&[seed; 32]),
            Err(e) => {
                refused = Some(e.clone());
                break;
            }
        }
    }
    assert!(
        matches!(
            refused,
            Some(TxError::InvalidField {
                field: "signing_key",
                ..
            })
        ),
        "{refused:?}"
    );
    let capped = size(&c);
    // After the evidence window the old keys are forgotten and rotating works again.
    c.skip(harness::params().evidence_max_age_blocks + 1);
    for seed in 150..160u8 {
        let tx = rotate(&c, &actor, seed);
        assert!(c.block(&[tx])[0].is_ok());
        actor.key = SigningKey::from_seed(&[seed; 32]);
    }
    assert!(size(&c) <= capped, "{} > {capped}", size(&c));
}

#[test]
fn content_is_checked_against_its_schema_before_sealing() {
    use mpms_ledger::claims::{ClaimError, FieldValue};
    use mpms_ledger::credential::{prepare_issuance, IssueError, SchemaRef};
    let mut c = Chain::new(4);
    let certifier = Actor::new(50);
    let subject = Actor::new(60);
    let fields = vec![
        FieldSpec::required(
            "systolic",
            FieldKind::Number {
                unit: "mm[Hg]".into(),
            },
        ),
        FieldSpec::optional("note", FieldKind::Text),
    ];
    let mut content = c.content("Patient P");
    let mut prepare = |content: &mpms_ledger::credential::CredentialContent| {
        prepare_issuance(
            CHAIN,
            &certifier.key,
            certifier.id,
            SchemaRef {
                id: "med.vital-signs",
                fields: &fields,
            },
            subject.id,
            &subject.enc.encryption_key(),
            content,
            mpms_ledger::credential::ClaimTerms::new(0, u64::MAX, 0),
            &mut c.rng,
        )
    };
    // The course fields do not fit a vital-signs schema: refused, nothing sealed.
    assert!(matches!(
        prepare(&content),
        Err(IssueError::Content {
            source: ClaimError::Undeclared(_),
            ..
        })
    ));
    content.fields.clear();
    assert!(matches!(
        prepare(&content),
        Err(IssueError::Content {
            source: ClaimError::Missing(_),
            ..
        })
    ));
    content.fields.insert(
        "systolic".into(),
        FieldValue::Number {
            value: "128".into(),
            unit: "mm[Hg]".into(),
        },
    );
    let issuance = prepare(&content).expect("content fits its schema");
    assert_eq!(issuance.claim.schema, "med.vital-signs");
    assert_eq!(issuance.claim.commitment, content.commitment());
}

/// A block at the next height holding `txs`, and a proposal for it by authority 1:
/// what a Byzantine (or, for a valid block, an honest) proposer would sign.
fn proposed_block(
    c: &Chain,
    txs: Vec<mpms_ledger::SignedTransaction>,
) -> (Header, mpms_ledger::Block, mpms_ledger::SignedVote) {
    let height = c.height + 1;
    let header = Header {
        chain_id: CHAIN.into(),
        height,
        parent: c.last_hash,
        time_ms: c.time_ms + 1_000,
        proposer: c.authorities[1].id,
        tx_root: tx_root(&txs),
        tx_count: txs.len() as u32,
        state_root: Hash::digest(b"whatever"),
        authority_set: c.authority_set().hash(),
        next_authority_set: c.authority_set().hash(),
        last_commit: Hash::ZERO,
    };
    let block = mpms_ledger::Block {
        header: header.clone(),
        last_commit: None,
        transactions: txs,
    };
    let proposal = vote(c, 1, height, header.hash(), VoteKind::Proposal);
    (header, block, proposal)
}

#[test]
fn practitioners_sign_for_their_hospital_only_under_a_delegation_in_force() {
    use mpms_ledger::credential::{prepare_issuance_with_vc, Issuer, Recipient, SchemaRef};
    let mut c = Chain::new(4);
    let (hospital, patient) = (Actor::new(50), Actor::new(60));
    let (doctor, locum, impostor) = (Actor::new(70), Actor::new(71), Actor::new(72));
    c.ok(c.tx(&hospital, schema("med.clinical-note", &[])));
    c.ok(c.tx(&hospital, schema("med.lab-result", &[])));
    c.register_subject(&patient);
    let issue = |c: &mut Chain, who: &Actor, schema: &str| {
        let issuance = c.delegated_issuance(&hospital, who, schema, &patient);
        c.tx(&hospital, Payload::IssueCredential(Box::new(issuance)))
    };
    let delegate = |c: &Chain, who: &Actor, schemas: &[&str], until_ms: u64| {
        c.tx(
            &hospital,
            Payload::Delegate {
                practitioner: who.id,
                role: mpms_ledger::records::role_digest("attending cardiologist", &[7; 16]),
                schemas: schemas.iter().map(|s| s.to_string()).collect(),
                valid_from_ms: c.time_ms - DAY,
                valid_until_ms: until_ms,
            },
        )
    };

    // A doctor without a delegation cannot issue.
    let tx = issue(&mut c, &doctor, "med.clinical-note");
    assert_eq!(
        c.reject(tx),
        TxError::Credential(Rule::NoDelegation {
            certifier: hospital.id,
            practitioner: doctor.id
        })
    );
    // A delegation applies from the next block: an issuance relying on it in the
    // same block is refused, whatever the order.
    let year = c.time_ms + 365 * DAY;
    let granted = delegate(&c, &doctor, &["med.clinical-*"], year);
    let issuance = c.delegated_issuance(&hospital, &doctor, "med.clinical-note", &patient);
    let early = c.tx_at(
        &hospital,
        c.nonce(&hospital.id) + 1,
        Payload::IssueCredential(Box::new(issuance)),
    );
    let results = c.block(&[granted, early]);
    assert!(results[0].is_ok(), "{:?}", results[0]);
    assert!(matches!(
        results[1],
        Err(TxError::Credential(Rule::NoDelegation { .. }))
    ));
    // Under the delegation: issued, naming both the doctor and the hospital. The
    // doctor's signature also verifies in the batch validators check a proposal with.
    let tx = issue(&mut c, &doctor, "med.clinical-note");
    assert!(c.batch_verifies(std::slice::from_ref(&tx)));
    let signed_by_doctor = issued_id(&c.ok(tx));
    let record: Credential = c.get(&keys::credential(&signed_by_doctor)).unwrap();
    assert_eq!(record.claim.certifier, hospital.id);
    assert_eq!(record.claim.practitioner, Some(doctor.id));
    // Outside its allowed schemas.
    let tx = issue(&mut c, &doctor, "med.lab-result");
    assert_eq!(
        c.reject(tx),
        TxError::Credential(Rule::DelegationOutOfScope {
            schema: "med.lab-result".into(),
            practitioner: doctor.id
        })
    );
    // A claim naming the doctor but signed with another key.
    let content = c.content("Patient P");
    let forged = prepare_issuance_with_vc(
        CHAIN,
        Issuer {
            certifier: hospital.id,
            signing_key: &impostor.key,
            practitioner: Some(doctor.id),
        },
        SchemaRef {
            id: "med.clinical-note",
            fields: &mpms_ledger::claims::course_fields(),
        },
        Recipient::Named {
            subject: patient.id,
            encryption_key: &patient.enc.encryption_key(),
        },
        &content,
        mpms_ledger::credential::ClaimTerms::new(c.time_ms - DAY, c.time_ms + DAY, 9_999),
        |_| mpms_ledger::credential::SignedForms::default(),
        &mut c.rng,
    )
    .unwrap();
    let forged = c.tx(&hospital, Payload::IssueCredential(Box::new(forged)));
    assert!(!c.batch_verifies(std::slice::from_ref(&forged)));
    assert_eq!(
        c.reject(forged),
        TxError::Credential(Rule::BadCertifierSignature)
    );
    // Only the hospital (or the doctor itself) may send the doctor's claim.
    let issuance = c.delegated_issuance(&hospital, &doctor, "med.clinical-note", &patient);
    assert_eq!(
        c.reject(c.tx(
            &Actor::new(52),
            Payload::IssueCredential(Box::new(issuance))
        )),
        TxError::NotIssuer
    );
    // An expired delegation.
    let soon = c.time_ms + 3_000;
    c.ok(delegate(&c, &locum, &["med.*"], soon));
    let tx = issue(&mut c, &locum, "med.lab-result");
    c.ok(tx);
    c.skip(3);
    let tx = issue(&mut c, &locum, "med.lab-result");
    assert_eq!(
        c.reject(tx),
        TxError::Credential(Rule::DelegationNotValid(locum.id))
    );

    // The block at this height with a valid issuance by the doctor, signed by an
    // honest proposer (kept to be accused below).
    let valid_tx = issue(&mut c, &doctor, "med.clinical-note");
    let (valid_header, valid_block, valid_vote) = proposed_block(&c, vec![valid_tx.clone()]);
    c.ok(valid_tx.clone());

    // Revocation: by another certifier, or of nothing, is refused; by the hospital
    // it applies from the next block.
    let other_certifier_revokes = c.tx(
        &Actor::new(51),
        Payload::RevokeDelegation {
            practitioner: doctor.id,
            reason: "left".into(),
        },
    );
    assert!(matches!(
        c.reject(other_certifier_revokes),
        TxError::UnknownDelegation(_) | TxError::NotRegistered { .. }
    ));
    c.ok(c.tx(
        &hospital,
        Payload::RevokeDelegation {
            practitioner: doctor.id,
            reason: "left the hospital".into(),
        },
    ));
    let tx = issue(&mut c, &doctor, "med.clinical-note");
    assert!(matches!(
        c.reject(tx),
        TxError::Credential(Rule::DelegationRevoked { .. })
    ));
    assert!(matches!(
        c.reject(c.tx(
            &hospital,
            Payload::RevokeDelegation {
                practitioner: doctor.id,
                reason: "again".into(),
            },
        )),
        TxError::UnknownDelegation(_)
    ));
    // What the doctor signed before stays valid.
    let record: Credential = c.get(&keys::credential(&signed_by_doctor)).unwrap();
    assert_eq!(record.status, CredentialStatus::Active);

    // Evidence: the honest block with the doctor's issuance from before the
    // revocation proves nothing (the delegation is judged as it stood at its height);
    // a block with an issuance after the revocation is a fake credential.
    let rich = Actor::new(52);
    let honest = Evidence::FakeCredential {
        header: Box::new(valid_header),
        vote: valid_vote,
        transaction: valid_tx.erased(),
        proof: valid_block.tx_proof(0).unwrap(),
    };
    assert!(matches!(
        c.reject(c.tx(&rich, Payload::SubmitEvidence(Box::new(honest)))),
        TxError::InvalidEvidence(_)
    ));
    let fake_tx = issue(&mut c, &doctor, "med.clinical-note");
    let (header, block, proposal) = proposed_block(&c, vec![fake_tx.clone()]);
    c.skip(1);
    let fake = Evidence::FakeCredential {
        header: Box::new(header),
        vote: proposal,
        transaction: fake_tx.erased(),
        proof: block.tx_proof(0).unwrap(),
    };
    let receipt = c.ok(c.tx(&rich, Payload::SubmitEvidence(Box::new(fake))));
    assert!(receipt.events.iter().any(
        |e| matches!(e, Event::AuthoritySlashed { operator, .. } if *operator == c.authorities[1].id)
    ));

    // Who may delegate: a certifier, to someone else, with sane terms.
    let bad = [
        (
            &Actor::new(52),
            Payload::Delegate {
                practitioner: doctor.id,
                role: mpms_ledger::records::role_digest("x", &[7; 16]),
                schemas: vec!["med.*".into()],
                valid_from_ms: 0,
                valid_until_ms: u64::MAX,
            },
        ),
        (
            &hospital,
            Payload::Delegate {
                practitioner: hospital.id,
                role: mpms_ledger::records::role_digest("x", &[7; 16]),
                schemas: vec!["med.*".into()],
                valid_from_ms: 0,
                valid_until_ms: u64::MAX,
            },
        ),
        (
            &hospital,
            Payload::Delegate {
                practitioner: doctor.id,
                role: mpms_ledger::records::role_digest("x", &[7; 16]),
                schemas: vec![],
                valid_from_ms: 0,
                valid_until_ms: u64::MAX,
            },
        ),
        (
            &hospital,
            Payload::Delegate {
                practitioner: doctor.id,
                role: mpms_ledger::records::role_digest("x", &[7; 16]),
                schemas: vec!["Not A Schema".into()],
                valid_from_ms: 0,
                valid_until_ms: u64::MAX,
            },
        ),
        (
            &hospital,
            Payload::Delegate {
                practitioner: doctor.id,
                role: mpms_ledger::records::role_digest("x", &[7; 16]),
                schemas: vec!["med.*".into()],
                valid_from_ms: 10,
                valid_until_ms: 10,
            },
        ),
    ];
    for (who, payload) in bad {
        let kind = format!("{payload:?}");
        let err = c.reject(c.tx(who, payload));
        assert!(
            matches!(
                err,
                TxError::NotRegistered { .. } | TxError::InvalidField { .. }
            ),
            "{kind}: {err}"
        );
    }
    // A new delegation after a revocation applies again from the next block.
    c.ok(delegate(&c, &doctor, &["med.lab-result"], year));
    let tx = issue(&mut c, &doctor, "med.lab-result");
    c.ok(tx);
}

/// Registers, funds, bonds and accredits `who` as a second hospital for `med.*`.
fn second_hospital(c: &mut Chain, who: &Actor) {
    accredited_hospital(c, who, "med.*");
}

/// `who` registers as a certifier, bonds stake and is accredited for `scope`.
fn accredited_hospital(c: &mut Chain, who: &Actor, scope: &str) {
    c.ok(c.tx(
        who,
        Payload::RegisterCertifier {
            name: "Second Hospital".into(),
            encryption_key: who.enc.encryption_key(),
            work: work(who),
        },
    ));
    c.ok(c.tx(
        &Actor::new(52),
        Payload::Transfer {
            to: who.id,
            amount: 1_000,
        },
    ));
    c.ok(c.tx(who, Payload::Bond { amount: 200 }));
    let start = c.time_ms - DAY;
    govern(
        c,
        GovernanceAction::AccreditCertifier {
            certifier: who.id,
            scope: vec![scope.into()],
            valid_from_ms: start,
            valid_until_ms: start + 100 * DAY,
        },
    );
}

/// A patient's record schema says only what kind of record it holds: the old chain
/// took a FHIR schema named and described after the test it records, and a
/// `record.` schema of any wording.
#[test]
fn a_record_schema_is_named_and_defined_by_its_kind_only() {
    use mpms_ledger::record_schema::RecordKind;
    let mut c = Chain::new(4);
    let cert = Actor::new(50);
    let lab = RecordKind::named("lab-result").unwrap();
    let register = |c: &Chain, who: &Actor, def: SchemaDefinition| {
        c.tx(who, Payload::RegisterSchema(Box::new(def)))
    };
    let field_of = |tx_result: TxError| match tx_result {
        TxError::InvalidField { field, .. } => field,
        other => panic!("{other:?}"),
    };
    // Clinical content under a name of the certifier's choosing.
    let mut glucose = lab.definition("med.glucose", None);
    glucose.description = "A blood glucose result".into();
    let tx = register(&c, &cert, glucose);
    assert_eq!(field_of(c.reject(tx)), "id");
    let tx = register(&c, &cert, lab.definition("record.troponin", None));
    assert_eq!(field_of(c.reject(tx)), "id");
    // A hospital accredited for record schemas.
    let hospital = Actor::new(65);
    accredited_hospital(&mut c, &hospital, "record.*");
    let id = "record.lab-result.2";
    let mut described = lab.definition(id, None);
    described.description = "Troponin".into();
    let mut unit = lab.definition(id, None);
    unit.fields[2] = mpms_ledger::claims::parse_spec("value:number:ng/L").unwrap();
    let mut said = lab.definition(id, None);
    said.completion_condition = "cardiac workup".into();
    for (def, field) in [
        (described, "description"),
        (unit, "fields"),
        (said, "completion_condition"),
    ] {
        let tx = register(&c, &hospital, def);
        assert_eq!(field_of(c.reject(tx)), field);
    }
    assert!(c.get::<Schema>(&keys::schema(id)).is_none());
    let tx = register(&c, &hospital, lab.definition(id, Some(30 * DAY)));
    c.ok(tx);
    let stored: Schema = c.get(&keys::schema(id)).unwrap();
    assert_eq!(stored.description, "A laboratory result");
    // Accredited for record schemas only, it registers no course.
    let tx = c.tx(&hospital, schema("record.bls", &[]));
    assert_eq!(field_of(c.reject(tx)), "id");
    assert!(matches!(
        c.reject(c.tx(&hospital, schema("cardio.bls", &[]))),
        TxError::Credential(Rule::OutOfScope { .. })
    ));
}

#[test]
fn a_correction_supersedes_its_entry_and_only_the_issuer_may_make_it() {
    let mut c = Chain::new(4);
    let (hospital, other_hospital) = (Actor::new(50), Actor::new(63));
    let (patient, other_patient) = (Actor::new(60), Actor::new(64));
    c.ok(c.tx(&hospital, schema("med.clinical-note", &[])));
    c.ok(c.tx(&hospital, schema("med.lab-result", &[])));
    c.register_subject(&patient);
    c.register_subject(&other_patient);
    second_hospital(&mut c, &other_hospital);
    let issuance = c.issuance(&hospital, "med.clinical-note", &patient, "Patient P");
    let first = issued_id(&c.ok(c.tx(&hospital, Payload::IssueCredential(Box::new(issuance)))));

    // Another hospital cannot correct it, nor can a correction change its subject or
    // schema, nor name an entry that does not exist.
    let by_other = c.correction(&other_hospital, "med.clinical-note", &patient, first);
    assert_eq!(
        c.reject(c.tx(
            &other_hospital,
            Payload::IssueCredential(Box::new(by_other))
        )),
        TxError::Credential(Rule::CorrectionMismatch(first))
    );
    let other_subject = c.correction(&hospital, "med.clinical-note", &other_patient, first);
    assert_eq!(
        c.reject(c.tx(&hospital, Payload::IssueCredential(Box::new(other_subject)))),
        TxError::Credential(Rule::CorrectionMismatch(first))
    );
    let other_schema = c.correction(&hospital, "med.lab-result", &patient, first);
    assert_eq!(
        c.reject(c.tx(&hospital, Payload::IssueCredential(Box::new(other_schema)))),
        TxError::Credential(Rule::CorrectionMismatch(first))
    );
    let nothing = Hash::digest(b"no such entry");
    let of_nothing = c.correction(&hospital, "med.clinical-note", &patient, nothing);
    assert_eq!(
        c.reject(c.tx(&hospital, Payload::IssueCredential(Box::new(of_nothing)))),
        TxError::Credential(Rule::UnknownCorrected(nothing))
    );

    // The issuing hospital corrects it: both stay, the first marked superseded.
    let correction = c.correction(&hospital, "med.clinical-note", &patient, first);
    let honest_tx = c.tx(&hospital, Payload::IssueCredential(Box::new(correction)));
    let (header, block, proposal) = proposed_block(&c, vec![honest_tx.clone()]);
    let second = issued_id(&c.ok(honest_tx.clone()));
    let old: Credential = c.get(&keys::credential(&first)).unwrap();
    let new: Credential = c.get(&keys::credential(&second)).unwrap();
    assert_eq!(old.superseded_by, Some(second));
    assert_eq!(old.status, CredentialStatus::Active);
    assert_eq!(new.claim.supersedes, Some(first));
    assert_eq!(new.superseded_by, None);
    // A second correction of the same entry is refused: the newest is corrected.
    let again = c.correction(&hospital, "med.clinical-note", &patient, first);
    assert_eq!(
        c.reject(c.tx(&hospital, Payload::IssueCredential(Box::new(again)))),
        TxError::AlreadySuperseded {
            credential: first,
            by: second
        }
    );
    let third = c.correction(&hospital, "med.clinical-note", &patient, second);
    let third = issued_id(&c.ok(c.tx(&hospital, Payload::IssueCredential(Box::new(third)))));
    let middle: Credential = c.get(&keys::credential(&second)).unwrap();
    assert_eq!(middle.superseded_by, Some(third));
    // The block that made the first correction cannot be called fake now that its
    // entry is superseded: evidence judges what stood at its height.
    let evidence = Evidence::FakeCredential {
        header: Box::new(header),
        vote: proposal,
        transaction: honest_tx.erased(),
        proof: block.tx_proof(0).unwrap(),
    };
    assert!(matches!(
        c.reject(c.tx(&Actor::new(52), Payload::SubmitEvidence(Box::new(evidence)))),
        TxError::InvalidEvidence(_)
    ));
}

#[test]
fn a_set_grant_opens_every_entry_in_the_set_and_nothing_else() {
    use mpms_ledger::records::{Grant, GrantSet};
    use mpms_ledger::transaction::{set_member_grant_id, GrantSelection, GrantedEntry};
    let mut c = Chain::new(4);
    let (hospital, patient, referred_to) = (Actor::new(50), Actor::new(60), Actor::new(51));
    c.ok(c.tx(&hospital, schema("med.clinical-note", &[])));
    c.ok(c.tx(&hospital, schema("med.lab-result", &[])));
    c.register_subject(&patient);
    let mut issued = Vec::new();
    for schema in ["med.clinical-note", "med.clinical-note", "med.lab-result"] {
        let issuance = c.issuance(&hospital, schema, &patient, "Patient P");
        let id = issued_id(&c.ok(c.tx(
            &hospital,
            Payload::IssueCredential(Box::new(issuance.clone())),
        )));
        issued.push((id, issuance));
    }
    let entry = |c: &mut Chain, i: usize| GrantedEntry {
        credential: issued[i].0,
        sealed_key: Erasable::new(
            reseal_key(
                &issued[i].0,
                issued[i].1.subject_key.get().unwrap(),
                &patient.enc,
                &referred_to.enc.encryption_key(),
                &mut c.rng,
            )
            .unwrap(),
        ),
    };
    let later = c.time_ms + 30 * DAY;
    let set = |selection: GrantSelection, entries: Vec<GrantedEntry>| Payload::GrantAccessSet {
        grantee: referred_to.id,
        request: None,
        selection,
        entries,
        expires_at_ms: later,
    };
    let notes = GrantSelection::Schema("med.clinical-note".into());
    // By schema means every entry of it: leaving one out is refused, and so is an
    // entry of another schema.
    let one_note = vec![entry(&mut c, 0)];
    assert!(matches!(
        c.reject(c.tx(&patient, set(notes.clone(), one_note))),
        TxError::InvalidField {
            field: "entries",
            ..
        }
    ));
    let with_lab = vec![entry(&mut c, 0), entry(&mut c, 1), entry(&mut c, 2)];
    assert!(matches!(
        c.reject(c.tx(&patient, set(notes.clone(), with_lab))),
        TxError::InvalidField {
            field: "entries",
            ..
        }
    ));
    // Nobody else grants the patient's entries; an entry twice is refused.
    let twice = vec![entry(&mut c, 0), entry(&mut c, 0)];
    assert!(matches!(
        c.reject(c.tx(&patient, set(GrantSelection::Listed, twice))),
        TxError::InvalidField { .. }
    ));
    let stolen = vec![entry(&mut c, 0)];
    assert_eq!(
        c.reject(c.tx(&hospital, set(GrantSelection::Listed, stolen))),
        TxError::NotSubject
    );
    // Every clinical note, in one grant.
    let nonce = c.nonce(&patient.id);
    let entries = vec![entry(&mut c, 0), entry(&mut c, 1)];
    c.ok(c.tx(&patient, set(notes, entries.clone())));
    let set_id = grant_id(&patient.id, nonce);
    let record: GrantSet = c.get(&keys::grant_set(&set_id)).unwrap();
    assert_eq!(record.grants.len(), 2);
    // Each entry in the set opens with the key sealed to the grantee, and only its
    // own entry: the lab result has no grant, and one entry's key opens no other.
    for (i, (credential, member)) in record.grants.iter().enumerate() {
        assert_eq!(*member, set_member_grant_id(&set_id, i as u32));
        let grant: Grant = c.get(&keys::grant(member)).unwrap();
        assert_eq!(grant.credential, *credential);
        assert_eq!(grant.grantee, referred_to.id);
        assert_eq!(grant.sealed_key, entries[i].sealed_key.digest());
        let key = entries[i].sealed_key.get().unwrap();
        let content = open_content(&issued[i].1, key, &referred_to.enc).unwrap();
        assert_eq!(content.holder_name, "Patient P");
        let other = &issued[1 - i].1;
        assert!(open_content(other, key, &referred_to.enc).is_err());
        assert!(open_content(&issued[2].1, key, &referred_to.enc).is_err());
    }
    let granted: Vec<Hash> = record.grants.iter().map(|(c, _)| *c).collect();
    assert!(!granted.contains(&issued[2].0));
    // Revoking the set revokes every entry's grant.
    c.ok(c.tx(&patient, Payload::RevokeGrant { grant: set_id }));
    for (_, member) in &record.grants {
        let grant: Grant = c.get(&keys::grant(member)).unwrap();
        assert!(grant.revoked_height.is_some());
    }
    assert!(matches!(
        c.reject(c.tx(&patient, Payload::RevokeGrant { grant: set_id })),
        TxError::GrantRevoked(_)
    ));
}

#[test]
fn a_delegation_changes_only_so_often_but_can_always_be_revoked() {
    use mpms_ledger::execute::MAX_DELEGATION_VERSIONS;
    use mpms_ledger::records::Delegation;
    let mut c = Chain::new(4);
    let (hospital, doctor) = (Actor::new(50), Actor::new(70));
    let terms = |c: &Chain, role: usize| Payload::Delegate {
        practitioner: doctor.id,
        role: mpms_ledger::records::role_digest(&format!("role {role}"), &[7; 16]),
        schemas: vec!["med.*".into()],
        valid_from_ms: c.time_ms - DAY,
        valid_until_ms: c.time_ms + DAY,
    };
    for i in 0..MAX_DELEGATION_VERSIONS {
        c.ok(c.tx(&hospital, terms(&c, i)));
    }
    // One more change within the evidence window is refused: every issuance the
    // delegation covers reads its record, so it stays small.
    assert!(matches!(
        c.reject(c.tx(&hospital, terms(&c, 99))),
        TxError::InvalidField {
            field: "practitioner",
            ..
        }
    ));
    // A revocation is never refused.
    c.ok(c.tx(
        &hospital,
        Payload::RevokeDelegation {
            practitioner: doctor.id,
            reason: "left".into(),
        },
    ));
    let record: Delegation = c.get(&keys::delegation(&hospital.id, &doctor.id)).unwrap();
    assert_eq!(record.terms.entries().len(), MAX_DELEGATION_VERSIONS + 1);
}

#[test]
fn erasure_keeps_the_chain_verifiable_and_only_the_subject_asks_for_it() {
    let mut c = Chain::new(4);
    let mut replay = Chain::new(4);
    let (hospital, patient, board) = (Actor::new(50), Actor::new(60), Actor::new(51));
    // Two chains execute the same blocks, the second with every erasable value of
    // every transaction erased (what a node syncing after erasures is served): the
    // state roots stay equal block after block.
    let both = |c: &mut Chain, replay: &mut Chain, tx: mpms_ledger::SignedTransaction| {
        let erased = tx.erased();
        assert_eq!(erased.hash(), tx.hash());
        let full = c.block(std::slice::from_ref(&tx));
        let bare = replay.block(std::slice::from_ref(&erased));
        assert_eq!(full.len(), bare.len());
        assert_eq!(
            c.commitment, replay.commitment,
            "state roots differ after {:?} / {:?}",
            full, bare
        );
        assert!(replay.batch_verifies(&[]));
        full.into_iter().next().unwrap()
    };
    let schema_registered = schema_tx(&hospital, &c);
    both(&mut c, &mut replay, schema_registered).unwrap();
    let registered = c.tx(
        &patient,
        Payload::RegisterSubject {
            encryption_key: patient.enc.encryption_key(),
            work: work(&patient),
        },
    );
    both(&mut c, &mut replay, registered).unwrap();
    let issuance = c.issuance(&hospital, "med.bls", &patient, "Patient P");
    let issue = c.tx(
        &hospital,
        Payload::IssueCredential(Box::new(issuance.clone())),
    );
    // The erased form verifies in the batch validators check a block with.
    assert!(replay.batch_verifies(std::slice::from_ref(&issue.erased())));
    let id = issued_id(&both(&mut c, &mut replay, issue).unwrap());
    let sealed = reseal_key(
        &id,
        issuance.subject_key.get().unwrap(),
        &patient.enc,
        &board.enc.encryption_key(),
        &mut c.rng,
    )
    .unwrap();
    let grant = c.tx(
        &patient,
        Payload::GrantAccess {
            credential: id,
            grantee: board.id,
            request: None,
            sealed_key: Erasable::new(sealed),
            expires_at_ms: c.time_ms + DAY,
        },
    );
    both(&mut c, &mut replay, grant).unwrap();

    // Only the subject erases, once; then nothing of it is granted or inspected.
    let erase = Payload::EraseContent { credential: id };
    let by_hospital = c.tx(&hospital, erase.clone());
    assert_eq!(c.reject(by_hospital.clone()), TxError::NotSubject);
    // (The replaying chain executes the same, refused, block.)
    assert_eq!(replay.reject(by_hospital), TxError::NotSubject);
    let erase_tx = c.tx(&patient, erase.clone());
    let receipt = both(&mut c, &mut replay, erase_tx).unwrap();
    assert!(receipt
        .events
        .iter()
        .any(|e| matches!(e, Event::ContentErased(x) if *x == id)));
    let record: Credential = c.get(&keys::credential(&id)).unwrap();
    assert!(record.erased_height.is_some());
    assert_eq!(c.reject(c.tx(&patient, erase)), TxError::ContentErased(id));
    let again = reseal_key(
        &id,
        issuance.subject_key.get().unwrap(),
        &patient.enc,
        &board.enc.encryption_key(),
        &mut c.rng,
    )
    .unwrap();
    let regrant = c.tx(
        &patient,
        Payload::GrantAccess {
            credential: id,
            grantee: board.id,
            request: None,
            sealed_key: Erasable::new(again),
            expires_at_ms: c.time_ms + DAY,
        },
    );
    assert_eq!(c.reject(regrant), TxError::ContentErased(id));
    // Erasing a transaction's values is refused by no rule and changes no hash; a
    // value swapped under the same digest is refused when decoded.
    let another = c.issuance(&hospital, "med.bls", &patient, "Q");
    let mut tampered =
        mpms_ledger::codec::encode(&c.tx(&hospital, Payload::IssueCredential(Box::new(another))));
    let last = tampered.len() - 100;
    tampered[last] ^= 1;
    assert!(mpms_ledger::codec::decode::<mpms_ledger::SignedTransaction>(&tampered).is_err());
}

fn schema_tx(hospital: &Actor, c: &Chain) -> mpms_ledger::SignedTransaction {
    c.tx(hospital, schema("med.bls", &[]))
}

// ------------------------------------------------------------ history floor

/// The same certifier account signing with another key.
fn with_key(actor: &Actor, seed: u8) -> Actor {
    let enc_seed = Actor::new(seed);
    Actor {
        key: SigningKey::from_seed(&[seed; 32]),
        id: actor.id,
        enc: enc_seed.enc,
    }
}

fn rotate(c: &Chain, who: &Actor, seed: u8) -> mpms_ledger::SignedTransaction {
    c.tx(
        who,
        Payload::RotateKeys {
            signing_key: Some(SigningKey::from_seed(&[seed; 32]).public_key()),
            encryption_key: None,
        },
    )
}

fn set_window(c: &mut Chain, blocks: u64) {
    govern(
        c,
        GovernanceAction::SetParameter(ParameterChange::EvidenceMaxAgeBlocks(blocks)),
    );
}

fn floor(c: &Chain) -> mpms_ledger::records::HistoryFloor {
    c.get(&keys::history_floor()).unwrap_or_default()
}

/// The evidence window is lowered, the certifier's key history is pruned under the
/// lower window, and the window is raised again: evidence about an old block whose
/// valid issuance was signed with a key the chain no longer remembers must be refused
/// as "history pruned". (It used to be judged on the pruned history, the key lookup
/// fell back to the account's original key, the honest issuance looked forged and the
/// honest authority that voted for its block was slashed.)
#[test]
fn evidence_about_history_pruned_under_a_lowered_window_is_refused() {
    let mut c = Chain::new(4);
    let (cert, intern, rich) = (Actor::new(50), Actor::new(60), Actor::new(52));
    c.ok(c.tx(&cert, schema("med.bls", &[]))); // h1
    c.register_subject(&intern); // h2
    c.ok(rotate(&c, &cert, 201)); // h3: K1 from h4
    let cert1 = with_key(&cert, 201);
    let issuance = c.issuance(&cert1, "med.bls", &intern, "Dr. A. Intern");
    let tx = c.tx(&cert1, Payload::IssueCredential(Box::new(issuance)));
    let (header, block, _) = proposed_block(&c, vec![tx.clone()]);
    let honest = vote(&c, 2, header.height, header.hash(), VoteKind::Prevote);
    let evidence = Evidence::FakeCredential {
        header: Box::new(header),
        vote: honest,
        transaction: tx.erased(),
        proof: block.tx_proof(0).unwrap(),
    };
    let submit =
        |c: &Chain, ev: &Evidence| c.tx(&rich, Payload::SubmitEvidence(Box::new(ev.clone())));
    c.ok(tx); // h4: the issuance is valid
    assert!(matches!(
        c.reject(submit(&c, &evidence)),
        TxError::InvalidEvidence(why) if why.contains("valid")
    ));
    set_window(&mut c, 2);
    c.ok(rotate(&c, &cert1, 202)); // K2
    c.skip(2);
    c.ok(rotate(&c, &with_key(&cert, 202), 203)); // K3: K1 forgotten
    let before_raise = floor(&c);
    set_window(&mut c, 50);
    // The window is back to 50, the floor did not go down with it.
    let after_raise = floor(&c);
    assert!(
        after_raise.floor >= before_raise.floor,
        "{before_raise:?} -> {after_raise:?}"
    );
    let err = c.reject(submit(&c, &evidence));
    assert!(
        matches!(err, TxError::HistoryPruned { height: 4, .. }),
        "{err:?}"
    );
    assert!(c.authority_set().contains(&c.authorities[2].id));
}

/// One pruning rule for block hashes: after the window is lowered, the hashes below
/// the floor are deleted (a bounded number per block), and none comes back when the
/// window is raised. Evidence about a height at or above the floor is still judged.
#[test]
fn block_hashes_follow_the_history_floor() {
    let mut c = Chain::new(4);
    c.skip(30);
    set_window(&mut c, 3);
    c.skip(3);
    let f = floor(&c);
    assert!(
        f.floor + 4 >= c.height,
        "floor {f:?} at height {}",
        c.height
    );
    for h in 0..f.floor.saturating_sub(1) {
        assert_eq!(
            c.get::<Hash>(&keys::block_hash(h)),
            None,
            "hash {h} below the floor {f:?}"
        );
    }
    assert!(c.get::<Hash>(&keys::block_hash(c.height - 1)).is_some());
    set_window(&mut c, 50);
    let raised = floor(&c);
    assert!(raised.floor >= f.floor);
    c.skip(5);
    // Equivocation below the floor is refused as pruned; at the current height it
    // is judged and punished.
    let rich = Actor::new(52);
    let eq = |c: &Chain, h| Evidence::Equivocation {
        first: vote(c, 3, h, Hash::digest(b"a"), VoteKind::Prevote),
        second: vote(c, 3, h, Hash::digest(b"b"), VoteKind::Prevote),
    };
    let old = eq(&c, f.floor - 1);
    assert!(matches!(
        c.reject(c.tx(&rich, Payload::SubmitEvidence(Box::new(old)))),
        TxError::HistoryPruned { .. }
    ));
    let recent = eq(&c, c.height);
    c.ok(c.tx(&rich, Payload::SubmitEvidence(Box::new(recent))));
    assert!(!c.authority_set().contains(&c.authorities[3].id));
}

/// An authority punished, then voted back in, is not punished again for an offence
/// committed before its punishment; a new offence after it is punished. (The old
/// offence used to slash and jail it again.)
#[test]
fn a_readmitted_authority_is_not_punished_again_for_old_offences() {
    let mut c = Chain::new(4);
    c.skip(3);
    let rich = Actor::new(52);
    let eq = |c: &Chain, h| Evidence::Equivocation {
        first: vote(c, 3, h, Hash::digest(b"a"), VoteKind::Prevote),
        second: vote(c, 3, h, Hash::digest(b"b"), VoteKind::Prevote),
    };
    let submit = |c: &Chain, ev: Evidence| c.tx(&rich, Payload::SubmitEvidence(Box::new(ev)));
    let (first, second) = (eq(&c, 2), eq(&c, 3));
    c.ok(submit(&c, first));
    assert_eq!(
        c.reject(submit(&c, second.clone())),
        TxError::OffenceAlreadyPunished
    );
    let readmit = GovernanceAction::AddAuthority {
        operator: c.authorities[3].id,
        consensus_key: c.consensus[3].public_key(),
        peer_id: "peer-3".into(),
    };
    govern(&mut c, readmit);
    c.skip(1);
    assert!(
        c.authority_set().contains(&c.authorities[3].id),
        "voted back in"
    );
    assert_eq!(
        c.reject(submit(&c, second)),
        TxError::OffenceAlreadyPunished
    );
    assert!(c.authority_set().contains(&c.authorities[3].id));
    let new = eq(&c, c.height);
    c.ok(submit(&c, new));
    assert!(
        !c.authority_set().contains(&c.authorities[3].id),
        "punished anew"
    );
}

#[test]
fn a_record_entry_goes_to_an_entry_key_only_its_subject_signs_for() {
    use mpms_ledger::credential::entry_tweak;
    let mut c = Chain::new(4);
    let (cert, patient, board) = (Actor::new(50), Actor::new(60), Actor::new(51));
    c.ok(c.tx(&cert, schema("med.lab", &[])));
    c.register_subject(&patient);
    let first = c.entry_issuance(&cert, "med.lab", &patient);
    let second = c.entry_issuance(&cert, "med.lab", &patient);
    let entry = first.claim.subject;
    // Two entries of one patient name two keys, neither of them the patient's.
    assert_ne!(entry, patient.id);
    assert_ne!(second.claim.subject, patient.id);
    assert_ne!(second.claim.subject, entry);
    let first_id = issued_id(&c.ok(c.tx(&cert, Payload::IssueCredential(Box::new(first.clone())))));
    c.ok(c.tx(&cert, Payload::IssueCredential(Box::new(second.clone()))));
    // The entry key became an account; the patient's account holds no entry.
    let account: Account = c.get(&keys::account(&entry)).unwrap();
    assert_eq!(account.nonce, 0);
    assert!(c
        .get::<Vec<Hash>>(&keys::held(&patient.id, "med.lab"))
        .is_none());
    assert_eq!(
        c.get::<Vec<Hash>>(&keys::held(&entry, "med.lab")),
        Some(vec![first_id])
    );
    // The patient finds it from the sealed key's enc and signs for it; another
    // subject's keys find nothing.
    let enc = first.subject_key.get().unwrap().enc;
    let tweak = entry_tweak(&entry, &patient.id, &patient.enc, &enc).unwrap();
    assert!(entry_tweak(&entry, &board.id, &board.enc, &enc).is_none());
    assert!(entry_tweak(&second.claim.subject, &patient.id, &patient.enc, &enc).is_none());
    let signer = Actor {
        key: tweak.entry_signing_key(&patient.key),
        id: entry,
        enc: patient.enc.clone(),
    };
    assert_eq!(signer.key.public_key(), entry);
    let sealed = reseal_key(
        &first_id,
        first.subject_key.get().unwrap(),
        &patient.enc,
        &board.enc.encryption_key(),
        &mut c.rng,
    )
    .unwrap();
    let grant = Payload::GrantAccess {
        credential: first_id,
        grantee: board.id,
        request: None,
        sealed_key: Erasable::new(sealed),
        expires_at_ms: c.time_ms + DAY,
    };
    // Not from the patient's account (the chain cannot link it to the entry), nor
    // from the certifier that knows the tweak but not the patient's secret.
    assert_eq!(c.reject(c.tx(&patient, grant.clone())), TxError::NotSubject);
    assert_eq!(c.reject(c.tx(&cert, grant.clone())), TxError::NotSubject);
    c.ok(c.tx(&signer, grant));
    // The grant names the entry key, and so does the audit index.
    let grant: Grant = c.get(&keys::grant(&grant_id(&entry, 0))).unwrap();
    assert_eq!(grant.subject, entry);
    // A correction names the same entry key; erasure is the entry key's alone.
    let named = Actor {
        key: patient.key.clone(),
        id: entry,
        enc: patient.enc.clone(),
    };
    let correction = c.correction(&cert, "med.lab", &named, first_id);
    c.ok(c.tx(&cert, Payload::IssueCredential(Box::new(correction))));
    let erase = Payload::EraseContent {
        credential: first_id,
    };
    assert_eq!(c.reject(c.tx(&patient, erase.clone())), TxError::NotSubject);
    c.ok(c.tx(&signer, erase));
}

/// "Verified", sealed to the grant's subject `subject`.
fn sealed_verified(subject: &mpms_crypto::PublicKey, grant: &Hash) -> mpms_crypto::SignerSealed {
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(u64::from(grant.as_bytes()[0]));
    mpms_ledger::notes::seal_outcome(subject, grant, &InspectionOutcome::Verified, &mut rng)
        .unwrap()
}

#[test]
fn only_an_organization_governance_admitted_asks_for_access() {
    use mpms_ledger::records::{Admission, Organization};
    let mut c = Chain::new(4);
    let (cert, patient, stranger) = (Actor::new(50), Actor::new(60), Actor::new(70));
    c.ok(c.tx(&cert, schema("med.lab", &[])));
    c.register_subject(&patient);
    let issuance = c.issuance(&cert, "med.lab", &patient, "Patient P");
    let credential = issued_id(&c.ok(c.tx(&cert, Payload::IssueCredential(Box::new(issuance)))));
    // Anyone registers an organization, under any name...
    c.ok(c.tx(
        &stranger,
        Payload::RegisterOrganization {
            name: "Anything At All Ltd".into(),
            kind: OrganizationKind::Employer,
            encryption_key: stranger.enc.encryption_key(),
            work: work(&stranger),
        },
    ));
    let org: Organization = c.get(&keys::organization(&stranger.id)).unwrap();
    assert_eq!(org.admission, Admission::Pending);
    let ask = |c: &mut Chain| {
        let purpose = mpms_ledger::notes::seal_purpose(
            &patient.id,
            &stranger.id,
            "hiring",
            &mut rand_chacha::ChaCha20Rng::seed_from_u64(9),
        )
        .unwrap();
        c.tx(
            &stranger,
            Payload::RequestAccess {
                subject: patient.id,
                credentials: vec![credential],
                purpose,
            },
        )
    };
    // ...but asks nothing until governance admits it (the old chain took its request).
    let tx = ask(&mut c);
    assert_eq!(c.reject(tx), TxError::NotAdmitted(stranger.id));
    govern(
        &mut c,
        GovernanceAction::AdmitOrganization {
            organization: stranger.id,
        },
    );
    let tx = ask(&mut c);
    c.ok(tx);
    // Suspended, it asks no more.
    govern(
        &mut c,
        GovernanceAction::SuspendOrganization {
            organization: stranger.id,
            reason: "asked without cause".into(),
        },
    );
    let tx = ask(&mut c);
    assert_eq!(c.reject(tx), TxError::NotAdmitted(stranger.id));
    // An unregistered account cannot be admitted.
    let a0 = &c.authorities[0];
    let tx = c.tx(
        a0,
        Payload::Propose {
            action: GovernanceAction::AdmitOrganization {
                organization: Actor::new(71).id,
            },
        },
    );
    assert!(matches!(c.reject(tx), TxError::NotRegistered { .. }));
}
