//! One node core against a Byzantine authority that holds a validator's real keys:
//! what it sends costs memory only where the protocol allows, and blocks that break
//! the consensus rules (certificate for the parent, proposer, time) are voted down.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::Arc;

use mpms_consensus::{ConsensusMessage, FinalizedBlock, ROUND_WINDOW};
use mpms_core::{Action, CoreConfig, NodeCore, ValidatorKeys, NEXT_HEIGHT_PROPOSALS};
use mpms_crypto::{Hash, Signature};
use mpms_ledger::execute::{build_block, SignatureCheck};
use mpms_ledger::testkit::TestChain;
use mpms_ledger::{
    AuthoritySet, Block, CommitCertificate, SignedTransaction, SignedVote, Vote, VoteKind,
};
use mpms_store::{commit_genesis, MemStore, Store};

const START_MS: u64 = mpms_ledger::testkit::GENESIS_TIME_MS + 1_000;

struct Node {
    chain: TestChain,
    core: NodeCore,
    store: Arc<MemStore>,
    set: AuthoritySet,
}

/// Validator 0 of four, started at height 1.
fn node(seed: u64) -> Node {
    let chain = TestChain::new(4, seed);
    let genesis = chain.genesis.build().unwrap();
    let store = Arc::new(MemStore::new());
    commit_genesis(store.as_ref(), &genesis).unwrap();
    let keys = ValidatorKeys {
        operator: chain.operators[0].clone(),
        consensus: chain.consensus[0].clone(),
    };
    let mut core = NodeCore::new(store.clone(), Some(keys), CoreConfig::default()).unwrap();
    core.start(START_MS);
    Node {
        chain,
        core,
        store,
        set: genesis.authority_set,
    }
}

impl Node {
    /// An empty block on the node's last block, naming validator `i` as proposer.
    fn block(&self, i: usize, time_ms: u64, last_commit: Option<CommitCertificate>) -> Block {
        self.block_of(i, time_ms, last_commit, Vec::new())
    }

    /// A block of `transactions` on the node's last block, proposed by validator `i`.
    fn block_of(
        &self,
        i: usize,
        time_ms: u64,
        last_commit: Option<CommitCertificate>,
        transactions: Vec<SignedTransaction>,
    ) -> Block {
        let built = build_block(
            self.store.as_ref(),
            self.core.last_header(),
            last_commit,
            self.chain.operators[i].public_key(),
            time_ms,
            transactions.iter(),
            SignatureCheck::Verify,
        )
        .unwrap();
        assert!(built.excluded.is_empty(), "{:?}", built.excluded);
        built.block
    }

    /// A statement signed by validator `i`.
    fn sign(&self, i: usize, vote: Vote) -> SignedVote {
        vote.sign(
            self.chain.chain_id(),
            self.chain.operators[i].public_key(),
            &self.chain.consensus[i],
        )
    }

    fn proposal(&self, i: usize, block: &Block, round: u32) -> ConsensusMessage {
        let vote = Vote {
            height: block.header.height,
            round,
            kind: VoteKind::Proposal,
            block: Some(block.hash()),
            valid_round: None,
        };
        ConsensusMessage::Proposal {
            proposal: self.sign(i, vote),
            block: Box::new(block.clone()),
            proof: Vec::new(),
        }
    }

    /// Commits `block` as finalized by every authority.
    fn finalize(&mut self, block: Block, now_ms: u64) {
        let certificate = self.chain.certify(&block.header, 0, &self.set);
        self.core
            .on_finalized(FinalizedBlock { block, certificate }, now_ms);
    }
}

/// What validator 0 prevoted, if it prevoted.
fn prevote(actions: &[Action]) -> Option<Option<Hash>> {
    actions.iter().find_map(|a| match a {
        Action::Consensus(ConsensusMessage::Vote(v)) if v.vote.kind == VoteKind::Prevote => {
            Some(v.vote.block)
        }
        _ => None,
    })
}

/// The proposer of (height, round) among four: (height + round) mod 4.
fn proposer(height: u64, round: u32) -> usize {
    ((height + u64::from(round)) % 4) as usize
}

