//! The route handlers.

use std::convert::Infallible;
use std::str::FromStr;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::IntoResponse;
use axum::Json;
use futures::Stream;
use mpms_crypto::{Hash, PublicKey};
use mpms_ledger::execute::read_meta;
use mpms_ledger::records::{
    keys, AccessRequest, Account, Authority, Certifier, Credential, Grant, Inspection, Offence,
    Organization, Proposal, Subject,
};
use mpms_ledger::{codec, SignedTransaction};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};

use super::ApiError;
use crate::runtime::{NodeHandle, SubmitError};

type ApiResult = Result<Json<Value>, ApiError>;

fn parse<T: FromStr>(what: &str, text: &str) -> Result<T, ApiError>
where
    T::Err: std::fmt::Display,
{
    text.parse()
        .map_err(|e| ApiError::bad_request(format!("{what} {text:?}: {e}")))
}

fn record<T: DeserializeOwned>(node: &NodeHandle, key: &[u8]) -> Result<Option<T>, ApiError> {
    match node.store().get(key) {
        Ok(None) => Ok(None),
        Ok(Some(bytes)) => codec::decode(&bytes)
            .map(Some)
            .map_err(|e| ApiError::internal(format!("corrupt record: {e}"))),
        Err(e) => Err(ApiError::internal(e.to_string())),
    }
}

/// Runs `read` (it reads the store) on a blocking thread, off the async workers that
/// serve the API and the network.
async fn off_workers<T, F>(node: &NodeHandle, read: F) -> Result<T, ApiError>
where
    F: FnOnce(&NodeHandle) -> Result<T, ApiError> + Send + 'static,
    T: Send + 'static,
{
    let node = node.clone();
    tokio::task::spawn_blocking(move || read(&node))
        .await
        .map_err(|e| ApiError::internal(format!("read failed: {e}")))?
}

fn found<T: serde::Serialize>(what: &str, value: Option<T>) -> ApiResult {
    match value {
        Some(v) => Ok(Json(json!(v))),
        None => Err(ApiError::not_found(format!("{what} not found"))),
    }
}

fn to_json<T: serde::Serialize>(value: &T) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

/// `POST /v1/transactions`.
pub async fn submit(State(node): State<NodeHandle>, headers: HeaderMap, body: Bytes) -> Response {
    match submit_inner(&node, &headers, &body).await {
        Ok(hash) => (
            StatusCode::ACCEPTED,
            Json(json!({ "hash": hash.to_string(), "status": "pending" })),
        )
            .into_response(),
        Err(e) => e.into_response(),
    }
}

type Response = axum::response::Response;

async fn submit_inner(
    node: &NodeHandle,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Hash, ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let tx: SignedTransaction = if content_type.starts_with("application/octet-stream") {
        codec::decode(body).map_err(|e| ApiError::bad_request(format!("transaction bytes: {e}")))?
    } else if content_type.starts_with("application/json") || content_type.is_empty() {
        serde_json::from_slice(body)
            .map_err(|e| ApiError::bad_request(format!("transaction JSON: {e}")))?
    } else {
        return Err(ApiError {
            status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
            message: format!(
                "content type {content_type:?}: use application/json or application/octet-stream"
            ),
        });
    };
    if tx.tx.chain_id != node.chain_id() {
        return Err(ApiError::bad_request(format!(
            "wrong chain id: this is {}, the transaction is for {}",
            node.chain_id(),
            tx.tx.chain_id
        )));
    }
    match node.submit(tx).await {
        Ok(hash) => Ok(hash),
        Err(SubmitError::Refused(e)) if e.is_node_fault() => Err(ApiError::internal(e.to_string())),
        Err(SubmitError::Refused(e)) => Err(ApiError {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            message: e.to_string(),
        }),
        Err(SubmitError::Stopped) => Err(ApiError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            message: "the node is shutting down".into(),
        }),
    }
}

