//! A node's home directory: where its configuration, genesis, keys and data live.
//!
//! ```text
//! HOME/
//!   config/node.toml          the configuration (see `config/node.toml` in the repository)
//!   config/genesis.json       the chain's genesis
//!   config/node_key           the peer-to-peer identity (hex secret, mode 0600)
//!   keys/operator.key         the operator account's keys, encrypted
//!   keys/consensus.keystore   the consensus keys, encrypted (validators only)
//!   keys/consensus.safety     the last statement the validator signed (written before
//!                             every vote; not backed up)
//!   keys/password             the key files' password (local test networks only)
//!   data/                     RocksDB
//! ```

use std::path::{Path, PathBuf};

use mpms_crypto::keystore::KdfParams;
use mpms_crypto::{PublicKey, SigningKey};
use mpms_ledger::Genesis;
use rand::rngs::OsRng;
use rand::RngCore;

use crate::config::{CheckedNodeConfig, ConfigError, NodeConfig};
use crate::keys::{AccountKeys, ConsensusKeys, KeyFileError};
use mpms_core::ValidatorKeys;

/// The environment variable holding the key files' password.
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
    /// A key file could not be opened or written.
    #[error(transparent)]
    KeyFile(#[from] KeyFileError),
    /// A key file exists but no password was given.
    #[error("the key file {0} needs a password: set node.password_file or {PASSWORD_ENV}")]
    NoPassword(PathBuf),
    /// A key file the configuration names is missing.
    #[error("{0}: missing (restore it from the backup of this home's keys/ directory)")]
    Missing(PathBuf),
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

    fn password_for(&self, config: &NodeConfig, path: &Path) -> Result<String, HomeError> {
        self.password(config)?
            .ok_or_else(|| HomeError::NoPassword(path.to_path_buf()))
    }

    /// Whether this home is a validator's (it names a consensus keystore).
    pub fn is_validator(&self, config: &NodeConfig) -> bool {
        !config.node.consensus_keystore.as_os_str().is_empty()
    }

    /// The operator account's key file.
    pub fn operator_key_path(&self, config: &NodeConfig) -> PathBuf {
        self.resolve(&config.node.operator_key)
    }

    /// The consensus keystore, for a validator.
    pub fn consensus_keystore_path(&self, config: &NodeConfig) -> Option<PathBuf> {
        self.is_validator(config)
            .then(|| self.resolve(&config.node.consensus_keystore))
    }

    /// The validator's safety record, beside its consensus keystore.
    pub fn safety_record_path(&self, config: &NodeConfig) -> Option<PathBuf> {
        self.consensus_keystore_path(config)
            .map(|p| p.with_extension("safety"))
    }

    /// Opens the operator account's keys.
    pub fn load_operator(&self, config: &NodeConfig) -> Result<AccountKeys, HomeError> {
        let path = self.operator_key_path(config);
        if !path.exists() {
            return Err(HomeError::Missing(path));
        }
        let password = self.password_for(config, &path)?;
        Ok(AccountKeys::load(&path, &password)?)
    }

    /// Opens the consensus keys; `None` for a full node.
    pub fn load_consensus_keys(
        &self,
        config: &NodeConfig,
    ) -> Result<Option<ConsensusKeys>, HomeError> {
        let Some(path) = self.consensus_keystore_path(config) else {
            return Ok(None);
        };
        if !path.exists() {
            return Err(HomeError::Missing(path));
        }
        let password = self.password_for(config, &path)?;
        Ok(Some(ConsensusKeys::load(&path, &password)?))
    }

    /// A validator's keys: the operator's signing key and every consensus key this
    /// home holds (the first as the starting key, the others as spares the node
    /// switches to when the chain names them). `None` for a full node.
    pub fn load_validator(
        &self,
        config: &NodeConfig,
    ) -> Result<Option<(ValidatorKeys, Vec<SigningKey>)>, HomeError> {
        let Some(consensus) = self.load_consensus_keys(config)? else {
            return Ok(None);
        };
        let operator = self.load_operator(config)?;
        let (first, spare) = consensus.into_parts();
        Ok(Some((
            ValidatorKeys {
                operator: operator.signing,
                consensus: first,
            },
            spare,
        )))
    }

    /// Adds a new consensus key for a rotation to the home's consensus keystore
    /// (rewritten atomically, with the key derivation cost it had, keeping the keys
    /// it held) and returns it. The node loads it at its next start and signs with
    /// it once the chain names it.
    pub fn new_consensus_key(&self, config: &NodeConfig) -> Result<PublicKey, HomeError> {
        let Some(path) = self.consensus_keystore_path(config) else {
            return Err(HomeError::Invalid {
                path: self.config_path(),
                reason: "this home is not a validator's (node.consensus_keystore is empty)".into(),
            });
        };
        let mut keys = self
            .load_consensus_keys(config)?
            .ok_or_else(|| HomeError::Missing(path.clone()))?;
        let kdf = mpms_crypto::keystore::Keystore::load(&path)
            .map_err(|source| KeyFileError::Keystore {
                path: path.clone(),
                source,
            })?
            .kdf;
        let password = self.password_for(config, &path)?;
        let key = keys.add_new().map_err(|reason| HomeError::Invalid {
            path: path.clone(),
            reason,
        })?;
        keys.save(&path, &password, kdf)?;
        Ok(key)
    }
}

