//! ed25519 keys and domain-separated signatures.
//!
//! Every message the chain signs is prefixed with a fixed tag, the chain id and a
//! [`Domain`] (see [`signing_message`]), so a signature made for one chain or one kind
//! of message can never be replayed as another.

use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::Scalar;
use ed25519_dalek::hazmat::{self, ExpandedSecretKey};
use ed25519_dalek::Signer;
use rand::{CryptoRng, RngCore};
use sha2::Digest;
use zeroize::Zeroize;

use crate::bytes::fixed_bytes_type;
use crate::verified::{self, VERIFIED};
use crate::verify;
use crate::ParseError;

/// The protocol tag that starts every signed message.
const SIGNING_TAG: &[u8] = b"MPMS-SIG-v1";

/// The kind of message being signed. Part of every signed message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Domain {
    /// A transaction.
    Transaction = 1,
    /// A certifier's claim over a credential's content.
    CredentialClaim = 2,
    /// A consensus proposal.
    Proposal = 3,
    /// A consensus prevote.
    Prevote = 4,
    /// A consensus precommit.
    Precommit = 5,
    /// A block header signed outside consensus (exports, attestations).
    Attestation = 6,
    /// Peer-to-peer handshakes and node identity statements.
    Network = 7,
    /// A read of the API that only some parties may make (a subject's listing, its
    /// audit trail, a transaction's sealed values).
    Read = 8,
}

impl Domain {
    /// A stable name for logs and errors.
    pub fn name(self) -> &'static str {
        match self {
            Domain::Transaction => "transaction",
            Domain::CredentialClaim => "credential-claim",
            Domain::Proposal => "proposal",
            Domain::Prevote => "prevote",
            Domain::Precommit => "precommit",
            Domain::Attestation => "attestation",
            Domain::Network => "network",
            Domain::Read => "read",
        }
    }
}

/// The exact bytes that are signed for `message` of kind `domain` on chain `chain_id`:
/// `"MPMS-SIG-v1" || len(chain_id) as u16 LE || chain_id || domain || message`.
pub fn signing_message(chain_id: &str, domain: Domain, message: &[u8]) -> Vec<u8> {
    let chain = chain_id.as_bytes();
    let chain_len = u16::try_from(chain.len()).unwrap_or(u16::MAX);
    let mut out = Vec::with_capacity(SIGNING_TAG.len() + 3 + chain.len() + message.len());
    out.extend_from_slice(SIGNING_TAG);
    out.extend_from_slice(&chain_len.to_le_bytes());
    out.extend_from_slice(&chain[..usize::from(chain_len)]);
    out.push(domain as u8);
    out.extend_from_slice(message);
    out
}

/// Why a signature did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The public key is not a valid, non-degenerate ed25519 point.
    #[error("invalid public key")]
    InvalidKey,
    /// The signature does not verify under the key for this message.
    #[error("signature does not verify")]
    Invalid,
    /// A batch failed; `index` is the first item that fails on its own (or `None` if
    /// every item verifies alone but the batch as a whole does not).
    #[error("batch verification failed at item {index:?}")]
    Batch {
        /// Index of the first failing item.
        index: Option<usize>,
    },
}

/// An ed25519 secret key. Zeroized on drop; never printed.
///
/// Either an RFC 8032 key made from its 32-byte seed, or an **entry key**: a key
/// derived from another by adding a secret scalar (see [`crate::entry`]), which has no
/// seed. Both sign ordinary ed25519 signatures.
#[derive(Clone)]
pub struct SigningKey(Secret);

#[derive(Clone)]
enum Secret {
    Seed(ed25519_dalek::SigningKey),
    Derived(Derived),
}

/// The expanded secret of a derived key: its scalar, the nonce prefix (unique to the
/// key: a prefix shared by two keys whose scalars differ by a known amount would give
/// their secret away) and the public key.
#[derive(Clone)]
struct Derived {
    scalar: Scalar,
    hash_prefix: [u8; 32],
    public: ed25519_dalek::VerifyingKey,
}

