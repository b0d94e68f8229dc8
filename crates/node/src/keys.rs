//! Key files, each an encrypted keystore (argon2id + XChaCha20-Poly1305):
//!
//! - an **account key file** holds an account's signing key and its encryption key
//!   (`mpmsd keys generate`, and a home's `keys/operator.key`, the institution's
//!   operator account);
//! - a **consensus keystore** holds a validator's consensus keys: the one in force
//!   and, during a rotation, the next one. There is one such file per validator, so
//!   there is one file to back up after a rotation.

use std::path::{Path, PathBuf};

use mpms_crypto::keystore::{KdfParams, Keystore, KeystoreError};
use mpms_crypto::{DecryptionKey, PublicKey, SigningKey};
use rand::rngs::OsRng;
use zeroize::Zeroizing;

/// The keystore label of an account key file.
pub const ACCOUNT_LABEL: &str = "mpms-account-keys";

/// The keystore label of a consensus keystore.
pub const CONSENSUS_LABEL: &str = "mpms-consensus-keys";

/// Most consensus keys one keystore holds (the one in force, a next one, and a few
/// retired ones an operator has not pruned).
pub const MAX_CONSENSUS_KEYS: usize = 8;

/// Why a key file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    /// The file could not be read, decrypted or written.
    #[error("{path}: {source}")]
    Keystore {
        /// The file.
        path: PathBuf,
        /// Why (wrong password, damaged file, I/O).
        source: KeystoreError,
    },
    /// The file decrypts, but holds something else.
    #[error("{path}: {reason}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A key file is never overwritten.
    #[error("{0} exists: not overwriting a key file")]
    Exists(PathBuf),
    /// A directory could not be created.
    #[error("{path}: {source}")]
    Io {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// A derived key (an entry key) has no seed to write: it is never a key file.
fn no_seed(path: &Path) -> KeyFileError {
    KeyFileError::Invalid {
        path: path.to_path_buf(),
        reason: "a derived key has no seed to save".into(),
    }
}

fn keystore_error(path: &Path) -> impl FnOnce(KeystoreError) -> KeyFileError + '_ {
    move |source| KeyFileError::Keystore {
        path: path.to_path_buf(),
        source,
    }
}

/// Decrypts the keystore at `path`, which must carry `label`.
fn open(path: &Path, label: &str, password: &str) -> Result<Zeroizing<Vec<u8>>, KeyFileError> {
    let keystore = Keystore::load(path).map_err(keystore_error(path))?;
    if keystore.label != label {
        return Err(KeyFileError::Invalid {
            path: path.to_path_buf(),
            reason: format!("holds {:?}, not {label:?}", keystore.label),
        });
    }
    keystore.decrypt(password).map_err(keystore_error(path))
}

/// Encrypts `secret` and writes it to `path` atomically (mode 0600), creating the
/// directory.
fn seal(
    path: &Path,
    label: &str,
    secret: &[u8],
    password: &str,
    kdf: KdfParams,
) -> Result<(), KeyFileError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| KeyFileError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
    }
    Keystore::encrypt(label, secret, password, kdf, &mut OsRng)
        .and_then(|k| k.save(path))
        .map_err(keystore_error(path))
}

/// An account's keys: it signs transactions with the signing key (whose public key
/// is the account id) and opens what is sealed to it with the decryption key.
pub struct AccountKeys {
    /// Signs transactions.
    pub signing: SigningKey,
    /// Opens credentials and grants sealed to the account.
    pub decryption: DecryptionKey,
}

impl AccountKeys {
    /// Fresh keys.
    pub fn generate() -> AccountKeys {
        AccountKeys {
            signing: SigningKey::generate(&mut OsRng),
            decryption: DecryptionKey::generate(&mut OsRng),
        }
    }

    /// The account id.
    pub fn id(&self) -> PublicKey {
        self.signing.public_key()
    }

    /// Writes the keys to a new file at `path`, encrypted under `password`; refuses
    /// to overwrite a file.
    pub fn save(&self, path: &Path, password: &str, kdf: KdfParams) -> Result<(), KeyFileError> {
        if path.exists() {
            return Err(KeyFileError::Exists(path.to_path_buf()));
        }
        let seed = Zeroizing::new(self.signing.to_seed().ok_or_else(|| no_seed(path))?);
        let mut secret = Zeroizing::new(Vec::with_capacity(64));
        secret.extend_from_slice(seed.as_ref());
        secret.extend_from_slice(&self.decryption.to_bytes());
        seal(path, ACCOUNT_LABEL, &secret, password, kdf)
    }

    /// Opens the account key file at `path`.
    pub fn load(path: &Path, password: &str) -> Result<AccountKeys, KeyFileError> {
        let secret = open(path, ACCOUNT_LABEL, password)?;
        let invalid = |reason: &str| KeyFileError::Invalid {
            path: path.to_path_buf(),
            reason: reason.into(),
        };
        if secret.len() != 64 {
            return Err(invalid("account keys are 64 bytes"));
        }
        let mut seed = Zeroizing::new([0u8; 32]);
        seed.copy_from_slice(&secret[..32]);
        let mut dk = Zeroizing::new([0u8; 32]);
        dk.copy_from_slice(&secret[32..]);
        Ok(AccountKeys {
            signing: SigningKey::from_seed(&seed),
            decryption: DecryptionKey::from_bytes(*dk)
                .map_err(|_| invalid("not a valid encryption key"))?,
        })
    }
}

