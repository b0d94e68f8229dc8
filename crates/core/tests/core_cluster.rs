//! Four node cores wired by an in-memory bus with virtual time: the glue between
//! consensus, execution, store and mempool decides blocks, includes submitted
//! transactions, survives a silent validator, stalls (safely) without a quorum, and
//! catches up a node that was away.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::BTreeMap;
use std::sync::Arc;

use mpms_consensus::{ConsensusMessage, FinalizedBlock};
use mpms_core::{Action, CoreConfig, NodeCore, ValidatorKeys};
use mpms_ledger::testkit::TestChain;
use mpms_ledger::State;
use mpms_store::{commit_genesis, MemStore, Store};

const START_MS: u64 = mpms_ledger::testkit::GENESIS_TIME_MS + 1_000;

enum Event {
    Timer(usize, mpms_consensus::Timeout),
    Wake(usize),
    Tick,
}

/// How a copy of a proposed block is altered on its way.
type Alteration = fn(&mut mpms_ledger::Block);

/// The runtime's tick period.
const TICK_MS: u64 = 500;

struct Cluster {
    chain: TestChain,
    cores: Vec<NodeCore>,
    stores: Vec<Arc<MemStore>>,
    up: Vec<bool>,
    now_ms: u64,
    timeline: BTreeMap<(u64, u64), Event>,
    seq: u64,
    /// Messages in flight: (to, message).
    inbox: Vec<(usize, Message)>,
    /// A node that receives every proposal altered (what a Byzantine proposer or
    /// forwarder could send it), and how: the block's hash stays the header's.
    altered_for: Option<(usize, Alteration)>,
    /// Whole blocks served to nodes that fetched them.
    fetched: usize,
}

#[derive(Clone)]
enum Message {
    Consensus(ConsensusMessage),
    Tx(mpms_ledger::SignedTransaction),
    Finalized(FinalizedBlock),
    Fetched(mpms_ledger::Block),
}

impl Cluster {
    fn new(seed: u64) -> Cluster {
        let mut chain = TestChain::new(4, seed);
        // Consensus timing is the chain's: every core reads it from the genesis.
        chain.genesis.params.consensus.heartbeat_ms = 500;
        let genesis = chain.genesis.build().unwrap();
        let mut cores = Vec::new();
        let mut stores = Vec::new();
        for i in 0..4 {
            let store = Arc::new(MemStore::new());
            commit_genesis(store.as_ref(), &genesis).unwrap();
            let keys = ValidatorKeys {
                operator: chain.operators[i].clone(),
                consensus: chain.consensus[i].clone(),
            };
            let config = CoreConfig::default();
            cores.push(NodeCore::new(store.clone(), Some(keys), config).unwrap());
            stores.push(store);
        }
        let mut cluster = Cluster {
            chain,
            cores,
            stores,
            up: vec![true; 4],
            now_ms: START_MS,
            timeline: BTreeMap::new(),
            seq: 0,
            inbox: Vec::new(),
            altered_for: None,
            fetched: 0,
        };
        for i in 0..4 {
            let actions = cluster.cores[i].start(START_MS);
            cluster.handle(i, actions);
        }
        cluster.at(START_MS + TICK_MS, Event::Tick);
        cluster
    }

    fn at(&mut self, when_ms: u64, event: Event) {
        self.seq += 1;
        self.timeline.insert((when_ms, self.seq), event);
    }

