//! The engine in a small deterministic network: messages delivered in FIFO order,
//! timers fired in time order when nothing else is pending.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::{BTreeMap, HashSet, VecDeque};

use mpms_consensus::{Effect, Engine, Identity, Input, SafetyRecord, Timeout, Timeouts};
use mpms_crypto::{Hash, SigningKey};
use mpms_ledger::evidence::Evidence;
use mpms_ledger::vote::AuthorityMember;
use mpms_ledger::{AuthoritySet, CommitCertificate, Vote, VoteKind};

const CHAIN: &str = "consensus-test";

fn keys(n: usize) -> Vec<(SigningKey, SigningKey)> {
    (0..n)
        .map(|i| {
            (
                SigningKey::from_seed(&[i as u8 + 1; 32]),
                SigningKey::from_seed(&[i as u8 + 101; 32]),
            )
        })
        .collect()
}

fn set_of(keys: &[(SigningKey, SigningKey)]) -> AuthoritySet {
    AuthoritySet {
        members: keys
            .iter()
            .map(|(op, c)| AuthorityMember {
                operator: op.public_key(),
                consensus_key: c.public_key(),
            })
            .collect(),
    }
}

fn engine(keys: &[(SigningKey, SigningKey)], i: usize, safety: Option<SafetyRecord>) -> Engine {
    let (op, c) = &keys[i];
    Engine::new(
        CHAIN,
        Some(Identity {
            operator: op.public_key(),
            key: c.clone(),
        }),
        Timeouts::default(),
        safety,
    )
}

struct Net {
    keys: Vec<(SigningKey, SigningKey)>,
    set: AuthoritySet,
    engines: Vec<Engine>,
    silent: HashSet<usize>,
    invalid: HashSet<Hash>,
    queue: VecDeque<(usize, Input)>,
    timers: BTreeMap<(u128, u64), (usize, Timeout)>,
    seq: u64,
    now_ms: u128,
    decided: Vec<Vec<(u64, Hash, CommitCertificate)>>,
    disk: Vec<Option<SafetyRecord>>,
    evidence: Vec<Evidence>,
}

impl Net {
    fn new(n: usize) -> Net {
        let keys = keys(n);
        let set = set_of(&keys);
        let engines = (0..n).map(|i| engine(&keys, i, None)).collect();
        Net {
            keys,
            set,
            engines,
            silent: HashSet::new(),
            invalid: HashSet::new(),
            queue: VecDeque::new(),
            timers: BTreeMap::new(),
            seq: 0,
            now_ms: 0,
            decided: vec![Vec::new(); n],
            disk: vec![None; n],
            evidence: Vec::new(),
        }
    }

    fn start(&mut self) {
        for i in 0..self.engines.len() {
            self.queue.push_back((
                i,
                Input::StartHeight {
                    height: 1,
                    authorities: self.set.clone(),
                },
            ));
        }
    }

    fn handle(&mut self, node: usize, effects: Vec<Effect>) {
        let mut persisted = false;
        for effect in effects {
            match effect {
                Effect::PersistSafety(rec) => {
                    self.disk[node] = Some(rec);
                    persisted = true;
                }
                Effect::Broadcast(v) => {
                    assert!(
                        persisted || self.disk[node].as_ref().is_some_and(|r| r.last == v),
                        "broadcast before persist"
                    );
                    let input = |v| {
                        if v == VoteKind::Proposal {
                            Input::Proposal
                        } else {
                            Input::Vote
                        }
                    };
                    for to in 0..self.engines.len() {
                        if to != node {
                            self.queue.push_back((to, input(v.vote.kind)(v)));
                        }
                    }
                }
                Effect::ScheduleTimeout { timeout, after } => {
                    self.seq += 1;
                    self.timers
                        .insert((self.now_ms + after.as_millis(), self.seq), (node, timeout));
                }
                Effect::BuildBlock { height, round } => {
                    let block = Hash::digest_parts(&[
                        &height.to_le_bytes(),
                        &round.to_le_bytes(),
                        &[node as u8],
                    ]);
                    self.queue.push_back((
                        node,
                        Input::BlockBuilt {
                            height,
                            round,
                            block,
                        },
                    ));
                }
                Effect::ValidateBlock { height, block } => {
                    let valid = !self.invalid.contains(&block);
                    self.queue.push_back((
                        node,
                        Input::BlockValidated {
                            height,
                            block,
                            valid,
                        },
                    ));
                }
                Effect::Decide {
                    height,
                    block,
                    certificate,
                    ..
                } => {
                    self.decided[node].push((height, block, certificate));
                    self.queue.push_back((
                        node,
                        Input::StartHeight {
                            height: height + 1,
                            authorities: self.set.clone(),
                        },
                    ));
                }
                Effect::Evidence(e) => self.evidence.push(*e),
            }
        }
    }

