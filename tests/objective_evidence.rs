//! An issuance is judged only by what was final before its block.
//!
//! The review's scenario: a block holds `RegisterSchema(S)` and then an issuance
//! under `S`. Judged against the state the block itself builds, the issuance looked
//! valid, so honest validators prevoted the block; once another block was committed
//! at that height, the issuance looked fake against the chain, and every such vote
//! could be used to slash an honest validator. Now the issuance is held for the next
//! block and a block holding both is refused by every honest validator, so a
//! statement for one is evidence against its (Byzantine) signer, whatever was
//! registered since: registering the subject or schema after the block does not
//! let its proposer escape.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use common::{fake_credential, Chain};
use mpms_crypto::Hash;
use mpms_ledger::execute::{execute_block, BlockContext, BlockExecError, Executor, SignatureCheck};
use mpms_ledger::vote::VoteKind;
use mpms_ledger::TxError;

const SCHEMA: &str = "own.course";

#[test]
fn an_issuance_relying_on_its_own_block_waits_for_the_next_one() {
    let mut c = Chain::new(4, 21);
    assert!(c.commit(&[c.chain.register_subject(0)]).is_empty());
    let registration = c.chain.register_schema(0, SCHEMA);
    let issuance = c.chain.issue(1, SCHEMA, 0, 1);

    // The mempool admits the pair: the issuance may rely on its sender's pending
    // registration (it is held until that is committed).
    let ctx = BlockContext {
        height: c.parent.height + 1,
        time_ms: c.parent.time_ms + 1_000,
        proposer: c.chain.operators[0].public_key(),
        parent: c.parent.hash(),
    };
    let mut admission = Executor::for_admission(&c.state, ctx).unwrap();
    admission
        .apply(&registration, SignatureCheck::Verify)
        .unwrap();
    admission.apply(&issuance, SignatureCheck::Verify).unwrap();

    // The proposer's block takes the registration and leaves the issuance out, for
    // the reason that it relies on its own block...
    let excluded = c.commit(&[registration, issuance.clone()]);
    assert!(
        matches!(excluded.as_slice(), [TxError::NotFinalYet(why)] if why.contains(SCHEMA)),
        "{excluded:?}"
    );
    // ...and the next block takes it.
    assert!(c.commit(&[issuance]).is_empty());

    // A subject registered in the same block is no such case: the issuance's
    // subject is a usable key, which is all the rule asks, whatever the block holds.
    assert!(c
        .commit(&[c.chain.register_subject(1), c.chain.issue(2, SCHEMA, 1, 2)])
        .is_empty());
}

#[test]
fn a_block_holding_a_registration_and_its_use_is_refused_and_votes_for_it_are_evidence() {
    let mut c = Chain::new(4, 21);
    assert!(c.commit(&[c.chain.register_subject(0)]).is_empty());
    let registration = c.chain.register_schema(0, SCHEMA);
    let block = c.hand_built(vec![registration.clone(), c.chain.issue(1, SCHEMA, 0, 1)]);

    // Validation refuses the block: the issuance is not final before it. Every honest
    // validator votes nil for it.
    match execute_block(&c.state, &c.parent, &block) {
        Err(BlockExecError::Transaction {
            index: 1,
            error: TxError::NotFinalYet(_),
        }) => {}
        other => panic!("expected the issuance to be refused as not final: {other:?}"),
    }

    // Its round fails; the registration goes in the block committed at that height.
    let vote = c.vote(2, &block.header, VoteKind::Prevote);
    let proposal = c.vote(1, &block.header, VoteKind::Proposal);
    assert!(c.commit(&[registration]).is_empty());
    assert_eq!(c.parent.height, block.header.height);

    // Only a Byzantine authority signs such a block: the schema it relies on was not
    // in the state before it. The proposal and the vote are both evidence.
    for v in [vote, proposal] {
        assert_eq!(c.submit(0, fake_credential(&block, 1, v)), None);
    }
    assert!(!c.in_set(1) && !c.in_set(2), "both signers punished");
}

/// A Byzantine proposer puts into its block an issuance under a schema that is not
/// registered, then registers the schema (in the block committed at that height, or
/// later): the evidence still punishes it. (An issuance to a subject not registered
/// is no longer fake: any usable key is an entry key.)
#[test]
fn registering_the_schema_after_the_block_does_not_let_its_proposer_escape() {
    for later in [0u64, 1] {
        let mut c = Chain::new(4, 22);
        assert!(c.commit(&[c.chain.register_subject(7)]).is_empty());
        let block = c.hand_built(vec![c.chain.issue(0, SCHEMA, 7, 1)]);
        match execute_block(&c.state, &c.parent, &block) {
            Err(BlockExecError::Transaction {
                index: 0,
                error: TxError::Credential(_),
            }) => {}
            other => panic!("expected an unknown schema: {other:?}"),
        }
        let proposal = c.vote(1, &block.header, VoteKind::Proposal);
        c.skip(later);
        assert!(c.commit(&[c.chain.register_schema(0, SCHEMA)]).is_empty());
        assert_eq!(
            c.submit(0, fake_credential(&block, 0, proposal)),
            None,
            "registered {later} block(s) after"
        );
        assert!(!c.in_set(1), "the proposer is punished");
    }
}

/// An issuance to a key nobody registered is an entry key's: a block holding it is
/// valid, and registering that key as a subject later makes no evidence of it.
#[test]
fn registering_an_entry_key_later_makes_no_evidence_of_its_issuance() {
    let mut c = Chain::new(4, 23);
    assert!(c.commit(&[c.chain.register_schema(0, SCHEMA)]).is_empty());
    let block = c.hand_built(vec![c.chain.issue(1, SCHEMA, 7, 1)]);
    // Every transaction applies (only the hand-built header's state root is off).
    assert!(matches!(
        execute_block(&c.state, &c.parent, &block),
        Err(BlockExecError::StateMismatch { .. })
    ));
    let proposal = c.vote(1, &block.header, VoteKind::Proposal);
    assert!(c.commit(&[c.chain.issue(1, SCHEMA, 7, 1)]).is_empty());
    assert!(c.commit(&[c.chain.register_subject(7)]).is_empty());
    assert!(c.submit(0, fake_credential(&block, 0, proposal)).is_some());
    assert!(c.in_set(1), "the honest proposer keeps its seat");
}

#[test]
fn evidence_must_name_a_block_on_the_committed_chain() {
    let mut c = Chain::new(4, 21);
    // An issuance under a schema nobody ever registers: fake by the rules.
    let fake = c.chain.issue(0, "never.registered", 0, 1);
    let mut block = c.hand_built(vec![fake]);
    // A header whose parent is not the committed block.
    block.header.parent = Hash::digest(b"another chain");
    let vote = c.vote(3, &block.header, VoteKind::Precommit);
    let refused = c.submit(0, fake_credential(&block, 0, vote));
    assert!(
        matches!(&refused, Some(TxError::InvalidEvidence(why)) if why.contains("parent")),
        "{refused:?}"
    );
    assert!(c.in_set(3));

    // The same issuance in a block on the committed chain is fake: its voter is punished,
    // even when the evidence arrives several blocks later.
    let block = c.hand_built(vec![c.chain.issue(0, "never.registered", 0, 1)]);
    let vote = c.vote(3, &block.header, VoteKind::Precommit);
    c.commit(&[]);
    c.commit(&[]);
    assert_eq!(c.submit(0, fake_credential(&block, 0, vote)), None);
    assert!(!c.in_set(3), "the voter of a fake credential is removed");
}
