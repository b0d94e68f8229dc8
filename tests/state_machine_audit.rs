//! The state machine audit: each place where two code paths were meant to agree and
//! did not, reproduced through whole blocks (built as a proposer builds them,
//! executed as a validator executes them, several transactions each).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use common::{fake_credential, Chain};
use mpms_crypto::edge::{non_canonical_s, small_order_r, torsion_signature};
use mpms_crypto::{Domain, Hash, SigningKey};
use mpms_ledger::credential::{prepare_issuance, CredentialContent};
use mpms_ledger::evidence::Evidence;
use mpms_ledger::execute::{execute_block, read_meta, BlockExecError};
use mpms_ledger::params::ParameterChange;
use mpms_ledger::records::{keys, Account, Grant, Offence};
use mpms_ledger::testkit::{DeterministicRng, TestChain, GENESIS_TIME_MS};
use mpms_ledger::transaction::{
    grant_id, GovernanceAction, InspectionOutcome, OrganizationKind, SchemaDefinition,
};
use mpms_ledger::vote::VoteKind;
use mpms_ledger::{codec, CredentialRuleError, Payload, SignedTransaction, TxError};

const SCHEMA: &str = "audit.course";

fn schema(id: &str) -> Payload {
    Payload::RegisterSchema(Box::new(SchemaDefinition {
        id: id.into(),
        description: "a course".into(),
        prerequisites: vec![],
        output: "competence".into(),
        completion_condition: "pass".into(),
        max_validity_ms: None,
        fields: mpms_ledger::claims::course_fields(),
        fhir_resource: None,
    }))
}

/// A chain with the test certifier's schema registered and subjects 0..3.
fn with_schema(authorities: usize, seed: u64) -> Chain {
    let mut c = Chain::new(authorities, seed);
    let certifier = c.chain.certifier.clone();
    let mut txs = vec![c.tx(&certifier, schema(SCHEMA))];
    txs.extend((0..3).map(|i| c.chain.register_subject(i)));
    c.commit_all(&txs);
    c
}

/// Authority `by` proposes `action`, authorities `voters` approve, all in one block;
/// returns the proposal's id.
fn govern(
    c: &Chain,
    by: usize,
    voters: &[usize],
    id: u64,
    action: GovernanceAction,
) -> Vec<SignedTransaction> {
    let mut txs = vec![c.tx(&c.chain.operators[by], Payload::Propose { action })];
    for &v in voters {
        txs.push(c.tx(
            &c.chain.operators[v],
            Payload::Vote {
                proposal: id,
                approve: true,
            },
        ));
    }
    txs
}

fn next_proposal(c: &Chain) -> u64 {
    c.get(&keys::next_proposal()).unwrap_or(1)
}

/// An issuance of `SCHEMA` to subject `i` whose claim is signed by `sign`.
fn issuance_signed(
    c: &Chain,
    i: u64,
    serial: u64,
    sign: impl Fn(&SigningKey, &[u8]) -> mpms_crypto::Signature,
) -> SignedTransaction {
    let mut tx = c.chain.issue(0, SCHEMA, i, serial);
    let Payload::IssueCredential(issuance) = &mut tx.tx.payload else {
        unreachable!()
    };
    issuance.certifier_signature = sign(&c.chain.certifier, &codec::encode(&issuance.claim));
    c.tx(&c.chain.certifier, tx.tx.payload)
}

