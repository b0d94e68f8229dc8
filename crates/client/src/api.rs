//! A typed client of a node's HTTP API (`docs/API.md`): reads, submission, and
//! waiting for a transaction's block.

use std::time::{Duration, Instant};

use mpms_api::{
    AccountView, AuditEvent, AuthoritiesView, GrantView, ProposalList, Readiness, SchemaList,
    Status, SubjectAudit, SubjectCredentials, Submitted, TransactionStatus, TxState,
};
use mpms_crypto::{EncryptionKey, Hash, PublicKey, SigningKey};
use mpms_ledger::records::{
    Certifier, Credential, Grant, GrantSet, Organization, Proposal, Schema, Subject,
};
use mpms_ledger::{codec, AuthoritySet, Params, SignedTransaction};
use mpms_light::{ProofBundle, StatusProof};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::{Error, Result, ResultExt};

/// The API of the first node of `mpmsd devnet`.
pub const DEVNET_API: &str = "http://127.0.0.1:26601";

/// How long one HTTP exchange may take.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// How many entries list reads ask for.
const LIST_LIMIT: usize = 1000;

/// A node's API.
#[derive(Clone)]
pub struct Client {
    base: String,
    agent: ureq::Agent,
    /// Who signs reads (see [`Client::reading_as`]): the key and the chain.
    reader: Option<std::sync::Arc<(SigningKey, String)>>,
}

/// A committed transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Committed {
    /// The block height.
    pub height: u64,
}

