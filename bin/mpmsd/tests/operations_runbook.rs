//! docs/OPERATIONS.md, run exactly as written against a 4-validator network of real
//! `mpmsd` processes on 127.0.0.1.
//!
//! The shell blocks of the runbook sections are taken from the page and run with
//! bash, each on the machine its first line names: the new institution's (a home of
//! its own, started with the page's own `mpmsd start` line), one authority's
//! (validator 0), or each other authority's (one after the other until the proposal
//! has passed). The page's variables are set as its table describes. Between the
//! blocks the test checks what the page promises: the refused node says it is not
//! admitted, the new authority proposes in round 0 and misses no turn, the rotated
//! key signs, a home restored from a backup older than the rotation says which key
//! it lacks, the restored validator proposes again, the timing vote reaches every
//! node, logs written to a file carry no colour codes, and the API restarted on TLS
//! answers over TLS only.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{text, Net, BIN};
use serde_json::Value;

const MINUTE: Duration = Duration::from_secs(60);

/// Who runs a block, from its first line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// `# new institution` (join) and `# the validator` (afterwards): the clinic.
    Clinic,
    /// `# one authority`: validator 0.
    OneAuthority,
    /// `# each other authority`: every authority but the proposer, until it passed.
    EachOtherAuthority,
    /// `# any member`.
    AnyMember,
    /// `# reference`: needs root and systemd; not run.
    Reference,
}

#[derive(Debug, Clone)]
struct Block {
    section: String,
    role: Role,
    script: String,
}

impl Block {
    /// The `mpmsd start` line of a block that only starts a node (run in the
    /// background, as a service would).
    fn start_line(&self) -> Option<&str> {
        let commands: Vec<&str> = self
            .script
            .lines()
            .filter(|l| !l.trim_start().starts_with('#') && !l.trim().is_empty())
            .collect();
        match commands.as_slice() {
            [line] if line.trim_start().starts_with("mpmsd start ") => Some(line.trim()),
            _ => None,
        }
    }
}

/// The `sh` blocks of the page, with their section and role.
fn runbook() -> Vec<Block> {
    let page = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/OPERATIONS.md"
    ))
    .unwrap();
    let mut blocks = Vec::new();
    let mut section = String::new();
    let mut current: Option<Vec<String>> = None;
    for line in page.lines() {
        let trimmed = line.trim_start();
        if let Some(lines) = current.as_mut() {
            if trimmed.starts_with("```") {
                let script = lines.join("\n");
                let first = lines.first().map(|l| l.trim()).unwrap_or("");
                let role = [
                    ("# new institution", Role::Clinic),
                    ("# the validator", Role::Clinic),
                    ("# one authority", Role::OneAuthority),
                    ("# each other authority", Role::EachOtherAuthority),
                    ("# any member", Role::AnyMember),
                    ("# reference", Role::Reference),
                ]
                .into_iter()
                .find_map(|(prefix, role)| first.starts_with(prefix).then_some(role))
                .unwrap_or_else(|| {
                    panic!("a block in {section:?} does not say who runs it: {first:?}")
                });
                blocks.push(Block {
                    section: section.clone(),
                    role,
                    script,
                });
                current = None;
            } else {
                // Blocks are indented inside list items: drop the indentation.
                let indent = line.len() - trimmed.len();
                lines.push(line[indent.min(line.len())..].to_string());
            }
        } else if let Some(title) = line.strip_prefix("## ") {
            section = title.trim().to_string();
        } else if trimmed == "```sh" {
            current = Some(Vec::new());
        }
    }
    blocks
}

fn section<'a>(blocks: &'a [Block], title: &str) -> Vec<&'a Block> {
    let found: Vec<&Block> = blocks.iter().filter(|b| b.section == title).collect();
    assert!(!found.is_empty(), "no runbook blocks under \"## {title}\"");
    found
}

/// The machines of the runbook: the consortium's validators and the clinic.
struct Runbook {
    net: Net,
    /// Index of the clinic's node in `net.nodes`.
    clinic: usize,
    clinic_env: HashMap<&'static str, String>,
    /// Working directories: the clinic's and the consortium's.
    clinic_dir: PathBuf,
    consortium_dir: PathBuf,
    /// The clinic's node process, started by the page's `mpmsd start` line.
    clinic_process: Option<Child>,
    /// The last proposal number printed, for `$PROPOSAL`.
    proposal: Option<u64>,
    /// Who proposed it (to leave out of "each other authority").
    proposer: Option<usize>,
    /// The authorities, as indices into `net.nodes`.
    authorities: Vec<usize>,
}

