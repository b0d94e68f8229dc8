//! The node's configuration file (`config/node.toml` in a node's home).
//!
//! Every field has a default; unknown fields are refused; a bad value is reported
//! with its full name (`api.listen: not an address (ip:port)`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use mpms_network::NetworkConfig;
use serde::{Deserialize, Serialize};

use mpms_core::{CoreConfig, MempoolConfig, Production};

/// A configuration error, naming the field.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML for this schema (unknown field, wrong type...).
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message, which names the field and line.
        message: String,
    },
    /// A field has a value that is not allowed.
    #[error("{field}: {reason}")]
    Invalid {
        /// The field, with its section (`api.listen`).
        field: String,
        /// Why.
        reason: String,
    },
}

fn invalid(field: impl Into<String>, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        field: field.into(),
        reason: reason.into(),
    }
}

/// The whole node configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NodeConfig {
    /// This node.
    pub node: NodeSection,
    /// Consensus timing and block production.
    pub consensus: ConsensusSection,
    /// Mempool limits.
    pub mempool: MempoolConfig,
    /// Peer-to-peer networking.
    pub network: NetworkConfig,
    /// The HTTP API.
    pub api: ApiSection,
    /// Logging.
    pub log: LogSection,
}

/// `[node]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NodeSection {
    /// A name for logs and status. Default "mpms-node".
    pub moniker: String,
    /// Chain data (RocksDB), relative to the home. Default "data".
    pub data_dir: PathBuf,
    /// How many heights of state stay provable (state proofs, credential status
    /// proofs); older versions of the state tree are pruned. Default 100000.
    pub state_history_blocks: u64,
    /// The genesis file, relative to the home. Default "config/genesis.json".
    pub genesis_file: PathBuf,
    /// The node's peer-to-peer key, relative to the home. Default "config/node_key".
    pub node_key_file: PathBuf,
    /// The operator account's key file (the institution's account: signs its
    /// transactions, stake and governance votes, and the evidence its node submits),
    /// relative to the home. Default "keys/operator.key".
    pub operator_key: PathBuf,
    /// The consensus keystore (the keys that sign blocks), relative to the home;
    /// empty for a full node. Default "keys/consensus.keystore".
    pub consensus_keystore: PathBuf,
    /// A file holding the password of the key files, relative to the home. Empty:
    /// the password comes from the environment variable `MPMS_KEYSTORE_PASSWORD`.
    pub password_file: PathBuf,
}

impl Default for NodeSection {
    fn default() -> Self {
        NodeSection {
            moniker: "mpms-node".into(),
            data_dir: "data".into(),
            state_history_blocks: mpms_store::DEFAULT_STATE_HISTORY,
            genesis_file: "config/genesis.json".into(),
            node_key_file: "config/node_key".into(),
            operator_key: "keys/operator.key".into(),
            consensus_keystore: "keys/consensus.keystore".into(),
            password_file: PathBuf::new(),
        }
    }
}

/// `[consensus]`: this node's block production. The consensus timing (timeouts,
/// heartbeat, least block interval) is not here: every validator must wait the same,
/// so it is a chain parameter (`params.consensus` in the genesis, changed by
/// governance with `mpmsd tx propose set-parameter`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ConsensusSection {
    /// Most transactions this node puts in a block it proposes (the chain's
    /// `max_block_transactions` also applies). Default 2,000.
    pub max_block_transactions: usize,
    /// Proposed blocks further ahead of the local clock are refused, ms. Default 10,000.
    pub max_clock_drift_ms: u64,
    /// Any other field: refused by [`NodeConfig::check`], timing fields of earlier
    /// versions with a pointer to the chain parameter that replaced them.
    #[serde(flatten, skip_serializing)]
    pub retired: std::collections::BTreeMap<String, Ignored>,
}

/// A value that is read and dropped (only its field's name matters).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Ignored;

impl<'de> Deserialize<'de> for Ignored {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        serde::de::IgnoredAny::deserialize(d).map(|_| Ignored)
    }
}

/// Fields that moved from `[consensus]` to the chain's parameters.
const RETIRED_TIMING: [&str; 7] = [
    "propose_timeout_ms",
    "prevote_timeout_ms",
    "precommit_timeout_ms",
    "timeout_delta_ms",
    "max_timeout_ms",
    "heartbeat_ms",
    "min_block_interval_ms",
];

impl Default for ConsensusSection {
    fn default() -> Self {
        let p = Production::default();
        ConsensusSection {
            max_block_transactions: p.max_block_transactions,
            max_clock_drift_ms: p.max_clock_drift.as_millis() as u64,
            retired: std::collections::BTreeMap::new(),
        }
    }
}

