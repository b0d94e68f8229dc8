//! Encryption of personal data.
//!
//! - [`seal`] / [`open`]: HPKE (RFC 9180) in base mode with the suite
//!   DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, ChaCha20-Poly1305, through the `hpke` crate.
//!   Used to seal a credential's content key to its subject, and re-seal it to a grantee.
//! - [`ContentKey`]: a random 256-bit key that encrypts a credential's content with
//!   ChaCha20-Poly1305. The content is encrypted once; only the small key is sealed
//!   to each reader, so granting access never re-encrypts or re-publishes the content.

use chacha20poly1305::aead::{Aead as _, KeyInit, Payload};
use chacha20poly1305::ChaCha20Poly1305;
use hpke::{Deserializable, Kem as _, OpModeR, OpModeS, Serializable};
use rand::{CryptoRng, RngCore};
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::bytes::fixed_bytes_type;
use crate::ParseError;

type Kem = hpke::kem::X25519HkdfSha256;
type Kdf = hpke::kdf::HkdfSha256;
type Aead = hpke::aead::ChaCha20Poly1305;

/// Largest plaintext [`seal`] and [`ContentKey::encrypt`] accept (1 MiB).
pub const MAX_PLAINTEXT: usize = 1 << 20;

/// Why sealing or opening failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    /// The recipient's key is not a valid X25519 public key.
    #[error("invalid encryption key")]
    InvalidKey,
    /// Wrong key, or the ciphertext or its associated data was altered.
    #[error("decryption failed: wrong key or altered ciphertext")]
    Decrypt,
    /// The plaintext is larger than [`MAX_PLAINTEXT`].
    #[error("plaintext of {0} bytes exceeds the limit")]
    TooLarge(usize),
    /// An HPKE operation failed for another reason.
    #[error("hpke: {0}")]
    Hpke(String),
}

/// An X25519 public key that others seal data to.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EncryptionKey([u8; 32]);

impl EncryptionKey {
    /// Wraps 32 raw bytes (checked when used).
    pub const fn from_bytes(bytes: [u8; 32]) -> EncryptionKey {
        EncryptionKey(bytes)
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    fn from_array(bytes: [u8; 32]) -> Result<EncryptionKey, ParseError> {
        Ok(EncryptionKey(bytes))
    }

    fn hpke(&self) -> Result<<Kem as hpke::Kem>::PublicKey, SealError> {
        <Kem as hpke::Kem>::PublicKey::from_bytes(&self.0).map_err(|_| SealError::InvalidKey)
    }
}

fixed_bytes_type!(EncryptionKey, 32);

/// The X25519 secret key matching an [`EncryptionKey`]. Zeroized on drop.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct DecryptionKey([u8; 32]);

impl DecryptionKey {
    /// A fresh random key.
    pub fn generate<R: RngCore + CryptoRng>(rng: &mut R) -> DecryptionKey {
        let mut ikm = [0u8; 32];
        rng.fill_bytes(&mut ikm);
        let key = DecryptionKey::derive(&ikm);
        ikm.zeroize();
        key
    }

    /// The key derived from input keying material `ikm` (RFC 9180 DeriveKeyPair).
    pub fn derive(ikm: &[u8]) -> DecryptionKey {
        let (sk, _) = Kem::derive_keypair(ikm);
        DecryptionKey(sk.to_bytes().into())
    }

    /// Restores a key from its 32 secret bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Result<DecryptionKey, SealError> {
        <Kem as hpke::Kem>::PrivateKey::from_bytes(&bytes).map_err(|_| SealError::InvalidKey)?;
        Ok(DecryptionKey(bytes))
    }

    /// The 32 secret bytes. Handle with care.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0
    }

    fn hpke(&self) -> Result<<Kem as hpke::Kem>::PrivateKey, SealError> {
        <Kem as hpke::Kem>::PrivateKey::from_bytes(&self.0).map_err(|_| SealError::InvalidKey)
    }

    /// The public key others seal to.
    pub fn encryption_key(&self) -> EncryptionKey {
        match self.hpke() {
            Ok(sk) => EncryptionKey(Kem::sk_to_pk(&sk).to_bytes().into()),
            // Unreachable: the bytes were validated on construction.
            Err(_) => EncryptionKey([0u8; 32]),
        }
    }
}