/// `GET /v1/transactions/{hash}`.
pub async fn transaction(State(node): State<NodeHandle>, Path(hash): Path<String>) -> ApiResult {
    let hash: Hash = parse("transaction hash", &hash)?;
    let committed = off_workers(&node, move |node| {
        let store = node.store();
        let Some(loc) = store
            .tx_location(&hash)
            .map_err(|e| ApiError::internal(e.to_string()))?
        else {
            return Ok(None);
        };
        let block = store
            .block(loc.height)
            .map_err(|e| ApiError::internal(e.to_string()))?
            .ok_or_else(|| ApiError::internal("indexed block missing"))?;
        let tx = block.transactions.get(loc.index as usize);
        Ok(Some(json!({
            "hash": hash.to_string(),
            "status": "committed",
            "height": loc.height,
            "index": loc.index,
            "block": block.hash().to_string(),
            "transaction": tx.map(to_json),
            "transaction_bytes": tx.map(|t| hex::encode(codec::encode(t))),
        })))
    })
    .await?;
    if let Some(found) = committed {
        return Ok(Json(found));
    }
    if node.is_pending(hash).await {
        return Ok(Json(
            json!({ "hash": hash.to_string(), "status": "pending" }),
        ));
    }
    Err(ApiError::not_found(format!(
        "transaction {hash} is neither pending nor committed"
    )))
}

/// `GET /v1/status`.
pub async fn status(State(node): State<NodeHandle>) -> ApiResult {
    Ok(Json(to_json(&node.status())))
}

fn block_json(node: &NodeHandle, height: u64) -> ApiResult {
    let store = node.store();
    let block = store
        .block(height)
        .map_err(|e| ApiError::internal(e.to_string()))?
        .ok_or_else(|| ApiError::not_found(format!("block {height} not found")))?;
    let certificate = store
        .certificate(height)
        .map_err(|e| ApiError::internal(e.to_string()))?;
    let hashes: Vec<String> = block
        .transactions
        .iter()
        .map(|t| t.hash().to_string())
        .collect();
    Ok(Json(json!({
        "hash": block.hash().to_string(),
        "header": to_json(&block.header),
        "transactions": hashes,
        "last_commit": to_json(&block.last_commit),
        "certificate": to_json(&certificate),
    })))
}

/// `GET /v1/blocks/latest`.
pub async fn latest_block(State(node): State<NodeHandle>) -> ApiResult {
    off_workers(&node, |node| {
        let height = node
            .store()
            .last_height()
            .map_err(|e| ApiError::internal(e.to_string()))?
            .unwrap_or(0);
        block_json(node, height)
    })
    .await
}

/// `GET /v1/blocks/{height}`.
pub async fn block(State(node): State<NodeHandle>, Path(height): Path<String>) -> ApiResult {
    let height: u64 = parse("height", &height)?;
    off_workers(&node, move |node| block_json(node, height)).await
}

/// `GET /v1/accounts/{id}`.
pub async fn account(State(node): State<NodeHandle>, Path(id): Path<String>) -> ApiResult {
    let id: PublicKey = parse("account id", &id)?;
    let account: Option<Account> =
        off_workers(&node, move |node| record(node, &keys::account(&id))).await?;
    let committed_nonce = account.as_ref().map_or(0, |a| a.nonce);
    let next_nonce = node
        .pending_next_nonce(id)
        .await
        .unwrap_or(committed_nonce)
        .max(committed_nonce);
    Ok(Json(json!({
        "id": id.to_string(),
        "exists": account.is_some(),
        "nonce": committed_nonce,
        "next_nonce": next_nonce,
        "account": account.map(|a| to_json(&a)),
    })))
}

/// `GET /v1/subjects/{id}`.
pub async fn subject(State(node): State<NodeHandle>, Path(id): Path<String>) -> ApiResult {
    let id: PublicKey = parse("subject id", &id)?;
    off_workers(&node, move |node| {
        found("subject", record::<Subject>(node, &keys::subject(&id))?)
    })
    .await
}

