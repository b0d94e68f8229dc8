//! The consensus state machine (Tendermint, Algorithm 1).
//!
//! Per height, each round has three steps. The round's proposer proposes a block (a
//! new one, or the block it saw gather 2/3 prevotes in an earlier round). Validators
//! prevote for it if it is valid and does not conflict with their lock; on 2/3
//! prevotes for it they lock on it and precommit; 2/3 precommits decide it. Timeouts
//! move a stuck round to nil votes and then to the next round; hearing from more than
//! 1/3 of the set in a later round jumps to that round.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::time::Duration;

use mpms_crypto::{Hash, SigningKey};
use mpms_ledger::evidence::Evidence;
use mpms_ledger::{AccountId, AuthoritySet, CommitCertificate, SignedVote, Vote, VoteKind};

use crate::safety::SafetyRecord;
use crate::timeouts::Timeouts;
use crate::votes::{Added, VoteBook};

/// Most statements kept for the next height while this one is still running.
const MAX_BUFFERED: usize = 4_096;

/// Rounds above the current one whose statements are kept in full. A statement for a
/// round beyond this window is only counted: the engine remembers each member's
/// highest round, which is all the round-skip rule needs.
pub const ROUND_WINDOW: u32 = 4;

/// Most statements buffered per signer for the next height: a proposal, a prevote and
/// a precommit for each round of the window (conflicting extras are not buffered).
const MAX_BUFFERED_PER_SIGNER: usize = 3 * (ROUND_WINDOW as usize + 1);

/// This validator's identity: its operator account and consensus key.
pub struct Identity {
    /// The operator account (how the authority set names it).
    pub operator: AccountId,
    /// The consensus signing key.
    pub key: SigningKey,
}

/// A step of a round.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Step {
    /// Waiting for the proposal.
    Propose,
    /// Prevoted; waiting for 2/3 prevotes.
    Prevote,
    /// Precommitted; waiting for 2/3 precommits.
    Precommit,
    /// The height is decided.
    Decided,
}

/// A timeout the engine asked to be told about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Timeout {
    /// Height.
    pub height: u64,
    /// Round.
    pub round: u32,
    /// The step it guards.
    pub step: Step,
}

/// What the engine is told.
#[derive(Debug, Clone)]
pub enum Input {
    /// Start `height` with the authority set derived from the chain. Given once the
    /// previous height is committed.
    StartHeight {
        /// Height to decide.
        height: u64,
        /// Its authority set.
        authorities: AuthoritySet,
    },
    /// A signed proposal (kind `Proposal`) from the network.
    Proposal(SignedVote),
    /// A signed proposal of a new block (no valid round) that the node judged, when it
    /// arrived, not acceptable as its round's new block: its time outside the clock
    /// bounds, or naming another proposer. It is recorded like any proposal, but this
    /// node does not prevote its block in that round. The verdict belongs to the
    /// round, not to the block: a later re-proposal of the same block, or the block's
    /// prevotes and precommits, are judged on the block alone.
    UntimelyProposal(SignedVote),
    /// A signed prevote or precommit from the network.
    Vote(SignedVote),
    /// A timeout scheduled by an earlier [`Effect::ScheduleTimeout`] fired.
    TimeoutFired(Timeout),
    /// The block asked for by [`Effect::BuildBlock`] is ready (and valid).
    BlockBuilt {
        /// Height.
        height: u64,
        /// Round.
        round: u32,
        /// The block's hash.
        block: Hash,
    },
    /// The verdict on a block asked for by [`Effect::ValidateBlock`] (or learned
    /// otherwise, e.g. from sync). It must be a function of what the block's hash
    /// commits to and the committed chain before it (never of the clock, or of which
    /// copy of the block arrived first): the engine keeps it for the height.
    BlockValidated {
        /// Height.
        height: u64,
        /// The block's hash.
        block: Hash,
        /// Whether every rule accepts it.
        valid: bool,
    },
}