/// `[api]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApiSection {
    /// The public API's address. Default "127.0.0.1:8080".
    pub listen: String,
    /// The admin API's address (peer admission, shutdown): loopback only. Default
    /// "127.0.0.1:8081"; empty turns it off.
    pub admin_listen: String,
    /// Largest request body, bytes. Default 2 MiB.
    pub max_body_bytes: usize,
    /// Transactions one client address may submit per second (bursts of twice as
    /// many); more get 429. 0 turns the limit off. Default 1,000.
    pub max_submissions_per_sec: u32,
    /// The public API's TLS certificate chain (PEM, the node's certificate first),
    /// relative to the home. Empty (the default): plain HTTP. Set with `tls_key`.
    pub tls_cert: PathBuf,
    /// The private key of `tls_cert` (PEM), relative to the home; readable by the
    /// node's user only.
    pub tls_key: PathBuf,
}

impl Default for ApiSection {
    fn default() -> Self {
        ApiSection {
            listen: "127.0.0.1:8080".into(),
            admin_listen: "127.0.0.1:8081".into(),
            max_body_bytes: 2 << 20,
            max_submissions_per_sec: 1_000,
            tls_cert: PathBuf::new(),
            tls_key: PathBuf::new(),
        }
    }
}

/// Log output format.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Human,
    /// One JSON object per line.
    Json,
}

/// `[log]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogSection {
    /// "human" or "json". Default "human".
    pub format: LogFormat,
    /// A `tracing` filter (`info`, `mpms_node=debug,info`). Default "info".
    pub level: String,
}

impl Default for LogSection {
    fn default() -> Self {
        LogSection {
            format: LogFormat::Human,
            level: "info".into(),
        }
    }
}

/// Longest `log.level` accepted.
const MAX_LOG_FILTER: usize = 512;

/// `log.level`: targets and levels only (`info`, `mpms_node=debug,info`). Span and
/// field filters are refused: they compile to regular expressions, and a pathological
/// one took gigabytes to build (found by fuzzing `node.toml`).
fn check_log_filter(filter: &str) -> Result<(), ConfigError> {
    let plain = filter
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | ':' | '=' | ',' | '.' | '-'));
    if filter.len() > MAX_LOG_FILTER || !plain {
        return Err(invalid(
            "log.level",
            "targets and levels only, e.g. \"info\" or \"mpms_node=debug,info\" (at most 512 characters; span and field filters are not accepted)",
        ));
    }
    if filter.parse::<tracing_subscriber::EnvFilter>().is_err() {
        return Err(invalid("log.level", "not a tracing filter"));
    }
    Ok(())
}

/// A checked configuration.
#[derive(Debug, Clone)]
pub struct CheckedNodeConfig {
    /// The settings as given.
    pub raw: NodeConfig,
    /// The public API address.
    pub api: SocketAddr,
    /// The admin API address (always loopback), if on.
    pub admin: Option<SocketAddr>,
}