impl Runbook {
    fn new() -> Runbook {
        let mut net = Net::new(4, 0);
        net.start_all();
        net.wait_height(&[0, 1, 2, 3], 2, MINUTE);
        let genesis: Value =
            serde_json::from_slice(&std::fs::read(net.genesis()).unwrap()).unwrap();
        let boot_nodes: Vec<String> = (0..4)
            .map(|i| {
                format!(
                    "/ip4/127.0.0.1/tcp/{}/p2p/{}",
                    net.base + 10 * i as u16,
                    genesis["authorities"][i]["peer_id"].as_str().unwrap()
                )
            })
            .collect();
        let root = net.dir.path().to_path_buf();
        let clinic_home = root.join("clinic").join("var-lib-mpms");
        let port = net.base + 40;
        let clinic = net.add(
            clinic_home.clone(),
            format!("http://127.0.0.1:{}", port + 1),
        );
        let clinic_dir = root.join("clinic").join("work");
        let consortium_dir = root.join("consortium");
        std::fs::create_dir_all(&clinic_dir).unwrap();
        std::fs::create_dir_all(&consortium_dir).unwrap();
        let s = |p: PathBuf| p.to_str().unwrap().to_string();
        let clinic_env = HashMap::from([
            ("MPMS_HOME", s(clinic_home)),
            (
                "PASSWORD_FILE",
                s(root.join("clinic").join("etc-mpms").join("password")),
            ),
            ("GENESIS", s(net.genesis())),
            ("BOOT_NODES", boot_nodes.join(",")),
            ("P2P_LISTEN", format!("/ip4/127.0.0.1/tcp/{port}")),
            ("API_LISTEN", format!("127.0.0.1:{}", port + 1)),
            ("ADMIN_LISTEN", format!("127.0.0.1:{}", port + 2)),
            ("BACKUP_DIR", s(root.join("backup"))),
            ("PASSWORD_BACKUP", s(root.join("safe").join("password"))),
        ]);
        Runbook {
            net,
            clinic,
            clinic_env,
            clinic_dir,
            consortium_dir,
            clinic_process: None,
            proposal: None,
            proposer: None,
            authorities: vec![0, 1, 2, 3],
        }
    }

    fn env(&self, node: usize) -> (HashMap<&'static str, String>, PathBuf) {
        if node == self.clinic {
            let mut env = self.clinic_env.clone();
            if let Some(p) = self.proposal {
                env.insert("PROPOSAL", p.to_string());
            }
            return (env, self.clinic_dir.clone());
        }
        let mut env = HashMap::new();
        env.insert(
            "MPMS_HOME",
            self.net.nodes[node].home.to_str().unwrap().to_string(),
        );
        if let Some(p) = self.proposal {
            env.insert("PROPOSAL", p.to_string());
        }
        (env, self.consortium_dir.clone())
    }

    /// Runs `script` with bash on `node`'s machine; panics if it fails.
    fn bash(&mut self, node: usize, block: &Block) -> Output {
        let out = self.bash_result(node, &block.script);
        assert!(
            out.status.success(),
            "runbook block in \"{}\" failed on node {node}:\n{}\n{}",
            block.section,
            block.script,
            text(&out)
        );
        self.note_proposal(node, &out);
        out
    }

    fn bash_result(&self, node: usize, script: &str) -> Output {
        let (env, dir) = self.env(node);
        let bin_dir = Path::new(BIN).parent().unwrap();
        let path = format!(
            "{}:{}",
            bin_dir.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        Command::new("bash")
            .args(["-e", "-u", "-o", "pipefail", "-c", script])
            .current_dir(dir)
            .envs(env)
            .env("PATH", path)
            .env_remove("MPMS_KEYSTORE_PASSWORD")
            .output()
            .unwrap()
    }

    fn note_proposal(&mut self, node: usize, out: &Output) {
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            if let Ok(v) = serde_json::from_str::<Value>(line) {
                if let Some(p) = v["proposal"].as_u64() {
                    if self.proposal != Some(p) {
                        self.proposal = Some(p);
                        self.proposer = Some(node);
                    }
                }
            }
        }
    }