    /// Runs until every live node decided `height`, or `max_events` events.
    fn run_until(&mut self, height: u64, max_events: usize) {
        for _ in 0..max_events {
            let live: Vec<usize> = (0..self.engines.len())
                .filter(|i| !self.silent.contains(i))
                .collect();
            if live
                .iter()
                .all(|i| self.decided[*i].iter().any(|(h, ..)| *h >= height))
            {
                return;
            }
            let (node, input) = match self.queue.pop_front() {
                Some(x) => x,
                None => {
                    let Some((&(at, seq), _)) = self.timers.iter().next() else {
                        panic!("stuck: no events")
                    };
                    let (node, t) = self.timers.remove(&(at, seq)).unwrap();
                    self.now_ms = at;
                    (node, Input::TimeoutFired(t))
                }
            };
            if self.silent.contains(&node) {
                continue;
            }
            let fx = self.engines[node].step(input);
            self.handle(node, fx);
        }
        panic!("height {height} not reached");
    }

    fn assert_agreement(&self) {
        let mut by_height: BTreeMap<u64, Hash> = BTreeMap::new();
        for decided in &self.decided {
            for (h, b, cert) in decided {
                assert_eq!(
                    *by_height.entry(*h).or_insert(*b),
                    *b,
                    "two blocks decided at height {h}"
                );
                cert.verify_for(CHAIN, &self.set, *h, b)
                    .expect("certificate verifies");
            }
        }
    }
}

#[test]
fn four_honest_nodes_decide_the_same_blocks() {
    let mut net = Net::new(4);
    net.start();
    net.run_until(10, 100_000);
    net.assert_agreement();
    // Proposers rotate: blocks of different heights come from different proposers.
    let b1 = net.decided[0][0].1;
    let b2 = net.decided[0][1].1;
    assert_ne!(b1, b2);
    assert!(
        net.decided[0].iter().all(|(_, _, c)| c.round == 0),
        "no round changes without faults"
    );
}

#[test]
fn one_silent_authority_of_four_does_not_stop_finality() {
    let mut net = Net::new(4);
    net.silent.insert(2);
    net.start();
    net.run_until(8, 200_000);
    net.assert_agreement();
    // The silent node's turns as proposer cost a round.
    assert!(net.decided[0].iter().any(|(_, _, c)| c.round > 0));
}

#[test]
fn two_silent_of_four_stop_finality() {
    let mut net = Net::new(4);
    net.silent.insert(1);
    net.silent.insert(2);
    net.start();
    for _ in 0..20_000 {
        if net.queue.is_empty() && net.timers.is_empty() {
            break;
        }
        let (node, input) = match net.queue.pop_front() {
            Some(x) => x,
            None => {
                let (&(at, seq), _) = net.timers.iter().next().unwrap();
                let (node, t) = net.timers.remove(&(at, seq)).unwrap();
                net.now_ms = at;
                (node, Input::TimeoutFired(t))
            }
        };
        if !net.silent.contains(&node) {
            let fx = net.engines[node].step(input);
            net.handle(node, fx);
        }
    }
    assert!(
        net.decided.iter().all(Vec::is_empty),
        "decided without a quorum"
    );
}

