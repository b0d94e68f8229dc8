//! The mempool: transactions waiting for a block.
//!
//! - **Validated on entry** against committed state: size, chain id, the sender's
//!   signature under its current key, nonce, and the transaction's own rules (it is
//!   executed on top of the sender's earlier pending transactions, so a certifier
//!   issuing out of scope is refused here with the reason, not silently dropped
//!   later). Those earlier transactions are not executed again for each new one: the
//!   mempool keeps their net state writes per sender and executes only the new
//!   transaction on top (rebuilt once after a block or an eviction).
//! - **Deduplicated** by hash; one transaction per (sender, nonce).
//! - **Nonce order per sender**: a sender's transactions must be contiguous from its
//!   account nonce; block candidates come out in nonce order per sender and in
//!   arrival order across senders.
//! - **Limits** by count, bytes and per sender. When full, a sender with fewer
//!   pending transactions than the longest queue displaces that queue's last
//!   transaction; otherwise the new one is refused. Queues thus tend to equal shares:
//!   no sender, old or new, can lock the others out, and a flood of new senders costs
//!   each of them an account (see `mpms_ledger::work`). Finding the longest queue
//!   takes O(log n).
//! - **Expiry** after a time to live.
//! - **Re-checked after each block**: included and replayed transactions go; the
//!   rest are executed again in candidate order against the new state and those the
//!   new state refuses go too (with every later transaction of the same sender).
//!
//! The mempool reads the clock only through the `now_ms` arguments.
//!
//! Transactions that depend on another sender's pending transaction (an issuance to a
//! subject whose registration is not committed yet) are refused on entry: submit
//! them once the first is committed.

use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap};
use std::sync::Arc;

use mpms_crypto::Hash;
use mpms_ledger::execute::{read_meta, signing_key};
use mpms_ledger::state::TreeEntry;
use mpms_ledger::{
    codec, AccountId, BlockContext, Executor, SignatureCheck, SignedTransaction, State, StateError,
    TxError,
};
use serde::{Deserialize, Serialize};

/// Mempool limits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MempoolConfig {
    /// Most transactions held. Default 5,000.
    pub max_transactions: usize,
    /// Most bytes held (encoded transactions). Default 64 MiB.
    pub max_bytes: usize,
    /// Most pending transactions per sender. Default 128.
    pub max_per_sender: usize,
    /// Transactions older than this are dropped, in seconds. Default 600.
    pub ttl_secs: u64,
    /// After each block, the first this many transactions in proposal order are
    /// executed again on the new state, and those it refuses dropped; the rest wait
    /// until they come within reach (the block builder checks every candidate
    /// anyway). Bounds the work a block costs when a backlog builds up. Default 1,000.
    pub recheck_window: usize,
}

impl Default for MempoolConfig {
    fn default() -> Self {
        MempoolConfig {
            max_transactions: 5_000,
            max_bytes: 64 << 20,
            max_per_sender: 128,
            ttl_secs: 600,
            recheck_window: 1_000,
        }
    }
}

impl MempoolConfig {
    /// Checks the limits, naming the field at fault.
    pub fn check(&self) -> Result<(), (&'static str, &'static str)> {
        if self.max_transactions == 0 {
            return Err(("max_transactions", "must be at least 1"));
        }
        if self.max_bytes < 64 << 10 {
            return Err(("max_bytes", "must be at least 65536"));
        }
        if self.max_per_sender == 0 {
            return Err(("max_per_sender", "must be at least 1"));
        }
        if self.ttl_secs == 0 {
            return Err(("ttl_secs", "must be at least 1"));
        }
        if self.recheck_window == 0 {
            return Err(("recheck_window", "must be at least 1"));
        }
        Ok(())
    }
}

/// Why a transaction was not admitted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdmitError {
    /// Already pending.
    #[error("transaction {0} is already pending")]
    Duplicate(Hash),
    /// Another transaction of the sender holds this nonce.
    #[error("another pending transaction of this sender has nonce {0}")]
    NonceTaken(u64),
    /// The nonce leaves a gap after the sender's pending transactions.
    #[error("nonce {got} leaves a gap: the sender's next nonce is {expected}")]
    NonceGap {
        /// The next nonce the sender can use.
        expected: u64,
        /// The nonce given.
        got: u64,
    },
    /// The sender already has the most pending transactions allowed.
    #[error("the sender already has {0} pending transactions")]
    SenderFull(usize),
    /// The mempool is full.
    #[error("the mempool is full")]
    Full,
    /// A new transaction carries its ciphertext and sealed keys; only a block's
    /// stored copy may have them erased.
    #[error("the transaction's ciphertext or sealed keys are missing")]
    Erased,
    /// The ledger's rules refuse the transaction.
    #[error(transparent)]
    Rejected(#[from] TxError),
}