    fn handle(&mut self, from: usize, actions: Vec<Action>) {
        for action in actions {
            let broadcast = |c: &mut Cluster, m: Message| {
                for to in 0..4 {
                    if to != from {
                        let m = match (&m, c.altered_for) {
                            (
                                Message::Consensus(ConsensusMessage::Proposal {
                                    proposal,
                                    block,
                                    proof,
                                }),
                                Some((victim, alter)),
                            ) if victim == to => {
                                let mut block = block.clone();
                                alter(&mut block);
                                Message::Consensus(ConsensusMessage::Proposal {
                                    proposal: *proposal,
                                    block,
                                    proof: proof.clone(),
                                })
                            }
                            _ => m.clone(),
                        };
                        c.inbox.push((to, m));
                    }
                }
            };
            match action {
                Action::Consensus(m) => broadcast(self, Message::Consensus(m)),
                Action::Transaction(tx) => broadcast(self, Message::Tx((*tx).clone())),
                Action::Finalized(f) => broadcast(self, Message::Finalized((*f).clone())),
                Action::Timer(t, after) => {
                    let when = self.now_ms + after.as_millis() as u64;
                    self.at(when, Event::Timer(from, t));
                }
                Action::WakeAt(when) => self.at(when.max(self.now_ms), Event::Wake(from)),
                Action::Committed(_) => {}
                Action::CatchUp => {}
                // Any other node that holds the block whole serves it: one being
                // decided, or one it stored.
                Action::FetchBlock { height, block } => {
                    let whole = (0..4).filter(|i| *i != from && self.up[*i]).find_map(|i| {
                        self.cores[i].proposed_blocks().get(&block).or_else(|| {
                            let stored = self.stores[i].block(height).ok()??;
                            (stored.hash() == block && stored.first_erased().is_none())
                                .then(|| Arc::new(stored))
                        })
                    });
                    if let Some(whole) = whole {
                        self.fetched += 1;
                        self.inbox.push((from, Message::Fetched((*whole).clone())));
                    }
                }
            }
        }
    }

    fn deliver(&mut self) {
        while !self.inbox.is_empty() {
            let batch = std::mem::take(&mut self.inbox);
            for (to, message) in batch {
                if !self.up[to] {
                    continue;
                }
                let now = self.now_ms;
                let actions = match message {
                    Message::Consensus(m) => self.cores[to].on_consensus(m, now),
                    Message::Tx(tx) => self.cores[to].on_gossip_transaction(tx, now),
                    Message::Finalized(f) => self.cores[to].on_finalized(f, now),
                    Message::Fetched(b) => self.cores[to].on_fetched_block(b, now),
                };
                self.handle(to, actions);
            }
        }
    }

    /// Runs virtual time forward by `ms`.
    fn run_for(&mut self, ms: u64) {
        let end = self.now_ms + ms;
        loop {
            self.deliver();
            let Some((&(when, seq), _)) = self.timeline.iter().next() else {
                break;
            };
            if when > end {
                break;
            }
            let event = self.timeline.remove(&(when, seq)).unwrap();
            self.now_ms = self.now_ms.max(when);
            let now = self.now_ms;
            let (i, actions) = match event {
                Event::Timer(i, t) if self.up[i] => (i, self.cores[i].on_timeout(t, now)),
                Event::Wake(i) if self.up[i] => (i, self.cores[i].on_wake(now)),
                Event::Tick => {
                    for i in 0..4 {
                        if self.up[i] {
                            let actions = self.cores[i].on_tick(now);
                            self.handle(i, actions);
                        }
                    }
                    self.at(now + TICK_MS, Event::Tick);
                    continue;
                }
                _ => continue,
            };
            self.handle(i, actions);
        }
        self.now_ms = end;
    }

    /// Restarts node `i` from its store (a new process on the same data).
    fn restart(&mut self, i: usize) {
        let keys = ValidatorKeys {
            operator: self.chain.operators[i].clone(),
            consensus: self.chain.consensus[i].clone(),
        };
        let config = CoreConfig::default();
        self.cores[i] = NodeCore::new(self.stores[i].clone(), Some(keys), config).unwrap();
        self.up[i] = true;
        let now = self.now_ms;
        let actions = self.cores[i].start(now);
        self.handle(i, actions);
    }

    fn height(&self, i: usize) -> u64 {
        self.cores[i].last_header().height
    }