impl Drop for Derived {
    fn drop(&mut self) {
        self.scalar.zeroize();
        self.hash_prefix.zeroize();
    }
}

impl SigningKey {
    /// A fresh random key.
    pub fn generate<R: RngCore + CryptoRng>(rng: &mut R) -> SigningKey {
        let mut seed = [0u8; 32];
        rng.fill_bytes(&mut seed);
        let key = SigningKey::from_seed(&seed);
        seed.zeroize();
        key
    }

    /// The key whose 32-byte secret seed is `seed` (RFC 8032 "secret key").
    pub fn from_seed(seed: &[u8; 32]) -> SigningKey {
        SigningKey(Secret::Seed(ed25519_dalek::SigningKey::from_bytes(seed)))
    }

    /// The 32-byte secret seed, for a key made from one (a derived entry key has
    /// none). Handle with care.
    pub fn to_seed(&self) -> Option<[u8; 32]> {
        match &self.0 {
            Secret::Seed(key) => Some(key.to_bytes()),
            Secret::Derived(_) => None,
        }
    }

    /// The matching public key.
    pub fn public_key(&self) -> PublicKey {
        match &self.0 {
            Secret::Seed(key) => PublicKey(key.verifying_key().to_bytes()),
            Secret::Derived(derived) => PublicKey(derived.public.to_bytes()),
        }
    }

    /// Signs `message` as `domain` on chain `chain_id`.
    pub fn sign(&self, chain_id: &str, domain: Domain, message: &[u8]) -> Signature {
        self.sign_raw(&signing_message(chain_id, domain, message))
    }

    /// Signs exactly `bytes`, with no domain prefix. Only for known-answer tests, for
    /// callers that built the prefix with [`signing_message`] themselves, and for
    /// formats with their own signing input (a JWS).
    pub fn sign_raw(&self, bytes: &[u8]) -> Signature {
        match &self.0 {
            Secret::Seed(key) => Signature(key.sign(bytes).to_bytes()),
            Secret::Derived(derived) => {
                let expanded = ExpandedSecretKey {
                    scalar: derived.scalar,
                    hash_prefix: derived.hash_prefix,
                };
                let signature = hazmat::raw_sign::<sha2::Sha512>(&expanded, bytes, &derived.public);
                Signature(signature.to_bytes())
            }
        }
    }

    /// The secret scalar (what the public key is a multiple of the base point by).
    pub(crate) fn secret_scalar(&self) -> Scalar {
        match &self.0 {
            Secret::Seed(key) => ExpandedSecretKey::from(key.as_bytes()).scalar,
            Secret::Derived(derived) => derived.scalar,
        }
    }

    /// The key whose scalar is this key's plus `tweak` (mod the group order), and
    /// whose public key is therefore `self.public_key().tweaked(tweak)`.
    pub(crate) fn tweaked(&self, tweak: &Scalar) -> SigningKey {
        let (scalar, prefix) = match &self.0 {
            Secret::Seed(key) => {
                let expanded = ExpandedSecretKey::from(key.as_bytes());
                (expanded.scalar, expanded.hash_prefix)
            }
            Secret::Derived(derived) => (derived.scalar, derived.hash_prefix),
        };
        let scalar = scalar + tweak;
        let mut hasher = sha2::Sha512::new();
        hasher.update(b"mpms/entry-key/nonce-prefix/v1");
        hasher.update(prefix);
        hasher.update(tweak.as_bytes());
        let wide = hasher.finalize();
        let mut hash_prefix = [0u8; 32];
        hash_prefix.copy_from_slice(&wide[..32]);
        let public = ed25519_dalek::VerifyingKey::from(EdwardsPoint::mul_base(&scalar));
        SigningKey(Secret::Derived(Derived {
            scalar,
            hash_prefix,
            public,
        }))
    }
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKey(public {})", self.public_key())
    }
}