impl AdmitError {
    /// Whether the node, not the transaction, is at fault (storage errors).
    pub fn is_node_fault(&self) -> bool {
        matches!(self, AdmitError::Rejected(e) if e.is_node_fault())
    }
}

struct Entry {
    tx: Arc<SignedTransaction>,
    /// The sender's key it was checked against on entry.
    key: mpms_crypto::PublicKey,
    size: usize,
    arrival: u64,
    added_ms: u64,
}

/// Net state writes: `None` deletes the key.
type Writes = HashMap<Vec<u8>, Option<Vec<u8>>>;

/// One sender's pending transactions.
#[derive(Default)]
struct Queue {
    /// By nonce.
    txs: BTreeMap<u64, Hash>,
    /// The net writes of `txs` on committed state; `None` once stale (after a block
    /// or an eviction), rebuilt at the sender's next insertion.
    writes: Option<Writes>,
}

/// Committed state with a sender's pending writes on top.
struct Overlay<'a> {
    base: &'a dyn State,
    writes: &'a Writes,
}

/// The state tree is the committed one: an overlay admits transactions and never
/// ends a block, so its pending writes need no tree.
impl State for Overlay<'_> {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        match self.writes.get(key) {
            Some(value) => Ok(value.clone()),
            None => self.base.get(key),
        }
    }

    fn tree_get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        self.base.tree_get(key)
    }

    fn tree_range(
        &self,
        from: &[u8],
        until: &[u8],
        limit: usize,
    ) -> Result<Vec<TreeEntry>, StateError> {
        self.base.tree_range(from, until, limit)
    }

    fn tree_last(&self, from: &[u8], until: &[u8]) -> Result<Option<TreeEntry>, StateError> {
        self.base.tree_last(from, until)
    }
}

/// Transactions waiting for a block.
pub struct Mempool {
    config: MempoolConfig,
    entries: HashMap<Hash, Entry>,
    by_sender: HashMap<AccountId, Queue>,
    /// Senders by queue length, to find the longest queue in O(log n).
    lengths: BTreeSet<(usize, AccountId)>,
    bytes: usize,
    arrivals: u64,
}

/// What a re-check after a block removed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Recheck {
    /// Included in the block.
    pub included: usize,
    /// Refused by the new state (with the reason), or after a refused one.
    pub dropped: Vec<(Hash, String)>,
    /// Expired.
    pub expired: usize,
}

impl Mempool {
    /// An empty mempool.
    pub fn new(config: MempoolConfig) -> Mempool {
        Mempool {
            config,
            entries: HashMap::new(),
            by_sender: HashMap::new(),
            lengths: BTreeSet::new(),
            bytes: 0,
            arrivals: 0,
        }
    }

    /// Transactions held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Whether `hash` is pending.
    pub fn contains(&self, hash: &Hash) -> bool {
        self.entries.contains_key(hash)
    }

    /// The next nonce `sender` can use, counting its pending transactions, if it has
    /// any pending.
    pub fn next_nonce(&self, sender: &AccountId) -> Option<u64> {
        self.by_sender
            .get(sender)
            .and_then(|q| q.txs.keys().next_back())
            .map(|n| n + 1)
    }

