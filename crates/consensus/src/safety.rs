//! The safety record: the last statement this validator signed, and its lock. It is
//! persisted (synced) before any signed statement leaves the node; after a restart
//! the engine refuses to sign anything that conflicts with it.

use mpms_crypto::Hash;
use mpms_ledger::{codec, SignedVote, Vote, VoteKind};
use serde::{Deserialize, Serialize};

/// What a validator has signed last, and its lock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SafetyRecord {
    /// The last signed statement.
    pub last: SignedVote,
    /// The statements signed before `last` at the same height and round (the
    /// proposal and the prevote before a precommit), oldest first: a restarted
    /// validator sends them again with `last`, since peers may have missed any of
    /// them, and without its prevote a set that needs every vote would wait for ever.
    pub earlier: Vec<SignedVote>,
    /// The locked (round, block) at that height, if any.
    pub locked: Option<(u32, Hash)>,
    /// The valid (round, block) at that height, if any.
    pub valid: Option<(u32, Hash)>,
}

/// A safety record that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unreadable safety record: {0}")]
pub struct SafetyError(pub String);

fn position(vote: &Vote) -> (u64, u32, u8) {
    (vote.height, vote.round, vote.kind as u8)
}

impl SafetyRecord {
    /// Encodes the record for storage.
    pub fn to_bytes(&self) -> Vec<u8> {
        codec::encode(self)
    }

    /// Decodes a stored record.
    pub fn from_bytes(bytes: &[u8]) -> Result<SafetyRecord, SafetyError> {
        codec::decode(bytes).map_err(|e| SafetyError(e.to_string()))
    }

    /// Whether signing `vote` is allowed after this record: it must come strictly
    /// after the last signed step, or be exactly the same statement (a re-broadcast).
    pub fn permits(&self, vote: &Vote) -> bool {
        position(vote) > position(&self.last.vote) || *vote == self.last.vote
    }

    /// The kind of the last signed step.
    pub fn last_kind(&self) -> VoteKind {
        self.last.vote.kind
    }
}
