//! The Server-Sent Events of `GET /v1/events`: their `data` fields, as JSON.

use mpms_crypto::Hash;
use mpms_ledger::execute::Event;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Event `block`: a block was committed (sent before its transactions' events).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct BlockEvent {
    /// Its height.
    pub height: u64,
    /// Its hash.
    pub hash: Hash,
    /// Its time (Unix milliseconds).
    pub time_ms: u64,
    /// How many transactions it holds.
    pub transactions: u64,
}

/// Event `tx`: a transaction was committed, with what it did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TxEvent {
    /// The transaction's hash.
    pub hash: Hash,
    /// The height of its block.
    pub height: u64,
    /// What it did.
    pub events: Vec<Event>,
}

/// Event `lagged`: the client read too slowly and missed blocks; it should catch up
/// with `GET /v1/blocks/{height}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct LaggedEvent {
    /// How many blocks' events were dropped.
    pub missed_blocks: u64,
}