impl std::fmt::Debug for DecryptionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DecryptionKey(public {})", self.encryption_key())
    }
}

/// An HPKE-sealed message: the encapsulated key and the ciphertext.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Sealed {
    /// The sender's ephemeral X25519 public key (HPKE `enc`).
    pub enc: EncryptionKey,
    /// The AEAD ciphertext, tag included. (Encoded as one byte string: the same
    /// bytes as a sequence, written in one copy.)
    #[serde(with = "serde_bytes")]
    pub ciphertext: Vec<u8>,
}

/// Seals `plaintext` to `recipient`. `info` names the purpose (binds the key schedule);
/// `aad` is authenticated but not encrypted.
pub fn seal<R: RngCore + CryptoRng>(
    recipient: &EncryptionKey,
    info: &[u8],
    aad: &[u8],
    plaintext: &[u8],
    rng: &mut R,
) -> Result<Sealed, SealError> {
    if plaintext.len() > MAX_PLAINTEXT {
        return Err(SealError::TooLarge(plaintext.len()));
    }
    let pk = recipient.hpke()?;
    let (enc, ciphertext) =
        hpke::single_shot_seal::<Aead, Kdf, Kem, R>(&OpModeS::Base, &pk, info, plaintext, aad, rng)
            .map_err(|e| SealError::Hpke(e.to_string()))?;
    Ok(Sealed {
        enc: EncryptionKey(enc.to_bytes().into()),
        ciphertext,
    })
}

/// Opens what [`seal`] produced for the holder of `key`, with the same `info` and `aad`.
pub fn open(
    key: &DecryptionKey,
    info: &[u8],
    aad: &[u8],
    sealed: &Sealed,
) -> Result<Vec<u8>, SealError> {
    let sk = key.hpke()?;
    let enc = <Kem as hpke::Kem>::EncappedKey::from_bytes(sealed.enc.as_bytes())
        .map_err(|_| SealError::Decrypt)?;
    hpke::single_shot_open::<Aead, Kdf, Kem>(
        &OpModeR::Base,
        &sk,
        &enc,
        info,
        &sealed.ciphertext,
        aad,
    )
    .map_err(|_| SealError::Decrypt)
}

/// The sending end of one HPKE context with a recipient (RFC 9180 `SetupBaseS`):
/// it seals one message and exports secrets that the recipient derives from the
/// sealed message's `enc` alone (RFC 9180 §5.3), so a value can be bound to the
/// sealed message before its associated data is known.
pub struct Sealer {
    enc: EncryptionKey,
    info: &'static [u8],
    context: hpke::aead::AeadCtxS<Aead, Kdf, Kem>,
}

impl Sealer {
    /// A context with `recipient` for purpose `info`.
    pub fn new<R: RngCore + CryptoRng>(
        recipient: &EncryptionKey,
        info: &'static [u8],
        rng: &mut R,
    ) -> Result<Sealer, SealError> {
        let pk = recipient.hpke()?;
        let (enc, context) =
            hpke::setup_sender::<Aead, Kdf, Kem, R>(&OpModeS::Base, &pk, info, rng)
                .map_err(|e| SealError::Hpke(e.to_string()))?;
        Ok(Sealer {
            enc: EncryptionKey(enc.to_bytes().into()),
            info,
            context,
        })
    }

    /// The `enc` the sealed message will carry.
    pub fn enc(&self) -> &EncryptionKey {
        &self.enc
    }

    /// Fills `out` with the secret exported under `label` (at most 255 × 32 bytes).
    pub fn export(&self, label: &[u8], out: &mut [u8]) -> Result<(), SealError> {
        self.context
            .export(label, out)
            .map_err(|e| SealError::Hpke(e.to_string()))
    }

