//! A local test network of real `mpmsd` processes on 127.0.0.1, driven through the
//! CLI and the HTTP API.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_mpmsd");

static NEXT: AtomicU16 = AtomicU16::new(0);

/// A base port unlikely to collide with other test processes, and below Linux's
/// ephemeral range (32768 and up), from which outgoing connections take theirs.
pub fn base_port() -> u16 {
    let slot = (std::process::id() % 220) as u16 + 60 * NEXT.fetch_add(1, Ordering::Relaxed);
    10_000 + (slot % 220) * 100
}

pub struct Node {
    pub home: PathBuf,
    pub api: String,
    child: Option<Child>,
}

pub struct Net {
    pub dir: tempfile::TempDir,
    /// The first port of the network.
    pub base: u16,
    pub nodes: Vec<Node>,
    pub password: PathBuf,
    agent: ureq::Agent,
}

impl Net {
    /// Writes a network of `validators` + `full_nodes` homes (not started).
    pub fn new(validators: usize, full_nodes: usize) -> Net {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("net");
        let base = base_port();
        let output = Command::new(BIN)
            .args(["testnet", "--insecure-fast-kdf", "--heartbeat-ms", "500"])
            .args(["--validators", &validators.to_string()])
            .args(["--full-nodes", &full_nodes.to_string()])
            .args(["--base-port", &base.to_string(), "--out"])
            .arg(&out)
            .output()
            .unwrap();
        assert!(output.status.success(), "testnet: {}", text(&output));
        let mut nodes = Vec::new();
        for i in 0..validators + full_nodes {
            let name = if i < validators {
                format!("validator-{i}")
            } else {
                format!("full-{}", i - validators)
            };
            nodes.push(Node {
                home: out.join(name),
                api: format!("http://127.0.0.1:{}", base + 10 * i as u16 + 1),
                child: None,
            });
        }
        let password = dir.path().join("password");
        std::fs::write(&password, "test password 1234").unwrap();
        Net {
            dir,
            base,
            nodes,
            password,
            agent: ureq::AgentBuilder::new()
                .timeout(Duration::from_secs(10))
                .build(),
        }
    }

    /// Adds a node whose home is already written (not started).
    pub fn add(&mut self, home: PathBuf, api: String) -> usize {
        self.nodes.push(Node {
            home,
            api,
            child: None,
        });
        self.nodes.len() - 1
    }

    pub fn genesis(&self) -> PathBuf {
        self.dir.path().join("net").join("genesis.json")
    }

    /// The chain id, from the genesis.
    pub fn chain_id(&self) -> String {
        let genesis: serde_json::Value =
            serde_json::from_slice(&std::fs::read(self.genesis()).unwrap()).unwrap();
        genesis["chain_id"].as_str().unwrap().to_string()
    }