    fn submit(&mut self, i: usize, tx: mpms_ledger::SignedTransaction) {
        let now = self.now_ms;
        let (_, actions) = self.cores[i].submit(tx, now).unwrap();
        self.handle(i, actions);
    }
}

#[test]
fn four_validators_decide_and_include_transactions() {
    let mut c = Cluster::new(1);
    c.run_for(3_000);
    assert!(c.height(0) >= 2, "empty blocks at the heartbeat");
    let before = c.height(0);
    c.submit(1, c.chain.register_subject(1));
    c.submit(2, c.chain.register_schema(0, "anatomy"));
    c.run_for(2_000);
    for i in 0..4 {
        assert!(c.height(i) > before);
        assert!(c.cores[i].mempool().is_empty(), "node {i} mempool");
    }
    // Every node holds identical blocks.
    let h = (0..4).map(|i| c.height(i)).min().unwrap();
    for height in 1..=h {
        let b0 = c.stores[0].block(height).unwrap().unwrap();
        for i in 1..4 {
            assert_eq!(c.stores[i].block(height).unwrap().unwrap(), b0);
        }
    }
    let tx = c.chain.register_subject(1).hash();
    assert!(c.stores[3].tx_location(&tx).unwrap().is_some());
}

#[test]
fn refuses_a_bad_transaction_with_the_reason() {
    let mut c = Cluster::new(2);
    let now = c.now_ms;
    let err = c.cores[0]
        .submit(c.chain.issue(0, "unknown-schema", 1, 1), now)
        .unwrap_err();
    assert!(err.to_string().contains("unknown-schema"), "{err}");
    assert!(c.cores[0].mempool().is_empty());
}

#[test]
fn one_silent_validator_does_not_stop_finality_two_do() {
    let mut c = Cluster::new(3);
    c.up[3] = false;
    c.run_for(5_000);
    let h = c.height(0);
    assert!(h >= 2, "three of four finalize: {h}");
    c.up[2] = false;
    c.run_for(1_000);
    let stalled = c.height(0);
    c.run_for(10_000);
    assert_eq!(c.height(0), stalled, "two of four must not finalize");
    assert_eq!(c.height(1), stalled);
    // Node 2 restarts on its data: the others re-send what it missed, finality
    // resumes.
    c.restart(2);
    c.run_for(20_000);
    let rounds: Vec<_> = (0..4).map(|i| c.cores[i].round_state()).collect();
    assert!(
        c.height(0) > stalled,
        "finality resumes with three: stalled at {stalled}, {rounds:?}"
    );
}

#[test]
fn a_node_that_was_away_catches_up_from_a_peer() {
    let mut c = Cluster::new(4);
    c.up[3] = false;
    c.run_for(5_000);
    let h = c.height(0);
    assert!(h >= 3);
    assert_eq!(c.height(3), 0);
    // Node 3 returns and syncs every block from node 0's store, each checked.
    c.up[3] = true;
    let source = c.stores[0].clone();
    let finalized = |height: u64| FinalizedBlock {
        block: source.block(height).unwrap().unwrap(),
        certificate: source.certificate(height).unwrap().unwrap(),
    };
    for height in 1..=source.last_height().unwrap().unwrap() {
        c.cores[3].commit_finalized(finalized(height)).unwrap();
    }
    // A corrupted block is refused.
    let mut bad = finalized(1);
    bad.block.header.time_ms += 1;
    assert!(c.cores[3].commit_finalized(bad).is_err());
    let now = c.now_ms;
    let actions = c.cores[3].resume(now);
    c.handle(3, actions);
    c.run_for(5_000);
    assert!(c.height(3) > h);
    let last = c.height(3).min(c.height(0));
    assert_eq!(
        c.stores[3].block(last).unwrap(),
        c.stores[0].block(last).unwrap()
    );
}