impl NodeConfig {
    /// Reads and checks `path`.
    pub fn load(path: &Path) -> Result<CheckedNodeConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        NodeConfig::parse(&text, path)?.check()
    }

    /// Parses TOML text (`path` only names it in errors).
    pub fn parse(text: &str, path: &Path) -> Result<NodeConfig, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            message: e.to_string(),
        })
    }

    /// The TOML text of this configuration.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_default()
    }

    /// Checks every value.
    pub fn check(self) -> Result<CheckedNodeConfig, ConfigError> {
        if self.node.moniker.trim().is_empty() {
            return Err(invalid("node.moniker", "must not be empty"));
        }
        if self.node.data_dir.as_os_str().is_empty() {
            return Err(invalid("node.data_dir", "must not be empty"));
        }
        if self.node.state_history_blocks < 2 {
            return Err(invalid(
                "node.state_history_blocks",
                "at least 2 (the last block and its parent)",
            ));
        }
        let c = &self.consensus;
        if let Some(field) = c.retired.keys().next() {
            return Err(if RETIRED_TIMING.contains(&field.as_str()) {
                invalid(
                    format!("consensus.{field}"),
                    format!(
                        "consensus timing is a chain parameter that every validator shares \
                         (params.consensus.{field} in the genesis, changed by governance: \
                         mpmsd tx propose set-parameter --name {}); remove it from this file",
                        field.replace('_', "-")
                    ),
                )
            } else {
                invalid(format!("consensus.{field}"), "unknown field")
            });
        }
        if c.max_clock_drift_ms < 100 {
            return Err(invalid(
                "consensus.max_clock_drift_ms",
                "must be at least 100",
            ));
        }
        if c.max_block_transactions == 0 {
            return Err(invalid(
                "consensus.max_block_transactions",
                "must be at least 1",
            ));
        }
        if let Err((field, reason)) = self.mempool.check() {
            return Err(invalid(format!("mempool.{field}"), reason));
        }
        self.network
            .check()
            .map_err(|e| invalid(format!("network.{}", e.field), e.reason))?;
        let needed = mpms_network::validate::Limits::largest_possible();
        if self.network.max_message_bytes < needed {
            return Err(invalid(
                "network.max_message_bytes",
                format!(
                    "must be at least {needed}: the largest block the chain's parameters may allow, with its certificate"
                ),
            ));
        }
        let api: SocketAddr = self
            .api
            .listen
            .parse()
            .map_err(|e| invalid("api.listen", format!("not an address (ip:port): {e}")))?;
        let admin = if self.api.admin_listen.is_empty() {
            None
        } else {
            let admin: SocketAddr = self.api.admin_listen.parse().map_err(|e| {
                invalid("api.admin_listen", format!("not an address (ip:port): {e}"))
            })?;
            if !admin.ip().is_loopback() {
                return Err(invalid(
                    "api.admin_listen",
                    "admin routes listen on a loopback address only",
                ));
            }
            Some(admin)
        };
        if self.api.max_body_bytes < 1024 {
            return Err(invalid("api.max_body_bytes", "must be at least 1024"));
        }
        match (
            self.api.tls_cert.as_os_str().is_empty(),
            self.api.tls_key.as_os_str().is_empty(),
        ) {
            (true, false) => {
                return Err(invalid(
                    "api.tls_cert",
                    "tls_key is set: set both, or neither",
                ))
            }
            (false, true) => {
                return Err(invalid(
                    "api.tls_key",
                    "tls_cert is set: set both, or neither",
                ))
            }
            _ => {}
        }
        check_log_filter(&self.log.level)?;
        Ok(CheckedNodeConfig {
            raw: self,
            api,
            admin,
        })
    }

    /// The core's settings.
    pub fn core(&self) -> CoreConfig {
        let c = &self.consensus;
        let ms = Duration::from_millis;
        CoreConfig {
            production: Production {
                max_block_transactions: c.max_block_transactions,
                max_clock_drift: ms(c.max_clock_drift_ms),
            },
            mempool: self.mempool.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn parse(text: &str) -> Result<CheckedNodeConfig, ConfigError> {
        NodeConfig::parse(text, Path::new("node.toml"))?.check()
    }

    #[test]
    fn empty_file_is_all_defaults() {
        let c = parse("").unwrap();
        assert_eq!(c.raw, NodeConfig::default());
        assert_eq!(c.api.to_string(), "127.0.0.1:8080");
    }

    #[test]
    fn round_trips() {
        let mut c = NodeConfig::default();
        c.node.moniker = "st-mary".into();
        c.network.boot_nodes = vec![];
        let text = c.to_toml();
        assert_eq!(NodeConfig::parse(&text, Path::new("x")).unwrap(), c);
    }

    /// Found by fuzzing `node.toml`: this filter took more than 2 GB to compile. It
    /// is refused at once now, as is any span or field filter; plain ones pass.
    #[test]
    fn a_log_filter_is_targets_and_levels_only() {
        let text = "# :z::8:::::0\n\n[log]\n#L\nlevel = \"omax_synnse_bytOOO  ,[)={g11[L\t.=......j......1e-1'?'227iax_?b%\t\t\t\t\t\t\t\t\ti22E222\t\t2\t3}\"\t\n";
        let err = parse(text).unwrap_err().to_string();
        assert!(err.contains("log.level"), "{err}");
        for bad in ["info,[span{x=y}]=debug", &"a".repeat(600)] {
            let config = NodeConfig {
                log: LogSection {
                    level: bad.to_string(),
                    ..LogSection::default()
                },
                ..NodeConfig::default()
            };
            assert!(config.check().is_err(), "{bad}");
        }
        for good in [
            "info",
            "mpms_node=debug,info",
            "warn,libp2p=off,mpms_network::service=trace",
        ] {
            let config = NodeConfig {
                log: LogSection {
                    level: good.to_string(),
                    ..LogSection::default()
                },
                ..NodeConfig::default()
            };
            assert!(config.check().is_ok(), "{good}");
        }
    }

    #[test]
    fn errors_name_the_field() {
        let err = parse("[consensus]\nheartbeat_msx = 5\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("heartbeat_msx"), "{err}");
        // Timing every validator must share is refused here, with where it went.
        let err = parse("[consensus]\nheartbeat_ms = 2000\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("consensus.heartbeat_ms") && err.contains("chain parameter"),
            "{err}"
        );
        let err = parse("[consensus]\nmax_clock_drift_ms = 1\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("consensus.max_clock_drift_ms"), "{err}");
        let err = parse("[api]\nlisten = \"nowhere\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("api.listen"), "{err}");
        let err = parse("[api]\nadmin_listen = \"0.0.0.0:9000\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("api.admin_listen") && err.contains("loopback"),
            "{err}"
        );
        let err = parse("[mempool]\nmax_transactions = 0\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("mempool.max_transactions"), "{err}");
        let err = parse("[network]\nboot_nodes = [\"/ip4/1.2.3.4/tcp/1\"]\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("network.boot_nodes[0]"), "{err}");
        let err = parse("[log]\nformat = \"xml\"\n").unwrap_err().to_string();
        assert!(err.contains("xml") || err.contains("format"), "{err}");
        let err = parse("[node]\nmoniker = 3\n").unwrap_err().to_string();
        assert!(err.contains("moniker"), "{err}");
    }
}
