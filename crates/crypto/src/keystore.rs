//! A password-encrypted key file.
//!
//! The secret is encrypted with XChaCha20-Poly1305 under a key derived from the
//! password by argon2id (memory-hard). The file is JSON so an operator can see what it
//! is; its header (version, KDF parameters, salt) is authenticated as associated data,
//! so editing any of it makes decryption fail. A wrong password and a damaged file
//! give distinct, clear errors; nothing here panics on a hostile file.

use std::path::Path;

use argon2::{Algorithm, Argon2, Params, Version};
use chacha20poly1305::aead::{Aead as _, KeyInit, Payload};
use chacha20poly1305::XChaCha20Poly1305;
use rand::{CryptoRng, RngCore};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

/// The only file version this code reads and writes.
const VERSION: u32 = 1;

/// Bounds that a file's KDF parameters must respect, so a hostile file cannot make
/// the node allocate unbounded memory or spin forever.
const MAX_MEMORY_KIB: u32 = 4 * 1024 * 1024;
const MAX_ITERATIONS: u32 = 64;
const MAX_PARALLELISM: u32 = 16;
/// Largest secret a keystore holds: keys, or a small document such as a wallet's
/// portfolio.
const MAX_SECRET: usize = 16 << 20;

/// What went wrong with a keystore.
#[derive(Debug, thiserror::Error)]
pub enum KeystoreError {
    /// The password is wrong (or the encrypted part was altered).
    #[error("wrong password, or the keystore's encrypted data was altered")]
    WrongPassword,
    /// The file is not a well-formed keystore.
    #[error("corrupted keystore: {0}")]
    Corrupted(String),
    /// The file is from an unknown version.
    #[error("unsupported keystore version {0} (this build reads version {VERSION})")]
    UnsupportedVersion(u32),
    /// The KDF parameters are outside the accepted bounds.
    #[error("keystore KDF parameters out of bounds: {0}")]
    BadParams(String),
    /// Reading or writing the file failed.
    #[error("keystore file {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// argon2id cost parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KdfParams {
    /// Memory in KiB.
    pub memory_kib: u32,
    /// Passes over memory.
    pub iterations: u32,
    /// Lanes.
    pub parallelism: u32,
}

impl KdfParams {
    /// The production default: 64 MiB, 3 passes, 1 lane (OWASP's argon2id guidance).
    pub const DEFAULT: KdfParams = KdfParams {
        memory_kib: 64 * 1024,
        iterations: 3,
        parallelism: 1,
    };

    /// Cheap parameters for tests and throw-away local networks. Never for real keys.
    pub const INSECURE_FAST: KdfParams = KdfParams {
        memory_kib: 64,
        iterations: 1,
        parallelism: 1,
    };

    fn argon2(&self) -> Result<Argon2<'static>, KeystoreError> {
        if self.memory_kib > MAX_MEMORY_KIB
            || self.iterations == 0
            || self.iterations > MAX_ITERATIONS
            || self.parallelism == 0
            || self.parallelism > MAX_PARALLELISM
        {
            return Err(KeystoreError::BadParams(format!("{self:?}")));
        }
        let params = Params::new(self.memory_kib, self.iterations, self.parallelism, Some(32))
            .map_err(|e| KeystoreError::BadParams(e.to_string()))?;
        Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
    }
}

impl Default for KdfParams {
    fn default() -> Self {
        KdfParams::DEFAULT
    }
}

/// An encrypted key file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Keystore {
    /// File format version.
    pub version: u32,
    /// What the secret is, e.g. "validator-consensus-key" (authenticated, not secret).
    pub label: String,
    /// argon2id parameters.
    pub kdf: KdfParams,
    /// argon2id salt, hex.
    pub salt: String,
    /// XChaCha20-Poly1305 nonce, hex.
    pub nonce: String,
    /// The encrypted secret, hex.
    pub ciphertext: String,
}

impl Keystore {
    /// Encrypts `secret` under `password`.
    pub fn encrypt<R: RngCore + CryptoRng>(
        label: &str,
        secret: &[u8],
        password: &str,
        kdf: KdfParams,
        rng: &mut R,
    ) -> Result<Keystore, KeystoreError> {
        if secret.len() > MAX_SECRET {
            return Err(KeystoreError::Corrupted(format!(
                "secret of {} bytes is larger than {MAX_SECRET}",
                secret.len()
            )));
        }
        let mut salt = [0u8; 16];
        rng.fill_bytes(&mut salt);
        let mut nonce = [0u8; 24];
        rng.fill_bytes(&mut nonce);
        let mut store = Keystore {
            version: VERSION,
            label: label.to_string(),
            kdf,
            salt: hex::encode(salt),
            nonce: hex::encode(nonce),
            ciphertext: String::new(),
        };
        let key = store.derive_key(password)?;
        let cipher = XChaCha20Poly1305::new((&*key).into());
        let aad = store.associated_data();
        let ciphertext = cipher
            .encrypt(
                (&nonce).into(),
                Payload {
                    msg: secret,
                    aad: &aad,
                },
            )
            .map_err(|_| KeystoreError::Corrupted("encryption failed".into()))?;
        store.ciphertext = hex::encode(ciphertext);
        Ok(store)
    }