    /// Checks `tx` against `state` (committed, whose next block is described by `ctx`)
    /// and the sender's pending transactions, and admits it.
    pub fn insert(
        &mut self,
        state: &dyn State,
        ctx: &BlockContext,
        tx: SignedTransaction,
        now_ms: u64,
    ) -> Result<Hash, AdmitError> {
        let hash = tx.hash();
        if self.entries.contains_key(&hash) {
            return Err(AdmitError::Duplicate(hash));
        }
        if tx.tx.payload.any_erased() {
            return Err(AdmitError::Erased);
        }
        let sender = tx.tx.sender;
        let queue_len = self.by_sender.get(&sender).map_or(0, |q| q.txs.len());
        if let Some(queue) = self.by_sender.get(&sender) {
            if queue.txs.contains_key(&tx.tx.nonce) {
                return Err(AdmitError::NonceTaken(tx.tx.nonce));
            }
            if let Some(next) = queue.txs.keys().next_back().map(|n| n + 1) {
                if tx.tx.nonce != next {
                    // Below the queue: replayed or taken; above: a gap. Let the ledger
                    // name a replay; name a gap here.
                    if tx.tx.nonce > next {
                        return Err(AdmitError::NonceGap {
                            expected: next,
                            got: tx.tx.nonce,
                        });
                    }
                }
            }
        }
        if queue_len >= self.config.max_per_sender {
            return Err(AdmitError::SenderFull(queue_len));
        }
        // Execute this one on top of the sender's pending transactions' writes. An
        // issuance may rely on them (it is held until they are committed: the block
        // builder reads only committed state for issuances and leaves it for a later
        // block).
        self.refresh_writes(state, ctx, &sender)?;
        let empty = Writes::new();
        let pending = self
            .by_sender
            .get(&sender)
            .and_then(|q| q.writes.as_ref())
            .unwrap_or(&empty);
        let overlay = Overlay {
            base: state,
            writes: pending,
        };
        let mut executor = Executor::for_admission(&overlay, ctx.clone())?;
        executor.apply(&tx, SignatureCheck::Verify)?;
        let writes = executor.into_writes();
        let key = signing_key(state, &sender, ctx.height);
        let size = codec::encode(&tx).len();
        if !self.make_room(&sender, queue_len, size) {
            return Err(AdmitError::Full);
        }
        self.arrivals += 1;
        let queue = self.by_sender.entry(sender).or_default();
        queue.txs.insert(tx.tx.nonce, hash);
        if let Some(pending) = queue.writes.as_mut() {
            pending.extend(writes);
        } else if queue.txs.len() == 1 {
            queue.writes = Some(writes.into_iter().collect());
        }
        let len = queue.txs.len();
        self.lengths.remove(&(len - 1, sender));
        self.lengths.insert((len, sender));
        self.bytes += size;
        self.entries.insert(
            hash,
            Entry {
                tx: Arc::new(tx),
                key,
                size,
                arrival: self.arrivals,
                added_ms: now_ms,
            },
        );
        Ok(hash)
    }

    /// Rebuilds `sender`'s pending writes if a block or an eviction made them stale:
    /// its queue executed once on committed state.
    fn refresh_writes(
        &mut self,
        state: &dyn State,
        ctx: &BlockContext,
        sender: &AccountId,
    ) -> Result<(), TxError> {
        let Some(queue) = self.by_sender.get(sender) else {
            return Ok(());
        };
        if queue.writes.is_some() {
            return Ok(());
        }
        let mut executor = Executor::for_admission(state, ctx.clone())?;
        for hash in queue.txs.values() {
            if let Some(entry) = self.entries.get(hash) {
                // Checked on entry and re-checked after each block.
                let _ = executor.apply(&entry.tx, SignatureCheck::Preverified);
            }
        }
        let writes = executor.into_writes().into_iter().collect();
        if let Some(queue) = self.by_sender.get_mut(sender) {
            queue.writes = Some(writes);
        }
        Ok(())
    }

    /// Frees room for `size` bytes from `sender` (who has `queue_len` pending) by
    /// displacing the last transaction of the longest queue, if that queue is longer
    /// than `sender`'s would be.
    fn make_room(&mut self, sender: &AccountId, queue_len: usize, size: usize) -> bool {
        loop {
            let full = self.entries.len() >= self.config.max_transactions
                || self.bytes + size > self.config.max_bytes;
            if !full {
                return true;
            }
            // The longest queue other than the sender's (ties: the greatest id, the
            // same choice on every node).
            let longest = self
                .lengths
                .iter()
                .rev()
                .find(|(_, s)| s != sender)
                .copied();
            match longest {
                Some((len, victim)) if len > queue_len + 1 => {
                    let last = self
                        .by_sender
                        .get(&victim)
                        .and_then(|q| q.txs.values().next_back().copied());
                    match last {
                        Some(h) => self.remove(&h),
                        None => return false,
                    }
                }
                _ => return false,
            }
        }
    }