    /// Starts node `i` as a process.
    pub fn start(&mut self, i: usize) {
        assert!(self.nodes[i].child.is_none(), "node {i} is running");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.nodes[i].home.join("node.log"))
            .unwrap();
        let child = Command::new(BIN)
            .args(["start", "--home"])
            .arg(&self.nodes[i].home)
            .env(
                "RUST_LOG",
                std::env::var("MPMS_TEST_NODE_LOG").unwrap_or_else(|_| "info,libp2p=warn".into()),
            )
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.nodes[i].child = Some(child);
    }

    pub fn start_all(&mut self) {
        for i in 0..self.nodes.len() {
            self.start(i);
        }
    }

    /// SIGKILL: no chance to clean up.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.nodes[i].child.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }

    /// SIGTERM, then waits for a clean exit.
    pub fn stop(&mut self, i: usize) {
        if let Some(mut child) = self.nodes[i].child.take() {
            let status = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status()
                .unwrap();
            assert!(status.success());
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                if let Some(status) = child.try_wait().unwrap() {
                    if !status.success() {
                        let log = self.log(i);
                        let tail: Vec<&str> = log.lines().rev().take(40).collect();
                        let tail: Vec<&str> = tail.into_iter().rev().collect();
                        panic!(
                            "node {i} exited with {status}; its log ends with:\n{}",
                            tail.join("\n")
                        );
                    }
                    // The database is closed before the process exits (RocksDB
                    // aborts the process if its threads outlive it).
                    if std::env::var("MPMS_TEST_NODE_LOG").is_err() {
                        assert!(
                            self.log(i).contains("store closed"),
                            "node {i} exited without closing its store"
                        );
                    }
                    return;
                }
                assert!(Instant::now() < deadline, "node {i} did not stop");
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }

    /// The process id of node `i`, if it runs.
    pub fn pid(&self, i: usize) -> Option<u32> {
        self.nodes[i].child.as_ref().map(Child::id)
    }

    pub fn log(&self, i: usize) -> String {
        std::fs::read_to_string(self.nodes[i].home.join("node.log")).unwrap_or_default()
    }

    /// GET `path` on node `i`'s API; `None` if it does not answer 200.
    pub fn get(&self, i: usize, path: &str) -> Option<Value> {
        let url = format!("{}{}", self.nodes[i].api, path);
        self.agent.get(&url).call().ok()?.into_json().ok()
    }

    /// GETs `path` from node `i` as a read signed by `key`: what only a party may
    /// read.
    pub fn get_signed(&self, i: usize, path: &str, key: &mpms_crypto::SigningKey) -> Option<Value> {
        let url = format!("{}{}", self.nodes[i].api, path);
        let signed = mpms_client::types::read_auth::authorization(
            &self.chain_id(),
            key,
            path,
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_millis() as u64,
        );
        self.agent
            .get(&url)
            .set("Authorization", &signed)
            .call()
            .ok()?
            .into_json()
            .ok()
    }

    /// The signing key of account key file `key_file` (the tests' password).
    pub fn signing_key(key_file: &std::path::Path) -> mpms_crypto::SigningKey {
        mpms_node::keys::AccountKeys::load(key_file, "test password 1234")
            .unwrap()
            .signing
    }

    pub fn height(&self, i: usize) -> Option<u64> {
        self.get(i, "/v1/status")?["height"].as_u64()
    }

    /// Waits until `check` holds or fails after `limit`.
    pub fn wait(&self, what: &str, limit: Duration, mut check: impl FnMut(&Net) -> bool) {
        let deadline = Instant::now() + limit;
        while !check(self) {
            if Instant::now() > deadline {
                let logs: Vec<String> = (0..self.nodes.len())
                    .map(|i| {
                        let log = self.log(i);
                        let tail: Vec<&str> = log.lines().rev().take(15).collect();
                        format!(
                            "--- node {i}:\n{}",
                            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                        )
                    })
                    .collect();
                panic!("timed out waiting for {what}\n{}", logs.join("\n"));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits until every running node is at least at `height`.
    pub fn wait_height(&self, nodes: &[usize], height: u64, limit: Duration) {
        self.wait(&format!("height {height} on {nodes:?}"), limit, |n| {
            nodes
                .iter()
                .all(|i| n.height(*i).is_some_and(|h| h >= height))
        });
    }

    /// Runs the CLI.
    pub fn cli(&self, args: &[&str]) -> Output {
        Command::new(BIN)
            .args(args)
            .env("MPMS_KEYSTORE_PASSWORD", "test password 1234")
            .output()
            .unwrap()
    }

    /// Runs `mpmsd tx` against node `i` with `signer` (`--key FILE` or `--home DIR`
    /// arguments) and returns its JSON line; panics if refused.
    pub fn tx(&self, i: usize, signer: &[&str], args: &[&str]) -> Value {
        let out = self.tx_result(i, signer, args);
        assert!(out.status.success(), "tx {args:?}: {}", text(&out));
        serde_json::from_slice(&out.stdout).unwrap()
    }

    pub fn tx_result(&self, i: usize, signer: &[&str], args: &[&str]) -> Output {
        let mut all = vec!["tx", "--node", &self.nodes[i].api];
        all.extend_from_slice(signer);
        all.extend_from_slice(args);
        self.cli(&all)
    }

    /// Creates an account key file named `name`.
    pub fn account(&self, name: &str) -> (PathBuf, String) {
        let path = self.dir.path().join(format!("{name}.key"));
        let out = self.cli(&[
            "keys",
            "generate",
            "--insecure-fast-kdf",
            "--out",
            path.to_str().unwrap(),
        ]);
        assert!(out.status.success(), "{}", text(&out));
        let stdout = String::from_utf8_lossy(&out.stdout);
        let id = stdout
            .lines()
            .find_map(|l| l.strip_prefix("account:"))
            .unwrap()
            .trim()
            .to_string();
        (path, id)
    }

    /// The operator account of validator `i`.
    pub fn operator(&self, i: usize) -> String {
        let genesis: Value =
            serde_json::from_slice(&std::fs::read(self.genesis()).unwrap()).unwrap();
        genesis["authorities"][i]["operator"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// Block `height` on node `i`: (hash, state commitment).
    pub fn block(&self, i: usize, height: u64) -> (String, String) {
        let b = self
            .get(i, &format!("/v1/blocks/{height}"))
            .unwrap_or_else(|| panic!("node {i} has no block {height}"));
        (
            b["hash"].as_str().unwrap().to_string(),
            b["header"]["state_root"].as_str().unwrap().to_string(),
        )
    }

    /// Every node in `nodes` holds identical blocks and state commitments up to `height`.
    pub fn assert_identical(&self, nodes: &[usize], height: u64) {
        for h in 1..=height {
            let first = self.block(nodes[0], h);
            for i in &nodes[1..] {
                assert_eq!(self.block(*i, h), first, "block {h} differs on node {i}");
            }
        }
    }

    pub fn home_arg(&self, i: usize) -> Vec<String> {
        vec![
            "--home".into(),
            self.nodes[i].home.to_str().unwrap().to_string(),
        ]
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            if let Some(mut child) = node.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

pub fn text(out: &Output) -> String {
    format!(
        "status {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

pub fn path_str(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A gossip validator that lets everything through: a test driver that publishes
/// what it wants and reads nothing.
pub struct AcceptAll;

impl mpms_network::validate::GossipValidator for AcceptAll {
    fn validate(&self, _: mpms_network::Topic, _: &[u8]) -> mpms_network::validate::Verdict {
        mpms_network::validate::Verdict::Accept
    }
}

impl Net {
    /// Joins the chain's peer-to-peer network as the node whose key is `node_key`
    /// (listening on `listen`), with validators 0 to
    /// 2 as boot nodes, and waits until it is connected to all three and gossip had
    /// time to form its mesh.
    pub fn join_p2p(
        &self,
        runtime: &tokio::runtime::Runtime,
        node_key: [u8; 32],
        listen: Vec<String>,
    ) -> (mpms_network::NetworkHandle, mpms_network::EventReceiver) {
        let genesis: Value =
            serde_json::from_slice(&std::fs::read(self.genesis()).unwrap()).unwrap();
        let chain_id = genesis["chain_id"].as_str().unwrap().to_string();
        let boot_nodes: Vec<String> = (0..3)
            .map(|i| {
                format!(
                    "/ip4/127.0.0.1/tcp/{}/p2p/{}",
                    self.base + 10 * i as u16,
                    genesis["authorities"][i]["peer_id"].as_str().unwrap()
                )
            })
            .collect();
        let (network, events) = runtime.block_on(async {
            let config = mpms_network::NetworkConfig {
                listen,
                boot_nodes,
                discovery: false,
                ..mpms_network::NetworkConfig::local()
            };
            let key = mpms_network::identity::keypair_from_secret(node_key).unwrap();
            mpms_network::start(
                key,
                &config,
                &chain_id,
                std::sync::Arc::new(AcceptAll),
                std::sync::Arc::new(mpms_network::sync::StoreSource(std::sync::Arc::new(
                    mpms_store::MemStore::new(),
                ))),
            )
            .await
            .unwrap()
        });
        self.wait(
            "the test's peer to be connected",
            Duration::from_secs(60),
            |_| runtime.block_on(network.peers()).unwrap().len() >= 3,
        );
        // Let gossip form its mesh.
        std::thread::sleep(Duration::from_secs(2));
        (network, events)
    }
}

/// Verifies a `vc+jwt` with an independent JOSE implementation (Python's `joserfc`,
/// installed with pip if missing) under the ed25519 key `key_hex`, and checks that
/// it is a VC Data Model 2.0 credential whose subject has `holder_name`. `Err` with
/// the verifier's output if it refuses.
pub fn jose_verifies(jwt: &str, key_hex: &str, holder_name: &str) -> Result<(), String> {
    const SCRIPT: &str = r#"
import sys, warnings
warnings.filterwarnings("ignore")
from joserfc import jwt
from joserfc.jwk import OKPKey
token, x, holder = sys.stdin.read().strip(), sys.argv[1], sys.argv[2]
key = OKPKey.import_key({"kty": "OKP", "crv": "Ed25519", "x": x})
decoded = jwt.decode(token, key, algorithms=["EdDSA"])
assert decoded.header["typ"] == "vc+jwt", decoded.header
claims = decoded.claims
assert claims["@context"][0] == "https://www.w3.org/ns/credentials/v2", claims
assert "VerifiableCredential" in claims["type"], claims
assert claims["credentialSubject"]["holderName"] == holder, claims
print("verified by joserfc:", claims["id"])
"#;
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    let have = Command::new(&python)
        .args(["-c", "import joserfc"])
        .status()
        .map_err(|e| format!("{python}: {e} (the test needs python3)"))?;
    if !have.success() {
        let installed = Command::new(&python)
            .args(["-m", "pip", "install", "--quiet", "--user", "joserfc"])
            .status()
            .map_err(|e| e.to_string())?;
        assert!(installed.success(), "pip install joserfc failed");
    }
    let key = hex::decode(key_hex).map_err(|e| e.to_string())?;
    let x = {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&key)
    };
    let mut child = Command::new(&python)
        .args(["-c", SCRIPT, &x, holder_name])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| e.to_string())?;
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(jwt.as_bytes()).map_err(|e| e.to_string())?;
    }
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(())
    } else {
        Err(text(&out))
    }
}

/// The W3C status of a `vc+jwt` credential as generic verifiers read it
/// (`tests/python/w3c_status.py`: joserfc for the signatures, openvc for the
/// Bitstring Status List): `Ok(revoked)`, or `Err` with their output if the
/// credential or its list does not check out.
pub fn w3c_status_revoked(jwt: &str) -> Result<bool, String> {
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    ensure_openvc(&python)?;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/python/w3c_status.py");
    let mut child = Command::new(&python)
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| e.to_string())?;
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(jwt.as_bytes()).map_err(|e| e.to_string())?;
    }
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(text(&out));
    }
    let said: serde_json::Value =
        serde_json::from_slice(&out.stdout).map_err(|e| format!("{e}: {}", text(&out)))?;
    assert_eq!(said["entries"], 1, "one status list entry: {said}");
    Ok(said["revoked"] == true)
}

/// Everything an SD-JWT carries, readable: its issuer JWT's payload and every
/// disclosure, base64url-decoded.
pub fn sd_jwt_readable(sd_jwt: &str) -> String {
    use base64::Engine;
    let decode = |part: &str| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(part)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    };
    sd_jwt
        .trim()
        .split('~')
        .flat_map(|part| part.split('.'))
        .map(decode)
        .collect::<Vec<_>>()
        .join("\n")
}

/// An SD-JWT VC presentation as an independent implementation reads it
/// (`tests/python/sd_jwt_verify.py`, openvc): the issuer and disclosed claims, or
/// `Err` with its output if it refuses the presentation for `audience`, `nonce`
/// and type `vct`.
pub fn openvc_sd_jwt(
    presentation: &str,
    audience: &str,
    nonce: &str,
    vct: &str,
) -> Result<serde_json::Value, String> {
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    ensure_openvc(&python)?;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/python/sd_jwt_verify.py");
    let mut child = Command::new(&python)
        .arg(script)
        .args([audience, nonce, vct])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| e.to_string())?;
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin
            .write_all(presentation.as_bytes())
            .map_err(|e| e.to_string())?;
    }
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(text(&out));
    }
    serde_json::from_slice(&out.stdout).map_err(|e| format!("{e}: {}", text(&out)))
}