/// An ed25519 public key: identifies accounts, authorities and certifiers.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PublicKey([u8; 32]);

impl PublicKey {
    /// Wraps 32 bytes. Validity as a curve point is checked when verifying, so that
    /// decoding never fails on a well-formed length.
    pub const fn from_bytes(bytes: [u8; 32]) -> PublicKey {
        PublicKey(bytes)
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    fn from_array(bytes: [u8; 32]) -> Result<PublicKey, ParseError> {
        Ok(PublicKey(bytes))
    }

    fn decoded(&self) -> Result<verify::Key, SignatureError> {
        verify::Key::decode(&self.0).ok_or(SignatureError::InvalidKey)
    }

    /// Whether the bytes are a usable ed25519 key: a canonical encoding of a point
    /// that is not of small order.
    pub fn is_valid(&self) -> bool {
        self.decoded().is_ok()
    }

    /// This key plus `tweak` times the base point: the public key of
    /// [`SigningKey::tweaked`]. `None` when this key is not a usable point or the sum
    /// is not one.
    pub(crate) fn tweaked(&self, tweak: &Scalar) -> Option<PublicKey> {
        if !self.is_valid() {
            return None;
        }
        let point = CompressedEdwardsY(self.0).decompress()?;
        let key = PublicKey(
            (point + EdwardsPoint::mul_base(tweak))
                .compress()
                .to_bytes(),
        );
        key.is_valid().then_some(key)
    }

    /// Verifies `signature` over `message` as `domain` on chain `chain_id`, with the
    /// chain's one verification rule ([`crate::verify`]: canonical encodings, no
    /// small-order key or nonce, the cofactored equation), the same alone and in a
    /// batch.
    pub fn verify(
        &self,
        chain_id: &str,
        domain: Domain,
        message: &[u8],
        signature: &Signature,
    ) -> Result<(), SignatureError> {
        self.verify_raw(&signing_message(chain_id, domain, message), signature)
    }

    /// Verifies a signature over exactly `bytes` (no domain prefix). A signature this
    /// process already found valid is not checked again ([`crate::verified`]).
    pub fn verify_raw(&self, bytes: &[u8], signature: &Signature) -> Result<(), SignatureError> {
        let challenge = verify::challenge(&self.0, bytes, &signature.0);
        let id = verified::id(&challenge, &signature.0);
        if VERIFIED.knows(&id) {
            return Ok(());
        }
        let key = self.decoded()?;
        VERIFIED.checked(1);
        if verify::verify_challenged(&key, &signature.0, &challenge) {
            VERIFIED.remember([id]);
            Ok(())
        } else {
            Err(SignatureError::Invalid)
        }
    }
}

fixed_bytes_type!(PublicKey, 32);

/// An ed25519 signature.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Signature([u8; 64]);

impl Signature {
    /// Wraps 64 raw bytes.
    pub const fn from_bytes(bytes: [u8; 64]) -> Signature {
        Signature(bytes)
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; 64] {
        &self.0
    }

