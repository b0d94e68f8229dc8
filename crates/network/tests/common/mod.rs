//! Shared test harness: a test chain that produces certified blocks, and in-process
//! nodes on 127.0.0.1.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::Arc;
use std::time::Duration;

use mpms_consensus::messages::{check_finalized, FinalizedBlock};
use mpms_ledger::execute::{build_block, execute_block, read_meta, SignatureCheck};
use mpms_ledger::testkit::TestChain;
use mpms_ledger::vote::{AuthoritySet, CommitCertificate};
use mpms_ledger::{Header, MemState, Payload, SignedTransaction};
use mpms_network::sync::{Applied, BlockSink, BlockSource, StoreSource};
use mpms_network::validate::Limits;
use mpms_network::{
    ChainValidator, GossipValidator, Multiaddr, NetworkConfig, NetworkEvent, NetworkHandle, Topic,
    Verdict,
};
use mpms_store::{commit_genesis, BlockCommit, MemStore, Store};

/// A chain with a state, producing certified blocks into a store.
pub struct Chain {
    pub keys: TestChain,
    pub state: MemState,
    pub store: Arc<MemStore>,
    pub genesis: Header,
    pub last: Header,
    pub last_cert: Option<CommitCertificate>,
    pub set: AuthoritySet,
    /// Receipts of the last block produced.
    pub receipts: Vec<mpms_ledger::Receipt>,
}

impl Chain {
    pub fn new(seed: u64) -> Chain {
        let keys = TestChain::new(4, seed);
        let genesis = keys.genesis.build().unwrap();
        let mut state = MemState::new();
        state.apply(&genesis.changes);
        let store = Arc::new(MemStore::new());
        commit_genesis(&*store, &genesis).unwrap();
        Chain {
            keys,
            state,
            store,
            genesis: genesis.header.clone(),
            last: genesis.header,
            last_cert: None,
            set: genesis.authority_set,
            receipts: Vec::new(),
        }
    }

    pub fn chain_id(&self) -> String {
        self.keys.chain_id().to_string()
    }

    /// Produces, certifies and commits one block of `txs`.
    pub fn produce(&mut self, txs: &[SignedTransaction]) -> FinalizedBlock {
        let built = build_block(
            &self.state,
            &self.last,
            self.last_cert.clone(),
            self.keys.operators[0].public_key(),
            self.last.time_ms + 1_000,
            txs,
            SignatureCheck::Verify,
        )
        .unwrap();
        assert!(built.excluded.is_empty(), "{:?}", built.excluded.first());
        let certificate = self.keys.certify(&built.block.header, 0, &self.set);
        self.store
            .commit(BlockCommit {
                block: &built.block,
                certificate: Some(&certificate),
                changes: &built.outcome.changes,
                tx_hashes: Some(&built.tx_hashes()),
            })
            .unwrap();
        self.state.apply(&built.outcome.changes);
        if let Some(set) = &built.outcome.next_authority_set {
            self.set = set.clone();
        }
        self.last = built.block.header.clone();
        self.last_cert = Some(certificate.clone());
        self.receipts = built.outcome.receipts.clone();
        FinalizedBlock {
            block: built.block,
            certificate,
        }
    }

    /// A validator for this chain's gossip at its current height.
    pub fn validator(&self) -> Arc<ChainValidator> {
        let meta = read_meta(&self.state).unwrap();
        Arc::new(ChainValidator::new(
            self.chain_id(),
            Limits::from_params(&meta.params),
            self.set.clone(),
            self.last.height + 1,
        ))
    }

    pub fn source(&self) -> Arc<dyn BlockSource> {
        Arc::new(StoreSource(self.store.clone()))
    }

    /// A signed transaction (a subject registration) for gossip.
    pub fn tx(&self, i: u64) -> SignedTransaction {
        self.keys.register_subject(i)
    }

    /// A transaction from authority `i` with `nonce`.
    pub fn authority_tx(&self, i: usize, nonce: u64, payload: Payload) -> SignedTransaction {
        self.keys.tx(&self.keys.operators[i], nonce, payload)
    }
}

/// A syncing node's chain: checks every block against what it knows, executes it.
pub struct VerifyingSink {
    pub chain_id: String,
    pub state: MemState,
    pub last: Header,
    pub set: AuthoritySet,
}

impl VerifyingSink {
    pub fn from_genesis(chain: &Chain) -> VerifyingSink {
        let genesis = chain.keys.genesis.build().unwrap();
        let mut state = MemState::new();
        state.apply(&genesis.changes);
        VerifyingSink {
            chain_id: chain.chain_id(),
            state,
            last: genesis.header,
            set: genesis.authority_set,
        }
    }
}

impl VerifyingSink {
    fn apply_one(&mut self, finalized: FinalizedBlock) -> Result<(), String> {
        check_finalized(&self.chain_id, &self.last, &self.set, &finalized)?;
        let outcome =
            execute_block(&self.state, &self.last, &finalized.block).map_err(|e| e.to_string())?;
        self.state.apply(&outcome.changes);
        if let Some(set) = outcome.next_authority_set {
            self.set = set;
        }
        self.last = finalized.block.header;
        Ok(())
    }
}

impl BlockSink for VerifyingSink {
    async fn height(&mut self) -> Option<u64> {
        Some(self.last.height)
    }

    async fn apply(&mut self, blocks: Vec<FinalizedBlock>) -> Option<Applied> {
        let mut applied = Applied::default();
        for block in blocks {
            if let Err(reason) = self.apply_one(block) {
                applied.refused = Some(reason);
                break;
            }
            applied.count += 1;
        }
        Some(applied)
    }
}

/// Accepts everything: what a hostile peer runs so it forwards its own junk.
pub struct AcceptAll;

impl GossipValidator for AcceptAll {
    fn validate(&self, _: Topic, _: &[u8]) -> Verdict {
        Verdict::Accept
    }
}

/// A node with nothing to serve.
pub struct NoBlocks;

impl BlockSource for NoBlocks {
    fn last_height(&self) -> u64 {
        0
    }
    fn finalized(&self, _: u64) -> Option<FinalizedBlock> {
        None
    }
}

/// An in-process node.
pub struct Node {
    pub handle: NetworkHandle,
    pub events: mpms_network::EventReceiver,
    pub addr: Multiaddr,
}

/// Open-mode loopback config without discovery (tests choose the topology).
pub fn open_config() -> NetworkConfig {
    NetworkConfig {
        permissioned: false,
        discovery: false,
        ..NetworkConfig::local()
    }
}

pub async fn spawn(
    chain_id: &str,
    config: NetworkConfig,
    validator: Arc<dyn GossipValidator>,
    source: Arc<dyn BlockSource>,
) -> Node {
    let key = mpms_network::identity::generate();
    let (handle, events) = mpms_network::start(key, &config, chain_id, validator, source)
        .await
        .unwrap();
    let addr = handle.listen_addrs().await.unwrap()[0].clone();
    Node {
        handle,
        events,
        addr,
    }
}

/// Polls `check` every 50 ms until it holds, or fails after `limit`.
pub async fn wait_for<F, Fut>(what: &str, limit: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + limit;
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits for the next gossip message on `node`, skipping connection events.
pub async fn next_message(node: &mut Node, limit: Duration) -> Option<(Topic, Vec<u8>)> {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, node.events.recv()).await {
            Ok(Some(NetworkEvent::Message { topic, data, .. })) => return Some((topic, data)),
            Ok(Some(_)) => continue,
            Ok(None) | Err(_) => return None,
        }
    }
}
