//! An issuance is judged only by what was final before its block.
//!
//! The review's scenario: a block holds `RegisterSchema(S)` and then an issuance
//! under `S`. Judged against the state the block itself builds, the issuance looked
//! valid, so honest validators prevoted the block; once another block was committed
//! at that height, the issuance looked fake against the chain, and every such vote
//! could be used to slash an honest validator. Now the issuance is held for the next
//! block, a block holding both is refused, and evidence from a vote for one is
//! refused.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use mpms_crypto::Hash;
use mpms_ledger::block::{tx_root, Header};
use mpms_ledger::evidence::Evidence;
use mpms_ledger::execute::{
    build_block, execute_block, BlockContext, BlockExecError, Executor, SignatureCheck,
};
use mpms_ledger::testkit::TestChain;
use mpms_ledger::vote::{SignedVote, Vote, VoteKind};
use mpms_ledger::{Block, MemState, Payload, SignedTransaction, TxError};

const SCHEMA: &str = "own.course";

struct Chain {
    chain: TestChain,
    state: MemState,
    parent: Header,
}

impl Chain {
    fn new() -> Chain {
        let chain = TestChain::new(4, 21);
        let genesis = chain.genesis.build().unwrap();
        let mut state = MemState::new();
        state.apply(&genesis.changes);
        Chain {
            chain,
            state,
            parent: genesis.header,
        }
    }

    /// Builds and commits the next block from `candidates`; returns what was left out.
    fn commit(&mut self, candidates: &[SignedTransaction]) -> Vec<TxError> {
        let built = build_block(
            &self.state,
            &self.parent,
            None,
            self.chain.operators[0].public_key(),
            self.parent.time_ms + 1_000,
            candidates,
            SignatureCheck::Verify,
        )
        .unwrap();
        self.state.apply(&built.outcome.changes);
        self.parent = built.block.header.clone();
        built.excluded.into_iter().map(|e| e.error).collect()
    }

    /// A block after the committed parent holding exactly `txs`, built by hand (as a
    /// Byzantine or outdated proposer would).
    fn hand_built(&self, txs: Vec<SignedTransaction>) -> Block {
        Block {
            header: Header {
                chain_id: self.chain.chain_id().into(),
                height: self.parent.height + 1,
                parent: self.parent.hash(),
                time_ms: self.parent.time_ms + 1_000,
                proposer: self.chain.operators[1].public_key(),
                tx_root: tx_root(&txs),
                tx_count: txs.len() as u32,
                state_commitment: Hash::digest(b"not computed"),
                authority_set: mpms_ledger::execute::read_meta(&self.state)
                    .unwrap()
                    .authority_set
                    .hash(),
                last_commit: Hash::ZERO,
            },
            last_commit: None,
            transactions: txs,
        }
    }

    fn vote(&self, i: usize, header: &Header, kind: VoteKind) -> SignedVote {
        Vote {
            height: header.height,
            round: 0,
            kind,
            block: Some(header.hash()),
            valid_round: None,
        }
        .sign(
            self.chain.chain_id(),
            self.chain.operators[i].public_key(),
            &self.chain.consensus[i],
        )
    }

    /// Submits `evidence` from authority 0's account in the next block; the error if
    /// it was refused.
    fn submit(&mut self, evidence: Evidence) -> Option<TxError> {
        let op = self.chain.operators[0].clone();
        let nonce = mpms_ledger::execute::account_nonce(&self.state, &op.public_key());
        let tx = self
            .chain
            .tx(&op, nonce, Payload::SubmitEvidence(Box::new(evidence)));
        self.commit(&[tx]).pop()
    }

    fn in_set(&self, i: usize) -> bool {
        mpms_ledger::execute::read_meta(&self.state)
            .unwrap()
            .authority_set
            .contains(&self.chain.operators[i].public_key())
    }
}

fn fake_credential(block: &Block, index: usize, vote: SignedVote) -> Evidence {
    Evidence::FakeCredential {
        header: Box::new(block.header.clone()),
        vote,
        transaction: block.transactions[index].clone(),
        proof: block.tx_proof(index).unwrap(),
    }
}

#[test]
fn an_issuance_relying_on_its_own_block_waits_for_the_next_one() {
    let mut c = Chain::new();
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

    // The same for a subject registered in the block.
    let excluded = c.commit(&[c.chain.register_subject(1), c.chain.issue(2, SCHEMA, 1, 2)]);
    assert!(
        matches!(excluded.as_slice(), [TxError::NotFinalYet(why)] if why.contains("subject")),
        "{excluded:?}"
    );
    assert!(c.commit(&[c.chain.issue(2, SCHEMA, 1, 2)]).is_empty());
}

#[test]
fn a_block_holding_a_registration_and_its_use_is_refused_and_votes_for_it_are_not_evidence() {
    let mut c = Chain::new();
    assert!(c.commit(&[c.chain.register_subject(0)]).is_empty());
    let registration = c.chain.register_schema(0, SCHEMA);
    let block = c.hand_built(vec![registration.clone(), c.chain.issue(1, SCHEMA, 0, 1)]);

    // Validation refuses the block: the issuance is not final before it.
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

    // Evidence from a vote for that block is refused: what the issuance relied on was
    // established at the block's height, possibly by the block itself.
    for v in [vote, proposal] {
        let refused = c.submit(fake_credential(&block, 1, v));
        assert!(
            matches!(&refused, Some(TxError::InvalidEvidence(why)) if why.contains("not provably fake")),
            "{refused:?}"
        );
    }
    assert!(c.in_set(1) && c.in_set(2), "nobody was punished");
}

#[test]
fn evidence_must_name_a_block_on_the_committed_chain() {
    let mut c = Chain::new();
    // An issuance under a schema nobody ever registers: fake by the rules.
    let fake = c.chain.issue(0, "never.registered", 0, 1);
    let mut block = c.hand_built(vec![fake]);
    // A header whose parent is not the committed block.
    block.header.parent = Hash::digest(b"another chain");
    let vote = c.vote(3, &block.header, VoteKind::Precommit);
    let refused = c.submit(fake_credential(&block, 0, vote));
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
    assert_eq!(c.submit(fake_credential(&block, 0, vote)), None);
    assert!(!c.in_set(3), "the voter of a fake credential is removed");
}