/// Installs openvc (and joserfc) with pip unless they import.
fn ensure_openvc(python: &str) -> Result<(), String> {
    let have = Command::new(python)
        .args(["-c", "import openvc, joserfc"])
        .status()
        .map_err(|e| format!("{python}: {e} (the test needs python3)"))?;
    if !have.success() {
        let installed = Command::new(python)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--user",
                "openvc-core==1.37.0",
                "joserfc",
            ])
            .status()
            .map_err(|e| e.to_string())?;
        assert!(installed.success(), "pip install openvc-core failed");
    }
    Ok(())
}

/// The ```sh blocks of a page under docs/, in order.
pub fn doc_shell_blocks(page: &str) -> Vec<String> {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../docs")
            .join(page),
    )
    .unwrap();
    let mut blocks = Vec::new();
    let mut current: Option<Vec<&str>> = None;
    for line in text.lines() {
        match current.as_mut() {
            Some(lines) if line.trim_start().starts_with("```") => {
                blocks.push(lines.join("\n"));
                current = None;
            }
            Some(lines) => lines.push(line),
            None if line.trim() == "```sh" => current = Some(Vec::new()),
            None => {}
        }
    }
    blocks
}

/// The rows of the first table under the heading `heading` of a page under docs/,
/// each as its cells (trimmed), the header and separator rows left out.
pub fn doc_table(page: &str, heading: &str) -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../docs")
            .join(page),
    )
    .unwrap();
    let after = text
        .split_once(&format!("\n{heading}\n"))
        .unwrap_or_else(|| panic!("{page} has no {heading:?}"))
        .1;
    let rows: Vec<Vec<String>> = after
        .lines()
        .skip_while(|line| !line.starts_with('|'))
        .take_while(|line| line.starts_with('|'))
        .map(|line| {
            line.trim()
                .trim_matches('|')
                .split(" | ")
                .map(|cell| cell.trim().to_string())
                .collect()
        })
        .collect();
    rows.into_iter().skip(2).collect()
}