/// Audit item 1: One signature rule. A claim signature with a torsion component in its nonce is
/// valid alone and in a block's batch alike, so a vote for a block holding it is never
/// evidence; a non-canonical scalar is refused alike, so a vote for such a block is.
/// (With the batch verifier's cofactorless check and the single one's strict check,
/// the two disagreed, and evidence "proving" a bad signature slashed the honest.)
#[test]
fn one_signature_rule_for_blocks_and_evidence() {
    let mut c = with_schema(4, 1);
    let chain_id = c.chain_id();
    let edge =
        |k: &SigningKey, m: &[u8]| torsion_signature(k, &chain_id, Domain::CredentialClaim, m, 3);
    let tx = issuance_signed(&c, 0, 1, edge);
    let block = c.hand_built(vec![tx.clone()]);
    let vote = c.vote(2, &block.header, VoteKind::Precommit);
    // The builder and the validator accept it...
    c.commit_all(std::slice::from_ref(&tx));
    // ...so evidence "proving" its signature bad is refused, and nobody is punished.
    let refused = c.submit(0, fake_credential(&block, 0, vote));
    assert!(
        matches!(&refused, Some(TxError::InvalidEvidence(why)) if why.contains("valid")),
        "{refused:?}"
    );
    assert!(c.in_set(2));

    for bad in [
        non_canonical_s as fn(&mpms_crypto::Signature) -> mpms_crypto::Signature,
        small_order_r,
    ] {
        let chain_id = c.chain_id();
        let tx = issuance_signed(&c, 1, 2, |k, m| {
            bad(&torsion_signature(
                k,
                &chain_id,
                Domain::CredentialClaim,
                m,
                1,
            ))
        });
        // Left out by the builder, refused in a block, for the same reason...
        let excluded = c.commit(std::slice::from_ref(&tx));
        assert!(matches!(
            excluded.as_slice(),
            [TxError::Credential(
                CredentialRuleError::BadCertifierSignature
            )]
        ));
        let block = c.hand_built(vec![tx]);
        assert!(matches!(
            execute_block(&c.state, &c.parent, &block),
            Err(BlockExecError::Transaction {
                error: TxError::Credential(CredentialRuleError::BadCertifierSignature),
                ..
            })
        ));
    }
}

/// Audit item 3: Two removals in one block cannot empty the authority set (the guard read the
/// set as the block started).
#[test]
fn the_authority_set_cannot_be_emptied_in_one_block() {
    let mut c = Chain::new(2, 3);
    let (a, b) = (
        c.chain.operators[0].public_key(),
        c.chain.operators[1].public_key(),
    );
    let first = next_proposal(&c);
    let mut txs = govern(
        &c,
        0,
        &[1],
        first,
        GovernanceAction::RemoveAuthority { operator: a },
    );
    let later = govern(
        &c,
        1,
        &[],
        first + 1,
        GovernanceAction::RemoveAuthority { operator: b },
    );
    // Nonces: operator 1 votes, then proposes; operator 0 then approves.
    let op1 = c.chain.operators[1].clone();
    let op0 = c.chain.operators[0].clone();
    txs.push(c.tx_at(&op1, 1, later[0].tx.payload.clone()));
    txs.push(c.tx_at(
        &op0,
        1,
        Payload::Vote {
            proposal: first + 1,
            approve: true,
        },
    ));
    // The first removal goes through; the second is refused: after the first, the
    // block leaves only the authority it would remove.
    let excluded = c.commit(&txs);
    assert!(
        matches!(excluded.first(), Some(TxError::InvalidAction(why)) if why.contains("last authority")),
        "{excluded:?}"
    );
    let set = read_meta(&c.state).unwrap().authority_set;
    assert_eq!(set.len(), 1, "{set:?}");
    assert!(set.contains(&b));
    // The block that changed the set was finalized by the set before the change: its
    // successor's certificate for it is checked against that one.
    let finalizing = |c: &Chain| {
        mpms_ledger::execute::finalizing_set_of_last_block(&c.state, c.parent.height).unwrap()
    };
    assert_eq!(finalizing(&c).len(), 2);
    c.commit(&[]);
    assert_eq!(finalizing(&c), set);
}