/// What the engine asks the outside world to do, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Write the safety record durably. Always comes before the `Broadcast` of the
    /// statement it records; the node must not send that statement until the write
    /// completed.
    PersistSafety(SafetyRecord),
    /// Send a signed statement to all peers.
    Broadcast(SignedVote),
    /// Fire [`Input::TimeoutFired`] after this long.
    ScheduleTimeout {
        /// Which.
        timeout: Timeout,
        /// After how long.
        after: Duration,
    },
    /// Build a block for (height, round) and answer with [`Input::BlockBuilt`].
    BuildBlock {
        /// Height.
        height: u64,
        /// Round.
        round: u32,
    },
    /// Check the block with this hash and answer with [`Input::BlockValidated`]. A
    /// node that does not hold the whole block fetches what it lacks first: missing
    /// data is not a verdict.
    ValidateBlock {
        /// Height.
        height: u64,
        /// The block.
        block: Hash,
    },
    /// The block is final: commit it with its certificate, then start the next height.
    Decide {
        /// Height.
        height: u64,
        /// Round of the decision.
        round: u32,
        /// The block.
        block: Hash,
        /// Proof of finality.
        certificate: CommitCertificate,
    },
    /// Proof that an authority equivocated.
    Evidence(Box<Evidence>),
}

/// The consensus engine of one node.
pub struct Engine {
    chain_id: String,
    me: Option<Identity>,
    timeouts: Timeouts,
    height: u64,
    started: bool,
    round: u32,
    step: Step,
    set: AuthoritySet,
    locked: Option<(u32, Hash)>,
    valid: Option<(u32, Hash)>,
    votes: VoteBook,
    validity: HashMap<Hash, bool>,
    validation_requested: HashSet<Hash>,
    /// Rounds of the current height whose proposal of a new block this node found
    /// untimely on arrival: it prevotes nil in those rounds only.
    untimely: BTreeSet<u32>,
    prevote_timer: BTreeSet<u32>,
    precommit_timer: BTreeSet<u32>,
    valid_updated: BTreeSet<u32>,
    awaiting_block: Option<u32>,
    safety: Option<SafetyRecord>,
    /// Statements for the next height, each with whether it arrived timely (a
    /// proposal's clock verdict; always true for votes).
    buffered: Vec<(SignedVote, bool)>,
    buffered_by: HashMap<AccountId, usize>,
    /// The highest round each member signed anything in at this height (checked).
    highest_round: HashMap<AccountId, u32>,
    reported: HashSet<(AccountId, u64, u32, u8)>,
    /// Whether this validator may sign (see [`Engine::set_signing`]).
    signing: bool,
    /// With no safety record: the (height, round) up to which this validator may
    /// have signed anything (see [`Engine::resume_after`]).
    resume_after: Option<(u64, u32)>,
}

impl Engine {
    /// An engine for `chain_id`. `me` is `None` for a node that only follows.
    /// `safety` is the record persisted before a restart, if any.
    pub fn new(
        chain_id: &str,
        me: Option<Identity>,
        timeouts: Timeouts,
        safety: Option<SafetyRecord>,
    ) -> Engine {
        Engine {
            chain_id: chain_id.to_string(),
            me,
            timeouts,
            height: 0,
            started: false,
            round: 0,
            step: Step::Propose,
            set: AuthoritySet::default(),
            locked: None,
            valid: None,
            votes: VoteBook::default(),
            validity: HashMap::new(),
            validation_requested: HashSet::new(),
            untimely: BTreeSet::new(),
            prevote_timer: BTreeSet::new(),
            precommit_timer: BTreeSet::new(),
            valid_updated: BTreeSet::new(),
            awaiting_block: None,
            safety,
            buffered: Vec::new(),
            buffered_by: HashMap::new(),
            highest_round: HashMap::new(),
            reported: HashSet::new(),
            signing: true,
            resume_after: None,
        }
    }