#[test]
fn a_flood_of_proposals_and_rounds_is_bounded_by_the_protocol() {
    let mut n = node(31);
    let byzantine = 3;
    let now = START_MS;
    let base = n.block(1, now, None);
    // Proposals for many heights and rounds, each with a distinct block, some where
    // the Byzantine authority is the proposer; proofs of lock far longer than the set;
    // votes for rounds up to the last one.
    let mut sent = 0;
    for height in 1..=20u64 {
        for round in (0..200u32).chain([u32::MAX]) {
            let mut block = base.clone();
            block.header.height = height;
            block.header.time_ms = now + u64::from(round) + 1;
            let vote = Vote {
                height,
                round,
                kind: VoteKind::Proposal,
                block: Some(block.hash()),
                valid_round: Some(0),
            };
            let proof: Vec<SignedVote> = (0..64u32)
                .map(|r| {
                    n.sign(
                        byzantine,
                        Vote {
                            height,
                            round: r,
                            kind: VoteKind::Prevote,
                            block: Some(block.hash()),
                            valid_round: None,
                        },
                    )
                })
                .collect();
            let message = ConsensusMessage::Proposal {
                proposal: n.sign(byzantine, vote),
                block: Box::new(block),
                proof,
            };
            n.core.on_consensus(message, now);
            for kind in [VoteKind::Prevote, VoteKind::Precommit] {
                let vote = Vote {
                    height,
                    round,
                    kind,
                    block: Some(Hash::digest(&round.to_le_bytes())),
                    valid_round: None,
                };
                n.core
                    .on_consensus(ConsensusMessage::Vote(n.sign(byzantine, vote)), now);
            }
            sent += 1;
        }
    }
    assert_eq!(sent, 20 * 201);
    // Blocks: one per round of the window where it is the proposer, and the next
    // height's buffer.
    let block_bound = ROUND_WINDOW as usize + 1 + NEXT_HEIGHT_PROPOSALS;
    assert!(
        n.core.stored_blocks() <= block_bound,
        "{} blocks kept, bound {block_bound}",
        n.core.stored_blocks()
    );
    // Statements: per round of the window a proposal and up to four conflicting votes
    // of each kind, plus the next height's share.
    let window = ROUND_WINDOW as usize + 1;
    let statement_bound = window * 9 + 3 * window;
    assert!(
        n.core.stored_statements() <= statement_bound,
        "{} statements kept, bound {statement_bound}",
        n.core.stored_statements()
    );

    // The honest three still decide height 1.
    let good = n.block(1, now + 5, None);
    let mut actions = n.core.on_consensus(n.proposal(1, &good, 0), now + 10);
    assert_eq!(prevote(&actions), Some(Some(good.hash())));
    for i in [1, 2] {
        for kind in [VoteKind::Prevote, VoteKind::Precommit] {
            let vote = Vote {
                height: 1,
                round: 0,
                kind,
                block: Some(good.hash()),
                valid_round: None,
            };
            actions.extend(
                n.core
                    .on_consensus(ConsensusMessage::Vote(n.sign(i, vote)), now + 10),
            );
        }
    }
    assert!(
        actions
            .iter()
            .any(|a| matches!(a, Action::Committed(c) if c.block.hash() == good.hash())),
        "height 1 not decided"
    );
    assert_eq!(n.core.last_header().height, 1);
}

#[test]
fn a_proposal_from_anyone_but_the_rounds_proposer_is_dropped() {
    let mut n = node(32);
    assert_eq!(proposer(1, 0), 1);
    let block = n.block(2, START_MS, None);
    let actions = n.core.on_consensus(n.proposal(2, &block, 0), START_MS);
    assert_eq!(n.core.stored_blocks(), 0);
    assert_eq!(prevote(&actions), None);
}

#[test]
fn a_proof_of_lock_longer_than_the_set_is_refused_unread() {
    let mut n = node(33);
    let block = n.block(1, START_MS, None);
    let ConsensusMessage::Proposal {
        proposal, block: b, ..
    } = n.proposal(1, &block, 0)
    else {
        unreachable!()
    };
    let prevote_by = |i: usize| {
        n.sign(
            i,
            Vote {
                height: 1,
                round: 0,
                kind: VoteKind::Prevote,
                block: Some(block.hash()),
                valid_round: None,
            },
        )
    };
    // Five entries for a set of four.
    let proof: Vec<SignedVote> = (0..5).map(|i| prevote_by(i % 4)).collect();
    let actions = n.core.on_consensus(
        ConsensusMessage::Proposal {
            proposal,
            block: b,
            proof,
        },
        START_MS,
    );
    assert_eq!(n.core.stored_blocks(), 0);
    assert_eq!(n.core.stored_statements(), 0);
    assert_eq!(prevote(&actions), None);
}

#[test]
fn a_bad_signature_in_the_parents_certificate_makes_the_block_invalid() {
    let mut n = node(34);
    let first = n.block(1, START_MS, None);
    n.finalize(first.clone(), START_MS);
    assert_eq!(n.core.last_header().height, 1);
    assert_eq!(proposer(2, 0), 2);
    let now = START_MS + 100;

    // A certificate for the parent signed by three of four (not the one stored here):
    // valid, so the block is voted for.
    let mut three = n.chain.certify(&first.header, 0, &n.set);
    three.signatures.truncate(3);
    let good = n.block(2, now, Some(three.clone()));
    let actions = n.core.on_consensus(n.proposal(2, &good, 0), now);
    assert_eq!(prevote(&actions), Some(Some(good.hash())));

    // Same, but one signature is not the signer's: the block is invalid.
    let mut n = node(34);
    n.finalize(first.clone(), START_MS);
    let mut forged = three;
    let other = forged.signatures[1].signature;
    forged.signatures[0].signature = Signature::from_bytes(*other.as_bytes());
    let bad = n.block(2, now, Some(forged));
    let actions = n.core.on_consensus(n.proposal(2, &bad, 0), now);
    assert_eq!(prevote(&actions), Some(None));
}