#[test]
fn invalid_block_is_never_decided() {
    let mut net = Net::new(4);
    // Height 1 round 0's proposer builds this block; everyone else finds it invalid.
    let proposer = net.set.proposer(1, 0).unwrap().operator;
    let p = net
        .keys
        .iter()
        .position(|(op, _)| op.public_key() == proposer)
        .unwrap();
    let bad = Hash::digest_parts(&[&1u64.to_le_bytes(), &0u32.to_le_bytes(), &[p as u8]]);
    net.invalid.insert(bad);
    net.start();
    net.run_until(2, 200_000);
    net.assert_agreement();
    assert!(net.decided.iter().flatten().all(|(_, b, _)| *b != bad));
}

#[test]
fn restarted_validator_never_signs_a_conflicting_vote() {
    let keys = keys(4);
    let set = set_of(&keys);
    let proposer = set.proposer(1, 0).unwrap().operator;
    let p = keys
        .iter()
        .position(|(op, _)| op.public_key() == proposer)
        .unwrap();
    let me = (p + 1) % 4;
    let proposal = |block: Hash| {
        Vote {
            height: 1,
            round: 0,
            kind: VoteKind::Proposal,
            block: Some(block),
            valid_round: None,
        }
        .sign(CHAIN, keys[p].0.public_key(), &keys[p].1)
    };
    let x = Hash::digest(b"block x");
    let y = Hash::digest(b"block y");
    // Before the crash: prevote for X.
    let mut a = engine(&keys, me, None);
    a.step(Input::StartHeight {
        height: 1,
        authorities: set.clone(),
    });
    a.step(Input::Proposal(proposal(x)));
    let fx = a.step(Input::BlockValidated {
        height: 1,
        block: x,
        valid: true,
    });
    let record = fx
        .iter()
        .find_map(|e| match e {
            Effect::PersistSafety(r) => Some(r.clone()),
            _ => None,
        })
        .expect("prevote recorded");
    assert_eq!(record.last.vote.block, Some(x));
    // After the restart, with the record, an equivocating proposer shows block Y for
    // the same round. The validator must not prevote for Y.
    let stored = record.to_bytes();
    let mut b = engine(&keys, me, Some(SafetyRecord::from_bytes(&stored).unwrap()));
    let mut fx = b.step(Input::StartHeight {
        height: 1,
        authorities: set.clone(),
    });
    fx.extend(b.step(Input::Proposal(proposal(y))));
    fx.extend(b.step(Input::BlockValidated {
        height: 1,
        block: y,
        valid: true,
    }));
    fx.extend(b.step(Input::TimeoutFired(Timeout {
        height: 1,
        round: 0,
        step: mpms_consensus::Step::Propose,
    })));
    for e in &fx {
        if let Effect::Broadcast(v) = e {
            assert!(
                !(v.vote.kind == VoteKind::Prevote && v.vote.round == 0 && v.vote.block != Some(x)),
                "signed a conflicting prevote: {v:?}"
            );
        }
    }
    // Without the record, the same inputs would have produced a prevote for Y.
    let mut c = engine(&keys, me, None);
    c.step(Input::StartHeight {
        height: 1,
        authorities: set,
    });
    c.step(Input::Proposal(proposal(y)));
    let fx = c.step(Input::BlockValidated {
        height: 1,
        block: y,
        valid: true,
    });
    assert!(fx.iter().any(|e| matches!(e, Effect::Broadcast(v) if v.vote.block == Some(y) && v.vote.kind == VoteKind::Prevote)));
}

#[test]
fn equivocation_is_detected() {
    let keys = keys(4);
    let set = set_of(&keys);
    let mut a = engine(&keys, 0, None);
    a.step(Input::StartHeight {
        height: 1,
        authorities: set,
    });
    let vote = |b: &[u8]| {
        Vote {
            height: 1,
            round: 0,
            kind: VoteKind::Prevote,
            block: Some(Hash::digest(b)),
            valid_round: None,
        }
        .sign(CHAIN, keys[3].0.public_key(), &keys[3].1)
    };
    assert!(a
        .step(Input::Vote(vote(b"a")))
        .iter()
        .all(|e| !matches!(e, Effect::Evidence(_))));
    let fx = a.step(Input::Vote(vote(b"b")));
    assert!(fx.iter().any(
        |e| matches!(e, Effect::Evidence(ev) if matches!(**ev, Evidence::Equivocation { .. }))
    ));
    // Reported once.
    assert!(a
        .step(Input::Vote(vote(b"c")))
        .iter()
        .all(|e| !matches!(e, Effect::Evidence(_))));
}

