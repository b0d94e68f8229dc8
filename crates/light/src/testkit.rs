//! A certified chain in memory for tests: blocks built as a proposer builds them,
//! certified by exactly a quorum of the authority set, committed to a store.

use mpms_crypto::SigningKey;
use mpms_ledger::execute::{account_nonce, build_block, read_meta, SignatureCheck};
use mpms_ledger::records::keys;
use mpms_ledger::testkit::TestChain;
use mpms_ledger::transaction::GovernanceAction;
use mpms_ledger::vote::CommitSignature;
use mpms_ledger::{
    codec, AuthoritySet, Block, CommitCertificate, Header, Payload, SignedTransaction, State,
};
use mpms_store::{commit_genesis, BlockCommit, MemStore, Store};

/// A chain committed to a [`MemStore`] with real commit certificates.
pub struct CertifiedChain {
    /// The test chain's keys and genesis.
    pub chain: TestChain,
    /// The store.
    pub store: MemStore,
    /// The last committed header.
    pub last: Header,
    /// Consensus keys that sign certificates: the genesis keys and any rotated in.
    pub consensus_keys: Vec<SigningKey>,
}

impl CertifiedChain {
    /// Genesis of `chain`, committed.
    pub fn new(chain: TestChain) -> CertifiedChain {
        let store = MemStore::new();
        let genesis = chain.genesis.build().expect("test genesis builds");
        commit_genesis(&store, &genesis).expect("genesis commits");
        let consensus_keys = chain.consensus.clone();
        CertifiedChain {
            chain,
            store,
            last: genesis.header,
            consensus_keys,
        }
    }

    /// The authority set of the next block.
    pub fn authority_set(&self) -> AuthoritySet {
        read_meta(&self.store).expect("meta reads").authority_set
    }

    /// A certificate for `header` signed by exactly a quorum of `set`.
    pub fn certify(&self, header: &Header, set: &AuthoritySet) -> CommitCertificate {
        let mut cert = CommitCertificate {
            height: header.height,
            round: 0,
            block: header.hash(),
            signatures: Vec::new(),
        };
        let vote = cert.precommit();
        for member in &set.members {
            if cert.signatures.len() == set.quorum() {
                break;
            }
            let key = self
                .consensus_keys
                .iter()
                .find(|k| k.public_key() == member.consensus_key)
                .expect("the test chain holds every consensus key");
            let signed = vote.sign(self.chain.chain_id(), member.operator, key);
            cert.signatures.push(CommitSignature {
                validator: member.operator,
                signature: signed.signature,
            });
        }
        cert
    }

    /// Builds, certifies and commits the next block from `txs`; every one must be
    /// taken.
    pub fn commit(&mut self, txs: &[SignedTransaction]) -> Block {
        let set = self.authority_set();
        let height = self.last.height + 1;
        let proposer = set.proposer(height, 0).expect("a set has members").operator;
        let parent_cert = self
            .store
            .certificate(self.last.height)
            .expect("store reads");
        let built = build_block(
            &self.store,
            &self.last,
            parent_cert,
            proposer,
            self.last.time_ms + 1_000,
            txs,
            SignatureCheck::Verify,
        )
        .expect("block builds");
        assert!(built.excluded.is_empty(), "left out: {:?}", built.excluded);
        let cert = self.certify(&built.block.header, &set);
        let hashes = built.tx_hashes();
        self.store
            .commit(BlockCommit {
                block: &built.block,
                certificate: Some(&cert),
                changes: &built.outcome.changes,
                tx_hashes: Some(&hashes),
            })
            .expect("block commits");
        self.last = built.block.header.clone();
        built.block
    }

    /// A transaction by `signer` with its next nonce (plus `offset`, for several in
    /// one block).
    pub fn tx(&self, signer: &SigningKey, offset: u64, payload: Payload) -> SignedTransaction {
        let nonce = account_nonce(&self.store, &signer.public_key()) + offset;
        self.chain.tx(signer, nonce, payload)
    }

    /// Passes `action` by governance in one block: proposed by the first authority,
    /// approved by enough others.
    pub fn govern(&mut self, action: GovernanceAction) -> Block {
        let set = self.authority_set();
        let id: u64 = self
            .store
            .get(&keys::next_proposal())
            .expect("state reads")
            .map(|b| codec::decode(&b).expect("the proposal counter decodes"))
            .unwrap_or(1);
        let operator = |m: &mpms_ledger::vote::AuthorityMember| {
            self.chain
                .operators
                .iter()
                .find(|k| k.public_key() == m.operator)
                .expect("the test chain holds every operator key")
                .clone()
        };
        let mut txs = vec![self.tx(&operator(&set.members[0]), 0, Payload::Propose { action })];
        for member in set.members.iter().skip(1).take(set.quorum() - 1) {
            txs.push(self.tx(
                &operator(member),
                0,
                Payload::Vote {
                    proposal: id,
                    approve: true,
                },
            ));
        }
        self.commit(&txs)
    }

    /// Rotates authority `i`'s consensus key to the test chain's replacement key.
    pub fn rotate_consensus_key(&mut self, i: usize) -> Block {
        let key = self.chain.rotated_consensus_key(i);
        self.consensus_keys.push(key.clone());
        self.govern(GovernanceAction::RotateAuthorityKey {
            operator: self.chain.operators[i].public_key(),
            consensus_key: key.public_key(),
        })
    }
}
