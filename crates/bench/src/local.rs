//! The local back end: a network of real `mpmsd` processes on 127.0.0.1, each with
//! its own home, RocksDB and libp2p swarm, started for a benchmark and stopped after
//! it; and what each process uses (CPU time, memory), read from `/proc`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use mpms_crypto::keystore::KdfParams;
use mpms_node::testnet::{generate_with, TestnetError, TestnetExtras, TestnetOptions};

use crate::api::Api;

/// Why the local network could not run.
#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    /// The homes could not be written.
    #[error(transparent)]
    Testnet(#[from] TestnetError),
    /// A process could not be started or stopped.
    #[error("{what}: {source}")]
    Process {
        /// What was being done.
        what: String,
        /// Why it failed.
        source: std::io::Error,
    },
    /// A node did not become ready.
    #[error("{0}")]
    NotReady(String),
}

/// The shape of the local network.
#[derive(Debug, Clone)]
pub struct LocalOptions {
    /// Where the homes go (created; must be empty).
    pub dir: PathBuf,
    /// The `mpmsd` binary.
    pub bin: PathBuf,
    /// Validators.
    pub validators: usize,
    /// Full nodes.
    pub full_nodes: usize,
    /// Node `i` uses ports `base_port + 10 i` to `+ 2`.
    pub base_port: u16,
    /// The chain id.
    pub chain_id: String,
}

/// One running node.
pub struct LocalNode {
    /// Its name.
    pub moniker: String,
    /// Its home.
    pub home: PathBuf,
    /// Its API.
    pub api: String,
    /// Whether it validates.
    pub validator: bool,
    child: Option<Child>,
}

/// What a process uses.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// CPU time, user and system.
    pub cpu: Duration,
    /// Resident memory now.
    pub rss_bytes: u64,
    /// The most resident memory it ever had.
    pub peak_rss_bytes: u64,
}

/// A running local network.
pub struct LocalNetwork {
    /// Its nodes, validators first.
    pub nodes: Vec<LocalNode>,
}

impl LocalNetwork {
    /// Writes the homes (with `extras` in the genesis) and starts one process per node.
    pub fn start(
        options: &LocalOptions,
        extras: &TestnetExtras,
    ) -> Result<LocalNetwork, LocalError> {
        let genesis_time_ms = mpms_node::runtime::now_ms();
        let generated = generate_with(
            &options.dir,
            &TestnetOptions {
                validators: options.validators,
                full_nodes: options.full_nodes,
                chain_id: options.chain_id.clone(),
                base_port: options.base_port,
                kdf: KdfParams::INSECURE_FAST,
                genesis_time_ms,
                heartbeat_ms: 2_000,
            },
            extras,
        )?;
        let mut network = LocalNetwork { nodes: Vec::new() };
        for node in generated {
            let log = std::fs::File::create(node.home.join("node.log")).map_err(|source| {
                LocalError::Process {
                    what: format!("creating {}/node.log", node.home.display()),
                    source,
                }
            })?;
            let child = Command::new(&options.bin)
                .arg("start")
                .arg("--home")
                .arg(&node.home)
                .env("RUST_LOG", "warn")
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .map_err(|source| LocalError::Process {
                    what: format!("starting {}", options.bin.display()),
                    source,
                })?;
            network.nodes.push(LocalNode {
                moniker: node.moniker,
                home: node.home,
                api: node.api,
                validator: node.validator,
                child: Some(child),
            });
        }
        Ok(network)
    }

    /// Waits until every node answers ready.
    pub async fn wait_ready(&mut self, timeout: Duration) -> Result<(), LocalError> {
        let deadline = tokio::time::Instant::now() + timeout;
        for node in &mut self.nodes {
            let api = Api::new(&node.api, Duration::from_secs(2));
            loop {
                if api.get("/health/ready").await.is_ok() {
                    break;
                }
                if let Some(child) = node.child.as_mut() {
                    if let Ok(Some(status)) = child.try_wait() {
                        return Err(LocalError::NotReady(format!(
                            "{} exited with {status}: see {}/node.log",
                            node.moniker,
                            node.home.display()
                        )));
                    }
                }
                if tokio::time::Instant::now() >= deadline {
                    return Err(LocalError::NotReady(format!(
                        "{} not ready after {timeout:?}: see {}/node.log",
                        node.moniker,
                        node.home.display()
                    )));
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        Ok(())
    }

    /// Each node's usage (`None` where it cannot be read).
    pub fn usage(&self) -> Vec<Option<Usage>> {
        self.nodes
            .iter()
            .map(|n| n.child.as_ref().and_then(|c| usage_of(c.id())))
            .collect()
    }

    /// Stops every node (SIGTERM, then SIGKILL after 30 s).
    pub fn stop(&mut self) {
        for node in &mut self.nodes {
            if let Some(child) = node.child.as_ref() {
                let _ = Command::new("kill")
                    .args(["-TERM", &child.id().to_string()])
                    .status();
            }
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        for node in &mut self.nodes {
            if let Some(mut child) = node.child.take() {
                loop {
                    match child.try_wait() {
                        Ok(Some(_)) => break,
                        Ok(None) if std::time::Instant::now() < deadline => {
                            std::thread::sleep(Duration::from_millis(50));
                        }
                        _ => {
                            let _ = child.kill();
                            let _ = child.wait();
                            break;
                        }
                    }
                }
            }
        }
    }
}

impl Drop for LocalNetwork {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            if let Some(mut child) = node.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

/// Clock ticks per second of `/proc/<pid>/stat`'s CPU times (100 on Linux, where
/// `USER_HZ` is fixed for user space).
const TICKS_PER_SEC: u64 = 100;

/// What process `pid` uses, from `/proc`.
pub fn usage_of(pid: u32) -> Option<Usage> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    parse_usage(&stat, &status)
}

fn parse_usage(stat: &str, status: &str) -> Option<Usage> {
    // The command name is in parentheses and may hold spaces: count from after it.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the name: state is field 3 of the whole line; utime and stime are 14, 15.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    let kb = |key: &str| -> Option<u64> {
        status
            .lines()
            .find(|l| l.starts_with(key))?
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()
    };
    Some(Usage {
        cpu: Duration::from_millis((utime + stime) * 1_000 / TICKS_PER_SEC),
        rss_bytes: kb("VmRSS:")? * 1_024,
        peak_rss_bytes: kb("VmHWM:")? * 1_024,
    })
}

/// The `mpmsd` binary next to the running one (the bench runs from `mpmsd` itself).
pub fn sibling_binary() -> Option<PathBuf> {
    std::env::current_exe()
        .ok()
        .filter(|p| Path::new(p).exists())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn usage_is_read_from_proc_lines() {
        let stat = "4242 (mpmsd start) S 1 4242 4242 0 -1 4194560 5000 0 0 0 250 50 0 0 20 0 9 0 100 1000000 3000";
        let status = "Name:\tmpmsd\nVmHWM:\t  150000 kB\nVmRSS:\t  120000 kB\n";
        let u = parse_usage(stat, status).unwrap();
        assert_eq!(u.cpu, Duration::from_secs(3));
        assert_eq!(u.rss_bytes, 120_000 * 1_024);
        assert_eq!(u.peak_rss_bytes, 150_000 * 1_024);
        assert!(parse_usage("garbage", status).is_none());
        // This very process.
        let me = usage_of(std::process::id()).unwrap();
        assert!(me.rss_bytes > 0 && me.peak_rss_bytes >= me.rss_bytes);
    }
}