/// Audit item 4: Inspections are records of their own: a grant stays the same size however
/// often its grantee inspects (one record grew until it no longer decoded).
#[test]
fn inspections_do_not_grow_the_grant() {
    let mut c = with_schema(4, 4);
    let board = SigningKey::from_seed(&[44; 32]);
    let board_enc = mpms_crypto::DecryptionKey::derive(b"board");
    let (subject, subject_dk) = c.chain.subject(0);
    let op = c.chain.operators[0].clone();
    c.commit_all(&[
        c.tx(
            &board,
            Payload::RegisterOrganization {
                name: "Board".into(),
                kind: OrganizationKind::LicensingBoard,
                encryption_key: board_enc.encryption_key(),
                work: c.chain.work(&board.public_key()),
            },
        ),
        c.tx(
            &op,
            Payload::Transfer {
                to: board.public_key(),
                amount: 10,
            },
        ),
    ]);
    let issue = c.chain.issue(1, SCHEMA, 0, 7);
    let credential = mpms_ledger::credential::issuance_of(&issue)
        .unwrap()
        .claim
        .id();
    let subject_key = mpms_ledger::credential::issuance_of(&issue)
        .unwrap()
        .subject_key
        .get()
        .cloned()
        .unwrap();
    c.commit_all(&[issue]);
    let sealed = mpms_ledger::credential::reseal_key(
        &credential,
        &subject_key,
        &subject_dk,
        &board_enc.encryption_key(),
        &mut DeterministicRng(Hash::digest(b"x"), 0),
    )
    .unwrap();
    let grant_tx = c.tx(
        &subject,
        Payload::GrantAccess {
            credential,
            grantee: board.public_key(),
            request: None,
            sealed_key: mpms_ledger::erasable::Erasable::new(sealed),
            expires_at_ms: GENESIS_TIME_MS + 10 * 365 * 86_400_000,
        },
    );
    let grant = grant_id(&subject.public_key(), grant_tx.tx.nonce);
    c.commit_all(&[grant_tx]);
    let size = |c: &Chain| codec::encode(&c.get::<Grant>(&keys::grant(&grant)).unwrap()).len();
    let before = size(&c);
    let inspections = c.txs(
        &board,
        (0..40)
            .map(|i| Payload::RecordInspection {
                grant,
                outcome: verified(&subject.public_key(), &grant, i),
            })
            .collect(),
    );
    c.commit_all(&inspections);
    assert_eq!(size(&c), before);
    let g: Grant = c.get(&keys::grant(&grant)).unwrap();
    assert_eq!(g.inspection_count, 40);
    assert!(c
        .get::<mpms_ledger::records::Inspection>(&keys::inspection(&grant, 39))
        .is_some());

    // Audit item 14: A revoked credential is not inspected.
    let certifier = c.chain.certifier.clone();
    c.commit_all(&[c.tx(
        &certifier,
        Payload::RevokeCredential {
            credential,
            reason: "error in the marks".into(),
        },
    )]);
    let excluded = c.commit(&[c.tx(
        &board,
        Payload::RecordInspection {
            grant,
            outcome: verified(&subject.public_key(), &grant, 99),
        },
    )]);
    assert!(
        matches!(excluded.as_slice(), [TxError::CredentialRevoked(_)]),
        "{excluded:?}"
    );
}

/// Audit item 5: Only the certifier publishes its issuance: a copy with other content, sent
/// first by someone else, is refused (it tied the credential id to content nobody
/// could open).
#[test]
fn only_the_certifier_publishes_its_issuance() {
    let mut c = with_schema(4, 5);
    let genuine = c.chain.issue(1, SCHEMA, 0, 9);
    let mut copied = genuine.tx.payload.clone();
    if let Payload::IssueCredential(issuance) = &mut copied {
        issuance.content = mpms_ledger::erasable::Erasable::new(mpms_crypto::EncryptedContent {
            nonce: [0; 12],
            ciphertext: vec![0u8; 64],
        });
    }
    let thief = c.chain.operators[3].clone();
    let stolen = c.tx(&thief, copied);
    let excluded = c.commit(&[stolen, genuine]);
    assert!(
        matches!(excluded.as_slice(), [TxError::NotIssuer]),
        "{excluded:?}"
    );
}