/// A prevote for nil at (1, 0) from `member`, signed with `key`.
fn nil_prevote(member: &SigningKey, key: &SigningKey, chain: &str) -> mpms_ledger::SignedVote {
    Vote {
        height: 1,
        round: 0,
        kind: VoteKind::Prevote,
        block: None,
        valid_round: None,
    }
    .sign(chain, member.public_key(), key)
}

fn precommits_nil(fx: &[Effect]) -> bool {
    fx.iter().any(|e| {
        matches!(e, Effect::Broadcast(v) if v.vote.kind == VoteKind::Precommit && v.vote.block.is_none())
    })
}

/// Engine 0 of four, at height 1, having prevoted nil: two more nil prevotes make a
/// quorum and it precommits nil. Forged ones must not.
fn prevoted_nil(keys: &[(SigningKey, SigningKey)]) -> Engine {
    let mut a = engine(keys, 0, None);
    a.step(Input::StartHeight {
        height: 1,
        authorities: set_of(keys),
    });
    let fx = a.step(Input::TimeoutFired(Timeout {
        height: 1,
        round: 0,
        step: mpms_consensus::Step::Propose,
    }));
    assert!(fx
        .iter()
        .any(|e| matches!(e, Effect::Broadcast(v) if v.vote.kind == VoteKind::Prevote)));
    a
}

#[test]
fn forged_and_foreign_votes_are_ignored() {
    let keys = keys(4);
    let outsider = SigningKey::from_seed(&[77; 32]);

    // Control: genuine nil prevotes from two members complete the quorum.
    let mut a = prevoted_nil(&keys);
    let mut fx = Vec::new();
    for (member, key) in &keys[1..3] {
        fx.extend(a.step(Input::Vote(nil_prevote(member, key, CHAIN))));
    }
    assert!(precommits_nil(&fx), "genuine votes make a quorum");

    // Claiming to be members but signed by an outsider: no quorum.
    let mut a = prevoted_nil(&keys);
    let mut fx = Vec::new();
    for (member, _) in &keys[1..4] {
        fx.extend(a.step(Input::Vote(nil_prevote(member, &outsider, CHAIN))));
    }
    assert!(!precommits_nil(&fx), "forged signatures counted");

    // Signed by the members' own keys, but for another chain: no quorum.
    for (member, key) in &keys[1..4] {
        fx.extend(a.step(Input::Vote(nil_prevote(member, key, "another-chain"))));
    }
    assert!(!precommits_nil(&fx), "another chain's votes counted");

    // Signed by the members' operator keys instead of their consensus keys.
    for (member, _) in &keys[1..4] {
        fx.extend(a.step(Input::Vote(nil_prevote(member, member, CHAIN))));
    }
    assert!(!precommits_nil(&fx), "votes under the wrong key counted");

    // Outsiders voting as themselves: not members.
    for seed in 80..83u8 {
        let stranger = SigningKey::from_seed(&[seed; 32]);
        fx.extend(a.step(Input::Vote(nil_prevote(&stranger, &stranger, CHAIN))));
    }
    assert!(!precommits_nil(&fx), "non-members' votes counted");
    assert_eq!(a.current_step(), mpms_consensus::Step::Prevote);
}

