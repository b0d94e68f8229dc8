//! A node's home directory: where its configuration, genesis, keys and data live.
//!
//! ```text
//! HOME/
//!   config/node.toml          the configuration (see `config/node.toml` in the repository)
//!   config/genesis.json       the chain's genesis
//!   config/node_key           the peer-to-peer identity (hex secret, mode 0600)
//!   keys/validator.keystore   operator and consensus keys, encrypted (validators only)
//!   keys/password             the keystore password (local test networks only)
//!   data/                     RocksDB
//! ```

use std::path::{Path, PathBuf};

use mpms_crypto::keystore::{KdfParams, Keystore};
use mpms_crypto::SigningKey;
use mpms_ledger::Genesis;
use rand::rngs::OsRng;
use rand::RngCore;

use crate::config::{CheckedNodeConfig, ConfigError, NodeConfig};
use crate::core::ValidatorKeys;

/// The keystore label of a validator's keys.
pub const VALIDATOR_LABEL: &str = "mpms-validator-keys";

/// The keystore label of a validator's next consensus key.
pub const NEXT_CONSENSUS_LABEL: &str = "mpms-next-consensus-key";

/// Where a validator keeps its next consensus key (for a rotation), in its home.
pub const NEXT_CONSENSUS_KEYSTORE: &str = "keys/next_consensus.keystore";

/// The environment variable holding the keystore password.
pub const PASSWORD_ENV: &str = "MPMS_KEYSTORE_PASSWORD";

/// Why a home cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum HomeError {
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A file holds something that is not what it should be.
    #[error("{path}: {reason}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The keystore could not be opened.
    #[error("{path}: {source}")]
    Keystore {
        /// The keystore file.
        path: PathBuf,
        /// Why (wrong password, corrupted file...).
        source: mpms_crypto::keystore::KeystoreError,
    },
    /// The validator keystore exists but no password was given.
    #[error(
        "the validator keystore {0} needs a password: set node.password_file or {PASSWORD_ENV}"
    )]
    NoPassword(PathBuf),
    /// `init` would overwrite an existing home.
    #[error("{0} already holds a node configuration")]
    Exists(PathBuf),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> HomeError + '_ {
    move |source| HomeError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// A node's home directory.
#[derive(Debug, Clone)]
pub struct Home {
    root: PathBuf,
}

impl Home {
    /// The home at `root`.
    pub fn new(root: impl Into<PathBuf>) -> Home {
        Home { root: root.into() }
    }

    /// The directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `config/node.toml`.
    pub fn config_path(&self) -> PathBuf {
        self.root.join("config").join("node.toml")
    }

    /// A path of the configuration, relative to the home unless absolute.
    pub fn resolve(&self, path: &Path) -> PathBuf {
        if path.is_absolute() {
            path.to_path_buf()
        } else {
            self.root.join(path)
        }
    }

    /// Reads and checks the configuration.
    pub fn load_config(&self) -> Result<CheckedNodeConfig, HomeError> {
        Ok(NodeConfig::load(&self.config_path())?)
    }

    /// Reads the genesis named by the configuration.
    pub fn load_genesis(&self, config: &NodeConfig) -> Result<Genesis, HomeError> {
        let path = self.resolve(&config.node.genesis_file);
        let text = std::fs::read(&path).map_err(io(&path))?;
        Genesis::from_json(&text).map_err(|e| HomeError::Invalid {
            path,
            reason: e.to_string(),
        })
    }

    /// Reads the peer-to-peer secret key.
    pub fn load_node_key(&self, config: &NodeConfig) -> Result<[u8; 32], HomeError> {
        let path = self.resolve(&config.node.node_key_file);
        let text = std::fs::read_to_string(&path).map_err(io(&path))?;
        let bytes = hex::decode(text.trim()).map_err(|e| HomeError::Invalid {
            path: path.clone(),
            reason: format!("not hex: {e}"),
        })?;
        bytes.try_into().map_err(|_| HomeError::Invalid {
            path,
            reason: "a node key is 32 bytes".into(),
        })
    }

    /// The keystore password: the password file if configured, else the environment.
    pub fn password(&self, config: &NodeConfig) -> Result<Option<String>, HomeError> {
        if !config.node.password_file.as_os_str().is_empty() {
            let path = self.resolve(&config.node.password_file);
            let text = std::fs::read_to_string(&path).map_err(io(&path))?;
            return Ok(Some(text.trim_end_matches(['\n', '\r']).to_string()));
        }
        Ok(std::env::var(PASSWORD_ENV).ok())
    }

    /// Decrypts the keystore at `path` with the configured password; `None` if there
    /// is no file.
    fn open_keystore(
        &self,
        config: &NodeConfig,
        path: &Path,
    ) -> Result<Option<zeroize::Zeroizing<Vec<u8>>>, HomeError> {
        if !path.exists() {
            return Ok(None);
        }
        let password = self
            .password(config)?
            .ok_or_else(|| HomeError::NoPassword(path.to_path_buf()))?;
        let failed = |source| HomeError::Keystore {
            path: path.to_path_buf(),
            source,
        };
        let keystore = Keystore::load(path).map_err(failed)?;
        keystore.decrypt(&password).map(Some).map_err(failed)
    }