/// The peer id of the node whose peer-to-peer secret is `secret`.
pub fn peer_id_of(secret: [u8; 32]) -> Result<String, mpms_network::identity::IdentityError> {
    Ok(mpms_network::identity::keypair_from_secret(secret)?
        .public()
        .to_peer_id()
        .to_string())
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
    /// The operator account.
    pub operator: PublicKey,
    /// The consensus key, for a validator.
    pub consensus: Option<PublicKey>,
}

/// Options of [`init`].
pub struct InitOptions<'a> {
    /// The node's name.
    pub moniker: &'a str,
    /// The configuration to write (its `node.moniker` is replaced).
    pub config: NodeConfig,
    /// The genesis, if already known.
    pub genesis: Option<&'a Genesis>,
    /// The password the key files are encrypted under.
    pub password: &'a str,
    /// The operator account's keys; `None`: fresh ones.
    pub operator: Option<AccountKeys>,
    /// Set up a validator: a consensus keystore holding this key (`None`: a fresh
    /// key). `None` here makes a full node.
    pub validator: Option<Option<SigningKey>>,
    /// The peer-to-peer secret; `None`: a fresh one.
    pub node_secret: Option<[u8; 32]>,
    /// Write the password next to the keys (local test networks only).
    pub store_password: bool,
    /// Key derivation cost for the key files.
    pub kdf: KdfParams,
}