    /// Seals `plaintext` with `aad`: what [`open`] opens with the same `info`.
    pub fn seal(mut self, aad: &[u8], plaintext: &[u8]) -> Result<Sealed, SealError> {
        if plaintext.len() > MAX_PLAINTEXT {
            return Err(SealError::TooLarge(plaintext.len()));
        }
        let ciphertext = self
            .context
            .seal(plaintext, aad)
            .map_err(|e| SealError::Hpke(e.to_string()))?;
        Ok(Sealed {
            enc: self.enc,
            ciphertext,
        })
    }
}

/// The recipient's side of [`Sealer::export`]: the secret exported under `label` from
/// the context that `enc` opens for `key` with `info`. Needs no ciphertext.
pub fn export_received(
    key: &DecryptionKey,
    info: &[u8],
    enc: &EncryptionKey,
    label: &[u8],
    out: &mut [u8],
) -> Result<(), SealError> {
    let sk = key.hpke()?;
    let enc = <Kem as hpke::Kem>::EncappedKey::from_bytes(enc.as_bytes())
        .map_err(|_| SealError::Decrypt)?;
    let context = hpke::setup_receiver::<Aead, Kdf, Kem>(&OpModeR::Base, &sk, &enc, info)
        .map_err(|_| SealError::Decrypt)?;
    context
        .export(label, out)
        .map_err(|e| SealError::Hpke(e.to_string()))
}

/// A random symmetric key that encrypts one credential's content. Zeroized on drop.
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct ContentKey([u8; 32]);

/// The `info` string under which content keys are sealed with HPKE.
pub const CONTENT_KEY_INFO: &[u8] = b"mpms/content-key/v1";

impl ContentKey {
    /// A fresh random key.
    pub fn generate<R: RngCore + CryptoRng>(rng: &mut R) -> ContentKey {
        let mut key = [0u8; 32];
        rng.fill_bytes(&mut key);
        ContentKey(key)
    }

    /// The raw key bytes. Handle with care.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0
    }

    /// Encrypts `plaintext`, authenticating `aad`.
    pub fn encrypt<R: RngCore + CryptoRng>(
        &self,
        aad: &[u8],
        plaintext: &[u8],
        rng: &mut R,
    ) -> Result<EncryptedContent, SealError> {
        if plaintext.len() > MAX_PLAINTEXT {
            return Err(SealError::TooLarge(plaintext.len()));
        }
        let mut nonce = [0u8; 12];
        rng.fill_bytes(&mut nonce);
        let cipher = ChaCha20Poly1305::new((&self.0).into());
        let ciphertext = cipher
            .encrypt(
                (&nonce).into(),
                Payload {
                    msg: plaintext,
                    aad,
                },
            )
            .map_err(|_| SealError::TooLarge(plaintext.len()))?;
        Ok(EncryptedContent { nonce, ciphertext })
    }

    /// Decrypts what [`ContentKey::encrypt`] produced with the same `aad`.
    pub fn decrypt(&self, aad: &[u8], content: &EncryptedContent) -> Result<Vec<u8>, SealError> {
        let cipher = ChaCha20Poly1305::new((&self.0).into());
        cipher
            .decrypt(
                (&content.nonce).into(),
                Payload {
                    msg: &content.ciphertext,
                    aad,
                },
            )
            .map_err(|_| SealError::Decrypt)
    }

    /// Seals this key to `recipient` with HPKE; `aad` binds it to its credential.
    pub fn seal_to<R: RngCore + CryptoRng>(
        &self,
        recipient: &EncryptionKey,
        aad: &[u8],
        rng: &mut R,
    ) -> Result<Sealed, SealError> {
        seal(recipient, CONTENT_KEY_INFO, aad, &self.0, rng)
    }

    /// Seals this key with `sealer` (a context made with [`CONTENT_KEY_INFO`]); it
    /// opens with [`ContentKey::open_from`].
    pub fn seal_with(&self, sealer: Sealer, aad: &[u8]) -> Result<Sealed, SealError> {
        if sealer.info != CONTENT_KEY_INFO {
            return Err(SealError::Hpke("not a content key context".into()));
        }
        sealer.seal(aad, &self.0)
    }

    /// Opens a content key sealed with [`ContentKey::seal_to`].
    pub fn open_from(
        key: &DecryptionKey,
        aad: &[u8],
        sealed: &Sealed,
    ) -> Result<ContentKey, SealError> {
        let mut bytes = open(key, CONTENT_KEY_INFO, aad, sealed)?;
        let key = <[u8; 32]>::try_from(bytes.as_slice())
            .map(ContentKey)
            .map_err(|_| SealError::Decrypt);
        bytes.zeroize();
        key
    }
}