#[test]
fn a_rotated_consensus_key_takes_over() {
    use mpms_ledger::transaction::GovernanceAction;
    use mpms_ledger::Payload;
    let mut c = Cluster::new(5);
    let new_key = c.chain.rotated_consensus_key(3);
    c.cores[3].add_spare_keys(vec![new_key.clone()]);
    c.run_for(1_000);
    let operator = |c: &Cluster, i: usize| c.chain.operators[i].clone();
    let op0 = operator(&c, 0);
    c.submit(
        0,
        c.chain.tx(
            &op0,
            0,
            Payload::Propose {
                action: GovernanceAction::RotateAuthorityKey {
                    operator: c.chain.operators[3].public_key(),
                    consensus_key: new_key.public_key(),
                },
            },
        ),
    );
    c.run_for(2_000);
    let next: u64 = c.stores[0]
        .get(&mpms_ledger::records::keys::next_proposal())
        .unwrap()
        .map(|b| mpms_ledger::codec::decode(&b).unwrap())
        .unwrap();
    for voter in [1, 2] {
        let op = operator(&c, voter);
        c.submit(
            voter,
            c.chain.tx(
                &op,
                0,
                Payload::Vote {
                    proposal: next - 1,
                    approve: true,
                },
            ),
        );
    }
    c.run_for(3_000);
    let meta = mpms_ledger::execute::read_meta(c.stores[0].as_ref()).unwrap();
    let member = meta
        .authority_set
        .get(&c.chain.operators[3].public_key())
        .unwrap();
    assert_eq!(member.consensus_key, new_key.public_key(), "rotated");
    // Finality goes on, and certificates after the rotation carry node 3's
    // signature, which verifies only under its new key.
    let rotated_at = c.height(0);
    c.run_for(10_000);
    let end = c.height(0);
    assert!(end > rotated_at + 3);
    let signed = (rotated_at + 1..=end).any(|h| {
        c.stores[3].certificate(h).unwrap().is_some_and(|cert| {
            cert.signatures
                .iter()
                .any(|s| s.validator == c.chain.operators[3].public_key())
        })
    });
    assert!(signed, "node 3 signs with its new key");
}

/// Authority 0 proposes `action` (with `nonce`), authorities 1 and 2 approve it (each
/// with `nonce`): more than 2/3 of four.
fn pass(c: &mut Cluster, action: mpms_ledger::transaction::GovernanceAction, nonce: u64) {
    use mpms_ledger::Payload;
    let op0 = c.chain.operators[0].clone();
    c.submit(0, c.chain.tx(&op0, nonce, Payload::Propose { action }));
    c.run_for(2_000);
    let next: u64 = c.stores[0]
        .get(&mpms_ledger::records::keys::next_proposal())
        .unwrap()
        .map(|b| mpms_ledger::codec::decode(&b).unwrap())
        .unwrap();
    for voter in [1, 2] {
        let op = c.chain.operators[voter].clone();
        let vote = c.chain.tx(
            &op,
            nonce,
            Payload::Vote {
                proposal: next - 1,
                approve: true,
            },
        );
        c.submit(voter, vote);
    }
    c.run_for(3_000);
}

/// Consensus timing is a chain parameter: a governance vote changes the heartbeat
/// of every validator at once, from the next height. (Each node's file used to set
/// its own, and a validator waiting longer than the others missed every turn.)
#[test]
fn consensus_timing_follows_governance() {
    use mpms_ledger::params::ParameterChange;
    use mpms_ledger::transaction::GovernanceAction;
    let mut c = Cluster::new(8);
    c.run_for(2_000);
    for core in &c.cores {
        assert_eq!(core.timing().heartbeat_ms, 500);
    }
    // Idle, an empty block comes about every heartbeat.
    let before = c.height(0);
    c.run_for(10_000);
    let slow = c.height(0) - before;
    pass(
        &mut c,
        GovernanceAction::SetParameter(ParameterChange::HeartbeatMs(250)),
        0,
    );
    for (i, core) in c.cores.iter().enumerate() {
        assert_eq!(core.timing().heartbeat_ms, 250, "core {i}");
    }
    let before = c.height(0);
    c.run_for(10_000);
    let fast = c.height(0) - before;
    assert!(2 * fast > 3 * slow, "{slow} blocks before, {fast} after");
}

