//! Network configuration, with defaults suited to a consortium of a few dozen nodes.

use std::time::Duration;

use libp2p::{Multiaddr, PeerId};
use serde::{Deserialize, Serialize};

/// Network settings. Every field has a default; unknown fields are refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NetworkConfig {
    /// Addresses to listen on (multiaddrs). Default `/ip4/0.0.0.0/tcp/26656`.
    pub listen: Vec<String>,
    /// Boot nodes: multiaddrs ending in `/p2p/<peer id>`. Default none.
    pub boot_nodes: Vec<String>,
    /// Only admitted peers may connect (the chain's registry and authorities, plus
    /// `allowed_peers`). Default true.
    pub permissioned: bool,
    /// Peer ids admitted by this node's operator in addition to the chain's.
    pub allowed_peers: Vec<String>,
    /// Find peers through Kademlia and dial them up to `target_peers`. Default true.
    pub discovery: bool,
    /// Connected peers to aim for when dialing discovered peers. Default 12.
    pub target_peers: usize,
    /// Gossip mesh degree (gossipsub D). Default 6.
    pub mesh_n: usize,
    /// Lowest mesh degree before grafting more (D_low). Default 4.
    pub mesh_n_low: usize,
    /// Highest mesh degree before pruning (D_high). Default 12.
    pub mesh_n_high: usize,
    /// Gossip heartbeat interval in milliseconds. Default 700.
    pub heartbeat_ms: u64,
    /// Largest gossip message in bytes; must fit the largest block the chain's
    /// parameters may ever allow, with its certificate (the node checks it). The
    /// chain's current limits are enforced per message, as parameters change.
    /// Default 17 MiB.
    pub max_message_bytes: usize,
    /// Invalid messages or lies a peer may send before it is disconnected and banned.
    /// Default 8.
    pub max_offences: u32,
    /// How long a banned peer stays banned, in seconds. Default 600.
    pub ban_secs: u64,
    /// Blocks per sync request. Default 64.
    pub sync_batch: u64,
    /// Largest sync response in bytes. Default 64 MiB.
    pub max_sync_response_bytes: usize,
    /// Sync request timeout in milliseconds: also how long catch-up waits for a
    /// silent peer before going on without it. Default 5,000.
    pub sync_timeout_ms: u64,
    /// Sync requests one peer may make per second (bursts of as many); more are
    /// dropped. Default 20.
    pub sync_requests_per_sec: u32,
    /// Close connections idle for this long, in seconds. Default 120.
    pub idle_timeout_secs: u64,
    /// Bytes of gossip held between the network and the node's core: at most this
    /// much waits for validation (beyond, new gossip is dropped unforwarded), and at
    /// most this much of valid gossip waits for the core (beyond, it is forwarded
    /// but dropped here). At least twice `max_message_bytes`. Default 128 MiB.
    pub max_queued_bytes: usize,
}

impl Default for NetworkConfig {
    fn default() -> Self {
        NetworkConfig {
            listen: vec!["/ip4/0.0.0.0/tcp/26656".into()],
            boot_nodes: Vec::new(),
            permissioned: true,
            allowed_peers: Vec::new(),
            discovery: true,
            target_peers: 12,
            mesh_n: 6,
            mesh_n_low: 4,
            mesh_n_high: 12,
            heartbeat_ms: 700,
            max_message_bytes: 17 << 20,
            max_offences: 8,
            ban_secs: 600,
            sync_batch: 64,
            max_sync_response_bytes: 64 << 20,
            sync_timeout_ms: 5_000,
            sync_requests_per_sec: 20,
            idle_timeout_secs: 120,
            max_queued_bytes: 128 << 20,
        }
    }
}

/// A configuration field that is not valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("network.{field}: {reason}")]
pub struct ConfigError {
    /// The field.
    pub field: String,
    /// Why.
    pub reason: String,
}

fn error(field: impl Into<String>, reason: impl Into<String>) -> ConfigError {
    ConfigError {
        field: field.into(),
        reason: reason.into(),
    }
}

/// A checked configuration, addresses parsed.
#[derive(Debug, Clone)]
pub struct CheckedConfig {
    /// The settings as given.
    pub raw: NetworkConfig,
    /// Listen addresses.
    pub listen: Vec<Multiaddr>,
    /// Boot nodes with their peer ids.
    pub boot_nodes: Vec<(PeerId, Multiaddr)>,
    /// Operator-admitted peers.
    pub allowed_peers: Vec<PeerId>,
}

impl CheckedConfig {
    /// The heartbeat interval.
    pub fn heartbeat(&self) -> Duration {
        Duration::from_millis(self.raw.heartbeat_ms)
    }
}

