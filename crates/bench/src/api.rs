//! An async client of a node's HTTP API: submissions (canonical bytes), reads, and
//! the Server-Sent Events stream of committed transactions.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::CONTENT_TYPE;
use hyper::{Request, StatusCode};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use mpms_crypto::Hash;
use serde_json::Value;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// Why a request failed: what the report prints next to each failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Failure {
    /// The node refused the request; its reason.
    #[error("refused ({status}): {reason}")]
    Refused {
        /// HTTP status.
        status: u16,
        /// The node's message.
        reason: String,
    },
    /// The request did not complete (connection, timeout, unreadable answer).
    #[error("transport: {0}")]
    Transport(String),
    /// The transaction was admitted but no finalized block reported it in time.
    #[error("not confirmed within {0:?}")]
    NotConfirmed(Duration),
}

impl Failure {
    /// A short class for counting failures by reason (`refused 429`, `transport`...).
    pub fn class(&self) -> String {
        match self {
            Failure::Refused { status, reason } => {
                // The ledger's reason up to its first detail: "nonce 4 expected 3" and
                // "nonce 9 expected 8" count as one reason.
                let head: String = reason
                    .split([':', '(', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9'])
                    .next()
                    .unwrap_or_default()
                    .trim()
                    .chars()
                    .take(60)
                    .collect();
                format!("refused {status}: {head}")
            }
            Failure::Transport(_) => "transport".into(),
            Failure::NotConfirmed(_) => "not confirmed".into(),
        }
    }
}

/// The largest answer read (a block of the largest size the parameters allow, with
/// room to spare): a node that sends more is cut off with an error.
const MAX_ANSWER_BYTES: usize = 64 << 20;

/// A node's API.
#[derive(Clone)]
pub struct Api {
    base: String,
    client: Client<HttpConnector, Full<Bytes>>,
    timeout: Duration,
}

/// A transaction reported committed by the event stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Confirmed {
    /// The transaction.
    pub hash: Hash,
    /// Its block.
    pub height: u64,
    /// When the event was read.
    pub at: Instant,
}

impl Api {
    /// The API at `base` (`http://host:port`), with a per-request timeout.
    pub fn new(base: &str, timeout: Duration) -> Api {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(timeout));
        let client = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(4_096)
            .build(connector);
        Api {
            base: base.trim_end_matches('/').to_string(),
            client,
            timeout,
        }
    }

    /// The base address.
    pub fn base(&self) -> &str {
        &self.base
    }

    async fn send(&self, request: Request<Full<Bytes>>) -> Result<(StatusCode, Bytes), Failure> {
        let exchange = async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(|e| Failure::Transport(e.to_string()))?;
            let status = response.status();
            let body = Limited::new(response.into_body(), MAX_ANSWER_BYTES)
                .collect()
                .await
                .map_err(|e| Failure::Transport(e.to_string()))?
                .to_bytes();
            Ok((status, body))
        };
        tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| Failure::Transport(format!("no answer within {:?}", self.timeout)))?
    }

    fn request(
        &self,
        method: &str,
        path: &str,
        body: Bytes,
    ) -> Result<Request<Full<Bytes>>, Failure> {
        let mut builder = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base));
        if method == "POST" {
            builder = builder.header(CONTENT_TYPE, "application/octet-stream");
        }
        builder
            .body(Full::new(body))
            .map_err(|e| Failure::Transport(e.to_string()))
    }

    /// Submits a signed transaction's canonical bytes; the node's hash when it
    /// validated and admitted it.
    pub async fn submit(&self, tx: Bytes) -> Result<Hash, Failure> {
        let (status, body) = self
            .send(self.request("POST", "/v1/transactions", tx)?)
            .await?;
        if status != StatusCode::ACCEPTED {
            return Err(refusal(status, &body));
        }
        let value: Value =
            serde_json::from_slice(&body).map_err(|e| Failure::Transport(e.to_string()))?;
        value["hash"]
            .as_str()
            .and_then(|h| h.parse().ok())
            .ok_or_else(|| Failure::Transport("an admission without a hash".into()))
    }

    /// GET `path`: the whole body of a 200 answer.
    pub async fn get(&self, path: &str) -> Result<Bytes, Failure> {
        let (status, body) = self.send(self.request("GET", path, Bytes::new())?).await?;
        if status != StatusCode::OK {
            return Err(refusal(status, &body));
        }
        Ok(body)
    }

    /// GET `path` as JSON.
    pub async fn get_json(&self, path: &str) -> Result<Value, Failure> {
        let body = self.get(path).await?;
        serde_json::from_slice(&body).map_err(|e| Failure::Transport(e.to_string()))
    }

    /// Subscribes to the node's event stream; every committed transaction arrives on
    /// the returned channel, stamped when read. The subscription ends when the
    /// receiver is dropped or the node closes the stream.
    pub async fn confirmations(&self) -> Result<mpsc::UnboundedReceiver<Confirmed>, Failure> {
        let request = Request::builder()
            .uri(format!("{}/v1/events", self.base))
            .body(Full::new(Bytes::new()))
            .map_err(|e| Failure::Transport(e.to_string()))?;
        let response = tokio::time::timeout(self.timeout, self.client.request(request))
            .await
            .map_err(|_| Failure::Transport("the event stream did not open".into()))?
            .map_err(|e| Failure::Transport(e.to_string()))?;
        if response.status() != StatusCode::OK {
            return Err(Failure::Refused {
                status: response.status().as_u16(),
                reason: "event stream".into(),
            });
        }
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(read_events(response.into_body(), tx));
        Ok(rx)
    }
}

