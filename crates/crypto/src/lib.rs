//! Cryptographic primitives of MPMS.
//!
//! Everything the chain signs, hashes or encrypts goes through this crate:
//!
//! - [`Hash`]: SHA-256 digests;
//! - [`SigningKey`], [`PublicKey`], [`Signature`]: ed25519 with **domain separation**
//!   (the chain id and a [`Domain`] are part of every signed message), plus batch
//!   verification; one verification rule for single signatures and batches
//!   (`verify`: canonical encodings, no small-order points, the cofactored
//!   equation); a signature found valid once is remembered, so the node checks
//!   each once ([`verified`]);
//! - [`merkle`]: a binary Merkle tree with inclusion proofs;
//! - [`seal`]: HPKE (RFC 9180) sealing to a recipient's X25519 key, and the symmetric
//!   content encryption that credentials use;
//! - [`entry`]: entry keys, one per entry of a subject's record, that only the
//!   subject signs with and nobody else links to it;
//! - [`signer_seal`]: a short message sealed to whoever holds an ed25519 key (an
//!   entry key has no encryption key of its own);
//! - [`keystore`]: a password-encrypted key file (argon2id + XChaCha20-Poly1305).
//!
//! The crate knows nothing of transactions or blocks. Randomness always comes in from
//! the caller, so tests and the simulator stay deterministic.

mod bytes;
#[cfg(feature = "testkit")]
pub mod edge;
pub mod entry;
mod hash;
pub mod keystore;
pub mod merkle;
pub mod seal;
mod signature;
pub mod signer_seal;
pub mod verified;
mod verify;

pub use entry::EntryTweak;
pub use hash::{Hash, Hasher};
pub use keystore::{KdfParams, Keystore, KeystoreError};
pub use merkle::{MerkleProof, MerkleTree};
/// The random-number traits this crate takes randomness through.
pub use rand::{CryptoRng, RngCore};
pub use seal::{
    ContentKey, DecryptionKey, EncryptedContent, EncryptionKey, SealError, Sealed, Sealer,
};
pub use signature::{
    signing_message, verify_batch, BatchItem, Domain, PublicKey, Signature, SignatureError,
    SigningKey,
};
pub use signer_seal::{open_as_signer, seal_to_signer, SignerSealed};
pub use verified::{signature_checks, SignatureChecks};

/// Errors from parsing keys, hashes and other fixed-size values from text or bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// The text is not valid hexadecimal.
    #[error("invalid hex: {0}")]
    Hex(String),
    /// The value has the wrong number of bytes.
    #[error("expected {expected} bytes, got {got}")]
    Length {
        /// Bytes expected.
        expected: usize,
        /// Bytes given.
        got: usize,
    },
    /// The bytes are not a valid point or key.
    #[error("invalid key: {0}")]
    InvalidKey(String),
}