/// Runs `script` with bash (`-euo pipefail`) in `dir`, with `mpmsd` first on the
/// PATH and `env` set, as a person following a page would.
pub fn run_shell(dir: &Path, script: &str, env: &[(&str, &str)]) -> Output {
    let bin_dir = Path::new(BIN).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    Command::new("bash")
        .args(["-euo", "pipefail", "-c", script])
        .current_dir(dir)
        .env("PATH", path)
        .envs(env.iter().copied())
        .output()
        .unwrap()
}

/// `mpmsd devnet` running in the background, stopped (killed) when dropped.
pub struct Devnet {
    pub child: Child,
    /// The network's directory (homes, keys).
    pub dir: PathBuf,
    /// The first validator's API.
    pub api: String,
    /// What it printed before its API address.
    pub printed: Vec<String>,
}

impl Devnet {
    /// Starts `mpmsd devnet` with `args` in `dir` and waits for its API address.
    pub fn start(dir: &Path, args: &[&str]) -> Devnet {
        use std::io::{BufRead, BufReader};
        let mut child = Command::new(BIN)
            .arg("devnet")
            .args(args)
            .args(["--base-port", &base_port().to_string(), "--dir"])
            .arg(dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let _ = tx.send(line);
            }
        });
        let mut devnet = Devnet {
            child,
            dir: dir.to_path_buf(),
            api: String::new(),
            printed: Vec::new(),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        devnet.api = loop {
            let line = rx
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                .unwrap_or_else(|_| panic!("devnet printed no API address: {:?}", devnet.printed));
            if let Some(addr) = line.strip_prefix("API address: ") {
                break addr.trim().to_string();
            }
            devnet.printed.push(line);
        };
        devnet
    }

    /// Runs `mpmsd demo` with `args` against it: its output, once it succeeded.
    pub fn demo(&self, args: &[&str]) -> String {
        let demo = Command::new(BIN)
            .arg("demo")
            .args(args)
            .args(["--node", &self.api, "--network"])
            .arg(&self.dir)
            .output()
            .unwrap();
        let out = String::from_utf8_lossy(&demo.stdout).to_string();
        assert!(
            demo.status.success(),
            "{out}\n{}",
            String::from_utf8_lossy(&demo.stderr)
        );
        out
    }
}

impl Drop for Devnet {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