    /// Opens the validator keystore, if this node has one.
    pub fn load_validator(&self, config: &NodeConfig) -> Result<Option<ValidatorKeys>, HomeError> {
        if config.node.validator_keystore.as_os_str().is_empty() {
            return Ok(None);
        }
        let path = self.resolve(&config.node.validator_keystore);
        let Some(secret) = self.open_keystore(config, &path)? else {
            return Ok(None);
        };
        validator_keys_from_secret(&secret)
            .map(Some)
            .ok_or_else(|| HomeError::Invalid {
                path,
                reason: "a validator keystore holds two 32-byte keys".into(),
            })
    }

    /// The next consensus key, if one was made for a rotation
    /// ([`NEXT_CONSENSUS_KEYSTORE`]).
    pub fn load_next_consensus_key(
        &self,
        config: &NodeConfig,
    ) -> Result<Option<SigningKey>, HomeError> {
        let path = self.resolve(Path::new(NEXT_CONSENSUS_KEYSTORE));
        let Some(secret) = self.open_keystore(config, &path)? else {
            return Ok(None);
        };
        let seed: [u8; 32] = secret
            .as_slice()
            .try_into()
            .map_err(|_| HomeError::Invalid {
                path,
                reason: "a consensus key is 32 bytes".into(),
            })?;
        Ok(Some(SigningKey::from_seed(&seed)))
    }

    /// Makes a new consensus key for a rotation and keeps it, encrypted, at
    /// [`NEXT_CONSENSUS_KEYSTORE`]. Refuses to replace one that exists.
    pub fn new_consensus_key(&self, kdf: KdfParams) -> Result<SigningKey, HomeError> {
        let config = self.load_config()?.raw;
        let path = self.resolve(Path::new(NEXT_CONSENSUS_KEYSTORE));
        if path.exists() {
            return Err(HomeError::Exists(path));
        }
        let password = self
            .password(&config)?
            .ok_or_else(|| HomeError::NoPassword(path.clone()))?;
        let key = SigningKey::generate(&mut OsRng);
        let seed = zeroize::Zeroizing::new(key.to_seed());
        write_keystore(&path, NEXT_CONSENSUS_LABEL, seed.as_ref(), &password, kdf)?;
        Ok(key)
    }
}

/// The keystore secret of a validator's keys: operator seed, then consensus seed.
pub fn validator_secret(keys: &ValidatorKeys) -> zeroize::Zeroizing<Vec<u8>> {
    let mut secret = zeroize::Zeroizing::new(Vec::with_capacity(64));
    secret.extend_from_slice(&keys.operator.to_seed());
    secret.extend_from_slice(&keys.consensus.to_seed());
    secret
}

/// The validator's keys from a keystore secret.
pub fn validator_keys_from_secret(secret: &[u8]) -> Option<ValidatorKeys> {
    if secret.len() != 64 {
        return None;
    }
    let mut operator = [0u8; 32];
    let mut consensus = [0u8; 32];
    operator.copy_from_slice(&secret[..32]);
    consensus.copy_from_slice(&secret[32..]);
    let keys = ValidatorKeys {
        operator: SigningKey::from_seed(&operator),
        consensus: SigningKey::from_seed(&consensus),
    };
    zeroize::Zeroize::zeroize(&mut operator);
    zeroize::Zeroize::zeroize(&mut consensus);
    Some(keys)
}

/// The peer id of the node whose peer-to-peer secret is `secret`.
pub fn peer_id_of(secret: [u8; 32]) -> Result<String, mpms_network::identity::IdentityError> {
    Ok(mpms_network::identity::keypair_from_secret(secret)?
        .public()
        .to_peer_id()
        .to_string())
}

/// Encrypts `secret` under `password` as a keystore labelled `label` and writes it to
/// `path`, readable by the owner only.
fn write_keystore(
    path: &Path,
    label: &str,
    secret: &[u8],
    password: &str,
    kdf: KdfParams,
) -> Result<(), HomeError> {
    let keystore =
        Keystore::encrypt(label, secret, password, kdf, &mut OsRng).map_err(|source| {
            HomeError::Keystore {
                path: path.to_path_buf(),
                source,
            }
        })?;
    write_file(path, &keystore.to_json(), true)
}

/// Writes `text` to `path` (creating directories), readable by the owner only when
/// `secret`.
pub fn write_file(path: &Path, text: &str, secret: bool) -> Result<(), HomeError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
    }
    std::fs::write(path, text).map_err(io(path))?;
    #[cfg(unix)]
    if secret {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(io(path))?;
    }
    #[cfg(not(unix))]
    let _ = secret;
    Ok(())
}