impl std::fmt::Debug for ContentKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ContentKey(..)")
    }
}

/// Content encrypted under a [`ContentKey`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EncryptedContent {
    /// The 96-bit ChaCha20-Poly1305 nonce.
    pub nonce: [u8; 12],
    /// The ciphertext, tag included.
    #[serde(with = "serde_bytes")]
    pub ciphertext: Vec<u8>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn h(text: &str) -> Vec<u8> {
        hex::decode(text).expect("test vector")
    }

    // RFC 9180, Appendix A.2.1: DHKEM(X25519, HKDF-SHA256), HKDF-SHA256,
    // ChaCha20Poly1305, base mode.
    const INFO: &str = "4f6465206f6e2061204772656369616e2055726e";
    const IKM_E: &str = "909a9b35d3dc4713a5e72a4da274b55d3d3821a37e5d099e74a647db583a904b";
    const PK_EM: &str = "1afa08d3dec047a643885163f1180476fa7ddb54c6a8029ea33f95796bf2ac4a";
    const SK_EM: &str = "f4ec9b33b792c372c1d2c2063507b684ef925b8c75a42dbcbf57d63ccd381600";
    const IKM_R: &str = "1ac01f181fdf9f352797655161c58b75c656a6cc2716dcb66372da835542e1df";
    const PK_RM: &str = "4310ee97d88cc1f088a5576c77ab0cf5c3ac797f3d95139c6c84b5429c59662a";
    const SK_RM: &str = "8057991eef8f1f1af18f4a9491d16a1ce333f695d4db8e38da75975c4478e0fb";
    const ENC: &str = "1afa08d3dec047a643885163f1180476fa7ddb54c6a8029ea33f95796bf2ac4a";
    const PT: &str = "4265617574792069732074727574682c20747275746820626561757479";
    const AAD0: &str = "436f756e742d30";
    const CT0: &str = "1c5250d8034ec2b784ba2cfd69dbdb8af406cfe3ff938e131f0def8c8b60b4db21993c62ce81883d2dd1b51a28";
    const AAD1: &str = "436f756e742d31";
    const CT1: &str = "6b53c051e4199c518de79594e1c4ab18b96f081549d45ce015be002090bb119e85285337cc95ba5f59992dc98c";
    const EXPORTS: [(&str, &str); 3] = [
        (
            "",
            "4bbd6243b8bb54cec311fac9df81841b6fd61f56538a775e7c80a9f40160606e",
        ),
        (
            "00",
            "8c1df14732580e5501b00f82b10a1647b40713191b7c1240ac80e2b68808ba69",
        ),
        (
            "54657374436f6e74657874",
            "5acb09211139c43b3090489a9da433e8a30ee7188ba8b0a9a1ccf0c229283e53",
        ),
    ];

    #[test]
    fn rfc9180_key_derivation() {
        let e = DecryptionKey::derive(&h(IKM_E));
        assert_eq!(hex::encode(e.to_bytes()), SK_EM);
        assert_eq!(e.encryption_key().to_string(), PK_EM);
        let r = DecryptionKey::derive(&h(IKM_R));
        assert_eq!(hex::encode(r.to_bytes()), SK_RM);
        assert_eq!(r.encryption_key().to_string(), PK_RM);
    }

    #[test]
    fn rfc9180_open_and_export() {
        let r = DecryptionKey::derive(&h(IKM_R));
        let sk = r.hpke().expect("valid key");
        let enc = <Kem as hpke::Kem>::EncappedKey::from_bytes(&h(ENC)).expect("valid enc");
        let mut ctx = hpke::setup_receiver::<Aead, Kdf, Kem>(&OpModeR::Base, &sk, &enc, &h(INFO))
            .expect("setup");
        assert_eq!(ctx.open(&h(CT0), &h(AAD0)).expect("opens seq 0"), h(PT));
        assert_eq!(ctx.open(&h(CT1), &h(AAD1)).expect("opens seq 1"), h(PT));
        for (context, expected) in EXPORTS {
            let mut out = [0u8; 32];
            ctx.export(&h(context), &mut out).expect("export");
            assert_eq!(hex::encode(out), expected);
        }
        // The single-shot path used by the chain opens sequence 0.
        let sealed = Sealed {
            enc: ENC.parse().expect("hex"),
            ciphertext: h(CT0),
        };
        assert_eq!(open(&r, &h(INFO), &h(AAD0), &sealed).expect("opens"), h(PT));
    }

    #[test]
    fn seal_round_trip_and_tamper() {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(9);
        let alice = DecryptionKey::generate(&mut rng);
        let mallory = DecryptionKey::generate(&mut rng);
        let sealed = seal(
            &alice.encryption_key(),
            b"info",
            b"aad",
            b"secret",
            &mut rng,
        )
        .expect("seals");
        assert_eq!(
            open(&alice, b"info", b"aad", &sealed).expect("opens"),
            b"secret"
        );
        assert_eq!(
            open(&mallory, b"info", b"aad", &sealed),
            Err(SealError::Decrypt)
        );
        assert_eq!(
            open(&alice, b"info", b"other", &sealed),
            Err(SealError::Decrypt)
        );
        assert_eq!(
            open(&alice, b"other", b"aad", &sealed),
            Err(SealError::Decrypt)
        );
        let mut bad = sealed.clone();
        bad.ciphertext[0] ^= 1;
        assert_eq!(open(&alice, b"info", b"aad", &bad), Err(SealError::Decrypt));
        let mut bad = sealed;
        bad.enc = EncryptionKey::from_bytes([0u8; 32]);
        assert!(open(&alice, b"info", b"aad", &bad).is_err());
    }

    #[test]
    fn content_key_flow() {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(10);
        let subject = DecryptionKey::generate(&mut rng);
        let verifier = DecryptionKey::generate(&mut rng);
        let key = ContentKey::generate(&mut rng);
        let content = key
            .encrypt(b"cred-1", b"name: A. Intern", &mut rng)
            .expect("encrypts");
        let for_subject = key
            .seal_to(&subject.encryption_key(), b"cred-1", &mut rng)
            .expect("seals");
        let opened = ContentKey::open_from(&subject, b"cred-1", &for_subject).expect("opens");
        // The subject re-seals the same key to a verifier.
        let for_verifier = opened
            .seal_to(&verifier.encryption_key(), b"cred-1", &mut rng)
            .expect("seals");
        let key2 = ContentKey::open_from(&verifier, b"cred-1", &for_verifier).expect("opens");
        assert_eq!(
            key2.decrypt(b"cred-1", &content).expect("decrypts"),
            b"name: A. Intern"
        );
        assert_eq!(key2.decrypt(b"cred-2", &content), Err(SealError::Decrypt));
        assert!(ContentKey::open_from(&verifier, b"cred-1", &for_subject).is_err());
    }

    #[test]
    fn oversized_plaintext_is_refused() {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(11);
        let k = DecryptionKey::generate(&mut rng);
        let big = vec![0u8; MAX_PLAINTEXT + 1];
        assert!(matches!(
            seal(&k.encryption_key(), b"", b"", &big, &mut rng),
            Err(SealError::TooLarge(_))
        ));
    }
}

#[cfg(test)]
mod encoding_tests {
    use super::*;

    /// Byte strings must keep the plain sequence encoding (u64 length, then bytes),
    /// in binary and in JSON alike.
    #[test]
    fn ciphertext_encoding_is_a_length_prefixed_byte_string() {
        let sealed = Sealed {
            enc: EncryptionKey::from_bytes([1u8; 32]),
            ciphertext: vec![7, 8, 9],
        };
        let json = serde_json::to_value(&sealed).expect("json");
        assert_eq!(json["ciphertext"], serde_json::json!([7, 8, 9]));
    }
}
