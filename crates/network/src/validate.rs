//! Checking gossip before it is forwarded.
//!
//! The swarm hands every received gossip message to a [`GossipValidator`] and only
//! forwards (and reports) what it accepts. [`ChainValidator`] is the validator for an
//! MPMS chain: size, canonical encoding, chain id and signatures.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use mpms_crypto::{Hash, PublicKey};
use mpms_ledger::vote::{AuthoritySet, VoteKind};
use mpms_ledger::{codec, AccountId, SignedTransaction};

use crate::Topic;
use mpms_consensus::messages::{ConsensusMessage, FinalizedBlock, MAX_RESENT};
use mpms_consensus::ROUND_WINDOW;

/// The verdict on one gossip message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Valid: deliver it and forward it.
    Accept,
    /// Not provably wrong, but not useful (e.g. for another height's authority set):
    /// drop it without penalty.
    Ignore,
    /// Invalid: drop it, and count it against the peer that sent it.
    Reject(String),
}

/// Decides whether a gossip message is valid. Called on the swarm task: it must be
/// quick and must not block.
pub trait GossipValidator: Send + Sync + 'static {
    /// The verdict on `data` received on `topic`.
    fn validate(&self, topic: Topic, data: &[u8]) -> Verdict;
}

/// Room a block message takes beyond the block's transactions: header, certificate,
/// proposal and framing.
const BLOCK_OVERHEAD_BYTES: usize = 64 << 10;

/// Size limits per topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest transaction.
    pub max_transaction_bytes: usize,
    /// Largest consensus message (a proposal carries its block).
    pub max_consensus_bytes: usize,
    /// Largest finalized block with its certificate.
    pub max_block_bytes: usize,
}

impl Limits {
    /// Limits from the chain parameters: a block message may carry a full block plus
    /// its header, certificate and framing; a transaction may be evidence, which gets
    /// a little more room than the largest transaction.
    pub fn from_params(params: &mpms_ledger::Params) -> Limits {
        let block = usize::try_from(params.max_block_bytes).unwrap_or(usize::MAX);
        let tx = params
            .max_transaction_bytes
            .saturating_add(mpms_ledger::execute::EVIDENCE_ALLOWANCE_BYTES);
        Limits {
            max_transaction_bytes: usize::try_from(tx).unwrap_or(usize::MAX),
            max_consensus_bytes: block.saturating_add(BLOCK_OVERHEAD_BYTES),
            max_block_bytes: block.saturating_add(BLOCK_OVERHEAD_BYTES),
        }
    }

    /// The largest gossip message any parameters the chain may adopt can require.
    pub fn largest_possible() -> usize {
        usize::try_from(mpms_ledger::params::MAX_BLOCK_BYTES_LIMIT)
            .unwrap_or(usize::MAX)
            .saturating_add(BLOCK_OVERHEAD_BYTES)
    }

    fn of(&self, topic: Topic) -> usize {
        match topic {
            Topic::Transactions => self.max_transaction_bytes,
            Topic::Consensus => self.max_consensus_bytes,
            Topic::Blocks => self.max_block_bytes,
        }
    }
}

/// The key a transaction sender signs with now (accounts may rotate keys).
pub type SigningKeyLookup = Arc<dyn Fn(&AccountId) -> PublicKey + Send + Sync>;

/// Called with every transaction whose sender's signature passed, on the validation
/// thread: the node checks the transaction's other signatures there (a certifier's
/// claim), off its core, which then finds them already verified.
pub type AcceptedTransactionHook = Arc<dyn Fn(&SignedTransaction) + Send + Sync>;

/// The wall clock in Unix milliseconds, as the validator reads it.
pub type Clock = Arc<dyn Fn() -> u64 + Send + Sync>;

/// A statement re-sent within this long after the same signer's statement for the
/// same (height, round, step) was forwarded is not forwarded again: honest nodes
/// re-send at most every 2 s, so replaying a captured proposal buys nothing.
pub const RESEND_INTERVAL_MS: u64 = 2_000;

/// Most (signer, height, round, step) entries remembered for that rule; beyond it,
/// re-sends are not forwarded until the next height clears the memory.
const MAX_FORWARDED: usize = 16_384;

/// Most different signed statements forwarded for one (signer, height, round, step):
/// two prove equivocation, a third proves nothing more.
const MAX_STATEMENTS_PER_SLOT: usize = 2;

/// Most different encodings forwarded for one slot (a proposal's proof of lock is not
/// covered by its signature, so anyone can re-encode a captured proposal): each is a
/// new gossip message of up to a block's size.
const MAX_ENCODINGS_PER_SLOT: usize = 4;

/// Most finalized blocks forwarded per height (two certified blocks at one height
/// would be a safety failure that everyone should see; more add nothing).
const MAX_FINALIZED_PER_HEIGHT: usize = 2;

/// A statement's slot: signer, height, round and step.
type Slot = (AccountId, u64, u32, u8);

/// What was forwarded for a slot: when last, and each encoding as (digest of the
/// signed statement, digest of the statement as it travelled).
#[derive(Debug, Default)]
struct Forwarded {
    at_ms: u64,
    seen: Vec<(Hash, Hash)>,
}

