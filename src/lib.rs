//! MPMS: a permissioned Proof-of-Authority blockchain for medical credentials.
//!
//! This umbrella package re-exports the workspace crates and owns the end-to-end
//! tests (`tests/`) and benchmarks (`benches/`).

pub use mpms_crypto as crypto;
pub use mpms_ledger as ledger;
pub use mpms_store as store;