    /// Runs one block where the page says.
    fn run(&mut self, block: &Block) -> Vec<Output> {
        match block.role {
            Role::Reference => Vec::new(),
            Role::Clinic => {
                if let Some(line) = block.start_line() {
                    self.start_clinic(line);
                    Vec::new()
                } else {
                    vec![self.bash(self.clinic, block)]
                }
            }
            Role::OneAuthority => vec![self.bash(0, block)],
            Role::AnyMember => vec![self.bash(0, block)],
            Role::EachOtherAuthority => {
                let proposer = self.proposer.expect("a vote without a proposal");
                let mut outputs = Vec::new();
                for voter in self.authorities.clone() {
                    if voter == proposer {
                        continue;
                    }
                    let out = self.bash(voter, block);
                    let passed = String::from_utf8_lossy(&out.stdout).lines().any(|l| {
                        serde_json::from_str::<Value>(l)
                            .is_ok_and(|v| v["proposal_outcome"]["status"] == "executed")
                    });
                    outputs.push(out);
                    if passed {
                        return outputs;
                    }
                }
                panic!(
                    "proposal {:?} did not pass with every authority's vote",
                    self.proposal
                );
            }
        }
    }

    /// The page's `mpmsd start` line, in the background with the clinic's variables;
    /// a node already running is stopped first (a restart).
    fn start_clinic(&mut self, line: &str) {
        self.stop_clinic();
        let (env, dir) = self.env(self.clinic);
        let home = Path::new(&self.clinic_env["MPMS_HOME"]);
        std::fs::create_dir_all(home).unwrap();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.clinic_log_path())
            .unwrap();
        let bin_dir = Path::new(BIN).parent().unwrap();
        let child = Command::new("bash")
            .args(["-e", "-u", "-c", &format!("exec {line}")])
            .current_dir(dir)
            .envs(env)
            .env(
                "PATH",
                format!(
                    "{}:{}",
                    bin_dir.display(),
                    std::env::var("PATH").unwrap_or_default()
                ),
            )
            .env_remove("MPMS_KEYSTORE_PASSWORD")
            .env("RUST_LOG", "info,libp2p=warn")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.clinic_process = Some(child);
    }

    /// The clinic's log lives outside its home, which the test destroys.
    fn clinic_log_path(&self) -> PathBuf {
        self.net.dir.path().join("clinic").join("node.log")
    }

    fn clinic_log(&self) -> String {
        std::fs::read_to_string(self.clinic_log_path()).unwrap_or_default()
    }

    /// SIGTERM, and a clean exit.
    fn stop_clinic(&mut self) {
        if let Some(mut child) = self.clinic_process.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                if let Some(status) = child.try_wait().unwrap() {
                    assert!(status.success(), "the clinic's node exited with {status}");
                    return;
                }
                assert!(Instant::now() < deadline, "the clinic's node did not stop");
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }

    /// The machine is lost: SIGKILL, and its home and password file are gone.
    fn lose_clinic_machine(&mut self) {
        if let Some(mut child) = self.clinic_process.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
        std::fs::remove_dir_all(&self.clinic_env["MPMS_HOME"]).unwrap();
        let password = Path::new(&self.clinic_env["PASSWORD_FILE"]);
        std::fs::remove_dir_all(password.parent().unwrap()).unwrap();
    }

    /// The clinic's operator account, from its home.
    fn clinic_operator(&self) -> String {
        let out = self.bash_result(self.clinic, "mpmsd keys show --home \"$MPMS_HOME\"");
        assert!(out.status.success(), "{}", text(&out));
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .find_map(|l| l.strip_prefix("operator:"))
            .unwrap()
            .trim()
            .to_string()
    }

    /// `query ready` on the clinic: its reasons when not ready.
    fn clinic_not_ready_reasons(&self) -> Option<String> {
        let out = self.bash_result(self.clinic, "mpmsd query --home \"$MPMS_HOME\" ready");
        (!out.status.success()).then(|| String::from_utf8_lossy(&out.stdout).to_string())
    }

    /// Waits for a finalized block above `after` proposed by `operator`; returns its
    /// height and the round it was decided in.
    fn wait_block_proposed_by(&self, operator: &str, after: u64) -> (u64, u64) {
        let mut found = None;
        let mut next = after + 1;
        self.net
            .wait(&format!("a block proposed by {operator}"), MINUTE, |n| {
                let Some(top) = n.height(0) else { return false };
                while next <= top {
                    let Some(b) = n.get(0, &format!("/v1/blocks/{next}")) else {
                        return false;
                    };
                    if b["header"]["proposer"] == operator {
                        found = Some((next, b["certificate"]["round"].as_u64().unwrap()));
                        return true;
                    }
                    next += 1;
                }
                false
            });
        found.unwrap()
    }

    /// `mpms_proposals_missed_total` for `operator` on node 0.
    fn missed_turns(&self, operator: &str) -> u64 {
        let url = format!("{}/metrics", self.net.nodes[0].api);
        let body = ureq::get(&url).call().unwrap().into_string().unwrap();
        body.lines()
            .filter(|l| l.starts_with("mpms_proposals_missed_total") && l.contains(operator))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
            .sum()
    }
}