    /// For a validator that lost its safety record: it may have signed anything up
    /// to round `round` of height `height`, and nothing after. It signs nothing up
    /// to there, and starts that height at the next round (so that validators
    /// resumed so together reach a round where they may sign, and take the others
    /// there by the round-skip rule).
    pub fn resume_after(&mut self, height: u64, round: u32) {
        self.resume_after = Some((height, round));
    }

    /// Whether statements of `round` are kept: from [`ROUND_WINDOW`] rounds below the
    /// current one on, the locked and valid rounds, and the prevotes of the valid
    /// round the current round's proposal names (its proof of lock, which a node
    /// that missed them needs to accept the re-proposal).
    fn round_kept(&self, round: u32, kind: VoteKind) -> bool {
        if round.saturating_add(ROUND_WINDOW) >= self.round
            || self.locked.is_some_and(|(r, _)| r == round)
            || self.valid.is_some_and(|(r, _)| r == round)
        {
            return true;
        }
        kind == VoteKind::Prevote
            && self
                .votes
                .proposal(self.round)
                .and_then(|p| p.vote.valid_round)
                == Some(round)
    }

    /// Forgets what a height stalled over many rounds accumulated: statements and
    /// timers of rounds more than [`ROUND_WINDOW`] below the current one, except
    /// the locked and valid rounds (whose block this validator may still propose
    /// with their prevotes as proof), and verdicts on blocks no statement kept names.
    /// A decision in a forgotten round still reaches the node as a finalized block.
    fn forget_old_rounds(&mut self) {
        let Some(floor) = self.round.checked_sub(ROUND_WINDOW) else {
            return;
        };
        let locked = self.locked.map(|(r, _)| r);
        let valid = self.valid.map(|(r, _)| r);
        let proof = self
            .votes
            .proposal(self.round)
            .and_then(|p| p.vote.valid_round);
        let keep = |r: u32| r >= floor || Some(r) == locked || Some(r) == valid || Some(r) == proof;
        self.votes.retain_rounds(keep);
        self.prevote_timer.retain(|r| keep(*r));
        self.precommit_timer.retain(|r| keep(*r));
        self.valid_updated.retain(|r| keep(*r));
        self.untimely.retain(|r| keep(*r));
        let named = self.blocks_in_play();
        self.validity.retain(|b, _| named.contains(b));
        self.validation_requested.retain(|b| named.contains(b));
    }

    /// The blocks this engine may still need at the current height: those its kept
    /// statements name, and the locked and valid ones. A node keeps no other block of
    /// the height.
    pub fn blocks_in_play(&self) -> HashSet<Hash> {
        self.votes
            .named_blocks()
            .into_iter()
            .chain(self.locked.map(|(_, b)| b))
            .chain(self.valid.map(|(_, b)| b))
            .collect()
    }

    /// Allows or forbids signing. A validator that does not know what it signed
    /// before it started (its safety record is missing) signs nothing until the
    /// node knows that no height it could have signed at is still open.
    pub fn set_signing(&mut self, signing: bool) {
        self.signing = signing;
    }

    /// Whether this validator may sign.
    pub fn signing(&self) -> bool {
        self.signing
    }

    /// The height being decided.
    pub fn height(&self) -> u64 {
        self.height
    }

    /// The current round.
    pub fn round(&self) -> u32 {
        self.round
    }

    /// The current step.
    pub fn current_step(&self) -> Step {
        self.step
    }

    /// The lock, if any.
    pub fn locked(&self) -> Option<(u32, Hash)> {
        self.locked
    }

    /// Statements held: recorded at the current height plus buffered for the next.
    /// Bounded by the protocol whatever peers send: per member, at most
    /// [`ROUND_WINDOW`] rounds beyond the current one (a few conflicting statements
    /// each), and [`MAX_BUFFERED_PER_SIGNER`] for the next height.
    pub fn stored_statements(&self) -> usize {
        self.votes.len() + self.buffered.len()
    }