/// Paging of list routes.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Page {
    /// Most items. Default 100, at most 1,000.
    pub limit: Option<usize>,
}

impl Page {
    fn limit(&self) -> usize {
        self.limit.unwrap_or(100).clamp(1, 1_000)
    }
}

/// `GET /v1/subjects/{id}/credentials`.
pub async fn subject_credentials(
    State(node): State<NodeHandle>,
    Path(id): Path<String>,
    Query(page): Query<Page>,
) -> ApiResult {
    let id: PublicKey = parse("subject id", &id)?;
    off_workers(&node, move |node| subject_credentials_now(node, id, &page)).await
}

fn subject_credentials_now(node: &NodeHandle, id: PublicKey, page: &Page) -> ApiResult {
    // The subject's per-schema lists of issued credentials.
    let lists = node
        .store()
        .scan_state(&keys::held_prefix(&id), page.limit())
        .map_err(|e| ApiError::internal(e.to_string()))?;
    let mut out = Vec::new();
    for (_, value) in lists {
        let ids: Vec<Hash> = codec::decode(&value)
            .map_err(|e| ApiError::internal(format!("corrupt credential list: {e}")))?;
        for cid in ids {
            if out.len() >= page.limit() {
                break;
            }
            if let Some(c) = record::<Credential>(node, &keys::credential(&cid))? {
                out.push(json!({ "id": cid.to_string(), "credential": to_json(&c) }));
            }
        }
    }
    Ok(Json(
        json!({ "subject": id.to_string(), "credentials": out }),
    ))
}

/// `GET /v1/subjects/{id}/audit`: who asked for, was granted, lost or used access to
/// the subject's credentials, with heights and times: requests, grants, grant
/// revocations, expiries and recorded inspections, oldest first. Only what the chain
/// holds.
pub async fn subject_audit(
    State(node): State<NodeHandle>,
    Path(id): Path<String>,
    Query(page): Query<Page>,
) -> ApiResult {
    let id: PublicKey = parse("subject id", &id)?;
    off_workers(&node, move |node| subject_audit_now(node, id, &page)).await
}

/// The most inspections listed per grant, the newest (the grant's event says how
/// many there are).
const MAX_INSPECTIONS_LISTED: u64 = 100;