impl Drop for Runbook {
    fn drop(&mut self) {
        if let Some(mut child) = self.clinic_process.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[test]
fn the_operations_runbook_works_as_written() {
    let blocks = runbook();
    let join = section(&blocks, "Join a consortium");
    let rotate = section(&blocks, "Rotate the consensus key");
    let backup = section(&blocks, "Back up");
    let restore = section(&blocks, "Restore on a new machine");
    let timing = section(&blocks, "Change the consensus timing");
    let tls = section(&blocks, "Serve the API over TLS");
    assert!(section(&blocks, "Run it as a service")
        .iter()
        .all(|b| b.role == Role::Reference));
    let mut rb = Runbook::new();
    let clinic = rb.clinic;

    // --- Join. Step 1 makes the home; the page then says to back it up: a backup
    // from before any rotation, kept aside for the restore check below.
    rb.run(join[0]);
    let operator = rb.clinic_operator();
    let stale_backup = rb.net.dir.path().join("backup-after-init");
    let stale_password = rb.net.dir.path().join("safe-after-init").join("password");
    {
        let saved = rb.clinic_env.clone();
        rb.clinic_env
            .insert("BACKUP_DIR", stale_backup.to_str().unwrap().into());
        rb.clinic_env
            .insert("PASSWORD_BACKUP", stale_password.to_str().unwrap().into());
        for b in &backup {
            rb.run(b);
        }
        rb.clinic_env = saved;
    }
    // Step 2 writes the join request; the institution sends it to the consortium.
    rb.run(join[1]);
    std::fs::copy(
        rb.clinic_dir.join("join-request.json"),
        rb.consortium_dir.join("join-request.json"),
    )
    .unwrap();
    // Step 3 starts the node before it is admitted: it says it is not admitted, and
    // the members log the refused peer.
    rb.run(join[2]);
    // Its readiness and its log both say so (the log line may be written a moment
    // after the readiness state changes: wait for both).
    rb.net
        .wait("the clinic to say it is not admitted", MINUTE, |_| {
            rb.clinic_not_ready_reasons()
                .is_some_and(|r| r.contains("not admitted by the chain's node registry"))
                && rb
                    .clinic_log()
                    .contains("not admitted by the chain's node registry")
        });
    let clinic_peer: String = serde_json::from_slice::<Value>(
        &std::fs::read(rb.clinic_dir.join("join-request.json")).unwrap(),
    )
    .unwrap()["peer_id"]
        .as_str()
        .unwrap()
        .to_string();
    rb.net
        .wait("a member to log the refused peer", MINUTE, |n| {
            (0..4).any(|i| {
                n.log(i)
                    .lines()
                    .any(|l| l.contains("refused a connection") && l.contains(&clinic_peer))
            })
        });
    // Steps 4 to 8 as written.
    for block in &join[3..] {
        rb.run(block);
    }
    rb.authorities.push(clinic);
    // The new authority takes its turns: blocks it proposes are decided in round 0,
    // and no turn of its is missed.
    let from = rb.net.height(0).unwrap();
    let (h1, round) = rb.wait_block_proposed_by(&operator, from);
    assert_eq!(round, 0, "block {h1} proposed by the clinic");
    let (h2, round) = rb.wait_block_proposed_by(&operator, h1);
    assert_eq!(round, 0, "block {h2} proposed by the clinic");
    assert_eq!(rb.missed_turns(&operator), 0, "the clinic missed a turn");

    // --- Rotate the consensus key; the page says to back up right after making it.
    let keystore_before = std::fs::read(
        Path::new(&rb.clinic_env["MPMS_HOME"])
            .join("keys")
            .join("consensus.keystore"),
    )
    .unwrap();
    let made = rb.run(rotate[0]);
    let new_key = String::from_utf8_lossy(&made[0].stdout)
        .lines()
        .find_map(|l| l.strip_prefix("next consensus key:"))
        .unwrap()
        .trim()
        .to_string();
    for b in &backup {
        rb.run(b);
    }
    for block in &rotate[1..] {
        rb.run(block);
    }
    let status = rb.bash_result(clinic, "mpmsd keys status --home \"$MPMS_HOME\"");
    let status_text = String::from_utf8_lossy(&status.stdout).to_string();
    assert!(
        status.status.success() && status_text.contains(&format!("signing with {new_key}")),
        "{}",
        text(&status)
    );
    // One keystore, rewritten with both keys: the file changed, nothing else appeared.
    let keys_dir = Path::new(&rb.clinic_env["MPMS_HOME"]).join("keys");
    assert_ne!(
        std::fs::read(keys_dir.join("consensus.keystore")).unwrap(),
        keystore_before
    );
    let mut files: Vec<String> = std::fs::read_dir(&keys_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(
        files,
        ["consensus.keystore", "consensus.safety", "operator.key"]
    );
    // The new key signs the clinic's blocks.
    let from = rb.net.height(0).unwrap();
    rb.wait_block_proposed_by(&operator, from);

    // --- Back up (after the rotation), then the machine is lost.
    for b in &backup {
        rb.run(b);
    }
    rb.lose_clinic_machine();

    // A restore from the backup taken before the rotation: the node says which key
    // it lacks, instead of reporting ready while signing nothing.
    {
        let saved = rb.clinic_env.clone();
        rb.clinic_env
            .insert("BACKUP_DIR", stale_backup.to_str().unwrap().into());
        rb.clinic_env
            .insert("PASSWORD_BACKUP", stale_password.to_str().unwrap().into());
        rb.run(restore[0]);
        rb.run(restore[1]);
        rb.net
            .wait("the stale restore to name the missing key", MINUTE, |_| {
                rb.clinic_not_ready_reasons().is_some_and(|r| {
                    r.contains(&format!("names consensus key {new_key}"))
                        && r.contains("does not hold")
                })
            });
        let status = rb.bash_result(clinic, "mpmsd keys status --home \"$MPMS_HOME\"");
        assert!(!status.status.success(), "{}", text(&status));
        assert!(
            String::from_utf8_lossy(&status.stdout).contains("does not hold"),
            "{}",
            text(&status)
        );
        rb.clinic_env = saved;
        rb.lose_clinic_machine();
    }

    // --- Restore from the right backup, as written: it is ready and proposes again.
    let from = rb.net.height(0).unwrap();
    for block in &restore {
        rb.run(block);
    }
    rb.wait_block_proposed_by(&operator, from);

    // --- Change the consensus timing: every node, the clinic included, takes it.
    for block in &timing {
        rb.run(block);
    }
    rb.net.wait("the new heartbeat everywhere", MINUTE, |n| {
        (0..=clinic).all(|i| {
            n.get(i, "/v1/params")
                .is_some_and(|p| p["consensus"]["heartbeat_ms"] == 2000)
        })
    });

    // Logs written to a file carry no colour codes.
    let log = rb.clinic_log();
    assert!(log.contains("committed"), "the clinic's log: {log}");
    assert!(!log.contains('\u{1b}'), "colour codes in a log file");

    // --- The API over TLS, as written: a self-signed certificate, node.toml, a
    // restart; the page's own checks then read it over TLS and not over plain HTTP.
    let mut answers = Vec::new();
    for block in &tls {
        answers.extend(rb.run(block));
    }
    let said: String = answers.iter().map(text).collect();
    assert!(said.contains(r#""live":true"#), "{said}");
    assert!(said.contains(r#""chain_id""#), "{said}");

    rb.stop_clinic();
    for i in 0..4 {
        rb.net.stop(i);
    }
}