    /// The authority set of the height in progress.
    pub fn authorities(&self) -> &AuthoritySet {
        &self.set
    }

    /// The proof of lock that should travel with `proposal`: for a re-proposal
    /// (`valid_round = Some(vr)`), the prevotes of round `vr` for its block, so that a
    /// node that missed them (after a restart or a partition) can still accept it.
    pub fn proof_of_lock(&self, proposal: &Vote) -> Vec<SignedVote> {
        match (proposal.kind, proposal.valid_round) {
            (VoteKind::Proposal, Some(vr)) if proposal.height == self.height => {
                self.votes.votes_for(vr, VoteKind::Prevote, proposal.block)
            }
            _ => Vec::new(),
        }
    }

    /// Every statement of the current height recorded for `block` (each checked: signed
    /// by a member of the set, the proposal by its round's proposer).
    pub fn statements_for(&self, block: &Hash) -> Vec<SignedVote> {
        self.votes.statements_for(block)
    }

    /// Evidence of equivocation if `statement` (already known to be validly signed by
    /// its signer, e.g. from a verified commit certificate) conflicts with a statement
    /// recorded at the current height.
    pub fn equivocation_with(&self, statement: &SignedVote) -> Option<Evidence> {
        if statement.vote.height != self.height {
            return None;
        }
        self.votes
            .conflicting(statement)
            .map(|first| Evidence::Equivocation {
                first,
                second: *statement,
            })
    }

    /// Whether exactly this statement was recorded at the current height (it passed
    /// the engine's checks).
    pub fn recorded(&self, statement: &SignedVote) -> bool {
        statement.vote.height == self.height && self.votes.contains(statement)
    }

    /// A one-line summary of the current round, for logs.
    pub fn describe(&self) -> String {
        let r = self.round;
        let proposal = self
            .votes
            .proposal(r)
            .map(|p| (p.vote.block, p.vote.valid_round));
        let tally = |kind| -> Vec<(Option<Hash>, usize)> {
            self.votes
                .blocks(r, kind)
                .into_iter()
                .map(Some)
                .chain([None])
                .map(|b| (b, self.votes.count(&self.set, r, kind, b)))
                .collect()
        };
        let (prevotes, precommits) = (tally(VoteKind::Prevote), tally(VoteKind::Precommit));
        let members: Vec<String> = self
            .set
            .members
            .iter()
            .map(|m| m.operator.to_string()[..6].to_string())
            .collect();
        format!(
            "safety={:?} set={members:?} h={} r={} step={:?} locked={:?} valid={:?} proposal={:?} prevotes={:?} precommits={:?} timers={:?}/{:?} validity={:?}",
            self.safety.as_ref().map(|s| (s.last.vote.height, s.last.vote.round, s.last.vote.kind, s.last.vote.block)),
            self.height,
            r,
            self.step,
            self.locked,
            self.valid,
            proposal,
            prevotes,
            precommits,
            self.prevote_timer,
            self.precommit_timer,
            self.validity.len()
        )
    }

    /// The last safety record.
    pub fn safety_record(&self) -> Option<&SafetyRecord> {
        self.safety.as_ref()
    }

    /// Replaces this validator's consensus key (after a governance key rotation takes
    /// effect). The safety record carries over: it is about positions, not keys.
    pub fn set_key(&mut self, key: SigningKey) {
        if let Some(me) = self.me.as_mut() {
            me.key = key;
        }
    }

    /// Replaces the timeouts, from the next timer scheduled on. The node calls it at
    /// the start of each height with the chain's timing in force at that height, so
    /// that every validator waits the same.
    pub fn set_timeouts(&mut self, timeouts: Timeouts) {
        self.timeouts = timeouts;
    }

    /// The timeouts in use.
    pub fn timeouts(&self) -> &Timeouts {
        &self.timeouts
    }

    /// The public consensus key in use, if this node is a validator.
    pub fn public_key(&self) -> Option<mpms_crypto::PublicKey> {
        self.me.as_ref().map(|m| m.key.public_key())
    }