/// A validator whose consensus key the chain rotated, but which does not hold the new
/// key (restored from a backup taken before the rotation), says so and signs
/// nothing; the others go on.
#[test]
fn a_validator_missing_the_key_the_chain_names_says_so() {
    use mpms_ledger::transaction::GovernanceAction;
    let mut c = Cluster::new(9);
    c.run_for(1_000);
    let new_key = c.chain.rotated_consensus_key(3);
    assert_eq!(c.cores[3].missing_consensus_key(), None);
    let operator = c.chain.operators[3].public_key();
    pass(
        &mut c,
        GovernanceAction::RotateAuthorityKey {
            operator,
            consensus_key: new_key.public_key(),
        },
        0,
    );
    assert_eq!(
        c.cores[3].missing_consensus_key(),
        Some(new_key.public_key())
    );
    let from = c.height(0);
    c.run_for(10_000);
    let end = c.height(0);
    assert!(end > from + 3, "the other three go on");
    let signed = (from + 2..=end).any(|h| {
        c.stores[0].certificate(h).unwrap().is_some_and(|cert| {
            cert.signatures
                .iter()
                .any(|s| s.validator == c.chain.operators[3].public_key())
        })
    });
    assert!(!signed, "node 3 signs nothing");
}

/// Drops every transaction's ciphertext and sealed keys (committed by digest).
fn strip(block: &mut mpms_ledger::Block) {
    for tx in &mut block.transactions {
        *tx = tx.erased();
    }
}

/// Replaces the body with another one (the header, and so the hash, unchanged).
fn replace_body(block: &mut mpms_ledger::Block) {
    block.transactions.clear();
}

/// A validator that receives every proposal stripped of its transactions' content
/// (which keeps the block's hash and the proposal's signature valid) fetches each
/// block whole from the others and votes on it: it neither stores a block without
/// its content nor judges the block invalid for the height because of the copy it
/// got first. Here its vote is needed: one other validator is silent.
#[test]
fn a_validator_sent_stripped_proposals_fetches_them_whole_and_votes() {
    let mut c = Cluster::new(10);
    c.altered_for = Some((3, strip));
    c.up[2] = false;
    c.submit(0, c.chain.register_schema(0, "course"));
    c.submit(0, c.chain.register_subject(1));
    c.run_for(2_000);
    for serial in 1..=8 {
        c.submit(1, c.chain.issue(serial, "course", 1, serial));
        c.run_for(700);
    }
    c.run_for(3_000);
    let issued = c.chain.issue(8, "course", 1, 8).hash();
    assert!(
        c.stores[3].tx_location(&issued).unwrap().is_some(),
        "the issuances are committed"
    );
    // Some of them in blocks that another node proposed, which node 3 got stripped.
    let op3 = c.chain.operators[3].public_key();
    let stripped_to_3 = (1..=c.height(0))
        .map(|h| c.stores[0].block(h).unwrap().unwrap())
        .filter(|b| {
            b.header.proposer != op3 && b.transactions.iter().any(|t| t.tx.payload.holds_erasable())
        })
        .count();
    assert!(
        stripped_to_3 > 0,
        "no block with content came from another proposer"
    );
    assert!(c.fetched > 0, "node 3 fetched whole blocks");
    for height in 1..=c.height(3) {
        let block = c.stores[3].block(height).unwrap().unwrap();
        assert_eq!(block.first_erased(), None, "block {height} stored whole");
    }
}

