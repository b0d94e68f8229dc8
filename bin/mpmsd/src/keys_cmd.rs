//! `mpmsd keys`: account keys (a signing key and an encryption key) in an encrypted
//! keystore file; and loading the key a client command signs with.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use mpms_crypto::keystore::{KdfParams, Keystore};
use mpms_crypto::{DecryptionKey, SigningKey};
use mpms_node::home::{Home, PASSWORD_ENV};
use rand::rngs::OsRng;
use zeroize::Zeroizing;

/// The keystore label of account keys.
const ACCOUNT_LABEL: &str = "mpms-account-keys";

/// Who signs: an account's keys.
pub struct Party {
    /// Signs transactions.
    pub signing: SigningKey,
    /// Opens what is sealed to the account (absent for a validator's operator).
    pub decryption: Option<DecryptionKey>,
}

impl Party {
    /// The account id.
    pub fn id(&self) -> mpms_crypto::PublicKey {
        self.signing.public_key()
    }

    /// The decryption key, or an error naming what needs it.
    pub fn decryption(&self, what: &str) -> anyhow::Result<&DecryptionKey> {
        self.decryption
            .as_ref()
            .with_context(|| format!("{what} needs an account key file with an encryption key"))
    }
}

/// Where the signing key comes from.
#[derive(Args, Clone)]
pub struct KeySource {
    /// An account key file (`mpmsd keys generate`).
    #[arg(long, global = true)]
    pub key: Option<PathBuf>,
    /// A validator's home: sign with its operator key.
    #[arg(long, global = true, conflicts_with = "key")]
    pub home: Option<PathBuf>,
    /// A file holding the key file's password (else MPMS_KEYSTORE_PASSWORD).
    #[arg(long, global = true)]
    pub password_file: Option<PathBuf>,
}

/// `mpmsd keys`.
#[derive(Subcommand)]
pub enum KeysCommand {
    /// Creates an account key file (signing and encryption keys), encrypted.
    Generate {
        /// The file to write.
        #[arg(long)]
        out: PathBuf,
        /// A file holding the password (else MPMS_KEYSTORE_PASSWORD).
        #[arg(long)]
        password_file: Option<PathBuf>,
        /// Cheap key derivation: for throwaway test keys only.
        #[arg(long)]
        insecure_fast_kdf: bool,
    },
    /// Prints the account id and encryption key of a key file.
    Show {
        /// The key file.
        #[arg(long)]
        key: PathBuf,
        /// A file holding the password (else MPMS_KEYSTORE_PASSWORD).
        #[arg(long)]
        password_file: Option<PathBuf>,
    },
    /// Writes a key file from existing secrets (hex).
    Import {
        /// The signing key's 32-byte seed, hex.
        #[arg(long)]
        signing_seed: String,
        /// The 32-byte decryption key, hex.
        #[arg(long)]
        decryption_key: String,
        /// The file to write.
        #[arg(long)]
        out: PathBuf,
        /// A file holding the password (else MPMS_KEYSTORE_PASSWORD).
        #[arg(long)]
        password_file: Option<PathBuf>,
    },
    /// Makes a validator's next consensus key (for a rotation), kept encrypted in its
    /// home; prints the public key to propose with `tx propose rotate-authority-key`.
    /// Restart the node afterwards so it holds the key when the rotation takes effect.
    NewConsensusKey {
        /// The validator's home.
        #[arg(long)]
        home: PathBuf,
    },
    /// Prints a key file's secrets (hex). Anyone who sees them controls the account.
    Export {
        /// The key file.
        #[arg(long)]
        key: PathBuf,
        /// A file holding the password (else MPMS_KEYSTORE_PASSWORD).
        #[arg(long)]
        password_file: Option<PathBuf>,
    },
}

/// The password from `file`, else the environment.
pub fn password(file: &Option<PathBuf>) -> anyhow::Result<String> {
    match file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            Ok(text.trim_end_matches(['\n', '\r']).to_string())
        }
        None => std::env::var(PASSWORD_ENV)
            .with_context(|| format!("no password: give --password-file or set {PASSWORD_ENV}")),
    }
}

fn write_keys(party: &Party, out: &Path, password: &str, kdf: KdfParams) -> anyhow::Result<()> {
    if out.exists() {
        bail!("{} exists: not overwriting a key file", out.display());
    }
    let Some(decryption) = &party.decryption else {
        bail!("an account key file holds an encryption key");
    };
    let mut secret = Zeroizing::new(Vec::with_capacity(64));
    secret.extend_from_slice(&party.signing.to_seed());
    secret.extend_from_slice(&decryption.to_bytes());
    let keystore = Keystore::encrypt(ACCOUNT_LABEL, &secret, password, kdf, &mut OsRng)?;
    mpms_node::home::write_file(out, &keystore.to_json(), true)?;
    Ok(())
}