#[test]
fn a_byzantine_member_cannot_grow_the_engine() {
    let keys = keys(4);
    let mut a = engine(&keys, 0, None);
    a.step(Input::StartHeight {
        height: 1,
        authorities: set_of(&keys),
    });
    let (member, key) = &keys[3];
    let mut own = Vec::new();
    let sign = |height: u64, round: u32, kind: VoteKind, tag: u64| {
        Vote {
            height,
            round,
            kind,
            block: Some(Hash::digest(&tag.to_le_bytes())),
            valid_round: None,
        }
        .sign(CHAIN, member.public_key(), key)
    };
    // Votes for hundreds of rounds up to the last one, several blocks each, proposals,
    // and the same for the next heights.
    let mut tag = 0u64;
    let rounds = (0..300u32)
        .chain((1..50u32).map(|i| i * 80_000_000))
        .chain([u32::MAX - 1, u32::MAX]);
    for round in rounds {
        for height in [1u64, 2, 3] {
            for kind in [VoteKind::Prevote, VoteKind::Precommit] {
                for _ in 0..3 {
                    tag += 1;
                    let input = Input::Vote(sign(height, round, kind, tag));
                    own.extend(a.step(input));
                }
            }
            tag += 1;
            own.extend(a.step(Input::Proposal(sign(
                height,
                round,
                VoteKind::Proposal,
                tag,
            ))));
        }
    }
    // Per member: the rounds of the window (a proposal and up to four conflicting
    // prevotes and precommits each), and the next height's buffer share.
    let window = (mpms_consensus::ROUND_WINDOW as usize + 1) * (1 + 2 * 4);
    let bound = window + 3 * (mpms_consensus::ROUND_WINDOW as usize + 1);
    assert!(
        a.stored_statements() <= bound,
        "{} statements stored, bound {bound}",
        a.stored_statements()
    );
    // One member alone cannot move the others to its round.
    assert_eq!(a.round(), 0);
    // What this engine signed never conflicts with itself.
    let signed: Vec<_> = own
        .iter()
        .filter_map(|e| match e {
            Effect::Broadcast(v) => Some(*v),
            _ => None,
        })
        .collect();
    for x in &signed {
        for y in &signed {
            let same_slot = x.vote.height == y.vote.height
                && x.vote.round == y.vote.round
                && x.vote.kind == y.vote.kind;
            assert!(
                !same_slot || x.vote == y.vote,
                "conflicting statements signed"
            );
        }
    }
}

#[test]
fn more_than_a_third_far_ahead_moves_a_node_to_their_round() {
    let keys = keys(4);
    let mut a = engine(&keys, 0, None);
    a.step(Input::StartHeight {
        height: 1,
        authorities: set_of(&keys),
    });
    let prevote = |i: usize, round: u32| {
        Vote {
            height: 1,
            round,
            kind: VoteKind::Prevote,
            block: None,
            valid_round: None,
        }
        .sign(CHAIN, keys[i].0.public_key(), &keys[i].1)
    };
    // One member far ahead: not enough (it may be lying).
    a.step(Input::Vote(prevote(3, 1_000_000)));
    assert_eq!(a.round(), 0);
    // A second one (more than a third of four) further still: join the highest round
    // both have reached.
    a.step(Input::Vote(prevote(2, 2_000_000)));
    assert_eq!(a.round(), 1_000_000);
    // At the last round there is no next one: the round stays, nothing overflows.
    a.step(Input::Vote(prevote(3, u32::MAX)));
    a.step(Input::Vote(prevote(2, u32::MAX)));
    assert_eq!(a.round(), u32::MAX);
    a.step(Input::TimeoutFired(Timeout {
        height: 1,
        round: u32::MAX,
        step: mpms_consensus::Step::Precommit,
    }));
    assert_eq!(a.round(), u32::MAX);
}