/// Two conflicting prevotes by authority `who` at height `height`, round 0.
fn equivocation(c: &Cluster, who: usize, height: u64) -> [ConsensusMessage; 2] {
    use mpms_crypto::Hash;
    use mpms_ledger::{Vote, VoteKind};
    let sign = |block: &[u8]| {
        ConsensusMessage::Vote(
            Vote {
                height,
                round: 0,
                kind: VoteKind::Prevote,
                block: Some(Hash::digest(block)),
                valid_round: None,
            }
            .sign(
                c.chain.chain_id(),
                c.chain.operators[who].public_key(),
                &c.chain.consensus[who],
            ),
        )
    };
    [sign(b"one block"), sign(b"another block")]
}

/// Whether authority `i` is in the authority set node `at` follows.
fn in_set(c: &Cluster, at: usize, i: usize) -> bool {
    mpms_ledger::execute::read_meta(c.stores[at].as_ref())
        .unwrap()
        .authority_set
        .contains(&c.chain.operators[i].public_key())
}

/// Every honest node reports an offence it sees; one report lands and the others are
/// dropped as duplicates. A node whose report was dropped must still report the
/// next offence: its evidence goes with the nonce the chain expects. (The nonce used
/// to be counted ahead of the chain and never given back: after one dropped report a
/// node's every later report was refused.)
#[test]
fn a_node_whose_report_was_dropped_reports_the_next_offence() {
    let mut c = Cluster::new(11);
    c.run_for(1_000);
    // Authority 3 equivocates; nodes 0, 1 and 2 see it and each report it.
    let height = c.height(0) + 1;
    for message in equivocation(&c, 3, height) {
        for to in 0..3 {
            c.inbox.push((to, Message::Consensus(message.clone())));
        }
    }
    c.run_for(3_000);
    assert!(!in_set(&c, 0, 3), "authority 3 is punished");
    // Whose report landed: the others' were dropped.
    let landed: Vec<usize> = (1..=c.height(0))
        .flat_map(|h| c.stores[0].block(h).unwrap().unwrap().transactions)
        .filter(|t| matches!(t.tx.payload, mpms_ledger::Payload::SubmitEvidence(_)))
        .filter_map(|t| (0..3).find(|i| c.chain.operators[*i].public_key() == t.tx.sender))
        .collect();
    assert_eq!(landed.len(), 1, "one report executed: {landed:?}");
    let dropped: Vec<usize> = (0..3).filter(|i| !landed.contains(i)).collect();
    for i in 0..3 {
        assert_eq!(
            c.cores[i].pending_evidence(),
            0,
            "node {i} has nothing pending"
        );
    }
    // Authority 2 equivocates next; only the nodes whose first report was dropped
    // see it.
    let height = c.height(0) + 1;
    for message in equivocation(&c, 2, height) {
        for &to in &dropped {
            c.inbox.push((to, Message::Consensus(message.clone())));
        }
    }
    c.run_for(3_000);
    assert!(!in_set(&c, 0, 2), "authority 2 is punished too");
}