fn wall_clock() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The validator of an MPMS chain's gossip.
///
/// - every topic: size limit, canonical decoding (trailing bytes refused), chain id;
/// - transactions: the sender's signature, under the key `signing_key` returns (by
///   default the account id itself, i.e. the account's first key);
/// - consensus messages: only for the height being decided or the next one (others
///   are ignored: not forwarded); the signer is in the current authority set and the
///   signature verifies; a proposal comes from its round's proposer, names its block
///   and carries a proof of lock no longer than the set. A signer unknown to the
///   current set is ignored, not punished: it may belong to the next set. A
///   proposal more than [`ROUND_WINDOW`] rounds ahead of the node's round is
///   ignored; a proposed block without its transactions' ciphertext or sealed keys
///   is rejected. A message whose statements were all forwarded in the last
///   [`RESEND_INTERVAL_MS`] (re-sent, or re-encoded with another proof of lock) is
///   ignored, and so is one past [`MAX_STATEMENTS_PER_SLOT`] statements or
///   [`MAX_ENCODINGS_PER_SLOT`] encodings of one slot;
/// - finalized blocks: below the committed height, ignored; the certificate is for
///   this block, which carries every erasable value; at the height the node
///   expects next, it must verify against the current authority set; one copy of a
///   block is forwarded (not every certificate variant).
pub struct ChainValidator {
    chain_id: String,
    view: RwLock<View>,
    signing_key: SigningKeyLookup,
    on_accepted: Option<AcceptedTransactionHook>,
    clock: Clock,
    /// What was forwarded for each statement slot, and when.
    forwarded: Mutex<HashMap<Slot, Forwarded>>,
    /// Finalized blocks forwarded, by height (those at or above the committed one).
    finalized: Mutex<HashMap<u64, Vec<Hash>>>,
}

struct View {
    authorities: AuthoritySet,
    next_height: u64,
    /// The node's consensus round at `next_height`.
    round: u32,
    limits: Limits,
}

impl ChainValidator {
    /// A validator for `chain_id` with the authority set that finalizes `next_height`.
    pub fn new(
        chain_id: impl Into<String>,
        limits: Limits,
        authorities: AuthoritySet,
        next_height: u64,
    ) -> ChainValidator {
        ChainValidator {
            chain_id: chain_id.into(),
            view: RwLock::new(View {
                authorities,
                next_height,
                round: 0,
                limits,
            }),
            signing_key: Arc::new(|account: &AccountId| *account),
            on_accepted: None,
            clock: Arc::new(wall_clock),
            forwarded: Mutex::new(HashMap::new()),
            finalized: Mutex::new(HashMap::new()),
        }
    }

    /// Reads time from `clock` instead of the wall clock.
    pub fn with_clock(mut self, clock: Clock) -> ChainValidator {
        self.clock = clock;
        self
    }

    /// Uses `lookup` to find a sender's current signing key.
    pub fn with_signing_keys(mut self, lookup: SigningKeyLookup) -> ChainValidator {
        self.signing_key = lookup;
        self
    }

    /// Calls `hook` with every transaction accepted (see [`AcceptedTransactionHook`]).
    pub fn with_accepted_transaction_hook(
        mut self,
        hook: AcceptedTransactionHook,
    ) -> ChainValidator {
        self.on_accepted = Some(hook);
        self
    }