    fn remove(&mut self, hash: &Hash) {
        if let Some(entry) = self.entries.remove(hash) {
            self.bytes -= entry.size;
            let sender = entry.tx.tx.sender;
            if let Some(queue) = self.by_sender.get_mut(&sender) {
                let len = queue.txs.len();
                queue.txs.remove(&entry.tx.tx.nonce);
                // The queue's writes included this one's.
                queue.writes = None;
                self.lengths.remove(&(len, sender));
                if queue.txs.is_empty() {
                    self.by_sender.remove(&sender);
                } else {
                    self.lengths.insert((len - 1, sender));
                }
            }
        }
    }

    /// Up to `limit` candidates for the next block: each sender's transactions in
    /// nonce order; across senders, the sender whose next transaction arrived first.
    pub fn candidates(&self, limit: usize) -> Vec<Arc<SignedTransaction>> {
        // Min-heap on the arrival of each sender's head.
        let mut heads: BinaryHeap<std::cmp::Reverse<(u64, AccountId, u64)>> = self
            .by_sender
            .iter()
            .filter_map(|(sender, queue)| {
                let (nonce, hash) = queue.txs.iter().next()?;
                Some(std::cmp::Reverse((
                    self.entries.get(hash)?.arrival,
                    *sender,
                    *nonce,
                )))
            })
            .collect();
        let mut out = Vec::new();
        while let Some(std::cmp::Reverse((_, sender, nonce))) = heads.pop() {
            if out.len() >= limit {
                break;
            }
            let Some(queue) = self.by_sender.get(&sender) else {
                continue;
            };
            let Some(entry) = queue.txs.get(&nonce).and_then(|h| self.entries.get(h)) else {
                continue;
            };
            out.push(entry.tx.clone());
            if let Some((next_nonce, next_hash)) = queue.txs.range(nonce + 1..).next() {
                if let Some(next) = self.entries.get(next_hash) {
                    heads.push(std::cmp::Reverse((next.arrival, sender, *next_nonce)));
                }
            }
        }
        out
    }