/// A node catching up from a peer that withholds content (it serves blocks without
/// their transactions' ciphertext and sealed keys, which verify by digest like an
/// erased copy) stores them so, marked incomplete; once near the tip, it fetches
/// each again from its peers and keeps it whole, except for the content the chain
/// erased since. (It used to keep, and serve, such blocks for good, and clients saw
/// "erased" for entries the chain never erased.)
#[test]
fn blocks_caught_up_without_their_content_are_repaired_from_peers() {
    use mpms_ledger::Payload;
    let mut c = Cluster::new(12);
    c.up[3] = false;
    c.submit(0, c.chain.register_schema(0, "course"));
    c.submit(0, c.chain.register_subject(1));
    c.run_for(2_000);
    for serial in 1..=3 {
        c.submit(1, c.chain.issue(serial, "course", 1, serial));
        c.run_for(700);
    }
    // The subject erases the content of its second credential.
    let erased = match &c.chain.issue(2, "course", 1, 2).tx.payload {
        Payload::IssueCredential(issuance) => issuance.claim.id(),
        _ => unreachable!(),
    };
    let (subject, _) = c.chain.subject(1);
    let erase = c
        .chain
        .tx(&subject, 1, Payload::EraseContent { credential: erased });
    c.submit(0, erase);
    c.run_for(2_000);
    // Node 3 catches up from a peer that strips every block it serves.
    let source = c.stores[0].clone();
    let last = source.last_height().unwrap().unwrap();
    for height in 1..=last {
        let mut block = source.block(height).unwrap().unwrap();
        for tx in &mut block.transactions {
            *tx = tx.erased();
        }
        let finalized = FinalizedBlock {
            block,
            certificate: source.certificate(height).unwrap().unwrap(),
        };
        c.cores[3].commit_finalized(finalized).unwrap();
    }
    let marked = c.stores[3].incomplete_blocks(100).unwrap();
    assert!(
        !marked.is_empty(),
        "blocks stored without content are marked"
    );
    assert_eq!(
        c.cores[3].unexplained_incomplete(&marked).len(),
        marked.len() - 1,
        "all but the erased credential's block lack content the chain did not erase"
    );
    c.up[3] = true;
    let now = c.now_ms;
    let actions = c.cores[3].resume(now);
    c.handle(3, actions);
    c.run_for(3_000);
    assert_eq!(
        c.stores[3].incomplete_blocks(100).unwrap(),
        Vec::<u64>::new()
    );
    for height in 1..=last {
        let ours = c.stores[3].block(height).unwrap().unwrap();
        let theirs = c.stores[0].block(height).unwrap().unwrap();
        assert_eq!(ours, theirs, "block {height} as an honest node keeps it");
    }
}

/// A safety store that lost its record (a validator restored from a backup): it knows
/// nothing of what it signed before, until it saves again.
struct Lost(std::sync::Mutex<Option<mpms_consensus::SafetyRecord>>);

impl mpms_core::SafetyStore for Lost {
    fn load(&self) -> Result<mpms_core::SignedBefore, String> {
        Ok(match self.0.lock().unwrap().clone() {
            Some(record) => mpms_core::SignedBefore::Signed(Box::new(record)),
            None => mpms_core::SignedBefore::Unknown,
        })
    }
    fn save(&self, record: &mpms_consensus::SafetyRecord) -> Result<(), String> {
        *self.0.lock().unwrap() = Some(record.clone());
        Ok(())
    }
}

/// A validator that does not know what it signed before it started signs nothing
/// until the chain finalizes a block timed after its start plus twice the clock
/// drift (every height it could have signed at is then decided), and signs again
/// from the next height.
#[test]
fn a_validator_without_its_record_signs_again_after_a_newer_block() {
    let mut c = Cluster::new(13);
    c.run_for(2_000);
    // Node 3 restarts on its data, without its safety record.
    let keys = ValidatorKeys {
        operator: c.chain.operators[3].clone(),
        consensus: c.chain.consensus[3].clone(),
    };
    let lost = Arc::new(Lost(std::sync::Mutex::new(None)));
    c.cores[3] = NodeCore::with_safety_store(
        c.stores[3].clone(),
        lost.clone(),
        Some(keys),
        CoreConfig::default(),
    )
    .unwrap();
    let started = c.now_ms;
    let actions = c.cores[3].start(started);
    c.handle(3, actions);
    let hold = c.cores[3].signing_hold().expect("holding");
    let drift = CoreConfig::default().production.max_clock_drift.as_millis() as u64;
    assert_eq!(hold, started + 2 * drift);
    c.run_for(2 * drift + 5_000);
    assert_eq!(c.cores[3].signing_hold(), None, "the hold ended");
    let op3 = c.chain.operators[3].public_key();
    let signed_by_3 = |h: u64| {
        c.stores[0]
            .certificate(h)
            .unwrap()
            .is_some_and(|cert| cert.signatures.iter().any(|s| s.validator == op3))
    };
    let mut resumed = false;
    for h in 1..=c.height(0) {
        let time = c.stores[0].header(h).unwrap().unwrap().time_ms;
        // Blocks timed before the restart may carry what node 3 signed before it.
        if time > started && time <= hold {
            assert!(
                !signed_by_3(h),
                "node 3 signed block {h} (time {time}) during its hold"
            );
        } else if time > hold && signed_by_3(h) {
            resumed = true;
        }
    }
    assert!(resumed, "node 3 signs again after the hold");
    assert!(
        lost.0.lock().unwrap().is_some(),
        "and records what it signs"
    );
}