    /// The operator of this validator, if it is one.
    pub fn operator(&self) -> Option<AccountId> {
        self.me.as_ref().map(|m| m.operator)
    }

    /// Processes one input and returns the effects, in the order they must happen.
    pub fn step(&mut self, input: Input) -> Vec<Effect> {
        let mut fx = Vec::new();
        match input {
            Input::StartHeight {
                height,
                authorities,
            } => self.start_height(height, authorities, &mut fx),
            Input::Proposal(p) => self.receive_proposal(p, true, &mut fx),
            Input::UntimelyProposal(p) => self.receive_proposal(p, false, &mut fx),
            Input::Vote(v) => {
                if v.vote.kind != VoteKind::Proposal && v.vote.valid_round.is_none() {
                    self.receive(v, true, &mut fx);
                }
            }
            Input::TimeoutFired(t) => self.on_timeout(t, &mut fx),
            Input::BlockBuilt {
                height,
                round,
                block,
            } => self.on_built(height, round, block, &mut fx),
            Input::BlockValidated {
                height,
                block,
                valid,
            } => {
                if height == self.height && self.started {
                    self.validity.insert(block, valid);
                }
            }
        }
        if self.started && self.step != Step::Decided {
            self.evaluate(&mut fx);
        }
        fx
    }

    fn start_height(&mut self, height: u64, authorities: AuthoritySet, fx: &mut Vec<Effect>) {
        if height < self.height || (height == self.height && self.started) {
            return;
        }
        self.height = height;
        self.started = true;
        self.set = authorities;
        self.votes = VoteBook::default();
        self.highest_round.clear();
        self.validity.clear();
        self.validation_requested.clear();
        self.untimely.clear();
        self.prevote_timer.clear();
        self.precommit_timer.clear();
        self.valid_updated.clear();
        self.awaiting_block = None;
        self.locked = None;
        self.valid = None;
        let mut round = 0;
        if let Some((h, r)) = self.resume_after {
            if h == height {
                round = r.saturating_add(1);
            }
        }
        let mut resume = None;
        // After a restart mid-height, resume where the record says.
        if let Some(rec) = &self.safety {
            if rec.last.vote.height == height {
                self.locked = rec.locked;
                self.valid = rec.valid;
                round = rec.last.vote.round;
                resume = Some((rec.last, rec.earlier.clone()));
            }
        }
        self.start_round(round, fx);
        if let Some((last, earlier)) = resume {
            // Peers may never have received what we signed before stopping: send it
            // all again (a proposal cannot travel without its block: the others wait
            // for the next round's), and continue from the step it belongs to.
            match last.vote.kind {
                VoteKind::Prevote => self.step = Step::Prevote,
                VoteKind::Precommit => self.step = Step::Precommit,
                VoteKind::Proposal => self.awaiting_block = None,
            }
            for statement in earlier.into_iter().chain([last]) {
                self.votes.add(statement);
                if statement.vote.kind != VoteKind::Proposal {
                    fx.push(Effect::Broadcast(statement));
                }
            }
        }
        let buffered = std::mem::take(&mut self.buffered);
        self.buffered_by.clear();
        for (vote, timely) in buffered {
            if vote.vote.height == height {
                self.receive(vote, timely, fx);
            } else if vote.vote.height > height {
                self.buffer(vote, timely);
            }
        }
    }

    fn start_round(&mut self, round: u32, fx: &mut Vec<Effect>) {
        self.round = round;
        self.step = Step::Propose;
        self.awaiting_block = None;
        self.forget_old_rounds();
        let height = self.height;
        let i_propose = match (&self.me, self.set.proposer(height, round)) {
            (Some(me), Some(p)) => p.operator == me.operator,
            _ => false,
        };
        if i_propose {
            if let Some((valid_round, block)) = self.valid {
                let vote = Vote {
                    height,
                    round,
                    kind: VoteKind::Proposal,
                    block: Some(block),
                    valid_round: Some(valid_round),
                };
                self.sign(vote, fx);
            } else {
                self.awaiting_block = Some(round);
                fx.push(Effect::BuildBlock { height, round });
            }
        }
        fx.push(Effect::ScheduleTimeout {
            timeout: Timeout {
                height,
                round,
                step: Step::Propose,
            },
            after: self.timeouts.propose(round),
        });
    }

