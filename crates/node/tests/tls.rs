//! The public API over TLS (rustls), on a real node: a client that trusts the
//! node's certificate reads the API (raw, and through `mpms-client`, which refuses
//! it when not told to trust it); a plain-HTTP client gets no answer; a client
//! that opens connections and never completes a handshake does not hold up others;
//! a certificate and a key that do not match stop the launch with the reason.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mpms_crypto::keystore::KdfParams;
use mpms_node::home::Home;
use mpms_node::launch::{launch, shutdown_signal, LaunchError};
use mpms_node::testnet::{generate, TestnetOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore};
use tokio_rustls::TlsConnector;

/// A one-validator home whose API serves TLS with `cert` and `key` (PEM text).
fn home_with_tls(dir: &Path, cert: &str, key: &str) -> Home {
    let nodes = generate(
        dir,
        &TestnetOptions {
            validators: 1,
            full_nodes: 0,
            chain_id: "mpms-tls-test".into(),
            base_port: 0,
            kdf: KdfParams::INSECURE_FAST,
            genesis_time_ms: mpms_node::runtime::now_ms(),
            heartbeat_ms: 300,
        },
    )
    .unwrap();
    let home = Home::new(&nodes[0].home);
    std::fs::write(home.root().join("config/api.crt"), cert).unwrap();
    std::fs::write(home.root().join("config/api.key"), key).unwrap();
    let mut config = home.load_config().unwrap().raw;
    config.network.listen = vec!["/ip4/127.0.0.1/tcp/0".into()];
    config.api.listen = "127.0.0.1:0".into();
    config.api.admin_listen = String::new();
    config.api.tls_cert = "config/api.crt".into();
    config.api.tls_key = "config/api.key".into();
    std::fs::write(home.config_path(), config.to_toml()).unwrap();
    home
}

/// A client that trusts `cert` only.
fn connector(cert: &CertificateDer<'static>) -> TlsConnector {
    let mut roots = RootCertStore::empty();
    roots.add(cert.clone()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    TlsConnector::from(Arc::new(config))
}

/// `GET path` over TLS: the status line and body.
async fn get(connector: &TlsConnector, addr: std::net::SocketAddr, path: &str) -> String {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    let mut tls = connector.connect(name, tcp).await.unwrap();
    let head = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    tls.write_all(head.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    let _ = tls.read_to_end(&mut response).await;
    String::from_utf8_lossy(&response).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_serves_tls_and_a_stalled_handshake_holds_up_no_one() {
    let issued = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let home = home_with_tls(
        dir.path(),
        &issued.cert.pem(),
        &issued.key_pair.serialize_pem(),
    );
    let (stop, stopped) = shutdown_signal();
    let node = launch(&home, stopped).await.unwrap();
    let client = connector(issued.cert.der());

    // Connections that never start their handshake, opened first.
    let mut stalled = Vec::new();
    for _ in 0..20 {
        stalled.push(TcpStream::connect(node.api).await.unwrap());
    }
    let started = Instant::now();
    let answer = tokio::time::timeout(
        Duration::from_secs(5),
        get(&client, node.api, "/health/live"),
    )
    .await
    .expect("a TLS client was held up by stalled handshakes");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains(r#"{"live":true}"#), "{answer}");
    assert!(started.elapsed() < Duration::from_secs(5));
    drop(stalled);

    // The JSON API, as over plain HTTP.
    let status = get(&client, node.api, "/v1/status").await;
    assert!(status.contains(r#""chain_id":"mpms-tls-test""#), "{status}");

    // The client library: it refuses a certificate it was not told to trust (at
    // once, as a certificate error), and reads the node when told to trust it.
    let url = format!("https://localhost:{}", node.api.port());
    let pem = issued.cert.pem();
    let (untrusted, trusted) = tokio::task::spawn_blocking(move || {
        let untrusted = mpms_client::Client::new(&url).node_status();
        let trusted = mpms_client::Client::with_trusted(&url, pem.as_bytes())
            .unwrap()
            .node_status();
        (untrusted, trusted)
    })
    .await
    .unwrap();
    assert!(
        matches!(untrusted, Err(mpms_client::Error::Certificate { .. })),
        "{untrusted:?}"
    );
    assert_eq!(trusted.unwrap().chain_id, "mpms-tls-test");

    // Plain HTTP to the TLS port gets no HTTP answer.
    let mut plain = TcpStream::connect(node.api).await.unwrap();
    plain
        .write_all(b"GET /health/live HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut response = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), plain.read_to_end(&mut response)).await;
    assert!(
        !String::from_utf8_lossy(&response).contains("200 OK"),
        "plain HTTP was answered"
    );

    // A client that does not trust the certificate refuses the connection.
    let other = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let stranger = connector(other.cert.der());
    let tcp = TcpStream::connect(node.api).await.unwrap();
    let refused = stranger
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await;
    assert!(refused.is_err(), "a certificate nobody issued was trusted");

    stop.send(true).unwrap();
    node.stopped().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_that_is_not_the_certificates_stops_the_launch() {
    let issued = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let other = rcgen::KeyPair::generate().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let home = home_with_tls(dir.path(), &issued.cert.pem(), &other.serialize_pem());
    let (_stop, stopped) = shutdown_signal();
    let err = match launch(&home, stopped).await {
        Err(e) => e,
        Ok(_) => panic!("a node started with a key that is not its certificate's"),
    };
    assert!(matches!(err, LaunchError::Tls(_)), "{err}");
    assert!(
        err.to_string().contains("api.tls_cert and api.tls_key"),
        "{err}"
    );

    // Not PEM at all: the file is named.
    let dir = tempfile::tempdir().unwrap();
    let home = home_with_tls(dir.path(), "not a certificate", "nor a key");
    let (_stop, stopped) = shutdown_signal();
    let err = match launch(&home, stopped).await {
        Err(e) => e,
        Ok(_) => panic!("a node started without a certificate"),
    };
    assert!(err.to_string().contains("api.tls_cert"), "{err}");
    assert!(err.to_string().contains("api.crt"), "{err}");
}
