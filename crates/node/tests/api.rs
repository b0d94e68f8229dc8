//! The HTTP API of a real node (one validator, in process, RocksDB, loopback):
//! bad input of every kind gets a 4xx with the reason and changes nothing; good input
//! is committed and reported by the event stream; health, metrics and OpenAPI are
//! served.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use mpms_crypto::keystore::KdfParams;
use mpms_crypto::{DecryptionKey, SigningKey};
use mpms_ledger::{codec, Payload, Transaction};
use mpms_node::home::Home;
use mpms_node::launch::{launch, shutdown_signal};
use mpms_node::testnet::{generate, TestnetOptions};
use serde_json::Value;

/// A minimal HTTP/1.1 client: (status, body).
fn request(addr: &str, method: &str, path: &str, content_type: &str, body: &[u8]) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    // A refused body may close the connection before it is all written.
    let _ = stream.write_all(body);
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let text = String::from_utf8_lossy(&response).to_string();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

fn get(addr: &str, path: &str) -> (u16, String) {
    request(addr, "GET", path, "application/json", b"")
}

fn json(body: &str) -> Value {
    // Chunked bodies: take the JSON object inside.
    let start = body.find('{').unwrap_or(0);
    let end = body.rfind('}').map_or(body.len(), |e| e + 1);
    serde_json::from_str(&body[start..end]).unwrap_or(Value::Null)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_refused_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let nodes = generate(
        dir.path(),
        &TestnetOptions {
            validators: 1,
            full_nodes: 0,
            chain_id: "mpms-api-test".into(),
            base_port: 0,
            kdf: KdfParams::INSECURE_FAST,
            genesis_time_ms: mpms_node::runtime::now_ms(),
            heartbeat_ms: 300,
        },
    )
    .unwrap();
    // Free ports chosen by the OS.
    let home = Home::new(&nodes[0].home);
    let mut config = home.load_config().unwrap().raw;
    config.network.listen = vec!["/ip4/127.0.0.1/tcp/0".into()];
    config.api.listen = "127.0.0.1:0".into();
    config.api.admin_listen = "127.0.0.1:0".into();
    config.api.max_body_bytes = 64 << 10;
    config.api.max_submissions_per_sec = 100;
    std::fs::write(home.config_path(), config.to_toml()).unwrap();
    let (stop, stopped) = shutdown_signal();
    let node = launch(&home, stopped).await.unwrap();
    let addr = node.api.to_string();
    let admin = node.admin.unwrap().to_string();

    let a = addr.clone();
    let status = tokio::task::spawn_blocking(move || {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let (code, body) = get(&a, "/v1/status");
            if code == 200 && json(&body)["height"].as_u64().unwrap_or(0) >= 1 {
                return json(&body);
            }
            assert!(Instant::now() < deadline, "no block");
            std::thread::sleep(Duration::from_millis(100));
        }
    })
    .await
    .unwrap();
    let chain_id = status["chain_id"].as_str().unwrap().to_string();

    let a = addr.clone();
    tokio::task::spawn_blocking(move || {
        let subject = SigningKey::from_seed(&[7; 32]);
        let enc = DecryptionKey::derive(b"api test subject").encryption_key();
        let bits = json(&get(&a, "/v1/params").1)["account_creation_work_bits"]
            .as_u64()
            .unwrap() as u8;
        let work = mpms_ledger::work::stamp(&chain_id, &subject.public_key(), bits);
        let tx = |chain: &str| {
            Transaction {
                chain_id: chain.into(),
                sender: subject.public_key(),
                nonce: 0,
                payload: Payload::RegisterSubject {
                    encryption_key: enc,
                    work,
                },
            }
            .sign(&subject)
        };
        let post = |ct: &str, body: &[u8]| request(&a, "POST", "/v1/transactions", ct, body);

        // Malformed JSON.
        let (code, body) = post("application/json", b"{\"tx\": ");
        assert_eq!(code, 400, "{body}");
        assert!(
            json(&body)["error"].as_str().unwrap().contains("JSON"),
            "{body}"
        );
        // JSON of the wrong shape.
        let (code, body) = post("application/json", b"{\"hello\": 1}");
        assert_eq!(code, 400, "{body}");
        // Garbage bytes.
        let (code, body) = post("application/octet-stream", &[0xff; 40]);
        assert_eq!(code, 400, "{body}");
        // Trailing bytes after a valid transaction.
        let mut trailing = codec::encode(&tx(&chain_id));
        trailing.push(0);
        let (code, _) = post("application/octet-stream", &trailing);
        assert_eq!(code, 400);
        // A bad signature.
        let mut forged = tx(&chain_id);
        forged.signature = SigningKey::from_seed(&[8; 32]).sign(
            &chain_id,
            mpms_crypto::Domain::Transaction,
            b"something else",
        );
        let (code, body) = post("application/octet-stream", &codec::encode(&forged));
        assert_eq!(code, 422, "{body}");
        assert!(body.contains("signature"), "{body}");
        // Another chain's transaction.
        let (code, body) = post(
            "application/json",
            serde_json::to_string(&tx("another-chain"))
                .unwrap()
                .as_bytes(),
        );
        assert_eq!(code, 400, "{body}");
        assert!(body.contains("wrong chain id"), "{body}");
        // A huge body.
        let (code, _) = post("application/octet-stream", &vec![0u8; 1 << 20]);
        assert_eq!(code, 413);
        // An unsupported content type.
        let (code, _) = post("text/plain", b"hello");
        assert_eq!(code, 415);
        // Unknown routes and bad ids.
        let (code, body) = get(&a, "/v1/nothing-here");
        assert_eq!(code, 404);
        assert!(json(&body)["error"].as_str().unwrap().contains("no route"));
        assert_eq!(get(&a, "/v1/blocks/not-a-number").0, 400);
        assert_eq!(get(&a, "/v1/blocks/99999999").0, 404);
        assert_eq!(get(&a, "/v1/credentials/zz").0, 400);
        assert_eq!(get(&a, "/v1/transactions/00").0, 400);
        assert_eq!(get(&a, "/v1/proposals?limit=x").0, 400);
        // Nothing of that reached the mempool.
        assert_eq!(json(&get(&a, "/v1/status").1)["mempool_transactions"], 0);

        // The node is unaffected: a good transaction, as JSON, is committed, and the
        // event stream reports it.
        let mut events = TcpStream::connect(&a).unwrap();
        events
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        write!(
            events,
            "GET /v1/events HTTP/1.1\r\nHost: {a}\r\nAccept: text/event-stream\r\n\r\n"
        )
        .unwrap();
        let good = tx(&chain_id);
        let hash = good.hash().to_string();
        let (code, body) = post(
            "application/json",
            serde_json::to_string(&good).unwrap().as_bytes(),
        );
        assert_eq!(code, 202, "{body}");
        assert_eq!(json(&body)["hash"], hash.as_str());
        // A second copy is a duplicate.
        let (code, _) = post("application/octet-stream", &codec::encode(&good));
        assert_eq!(code, 422);
        let mut reader = BufReader::new(events);
        let mut line = String::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            line.clear();
            reader.read_line(&mut line).unwrap();
            if line.contains(&hash) {
                break;
            }
            assert!(Instant::now() < deadline, "no tx event");
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let v = json(&get(&a, &format!("/v1/transactions/{hash}")).1);
            if v["status"] == "committed" {
                break;
            }
            assert!(Instant::now() < deadline, "not committed: {v}");
            std::thread::sleep(Duration::from_millis(50));
        }
        let id = subject.public_key().to_string();
        assert_eq!(get(&a, &format!("/v1/subjects/{id}")).0, 200);
        assert_eq!(json(&get(&a, &format!("/v1/accounts/{id}")).1)["nonce"], 1);

        // A batch: each transaction gets its own answer, in order; refusals are the
        // ones a submission alone would get, and do not stop the others.
        let other = |seed: u8| {
            let key = SigningKey::from_seed(&[seed; 32]);
            let work = mpms_ledger::work::stamp(&chain_id, &key.public_key(), bits);
            Transaction {
                chain_id: chain_id.clone(),
                sender: key.public_key(),
                nonce: 0,
                payload: Payload::RegisterSubject {
                    encryption_key: enc,
                    work,
                },
            }
            .sign(&key)
        };
        let (second, third) = (other(21), other(22));
        let batch = serde_json::to_string(&vec![
            second.clone(),
            forged.clone(),
            tx("another-chain"),
            second.clone(),
        ])
        .unwrap();
        let (code, body) = post("application/json", batch.as_bytes());
        assert_eq!(code, 200, "{body}");
        let results = json(&body)["results"].as_array().unwrap().clone();
        assert_eq!(results.len(), 4, "{body}");
        assert_eq!(results[0]["status"], "pending", "{body}");
        assert_eq!(results[0]["hash"], second.hash().to_string().as_str());
        assert_eq!(results[1]["code"], 422, "{body}");
        assert!(results[1]["error"].as_str().unwrap().contains("signature"));
        assert_eq!(results[2]["code"], 400, "{body}");
        assert!(results[2]["error"]
            .as_str()
            .unwrap()
            .contains("wrong chain id"));
        assert_eq!(
            results[3]["code"], 422,
            "the second copy is a duplicate: {body}"
        );
        // As canonical bytes, through the Rust client: the admitted one's hash, and
        // the refused one's reason.
        let client = mpms_client::Client::new(&format!("http://{a}"));
        let answers = client
            .submit_many(&[third.clone(), third.clone()])
            .unwrap();
        assert_eq!(answers[0].as_ref().unwrap(), &third.hash());
        assert!(
            matches!(&answers[1], Err(mpms_client::Error::Refused(reason)) if reason.contains("already")),
            "{answers:?}"
        );
        // Refused whole: empty, malformed, or more than this address's burst (each
        // transaction counts against its budget), and then nothing is submitted.
        assert_eq!(post("application/json", b"[]").0, 400);
        assert_eq!(post("application/json", b"[{\"tx\": 1}]").0, 400);
        assert_eq!(post("application/vnd.mpms.transactions", &[0xff; 9]).0, 400);
        // None admitted: the first refusal's status, with every result.
        let (code, body) = post(
            "application/json",
            serde_json::to_string(&vec![forged.clone(), tx("another-chain")])
                .unwrap()
                .as_bytes(),
        );
        assert_eq!(code, 422, "{body}");
        assert_eq!(
            json(&body)["results"].as_array().unwrap().len(),
            2,
            "{body}"
        );
        assert!(json(&body)["error"]
            .as_str()
            .unwrap()
            .contains("none of the 2"));
        let pending = json(&get(&a, "/v1/status").1)["mempool_transactions"].clone();
        let too_many = vec![other(23); 201];
        let (code, body) = post(
            "application/vnd.mpms.transactions",
            &codec::encode(&too_many),
        );
        assert_eq!(code, 429, "{body}");
        assert!(body.contains("smaller batches"), "{body}");
        assert_eq!(
            json(&get(&a, "/v1/status").1)["mempool_transactions"],
            pending
        );
        for hash in [second.hash(), third.hash()] {
            let deadline = Instant::now() + Duration::from_secs(20);
            loop {
                let v = json(&get(&a, &format!("/v1/transactions/{hash}")).1);
                if v["status"] == "committed" {
                    break;
                }
                assert!(Instant::now() < deadline, "not committed: {v}");
                std::thread::sleep(Duration::from_millis(50));
            }
        }

        // Health, metrics, OpenAPI.
        assert_eq!(get(&a, "/health/live").0, 200);
        let (code, body) = get(&a, "/health/ready");
        assert_eq!(code, 200, "{body}");
        let (code, metrics) = get(&a, "/metrics");
        assert_eq!(code, 200);
        for name in [
            "mpms_finalized_height",
            "mpms_peers",
            "mpms_mempool_transactions",
            "mpms_mempool_bytes",
            "mpms_transaction_confirmation_seconds_bucket",
            "mpms_transactions_total 3",
            "mpms_evidence_total",
            "mpms_gossip_shed",
            "mpms_gossip_dropped",
            "mpms_event_queue_bytes",
            "mpms_peers_penalized",
            "mpms_sync_refused",
        ] {
            assert!(metrics.contains(name), "{name} missing:\n{metrics}");
        }
        let (code, doc) = get(&a, "/openapi.json");
        assert_eq!(code, 200);
        let doc = json(&doc);
        assert_eq!(doc["openapi"], "3.1.0");
        assert!(doc["paths"]["/v1/transactions"]["post"].is_object());
        // Every documented GET route is served (none falls through to "no route").
        for (path, ops) in doc["paths"].as_object().unwrap() {
            if ops.get("get").is_none() || path == "/v1/events" {
                continue;
            }
            let concrete: String = path
                .split('/')
                .map(|seg| if seg.starts_with('{') { "1" } else { seg })
                .collect::<Vec<_>>()
                .join("/");
            let (code, body) = get(&a, &concrete);
            assert!(
                !body.contains("no route") && code != 0,
                "{path} is documented but not served: {code} {body}"
            );
        }
        // Admin routes are on their own (loopback) listener only.
        assert_eq!(get(&a, "/admin/peers").0, 404);
        assert_eq!(get(&admin, "/admin/peers").0, 200);
        // One client submitting far over its budget is told to slow down; reads are
        // not limited.
        let codes: Vec<u16> = (0..400)
            .map(|_| post("application/octet-stream", &[0xff; 8]).0)
            .collect();
        assert!(codes.contains(&429), "no 429 in {codes:?}");
        assert!(codes.iter().all(|c| *c == 400 || *c == 429), "{codes:?}");
        assert_eq!(get(&a, "/v1/status").0, 200);
    })
    .await
    .unwrap();

    stop.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(30), node.stopped())
        .await
        .expect("stops");
}