/// A validator restarted after precommitting re-sends its prevote of that round too.
/// It used to re-send only its last statement: in a set of three (which needs every
/// vote), a peer that had missed the prevote waited for ever, and so did the chain
/// (found by the simulator's soak: twins removed a fourth authority, then a crash
/// and a restart during a partition stalled height 4 at round 0).
#[test]
fn a_restarted_validator_sends_its_whole_round_again() {
    let keys = keys(3);
    let set = set_of(&keys);
    let mut a = engine(&keys, 0, None);
    a.step(Input::StartHeight {
        height: 1,
        authorities: set.clone(),
    });
    let block = Hash::digest(b"block");
    let sign = |i: usize, kind: VoteKind| {
        Vote {
            height: 1,
            round: 0,
            kind,
            block: Some(block),
            valid_round: None,
        }
        .sign(CHAIN, keys[i].0.public_key(), &keys[i].1)
    };
    // Member 1 proposes (1, 0); the block is valid; members 1 and 2 prevote it.
    let mut fx = a.step(Input::Proposal(sign(1, VoteKind::Proposal)));
    fx.extend(a.step(Input::BlockValidated {
        height: 1,
        block,
        valid: true,
    }));
    for i in [1, 2] {
        fx.extend(a.step(Input::Vote(sign(i, VoteKind::Prevote))));
    }
    let record = fx
        .iter()
        .rev()
        .find_map(|e| match e {
            Effect::PersistSafety(r) => Some(r.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(record.last.vote.kind, VoteKind::Precommit);
    assert_eq!(record.earlier.len(), 1);
    assert_eq!(record.earlier[0].vote.kind, VoteKind::Prevote);

    // Restarted from that record: both statements go out again.
    let mut restarted = engine(&keys, 0, Some(record));
    let fx = restarted.step(Input::StartHeight {
        height: 1,
        authorities: set,
    });
    let sent: Vec<VoteKind> = fx
        .iter()
        .filter_map(|e| match e {
            Effect::Broadcast(v) => Some(v.vote.kind),
            _ => None,
        })
        .collect();
    assert_eq!(sent, vec![VoteKind::Prevote, VoteKind::Precommit]);
}

/// A proposal judged untimely on arrival costs this node's prevote in its round only:
/// the block itself stays valid, so the node locks on it when 2/3 prevote it, and
/// prevotes its re-proposal in a later round. (A verdict kept per block for the height
/// would have the node refuse the block the others locked on, forever.)
#[test]
fn an_untimely_proposal_is_refused_in_its_round_only() {
    let keys = keys(4);
    let set = set_of(&keys);
    let signer = |op: mpms_crypto::PublicKey| {
        keys.iter()
            .find(|(o, _)| o.public_key() == op)
            .map(|(o, c)| (o.public_key(), c.clone()))
            .unwrap()
    };
    let p0 = set.proposer(1, 0).unwrap().operator;
    let p1 = set.proposer(1, 1).unwrap().operator;
    let me = (0..4)
        .find(|i| keys[*i].0.public_key() != p0 && keys[*i].0.public_key() != p1)
        .unwrap();
    let x = Hash::digest(b"block x");
    let sign = |who: mpms_crypto::PublicKey, round, kind, valid_round| {
        let (op, key) = signer(who);
        Vote {
            height: 1,
            round,
            kind,
            block: Some(x),
            valid_round,
        }
        .sign(CHAIN, op, &key)
    };
    let prevoted = |fx: &[Effect], round: u32| {
        fx.iter().find_map(|e| match e {
            Effect::Broadcast(v) if v.vote.kind == VoteKind::Prevote && v.vote.round == round => {
                Some(v.vote.block)
            }
            _ => None,
        })
    };
    let mut a = engine(&keys, me, None);
    a.step(Input::StartHeight {
        height: 1,
        authorities: set.clone(),
    });
    let mut fx = a.step(Input::UntimelyProposal(sign(
        p0,
        0,
        VoteKind::Proposal,
        None,
    )));
    fx.extend(a.step(Input::BlockValidated {
        height: 1,
        block: x,
        valid: true,
    }));
    assert_eq!(prevoted(&fx, 0), Some(None), "nil in the untimely round");
    // The others prevote X in round 0: the node locks on it and precommits it.
    let others: Vec<_> = keys
        .iter()
        .map(|(o, _)| o.public_key())
        .filter(|o| *o != keys[me].0.public_key())
        .collect();
    let mut fx = Vec::new();
    for o in &others {
        fx.extend(a.step(Input::Vote(sign(*o, 0, VoteKind::Prevote, None))));
    }
    assert!(
        fx.iter().any(|e| matches!(e, Effect::Broadcast(v)
            if v.vote.kind == VoteKind::Precommit && v.vote.block == Some(x))),
        "locks on the block 2/3 prevoted"
    );
    assert_eq!(a.locked(), Some((0, x)));
    // Round 1: the re-proposal of X (valid round 0) gets its prevote.
    a.step(Input::TimeoutFired(Timeout {
        height: 1,
        round: 0,
        step: mpms_consensus::Step::Precommit,
    }));
    let fx = a.step(Input::Proposal(sign(p1, 1, VoteKind::Proposal, Some(0))));
    assert_eq!(prevoted(&fx, 1), Some(Some(x)), "prevotes the re-proposal");
}