/// A validator that receives every proposal with another body (the block's hash is
/// its header's, so the proposer's signature still verifies): that copy is not the
/// block, and the node fetches the real one instead of judging the block invalid for
/// the height. (It used to keep the first copy and refuse the block.)
#[test]
fn a_validator_sent_proposals_with_another_body_fetches_the_real_ones() {
    let mut c = Cluster::new(14);
    c.altered_for = Some((3, replace_body));
    c.up[2] = false;
    c.submit(0, c.chain.register_schema(0, "course"));
    c.submit(0, c.chain.register_subject(1));
    c.run_for(2_000);
    for serial in 1..=8 {
        c.submit(1, c.chain.issue(serial, "course", 1, serial));
        c.run_for(700);
    }
    c.run_for(3_000);
    let issued = c.chain.issue(8, "course", 1, 8).hash();
    assert!(
        c.stores[3].tx_location(&issued).unwrap().is_some(),
        "the issuances are committed with node 3's votes"
    );
    let op3 = c.chain.operators[3].public_key();
    let others = (1..=c.height(0))
        .map(|h| c.stores[0].block(h).unwrap().unwrap())
        .filter(|b| b.header.proposer != op3 && !b.transactions.is_empty())
        .count();
    assert!(
        others > 0,
        "no block with transactions came from another proposer"
    );
    assert!(c.fetched > 0, "node 3 fetched the real blocks");
}

/// A safety store whose record its operator replaced by a position.
struct Stated(u64, u32);

impl mpms_core::SafetyStore for Stated {
    fn load(&self) -> Result<mpms_core::SignedBefore, String> {
        Ok(mpms_core::SignedBefore::AtMost {
            height: self.0,
            round: self.1,
        })
    }
    fn save(&self, _: &mpms_consensus::SafetyRecord) -> Result<(), String> {
        Ok(())
    }
}

/// Two validators of four lost their records (more than the one fault four
/// tolerate: a validator without its record would wait for the chain to move on,
/// which it cannot without them). Their operators state "nothing signed after round
/// 2 of height 1": they sign nothing in rounds 0 to 2 and start height 1 at round 3,
/// where the two others join them (more than a third of the set is there), and the
/// chain goes on.
#[test]
fn validators_resume_signing_after_the_position_their_operators_named() {
    let mut c = Cluster::new(15);
    for i in [2, 3] {
        let keys = ValidatorKeys {
            operator: c.chain.operators[i].clone(),
            consensus: c.chain.consensus[i].clone(),
        };
        c.cores[i] = NodeCore::with_safety_store(
            c.stores[i].clone(),
            Arc::new(Stated(1, 2)),
            Some(keys),
            CoreConfig::default(),
        )
        .unwrap();
        let now = c.now_ms;
        let actions = c.cores[i].start(now);
        c.handle(i, actions);
    }
    c.run_for(60_000);
    let cert = c.stores[0]
        .certificate(1)
        .unwrap()
        .expect("height 1 decided");
    assert!(cert.round > 2, "decided in round {}", cert.round);
    assert!(c.height(0) >= 3, "finality goes on");
}
