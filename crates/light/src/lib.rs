//! Checking what an MPMS chain says without trusting any node.
//!
//! - [`anchor`]: the trust anchor, a genesis: its chain id and first authority set;
//! - [`authority`]: following the certified chain of authority-set changes from the
//!   anchor, to learn which set finalizes any height, and checking certificates;
//! - [`bundle`]: the proof bundle of a credential and its status proof, and how a
//!   node builds them from its store;
//! - [`verify`]: checking a bundle offline, each check named in the verdict;
//! - [`vc`]: the credential as a W3C Verifiable Credential (VC-JOSE-COSE JWT);
//! - [`sd_jwt`]: the credential as an SD-JWT VC, for selective disclosure;
//! - [`status_list`]: a certifier's W3C Bitstring Status Lists, as nodes publish them.
//!
//! A verifier needs the genesis (or trusts the one in the bundle and compares its
//! hash with the consortium's), the bundle, and optionally the credential's content;
//! nothing else. A node that serves a bundle cannot make a false one verify: every
//! header is certified by more than 2/3 of the set the chain of changes leads to, and
//! every state value is proven against a certified header's state root.

pub mod anchor;
pub mod authority;
pub mod bundle;
pub mod sd_jwt;
pub mod status_list;
#[cfg(feature = "testkit")]
pub mod testkit;
pub mod vc;
pub mod verify;

pub use anchor::{Anchor, AnchorError};
pub use authority::{AuthorityChange, AuthorityPath, CertifiedHeader};
pub use bundle::{GenesisBlock, ProofBundle, StatusProof};
pub use verify::{Check, CheckName, Policy, Verdict};