impl NetworkConfig {
    /// Checks every field, naming the first bad one.
    pub fn check(&self) -> Result<CheckedConfig, ConfigError> {
        let mut listen = Vec::new();
        for (i, text) in self.listen.iter().enumerate() {
            let addr: Multiaddr = text
                .parse()
                .map_err(|e| error(format!("listen[{i}]"), format!("{text:?}: {e}")))?;
            listen.push(addr);
        }
        if listen.is_empty() {
            return Err(error("listen", "at least one address is needed"));
        }
        let mut boot_nodes = Vec::new();
        for (i, text) in self.boot_nodes.iter().enumerate() {
            let field = format!("boot_nodes[{i}]");
            let addr: Multiaddr = text
                .parse()
                .map_err(|e| error(&field, format!("{text:?}: {e}")))?;
            let peer = match addr.iter().last() {
                Some(libp2p::multiaddr::Protocol::P2p(peer)) => peer,
                _ => return Err(error(&field, "must end in /p2p/<peer id>")),
            };
            boot_nodes.push((peer, addr));
        }
        let mut allowed_peers = Vec::new();
        for (i, text) in self.allowed_peers.iter().enumerate() {
            let peer = text
                .parse()
                .map_err(|e| error(format!("allowed_peers[{i}]"), format!("{text:?}: {e}")))?;
            allowed_peers.push(peer);
        }
        if self.mesh_n_low == 0 || self.mesh_n_low > self.mesh_n || self.mesh_n > self.mesh_n_high {
            return Err(error(
                "mesh_n",
                "need 0 < mesh_n_low <= mesh_n <= mesh_n_high",
            ));
        }
        let positive = [
            ("heartbeat_ms", self.heartbeat_ms),
            ("max_offences", u64::from(self.max_offences)),
            ("sync_batch", self.sync_batch),
            ("sync_timeout_ms", self.sync_timeout_ms),
            (
                "sync_requests_per_sec",
                u64::from(self.sync_requests_per_sec),
            ),
            ("idle_timeout_secs", self.idle_timeout_secs),
            ("target_peers", self.target_peers as u64),
        ];
        for (field, value) in positive {
            if value == 0 {
                return Err(error(field, "must be greater than 0"));
            }
        }
        if self.max_message_bytes < 64 << 10 {
            return Err(error("max_message_bytes", "must be at least 65536"));
        }
        if self.max_sync_response_bytes < self.max_message_bytes {
            return Err(error(
                "max_sync_response_bytes",
                "must be at least max_message_bytes (one block)",
            ));
        }
        if self.max_queued_bytes < self.max_message_bytes.saturating_mul(2) {
            return Err(error(
                "max_queued_bytes",
                "must be at least twice max_message_bytes",
            ));
        }
        Ok(CheckedConfig {
            raw: self.clone(),
            listen,
            boot_nodes,
            allowed_peers,
        })
    }

    /// A configuration for tests and local networks: one loopback listener on a free
    /// port, fast heartbeat.
    pub fn local() -> NetworkConfig {
        NetworkConfig {
            listen: vec!["/ip4/127.0.0.1/tcp/0".into()],
            heartbeat_ms: 100,
            ..NetworkConfig::default()
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn defaults_check() {
        NetworkConfig::default().check().unwrap();
        NetworkConfig::local().check().unwrap();
    }

    #[test]
    fn bad_fields_are_named() {
        let bad = NetworkConfig {
            listen: vec!["nonsense".into()],
            ..NetworkConfig::default()
        };
        assert_eq!(bad.check().unwrap_err().field, "listen[0]");
        let bad = NetworkConfig {
            boot_nodes: vec!["/ip4/127.0.0.1/tcp/1".into()],
            ..NetworkConfig::default()
        };
        let err = bad.check().unwrap_err();
        assert_eq!(err.field, "boot_nodes[0]");
        assert!(err.reason.contains("/p2p/"));
        let bad = NetworkConfig {
            allowed_peers: vec!["x".into()],
            ..NetworkConfig::default()
        };
        assert_eq!(bad.check().unwrap_err().field, "allowed_peers[0]");
        let bad = NetworkConfig {
            mesh_n: 20,
            ..NetworkConfig::default()
        };
        assert_eq!(bad.check().unwrap_err().field, "mesh_n");
        let bad = NetworkConfig {
            sync_batch: 0,
            ..NetworkConfig::default()
        };
        assert_eq!(bad.check().unwrap_err().field, "sync_batch");
        let bad = NetworkConfig {
            max_queued_bytes: 20 << 20,
            ..NetworkConfig::default()
        };
        assert_eq!(bad.check().unwrap_err().field, "max_queued_bytes");
    }

    #[test]
    fn unknown_fields_are_refused() {
        let err = serde_json::from_str::<NetworkConfig>(r#"{"listen_on": []}"#).unwrap_err();
        assert!(err.to_string().contains("listen_on"), "{err}");
    }
}