/// A validator's consensus keys, oldest first. Which one signs is decided by the
/// chain: the node signs with the key the authority set names for its operator.
pub struct ConsensusKeys {
    keys: Vec<SigningKey>,
}

impl ConsensusKeys {
    /// One fresh key.
    pub fn generate() -> ConsensusKeys {
        ConsensusKeys {
            keys: vec![SigningKey::generate(&mut OsRng)],
        }
    }

    /// These keys (never empty).
    pub fn from_keys(keys: Vec<SigningKey>) -> Option<ConsensusKeys> {
        (!keys.is_empty() && keys.len() <= MAX_CONSENSUS_KEYS).then_some(ConsensusKeys { keys })
    }

    /// The keys, oldest first.
    pub fn keys(&self) -> &[SigningKey] {
        &self.keys
    }

    /// The newest key.
    pub fn newest(&self) -> &SigningKey {
        // `keys` is never empty (every constructor ensures it).
        &self.keys[self.keys.len() - 1]
    }

    /// The keys, the first one apart: (first, the others).
    pub fn into_parts(self) -> (SigningKey, Vec<SigningKey>) {
        let mut keys = self.keys.into_iter();
        // Never empty (see above); `generate` is only a fallback for the type system.
        let first = keys
            .next()
            .unwrap_or_else(|| SigningKey::generate(&mut OsRng));
        (first, keys.collect())
    }

    /// Adds a fresh key (for a rotation) and returns its public key.
    pub fn add_new(&mut self) -> Result<PublicKey, String> {
        if self.keys.len() >= MAX_CONSENSUS_KEYS {
            return Err(format!(
                "the keystore already holds {MAX_CONSENSUS_KEYS} consensus keys"
            ));
        }
        let key = SigningKey::generate(&mut OsRng);
        let public = key.public_key();
        self.keys.push(key);
        Ok(public)
    }

    /// Writes the keys to `path`, encrypted under `password`, replacing the file
    /// atomically (a crash leaves the old file or the new one, never a mix).
    pub fn save(&self, path: &Path, password: &str, kdf: KdfParams) -> Result<(), KeyFileError> {
        let mut secret = Zeroizing::new(Vec::with_capacity(32 * self.keys.len()));
        for key in &self.keys {
            let seed = Zeroizing::new(key.to_seed().ok_or_else(|| no_seed(path))?);
            secret.extend_from_slice(seed.as_ref());
        }
        seal(path, CONSENSUS_LABEL, &secret, password, kdf)
    }

    /// Opens the consensus keystore at `path`.
    pub fn load(path: &Path, password: &str) -> Result<ConsensusKeys, KeyFileError> {
        let secret = open(path, CONSENSUS_LABEL, password)?;
        let count = secret.len() / 32;
        if secret.len() % 32 != 0 || count == 0 || count > MAX_CONSENSUS_KEYS {
            return Err(KeyFileError::Invalid {
                path: path.to_path_buf(),
                reason: format!(
                    "holds {} bytes, not 1 to {MAX_CONSENSUS_KEYS} keys of 32",
                    secret.len()
                ),
            });
        }
        let keys = secret
            .chunks_exact(32)
            .map(|chunk| {
                let mut seed = Zeroizing::new([0u8; 32]);
                seed.copy_from_slice(chunk);
                SigningKey::from_seed(&seed)
            })
            .collect();
        Ok(ConsensusKeys { keys })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn account_keys_round_trip_and_refuse_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys").join("a.key");
        let keys = AccountKeys::generate();
        keys.save(&path, "pw-12345678", KdfParams::INSECURE_FAST)
            .unwrap();
        let back = AccountKeys::load(&path, "pw-12345678").unwrap();
        assert_eq!(back.id(), keys.id());
        assert_eq!(
            back.decryption.encryption_key(),
            keys.decryption.encryption_key()
        );
        assert!(matches!(
            keys.save(&path, "x", KdfParams::INSECURE_FAST),
            Err(KeyFileError::Exists(_))
        ));
        assert!(matches!(
            AccountKeys::load(&path, "wrong"),
            Err(KeyFileError::Keystore { .. })
        ));
        // A consensus keystore is not an account key file.
        assert!(matches!(
            ConsensusKeys::load(&path, "pw-12345678"),
            Err(KeyFileError::Invalid { .. })
        ));
    }

    #[test]
    fn consensus_keys_grow_and_are_rewritten_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("consensus.keystore");
        let mut keys = ConsensusKeys::generate();
        keys.save(&path, "pw-12345678", KdfParams::INSECURE_FAST)
            .unwrap();
        let first = keys.newest().public_key();
        let next = keys.add_new().unwrap();
        keys.save(&path, "pw-12345678", KdfParams::INSECURE_FAST)
            .unwrap();
        let back = ConsensusKeys::load(&path, "pw-12345678").unwrap();
        let publics: Vec<PublicKey> = back.keys().iter().map(SigningKey::public_key).collect();
        assert_eq!(publics, vec![first, next]);
        assert_eq!(back.newest().public_key(), next);
        for _ in 2..MAX_CONSENSUS_KEYS {
            keys.add_new().unwrap();
        }
        assert!(keys.add_new().is_err());
    }
}