/// Audit item 6, 7: Parameters that would wrap heights or let stake leave before it can be
/// punished are refused.
#[test]
fn parameters_that_would_wrap_or_free_stake_early_are_refused() {
    let c = Chain::new(4, 6);
    let params = read_meta(&c.state).unwrap().params;
    for change in [
        ParameterChange::ProposalTtlBlocks(u64::MAX),
        ParameterChange::ProposalTtlBlocks(0),
        ParameterChange::UnbondingPeriodBlocks(0),
        ParameterChange::UnbondingPeriodBlocks(u64::MAX),
        ParameterChange::UnbondingPeriodBlocks(params.evidence_max_age_blocks - 1),
        ParameterChange::EvidenceMaxAgeBlocks(params.unbonding_period_blocks + 1),
        ParameterChange::MaxBlockBytes(u64::MAX),
        ParameterChange::MaxBlockTransactions(u32::MAX),
    ] {
        assert!(params.with_change(&change).is_err(), "{change:?}");
    }
    let mut c = c;
    let id = next_proposal(&c);
    let txs = govern(
        &c,
        0,
        &[],
        id,
        GovernanceAction::SetParameter(ParameterChange::ProposalTtlBlocks(u64::MAX)),
    );
    let excluded = c.commit(&txs);
    assert!(
        matches!(excluded.as_slice(), [TxError::InvalidAction(_)]),
        "{excluded:?}"
    );
}

/// Audit item 7: A suspended certifier cannot take its stake out before governance has had the
/// unbonding period to slash it.
#[test]
fn a_suspended_certifier_keeps_its_stake_within_reach() {
    let mut c = Chain::new(4, 7);
    let certifier = c.chain.certifier.clone();
    let id = next_proposal(&c);
    let txs = govern(
        &c,
        0,
        &[1, 2],
        id,
        GovernanceAction::SuspendCertifier {
            certifier: certifier.public_key(),
            reason: "forged diplomas".into(),
        },
    );
    c.commit_all(&txs);
    let bonded = c
        .get::<Account>(&keys::account(&certifier.public_key()))
        .unwrap()
        .bonded;
    let excluded = c.commit(&[c.tx(&certifier, Payload::Unbond { amount: bonded })]);
    assert!(
        matches!(excluded.as_slice(), [TxError::StakeLocked(_)]),
        "{excluded:?}"
    );
    // Governance slashes it: the stake was still there.
    let id = next_proposal(&c);
    let txs = govern(
        &c,
        0,
        &[1, 2],
        id,
        GovernanceAction::SlashCertifier {
            certifier: certifier.public_key(),
            fraction_bps: 5_000,
            reason: "forged diplomas".into(),
        },
    );
    c.commit_all(&txs);
    let after = c
        .get::<Account>(&keys::account(&certifier.public_key()))
        .unwrap()
        .bonded;
    assert_eq!(after, bonded / 2);
}

/// Audit item 8: Two authorities cannot hold one consensus key, even when the second is given
/// it in the same block (the check read the set as the block started).
#[test]
fn two_authorities_cannot_share_a_consensus_key() {
    let mut c = Chain::from(TestChain::new(4, 8).with_candidates(1));
    let candidate = c.chain.operators[4].clone();
    c.commit_all(&[c.tx(&candidate, Payload::Bond { amount: 5_000 })]);
    let shared = SigningKey::from_seed(&[88; 32]).public_key();
    let id = next_proposal(&c);
    let mut txs = govern(
        &c,
        0,
        &[1, 2],
        id,
        GovernanceAction::AddAuthority {
            operator: candidate.public_key(),
            consensus_key: shared,
            peer_id: "p".into(),
        },
    );
    // In the same block, authority 3's key is rotated to the same key.
    let rotate = Payload::Propose {
        action: GovernanceAction::RotateAuthorityKey {
            operator: c.chain.operators[3].public_key(),
            consensus_key: shared,
        },
    };
    let op3 = c.chain.operators[3].clone();
    txs.push(c.tx(&op3, rotate));
    let excluded = c.commit(&txs);
    assert!(
        matches!(excluded.as_slice(), [TxError::InvalidAction(why)] if why.contains("already used")),
        "{excluded:?}"
    );
    let set = read_meta(&c.state).unwrap().authority_set;
    let holders = set
        .members
        .iter()
        .filter(|m| m.consensus_key == shared)
        .count();
    assert_eq!(holders, 1);
}

