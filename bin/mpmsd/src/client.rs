//! A typed client of a node's HTTP API.

use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use mpms_crypto::{Hash, PublicKey};
use mpms_ledger::{codec, SignedTransaction};
use serde::de::DeserializeOwned;
use serde_json::Value;

/// The API a client command talks to when given neither --node nor --home: the
/// first node of `mpmsd devnet`.
pub const DEVNET_API: &str = "http://127.0.0.1:26601";

/// The API address a client command uses: `--node` if given, else the API of the
/// node whose home is given (its `api.listen`), else [`DEVNET_API`].
pub fn api_url(node: Option<String>, home: Option<&std::path::Path>) -> anyhow::Result<String> {
    if let Some(node) = node {
        return Ok(node);
    }
    let Some(home) = home else {
        return Ok(DEVNET_API.to_string());
    };
    let checked = mpms_node::Home::new(home).load_config()?;
    let mut addr = checked.api;
    // A node listening on every interface is reached on loopback from its machine.
    if addr.ip().is_unspecified() {
        addr.set_ip(if addr.is_ipv4() {
            std::net::Ipv4Addr::LOCALHOST.into()
        } else {
            std::net::Ipv6Addr::LOCALHOST.into()
        });
    }
    Ok(format!("http://{addr}"))
}

/// A node's API.
pub struct Client {
    base: String,
    agent: ureq::Agent,
}

/// A committed transaction.
pub struct Committed {
    /// The block height.
    pub height: u64,
}

/// Why a submission failed.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    /// The node refused the transaction (the reason is the ledger's).
    #[error("refused: {0}")]
    Refused(String),
    /// Anything else (connection, unexpected answer).
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

impl Client {
    /// A client of the API at `base` (e.g. `http://127.0.0.1:26601`).
    pub fn new(base: &str) -> Client {
        Client {
            base: base.trim_end_matches('/').to_string(),
            agent: ureq::AgentBuilder::new()
                .timeout(Duration::from_secs(30))
                .build(),
        }
    }

    /// GETs `path` as JSON; `None` on 404.
    pub fn get_opt(&self, path: &str) -> anyhow::Result<Option<Value>> {
        let url = format!("{}{}", self.base, path);
        match self.agent.get(&url).call() {
            Ok(r) => Ok(Some(r.into_json().with_context(|| format!("GET {url}"))?)),
            Err(ureq::Error::Status(404, _)) => Ok(None),
            Err(ureq::Error::Status(code, r)) => {
                bail!("GET {url}: {code}: {}", error_text(r))
            }
            Err(e) => Err(anyhow!("GET {url}: {e}")),
        }
    }

    /// GETs `path` as JSON; 404 is an error.
    pub fn get(&self, path: &str) -> anyhow::Result<Value> {
        self.get_opt(path)?
            .ok_or_else(|| anyhow!("{path}: not found"))
    }

    /// GETs `path` and decodes the JSON as `T`.
    pub fn get_as<T: DeserializeOwned>(&self, path: &str) -> anyhow::Result<T> {
        serde_json::from_value(self.get(path)?).with_context(|| format!("decoding {path}"))
    }