fn subject_audit_now(node: &NodeHandle, id: PublicKey, page: &Page) -> ApiResult {
    let store = node.store();
    let internal = |e: String| ApiError::internal(e);
    // One more than asked, to say whether the list was cut.
    let mut entries = store
        .scan_state(&keys::subject_access_prefix(&id), page.limit() + 1)
        .map_err(|e| internal(e.to_string()))?;
    let truncated = entries.len() > page.limit();
    entries.truncate(page.limit());
    let last = store
        .last_header()
        .map_err(|e| internal(e.to_string()))?
        .ok_or_else(|| internal("no chain".into()))?;
    let times = std::cell::RefCell::new(std::collections::HashMap::new());
    let time_of = |height: u64| -> Result<u64, ApiError> {
        if let Some(time) = times.borrow().get(&height) {
            return Ok(*time);
        }
        let time = store
            .header(height)
            .map_err(|e| internal(e.to_string()))?
            .map_or(0, |h| h.time_ms);
        times.borrow_mut().insert(height, time);
        Ok(time)
    };
    let mut events: Vec<(u64, u64, Value)> = Vec::new();
    for (key, _) in entries {
        let prefix = keys::subject_access_prefix(&id).len();
        let (Some(&kind), Some(raw)) = (key.get(prefix), key.get(prefix + 1..)) else {
            return Err(internal("malformed access index entry".into()));
        };
        let record_id = Hash::from_bytes(
            raw.try_into()
                .map_err(|_| internal("malformed access index entry".into()))?,
        );
        if kind == keys::ACCESS_REQUEST {
            let Some(r) = record::<AccessRequest>(node, &keys::request(&record_id))? else {
                continue;
            };
            events.push((r.height, time_of(r.height)?, json!({
                "event": "request",
                "request": record_id.to_string(),
                "requester": r.requester.to_string(),
                "credentials": r.credentials.iter().map(ToString::to_string).collect::<Vec<_>>(),
                "purpose": r.purpose,
            })));
            continue;
        }
        let Some(g) = record::<Grant>(node, &keys::grant(&record_id))? else {
            continue;
        };
        let base = |event: &str| {
            json!({
                "event": event,
                "grant": record_id.to_string(),
                "credential": g.credential.to_string(),
                "grantee": g.grantee.to_string(),
            })
        };
        let mut granted = base("grant");
        granted["request"] = json!(g.request.map(|r| r.to_string()));
        granted["expires_at_ms"] = json!(g.expires_at_ms);
        granted["inspection_count"] = json!(g.inspection_count);
        events.push((g.granted_height, time_of(g.granted_height)?, granted));
        if let Some(revoked) = g.revoked_height {
            events.push((revoked, time_of(revoked)?, base("grant-revoked")));
        }
        // The newest ones: an organization that records many cannot push later
        // inspections out of the list (the grant event carries the count).
        let first = g.inspection_count.saturating_sub(MAX_INSPECTIONS_LISTED);
        for n in first..g.inspection_count {
            if let Some(i) = record::<Inspection>(node, &keys::inspection(&record_id, n))? {
                let mut inspected = base("inspection");
                inspected["outcome"] = to_json(&i.outcome);
                events.push((i.height, time_of(i.height)?, inspected));
            }
        }
        // An expiry is a time, not a block: listed once the chain's time passed it
        // while the grant was still in force.
        let revoked_before = g
            .revoked_height
            .map(time_of)
            .transpose()?
            .is_some_and(|t| t <= g.expires_at_ms);
        if g.expires_at_ms <= last.time_ms && !revoked_before {
            let mut expired = base("grant-expired");
            expired["expires_at_ms"] = json!(g.expires_at_ms);
            events.push((last.height, g.expires_at_ms, expired));
        }
    }
    events.sort_by_key(|(height, time, _)| (*time, *height));
    let events: Vec<Value> = events
        .into_iter()
        .map(|(height, time_ms, mut event)| {
            if event["event"] != "grant-expired" {
                event["height"] = json!(height);
            }
            event["time_ms"] = json!(time_ms);
            event
        })
        .collect();
    Ok(Json(json!({
        "subject": id.to_string(),
        "as_of_height": last.height,
        "truncated": truncated,
        "events": events,
    })))
}

/// `GET /v1/credentials/{id}`.
pub async fn credential(State(node): State<NodeHandle>, Path(id): Path<String>) -> ApiResult {
    let id: Hash = parse("credential id", &id)?;
    off_workers(&node, move |node| {
        found(
            "credential",
            record::<Credential>(node, &keys::credential(&id))?,
        )
    })
    .await
}

/// `GET /v1/credentials/{id}/proof`: the issuing transaction, its Merkle proof, the
/// block's header and certificate, and the certified authority-set changes up to that
/// block (what shows the certificate's signers were the authorities then).
pub async fn credential_proof(State(node): State<NodeHandle>, Path(id): Path<String>) -> ApiResult {
    let id: Hash = parse("credential id", &id)?;
    off_workers(&node, move |node| credential_proof_now(node, id)).await
}