    fn receive_proposal(&mut self, p: SignedVote, timely: bool, fx: &mut Vec<Effect>) {
        if p.vote.kind == VoteKind::Proposal && p.vote.block.is_some() {
            self.receive(p, timely, fx);
        }
    }

    /// Records a statement. `timely` is the node's clock verdict on a proposal of a
    /// new block (true for everything else).
    fn receive(&mut self, vote: SignedVote, timely: bool, fx: &mut Vec<Effect>) {
        let h = vote.vote.height;
        if h < self.height || (h == self.height && self.started && self.step == Step::Decided) {
            return;
        }
        if h > self.height || !self.started {
            // For the next height (or before this one started): keep a bounded number,
            // early rounds only, a few per signer.
            if h <= self.height.saturating_add(1) {
                self.buffer(vote, timely);
            }
            return;
        }
        if self.votes.contains(&vote) {
            return;
        }
        let Some(member) = self.set.get(&vote.validator) else {
            return;
        };
        if vote.vote.kind == VoteKind::Proposal
            && self.set.proposer(h, vote.vote.round).map(|p| p.operator) != Some(vote.validator)
        {
            return;
        }
        let round = vote.vote.round;
        if !self.round_kept(round, vote.vote.kind) {
            // A forgotten round: re-sent, it would only be forgotten again.
            return;
        }
        let beyond_window = round > self.round.saturating_add(ROUND_WINDOW);
        let known_round = self.highest_round.get(&vote.validator).copied();
        if beyond_window && known_round.is_some_and(|r| r >= round) {
            // Beyond the window only a member's highest round matters: nothing new.
            return;
        }
        if vote.verify(&self.chain_id, &member.consensus_key).is_err() {
            return;
        }
        if known_round.is_none_or(|r| r < round) {
            self.highest_round.insert(vote.validator, round);
        }
        if beyond_window {
            return;
        }
        match self.votes.add(vote) {
            Added::New => {
                if vote.vote.kind == VoteKind::Proposal {
                    if !timely && vote.vote.valid_round.is_none() {
                        self.untimely.insert(round);
                    }
                    if let Some(block) = vote.vote.block {
                        self.request_validation(block, fx);
                    }
                }
            }
            Added::Duplicate => {}
            Added::Equivocation(evidence) => {
                let key = (vote.validator, h, vote.vote.round, vote.vote.kind as u8);
                if self.reported.insert(key) {
                    fx.push(Effect::Evidence(evidence));
                }
            }
        }
    }

    /// Keeps `vote` (for the next height) if the buffer, the signer's share of it and
    /// the round window allow.
    fn buffer(&mut self, vote: SignedVote, timely: bool) {
        if vote.vote.round > ROUND_WINDOW || self.buffered.len() >= MAX_BUFFERED {
            return;
        }
        let count = self.buffered_by.entry(vote.validator).or_insert(0);
        if *count >= MAX_BUFFERED_PER_SIGNER || self.buffered.iter().any(|(v, _)| *v == vote) {
            return;
        }
        *count += 1;
        self.buffered.push((vote, timely));
    }

    fn request_validation(&mut self, block: Hash, fx: &mut Vec<Effect>) {
        if !self.validity.contains_key(&block) && self.validation_requested.insert(block) {
            fx.push(Effect::ValidateBlock {
                height: self.height,
                block,
            });
        }
    }