    /// Moves to a new height (after a commit), with its authority set and the size
    /// limits of the parameters in force there (governance may have changed them).
    pub fn advance(&self, authorities: AuthoritySet, next_height: u64, limits: Limits) {
        let mut view = self.view.write().unwrap_or_else(|e| e.into_inner());
        view.authorities = authorities;
        view.next_height = next_height;
        view.round = 0;
        view.limits = limits;
        drop(view);
        self.forwarded
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|(_, height, _, _), _| *height >= next_height);
        self.finalized
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|height, _| height.saturating_add(1) >= next_height);
    }

    /// The node's consensus is at `round` of `height`: proposals more than
    /// [`ROUND_WINDOW`] rounds ahead of it are not forwarded (its engine keeps none
    /// of them).
    pub fn enter_round(&self, height: u64, round: u32) {
        let behind = {
            let view = self.view.read().unwrap_or_else(|e| e.into_inner());
            view.next_height == height && view.round < round
        };
        if behind {
            let mut view = self.view.write().unwrap_or_else(|e| e.into_inner());
            if view.next_height == height && view.round < round {
                view.round = round;
            }
        }
    }

    fn transaction(&self, data: &[u8]) -> Verdict {
        let tx: SignedTransaction = match codec::decode(data) {
            Ok(tx) => tx,
            Err(e) => return Verdict::Reject(format!("undecodable transaction: {e}")),
        };
        if tx.tx.chain_id != self.chain_id {
            return Verdict::Reject("transaction for another chain".into());
        }
        let key = (self.signing_key)(&tx.tx.sender);
        match tx.verify(&key) {
            Ok(()) => {
                if let Some(hook) = &self.on_accepted {
                    hook(&tx);
                }
                Verdict::Accept
            }
            Err(_) => Verdict::Reject("bad transaction signature".into()),
        }
    }

    fn consensus(&self, data: &[u8]) -> Verdict {
        let message: ConsensusMessage = match codec::decode(data) {
            Ok(m) => m,
            Err(e) => return Verdict::Reject(format!("undecodable consensus message: {e}")),
        };
        let view = self.view.read().unwrap_or_else(|e| e.into_inner());
        let statements = match &message {
            ConsensusMessage::Resent { statements, .. } => {
                if statements.is_empty() || statements.len() > MAX_RESENT {
                    return Verdict::Reject(format!(
                        "a re-send carries 1 to {MAX_RESENT} statements, not {}",
                        statements.len()
                    ));
                }
                statements.as_slice()
            }
            statement => std::slice::from_ref(statement),
        };
        let mut verdict = Verdict::Accept;
        for statement in statements {
            match self.statement(&view, statement) {
                Verdict::Accept => {}
                Verdict::Ignore => verdict = Verdict::Ignore,
                reject @ Verdict::Reject(_) => return reject,
            }
        }
        drop(view);
        if verdict != Verdict::Accept {
            return verdict;
        }
        self.note_forwarded(statements)
    }

    /// Remembers what was forwarded for each statement's slot. A message bringing
    /// nothing forwarded in the last [`RESEND_INTERVAL_MS`] (the same signed
    /// statements, however re-encoded or re-sent) is ignored, as is one that would
    /// take a slot past [`MAX_STATEMENTS_PER_SLOT`] statements or
    /// [`MAX_ENCODINGS_PER_SLOT`] encodings.
    fn note_forwarded(&self, statements: &[ConsensusMessage]) -> Verdict {
        let now = (self.clock)();
        let entries: Vec<(Slot, (Hash, Hash))> = statements.iter().filter_map(slot).collect();
        let mut forwarded = self.forwarded.lock().unwrap_or_else(|e| e.into_inner());
        let recent = |slot: &Slot, (statement, _): &(Hash, Hash)| {
            forwarded.get(slot).is_some_and(|f| {
                now.saturating_sub(f.at_ms) < RESEND_INTERVAL_MS
                    && f.seen.iter().any(|(s, _)| s == statement)
            })
        };
        if entries.iter().all(|(slot, seen)| recent(slot, seen)) {
            return Verdict::Ignore;
        }
        // Only what is new counts against a slot's caps: the same statement in the
        // same encoding again (a re-send) never does.
        let over = |f: &Forwarded, (statement, encoding): &(Hash, Hash)| {
            if f.seen.contains(&(*statement, *encoding)) {
                return false;
            }
            let statements: std::collections::HashSet<&Hash> =
                f.seen.iter().map(|(s, _)| s).collect();
            (!statements.contains(statement) && statements.len() >= MAX_STATEMENTS_PER_SLOT)
                || f.seen.len() >= MAX_ENCODINGS_PER_SLOT
        };
        if entries
            .iter()
            .any(|(slot, seen)| forwarded.get(slot).is_some_and(|f| over(f, seen)))
        {
            return Verdict::Ignore;
        }
        for (slot, seen) in entries {
            if forwarded.len() >= MAX_FORWARDED && !forwarded.contains_key(&slot) {
                forwarded.retain(|_, f| now.saturating_sub(f.at_ms) < RESEND_INTERVAL_MS);
                if forwarded.len() >= MAX_FORWARDED {
                    return Verdict::Ignore;
                }
            }
            let entry = forwarded.entry(slot).or_default();
            entry.at_ms = now;
            if !entry.seen.contains(&seen) {
                entry.seen.push(seen);
            }
        }
        Verdict::Accept
    }

    /// Checks one proposal or vote.
    fn statement(&self, view: &View, message: &ConsensusMessage) -> Verdict {
        let vote = match message {
            ConsensusMessage::Proposal {
                proposal,
                block,
                proof,
            } => {
                // Beyond the round window the engine keeps nothing (checked before
                // the block is hashed: it may be megabytes).
                let window = if proposal.vote.height == view.next_height {
                    view.round.saturating_add(ROUND_WINDOW)
                } else {
                    ROUND_WINDOW
                };
                if proposal.vote.round > window {
                    return Verdict::Ignore;
                }
                if proof.len() > view.authorities.len() {
                    return Verdict::Reject(format!(
                        "a proof of lock of {} prevotes for a set of {}",
                        proof.len(),
                        view.authorities.len()
                    ));
                }
                if proposal.vote.kind != VoteKind::Proposal {
                    return Verdict::Reject("proposal message carries a vote".into());
                }
                if block.header.chain_id != self.chain_id {
                    return Verdict::Reject("proposed block for another chain".into());
                }
                if proposal.vote.block != Some(block.hash())
                    || proposal.vote.height != block.header.height
                {
                    return Verdict::Reject("proposal does not name its block".into());
                }
                // The hash is the header's: a body that is not the one the header
                // commits to is a lie of whoever sent it.
                if !block.matches_header() {
                    return Verdict::Reject("proposed block's body is not its header's".into());
                }
                // A block not yet finalized is whole: only a later block erases a
                // credential's content. A copy without it verifies by hash (the
                // values are committed by digest) but is a lie of whoever sent it.
                if block.first_erased().is_some() {
                    return Verdict::Reject(
                        "proposed block without a transaction's ciphertext or sealed keys".into(),
                    );
                }
                proposal
            }
            ConsensusMessage::Vote(vote) => {
                if vote.vote.kind == VoteKind::Proposal {
                    return Verdict::Reject("proposal without its block".into());
                }
                vote
            }
            ConsensusMessage::Resent { .. } => {
                return Verdict::Reject("a re-send inside a re-send".into());
            }
        };
        let height = vote.vote.height;
        if height < view.next_height || height > view.next_height.saturating_add(1) {
            // Decided already, or too far ahead to check: not useful to forward.
            return Verdict::Ignore;
        }
        let Some(member) = view.authorities.get(&vote.validator) else {
            return Verdict::Ignore;
        };
        if vote.vote.kind == VoteKind::Proposal
            && view
                .authorities
                .proposer(height, vote.vote.round)
                .map(|p| p.operator)
                != Some(vote.validator)
        {
            return if height == view.next_height {
                Verdict::Reject("a proposal from a member that is not the round's proposer".into())
            } else {
                Verdict::Ignore
            };
        }
        if vote.verify(&self.chain_id, &member.consensus_key).is_err() {
            // A signer of the current set with a bad signature: at the current height
            // that is provably invalid; at another its key may differ.
            return if vote.vote.height == view.next_height {
                Verdict::Reject("bad consensus signature".into())
            } else {
                Verdict::Ignore
            };
        }
        Verdict::Accept
    }

    fn block(&self, data: &[u8]) -> Verdict {
        let finalized: FinalizedBlock = match codec::decode(data) {
            Ok(b) => b,
            Err(e) => return Verdict::Reject(format!("undecodable block: {e}")),
        };
        let header = &finalized.block.header;
        if header.chain_id != self.chain_id {
            return Verdict::Reject("block for another chain".into());
        }
        let view = self.view.read().unwrap_or_else(|e| e.into_inner());
        // Below the committed height: old news, whatever it carries. (The committed
        // block itself is still forwarded: nodes outside consensus learn it so.)
        if header.height.saturating_add(1) < view.next_height {
            return Verdict::Ignore;
        }
        let hash = finalized.block.hash();
        let cert = &finalized.certificate;
        if cert.height != header.height || cert.block != hash {
            return Verdict::Reject("certificate is for another block".into());
        }
        if !finalized.block.matches_header() {
            return Verdict::Reject("finalized block's body is not its header's".into());
        }
        // A block finalized this recently cannot have been erased yet.
        if finalized.block.first_erased().is_some() {
            return Verdict::Reject(
                "finalized block without a transaction's ciphertext or sealed keys".into(),
            );
        }
        let mut forwarded = self.finalized.lock().unwrap_or_else(|e| e.into_inner());
        let known = forwarded.get(&header.height);
        if known.is_some_and(|h| h.contains(&hash) || h.len() >= MAX_FINALIZED_PER_HEIGHT) {
            // Another copy (a certificate variant) of a block already forwarded.
            return Verdict::Ignore;
        }
        match cert.verify(&self.chain_id, &view.authorities) {
            Ok(()) => {
                if forwarded.len() < MAX_FORWARDED {
                    forwarded.entry(header.height).or_default().push(hash);
                }
                Verdict::Accept
            }
            Err(e) if header.height == view.next_height => {
                Verdict::Reject(format!("bad certificate: {e}"))
            }
            Err(_) => Verdict::Ignore,
        }
    }
}