/// What [`init`] created.
pub struct Initialized {
    /// The node's peer id.
    pub peer_id: String,
    /// The validator's keys, if a validator was set up.
    pub validator: Option<ValidatorKeys>,
}

/// Options of [`init`].
pub struct InitOptions<'a> {
    /// The node's name.
    pub moniker: &'a str,
    /// The configuration to write (its `node.moniker` is replaced).
    pub config: NodeConfig,
    /// The genesis, if already known.
    pub genesis: Option<&'a Genesis>,
    /// Set up validator keys, encrypted under this password.
    pub validator_password: Option<&'a str>,
    /// Use these validator keys instead of fresh ones.
    pub validator_keys: Option<ValidatorKeys>,
    /// Write the password next to the keystore (local test networks only).
    pub store_password: bool,
    /// Key derivation cost for the keystore.
    pub kdf: KdfParams,
}

/// Creates a home: configuration, node key and, for a validator, the encrypted
/// keystore. Refuses to overwrite an existing configuration.
pub fn init(home: &Home, options: InitOptions<'_>) -> Result<Initialized, HomeError> {
    if home.config_path().exists() {
        return Err(HomeError::Exists(home.config_path()));
    }
    let mut config = options.config;
    config.node.moniker = options.moniker.to_string();
    let mut node_secret = zeroize::Zeroizing::new([0u8; 32]);
    OsRng.fill_bytes(node_secret.as_mut());
    let peer_id = peer_id_of(*node_secret).map_err(|e| HomeError::Invalid {
        path: home.resolve(&config.node.node_key_file),
        reason: e.to_string(),
    })?;
    write_file(
        &home.resolve(&config.node.node_key_file),
        &hex::encode(node_secret.as_ref()),
        true,
    )?;
    let mut validator = None;
    if let Some(password) = options.validator_password {
        let keys = options.validator_keys.unwrap_or_else(|| ValidatorKeys {
            operator: SigningKey::generate(&mut OsRng),
            consensus: SigningKey::generate(&mut OsRng),
        });
        let path = home.resolve(&config.node.validator_keystore);
        write_keystore(
            &path,
            VALIDATOR_LABEL,
            &validator_secret(&keys),
            password,
            options.kdf,
        )?;
        if options.store_password {
            config.node.password_file = "keys/password".into();
            write_file(&home.resolve(&config.node.password_file), password, true)?;
        }
        validator = Some(keys);
    } else {
        config.node.validator_keystore = PathBuf::new();
    }
    if let Some(genesis) = options.genesis {
        write_file(
            &home.resolve(&config.node.genesis_file),
            &genesis.to_json(),
            false,
        )?;
    }
    write_file(&home.config_path(), &config.to_toml(), false)?;
    std::fs::create_dir_all(home.resolve(&config.node.data_dir))
        .map_err(io(&home.resolve(&config.node.data_dir)))?;
    Ok(Initialized { peer_id, validator })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn init_then_load() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::new(dir.path());
        let made = init(
            &home,
            InitOptions {
                moniker: "st-mary",
                config: NodeConfig::default(),
                genesis: None,
                validator_password: Some("correct horse"),
                validator_keys: None,
                store_password: false,
                kdf: KdfParams::INSECURE_FAST,
            },
        )
        .unwrap();
        let config = home.load_config().unwrap().raw;
        assert_eq!(config.node.moniker, "st-mary");
        let secret = home.load_node_key(&config).unwrap();
        assert_eq!(peer_id_of(secret).unwrap(), made.peer_id);
        // The password from the environment is not set here: a clear error.
        if std::env::var(PASSWORD_ENV).is_err() {
            assert!(matches!(
                home.load_validator(&config),
                Err(HomeError::NoPassword(_))
            ));
        }
        let mut with_file = config.clone();
        write_file(&dir.path().join("pw"), "wrong", true).unwrap();
        with_file.node.password_file = "pw".into();
        assert!(matches!(
            home.load_validator(&with_file),
            Err(HomeError::Keystore { .. })
        ));
        write_file(&dir.path().join("pw"), "correct horse\n", true).unwrap();
        let keys = home.load_validator(&with_file).unwrap().unwrap();
        let made = made.validator.unwrap();
        assert_eq!(keys.operator.public_key(), made.operator.public_key());
        assert_eq!(keys.consensus.public_key(), made.consensus.public_key());
        // A second init refuses to overwrite.
        assert!(matches!(
            init(
                &home,
                InitOptions {
                    moniker: "x",
                    config: NodeConfig::default(),
                    genesis: None,
                    validator_password: None,
                    validator_keys: None,
                    store_password: false,
                    kdf: KdfParams::INSECURE_FAST,
                }
            ),
            Err(HomeError::Exists(_))
        ));
    }

    #[test]
    fn bad_node_key_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::new(dir.path());
        let config = NodeConfig::default();
        write_file(&home.resolve(&config.node.node_key_file), "zz", true).unwrap();
        let err = home.load_node_key(&config).unwrap_err().to_string();
        assert!(err.contains("node_key") && err.contains("hex"), "{err}");
    }
}