fn credential_proof_now(node: &NodeHandle, id: Hash) -> ApiResult {
    let credential: Credential = record(node, &keys::credential(&id))?
        .ok_or_else(|| ApiError::not_found("credential not found"))?;
    let store = node.store();
    let internal = |e: mpms_store::StoreError| ApiError::internal(e.to_string());
    let loc = store
        .tx_location(&credential.issued_tx)
        .map_err(internal)?
        .ok_or_else(|| ApiError::internal("issuing transaction not indexed"))?;
    let block = store
        .block(loc.height)
        .map_err(internal)?
        .ok_or_else(|| ApiError::internal("issuing block missing"))?;
    let certificate = store.certificate(loc.height).map_err(internal)?;
    let proof = block
        .tx_proof(loc.index as usize)
        .ok_or_else(|| ApiError::internal("no proof for the transaction"))?;
    let tx = block
        .transactions
        .get(loc.index as usize)
        .ok_or_else(|| ApiError::internal("indexed transaction missing"))?;
    let changes = mpms_light::bundle::authority_changes(store.as_ref(), loc.height)
        .map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(Json(json!({
        "credential_id": id.to_string(),
        "credential": to_json(&credential),
        "transaction": to_json(tx),
        "transaction_bytes": hex::encode(codec::encode(tx)),
        "tx_index": loc.index,
        "header": to_json(&block.header),
        "proof": to_json(&proof),
        "certificate": to_json(&certificate),
        "authority_changes": to_json(&changes),
    })))
}

fn bundle_error(e: mpms_light::bundle::BuildError) -> ApiError {
    match e {
        mpms_light::bundle::BuildError::NotFound => ApiError::not_found("credential not found"),
        other => ApiError::internal(other.to_string()),
    }
}

/// `GET /v1/credentials/{id}/bundle`: the credential's proof bundle, checkable
/// offline with `mpmsd verify`.
pub async fn credential_bundle(
    State(node): State<NodeHandle>,
    Path(id): Path<String>,
) -> ApiResult {
    let id: Hash = parse("credential id", &id)?;
    off_workers(&node, move |node| {
        mpms_light::bundle::build_bundle(node.store().as_ref(), node.genesis(), &id)
            .map(|bundle| Json(to_json(&bundle)))
            .map_err(bundle_error)
    })
    .await
}

/// `GET /v1/credentials/{id}/status-proof`: the credential's status as of the last
/// block, proven against its certified header.
pub async fn credential_status_proof(
    State(node): State<NodeHandle>,
    Path(id): Path<String>,
) -> ApiResult {
    let id: Hash = parse("credential id", &id)?;
    off_workers(&node, move |node| {
        mpms_light::bundle::build_status(node.store().as_ref(), &id)
            .map(|status| Json(to_json(&status)))
            .map_err(bundle_error)
    })
    .await
}

/// The longest state key a proof is asked for (keys are a prefix byte and ids).
const MAX_STATE_KEY_BYTES: usize = 1024;

/// Query of `GET /v1/state/proof`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateProofQuery {
    /// The state key, hex.
    key: String,
    /// The height (default: the last block).
    height: Option<u64>,
}

/// `GET /v1/state/proof?key=HEX[&height=H]`: a proof of one state key's value or
/// absence after block H, with H's header and certificate.
pub async fn state_proof(
    State(node): State<NodeHandle>,
    Query(query): Query<StateProofQuery>,
) -> ApiResult {
    if query.key.len() > 2 * MAX_STATE_KEY_BYTES {
        return Err(ApiError::bad_request(format!(
            "key: at most {MAX_STATE_KEY_BYTES} bytes"
        )));
    }
    let key = hex::decode(&query.key).map_err(|e| ApiError::bad_request(format!("key: {e}")))?;
    off_workers(&node, move |node| {
        let store = node.store();
        let internal = |e: String| ApiError::internal(e);
        let last = store
            .last_height()
            .map_err(|e| internal(e.to_string()))?
            .ok_or_else(|| ApiError::internal("no chain"))?;
        let height = query.height.unwrap_or(last);
        let kept = height <= last
            && mpms_ledger::state::tree::root_at(store.as_ref(), height)
                .map_err(|e| internal(e.to_string()))?
                .is_some();
        if !kept {
            return Err(ApiError::not_found(format!(
                "height {height} is not kept (the last is {last}; older state is pruned)"
            )));
        }
        let proof = mpms_ledger::state::tree::prove(store.as_ref(), height, &key)
            .map_err(|e| internal(e.to_string()))?;
        let header = store.header(height).map_err(|e| internal(e.to_string()))?;
        let certificate = store
            .certificate(height)
            .map_err(|e| internal(e.to_string()))?;
        Ok(Json(json!({
            "height": height,
            "header": to_json(&header),
            "certificate": to_json(&certificate),
            "proof": to_json(&proof),
        })))
    })
    .await
}