    /// Decrypts the secret.
    pub fn decrypt(&self, password: &str) -> Result<Zeroizing<Vec<u8>>, KeystoreError> {
        if self.version != VERSION {
            return Err(KeystoreError::UnsupportedVersion(self.version));
        }
        let nonce: [u8; 24] = decode_hex(&self.nonce, "nonce")?
            .try_into()
            .map_err(|_| KeystoreError::Corrupted("nonce must be 24 bytes".into()))?;
        let ciphertext = decode_hex(&self.ciphertext, "ciphertext")?;
        if ciphertext.len() > MAX_SECRET + 16 {
            return Err(KeystoreError::Corrupted("ciphertext too large".into()));
        }
        let key = self.derive_key(password)?;
        let cipher = XChaCha20Poly1305::new((&*key).into());
        let aad = self.associated_data();
        cipher
            .decrypt(
                (&nonce).into(),
                Payload {
                    msg: &ciphertext,
                    aad: &aad,
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| KeystoreError::WrongPassword)
    }

    /// Parses a keystore from its JSON text.
    pub fn from_json(text: &[u8]) -> Result<Keystore, KeystoreError> {
        let store: Keystore =
            serde_json::from_slice(text).map_err(|e| KeystoreError::Corrupted(e.to_string()))?;
        if store.version != VERSION {
            return Err(KeystoreError::UnsupportedVersion(store.version));
        }
        Ok(store)
    }

    /// The JSON text of this keystore.
    pub fn to_json(&self) -> String {
        // Serializing plain strings and integers cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// Reads a keystore file.
    pub fn load(path: &Path) -> Result<Keystore, KeystoreError> {
        let text = std::fs::read(path).map_err(|source| KeystoreError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Keystore::from_json(&text)
    }

    /// Writes the keystore to `path` (mode 0600 on Unix), via a temporary file and a
    /// rename so a crash never leaves a half-written key file.
    pub fn save(&self, path: &Path) -> Result<(), KeystoreError> {
        let io = |source| KeystoreError::Io {
            path: path.display().to_string(),
            source,
        };
        let tmp = path.with_extension("tmp");
        {
            use std::io::Write;
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create(true).truncate(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                options.mode(0o600);
            }
            let mut file = options.open(&tmp).map_err(io)?;
            file.write_all(self.to_json().as_bytes()).map_err(io)?;
            file.sync_all().map_err(io)?;
        }
        std::fs::rename(&tmp, path).map_err(io)
    }

    fn derive_key(&self, password: &str) -> Result<Zeroizing<[u8; 32]>, KeystoreError> {
        let salt = decode_hex(&self.salt, "salt")?;
        if !(8..=64).contains(&salt.len()) {
            return Err(KeystoreError::Corrupted(
                "salt must be 8 to 64 bytes".into(),
            ));
        }
        let mut key = Zeroizing::new([0u8; 32]);
        self.kdf
            .argon2()?
            .hash_password_into(password.as_bytes(), &salt, &mut *key)
            .map_err(|e| KeystoreError::BadParams(e.to_string()))?;
        Ok(key)
    }

    fn associated_data(&self) -> Vec<u8> {
        format!(
            "mpms-keystore|v{}|{}|{}|{}|{}|{}",
            self.version,
            self.label,
            self.kdf.memory_kib,
            self.kdf.iterations,
            self.kdf.parallelism,
            self.salt
        )
        .into_bytes()
    }
}

fn decode_hex(text: &str, field: &str) -> Result<Vec<u8>, KeystoreError> {
    hex::decode(text).map_err(|e| KeystoreError::Corrupted(format!("{field}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn store() -> Keystore {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(3);
        Keystore::encrypt(
            "test-key",
            b"top secret seed",
            "correct horse",
            KdfParams::INSECURE_FAST,
            &mut rng,
        )
        .expect("encrypts")
    }

    #[test]
    fn round_trip_through_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("key.json");
        store().save(&path).expect("saves");
        let loaded = Keystore::load(&path).expect("loads");
        assert_eq!(
            &*loaded.decrypt("correct horse").expect("decrypts"),
            b"top secret seed"
        );
    }

    #[test]
    fn wrong_password_is_a_clear_error() {
        assert!(matches!(
            store().decrypt("wrong"),
            Err(KeystoreError::WrongPassword)
        ));
    }

    #[test]
    fn tampering_is_detected() {
        let mut s = store();
        s.label = "other".into();
        assert!(matches!(
            s.decrypt("correct horse"),
            Err(KeystoreError::WrongPassword)
        ));
        let mut s = store();
        s.kdf.iterations = 2;
        assert!(matches!(
            s.decrypt("correct horse"),
            Err(KeystoreError::WrongPassword)
        ));
        let mut s = store();
        let flipped = if &s.ciphertext[..2] == "00" {
            "01"
        } else {
            "00"
        };
        s.ciphertext.replace_range(0..2, flipped);
        assert!(s.decrypt("correct horse").is_err());
        let mut s = store();
        s.nonce = "zz".into();
        assert!(matches!(
            s.decrypt("correct horse"),
            Err(KeystoreError::Corrupted(_))
        ));
        let mut s = store();
        s.kdf.memory_kib = u32::MAX;
        assert!(matches!(
            s.decrypt("correct horse"),
            Err(KeystoreError::BadParams(_))
        ));
    }

    #[test]
    fn corrupted_files_never_panic() {
        for text in [
            &b""[..],
            b"{",
            b"null",
            b"{\"version\":1}",
            b"{\"version\":9,\"label\":\"\",\"kdf\":{\"memory_kib\":1,\"iterations\":1,\"parallelism\":1},\"salt\":\"\",\"nonce\":\"\",\"ciphertext\":\"\"}",
            &[0xff, 0xfe, 0x00],
        ] {
            assert!(Keystore::from_json(text).is_err());
        }
        let mut json = store().to_json();
        json.truncate(json.len() / 2);
        assert!(matches!(
            Keystore::from_json(json.as_bytes()),
            Err(KeystoreError::Corrupted(_))
        ));
    }
}