/// A JSON read of the API, as the node answers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource<'a> {
    /// Chain and node status.
    Status,
    /// The latest block.
    LatestBlock,
    /// The block at a height.
    Block(u64),
    /// A transaction's status (by its hash, as text).
    Transaction(&'a str),
    /// An account (by its id, as text).
    Account(&'a str),
    /// A subject.
    Subject(&'a str),
    /// A subject's credentials (the node's default page).
    SubjectCredentials(&'a str),
    /// The audit trail of a subject's credentials.
    Audit(&'a str),
    /// A credential's record.
    Credential(&'a str),
    /// A credential's inclusion proof and commit certificate.
    CredentialProof(&'a str),
    /// A credential's proof bundle.
    Bundle(&'a str),
    /// A grant.
    Grant(&'a str),
    /// Credential schemas.
    Schemas,
    /// The authority set and the authorities' records.
    Authorities,
    /// The chain's parameters.
    Params,
    /// Governance proposals, newest first.
    Proposals,
    /// One proposal.
    Proposal(u64),
    /// Punished offences.
    Evidence,
}

impl Resource<'_> {
    /// The resource's API path.
    pub fn path(&self) -> String {
        match self {
            Resource::Status => "/v1/status".to_string(),
            Resource::LatestBlock => "/v1/blocks/latest".to_string(),
            Resource::Block(height) => format!("/v1/blocks/{height}"),
            Resource::Transaction(hash) => format!("/v1/transactions/{hash}"),
            Resource::Account(id) => format!("/v1/accounts/{id}"),
            Resource::Subject(id) => format!("/v1/subjects/{id}"),
            Resource::SubjectCredentials(id) => format!("/v1/subjects/{id}/credentials"),
            Resource::Audit(id) => format!("/v1/subjects/{id}/audit?limit={LIST_LIMIT}"),
            Resource::Credential(id) => format!("/v1/credentials/{id}"),
            Resource::CredentialProof(id) => format!("/v1/credentials/{id}/proof"),
            Resource::Bundle(id) => format!("/v1/credentials/{id}/bundle"),
            Resource::Grant(id) => format!("/v1/grants/{id}"),
            Resource::Schemas => "/v1/schemas".to_string(),
            Resource::Authorities => "/v1/authorities".to_string(),
            Resource::Params => "/v1/params".to_string(),
            Resource::Proposals => "/v1/proposals".to_string(),
            Resource::Proposal(id) => format!("/v1/proposals/{id}"),
            Resource::Evidence => "/v1/evidence".to_string(),
        }
    }
}

impl Client {
    /// A client of the API at `base` (e.g. `http://127.0.0.1:26601`), each exchange
    /// limited to [`DEFAULT_TIMEOUT`].
    pub fn new(base: &str) -> Client {
        Client::with_timeout(base, DEFAULT_TIMEOUT)
    }

    /// A client of the API at `base`, each exchange limited to `timeout`. An
    /// `https://` node must present a certificate from a public authority; see
    /// [`Client::with_trusted`] for an institution's own.
    pub fn with_timeout(base: &str, timeout: Duration) -> Client {
        Client {
            base: base.trim_end_matches('/').to_string(),
            agent: ureq::AgentBuilder::new().timeout(timeout).build(),
            reader: None,
        }
    }

    /// A client of the API at `base` (`https://...`) that also trusts the
    /// certificates in `pem` (PEM): an institution's certificate authority, or a
    /// node's own self-signed certificate.
    pub fn with_trusted(base: &str, pem: &[u8]) -> Result<Client> {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::CertificateDer;
        let mut roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        let mut added = 0;
        for cert in CertificateDer::pem_slice_iter(pem) {
            let cert = cert.map_err(|e| Error::Input(format!("trusted certificates: {e}")))?;
            roots
                .add(cert)
                .map_err(|e| Error::Input(format!("trusted certificate: {e}")))?;
            added += 1;
        }
        if added == 0 {
            return Err(Error::Input(
                "trusted certificates: no PEM \"BEGIN CERTIFICATE\" block".into(),
            ));
        }
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::Input(format!("TLS: {e}")))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Client {
            base: base.trim_end_matches('/').to_string(),
            agent: ureq::AgentBuilder::new()
                .timeout(DEFAULT_TIMEOUT)
                .tls_config(std::sync::Arc::new(config))
                .build(),
            reader: None,
        })
    }

    /// This client, signing every read with `key` (the node serves what only some
    /// parties may read, a subject's listing and audit trail or a transaction's
    /// sealed values, to a read signed by one of them: [`mpms_api::read_auth`]).
    pub fn reading_as(&self, key: &SigningKey) -> Result<Client> {
        let chain_id = self.chain_id()?;
        Ok(Client {
            reader: Some(std::sync::Arc::new((key.clone(), chain_id))),
            ..self.clone()
        })
    }

    /// The API's base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// GETs `path` as JSON; `None` if the node holds nothing there (404).
    pub fn get_opt(&self, path: &str) -> Result<Option<Value>> {
        let url = self.url(path);
        let mut request = self.agent.get(&url);
        if let Some(reader) = &self.reader {
            let (key, chain_id) = reader.as_ref();
            let signed = mpms_api::read_auth::authorization(chain_id, key, path, crate::now_ms());
            request = request.set("Authorization", &signed);
        }
        match request.call() {
            Ok(r) => r
                .into_json()
                .map(Some)
                .map_err(|e| Error::malformed(format!("GET {url}"), e)),
            Err(ureq::Error::Status(404, _)) => Ok(None),
            Err(ureq::Error::Status(status, r)) => Err(Error::Status {
                method: "GET",
                url,
                status,
                message: error_text(r),
            }),
            Err(e) => Err(transport("GET", url, &e)),
        }
    }

    /// GETs `path` as JSON; 404 is [`Error::NotFound`].
    pub fn get(&self, path: &str) -> Result<Value> {
        self.get_opt(path)?.ok_or_else(|| Error::NotFound {
            path: path.to_string(),
        })
    }

    /// GETs `path` and decodes the JSON as `T`.
    pub fn get_as<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        decode(self.get(path)?, &format!("decoding {path}"))
    }

    /// GETs `path` and decodes the JSON as `T`; `None` on 404.
    pub fn get_opt_as<T: DeserializeOwned>(&self, path: &str) -> Result<Option<T>> {
        self.get_opt(path)?
            .map(|v| decode(v, &format!("decoding {path}")))
            .transpose()
    }

    /// Reads `resource` as the node answers it.
    pub fn read(&self, resource: &Resource<'_>) -> Result<Value> {
        self.get(&resource.path())
    }

    /// `/health/ready`: whether the node is ready, and why not.
    pub fn health_ready(&self) -> Result<Readiness> {
        let url = self.url("/health/ready");
        match self.agent.get(&url).call() {
            Ok(r) | Err(ureq::Error::Status(503, r)) => r
                .into_json()
                .map_err(|e| Error::malformed(format!("GET {url}"), e)),
            Err(e) => Err(transport("GET", url, &e)),
        }
    }

    /// The node's status (`/v1/status`).
    pub fn status(&self) -> Result<Value> {
        self.read(&Resource::Status)
    }

    /// The node's status, typed.
    pub fn node_status(&self) -> Result<Status> {
        decode(self.status()?, "status")
    }

    /// The node's chain id.
    pub fn chain_id(&self) -> Result<String> {
        Ok(self.node_status()?.chain_id)
    }

    /// The account `id`: whether it exists, its nonces and its record.
    pub fn account(&self, id: &PublicKey) -> Result<AccountView> {
        self.get_as(&format!("/v1/accounts/{id}"))
    }

    /// Whether account `id` exists on the chain.
    pub fn account_exists(&self, id: &PublicKey) -> Result<bool> {
        Ok(self.account(id)?.exists)
    }

    /// The next nonce of `id`, counting its pending transactions.
    pub fn next_nonce(&self, id: &PublicKey) -> Result<u64> {
        Ok(self.account(id)?.next_nonce)
    }

    /// Submits `tx` (canonical bytes); returns its hash. A transaction the node
    /// refuses (a 4xx answer) is [`Error::Refused`] with the ledger's reason.
    pub fn submit(&self, tx: &SignedTransaction) -> Result<Hash> {
        let url = self.url("/v1/transactions");
        let response = self
            .agent
            .post(&url)
            .set("Content-Type", "application/octet-stream")
            .send_bytes(&codec::encode(tx));
        match response {
            Ok(r) => {
                let answer: Submitted = r
                    .into_json()
                    .map_err(|e| Error::malformed("submit answer", e))?;
                Ok(answer.hash)
            }
            Err(ureq::Error::Status(status, r)) if (400..500).contains(&status) => {
                Err(Error::Refused(error_text(r)))
            }
            Err(ureq::Error::Status(status, r)) => Err(Error::Status {
                method: "POST",
                url,
                status,
                message: error_text(r),
            }),
            Err(e) => Err(transport("POST", url, &e)),
        }
    }

    /// Submits `txs` as one batch (canonical bytes, at most 1,000): one result per
    /// transaction, in order, each its hash or the node's reason for refusing it. A
    /// batch refused as a whole (malformed, too long, over this address's budget)
    /// is [`Error::Refused`], and then nothing of it was submitted.
    pub fn submit_many(&self, txs: &[SignedTransaction]) -> Result<Vec<Result<Hash>>> {
        let url = self.url("/v1/transactions");
        let response = self
            .agent
            .post(&url)
            .set("Content-Type", "application/vnd.mpms.transactions")
            .send_bytes(&codec::encode(&txs.to_vec()));
        match response {
            Ok(r) => {
                let answer: mpms_api::BatchSubmitted = r
                    .into_json()
                    .map_err(|e| Error::malformed("batch submit answer", e))?;
                if answer.results.len() != txs.len() {
                    return Err(Error::malformed(
                        "batch submit answer",
                        format!(
                            "{} results for {} transactions",
                            answer.results.len(),
                            txs.len()
                        ),
                    ));
                }
                Ok(answer
                    .results
                    .into_iter()
                    .map(|result| match result.status {
                        Some(_) => Ok(result.hash),
                        None => Err(Error::Refused(result.error.unwrap_or_default())),
                    })
                    .collect())
            }
            Err(ureq::Error::Status(status, r)) if (400..500).contains(&status) => {
                Err(Error::Refused(error_text(r)))
            }
            Err(ureq::Error::Status(status, r)) => Err(Error::Status {
                method: "POST",
                url,
                status,
                message: error_text(r),
            }),
            Err(e) => Err(transport("POST", url, &e)),
        }
    }

    /// Waits until `hash` is committed, polling every 100 ms; [`Error::Timeout`]
    /// once `limit` passed.
    pub fn wait_committed(&self, hash: &Hash, limit: Duration) -> Result<Committed> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(t) =
                self.get_opt_as::<TransactionStatus>(&format!("/v1/transactions/{hash}"))?
            {
                if let (TxState::Committed, Some(height)) = (t.status, t.height) {
                    return Ok(Committed { height });
                }
            }
            if Instant::now() > deadline {
                return Err(Error::Timeout {
                    hash: *hash,
                    seconds: limit.as_secs(),
                });
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The transaction `hash` as committed, decoded.
    pub fn committed_tx(&self, hash: &Hash) -> Result<SignedTransaction> {
        let t: TransactionStatus = self.get_as(&format!("/v1/transactions/{hash}"))?;
        let bytes = t
            .transaction_bytes
            .ok_or_else(|| Error::Input(format!("transaction {hash} is not committed")))?;
        let bytes = hex::decode(bytes).map_err(|e| Error::malformed("transaction bytes", e))?;
        codec::decode(&bytes).map_err(|e| Error::malformed(format!("transaction {hash}"), e))
    }

    /// The chain's parameters in force for the next height.
    pub fn params(&self) -> Result<Params> {
        self.get_as("/v1/params")
            .context_with(|| "chain parameters")
    }

    /// Schema `id`.
    pub fn schema(&self, id: &str) -> Result<Schema> {
        self.get_as(&format!("/v1/schemas/{id}"))
            .context_with(|| format!("schema {id}"))
    }

    /// Every schema of the chain (up to 1000).
    pub fn schemas(&self) -> Result<Vec<Schema>> {
        let list: SchemaList = self.get_as(&format!("/v1/schemas?limit={LIST_LIMIT}"))?;
        Ok(list.schemas)
    }

    /// Subject `id`'s record (its encryption key).
    pub fn subject(&self, id: &PublicKey) -> Result<Subject> {
        self.get_as(&format!("/v1/subjects/{id}"))
            .context_with(|| format!("subject {id}"))
    }

    /// The issuances of the blocks from `from_height` on (a page of them).
    pub fn issuances(&self, from_height: u64) -> Result<mpms_api::IssuanceNotes> {
        self.get_as(&format!("/v1/issuances?from_height={from_height}"))
    }

    /// Whether `id` is a registered subject's account.
    pub fn subject_exists(&self, id: &PublicKey) -> Result<bool> {
        Ok(self
            .get_opt(&format!("/v1/subjects/{id}"))
            .context_with(|| format!("subject {id}"))?
            .is_some())
    }

    /// The encryption key credentials for subject `id` are sealed to.
    pub fn subject_key(&self, id: &PublicKey) -> Result<EncryptionKey> {
        Ok(self.subject(id)?.encryption_key)
    }

    /// Where certifier `id`'s status entries stand (its next free one).
    pub fn status_lists(&self, id: &PublicKey) -> Result<mpms_api::StatusListsInfo> {
        self.get_as(&format!("/v1/certifiers/{id}/status-lists"))
    }

    /// Subject `id`'s credentials (up to 1000), with their ids.
    pub fn subject_credentials(&self, id: &PublicKey) -> Result<Vec<(Hash, Credential)>> {
        let list: SubjectCredentials =
            self.get_as(&format!("/v1/subjects/{id}/credentials?limit={LIST_LIMIT}"))?;
        Ok(list
            .credentials
            .into_iter()
            .map(|held| (held.id, held.credential))
            .collect())
    }

    /// The audit trail of subject `id`'s credentials: every page of it.
    pub fn audit(&self, id: &PublicKey) -> Result<Vec<AuditEvent>> {
        let mut path = Resource::Audit(&id.to_string()).path();
        let mut events = Vec::new();
        loop {
            let page: SubjectAudit = decode(self.get(&path)?, "audit")?;
            events.extend(page.events);
            match page.next {
                Some(next) => {
                    path = format!("{}&after={next}", Resource::Audit(&id.to_string()).path())
                }
                None => return Ok(events),
            }
        }
    }

    /// Credential `id`'s record.
    pub fn credential(&self, id: &Hash) -> Result<Credential> {
        decode(
            self.get(&format!("/v1/credentials/{id}"))?,
            "credential record",
        )
    }

    /// Grant `id`.
    pub fn grant(&self, id: &Hash) -> Result<Grant> {
        let view: GrantView = self.get_as(&format!("/v1/grants/{id}"))?;
        Ok(view.grant)
    }

    /// Set grant `id`, `None` if there is none (it may be a single grant).
    pub fn grant_set(&self, id: &Hash) -> Result<Option<GrantSet>> {
        self.get_opt(&format!("/v1/grant-sets/{id}"))?
            .map(|v| decode(v, "grant set record"))
            .transpose()
    }

    /// The encryption key of organization (or certifier) `account`: what a grant to
    /// it is sealed to.
    pub fn organization_key(&self, account: &PublicKey) -> Result<EncryptionKey> {
        if let Some(o) = self.get_opt_as::<Organization>(&format!("/v1/organizations/{account}"))? {
            return Ok(o.encryption_key);
        }
        match self.get_opt_as::<Certifier>(&format!("/v1/certifiers/{account}"))? {
            Some(c) => Ok(c.encryption_key),
            None => Err(Error::Input(format!(
                "{account} is not a registered organization or certifier"
            ))),
        }
    }

    /// The newest governance proposals, newest first.
    pub fn proposals(&self) -> Result<Vec<Proposal>> {
        let list: ProposalList = decode(self.read(&Resource::Proposals)?, "proposals")?;
        Ok(list.proposals)
    }

    /// Proposal `id`.
    pub fn proposal(&self, id: u64) -> Result<Proposal> {
        decode(self.read(&Resource::Proposal(id))?, "proposal")
    }

    /// The authority set in force.
    pub fn authority_set(&self) -> Result<AuthoritySet> {
        let view: AuthoritiesView = decode(self.read(&Resource::Authorities)?, "authorities")?;
        Ok(view.active_set)
    }

    /// Credential `id`'s proof bundle (without content).
    pub fn bundle(&self, id: &Hash) -> Result<ProofBundle> {
        self.get_as(&format!("/v1/credentials/{id}/bundle"))
    }

    /// A status proof of credential `id` as of the node's latest block.
    pub fn status_proof(&self, id: &Hash) -> Result<StatusProof> {
        self.get_as(&format!("/v1/credentials/{id}/status-proof"))
    }
}

/// A failure before any answer: [`Error::Certificate`] when TLS refused the node's
/// certificate, else [`Error::Connection`].
fn transport(method: &'static str, url: String, e: &ureq::Error) -> Error {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cause {
        let tls = c.downcast_ref::<rustls::Error>().or_else(|| {
            c.downcast_ref::<std::io::Error>()
                .and_then(|io| io.get_ref())
                .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        });
        if let Some(rustls::Error::InvalidCertificate(why)) = tls {
            return Error::Certificate {
                method,
                url,
                message: format!("{why:?}"),
            };
        }
        cause = c.source();
    }
    Error::Connection {
        method,
        url,
        message: e.to_string(),
    }
}

/// `value` as `T`; `what` names it in the error.
fn decode<T: DeserializeOwned>(value: Value, what: &str) -> Result<T> {
    serde_json::from_value(value).map_err(|e| Error::malformed(what, e))
}

/// The node's `{"error": ...}` message, else the body.
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

    #[test]
    fn paths_are_the_apis() {
        assert_eq!(Resource::Block(7).path(), "/v1/blocks/7");
        assert_eq!(
            Resource::Audit("ab").path(),
            "/v1/subjects/ab/audit?limit=1000"
        );
        assert_eq!(Resource::Proposal(3).path(), "/v1/proposals/3");
        assert_eq!(Client::new("http://x:1/").base(), "http://x:1");
    }

    fn canned(answers: Vec<(u16, &str)>) -> String {
        crate::testing::canned_node(
            answers
                .into_iter()
                .map(|(s, b)| (s, b.to_string()))
                .collect(),
        )
        .0
    }

    fn some_tx() -> SignedTransaction {
        let key = mpms_crypto::SigningKey::from_seed(&[1; 32]);
        crate::sign(
            "mpms-test",
            &key,
            0,
            mpms_ledger::Payload::Bond { amount: 1 },
        )
    }

    #[test]
    fn a_refusal_carries_the_ledgers_reason_and_a_failure_the_nodes_message() {
        let client = Client::new(&canned(vec![
            (400, r#"{"error": "nonce 0 already used"}"#),
            (503, r#"{"error": "mempool full"}"#),
            (200, r#"{"status": "pending"}"#),
        ]));
        let refused = client.submit(&some_tx()).unwrap_err();
        assert_eq!(refused.refusal(), Some("nonce 0 already used"));
        match client.submit(&some_tx()).unwrap_err() {
            Error::Status {
                method: "POST",
                status: 503,
                message,
                ..
            } => assert_eq!(message, "mempool full"),
            other => panic!("{other}"),
        }
        assert!(matches!(
            client.submit(&some_tx()),
            Err(Error::Malformed { .. })
        ));
    }

    #[test]
    fn reads_tell_absent_from_broken() {
        let client = Client::new(&canned(vec![
            (404, r#"{"error": "grant not found"}"#),
            (404, r#"{"error": "grant set not found"}"#),
            (500, "store failure"),
            (200, r#"{"chain_id": 7}"#),
        ]));
        let id = Hash::digest(b"grant");
        let missing = client.grant(&id).unwrap_err();
        assert!(matches!(missing, Error::NotFound { .. }), "{missing}");
        assert_eq!(client.grant_set(&id).unwrap(), None);
        match client.status().unwrap_err() {
            Error::Status {
                status: 500,
                message,
                ..
            } => assert_eq!(message, "store failure"),
            other => panic!("{other}"),
        }
        assert!(matches!(client.chain_id(), Err(Error::Malformed { .. })));
        // Not ready is an answer (503 with reasons), not an error.
        let client = Client::new(&canned(vec![(
            503,
            r#"{"ready": false, "reasons": ["syncing"], "height": 3, "peers": 0}"#,
        )]));
        assert_eq!(
            client.health_ready().unwrap(),
            Readiness {
                ready: false,
                reasons: vec!["syncing".into()],
                height: 3,
                peers: 0,
            }
        );
    }

    #[test]
    fn a_sent_transaction_is_signed_with_the_chain_and_the_next_nonce() {
        let party = crate::Party::new(
            mpms_crypto::SigningKey::from_seed(&[5; 32]),
            mpms_crypto::DecryptionKey::from_bytes([6; 32]).unwrap(),
        );
        let hash = Hash::digest(b"answer");
        let status = Status {
            chain_id: "mpms-canned".into(),
            height: 4,
            ..Status::default()
        };
        let account = AccountView {
            id: party.id(),
            exists: true,
            nonce: 12,
            next_nonce: 12,
            account: None,
        };
        let (base, requests) = crate::testing::canned_node(vec![
            (200, serde_json::to_string(&status).unwrap()),
            (200, serde_json::to_string(&account).unwrap()),
            (202, format!(r#"{{"hash": "{hash}", "status": "pending"}}"#)),
            (200, format!(r#"{{"hash": "{hash}", "status": "pending"}}"#)),
            (
                200,
                format!(r#"{{"hash": "{hash}", "status": "committed", "height": 9}}"#),
            ),
        ]);
        let sent = Client::new(&base)
            .send(
                &party,
                crate::build::bond(300),
                crate::Wait::Committed(Duration::from_secs(10)),
            )
            .unwrap();
        assert_eq!(
            sent,
            crate::Sent {
                hash,
                nonce: 12,
                height: Some(9)
            }
        );
        let lines: Vec<(String, Vec<u8>)> = requests.iter().take(5).collect();
        assert_eq!(lines[0].0, "GET /v1/status HTTP/1.1");
        assert_eq!(
            lines[1].0,
            format!("GET /v1/accounts/{} HTTP/1.1", party.id())
        );
        assert_eq!(lines[2].0, "POST /v1/transactions HTTP/1.1");
        assert_eq!(lines[4].0, format!("GET /v1/transactions/{hash} HTTP/1.1"));
        let tx: SignedTransaction = codec::decode(&lines[2].1).unwrap();
        assert_eq!(tx.tx.chain_id, "mpms-canned");
        assert_eq!(tx.tx.nonce, 12);
        assert_eq!(tx.tx.sender, party.id());
        assert_eq!(tx.tx.payload, mpms_ledger::Payload::Bond { amount: 300 });
        tx.verify(&party.id()).unwrap();
    }

    #[test]
    fn trusted_certificates_must_be_pem_certificates() {
        let Err(err) = Client::with_trusted("https://127.0.0.1:9", b"not PEM") else {
            panic!("text that is not PEM was trusted");
        };
        assert!(err.to_string().contains("BEGIN CERTIFICATE"), "{err}");
    }

    #[test]
    fn an_unreachable_node_is_a_connection_error() {
        // Port 9 on loopback: nothing listens (discard), the connection is refused.
        let client = Client::with_timeout("http://127.0.0.1:9", Duration::from_secs(2));
        let err = client.chain_id().unwrap_err();
        assert!(
            matches!(err, Error::Connection { method: "GET", .. }),
            "{err}"
        );
    }
}