/// Creates a home: configuration, node key, the operator account's key file and, for
/// a validator, the consensus keystore. Refuses to overwrite an existing
/// configuration.
pub fn init(home: &Home, options: InitOptions<'_>) -> Result<Initialized, HomeError> {
    if home.config_path().exists() {
        return Err(HomeError::Exists(home.config_path()));
    }
    let mut config = options.config;
    config.node.moniker = options.moniker.to_string();
    let node_secret = zeroize::Zeroizing::new(options.node_secret.unwrap_or_else(|| {
        let mut secret = [0u8; 32];
        OsRng.fill_bytes(&mut secret);
        secret
    }));
    let peer_id = peer_id_of(*node_secret).map_err(|e| HomeError::Invalid {
        path: home.resolve(&config.node.node_key_file),
        reason: e.to_string(),
    })?;
    write_file(
        &home.resolve(&config.node.node_key_file),
        &hex::encode(node_secret.as_ref()),
        true,
    )?;
    let operator = options.operator.unwrap_or_else(AccountKeys::generate);
    operator.save(
        &home.resolve(&config.node.operator_key),
        options.password,
        options.kdf,
    )?;
    let consensus = match options.validator {
        Some(key) => {
            let keys = match key {
                Some(key) => ConsensusKeys::from_keys(vec![key]),
                None => Some(ConsensusKeys::generate()),
            };
            let keys = keys.ok_or_else(|| HomeError::Invalid {
                path: home.resolve(&config.node.consensus_keystore),
                reason: "no consensus key".into(),
            })?;
            let keystore = home.resolve(&config.node.consensus_keystore);
            keys.save(&keystore, options.password, options.kdf)?;
            // The key is new (made here, or just named by a test network's
            // genesis): it has signed nothing.
            let chain_id = options.genesis.map_or("", |g| g.chain_id.as_str());
            let safety =
                crate::safety_file::SafetyFile::new(keystore.with_extension("safety"), chain_id);
            safety.mark_never_signed().map_err(|e| HomeError::Invalid {
                path: safety.path().to_path_buf(),
                reason: e.to_string(),
            })?;
            Some(keys.newest().public_key())
        }
        None => {
            config.node.consensus_keystore = PathBuf::new();
            None
        }
    };
    if options.store_password {
        config.node.password_file = "keys/password".into();
        write_file(
            &home.resolve(&config.node.password_file),
            options.password,
            true,
        )?;
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
    Ok(Initialized {
        peer_id,
        operator: operator.id(),
        consensus,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn options(config: NodeConfig, validator: bool) -> InitOptions<'static> {
        InitOptions {
            moniker: "st-mary",
            config,
            genesis: None,
            password: "correct horse",
            operator: None,
            validator: validator.then_some(None),
            node_secret: None,
            store_password: false,
            kdf: KdfParams::INSECURE_FAST,
        }
    }

    #[test]
    fn init_then_load() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::new(dir.path());
        let made = init(&home, options(NodeConfig::default(), true)).unwrap();
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
            Err(HomeError::KeyFile(KeyFileError::Keystore { .. }))
        ));
        write_file(&dir.path().join("pw"), "correct horse\n", true).unwrap();
        let (keys, spare) = home.load_validator(&with_file).unwrap().unwrap();
        assert!(spare.is_empty());
        assert_eq!(keys.operator.public_key(), made.operator);
        assert_eq!(Some(keys.consensus.public_key()), made.consensus);
        // A second init refuses to overwrite.
        assert!(matches!(
            init(&home, options(NodeConfig::default(), false)),
            Err(HomeError::Exists(_))
        ));
    }

    /// The operator's key file holds an encryption key: the institution can register
    /// as an organization with the keys `init` made (this was a dead end).
    #[test]
    fn a_full_node_home_has_an_operator_account_with_an_encryption_key() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::new(dir.path());
        let mut config = NodeConfig::default();
        config.node.password_file = dir.path().join("pw");
        write_file(&config.node.password_file, "correct horse", true).unwrap();
        let made = init(&home, options(config, false)).unwrap();
        assert!(made.consensus.is_none());
        let config = home.load_config().unwrap().raw;
        assert!(!home.is_validator(&config));
        assert!(home.load_validator(&config).unwrap().is_none());
        let operator = home.load_operator(&config).unwrap();
        assert_eq!(operator.id(), made.operator);
        let _ = operator.decryption.encryption_key();
    }

    /// A rotation adds the next key to the one consensus keystore: there is one file
    /// to back up, and the node loads both keys.
    #[test]
    fn a_new_consensus_key_joins_the_same_keystore() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::new(dir.path());
        let mut config = NodeConfig::default();
        config.node.password_file = dir.path().join("pw");
        write_file(&config.node.password_file, "correct horse", true).unwrap();
        let made = init(&home, options(config, true)).unwrap();
        let config = home.load_config().unwrap().raw;
        let next = home.new_consensus_key(&config).unwrap();
        let (keys, spare) = home.load_validator(&config).unwrap().unwrap();
        assert_eq!(Some(keys.consensus.public_key()), made.consensus);
        assert_eq!(
            spare.iter().map(SigningKey::public_key).collect::<Vec<_>>(),
            vec![next]
        );
        let files: Vec<String> = std::fs::read_dir(dir.path().join("keys"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        let mut files = files;
        files.sort();
        assert_eq!(
            files,
            ["consensus.keystore", "consensus.safety", "operator.key"]
        );
        // The new key has signed nothing.
        let safety = crate::safety_file::SafetyFile::new(
            home.safety_record_path(&config).unwrap(),
            "any chain",
        );
        assert_eq!(safety.read().unwrap(), mpms_core::SignedBefore::Never);
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