    /// After a block: removes `included`, expired transactions, and whatever the new
    /// `state` (next block described by `ctx`) refuses.
    pub fn recheck(
        &mut self,
        state: &dyn State,
        ctx: &BlockContext,
        included: &[Hash],
        now_ms: u64,
    ) -> Recheck {
        let mut report = Recheck::default();
        // Every sender's pending writes were made on the previous state.
        for queue in self.by_sender.values_mut() {
            queue.writes = None;
        }
        for h in included {
            if self.entries.contains_key(h) {
                self.remove(h);
                report.included += 1;
            }
        }
        let ttl_ms = self.config.ttl_secs.saturating_mul(1_000);
        let expired: Vec<Hash> = self
            .entries
            .iter()
            .filter(|(_, e)| now_ms.saturating_sub(e.added_ms) > ttl_ms)
            .map(|(h, _)| *h)
            .collect();
        for h in &expired {
            self.remove(h);
        }
        report.expired = expired.len();
        if self.entries.is_empty() {
            return report;
        }
        // A state that cannot be read says nothing about the transactions: keep them.
        if read_meta(state).is_err() {
            return report;
        }
        let Ok(mut executor) = Executor::for_admission(state, ctx.clone()) else {
            return report;
        };
        let mut refused: HashMap<AccountId, String> = HashMap::new();
        for tx in self.candidates(self.config.recheck_window) {
            let hash = tx.hash();
            if let Some(reason) = refused.get(&tx.tx.sender) {
                report.dropped.push((
                    hash,
                    format!("an earlier transaction was refused: {reason}"),
                ));
                continue;
            }
            // Signatures were checked on entry; a key rotated since voids them.
            let key = self.entries.get(&hash).map(|e| e.key);
            if key.is_some_and(|k| k != signing_key(state, &tx.tx.sender, ctx.height)) {
                let reason = "the sender's signing key changed since: sign it again".to_string();
                refused.insert(tx.tx.sender, reason.clone());
                report.dropped.push((hash, reason));
                continue;
            }
            match executor.apply(&tx, SignatureCheck::Preverified) {
                Ok(_) => {}
                Err(e) if e.is_node_fault() => return report,
                Err(e) => {
                    refused.insert(tx.tx.sender, e.to_string());
                    report.dropped.push((hash, e.to_string()));
                }
            }
        }
        for (h, _) in &report.dropped {
            self.remove(h);
        }
        report
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use mpms_ledger::execute::build_block;
    use mpms_ledger::testkit::TestChain;
    use mpms_ledger::{CredentialRuleError, Header, MemState};

    struct Fixture {
        chain: TestChain,
        state: MemState,
        last: Header,
    }

    impl Fixture {
        fn new() -> Fixture {
            let chain = TestChain::new(4, 11);
            let genesis = chain.genesis.build().unwrap();
            let mut state = MemState::new();
            state.apply(&genesis.changes);
            Fixture {
                chain,
                state,
                last: genesis.header,
            }
        }

        fn ctx(&self) -> BlockContext {
            BlockContext {
                height: self.last.height + 1,
                time_ms: self.last.time_ms + 1_000,
                proposer: self.chain.operators[0].public_key(),
                parent: self.last.hash(),
            }
        }

        /// Builds and applies a block of `pool`'s candidates; returns the included hashes.
        fn commit(&mut self, pool: &Mempool) -> Vec<Hash> {
            let candidates: Vec<SignedTransaction> = pool
                .candidates(1_000)
                .iter()
                .map(|t| (**t).clone())
                .collect();
            let built = build_block(
                &self.state,
                &self.last,
                None,
                self.chain.operators[0].public_key(),
                self.last.time_ms + 1_000,
                &candidates,
                SignatureCheck::Verify,
            )
            .unwrap();
            self.state.apply(&built.outcome.changes);
            self.last = built.block.header.clone();
            built.tx_hashes()
        }
    }

    fn pool() -> Mempool {
        Mempool::new(MempoolConfig::default())
    }

    #[test]
    fn admits_valid_and_refuses_duplicates() {
        let f = Fixture::new();
        let mut pool = pool();
        let tx = f.chain.register_subject(1);
        let hash = pool.insert(&f.state, &f.ctx(), tx.clone(), 0).unwrap();
        assert_eq!(hash, tx.hash());
        assert_eq!(pool.len(), 1);
        assert_eq!(pool.bytes(), codec::encode(&tx).len());
        assert_eq!(
            pool.insert(&f.state, &f.ctx(), tx, 0),
            Err(AdmitError::Duplicate(hash))
        );
    }

    #[test]
    fn refuses_with_the_ledger_reason() {
        let f = Fixture::new();
        let mut pool = pool();
        // Bad signature.
        let mut forged = f.chain.register_subject(1);
        forged.tx.nonce = 0;
        forged.signature = f.chain.register_subject(2).signature;
        assert_eq!(
            pool.insert(&f.state, &f.ctx(), forged, 0),
            Err(AdmitError::Rejected(TxError::BadSignature))
        );
        // Wrong chain.
        let mut other = f.chain.register_subject(3);
        other.tx.chain_id = "another-chain".into();
        let other = other.tx.sign(&f.chain.subject(3).0);
        assert!(matches!(
            pool.insert(&f.state, &f.ctx(), other, 0),
            Err(AdmitError::Rejected(TxError::WrongChain { .. }))
        ));
        // A credential of an unregistered schema: the rule, named.
        let issue = f.chain.issue(0, "no-such-schema", 1, 1);
        assert!(matches!(
            pool.insert(&f.state, &f.ctx(), issue, 0),
            Err(AdmitError::Rejected(TxError::Credential(
                CredentialRuleError::UnknownSchema(_)
            )))
        ));
        assert!(pool.is_empty());
    }

    #[test]
    fn a_new_transaction_carries_what_it_commits_to() {
        let f = Fixture::new();
        let mut pool = pool();
        // Same hash and signature as the full one, but without its ciphertext: only a
        // stored block may hold a transaction like that.
        let issue = f.chain.issue(0, "med.any", 1, 1);
        let bare = issue.erased();
        assert_eq!(bare.hash(), issue.hash());
        assert_eq!(
            pool.insert(&f.state, &f.ctx(), bare, 0),
            Err(AdmitError::Erased)
        );
        assert!(pool.is_empty());
    }

    #[test]
    fn nonce_order_per_sender() {
        let f = Fixture::new();
        let mut pool = pool();
        // The certifier's schema (nonce 0), then a second schema (nonce 1) that only
        // executes on top of the first: both admitted.
        pool.insert(&f.state, &f.ctx(), f.chain.register_schema(0, "a"), 0)
            .unwrap();
        pool.insert(&f.state, &f.ctx(), f.chain.register_schema(1, "b"), 0)
            .unwrap();
        // A gap is refused, and so is a second transaction with a taken nonce.
        assert_eq!(
            pool.insert(&f.state, &f.ctx(), f.chain.register_schema(3, "d"), 0),
            Err(AdmitError::NonceGap {
                expected: 2,
                got: 3
            })
        );
        assert_eq!(
            pool.insert(&f.state, &f.ctx(), f.chain.register_schema(1, "c"), 0),
            Err(AdmitError::NonceTaken(1))
        );
        assert_eq!(pool.next_nonce(&f.chain.certifier.public_key()), Some(2));
        // Candidates keep nonce order even when another sender arrived in between.
        pool.insert(&f.state, &f.ctx(), f.chain.register_subject(7), 0)
            .unwrap();
        let c = pool.candidates(10);
        let nonces: Vec<(AccountId, u64)> = c.iter().map(|t| (t.tx.sender, t.tx.nonce)).collect();
        assert_eq!(nonces.len(), 3);
        assert_eq!(nonces[0].1, 0);
        assert_eq!(nonces[1].1, 1);
        assert_eq!(nonces[0].0, f.chain.certifier.public_key());
        assert_eq!(pool.candidates(2).len(), 2);
    }

    #[test]
    fn recheck_after_a_block() {
        let mut f = Fixture::new();
        let mut pool = pool();
        let a = f.chain.register_schema(0, "a");
        pool.insert(&f.state, &f.ctx(), a.clone(), 0).unwrap();
        pool.insert(&f.state, &f.ctx(), f.chain.register_subject(1), 0)
            .unwrap();
        let included = f.commit(&pool);
        assert_eq!(included.len(), 2);
        // Meanwhile the same schema arrived through another route: a second copy with
        // a fresh nonce would now be refused by the new state.
        let ctx = f.ctx();
        let report = pool.recheck(&f.state, &ctx, &included, 1_000);
        assert_eq!(report.included, 2);
        assert!(pool.is_empty());
        assert_eq!(pool.bytes(), 0);
        // A replay of an included transaction is refused on entry.
        assert!(matches!(
            pool.insert(&f.state, &ctx, a, 1_000),
            Err(AdmitError::Rejected(TxError::NonceReplayed { .. }))
        ));
    }

    #[test]
    fn recheck_drops_what_the_new_state_refuses() {
        let mut f = Fixture::new();
        let mut pool = pool();
        // Two schema registrations with the same id from the certifier: nonce 0 and 1.
        // The second is refused on entry already (it executes on top of the first).
        pool.insert(&f.state, &f.ctx(), f.chain.register_schema(0, "a"), 0)
            .unwrap();
        assert!(pool
            .insert(&f.state, &f.ctx(), f.chain.register_schema(1, "a"), 0)
            .is_err());
        // A block made elsewhere registers schema "b" with the certifier's nonce 0:
        // the pending nonce-0 transaction is now a replay, and goes.
        let mut other = Mempool::new(MempoolConfig::default());
        other
            .insert(&f.state, &f.ctx(), f.chain.register_schema(0, "b"), 0)
            .unwrap();
        let included = f.commit(&other);
        let report = pool.recheck(&f.state, &f.ctx(), &included, 0);
        assert_eq!(report.included, 0);
        assert_eq!(report.dropped.len(), 1);
        assert!(
            report.dropped[0].1.contains("nonce"),
            "{:?}",
            report.dropped
        );
        assert!(pool.is_empty());
    }

    /// A block costs at most the re-check window's executions, however long the
    /// backlog: what lies beyond is re-checked once it comes within reach.
    #[test]
    fn recheck_executes_only_the_window() {
        let mut f = Fixture::new();
        let mut pool = Mempool::new(MempoolConfig {
            recheck_window: 1,
            ..MempoolConfig::default()
        });
        let subject = f.chain.register_subject(5);
        pool.insert(&f.state, &f.ctx(), subject.clone(), 0).unwrap();
        pool.insert(&f.state, &f.ctx(), f.chain.register_schema(0, "a"), 0)
            .unwrap();
        // Proposal order among senders is arrival order: the subject's comes first.
        assert_eq!(pool.candidates(1)[0].hash(), subject.hash());
        // Elsewhere, the certifier's nonce 0 goes to schema "b": its pending nonce-0
        // transaction is now a replay.
        let mut other = Mempool::new(MempoolConfig::default());
        other
            .insert(&f.state, &f.ctx(), f.chain.register_schema(0, "b"), 0)
            .unwrap();
        let included = f.commit(&other);
        let report = pool.recheck(&f.state, &f.ctx(), &included, 0);
        // Only the subject's registration was within reach: the replay stays for now.
        assert!(report.dropped.is_empty());
        assert_eq!(pool.len(), 2);
        let included = f.commit(&pool);
        assert_eq!(
            included,
            vec![subject.hash()],
            "the builder leaves the replay out"
        );
        let report = pool.recheck(&f.state, &f.ctx(), &included, 0);
        assert_eq!(report.dropped.len(), 1, "now within reach, it goes");
        assert!(pool.is_empty());
    }

    /// After a key rotation, pending transactions signed with the old key go at once
    /// (they used to stay until their time to live, holding the owner's nonces).
    #[test]
    fn a_rotated_key_voids_pending_transactions_signed_with_the_old_one() {
        let mut f = Fixture::new();
        let (subject, _) = f.chain.subject(0);
        let mut other = pool();
        other
            .insert(&f.state, &f.ctx(), f.chain.register_subject(0), 0)
            .unwrap();
        f.commit(&other);
        let new_key = mpms_crypto::SigningKey::from_seed(&[42; 32]);
        let rotate = f.chain.tx(
            &subject,
            1,
            mpms_ledger::Payload::RotateKeys {
                signing_key: Some(new_key.public_key()),
                encryption_key: None,
            },
        );
        let later = f.chain.tx(
            &subject,
            2,
            mpms_ledger::Payload::RotateKeys {
                signing_key: None,
                encryption_key: Some(mpms_crypto::DecryptionKey::derive(b"new").encryption_key()),
            },
        );
        let mut pool = pool();
        pool.insert(&f.state, &f.ctx(), rotate.clone(), 0).unwrap();
        pool.insert(&f.state, &f.ctx(), later, 0).unwrap();
        let mut other = Mempool::new(MempoolConfig::default());
        other.insert(&f.state, &f.ctx(), rotate, 0).unwrap();
        let included = f.commit(&other);
        let report = pool.recheck(&f.state, &f.ctx(), &included, 0);
        assert_eq!(report.included, 1);
        assert!(
            report
                .dropped
                .iter()
                .any(|(_, why)| why.contains("signing key changed")),
            "{:?}",
            report.dropped
        );
        assert!(pool.is_empty());
    }

    #[test]
    fn expiry() {
        let f = Fixture::new();
        let mut pool = Mempool::new(MempoolConfig {
            ttl_secs: 10,
            ..MempoolConfig::default()
        });
        pool.insert(&f.state, &f.ctx(), f.chain.register_subject(1), 0)
            .unwrap();
        pool.insert(&f.state, &f.ctx(), f.chain.register_subject(2), 5_000)
            .unwrap();
        let report = pool.recheck(&f.state, &f.ctx(), &[], 12_000);
        assert_eq!(report.expired, 1);
        assert_eq!(pool.len(), 1);
    }

    #[test]
    fn byte_limit() {
        let f = Fixture::new();
        let one = codec::encode(&f.chain.register_subject(1)).len();
        let mut pool = Mempool::new(MempoolConfig {
            max_bytes: 2 * one + one / 2,
            ..MempoolConfig::default()
        });
        pool.insert(&f.state, &f.ctx(), f.chain.register_subject(1), 0)
            .unwrap();
        pool.insert(&f.state, &f.ctx(), f.chain.register_subject(2), 0)
            .unwrap();
        assert_eq!(
            pool.insert(&f.state, &f.ctx(), f.chain.register_subject(3), 0),
            Err(AdmitError::Full)
        );
        assert_eq!(pool.bytes(), 2 * one);
    }

    #[test]
    fn limits_and_eviction() {
        let f = Fixture::new();
        let mut pool = Mempool::new(MempoolConfig {
            max_transactions: 3,
            max_per_sender: 2,
            ..MempoolConfig::default()
        });
        let cert = &f.chain.certifier;
        pool.insert(&f.state, &f.ctx(), f.chain.register_schema(0, "a"), 0)
            .unwrap();
        pool.insert(&f.state, &f.ctx(), f.chain.register_schema(1, "b"), 0)
            .unwrap();
        assert_eq!(
            pool.insert(&f.state, &f.ctx(), f.chain.register_schema(2, "c"), 0),
            Err(AdmitError::SenderFull(2))
        );
        pool.insert(&f.state, &f.ctx(), f.chain.register_subject(1), 0)
            .unwrap();
        // Full. A new sender (0 pending) displaces the certifier's last transaction
        // (2 pending > 0 + 1).
        pool.insert(&f.state, &f.ctx(), f.chain.register_subject(2), 0)
            .unwrap();
        assert_eq!(pool.len(), 3);
        assert_eq!(pool.next_nonce(&cert.public_key()), Some(1));
        // Now every queue has one: the next newcomer is refused.
        assert_eq!(
            pool.insert(&f.state, &f.ctx(), f.chain.register_subject(3), 0),
            Err(AdmitError::Full)
        );
        // Bytes limit: config check refuses silly values.
        assert!(MempoolConfig {
            max_bytes: 10,
            ..MempoolConfig::default()
        }
        .check()
        .is_err());
    }

    /// Reads of committed state, counted.
    struct Counting<'a> {
        inner: &'a MemState,
        reads: std::sync::atomic::AtomicUsize,
    }

