//! The HTTP API's request and response types.
//!
//! The node builds its answers from these types and the OpenAPI document is derived
//! from them, so the document and the answers cannot disagree; a client decodes the
//! same types. Ids, keys and hashes are lowercase hex in JSON (see
//! [`mpms_crypto::Hash`]); heights, nonces, amounts and times are JSON numbers.

mod events;
pub mod read_auth;
mod responses;

pub use events::{BlockEvent, LaggedEvent, TxEvent};
pub use responses::*;

/// The most items a list route returns at once, and its default.
pub const MAX_PAGE: u32 = 1_000;
/// The default of `limit` on list routes.
pub const DEFAULT_PAGE: u32 = 100;