/// Opens an account key file.
pub fn load_keys(path: &Path, password: &str) -> anyhow::Result<Party> {
    let keystore = Keystore::load(path).with_context(|| format!("{}", path.display()))?;
    if keystore.label != ACCOUNT_LABEL {
        bail!(
            "{} holds {:?}, not account keys",
            path.display(),
            keystore.label
        );
    }
    let secret = keystore
        .decrypt(password)
        .with_context(|| format!("{}", path.display()))?;
    if secret.len() != 64 {
        bail!("{}: account keys are 64 bytes", path.display());
    }
    let mut seed = Zeroizing::new([0u8; 32]);
    seed.copy_from_slice(&secret[..32]);
    let mut dk = [0u8; 32];
    dk.copy_from_slice(&secret[32..]);
    Ok(Party {
        signing: SigningKey::from_seed(&seed),
        decryption: Some(DecryptionKey::from_bytes(dk)?),
    })
}

impl KeySource {
    /// The party that signs.
    pub fn load(&self) -> anyhow::Result<Party> {
        if let Some(home) = &self.home {
            let home = Home::new(home);
            let mut config = home.load_config()?.raw;
            if let Some(file) = &self.password_file {
                config.node.password_file = std::path::absolute(file)?;
            }
            let keys = home
                .load_validator(&config)?
                .with_context(|| format!("{} has no validator keystore", home.root().display()))?;
            return Ok(Party {
                signing: keys.operator,
                decryption: None,
            });
        }
        let Some(key) = &self.key else {
            bail!("give --key FILE (an account key file) or --home DIR (a validator's home)");
        };
        load_keys(key, &password(&self.password_file)?)
    }
}

pub fn run(command: KeysCommand) -> anyhow::Result<()> {
    match command {
        KeysCommand::Generate {
            out,
            password_file,
            insecure_fast_kdf,
        } => {
            let party = Party {
                signing: SigningKey::generate(&mut OsRng),
                decryption: Some(DecryptionKey::generate(&mut OsRng)),
            };
            let kdf = if insecure_fast_kdf {
                KdfParams::INSECURE_FAST
            } else {
                KdfParams::DEFAULT
            };
            write_keys(&party, &out, &password(&password_file)?, kdf)?;
            show(&party);
        }
        KeysCommand::Show { key, password_file } => {
            show(&load_keys(&key, &password(&password_file)?)?);
        }
        KeysCommand::Import {
            signing_seed,
            decryption_key,
            out,
            password_file,
        } => {
            let seed: [u8; 32] = hex::decode(signing_seed.trim())
                .context("signing seed: not hex")?
                .try_into()
                .map_err(|_| anyhow::anyhow!("signing seed: 32 bytes"))?;
            let dk: [u8; 32] = hex::decode(decryption_key.trim())
                .context("decryption key: not hex")?
                .try_into()
                .map_err(|_| anyhow::anyhow!("decryption key: 32 bytes"))?;
            let party = Party {
                signing: SigningKey::from_seed(&seed),
                decryption: Some(DecryptionKey::from_bytes(dk)?),
            };
            write_keys(&party, &out, &password(&password_file)?, KdfParams::DEFAULT)?;
            show(&party);
        }
        KeysCommand::NewConsensusKey { home } => {
            let home = Home::new(home);
            let key = home.new_consensus_key(KdfParams::DEFAULT)?;
            println!("next consensus key: {}", key.public_key());
            println!(
                "kept in {}; restart the node, then propose: mpmsd tx --home {} propose rotate-authority-key --operator <operator> --consensus-key {}",
                home.resolve(Path::new(mpms_node::home::NEXT_CONSENSUS_KEYSTORE))
                    .display(),
                home.root().display(),
                key.public_key()
            );
        }
        KeysCommand::Export { key, password_file } => {
            let party = load_keys(&key, &password(&password_file)?)?;
            println!("signing_seed:   {}", hex::encode(party.signing.to_seed()));
            if let Some(d) = &party.decryption {
                println!("decryption_key: {}", hex::encode(d.to_bytes()));
            }
        }
    }
    Ok(())
}

fn show(party: &Party) {
    println!("account:        {}", party.id());
    if let Some(d) = &party.decryption {
        println!("encryption_key: {}", d.encryption_key());
    }
}
