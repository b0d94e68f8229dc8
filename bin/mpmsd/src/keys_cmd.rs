//! `mpmsd keys`: account key files (a signing key and an encryption key, encrypted),
//! a home's keys (operator account, consensus keys, node identity) and their state
//! on chain; and loading the key a client command signs with.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use mpms_crypto::keystore::KdfParams;
use mpms_crypto::{DecryptionKey, PublicKey, SigningKey};
use mpms_node::config::NodeConfig;
use mpms_node::home::{peer_id_of, Home, PASSWORD_ENV};
use mpms_node::keys::AccountKeys;

use crate::client::connect;

pub use mpms_client::Party;

/// The party of an account's keys.
pub fn party(keys: AccountKeys) -> Party {
    Party::new(keys.signing, keys.decryption)
}

/// Where the signing key comes from.
#[derive(Args, Clone)]
pub struct KeySource {
    /// An account key file (`mpmsd keys generate`).
    #[arg(long, global = true)]
    pub key: Option<PathBuf>,
    /// A node's home: sign with its operator account (`keys/operator.key`), and talk
    /// to that node's API unless --node is given.
    #[arg(long, global = true, conflicts_with = "key")]
    pub home: Option<PathBuf>,
    /// A file holding the key file's password (else the home's password file, else
    /// MPMS_KEYSTORE_PASSWORD).
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
    /// Prints the public keys of a key file (--key) or of a home (--home: node peer
    /// id, operator account, encryption key, consensus keys).
    Show {
        /// A key file.
        #[arg(long, conflicts_with = "home", required_unless_present = "home")]
        key: Option<PathBuf>,
        /// A node's home.
        #[arg(long)]
        home: Option<PathBuf>,
        /// A file holding the password (else the home's, else MPMS_KEYSTORE_PASSWORD).
        #[arg(long)]
        password_file: Option<PathBuf>,
    },
    /// Which consensus key the chain expects from this validator, whether this home
    /// holds it, and which keys the running node holds. Exits 1 when the chain names
    /// a key this home does not hold.
    Status {
        /// The validator's home.
        #[arg(long)]
        home: PathBuf,
        /// A node's API to read the chain from (default: the home's own).
        #[arg(long)]
        node: Option<String>,
        /// A file holding the password (else the home's, else MPMS_KEYSTORE_PASSWORD).
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
    /// Adds a new consensus key (for a rotation) to a validator's consensus keystore
    /// and prints the commands that follow: restart the node so it holds the key,
    /// then propose the rotation.
    NewConsensusKey {
        /// The validator's home.
        #[arg(long)]
        home: PathBuf,
        /// A file holding the password (else the home's, else MPMS_KEYSTORE_PASSWORD).
        #[arg(long)]
        password_file: Option<PathBuf>,
    },
    /// For a validator whose safety record is lost (restored from a backup, which
    /// leaves it out) when the chain cannot finalize a block without it: states that
    /// it signed nothing after round ROUND of height HEIGHT, so that it signs from
    /// the next round on. Give a round no node had reached when the validator
    /// stopped (above every round `mpmsd query status` shows on the running nodes):
    /// naming a round it did sign in makes it sign twice. Refused when the home holds
    /// the record.
    ResumeSigning {
        /// The validator's home (stopped).
        #[arg(long)]
        home: PathBuf,
        /// The height the chain is at.
        #[arg(long)]
        height: u64,
        /// The round after which the validator may sign.
        #[arg(long)]
        round: u32,
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

/// Opens an account key file.
pub fn load_keys(path: &Path, password: &str) -> anyhow::Result<Party> {
    Ok(party(AccountKeys::load(path, password)?))
}

/// A home and its configuration; `password_file` replaces the configured one.
pub fn open_home(
    home: &Path,
    password_file: &Option<PathBuf>,
) -> anyhow::Result<(Home, NodeConfig)> {
    let home = Home::new(home);
    let mut config = home.load_config()?.raw;
    if let Some(file) = password_file {
        config.node.password_file = std::path::absolute(file)?;
    }
    Ok((home, config))
}

impl KeySource {
    /// The party that signs.
    pub fn load(&self) -> anyhow::Result<Party> {
        if let Some(home) = &self.home {
            let (home, config) = open_home(home, &self.password_file)?;
            return Ok(party(home.load_operator(&config)?));
        }
        let Some(key) = &self.key else {
            bail!("give --key FILE (an account key file) or --home DIR (a node's home)");
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
            let keys = AccountKeys::generate();
            let kdf = if insecure_fast_kdf {
                KdfParams::INSECURE_FAST
            } else {
                KdfParams::DEFAULT
            };
            keys.save(&out, &password(&password_file)?, kdf)?;
            show(&party(keys));
        }
        KeysCommand::Show {
            key: Some(key),
            password_file,
            ..
        } => {
            show(&load_keys(&key, &password(&password_file)?)?);
        }
        KeysCommand::Show {
            home,
            password_file,
            ..
        } => {
            let Some(home) = home else {
                bail!("give --key FILE or --home DIR");
            };
            show_home(&home, &password_file)?;
        }
        KeysCommand::Status {
            home,
            node,
            password_file,
        } => status(&home, node, &password_file)?,
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
            let keys = AccountKeys {
                signing: SigningKey::from_seed(&seed),
                decryption: DecryptionKey::from_bytes(dk)?,
            };
            keys.save(&out, &password(&password_file)?, KdfParams::DEFAULT)?;
            show(&party(keys));
        }
        KeysCommand::NewConsensusKey {
            home,
            password_file,
        } => {
            let (home, config) = open_home(&home, &password_file)?;
            let operator = home.load_operator(&config)?.id();
            let key = home.new_consensus_key(&config)?;
            let root = home.root().display();
            println!("next consensus key: {key}");
            println!(
                "added to {}; the key in force stays there too.",
                home.consensus_keystore_path(&config)
                    .unwrap_or_default()
                    .display()
            );
            println!("next:");
            println!("  1. back up {root}/keys/ again: it now holds the new key");
            println!("  2. restart the node so that it holds the key (systemctl restart mpmsd)");
            println!("  3. check: mpmsd keys status --home {root}");
            println!(
                "  4. propose the switch: mpmsd tx --home {root} propose rotate-authority-key"
            );
            println!("     (operator {operator}, consensus key {key}); the other authorities vote");
        }
        KeysCommand::ResumeSigning {
            home,
            height,
            round,
        } => {
            let (home, config) = open_home(&home, &None)?;
            let Some(path) = home.safety_record_path(&config) else {
                bail!("not a validator's home (node.consensus_keystore is empty)");
            };
            let chain_id = home.load_genesis(&config)?.chain_id;
            mpms_node::safety_file::SafetyFile::new(&path, chain_id)
                .state_signed_at_most(height, round)?;
            println!(
                "{}: the validator signs nothing up to round {round} of height {height}, and from the next round on",
                path.display()
            );
        }
        KeysCommand::Export { key, password_file } => {
            let party = load_keys(&key, &password(&password_file)?)?;
            let seed = party
                .signing
                .to_seed()
                .ok_or_else(|| anyhow::anyhow!("the key has no seed"))?;
            println!("signing_seed:   {}", hex::encode(seed));
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

fn show_home(home: &Path, password_file: &Option<PathBuf>) -> anyhow::Result<()> {
    let (home, config) = open_home(home, password_file)?;
    let peer_id = peer_id_of(home.load_node_key(&config)?)?;
    let operator = home.load_operator(&config)?;
    println!("home:           {}", home.root().display());
    println!("peer id:        {peer_id}");
    println!("operator:       {}", operator.id());
    println!("encryption_key: {}", operator.decryption.encryption_key());
    match home.load_consensus_keys(&config)? {
        Some(keys) => {
            for key in keys.keys() {
                println!("consensus:      {}", key.public_key());
            }
        }
        None => println!("consensus:      none (a full node)"),
    }
    Ok(())
}

/// `keys status`: the home's keys against what the chain and the running node say.
fn status(
    home_dir: &Path,
    node: Option<String>,
    password_file: &Option<PathBuf>,
) -> anyhow::Result<()> {
    let (home, config) = open_home(home_dir, password_file)?;
    let operator = home.load_operator(&config)?.id();
    let held: Vec<PublicKey> = home
        .load_consensus_keys(&config)?
        .map(|k| k.keys().iter().map(SigningKey::public_key).collect())
        .unwrap_or_default();
    println!("home:      {}", home.root().display());
    println!("operator:  {operator}");
    let client = connect(node, Some(home_dir))?;
    let url = client.base().to_string();
    let authorities = client.authority_set();
    let node_status = client.node_status();
    let (authorities, node_status) = match (authorities, node_status) {
        (Ok(a), Ok(s)) => (a, s),
        (Err(e), _) | (_, Err(e)) => {
            for key in &held {
                println!("holds:     {key}");
            }
            println!("chain:     not reachable at {url} ({e})");
            println!("           start the node, or give --node with another member's API");
            return Ok(());
        }
    };
    let named = authorities
        .members
        .iter()
        .find(|m| m.operator == operator)
        .map(|m| m.consensus_key);
    let is_own_node = Some(node_status.peer_id.as_str())
        == peer_id_of(home.load_node_key(&config)?).ok().as_deref();
    for key in &held {
        let role = if named == Some(*key) {
            "in force: the chain names it"
        } else if named.is_some() {
            "not in force (a rotation's next key, or a retired one)"
        } else {
            "not in force"
        };
        let loaded = if !is_own_node {
            ""
        } else if node_status.held_consensus_keys.contains(key) {
            "; the running node holds it"
        } else {
            "; the running node does not hold it yet (restart it)"
        };
        println!("holds:     {key}  {role}{loaded}");
    }
    println!("chain:     height {} at {url}", node_status.height);
    match named {
        None => {
            println!("authority: no (this operator is not in the authority set)");
            Ok(())
        }
        Some(key) if held.contains(&key) => {
            println!("authority: yes, signing with {key}");
            Ok(())
        }
        Some(key) => {
            println!("authority: yes, but the chain names consensus key {key},");
            println!("           which this home does not hold: the node signs nothing.");
            println!("           Restore keys/consensus.keystore from the backup taken after the");
            println!("           last key rotation, then restart the node.");
            bail!("this home does not hold the consensus key the chain names ({key})")
        }
    }
}