    impl Counting<'_> {
        fn reads(&self) -> usize {
            self.reads.load(std::sync::atomic::Ordering::Relaxed)
        }
    }

    impl State for Counting<'_> {
        fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, mpms_ledger::StateError> {
            self.reads
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            self.inner.get(key)
        }

        fn tree_get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, mpms_ledger::StateError> {
            self.inner.tree_get(key)
        }

        fn tree_range(
            &self,
            from: &[u8],
            until: &[u8],
            limit: usize,
        ) -> Result<Vec<TreeEntry>, mpms_ledger::StateError> {
            self.inner.tree_range(from, until, limit)
        }

        fn tree_last(
            &self,
            from: &[u8],
            until: &[u8],
        ) -> Result<Option<TreeEntry>, mpms_ledger::StateError> {
            self.inner.tree_last(from, until)
        }
    }

    /// A sender's 100th pending transaction costs what its 2nd did: the earlier ones
    /// are not executed again (every insertion used to execute the whole queue, so a
    /// sender's queue cost O(n^2) to build).
    #[test]
    fn admission_does_not_execute_the_senders_queue_again() {
        let f = Fixture::new();
        let mut pool = Mempool::new(MempoolConfig {
            max_per_sender: 200,
            ..MempoolConfig::default()
        });
        let state = Counting {
            inner: &f.state,
            reads: std::sync::atomic::AtomicUsize::new(0),
        };
        let mut costs = Vec::new();
        for nonce in 0..100u64 {
            let before = state.reads();
            pool.insert(
                &state,
                &f.ctx(),
                f.chain.register_schema(nonce, &format!("s{nonce}")),
                0,
            )
            .unwrap();
            costs.push(state.reads() - before);
        }
        assert!(
            costs[99] <= costs[1] + 2,
            "reads per insertion grew with the queue: {:?}",
            &costs[..]
        );
    }

    /// When full, queues tend to equal shares: a long queue gives way to newcomers
    /// down to theirs, and no newcomer takes another's place once all are equal.
    #[test]
    fn eviction_evens_out_the_queues() {
        let f = Fixture::new();
        let mut pool = Mempool::new(MempoolConfig {
            max_transactions: 6,
            max_per_sender: 6,
            ..MempoolConfig::default()
        });
        for nonce in 0..6u64 {
            pool.insert(
                &f.state,
                &f.ctx(),
                f.chain.register_schema(nonce, &format!("s{nonce}")),
                0,
            )
            .unwrap();
        }
        // Five newcomers: the long queue shrinks to two, then to one.
        for i in 1..=5u64 {
            pool.insert(&f.state, &f.ctx(), f.chain.register_subject(i), 0)
                .unwrap();
        }
        assert_eq!(pool.len(), 6);
        assert_eq!(pool.next_nonce(&f.chain.certifier.public_key()), Some(1));
        // All equal now: the next newcomer waits.
        assert_eq!(
            pool.insert(&f.state, &f.ctx(), f.chain.register_subject(6), 0),
            Err(AdmitError::Full)
        );
        // The evicted sender's next transaction is judged on what is left pending.
        pool.insert(&f.state, &f.ctx(), f.chain.register_schema(1, "s1"), 0)
            .unwrap_err();
        let candidates = pool.candidates(10);
        assert_eq!(candidates.len(), 6);
    }
}