    fn on_built(&mut self, height: u64, round: u32, block: Hash, fx: &mut Vec<Effect>) {
        if !self.started
            || height != self.height
            || self.awaiting_block != Some(round)
            || self.round != round
            || self.step != Step::Propose
        {
            return;
        }
        self.awaiting_block = None;
        self.validity.insert(block, true);
        let vote = Vote {
            height,
            round,
            kind: VoteKind::Proposal,
            block: Some(block),
            valid_round: None,
        };
        self.sign(vote, fx);
    }

    fn on_timeout(&mut self, t: Timeout, fx: &mut Vec<Effect>) {
        if !self.started || t.height != self.height || t.round != self.round {
            return;
        }
        match (t.step, self.step) {
            (Step::Propose, Step::Propose) => self.prevote(None, fx),
            (Step::Prevote, Step::Prevote) => self.precommit(None, fx),
            (Step::Precommit, s) if s != Step::Decided => {
                self.start_round(self.round.saturating_add(1), fx);
            }
            _ => {}
        }
    }

    /// Signs `vote` if this node is a validator of the height and its safety record
    /// allows it; records and broadcasts it. Returns whether it was signed.
    fn sign(&mut self, vote: Vote, fx: &mut Vec<Effect>) -> bool {
        let Some(me) = &self.me else {
            return false;
        };
        if !self.signing {
            return false;
        }
        if let Some((h, r)) = self.resume_after {
            if vote.height < h || (vote.height == h && vote.round <= r) {
                return false;
            }
        }
        let Some(member) = self.set.get(&me.operator) else {
            return false;
        };
        if member.consensus_key != me.key.public_key() {
            return false;
        }
        if let Some(rec) = &self.safety {
            if !rec.permits(&vote) {
                return false;
            }
            if rec.last.vote == vote {
                let again = rec.last;
                fx.push(Effect::Broadcast(again));
                self.votes.add(again);
                return true;
            }
        }
        let signed = vote.sign(&self.chain_id, me.operator, &me.key);
        let earlier = match &self.safety {
            Some(rec)
                if rec.last.vote.height == vote.height && rec.last.vote.round == vote.round =>
            {
                let mut earlier = rec.earlier.clone();
                earlier.push(rec.last);
                earlier
            }
            _ => Vec::new(),
        };
        let record = SafetyRecord {
            last: signed,
            earlier,
            locked: self.locked,
            valid: self.valid,
        };
        self.safety = Some(record.clone());
        fx.push(Effect::PersistSafety(record));
        fx.push(Effect::Broadcast(signed));
        self.votes.add(signed);
        true
    }

    fn prevote(&mut self, block: Option<Hash>, fx: &mut Vec<Effect>) {
        let vote = Vote {
            height: self.height,
            round: self.round,
            kind: VoteKind::Prevote,
            block,
            valid_round: None,
        };
        self.sign(vote, fx);
        self.step = Step::Prevote;
    }

    fn precommit(&mut self, block: Option<Hash>, fx: &mut Vec<Effect>) {
        let vote = Vote {
            height: self.height,
            round: self.round,
            kind: VoteKind::Precommit,
            block,
            valid_round: None,
        };
        self.sign(vote, fx);
        self.step = Step::Precommit;
    }

    fn quorum(&self, round: u32, kind: VoteKind, block: Option<Hash>) -> bool {
        self.set
            .is_quorum(self.votes.count(&self.set, round, kind, block))
    }

    /// Applies every rule that the current knowledge enables, until none does.
    fn evaluate(&mut self, fx: &mut Vec<Effect>) {
        loop {
            if self.try_decide(fx) {
                return;
            }
            if self.try_skip_round(fx) {
                continue;
            }
            if !self.apply_round_rules(fx) {
                return;
            }
        }
    }

