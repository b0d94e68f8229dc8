//! Where a validator's safety record lives: the last statement it signed, written
//! durably before that statement leaves the node, so that a restarted validator never
//! signs a conflicting one.
//!
//! The record belongs with the consensus keys, not with the chain data: chain data
//! can be thrown away and synced again from peers, the record cannot. The node keeps
//! it in a file beside its consensus keystore (`mpms-node`); the simulator and tests
//! keep it in the chain store ([`InStore`]).

use std::sync::Arc;

use mpms_consensus::SafetyRecord;
use mpms_store::Store;

/// What a validator knows of what it signed before it started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignedBefore {
    /// Its consensus key was made for this home and has signed nothing yet.
    Never,
    /// The last statement it signed, and its lock.
    Signed(Box<SafetyRecord>),
    /// Unknown: the record is missing (a home restored from a backup, which does not
    /// hold the record, or a key imported from elsewhere). The node signs nothing
    /// until the chain finalizes a block newer than its start (see
    /// [`crate::NodeCore::signing_hold`]).
    Unknown,
    /// The record is lost, and its operator states that the validator signed nothing
    /// after round `round` of height `height` (a round no node had reached when it
    /// stopped). It signs nothing up to there, and starts that height at the next
    /// round.
    AtMost {
        /// The height.
        height: u64,
        /// The round.
        round: u32,
    },
}

/// Durable storage of a validator's safety record.
pub trait SafetyStore: Send + Sync {
    /// What the validator signed before.
    fn load(&self) -> Result<SignedBefore, String>;
    /// Saves `record`; on return it is durable, and the statement it records may
    /// leave the node.
    fn save(&self, record: &SafetyRecord) -> Result<(), String>;
}

/// The record in the chain store (for the simulator and tests, and homes made before
/// the record moved beside the keys): none means never signed.
pub struct InStore(pub Arc<dyn Store>);

impl SafetyStore for InStore {
    fn load(&self) -> Result<SignedBefore, String> {
        match self.0.safety_record().map_err(|e| e.to_string())? {
            Some(bytes) if !bytes.is_empty() => SafetyRecord::from_bytes(&bytes)
                .map(|r| SignedBefore::Signed(Box::new(r)))
                .map_err(|e| e.to_string()),
            _ => Ok(SignedBefore::Never),
        }
    }

    fn save(&self, record: &SafetyRecord) -> Result<(), String> {
        self.0
            .save_safety_record(&record.to_bytes())
            .map_err(|e| e.to_string())
    }
}