    /// `/health/ready`: whether the node is ready, and why not.
    pub fn health_ready(&self) -> anyhow::Result<(bool, Vec<String>)> {
        let url = format!("{}/health/ready", self.base);
        let body: Value = match self.agent.get(&url).call() {
            Ok(r) => r.into_json()?,
            Err(ureq::Error::Status(503, r)) => r.into_json()?,
            Err(e) => bail!("GET {url}: {e}"),
        };
        let reasons = body["reasons"]
            .as_array()
            .map(|rs| {
                rs.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        Ok((body["ready"] == true, reasons))
    }

    /// The node's chain id.
    pub fn chain_id(&self) -> anyhow::Result<String> {
        let status = self.get("/v1/status")?;
        status["chain_id"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| anyhow!("status without chain_id"))
    }

    /// The next nonce of `id`, counting its pending transactions.
    pub fn next_nonce(&self, id: &PublicKey) -> anyhow::Result<u64> {
        let account = self.get(&format!("/v1/accounts/{id}"))?;
        account["next_nonce"]
            .as_u64()
            .ok_or_else(|| anyhow!("account without next_nonce"))
    }

    /// Submits `tx` (canonical bytes); returns its hash.
    pub fn submit(&self, tx: &SignedTransaction) -> Result<Hash, SubmitError> {
        let url = format!("{}/v1/transactions", self.base);
        let response = self
            .agent
            .post(&url)
            .set("Content-Type", "application/octet-stream")
            .send_bytes(&codec::encode(tx));
        match response {
            Ok(r) => {
                let body: Value = r.into_json().context("submit answer")?;
                let hash = body["hash"]
                    .as_str()
                    .ok_or_else(|| anyhow!("submit answer without hash"))?;
                Ok(hash.parse().map_err(|e| anyhow!("hash {hash}: {e}"))?)
            }
            Err(ureq::Error::Status(code, r)) if (400..500).contains(&code) => {
                Err(SubmitError::Refused(error_text(r)))
            }
            Err(ureq::Error::Status(code, r)) => {
                Err(anyhow!("POST {url}: {code}: {}", error_text(r)).into())
            }
            Err(e) => Err(anyhow!("POST {url}: {e}").into()),
        }
    }

    /// Waits until `hash` is committed (or `limit` passes).
    pub fn wait_committed(&self, hash: &Hash, limit: Duration) -> anyhow::Result<Committed> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(v) = self.get_opt(&format!("/v1/transactions/{hash}"))? {
                if v["status"] == "committed" {
                    return Ok(Committed {
                        height: v["height"].as_u64().unwrap_or(0),
                    });
                }
            }
            if Instant::now() > deadline {
                bail!(
                    "transaction {hash} not committed after {}s (it was dropped, or the network is not finalizing)",
                    limit.as_secs()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The transaction `hash` as committed, decoded.
    pub fn committed_tx(&self, hash: &Hash) -> anyhow::Result<SignedTransaction> {
        let v = self.get(&format!("/v1/transactions/{hash}"))?;
        let bytes = v["transaction_bytes"]
            .as_str()
            .ok_or_else(|| anyhow!("transaction {hash} is not committed"))?;
        let bytes = hex::decode(bytes).context("transaction bytes")?;
        Ok(codec::decode(&bytes)?)
    }
}

fn error_text(response: ureq::Response) -> String {
    let text = response.into_string().unwrap_or_default();
    serde_json::from_str::<Value>(&text)
        .ok()
        .and_then(|v| v["error"].as_str().map(str::to_string))
        .unwrap_or(text)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// `--home` alone talks to that home's API (it used to go to the devnet's port).
    #[test]
    fn a_home_names_its_own_api() {
        let dir = tempfile::tempdir().unwrap();
        let home = mpms_node::Home::new(dir.path());
        let mut config = mpms_node::NodeConfig::default();
        config.api.listen = "0.0.0.0:19999".into();
        mpms_node::home::write_file(&home.config_path(), &config.to_toml(), false).unwrap();
        assert_eq!(
            api_url(None, Some(dir.path())).unwrap(),
            "http://127.0.0.1:19999"
        );
        assert_eq!(
            api_url(Some("http://10.0.0.5:8080".into()), Some(dir.path())).unwrap(),
            "http://10.0.0.5:8080"
        );
        assert_eq!(api_url(None, None).unwrap(), DEVNET_API);
        // A home whose configuration is broken says so, naming the field.
        config.api.listen = "nowhere".into();
        std::fs::write(home.config_path(), config.to_toml()).unwrap();
        let err = api_url(None, Some(dir.path())).unwrap_err().to_string();
        assert!(err.contains("api.listen"), "{err}");
    }
}