    /// 2/3 precommits for a valid block in any round decide it.
    fn try_decide(&mut self, fx: &mut Vec<Effect>) -> bool {
        for round in self.votes.rounds() {
            for block in self.votes.blocks(round, VoteKind::Precommit) {
                if !self.quorum(round, VoteKind::Precommit, Some(block)) {
                    continue;
                }
                match self.validity.get(&block) {
                    Some(true) => {
                        let certificate =
                            self.votes.certificate(&self.set, self.height, round, block);
                        self.step = Step::Decided;
                        fx.push(Effect::Decide {
                            height: self.height,
                            round,
                            block,
                            certificate,
                        });
                        return true;
                    }
                    Some(false) => {}
                    None => self.request_validation(block, fx),
                }
            }
        }
        false
    }

    /// Statements from more than 1/3 of the set in later rounds: at least one honest
    /// member is that far on, so join the highest round that many have reached.
    fn try_skip_round(&mut self, fx: &mut Vec<Effect>) -> bool {
        // The smallest count that is more than a third of the set.
        let needed = self.set.len() / 3 + 1;
        let mut rounds: Vec<u32> = self
            .highest_round
            .iter()
            .filter(|(who, round)| **round > self.round && self.set.contains(who))
            .map(|(_, round)| *round)
            .collect();
        if rounds.len() < needed {
            return false;
        }
        rounds.sort_unstable_by(|a, b| b.cmp(a));
        self.start_round(rounds[needed - 1], fx);
        true
    }

    /// The rules of the current round; returns whether anything changed.
    fn apply_round_rules(&mut self, fx: &mut Vec<Effect>) -> bool {
        let round = self.round;
        let proposal = self.votes.proposal(round).copied();
        let proposed = proposal.and_then(|p| p.vote.block);
        if self.step == Step::Propose {
            if let (Some(p), Some(block)) = (proposal, proposed) {
                match p.vote.valid_round {
                    None => match self.validity.get(&block) {
                        Some(&valid) => {
                            let free = self.locked.is_none_or(|(_, b)| b == block);
                            let timely = !self.untimely.contains(&round);
                            self.prevote((valid && free && timely).then_some(block), fx);
                            return true;
                        }
                        None => self.request_validation(block, fx),
                    },
                    Some(vr) if vr < round && self.quorum(vr, VoteKind::Prevote, Some(block)) => {
                        match self.validity.get(&block) {
                            Some(&valid) => {
                                let free = self.locked.is_none_or(|(lr, b)| lr <= vr || b == block);
                                self.prevote((valid && free).then_some(block), fx);
                                return true;
                            }
                            None => self.request_validation(block, fx),
                        }
                    }
                    Some(_) => {}
                }
            }
        }
        if self.step >= Step::Prevote && !self.valid_updated.contains(&round) {
            if let Some(block) = proposed {
                if self.validity.get(&block) == Some(&true)
                    && self.quorum(round, VoteKind::Prevote, Some(block))
                {
                    self.valid_updated.insert(round);
                    if self.step == Step::Prevote {
                        self.locked = Some((round, block));
                        self.valid = Some((round, block));
                        self.precommit(Some(block), fx);
                    } else {
                        self.valid = Some((round, block));
                    }
                    return true;
                }
            }
        }
        if self.step == Step::Prevote {
            if !self.prevote_timer.contains(&round)
                && self
                    .set
                    .is_quorum(self.votes.count_any(&self.set, round, VoteKind::Prevote))
            {
                self.prevote_timer.insert(round);
                fx.push(Effect::ScheduleTimeout {
                    timeout: Timeout {
                        height: self.height,
                        round,
                        step: Step::Prevote,
                    },
                    after: self.timeouts.prevote(round),
                });
            }
            if self.quorum(round, VoteKind::Prevote, None) {
                self.precommit(None, fx);
                return true;
            }
        }
        if !self.precommit_timer.contains(&round)
            && self
                .set
                .is_quorum(self.votes.count_any(&self.set, round, VoteKind::Precommit))
        {
            self.precommit_timer.insert(round);
            fx.push(Effect::ScheduleTimeout {
                timeout: Timeout {
                    height: self.height,
                    round,
                    step: Step::Precommit,
                },
                after: self.timeouts.precommit(round),
            });
        }
        false
    }
}