/// Audit item 10: Two parameter changes in one block both apply (the second overwrote the
/// first with the parameters as the block started).
#[test]
fn two_parameter_changes_in_one_block_both_apply() {
    let mut c = Chain::new(4, 10);
    let first = next_proposal(&c);
    let mut txs = govern(
        &c,
        0,
        &[1, 2],
        first,
        GovernanceAction::SetParameter(ParameterChange::HeartbeatMs(2_000)),
    );
    let op3 = c.chain.operators[3].clone();
    let op1 = c.chain.operators[1].clone();
    let op2 = c.chain.operators[2].clone();
    txs.push(c.tx(
        &op3,
        Payload::Propose {
            action: GovernanceAction::SetParameter(ParameterChange::MinCertifierStake(250)),
        },
    ));
    for op in [&op1, &op2] {
        txs.push(c.tx_at(
            op,
            1,
            Payload::Vote {
                proposal: first + 1,
                approve: true,
            },
        ));
    }
    c.commit_all(&txs);
    let params = read_meta(&c.state).unwrap().params;
    assert_eq!(params.consensus.heartbeat_ms, 2_000);
    assert_eq!(params.min_certifier_stake, 250);
}

/// Audit item 11: Evidence about a fake issuance padded to the size limit can be submitted.
#[test]
fn evidence_about_a_padded_fake_fits() {
    let mut c = with_schema(4, 11);
    let limit = read_meta(&c.state).unwrap().params.max_transaction_bytes as usize;
    let (_, dk) = c.chain.subject(0);
    let certifier = c.chain.certifier.clone();
    // A fake issuance padded to just under the transaction limit.
    let padded = |padding: usize| {
        let content = CredentialContent {
            salt: [1; 32],
            holder_name: "x".repeat(padding),
            date_of_birth: String::new(),
            documents: vec![],
            fields: Default::default(),
        };
        let issuance = prepare_issuance(
            &c.chain_id(),
            &certifier,
            certifier.public_key(),
            mpms_ledger::credential::SchemaRef {
                id: "never.registered",
                fields: &[],
            },
            c.chain.subject(0).0.public_key(),
            &dk.encryption_key(),
            &content,
            mpms_ledger::credential::ClaimTerms::new(0, u64::MAX, 0),
            &mut DeterministicRng(Hash::digest(b"pad"), 0),
        )
        .unwrap();
        c.tx(&certifier, Payload::IssueCredential(Box::new(issuance)))
    };
    let probe = codec::encode(&padded(limit / 2)).len();
    let fake = padded(limit / 2 + (limit - 64 - probe));
    let size = codec::encode(&fake).len();
    assert!(size <= limit && size > limit - 128, "{size} of {limit}");
    let block = c.hand_built(vec![fake]);
    let vote = c.vote(3, &block.header, VoteKind::Prevote);
    let evidence = fake_credential(&block, 0, vote);
    // The evidence carries the fake erased (its claim, not its content): far smaller
    // than the fake itself, whatever the fake's size.
    assert!(codec::encode(&evidence).len() < size / 2);
    assert_eq!(c.submit(0, evidence), None);
    assert!(!c.in_set(3));
}

/// Audit item 13: One misbehaviour is punished once: the proposal and the votes of one
/// authority for one fake block are one offence, and a jailed authority is not
/// burned again.
#[test]
fn one_misbehaviour_is_punished_once() {
    let mut c = with_schema(4, 13);
    let fake = c.chain.issue(1, "never.registered", 0, 1);
    let block = c.hand_built(vec![fake]);
    let proposal = c.vote(1, &block.header, VoteKind::Proposal);
    let prevote = c.vote(1, &block.header, VoteKind::Prevote);
    let before = c
        .get::<Account>(&keys::account(&c.chain.operators[1].public_key()))
        .unwrap()
        .bonded;
    assert_eq!(c.submit(0, fake_credential(&block, 0, proposal)), None);
    let after = c
        .get::<Account>(&keys::account(&c.chain.operators[1].public_key()))
        .unwrap()
        .bonded;
    assert!(after < before);
    assert_eq!(
        c.submit(0, fake_credential(&block, 0, prevote)),
        Some(TxError::OffenceAlreadyPunished)
    );
    // Equivocation at another height: it is jailed already.
    let vote = |b: &[u8]| {
        mpms_ledger::vote::Vote {
            height: 2,
            round: 0,
            kind: VoteKind::Prevote,
            block: Some(Hash::digest(b)),
            valid_round: None,
        }
        .sign(
            &c.chain_id(),
            c.chain.operators[1].public_key(),
            &c.chain.consensus[1],
        )
    };
    let equivocation = Evidence::Equivocation {
        first: vote(b"a"),
        second: vote(b"b"),
    };
    assert_eq!(
        c.submit(0, equivocation),
        Some(TxError::OffenceAlreadyPunished)
    );
    let last = c
        .get::<Account>(&keys::account(&c.chain.operators[1].public_key()))
        .unwrap()
        .bonded;
    assert_eq!(last, after);
    let offences = mpms_ledger::State::get(
        &c.state,
        &keys::offence(
            &fake_credential(&block, 0, c.vote(1, &block.header, VoteKind::Proposal)).offence_id(),
        ),
    )
    .unwrap()
    .map(|b| codec::decode::<Offence>(&b).unwrap());
    assert_eq!(offences.unwrap().offence_height, block.header.height);
}