/// `GET /v1/grants/{id}`.
pub async fn grant(State(node): State<NodeHandle>, Path(id): Path<String>) -> ApiResult {
    let id: Hash = parse("grant id", &id)?;
    off_workers(&node, move |node| grant_now(node, id)).await
}

fn grant_now(node: &NodeHandle, id: Hash) -> ApiResult {
    let grant = record::<Grant>(node, &keys::grant(&id))?
        .ok_or_else(|| ApiError::not_found(format!("grant {id} not found")))?;
    // The latest inspections (each is its own record).
    let first = grant
        .inspection_count
        .saturating_sub(MAX_LISTED_INSPECTIONS);
    let mut inspections = Vec::new();
    for n in first..grant.inspection_count {
        if let Some(i) = record::<Inspection>(node, &keys::inspection(&id, n))? {
            inspections.push(to_json(&i));
        }
    }
    let mut out = to_json(&grant);
    out["inspections"] = Value::Array(inspections);
    Ok(Json(out))
}

/// `GET /v1/grant-sets/{id}`.
pub async fn grant_set(State(node): State<NodeHandle>, Path(id): Path<String>) -> ApiResult {
    let id: Hash = parse("grant set id", &id)?;
    off_workers(&node, move |node| {
        found(
            "grant set",
            record::<mpms_ledger::records::GrantSet>(node, &keys::grant_set(&id))?,
        )
    })
    .await
}

/// `GET /v1/certifiers/{id}/delegations/{practitioner}`.
pub async fn delegation(
    State(node): State<NodeHandle>,
    Path((certifier, practitioner)): Path<(String, String)>,
) -> ApiResult {
    let certifier: PublicKey = parse("certifier id", &certifier)?;
    let practitioner: PublicKey = parse("practitioner id", &practitioner)?;
    off_workers(&node, move |node| {
        found(
            "delegation",
            record::<mpms_ledger::records::Delegation>(
                node,
                &keys::delegation(&certifier, &practitioner),
            )?,
        )
    })
    .await
}

/// Most inspections a grant's answer lists (the latest).
const MAX_LISTED_INSPECTIONS: u64 = 100;

/// `GET /v1/requests/{id}`.
pub async fn request(State(node): State<NodeHandle>, Path(id): Path<String>) -> ApiResult {
    let id: Hash = parse("request id", &id)?;
    off_workers(&node, move |node| {
        found(
            "request",
            record::<mpms_ledger::records::AccessRequest>(node, &keys::request(&id))?,
        )
    })
    .await
}

/// `GET /v1/schemas/{id}`.
pub async fn schema(State(node): State<NodeHandle>, Path(id): Path<String>) -> ApiResult {
    off_workers(&node, move |node| {
        found(
            "schema",
            record::<mpms_ledger::records::Schema>(node, &keys::schema(&id))?,
        )
    })
    .await
}

/// `GET /v1/schemas`: every registered schema, in id order.
pub async fn schemas(State(node): State<NodeHandle>, Query(page): Query<Page>) -> ApiResult {
    off_workers(&node, move |node| schemas_now(node, &page)).await
}

fn schemas_now(node: &NodeHandle, page: &Page) -> ApiResult {
    let full = keys::schema("");
    let entries = node
        .store()
        .scan_state(&full, page.limit())
        .map_err(|e| ApiError::internal(e.to_string()))?;
    let mut out = Vec::new();
    for (_, value) in entries {
        let schema: mpms_ledger::records::Schema = codec::decode(&value)
            .map_err(|e| ApiError::internal(format!("corrupt schema: {e}")))?;
        out.push(to_json(&schema));
    }
    Ok(Json(json!({ "schemas": out })))
}