    fn from_array(bytes: [u8; 64]) -> Result<Signature, ParseError> {
        Ok(Signature(bytes))
    }
}

fixed_bytes_type!(Signature, 64);

/// One item of a batch verification: the full signed bytes (built with
/// [`signing_message`]), the signature and the key.
#[derive(Debug, Clone)]
pub struct BatchItem {
    /// The signed bytes, domain prefix included.
    pub message: Vec<u8>,
    /// The signature.
    pub signature: Signature,
    /// The signer.
    pub key: PublicKey,
}

impl BatchItem {
    /// An item for `message` of kind `domain` on `chain_id`.
    pub fn new(
        chain_id: &str,
        domain: Domain,
        message: &[u8],
        signature: Signature,
        key: PublicKey,
    ) -> BatchItem {
        BatchItem {
            message: signing_message(chain_id, domain, message),
            signature,
            key,
        }
    }
}

/// Verifies many signatures at once (about twice as fast per signature as one by
/// one), with the same rule as [`PublicKey::verify`]: the batch passes exactly when
/// every item would pass alone, so a block and a piece of evidence can never disagree
/// about a signature. On failure, finds the first item that fails alone.
pub fn verify_batch(items: &[BatchItem]) -> Result<(), SignatureError> {
    if items.is_empty() {
        return Ok(());
    }
    let challenges: Vec<[u8; 64]> = items
        .iter()
        .map(|item| verify::challenge(&item.key.0, &item.message, &item.signature.0))
        .collect();
    let ids: Vec<verified::Id> = challenges
        .iter()
        .zip(items)
        .map(|(challenge, item)| verified::id(challenge, &item.signature.0))
        .collect();
    // Only what this process has not found valid before goes into the batch.
    let fresh = VERIFIED.unknown(&ids);
    if fresh.is_empty() {
        return Ok(());
    }
    let mut keys = Vec::with_capacity(fresh.len());
    for index in &fresh {
        match items[*index].key.decoded() {
            Ok(key) => keys.push(key),
            Err(_) => {
                return Err(SignatureError::Batch {
                    index: Some(*index),
                })
            }
        }
    }
    VERIFIED.checked(fresh.len());
    let all = keys
        .iter()
        .zip(&fresh)
        .map(|(key, i)| (key, &challenges[*i], &items[*i].signature.0));
    if verify::verify_all_challenged(all) {
        VERIFIED.remember(fresh.iter().map(|i| ids[*i]));
        return Ok(());
    }
    let index = items
        .iter()
        .position(|item| item.key.verify_raw(&item.message, &item.signature).is_err());
    Err(SignatureError::Batch { index })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn seed(hex_text: &str) -> [u8; 32] {
        crate::bytes::from_hex::<32>(hex_text).expect("test vector")
    }

    struct Rfc8032Vector {
        secret: &'static str,
        public: &'static str,
        message: &'static str,
        signature: &'static str,
    }

    // RFC 8032, section 7.1, TEST 1, 2 and 3.
    const RFC8032: [Rfc8032Vector; 3] = [
        Rfc8032Vector {
            secret: "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
            public: "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
            message: "",
            signature: "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
        },
        Rfc8032Vector {
            secret: "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
            public: "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
            message: "72",
            signature: "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
        },
        Rfc8032Vector {
            secret: "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
            public: "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
            message: "af82",
            signature: "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a",
        },
    ];

    #[test]
    fn rfc8032_known_answers() {
        for v in RFC8032 {
            let key = SigningKey::from_seed(&seed(v.secret));
            assert_eq!(key.public_key().to_string(), v.public);
            let message = hex::decode(v.message).expect("test vector");
            let sig = key.sign_raw(&message);
            assert_eq!(sig.to_string(), v.signature);
            key.public_key()
                .verify_raw(&message, &sig)
                .expect("verifies");
        }
    }

    #[test]
    fn domain_and_chain_separate_signatures() {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(1);
        let key = SigningKey::generate(&mut rng);
        let pk = key.public_key();
        let sig = key.sign("chain-a", Domain::Transaction, b"hello");
        pk.verify("chain-a", Domain::Transaction, b"hello", &sig)
            .expect("verifies");
        assert_eq!(
            pk.verify("chain-b", Domain::Transaction, b"hello", &sig),
            Err(SignatureError::Invalid)
        );
        assert_eq!(
            pk.verify("chain-a", Domain::Prevote, b"hello", &sig),
            Err(SignatureError::Invalid)
        );
        assert_eq!(
            pk.verify("chain-a", Domain::Transaction, b"hellO", &sig),
            Err(SignatureError::Invalid)
        );
        let other = SigningKey::generate(&mut rng).public_key();
        assert_eq!(
            other.verify("chain-a", Domain::Transaction, b"hello", &sig),
            Err(SignatureError::Invalid)
        );
    }

    #[test]
    fn chain_id_is_length_prefixed() {
        // "ab" + domain 1 must differ from "a" + a message starting with 'b'.
        assert_ne!(
            signing_message("ab", Domain::Transaction, b""),
            signing_message("a", Domain::Transaction, b"b")
        );
    }

    #[test]
    fn small_order_key_is_rejected() {
        // The identity point encoding.
        let mut bytes = [0u8; 32];
        bytes[0] = 1;
        let pk = PublicKey::from_bytes(bytes);
        assert!(!pk.is_valid());
        let sig = Signature::from_bytes([0u8; 64]);
        assert_eq!(pk.verify_raw(b"x", &sig), Err(SignatureError::InvalidKey));
    }

    #[test]
    fn batch_verifies_and_pinpoints_failure() {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(2);
        let mut items: Vec<BatchItem> = (0..64u8)
            .map(|i| {
                let key = SigningKey::generate(&mut rng);
                let sig = key.sign("c", Domain::Transaction, &[i]);
                BatchItem::new("c", Domain::Transaction, &[i], sig, key.public_key())
            })
            .collect();
        verify_batch(&items).expect("all valid");
        verify_batch(&[]).expect("empty batch is valid");
        items[17].message.push(0);
        assert_eq!(
            verify_batch(&items),
            Err(SignatureError::Batch { index: Some(17) })
        );
    }

    /// A signature found valid is remembered, and the memory vouches for nothing else:
    /// not the same signature under another key or over another message, not another
    /// signature for the same message, not a fresh bad item in a batch of known ones.
    #[test]
    fn remembered_signatures_vouch_only_for_themselves() {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(3);
        let key = SigningKey::generate(&mut rng);
        let pk = key.public_key();
        let sig = key.sign("c", Domain::Transaction, b"remembered");
        let before = crate::signature_checks();
        pk.verify("c", Domain::Transaction, b"remembered", &sig)
            .expect("verifies");
        pk.verify("c", Domain::Transaction, b"remembered", &sig)
            .expect("verifies again");
        let after = crate::signature_checks();
        assert!(
            after.remembered > before.remembered,
            "the second was remembered"
        );
        let other = SigningKey::generate(&mut rng).public_key();
        assert_eq!(
            other.verify("c", Domain::Transaction, b"remembered", &sig),
            Err(SignatureError::Invalid)
        );
        assert_eq!(
            pk.verify("c", Domain::Transaction, b"remembereD", &sig),
            Err(SignatureError::Invalid)
        );
        for byte in [0, 31, 32, 63] {
            let mut bytes = *sig.as_bytes();
            bytes[byte] ^= 0x10;
            assert!(pk
                .verify(
                    "c",
                    Domain::Transaction,
                    b"remembered",
                    &Signature::from_bytes(bytes)
                )
                .is_err());
        }
        let mut items: Vec<BatchItem> = (0..8u8)
            .map(|i| {
                let sig = key.sign("c", Domain::Transaction, &[i]);
                BatchItem::new("c", Domain::Transaction, &[i], sig, pk)
            })
            .collect();
        verify_batch(&items).expect("all valid");
        verify_batch(&items).expect("all remembered");
        let forged = BatchItem::new("c", Domain::Transaction, b"forged", sig, pk);
        items.insert(5, forged);
        assert_eq!(
            verify_batch(&items),
            Err(SignatureError::Batch { index: Some(5) })
        );
    }

    #[test]
    fn serde_forms() {
        let key = SigningKey::from_seed(&[7u8; 32]);
        let pk = key.public_key();
        let json = serde_json::to_string(&pk).expect("serializes");
        assert_eq!(json, format!("\"{pk}\""));
        let back: PublicKey = serde_json::from_str(&json).expect("parses");
        assert_eq!(back, pk);
        let sig = key.sign("c", Domain::Transaction, b"m");
        let json = serde_json::to_string(&sig).expect("serializes");
        let back: Signature = serde_json::from_str(&json).expect("parses");
        assert_eq!(back, sig);
        assert!(serde_json::from_str::<Signature>("\"00\"").is_err());
    }
}