/// Audit item 15: An authority that is also a certifier keeps both minimums bonded; a
/// certifier slashed below its minimum issues nothing.
#[test]
fn roles_lock_their_own_stakes() {
    let mut c = with_schema(4, 15);
    // Authority 0 registers as a certifier and is accredited: both roles.
    let op = c.chain.operators[0].clone();
    let enc = mpms_crypto::DecryptionKey::derive(b"op0");
    c.commit_all(&[c.tx(
        &op,
        Payload::RegisterCertifier {
            name: "Teaching Hospital".into(),
            encryption_key: enc.encryption_key(),
            work: c.chain.work(&op.public_key()),
        },
    )]);
    let id = next_proposal(&c);
    let txs = govern(
        &c,
        1,
        &[2, 3],
        id,
        GovernanceAction::AccreditCertifier {
            certifier: op.public_key(),
            scope: vec!["x.*".into()],
            valid_from_ms: 0,
            valid_until_ms: u64::MAX,
        },
    );
    c.commit_all(&txs);
    let params = read_meta(&c.state).unwrap().params;
    let bonded = c
        .get::<Account>(&keys::account(&op.public_key()))
        .unwrap()
        .bonded;
    let both = params.min_authority_stake + params.min_certifier_stake;
    assert!(bonded >= both);
    let excluded = c.commit(&[c.tx(
        &op,
        Payload::Unbond {
            amount: bonded - both + 1,
        },
    )]);
    assert!(
        matches!(excluded.as_slice(), [TxError::StakeLocked(_)]),
        "{excluded:?}"
    );
    c.commit_all(&[c.tx(
        &op,
        Payload::Unbond {
            amount: bonded - both,
        },
    )]);

    // The test certifier, slashed below its minimum, issues nothing.
    let certifier = c.chain.certifier.public_key();
    let id = next_proposal(&c);
    let txs = govern(
        &c,
        1,
        &[2, 3],
        id,
        GovernanceAction::SlashCertifier {
            certifier,
            fraction_bps: 9_000,
            reason: "fraud".into(),
        },
    );
    c.commit_all(&txs);
    let excluded = c.commit(&[c.chain.issue(1, SCHEMA, 0, 99)]);
    assert!(!excluded.is_empty());
}

/// Audit item 16: Sums never overflow: a bond past the largest amount is refused; a genesis
/// whose supply overflows is refused.
#[test]
fn amounts_never_overflow() {
    let mut chain = TestChain::new(4, 16);
    chain.genesis.authorities[0].balance = u64::MAX;
    let err = chain.genesis.build().unwrap_err().to_string();
    assert!(err.contains("supply"), "{err}");
}

/// "Verified", sealed to the grant's subject (a fresh seal per `i`).
fn verified(
    subject: &mpms_crypto::PublicKey,
    grant: &mpms_crypto::Hash,
    i: u64,
) -> mpms_crypto::SignerSealed {
    let mut rng =
        mpms_ledger::testkit::DeterministicRng(mpms_crypto::Hash::digest(b"inspection"), i);
    mpms_ledger::notes::seal_outcome(subject, grant, &InspectionOutcome::Verified, &mut rng)
        .unwrap()
}