/// `GET /v1/certifiers/{id}`.
pub async fn certifier(State(node): State<NodeHandle>, Path(id): Path<String>) -> ApiResult {
    let id: PublicKey = parse("certifier id", &id)?;
    off_workers(&node, move |node| {
        found(
            "certifier",
            record::<Certifier>(node, &keys::certifier(&id))?,
        )
    })
    .await
}

/// `GET /v1/organizations/{id}`.
pub async fn organization(State(node): State<NodeHandle>, Path(id): Path<String>) -> ApiResult {
    let id: PublicKey = parse("organization id", &id)?;
    off_workers(&node, move |node| {
        found(
            "organization",
            record::<Organization>(node, &keys::organization(&id))?,
        )
    })
    .await
}

/// `GET /v1/authorities`.
pub async fn authorities(State(node): State<NodeHandle>) -> ApiResult {
    off_workers(&node, authorities_now).await
}

fn authorities_now(node: &NodeHandle) -> ApiResult {
    let meta = read_meta(node.store().as_ref()).map_err(|e| ApiError::internal(e.to_string()))?;
    let index: Vec<PublicKey> = record(node, &keys::authority_index())?.unwrap_or_default();
    let mut records = Vec::new();
    for operator in index {
        if let Some(a) = record::<Authority>(node, &keys::authority(&operator))? {
            records.push(to_json(&a));
        }
    }
    Ok(Json(json!({
        "active_set": to_json(&meta.authority_set),
        "active_set_hash": meta.authority_set.hash().to_string(),
        "authorities": records,
    })))
}

/// `GET /v1/params`: the chain's parameters in force for the next height, consensus
/// timing included.
pub async fn params(State(node): State<NodeHandle>) -> ApiResult {
    off_workers(&node, |node| {
        let meta =
            read_meta(node.store().as_ref()).map_err(|e| ApiError::internal(e.to_string()))?;
        Ok(Json(to_json(&meta.params)))
    })
    .await
}

/// `GET /v1/proposals`.
pub async fn proposals(State(node): State<NodeHandle>, Query(page): Query<Page>) -> ApiResult {
    off_workers(&node, move |node| {
        let next: u64 = record(node, &keys::next_proposal())?.unwrap_or(0);
        let mut out = Vec::new();
        let first = next.saturating_sub(page.limit() as u64);
        for id in (first..next).rev() {
            if let Some(p) = record::<Proposal>(node, &keys::proposal(id))? {
                out.push(to_json(&p));
            }
        }
        Ok(Json(json!({ "proposals": out })))
    })
    .await
}

/// `GET /v1/proposals/{id}`.
pub async fn proposal(State(node): State<NodeHandle>, Path(id): Path<String>) -> ApiResult {
    let id: u64 = parse("proposal id", &id)?;
    off_workers(&node, move |node| {
        found("proposal", record::<Proposal>(node, &keys::proposal(id))?)
    })
    .await
}

/// `GET /v1/evidence`.
pub async fn evidence(State(node): State<NodeHandle>, Query(page): Query<Page>) -> ApiResult {
    off_workers(&node, move |node| evidence_now(node, &page)).await
}

fn evidence_now(node: &NodeHandle, page: &Page) -> ApiResult {
    let full = keys::offence(&Hash::ZERO);
    let prefix = &full[..full.len() - 32];
    let entries = node
        .store()
        .scan_state(prefix, page.limit())
        .map_err(|e| ApiError::internal(e.to_string()))?;
    let mut out = Vec::new();
    for (key, value) in entries {
        let offence: Offence = codec::decode(&value)
            .map_err(|e| ApiError::internal(format!("offence record: {e}")))?;
        out.push(json!({
            "offence": hex::encode(&key[prefix.len()..]),
            "kind": offence.kind,
            "authority": offence.authority.to_string(),
            "offence_height": offence.offence_height,
            "punished_height": offence.punished_height,
            "burned": offence.burned,
        }));
    }
    Ok(Json(json!({ "offences": out })))
}

