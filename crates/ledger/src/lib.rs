//! The MPMS ledger: what the chain records and the rules every node applies.
//!
//! - [`codec`]: the one canonical binary encoding (bincode, fixed configuration);
//! - [`transaction`]: signed transactions and every payload of the domain;
//! - [`block`]: headers, blocks and the transaction Merkle root;
//! - [`vote`]: what authorities sign in consensus, commit certificates, authority sets;
//! - [`genesis`]: the chain's starting state;
//! - [`records`]: what the state holds (accounts, certifiers, credentials, grants, ...);
//! - [`state`]: the key-value [`state::State`] trait, change sets, and the authenticated
//!   state tree whose root every header carries (with proofs of one key's value);
//! - [`execute`]: the deterministic state machine;
//! - [`claims`]: the typed fields a schema declares and the values content gives them;
//! - [`erasable`]: data a transaction commits to by digest, erasable later;
//! - [`credential`]: building, sealing, opening and checking credential content
//!   (used by certifiers, subjects and verifiers off chain);
//! - [`notes`]: an access request's purpose and an inspection's outcome, sealed to
//!   the subject.
//!
//! Personal data never appears in plaintext here: credentials carry a commitment and
//! content encrypted to the subject.

pub mod block;
pub mod claims;
pub mod codec;
pub mod credential;
pub mod erasable;
pub mod evidence;
pub mod execute;
pub mod genesis;
mod history;
pub mod notes;
pub mod params;
pub mod record_schema;
pub mod records;
pub mod state;
#[cfg(feature = "testkit")]
pub mod testkit;
pub mod transaction;
pub mod vote;
pub mod work;

pub use block::{Block, Header};
pub use codec::{decode, encode, DecodeError};
pub use execute::error::{CredentialRuleError, TxError};
pub use execute::{BlockContext, BlockOutcome, Executor, Receipt, SignatureCheck};
pub use genesis::Genesis;
pub use history::History;
pub use params::Params;
pub use state::{MemState, State, StateChanges, StateError};
pub use transaction::{Payload, SignedTransaction, Transaction};
pub use vote::{AuthoritySet, CommitCertificate, SignedVote, Vote, VoteKind};

/// Accounts are named by the ed25519 key that created them (their signing key may
/// rotate later; the id stays).
pub type AccountId = mpms_crypto::PublicKey;
/// A credential's id: the hash of its claim.
pub type CredentialId = mpms_crypto::Hash;
/// An access grant's id.
pub type GrantId = mpms_crypto::Hash;
/// An access request's id.
pub type RequestId = mpms_crypto::Hash;
/// Governance proposals are numbered from 1.
pub type ProposalId = u64;