/// The slot of a proposal or vote, the digest of the signed statement, and the digest
/// of its encoding (a proposal's includes its block and proof of lock).
fn slot(message: &ConsensusMessage) -> Option<(Slot, (Hash, Hash))> {
    let vote = match message {
        ConsensusMessage::Proposal { proposal, .. } => proposal,
        ConsensusMessage::Vote(vote) => vote,
        ConsensusMessage::Resent { .. } => return None,
    };
    let statement = Hash::digest(&codec::encode(vote));
    let encoding = match message {
        ConsensusMessage::Vote(_) => statement,
        other => Hash::digest(&codec::encode(other)),
    };
    Some((
        (
            vote.validator,
            vote.vote.height,
            vote.vote.round,
            vote.vote.kind as u8,
        ),
        (statement, encoding),
    ))
}

impl GossipValidator for ChainValidator {
    fn validate(&self, topic: Topic, data: &[u8]) -> Verdict {
        let limit = self.view.read().map_or(0, |view| view.limits.of(topic));
        if data.len() > limit {
            return Verdict::Reject(format!(
                "{} message of {} bytes exceeds {limit}",
                topic.label(),
                data.len()
            ));
        }
        match topic {
            Topic::Transactions => self.transaction(data),
            Topic::Consensus => self.consensus(data),
            Topic::Blocks => self.block(data),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use mpms_ledger::testkit::TestChain;

    fn validator(chain: &TestChain) -> ChainValidator {
        let genesis = chain.genesis.build().unwrap();
        ChainValidator::new(
            chain.chain_id(),
            Limits::from_params(&mpms_ledger::Params::default()),
            genesis.authority_set,
            1,
        )
    }

    fn rejected(verdict: Verdict) -> bool {
        matches!(verdict, Verdict::Reject(_))
    }

    #[test]
    fn transactions_are_checked_fully() {
        let chain = TestChain::new(4, 21);
        let v = validator(&chain);
        let tx = chain.register_subject(1);
        assert_eq!(
            v.validate(Topic::Transactions, &codec::encode(&tx)),
            Verdict::Accept
        );
        // Signature broken by a changed field.
        let mut forged = tx.clone();
        forged.tx.nonce += 1;
        assert!(rejected(
            v.validate(Topic::Transactions, &codec::encode(&forged))
        ));
        // Trailing bytes after a valid encoding.
        let mut trailing = codec::encode(&tx);
        trailing.push(0);
        assert!(rejected(v.validate(Topic::Transactions, &trailing)));
        // Another chain's transaction, validly signed.
        let other = TestChain::new(4, 99).register_subject(1);
        assert!(rejected(
            v.validate(Topic::Transactions, &codec::encode(&other))
        ));
        // Over the size limit, whatever it holds.
        let big = vec![0u8; 300 << 10];
        assert!(rejected(v.validate(Topic::Transactions, &big)));
        // Bytes of the wrong type.
        assert!(rejected(v.validate(Topic::Consensus, &codec::encode(&tx))));
    }

    /// Size limits follow the parameters in force: after governance raises the block
    /// limit, a block message that was too large passes the size check (it was read
    /// once at start-up, so full blocks stopped propagating after such a vote).
    #[test]
    fn size_limits_follow_the_parameters() {
        let chain = TestChain::new(4, 23);
        let v = validator(&chain);
        let big = vec![0u8; (9 << 20) + 100];
        let too_large =
            |verdict: Verdict| matches!(verdict, Verdict::Reject(why) if why.contains("exceeds"));
        assert!(too_large(v.validate(Topic::Blocks, &big)));
        let raised = mpms_ledger::Params::default()
            .with_change(&mpms_ledger::params::ParameterChange::MaxBlockBytes(
                12 << 20,
            ))
            .unwrap();
        let genesis = chain.genesis.build().unwrap();
        v.advance(genesis.authority_set, 2, Limits::from_params(&raised));
        // Now only the content is judged (these bytes are no block).
        let verdict = v.validate(Topic::Blocks, &big);
        assert!(!too_large(verdict.clone()), "{verdict:?}");
        // The largest limit any parameters may set fits the node's gossip frames.
        assert!(Limits::largest_possible() <= crate::NetworkConfig::default().max_message_bytes);
    }

    #[test]
    fn votes_need_a_member_signature() {
        use mpms_ledger::vote::Vote;
        let chain = TestChain::new(4, 22);
        let v = validator(&chain);
        let vote = Vote {
            height: 1,
            round: 0,
            kind: VoteKind::Prevote,
            block: None,
            valid_round: None,
        };
        let good = vote.sign(
            chain.chain_id(),
            chain.operators[0].public_key(),
            &chain.consensus[0],
        );
        let msg = |sv| codec::encode(&ConsensusMessage::Vote(sv));
        assert_eq!(v.validate(Topic::Consensus, &msg(good)), Verdict::Accept);
        // Signed with someone else's key at the current height: provably invalid.
        let bad = vote.sign(
            chain.chain_id(),
            chain.operators[0].public_key(),
            &chain.consensus[1],
        );
        assert!(rejected(v.validate(Topic::Consensus, &msg(bad))));
        // A signer outside the current set may belong to the next one: ignored.
        let stranger = vote.sign(
            chain.chain_id(),
            chain.consensus[2].public_key(),
            &chain.consensus[2],
        );
        assert_eq!(
            v.validate(Topic::Consensus, &msg(stranger)),
            Verdict::Ignore
        );
        // A proposal must come with its block.
        let proposal = Vote {
            kind: VoteKind::Proposal,
            ..vote
        }
        .sign(
            chain.chain_id(),
            chain.operators[0].public_key(),
            &chain.consensus[0],
        );
        assert!(rejected(v.validate(Topic::Consensus, &msg(proposal))));
    }

    #[test]
    fn resent_statements_are_each_checked() {
        use mpms_ledger::vote::Vote;
        let chain = TestChain::new(4, 23);
        let v = validator(&chain);
        let vote = Vote {
            height: 1,
            round: 0,
            kind: VoteKind::Prevote,
            block: None,
            valid_round: None,
        };
        let good = |i: usize| {
            ConsensusMessage::Vote(vote.sign(
                chain.chain_id(),
                chain.operators[i].public_key(),
                &chain.consensus[i],
            ))
        };
        let resent = |statements: Vec<ConsensusMessage>| {
            codec::encode(&ConsensusMessage::Resent {
                statements,
                sent_at_ms: 7,
            })
        };
        assert_eq!(
            v.validate(Topic::Consensus, &resent(vec![good(0), good(1)])),
            Verdict::Accept
        );
        let forged = ConsensusMessage::Vote(vote.sign(
            chain.chain_id(),
            chain.operators[0].public_key(),
            &chain.consensus[3],
        ));
        assert!(rejected(
            v.validate(Topic::Consensus, &resent(vec![good(0), forged]))
        ));
        assert!(rejected(v.validate(Topic::Consensus, &resent(vec![]))));
        assert!(rejected(v.validate(
            Topic::Consensus,
            &resent(vec![good(0); MAX_RESENT + 1])
        )));
        let nested = ConsensusMessage::Resent {
            statements: vec![good(0)],
            sent_at_ms: 1,
        };
        assert!(rejected(
            v.validate(Topic::Consensus, &resent(vec![nested]))
        ));
    }

    /// A proposal for height 1 by its round-0 proposer (member 1), with its block.
    fn proposal(chain: &TestChain, proof: Vec<mpms_ledger::SignedVote>) -> ConsensusMessage {
        use mpms_ledger::execute::{build_block, SignatureCheck};
        use mpms_ledger::vote::Vote;
        let genesis = chain.genesis.build().unwrap();
        let mut state = mpms_ledger::MemState::new();
        state.apply(&genesis.changes);
        let block = build_block(
            &state,
            &genesis.header,
            None,
            chain.operators[1].public_key(),
            genesis.header.time_ms + 1,
            std::iter::empty(),
            SignatureCheck::Verify,
        )
        .unwrap()
        .block;
        let vote = Vote {
            height: 1,
            round: 0,
            kind: VoteKind::Proposal,
            block: Some(block.hash()),
            valid_round: None,
        };
        ConsensusMessage::Proposal {
            proposal: vote.sign(
                chain.chain_id(),
                chain.operators[1].public_key(),
                &chain.consensus[1],
            ),
            block: Box::new(block),
            proof,
        }
    }

    /// A proposal for height 1 at `round`, by that round's proposer, with its block.
    fn proposal_at(chain: &TestChain, round: u32) -> ConsensusMessage {
        use mpms_ledger::vote::Vote;
        let ConsensusMessage::Proposal { block, .. } = proposal(chain, Vec::new()) else {
            unreachable!()
        };
        let set = chain.genesis.build().unwrap().authority_set;
        let proposer = set.proposer(1, round).unwrap().operator;
        let i = chain
            .operators
            .iter()
            .position(|k| k.public_key() == proposer)
            .unwrap();
        let vote = Vote {
            height: 1,
            round,
            kind: VoteKind::Proposal,
            block: Some(block.hash()),
            valid_round: None,
        };
        ConsensusMessage::Proposal {
            proposal: vote.sign(chain.chain_id(), proposer, &chain.consensus[i]),
            block,
            proof: Vec::new(),
        }
    }

    /// A Byzantine proposer may sign proposals (with blocks of megabytes) for any
    /// round; the engine keeps none beyond the round window, so they are not
    /// forwarded either. The window follows the node's round. (Every round used to
    /// pass, and fill the queues between the network and the core.)
    #[test]
    fn proposals_beyond_the_round_window_are_ignored() {
        let chain = TestChain::new(4, 26);
        let v = validator(&chain);
        let check = |round| {
            v.validate(
                Topic::Consensus,
                &codec::encode(&proposal_at(&chain, round)),
            )
        };
        assert_eq!(check(ROUND_WINDOW), Verdict::Accept);
        assert_eq!(check(1_000), Verdict::Ignore);
        assert_eq!(check(ROUND_WINDOW + 1), Verdict::Ignore);
        v.enter_round(1, 10);
        assert_eq!(check(10 + ROUND_WINDOW), Verdict::Accept);
        assert_eq!(check(2), Verdict::Accept, "earlier rounds still count");
        assert_eq!(check(11 + ROUND_WINDOW), Verdict::Ignore);
        // A round of another height does not move the window.
        v.enter_round(7, 500);
        assert_eq!(check(100), Verdict::Ignore);
    }

    /// A proposal's proof of lock is not covered by its signature: anyone can
    /// re-encode a captured proposal, each copy a new gossip message the size of a
    /// block. A slot's encodings and its conflicting statements are capped. (Each
    /// re-encoding used to be accepted and forwarded network-wide.)
    #[test]
    fn re_encoded_and_conflicting_statements_are_capped_per_slot() {
        use std::sync::atomic::{AtomicU64, Ordering};
        let chain = TestChain::new(4, 27);
        let now = Arc::new(AtomicU64::new(1_000_000));
        let clock = now.clone();
        let v = validator(&chain).with_clock(Arc::new(move || clock.load(Ordering::Relaxed)));
        let original = proposal(&chain, Vec::new());
        assert_eq!(
            v.validate(Topic::Consensus, &codec::encode(&original)),
            Verdict::Accept
        );
        let ConsensusMessage::Proposal {
            proposal: signed,
            block,
            ..
        } = original
        else {
            unreachable!()
        };
        // The same signed proposal with a junk proof: nothing new.
        let junk = |n: u32| {
            let vote = mpms_ledger::vote::Vote {
                height: 1,
                round: n,
                kind: VoteKind::Prevote,
                block: None,
                valid_round: None,
            }
            .sign(
                chain.chain_id(),
                chain.operators[0].public_key(),
                &chain.consensus[0],
            );
            ConsensusMessage::Proposal {
                proposal: signed,
                block: block.clone(),
                proof: vec![vote],
            }
        };
        for n in 0..20 {
            assert_eq!(
                v.validate(Topic::Consensus, &codec::encode(&junk(n))),
                Verdict::Ignore,
                "variant {n}"
            );
        }
        // Conflicting prevotes of one signer: two are forwarded (evidence), no more.
        let prevote = |tag: &[u8]| {
            ConsensusMessage::Vote(
                mpms_ledger::vote::Vote {
                    height: 1,
                    round: 0,
                    kind: VoteKind::Prevote,
                    block: Some(mpms_crypto::Hash::digest(tag)),
                    valid_round: None,
                }
                .sign(
                    chain.chain_id(),
                    chain.operators[2].public_key(),
                    &chain.consensus[2],
                ),
            )
        };
        // After the re-send interval, the signer's own re-send of its proposal goes
        // through again, however many variants others made.
        let original = proposal(&chain, Vec::new());
        let resent = |at: u64| {
            codec::encode(&ConsensusMessage::Resent {
                statements: vec![original.clone()],
                sent_at_ms: at,
            })
        };
        for round in 1..6u64 {
            now.fetch_add(RESEND_INTERVAL_MS, Ordering::Relaxed);
            for n in 0..3 {
                v.validate(
                    Topic::Consensus,
                    &codec::encode(&junk(100 + round as u32 * 3 + n)),
                );
            }
            now.fetch_add(RESEND_INTERVAL_MS, Ordering::Relaxed);
            assert_eq!(
                v.validate(Topic::Consensus, &resent(round)),
                Verdict::Accept,
                "re-send {round}"
            );
        }
        let verdicts: Vec<Verdict> = [b"a", b"b", b"c", b"d"]
            .iter()
            .map(|t| v.validate(Topic::Consensus, &codec::encode(&prevote(*t))))
            .collect();
        assert_eq!(
            verdicts,
            vec![
                Verdict::Accept,
                Verdict::Accept,
                Verdict::Ignore,
                Verdict::Ignore
            ]
        );
    }

    /// A finalized block below the committed height is old news, and one block's
    /// copies with other certificates (any quorum-sized subset, in any order) are not
    /// forwarded again. (Both used to be accepted and forwarded without end.)
    #[test]
    fn old_finalized_blocks_and_certificate_variants_are_not_forwarded() {
        use mpms_ledger::execute::{build_block, SignatureCheck};
        let chain = TestChain::new(4, 28);
        let genesis = chain.genesis.build().unwrap();
        let mut state = mpms_ledger::MemState::new();
        state.apply(&genesis.changes);
        let block = build_block(
            &state,
            &genesis.header,
            None,
            chain.operators[1].public_key(),
            genesis.header.time_ms + 1,
            std::iter::empty(),
            SignatureCheck::Verify,
        )
        .unwrap()
        .block;
        let certificate = chain.certify(&block.header, 0, &genesis.authority_set);
        let finalized = FinalizedBlock {
            block: block.clone(),
            certificate: certificate.clone(),
        };
        let v = validator(&chain);
        assert_eq!(
            v.validate(Topic::Blocks, &codec::encode(&finalized)),
            Verdict::Accept
        );
        // The same block, its certificate's signatures reversed.
        let mut variant = finalized.clone();
        variant.certificate.signatures.reverse();
        assert_eq!(
            v.validate(Topic::Blocks, &codec::encode(&variant)),
            Verdict::Ignore
        );
        // Once the node is two heights on, height 1 is below the committed one.
        let v = validator(&chain);
        v.advance(
            genesis.authority_set.clone(),
            3,
            Limits::from_params(&mpms_ledger::Params::default()),
        );
        assert_eq!(
            v.validate(Topic::Blocks, &codec::encode(&finalized)),
            Verdict::Ignore
        );
        // At the committed height it is still forwarded (nodes outside consensus
        // learn the block so).
        let v = validator(&chain);
        v.advance(
            genesis.authority_set.clone(),
            2,
            Limits::from_params(&mpms_ledger::Params::default()),
        );
        assert_eq!(
            v.validate(Topic::Blocks, &codec::encode(&finalized)),
            Verdict::Accept
        );
    }

    /// A proposed block whose transactions lost their ciphertext or sealed keys keeps
    /// its hash (they are committed by digest), so the proposer's signature still
    /// verifies; but a block not yet finalized is whole, and such a copy is a lie of
    /// whoever forwards it: rejected, the forwarder's score drops.
    #[test]
    fn a_proposal_stripped_of_its_content_is_rejected() {
        use mpms_ledger::block::tx_root;
        use mpms_ledger::vote::Vote;
        let chain = TestChain::new(4, 25);
        let v = validator(&chain);
        let ConsensusMessage::Proposal { mut block, .. } = proposal(&chain, Vec::new()) else {
            unreachable!()
        };
        block.transactions.push(chain.issue(0, "course", 1, 1));
        block.header.tx_root = tx_root(&block.transactions);
        block.header.tx_count = 1;
        let signed = Vote {
            height: 1,
            round: 0,
            kind: VoteKind::Proposal,
            block: Some(block.hash()),
            valid_round: None,
        }
        .sign(
            chain.chain_id(),
            chain.operators[1].public_key(),
            &chain.consensus[1],
        );
        let message = |block: mpms_ledger::Block| {
            codec::encode(&ConsensusMessage::Proposal {
                proposal: signed,
                block: Box::new(block),
                proof: Vec::new(),
            })
        };
        assert_eq!(
            v.validate(Topic::Consensus, &message((*block).clone())),
            Verdict::Accept
        );
        let mut stripped = (*block).clone();
        stripped.transactions[0] = stripped.transactions[0].erased();
        assert_eq!(stripped.hash(), block.hash());
        assert!(rejected(v.validate(Topic::Consensus, &message(stripped))));
        // Another body under the same header (and hash): a lie as well.
        let mut other = (*block).clone();
        other.transactions.clear();
        assert_eq!(other.hash(), block.hash());
        assert!(rejected(v.validate(Topic::Consensus, &message(other))));
    }

    /// A captured proposal re-gossiped in fresh re-sends is forwarded no more often
    /// than its signer itself re-sends, and not at all once its height is decided.
    /// (Every such re-send used to be accepted and forwarded network-wide.)
    #[test]
    fn replayed_proposals_are_not_forwarded() {
        use std::sync::atomic::{AtomicU64, Ordering};
        let chain = TestChain::new(4, 24);
        let now = Arc::new(AtomicU64::new(1_000_000));
        let clock = now.clone();
        let v = validator(&chain).with_clock(Arc::new(move || clock.load(Ordering::Relaxed)));
        let original = proposal(&chain, Vec::new());
        let replay = |sent_at_ms: u64| {
            codec::encode(&ConsensusMessage::Resent {
                statements: vec![original.clone()],
                sent_at_ms,
            })
        };
        assert_eq!(
            v.validate(Topic::Consensus, &codec::encode(&original)),
            Verdict::Accept
        );
        for i in 1..50 {
            now.fetch_add(30, Ordering::Relaxed);
            assert_eq!(
                v.validate(Topic::Consensus, &replay(i)),
                Verdict::Ignore,
                "replay {i}"
            );
        }
        // The signer's own re-send after the interval goes through, once.
        now.fetch_add(RESEND_INTERVAL_MS, Ordering::Relaxed);
        assert_eq!(v.validate(Topic::Consensus, &replay(100)), Verdict::Accept);
        assert_eq!(v.validate(Topic::Consensus, &replay(101)), Verdict::Ignore);
        // Once height 1 is decided, nothing of it is forwarded.
        let genesis = chain.genesis.build().unwrap();
        v.advance(
            genesis.authority_set,
            2,
            Limits::from_params(&mpms_ledger::Params::default()),
        );
        now.fetch_add(10 * RESEND_INTERVAL_MS, Ordering::Relaxed);
        assert_eq!(v.validate(Topic::Consensus, &replay(200)), Verdict::Ignore);
        assert_eq!(
            v.validate(Topic::Consensus, &codec::encode(&original)),
            Verdict::Ignore
        );
    }

    #[test]
    fn proposals_come_from_the_proposer_with_a_bounded_proof() {
        use mpms_ledger::vote::Vote;
        let chain = TestChain::new(4, 25);
        let v = validator(&chain);
        let prevote = |i: usize| {
            Vote {
                height: 1,
                round: 0,
                kind: VoteKind::Prevote,
                block: None,
                valid_round: None,
            }
            .sign(
                chain.chain_id(),
                chain.operators[i].public_key(),
                &chain.consensus[i],
            )
        };
        let four: Vec<_> = (0..4).map(prevote).collect();
        assert_eq!(
            v.validate(Topic::Consensus, &codec::encode(&proposal(&chain, four))),
            Verdict::Accept
        );
        let five: Vec<_> = (0..5).map(|i| prevote(i % 4)).collect();
        assert!(rejected(v.validate(
            Topic::Consensus,
            &codec::encode(&proposal(&chain, five))
        )));
        // Member 2 signing a proposal for member 1's round.
        let ConsensusMessage::Proposal {
            mut proposal,
            block,
            proof,
        } = proposal(&chain, Vec::new())
        else {
            unreachable!()
        };
        proposal = proposal.vote.sign(
            chain.chain_id(),
            chain.operators[2].public_key(),
            &chain.consensus[2],
        );
        let wrong = ConsensusMessage::Proposal {
            proposal,
            block,
            proof,
        };
        assert!(rejected(
            v.validate(Topic::Consensus, &codec::encode(&wrong))
        ));
    }

    #[test]
    fn statements_of_other_heights_are_not_forwarded() {
        use mpms_ledger::vote::Vote;
        let chain = TestChain::new(4, 26);
        let v = validator(&chain);
        let at = |height: u64| {
            let vote = Vote {
                height,
                round: 0,
                kind: VoteKind::Prevote,
                block: None,
                valid_round: None,
            };
            codec::encode(&ConsensusMessage::Vote(vote.sign(
                chain.chain_id(),
                chain.operators[0].public_key(),
                &chain.consensus[0],
            )))
        };
        assert_eq!(v.validate(Topic::Consensus, &at(1)), Verdict::Accept);
        assert_eq!(v.validate(Topic::Consensus, &at(2)), Verdict::Accept);
        assert_eq!(v.validate(Topic::Consensus, &at(3)), Verdict::Ignore);
        assert_eq!(v.validate(Topic::Consensus, &at(0)), Verdict::Ignore);
        assert_eq!(v.validate(Topic::Consensus, &at(u64::MAX)), Verdict::Ignore);
    }
}