/// `GET /v1/events`: a `block` event per commit, and a `tx` event per transaction.
pub async fn events(
    State(node): State<NodeHandle>,
) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>>> {
    let receiver = node.subscribe();
    let stream = futures::stream::unfold(
        (receiver, Vec::<SseEvent>::new()),
        |(mut receiver, mut queued)| async move {
            loop {
                if let Some(event) = queued.pop() {
                    return Some((Ok(event), (receiver, queued)));
                }
                match receiver.recv().await {
                    Ok(c) => {
                        let header = &c.block.header;
                        let block = SseEvent::default().event("block").data(
                            json!({
                                "height": header.height,
                                "hash": c.block.hash().to_string(),
                                "time_ms": header.time_ms,
                                "transactions": c.receipts.len(),
                            })
                            .to_string(),
                        );
                        // Popped from the back: block first, then the transactions in order.
                        for r in c.receipts.iter().rev() {
                            queued.push(
                                SseEvent::default().event("tx").data(
                                    json!({
                                        "hash": r.tx_hash.to_string(),
                                        "height": header.height,
                                        "events": to_json(&r.events),
                                    })
                                    .to_string(),
                                ),
                            );
                        }
                        queued.push(block);
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                        queued.push(
                            SseEvent::default()
                                .event("lagged")
                                .data(json!({ "missed_blocks": n }).to_string()),
                        );
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
                }
            }
        },
    );
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}

/// `GET /health/live`.
pub async fn live() -> Json<Value> {
    Json(json!({ "live": true }))
}

/// `GET /health/ready`: 200 when synced (not catching up, consensus running) and, on
/// a network of more than one authority, peered; 503 otherwise.
pub async fn ready(State(node): State<NodeHandle>) -> Response {
    let status = node.status();
    let lone = off_workers(&node, |node| {
        Ok(read_meta(node.store().as_ref())
            .map(|m| m.authority_set.len() <= 1)
            .unwrap_or(false))
    })
    .await
    .unwrap_or(false);
    let mut reasons = Vec::new();
    if status.syncing {
        reasons.push("catching up".to_string());
    }
    if status.not_admitted {
        reasons.push(format!(
            "not admitted by the chain's node registry: the peers this node dials refuse it; ask the consortium to admit peer id {} (mpmsd tx propose admit-node --request join-request.json)",
            status.peer_id
        ));
    } else if status.peers == 0 && !lone {
        reasons.push("no peers".to_string());
    }
    if let Some(key) = &status.missing_consensus_key {
        reasons.push(format!(
            "the chain names consensus key {key} for this validator, which this node does not hold: it signs nothing; restore keys/consensus.keystore from the backup taken after the last key rotation (mpmsd keys status)"
        ));
    }
    if let Some(f) = &status.failure {
        reasons.push(format!("consensus stopped: {f}"));
    }
    let code = if reasons.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        code,
        Json(json!({
            "ready": reasons.is_empty(),
            "reasons": reasons,
            "height": status.height,
            "peers": status.peers,
        })),
    )
        .into_response()
}

/// `GET /metrics`.
pub async fn metrics(State(node): State<NodeHandle>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        node.metrics().render(),
    )
        .into_response()
}

/// `GET /openapi.json`.
pub async fn openapi() -> Json<Value> {
    Json(super::openapi_document())
}

/// `GET /admin/peers`.
pub async fn peers(State(node): State<NodeHandle>) -> ApiResult {
    let peers = node
        .network()
        .peers()
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?;
    let listen = node.network().listen_addrs().await.unwrap_or_default();
    Ok(Json(json!({
        "peer_id": node.network().peer_id().to_string(),
        "listen": listen.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "peers": peers.iter().map(ToString::to_string).collect::<Vec<_>>(),
    })))
}

/// Any other route.
pub async fn unknown_route(uri: Uri) -> ApiError {
    ApiError::not_found(format!("no route {}", uri.path()))
}