/// A peer gossiping a finalized block can drop its transactions' ciphertext and
/// sealed keys: they are committed to by digest, so the block and its certificate
/// still verify. The node does not commit such a copy (the content would be lost to
/// it, as if erased); it commits the whole block. Fails without the check in
/// `on_finalized`.
#[test]
fn a_finalized_block_without_its_content_is_not_committed() {
    let mut n = node(37);
    let setup = n.block_of(
        1,
        START_MS,
        None,
        vec![
            n.chain.register_schema(0, "course.a"),
            n.chain.register_subject(1),
        ],
    );
    n.finalize(setup.clone(), START_MS);
    assert_eq!(n.core.last_header().height, 1);
    let parent = n.chain.certify(&setup.header, 0, &n.set);
    let now = START_MS + 1_000;
    let whole = n.block_of(
        2,
        now,
        Some(parent),
        vec![n.chain.issue(1, "course.a", 1, 7)],
    );
    let mut stripped = whole.clone();
    for tx in &mut stripped.transactions {
        *tx = tx.erased();
    }
    assert_eq!(stripped.hash(), whole.hash(), "the digests still verify");

    n.finalize(stripped, now);
    assert_eq!(
        n.core.last_header().height,
        1,
        "a stripped copy was committed"
    );
    n.finalize(whole.clone(), now);
    assert_eq!(n.core.last_header().height, 2);
    let stored = n.store.block(2).unwrap().unwrap();
    assert!(!stored.transactions[0].tx.payload.any_erased());
}

#[test]
fn a_block_naming_another_proposer_is_invalid() {
    let mut n = node(35);
    // Proposed by validator 1 (its turn) but naming validator 3 as proposer.
    let block = n.block(3, START_MS, None);
    let actions = n.core.on_consensus(n.proposal(1, &block, 0), START_MS);
    assert_eq!(prevote(&actions), Some(None));
}

#[test]
fn block_time_is_bounded_on_both_sides() {
    let n0 = node(36);
    let drift = CoreConfig::default().production.max_clock_drift.as_millis() as u64;
    let timing = n0.core.timing().clone();
    // Round 0 waits the proposal timeout plus the heartbeat.
    let slack = drift + timing.propose_timeout_ms + timing.heartbeat_ms;
    let now = START_MS + 10 * slack;
    let cases = [
        (now, true),
        (now - slack, true),
        (now - slack - 1, false),
        (now + drift, true),
        (now + drift + 1, false),
    ];
    for (time_ms, valid) in cases {
        let mut n = node(36);
        let block = n.block(1, time_ms, None);
        let actions = n.core.on_consensus(n.proposal(1, &block, 0), now);
        let expected = valid.then_some(block.hash());
        assert_eq!(
            prevote(&actions),
            Some(expected),
            "block time {time_ms} at {now}"
        );
    }
}

/// A height that stalls for many rounds (here: nobody else votes), each round's
/// proposer proposing a new block of its own: the node keeps the blocks and
/// statements of the last rounds only (and of its lock), not one per round it went
/// through. (It used to keep every round's block and statements until the height
/// was decided.)
#[test]
fn a_height_stalled_over_many_rounds_keeps_only_its_last_rounds() {
    use mpms_consensus::{Step, Timeout};
    let mut n = node(37);
    let now = START_MS;
    let mut sent = Vec::new();
    for round in 0..200u32 {
        let proposer = proposer(1, round);
        if proposer != 0 {
            // A distinct block each round.
            let block = n.block(proposer, now + u64::from(round), None);
            let proposal = n.proposal(proposer, &block, round);
            n.core.on_consensus(proposal.clone(), now);
            sent.push(proposal);
        }
        for step in [Step::Propose, Step::Prevote, Step::Precommit] {
            n.core.on_timeout(
                Timeout {
                    height: 1,
                    round,
                    step,
                },
                now,
            );
        }
    }
    assert_eq!(
        n.core.round_state().1,
        200,
        "the node went through the rounds"
    );
    let kept_rounds = ROUND_WINDOW as usize + 1;
    assert!(
        n.core.stored_blocks() <= kept_rounds + 1,
        "{} blocks kept after 200 rounds",
        n.core.stored_blocks()
    );
    assert!(
        n.core.stored_statements() <= kept_rounds * 9,
        "{} statements kept after 200 rounds",
        n.core.stored_statements()
    );
    // The old rounds' proposals sent again (a Byzantine proposer re-sends them) are
    // not taken back.
    for proposal in sent {
        n.core.on_consensus(proposal, now);
    }
    assert!(
        n.core.stored_blocks() <= kept_rounds + 1,
        "{} blocks kept after old rounds were sent again",
        n.core.stored_blocks()
    );
}