fn refusal(status: StatusCode, body: &[u8]) -> Failure {
    let reason = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v["error"].as_str().map(str::to_string))
        .unwrap_or_else(|| String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned());
    Failure::Refused {
        status: status.as_u16(),
        reason,
    }
}

async fn read_events(mut body: Incoming, out: mpsc::UnboundedSender<Confirmed>) {
    let mut parser = SseParser::default();
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else { return };
        let Ok(data) = frame.into_data() else {
            continue;
        };
        let at = Instant::now();
        for (event, data) in parser.push(&data) {
            if event != "tx" {
                continue;
            }
            let Ok(value) = serde_json::from_str::<Value>(&data) else {
                continue;
            };
            let (Some(hash), Some(height)) = (
                value["hash"].as_str().and_then(|h| h.parse().ok()),
                value["height"].as_u64(),
            ) else {
                continue;
            };
            if out.send(Confirmed { hash, height, at }).is_err() {
                return;
            }
        }
    }
}

/// Splits a Server-Sent Events byte stream into `(event, data)` pairs.
#[derive(Default)]
pub struct SseParser {
    buffer: String,
}

/// Most bytes of one event the parser buffers (a hostile stream cannot grow it).
const MAX_EVENT_BYTES: usize = 1 << 20;

impl SseParser {
    /// Feeds bytes; returns the events they completed.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<(String, String)> {
        self.buffer.push_str(&String::from_utf8_lossy(bytes));
        let mut out = Vec::new();
        while let Some(end) = self.buffer.find("\n\n") {
            let block: String = self.buffer.drain(..end + 2).collect();
            let mut event = String::from("message");
            let mut data = Vec::new();
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("event:") {
                    event = v.trim().to_string();
                } else if let Some(v) = line.strip_prefix("data:") {
                    data.push(v.strip_prefix(' ').unwrap_or(v).to_string());
                }
            }
            if !data.is_empty() {
                out.push((event, data.join("\n")));
            }
        }
        if self.buffer.len() > MAX_EVENT_BYTES {
            self.buffer.clear();
        }
        out
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn events_split_across_reads_are_reassembled() {
        let mut p = SseParser::default();
        assert!(
            p.push(b"event: block\ndata: {\"height\":3}\n\nevent: tx\nda")
                .len()
                == 1
        );
        let got = p.push(b"ta: {\"hash\":\"ab\"}\n\n: keep-alive\n\n");
        assert_eq!(
            got,
            vec![("tx".to_string(), "{\"hash\":\"ab\"}".to_string())]
        );
        assert!(p.push(b"data: x").is_empty());
        assert_eq!(p.push(b"\n\n"), vec![("message".into(), "x".into())]);
    }

    /// A node (or anything at its address) that answers without end is cut off.
    #[tokio::test]
    async fn an_endless_answer_is_an_error_not_a_memory_leak() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut request = [0u8; 1024];
            let _ = socket.read(&mut request).await;
            let _ = socket
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 1000000000\r\n\r\n")
                .await;
            let chunk = vec![0u8; 1 << 20];
            while socket.write_all(&chunk).await.is_ok() {}
        });
        let api = Api::new(&format!("http://{addr}"), Duration::from_secs(30));
        match api.get("/v1/status").await {
            Err(Failure::Transport(e)) => assert!(e.contains("length limit"), "{e}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn refusals_are_counted_by_reason_not_by_number() {
        let a = Failure::Refused {
            status: 400,
            reason: "nonce 9, expected 8".into(),
        };
        let b = Failure::Refused {
            status: 400,
            reason: "nonce 12, expected 11".into(),
        };
        assert_eq!(a.class(), b.class());
        assert_eq!(a.class(), "refused 400: nonce");
    }
}
