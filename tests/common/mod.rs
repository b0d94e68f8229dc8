//! A chain of real blocks in memory for tests: blocks are built as a proposer builds
//! them (`build_block`) or by hand (as a Byzantine proposer would), executed as a
//! validator executes them (`execute_block`), and committed.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, missing_docs)]

use mpms_crypto::{Hash, SigningKey};
use mpms_ledger::block::{tx_root, Header};
use mpms_ledger::evidence::Evidence;
use mpms_ledger::execute::{
    account_nonce, build_block, execute_block, read_meta, BlockContext, SignatureCheck,
};
use mpms_ledger::testkit::TestChain;
use mpms_ledger::vote::{SignedVote, Vote, VoteKind};
use mpms_ledger::{
    codec, Block, MemState, Payload, SignedTransaction, State, Transaction, TxError,
};

pub struct Chain {
    pub chain: TestChain,
    pub state: MemState,
    pub parent: Header,
}

impl Chain {
    pub fn new(authorities: usize, seed: u64) -> Chain {
        Chain::from(TestChain::new(authorities, seed))
    }

    pub fn from(chain: TestChain) -> Chain {
        let genesis = chain.genesis.build().unwrap();
        let mut state = MemState::new();
        state.apply(&genesis.changes);
        Chain {
            chain,
            state,
            parent: genesis.header,
        }
    }

    pub fn chain_id(&self) -> String {
        self.chain.chain_id().to_string()
    }

    /// The context of the next block.
    pub fn ctx(&self) -> BlockContext {
        BlockContext {
            height: self.parent.height + 1,
            time_ms: self.parent.time_ms + 1_000,
            proposer: self.proposer(),
            parent: self.parent.hash(),
        }
    }

    /// The proposer of the next block's first round.
    pub fn proposer(&self) -> mpms_crypto::PublicKey {
        let set = read_meta(&self.state).unwrap().authority_set;
        set.proposer(self.parent.height + 1, 0).unwrap().operator
    }

    /// Builds and commits the next block from `candidates`, checking that a validator
    /// accepts it with the same outcome; returns what the builder left out.
    pub fn commit(&mut self, candidates: &[SignedTransaction]) -> Vec<TxError> {
        let built = build_block(
            &self.state,
            &self.parent,
            None,
            self.proposer(),
            self.parent.time_ms + 1_000,
            candidates,
            SignatureCheck::Verify,
        )
        .unwrap();
        let validated = execute_block(&self.state, &self.parent, &built.block)
            .expect("a validator accepts what the builder built");
        assert_eq!(
            validated.state_root, built.outcome.state_root,
            "builder and validator agree"
        );
        self.state.apply(&built.outcome.changes);
        self.parent = built.block.header.clone();
        built.excluded.into_iter().map(|e| e.error).collect()
    }

    /// Commits a block that must take every candidate.
    pub fn commit_all(&mut self, candidates: &[SignedTransaction]) {
        let excluded = self.commit(candidates);
        assert!(excluded.is_empty(), "left out: {excluded:?}");
    }

    /// Commits `n` empty blocks.
    pub fn skip(&mut self, n: u64) {
        for _ in 0..n {
            self.commit_all(&[]);
        }
    }

    /// A block after the committed parent holding exactly `txs`, built by hand.
    pub fn hand_built(&self, txs: Vec<SignedTransaction>) -> Block {
        Block {
            header: Header {
                chain_id: self.chain_id(),
                height: self.parent.height + 1,
                parent: self.parent.hash(),
                time_ms: self.parent.time_ms + 1_000,
                proposer: self.chain.operators[1].public_key(),
                tx_root: tx_root(&txs),
                tx_count: txs.len() as u32,
                state_root: Hash::digest(b"not computed"),
                authority_set: read_meta(&self.state).unwrap().authority_set.hash(),
                next_authority_set: read_meta(&self.state).unwrap().authority_set.hash(),
                last_commit: Hash::ZERO,
            },
            last_commit: None,
            transactions: txs,
        }
    }

    pub fn vote(&self, i: usize, header: &Header, kind: VoteKind) -> SignedVote {
        Vote {
            height: header.height,
            round: 0,
            kind,
            block: Some(header.hash()),
            valid_round: None,
        }
        .sign(
            &self.chain_id(),
            self.chain.operators[i].public_key(),
            &self.chain.consensus[i],
        )
    }

    /// Transactions by `signer`, with consecutive nonces from its committed one.
    pub fn txs(&self, signer: &SigningKey, payloads: Vec<Payload>) -> Vec<SignedTransaction> {
        let first = account_nonce(&self.state, &signer.public_key());
        payloads
            .into_iter()
            .enumerate()
            .map(|(i, payload)| self.tx_at(signer, first + i as u64, payload))
            .collect()
    }

    pub fn tx(&self, signer: &SigningKey, payload: Payload) -> SignedTransaction {
        self.txs(signer, vec![payload]).remove(0)
    }

    pub fn tx_at(&self, signer: &SigningKey, nonce: u64, payload: Payload) -> SignedTransaction {
        Transaction {
            chain_id: self.chain_id(),
            sender: signer.public_key(),
            nonce,
            payload,
        }
        .sign(signer)
    }

    /// Submits `evidence` from authority `from`'s account in the next block; the
    /// error if it was refused.
    pub fn submit(&mut self, from: usize, evidence: Evidence) -> Option<TxError> {
        let op = self.chain.operators[from].clone();
        let tx = self.tx(&op, Payload::SubmitEvidence(Box::new(evidence)));
        self.commit(&[tx]).pop()
    }

    pub fn in_set(&self, i: usize) -> bool {
        read_meta(&self.state)
            .unwrap()
            .authority_set
            .contains(&self.chain.operators[i].public_key())
    }

    pub fn get<T: serde::de::DeserializeOwned>(&self, key: &[u8]) -> Option<T> {
        self.state
            .get(key)
            .unwrap()
            .map(|b| codec::decode(&b).unwrap())
    }
}

pub fn fake_credential(block: &Block, index: usize, vote: SignedVote) -> Evidence {
    Evidence::FakeCredential {
        header: Box::new(block.header.clone()),
        vote,
        transaction: block.transactions[index].erased(),
        proof: block.tx_proof(index).unwrap(),
    }
}
