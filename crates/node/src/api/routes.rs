//! The route handlers.

use std::convert::Infallible;
use std::str::FromStr;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::IntoResponse;
use axum::Json;
use futures::Stream;
use mpms_api::{
    AccountView, AuditEvent, AuthoritiesView, BatchResult, BatchSubmitted, BlockEvent, BlockView,
    CredentialProof, ErrorBody, GrantView, HeldCredential, IssuanceNote, IssuanceNotes,
    LaggedEvent, Liveness, OffenceList, OffenceView, Peers, ProposalList, Readiness, SchemaList,
    StateProofView, Status, StatusListsInfo, SubjectAudit, SubjectCredentials, Submitted,
    TransactionStatus, TxEvent, TxState, DEFAULT_PAGE, MAX_PAGE,
};
use mpms_crypto::{Hash, PublicKey};
use mpms_ledger::execute::read_meta;
use mpms_ledger::records::{
    keys, AccessRequest, Account, Authority, Certifier, Credential, Grant, Inspection, Offence,
    Organization, Proposal, Subject,
};
use mpms_ledger::records::{Delegation, GrantSet, Schema};
use mpms_ledger::Params;
use mpms_ledger::{codec, SignedTransaction};
use mpms_light::{ProofBundle, StatusProof};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;
use utoipa::IntoParams;

use super::reader::{party_of, require_subject, signs_for, Reader};
use super::ApiError;
use crate::runtime::{NodeHandle, SubmitError, MAX_BATCH};
use crate::status_lists::{StatusListError, StatusListPublisher};
use mpms_core::AdmitError;
use mpms_ledger::transaction::STATUS_LIST_BITS;

type ApiResult<T> = Result<Json<T>, ApiError>;

/// Parses a path's id: a key or hash as exactly 64 lowercase hex digits (what the
/// OpenAPI document's pattern says, so that nothing else is accepted either).
fn id<T: FromStr>(what: &str, text: &str) -> Result<T, ApiError>
where
    T::Err: std::fmt::Display,
{
    let hex = text.len() == 64
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if !hex {
        return Err(ApiError::bad_request(format!(
            "{what} {text:?}: expected 64 lowercase hex digits"
        )));
    }
    text.parse()
        .map_err(|e| ApiError::bad_request(format!("{what} {text:?}: {e}")))
}

/// Parses a path's decimal number (a height or a proposal id): digits only.
fn number(what: &str, text: &str) -> Result<u64, ApiError> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ApiError::bad_request(format!(
            "{what} {text:?}: expected a decimal number"
        )));
    }
    text.parse()
        .map_err(|e| ApiError::bad_request(format!("{what} {text:?}: {e}")))
}

/// A query string that does not fit its route's parameters.
fn bad_query(e: QueryRejection) -> ApiError {
    ApiError::bad_request(format!("query: {}", e.body_text()))
}

pub(super) fn record<T: DeserializeOwned>(
    node: &NodeHandle,
    key: &[u8],
) -> Result<Option<T>, ApiError> {
    match node.store().get(key) {
        Ok(None) => Ok(None),
        Ok(Some(bytes)) => codec::decode(&bytes)
            .map(Some)
            .map_err(|e| ApiError::internal(format!("corrupt record: {e}"))),
        Err(e) => Err(ApiError::internal(e.to_string())),
    }
}

/// Credential `id` as a reader must see it: its record, with the status governance
/// gave it if its certifier's credentials of its issue height were revoked.
fn current_credential(node: &NodeHandle, id: &Hash) -> Result<Option<Credential>, ApiError> {
    let Some(mut credential) = record::<Credential>(node, &keys::credential(id))? else {
        return Ok(None);
    };
    let revocations: Option<mpms_ledger::records::CertifierRevocations> = record(
        node,
        &keys::certifier_revocations(&credential.claim.certifier),
    )?;
    if revocations.is_some() {
        // Every revocation stored is in force as of the last committed block.
        credential.status = credential.status_with(revocations.as_ref(), u64::MAX);
    }
    Ok(Some(credential))
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

fn found<T>(what: &str, value: Option<T>) -> ApiResult<T> {
    match value {
        Some(v) => Ok(Json(v)),
        None => Err(ApiError::not_found(format!("{what} not found"))),
    }
}

fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError::internal(e.to_string())
}

/// The body of `POST /v1/transactions` as JSON: one transaction, or a list of them
/// (only its schema is used: the handler tells them apart by the first character).
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
#[allow(dead_code)]
pub enum TransactionOrBatch {
    /// One transaction: answered 202 with its hash.
    One(Box<SignedTransaction>),
    /// Up to 1,000 transactions: answered 200 with each one's result.
    Many(Vec<SignedTransaction>),
}

/// The media type of a batch as canonical bytes: the canonical encoding of a list
/// of transactions (a `u64` count, then each transaction).
pub const BATCH_BYTES: &str = "application/vnd.mpms.transactions";

/// `POST /v1/transactions`.
#[utoipa::path(
    post,
    path = "/v1/transactions",
    tag = "transactions",
    summary = "Submit a signed transaction, or a batch of them",
    description = "One transaction as its canonical bytes (`application/octet-stream`, see ENCODING.md) or as JSON: 202 when admitted to the mempool; 422 with the ledger's reason when its rules refuse it. A batch of up to 1,000 transactions as a JSON list, or as the canonical encoding of a list (`application/vnd.mpms.transactions`): 200 with one result per transaction, in order (each admitted, or refused with the status and reason its submission alone would have had); the whole batch is refused (400, 413, 429, 503) only when it is malformed, too large, over this address's budget (each transaction counts against `api.max_submissions_per_sec`) or the node is busy, and then nothing of it was submitted. When no transaction of a batch is admitted, the answer has the status of its first refusal (as for that transaction sent alone), with every result and an `error`.",
    request_body(
        description = "A signed transaction, or a list of them",
        content(
            (TransactionOrBatch = "application/json"),
            (Vec<u8> = "application/octet-stream"),
            (Vec<u8> = "application/vnd.mpms.transactions"),
        ),
    ),
    responses(
        (status = 200, description = "A batch: what became of each transaction", body = BatchSubmitted),
        (status = 202, description = "Admitted to the mempool", body = Submitted),
        (status = 400, description = "Malformed, for another chain, or an empty or too long batch", body = ErrorBody),
        (status = 413, description = "Larger than `api.max_body_bytes`", body = ErrorBody),
        (status = 415, description = "Neither JSON nor canonical bytes", body = ErrorBody),
        (status = 422, description = "Refused by the ledger's rules or the mempool", body = ErrorBody),
        (status = 429, description = "Too many submissions from this address", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 500, description = "A fault of this node", body = ErrorBody),
        (status = 503, description = "The node is shutting down, or busy: the submissions waiting for its core hold their bound in bytes (try again shortly)", body = ErrorBody),
    ),
)]
pub async fn submit(
    State(node): State<NodeHandle>,
    charge: Option<axum::Extension<super::limit::Charge>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = match body {
        Ok(body) => body,
        Err(e) => {
            return ApiError {
                status: e.status(),
                message: e.body_text(),
            }
            .into_response()
        }
    };
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let submission = match parse_submission(content_type, &body) {
        Ok(submission) => submission,
        Err(e) => return e.into_response(),
    };
    match submission {
        Submission::One(tx) => match submit_one(&node, *tx).await {
            Ok(hash) => (
                StatusCode::ACCEPTED,
                Json(Submitted {
                    hash,
                    status: TxState::Pending,
                }),
            )
                .into_response(),
            Err(e) => e.into_response(),
        },
        Submission::Many(txs) => {
            // The limiter took one submission before the body was read; the batch
            // pays for the rest before anything of it is checked.
            if let Some(axum::Extension(charge)) = charge {
                let more = txs.len().saturating_sub(1);
                if !charge.take(more) {
                    return charge.refusal(more);
                }
            }
            match submit_batch(&node, txs).await {
                Ok(results) => batch_answer(results),
                Err(e) => e.into_response(),
            }
        }
    }
}

type Response = axum::response::Response;

/// 200 when a transaction of the batch was admitted; otherwise the status of its
/// first refusal, as for one transaction sent alone, with every result.
fn batch_answer(results: Vec<BatchResult>) -> Response {
    if results.iter().any(|r| r.status.is_some()) {
        return (
            StatusCode::OK,
            Json(BatchSubmitted {
                results,
                error: None,
            }),
        )
            .into_response();
    }
    let (code, reason) = results
        .first()
        .map(|r| (r.code.unwrap_or(422), r.error.clone().unwrap_or_default()))
        .unwrap_or((400, String::new()));
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::UNPROCESSABLE_ENTITY);
    let error = format!(
        "none of the {} transactions was admitted; the first: {reason}",
        results.len()
    );
    (
        status,
        Json(BatchSubmitted {
            results,
            error: Some(error),
        }),
    )
        .into_response()
}

/// A parsed submission body.
enum Submission {
    One(Box<SignedTransaction>),
    Many(Vec<SignedTransaction>),
}

fn parse_submission(content_type: &str, body: &[u8]) -> Result<Submission, ApiError> {
    let submission = if content_type.starts_with("application/octet-stream") {
        Submission::One(Box::new(codec::decode(body).map_err(|e| {
            ApiError::bad_request(format!("transaction bytes: {e}"))
        })?))
    } else if content_type.starts_with(BATCH_BYTES) {
        Submission::Many(
            codec::decode(body)
                .map_err(|e| ApiError::bad_request(format!("transaction list bytes: {e}")))?,
        )
    } else if content_type.starts_with("application/json") || content_type.is_empty() {
        let is_list = body
            .iter()
            .find(|b| !b.is_ascii_whitespace())
            .is_some_and(|b| *b == b'[');
        if is_list {
            Submission::Many(
                serde_json::from_slice(body)
                    .map_err(|e| ApiError::bad_request(format!("transaction list JSON: {e}")))?,
            )
        } else {
            Submission::One(Box::new(
                serde_json::from_slice(body)
                    .map_err(|e| ApiError::bad_request(format!("transaction JSON: {e}")))?,
            ))
        }
    } else {
        return Err(ApiError {
            status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
            message: format!(
                "content type {content_type:?}: use application/json, application/octet-stream or {BATCH_BYTES}"
            ),
        });
    };
    if let Submission::Many(txs) = &submission {
        if txs.is_empty() {
            return Err(ApiError::bad_request("an empty batch"));
        }
        if txs.len() > MAX_BATCH {
            return Err(ApiError::bad_request(format!(
                "a batch of {} transactions: at most {MAX_BATCH}",
                txs.len()
            )));
        }
    }
    Ok(submission)
}

/// Text from a request, as an error shows it: at most 64 characters.
fn shown(text: &str) -> String {
    match text.char_indices().nth(64) {
        Some((end, _)) => format!("{}...", &text[..end]),
        None => text.to_string(),
    }
}

fn check_chain(node: &NodeHandle, tx: &SignedTransaction) -> Result<(), ApiError> {
    if tx.tx.chain_id != node.chain_id() {
        return Err(ApiError::bad_request(format!(
            "wrong chain id: this is {}, the transaction is for {}",
            node.chain_id(),
            shown(&tx.tx.chain_id)
        )));
    }
    Ok(())
}

fn refused(e: AdmitError) -> ApiError {
    if e.is_node_fault() {
        ApiError::internal(e.to_string())
    } else {
        ApiError {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            message: e.to_string(),
        }
    }
}

fn unavailable(e: SubmitError) -> ApiError {
    match e {
        SubmitError::Refused(e) => refused(e),
        e @ (SubmitError::Stopped | SubmitError::Busy(_)) => ApiError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            message: e.to_string(),
        },
    }
}

async fn submit_one(node: &NodeHandle, tx: SignedTransaction) -> Result<Hash, ApiError> {
    check_chain(node, &tx)?;
    node.submit(tx).await.map_err(unavailable)
}

async fn submit_batch(
    node: &NodeHandle,
    txs: Vec<SignedTransaction>,
) -> Result<Vec<BatchResult>, ApiError> {
    let mut results: Vec<BatchResult> = txs
        .iter()
        .map(|tx| BatchResult {
            hash: tx.hash(),
            status: None,
            code: None,
            error: None,
        })
        .collect();
    let mut sent = Vec::with_capacity(txs.len());
    let mut positions = Vec::with_capacity(txs.len());
    for (position, tx) in txs.into_iter().enumerate() {
        match check_chain(node, &tx) {
            Ok(()) => {
                sent.push(tx);
                positions.push(position);
            }
            Err(e) => {
                if let Some(result) = results.get_mut(position) {
                    result.code = Some(e.status.as_u16());
                    result.error = Some(e.message);
                }
            }
        }
    }
    if !sent.is_empty() {
        let answers = node.submit_many(sent).await.map_err(unavailable)?;
        for (position, answer) in positions.into_iter().zip(answers) {
            let Some(result) = results.get_mut(position) else {
                continue;
            };
            match answer {
                Ok(hash) => {
                    result.hash = hash;
                    result.status = Some(TxState::Pending);
                }
                Err(e) => {
                    let e = refused(e);
                    result.code = Some(e.status.as_u16());
                    result.error = Some(e.message);
                }
            }
        }
    }
    Ok(results)
}

/// `GET /v1/transactions/{hash}`.
#[utoipa::path(
    get,
    path = "/v1/transactions/{hash}",
    tag = "transactions",
    summary = "A transaction's status",
    description = "Pending (in this node's mempool), committed (with its block, position and bytes), or 404. The ciphertext and sealed keys a committed issuance or grant carries are served to its parties only, in a signed read (see `/v1/subjects/{id}/credentials`): the credential's subject, certifier, practitioner or grantees; the grant's subject or grantee. Anyone else reads it erased (each such value as its digest), which has the same hash and signature.",
    params(("hash" = Hash, Path, description = "The transaction hash")),
    responses(
        (status = 200, description = "Pending or committed", body = TransactionStatus),
        (status = 400, description = "Not a hash", body = ErrorBody),
        (status = 401, description = "A signature that does not check out", body = ErrorBody),
        (status = 404, description = "Neither pending nor committed", body = ErrorBody),
        (status = 500, description = "A fault of this node", body = ErrorBody),
    ),
)]
pub async fn transaction(
    State(node): State<NodeHandle>,
    Path(hash): Path<String>,
    reader: Reader,
) -> ApiResult<TransactionStatus> {
    let hash: Hash = id("transaction hash", &hash)?;
    let committed = off_workers(&node, move |node| {
        let store = node.store();
        let Some(loc) = store.tx_location(&hash).map_err(internal)? else {
            return Ok(None);
        };
        let block = store
            .block(loc.height)
            .map_err(internal)?
            .ok_or_else(|| ApiError::internal("indexed block missing"))?;
        // Its ciphertext and sealed keys go to its parties alone (a signed read);
        // anyone else gets it erased, which has the same hash and signature.
        let tx = match block.transactions.get(loc.index as usize) {
            Some(tx) if tx.tx.payload.holds_erasable() => {
                let party = match reader.0 {
                    Some(key) => party_of(node, tx, &key)?,
                    None => false,
                };
                Some(if party { tx.clone() } else { tx.erased() })
            }
            other => other.cloned(),
        };
        let tx = tx.as_ref();
        Ok(Some(TransactionStatus {
            hash,
            status: TxState::Committed,
            height: Some(loc.height),
            index: Some(loc.index),
            block: Some(block.hash()),
            transaction: tx.cloned(),
            transaction_bytes: tx.map(|t| hex::encode(codec::encode(t))),
        }))
    })
    .await?;
    if let Some(found) = committed {
        return Ok(Json(found));
    }
    if node.is_pending(hash).await {
        return Ok(Json(TransactionStatus {
            hash,
            status: TxState::Pending,
            height: None,
            index: None,
            block: None,
            transaction: None,
            transaction_bytes: None,
        }));
    }
    Err(ApiError::not_found(format!(
        "transaction {hash} is neither pending nor committed"
    )))
}

/// `GET /v1/status`.
#[utoipa::path(
    get,
    path = "/v1/status",
    tag = "node",
    summary = "Chain and node status",
    description = "Height, round, peers, mempool, syncing, and this validator's consensus keys.",
    responses((status = 200, description = "The status", body = Status)),
)]
pub async fn status(State(node): State<NodeHandle>) -> Json<Status> {
    Json(node.status())
}

fn block_view(node: &NodeHandle, height: u64) -> ApiResult<BlockView> {
    let store = node.store();
    let block = store
        .block(height)
        .map_err(internal)?
        .ok_or_else(|| ApiError::not_found(format!("block {height} not found")))?;
    let certificate = store.certificate(height).map_err(internal)?;
    Ok(Json(BlockView {
        hash: block.hash(),
        transactions: block.transactions.iter().map(|t| t.hash()).collect(),
        header: block.header,
        last_commit: block.last_commit,
        certificate,
    }))
}

/// `GET /v1/blocks/latest`.
#[utoipa::path(
    get,
    path = "/v1/blocks/latest",
    tag = "blocks",
    summary = "The last final block",
    description = "The last finalized block: its header, its transactions' hashes and its commit certificate.",
    responses(
        (status = 200, description = "The block", body = BlockView),
        (status = 500, description = "A fault of this node", body = ErrorBody),
    ),
)]
pub async fn latest_block(State(node): State<NodeHandle>) -> ApiResult<BlockView> {
    off_workers(&node, |node| {
        let height = node.store().last_height().map_err(internal)?.unwrap_or(0);
        block_view(node, height)
    })
    .await
}

/// `GET /v1/blocks/{height}`.
#[utoipa::path(
    get,
    path = "/v1/blocks/{height}",
    tag = "blocks",
    summary = "A final block",
    description = "A finalized block: its header, its transactions' hashes and its commit certificate.",
    params(("height" = u64, Path, description = "The height (0 is genesis)", minimum = 0)),
    responses(
        (status = 200, description = "The block", body = BlockView),
        (status = 400, description = "Not a height", body = ErrorBody),
        (status = 404, description = "Not (yet) a block", body = ErrorBody),
        (status = 500, description = "A fault of this node", body = ErrorBody),
    ),
)]
pub async fn block(
    State(node): State<NodeHandle>,
    Path(height): Path<String>,
) -> ApiResult<BlockView> {
    let height = number("height", &height)?;
    off_workers(&node, move |node| block_view(node, height)).await
}

/// Where a scan of issuances starts, and how far it reads.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct IssuanceRange {
    /// The first height to read (default 1).
    #[param(minimum = 0, maximum = 9223372036854775807_i64)]
    pub from_height: Option<u64>,
    /// Most issuances (default 1,000): the answer ends with the block that reaches it.
    #[param(minimum = 1, maximum = 10000)]
    pub limit: Option<u32>,
}

/// Most blocks one scan of issuances reads.
const MAX_ISSUANCE_BLOCKS: u64 = 256;
/// Most issuances one scan returns (it ends with the block that reaches it).
const MAX_ISSUANCES: u32 = 10_000;

/// `GET /v1/issuances`: every issuance of a range of blocks, with the subject its
/// claim names and the `enc` of the content key sealed to that subject.
#[utoipa::path(
    get,
    path = "/v1/issuances",
    tag = "credentials",
    summary = "Issuances, for wallets finding their entries",
    description = "The issuances of up to 256 blocks from `from_height`, in chain order: each with its height, its credential, the subject its claim names and the `enc` (HPKE encapsulated key) of the content key sealed to the subject. A subject's wallet derives from each `enc` whether the subject named is one of its entry keys; to anyone else `enc` is a random point. Issuances whose content was erased are left out. Read on from `next_height`; `height` is the last final height.",
    params(IssuanceRange),
    responses(
        (status = 200, description = "The issuances", body = IssuanceNotes),
        (status = 400, description = "A bad height or limit", body = ErrorBody),
        (status = 500, description = "A fault of this node", body = ErrorBody),
    ),
)]
pub async fn issuances(
    State(node): State<NodeHandle>,
    query: Result<Query<IssuanceRange>, QueryRejection>,
) -> ApiResult<IssuanceNotes> {
    let Query(range) = query.map_err(bad_query)?;
    let limit = range.limit.unwrap_or(1_000);
    if !(1..=MAX_ISSUANCES).contains(&limit) {
        return Err(ApiError::bad_request(format!(
            "limit {limit}: from 1 to {MAX_ISSUANCES}"
        )));
    }
    // A height is a JSON int64: beyond it is not a height.
    let from = range.from_height.unwrap_or(1).max(1);
    if from > i64::MAX as u64 {
        return Err(ApiError::bad_request(format!(
            "from_height {from}: at most {}",
            i64::MAX
        )));
    }
    off_workers(&node, move |node| issuances_now(node, from, limit as usize)).await
}

fn issuances_now(node: &NodeHandle, from: u64, limit: usize) -> ApiResult<IssuanceNotes> {
    let store = node.store();
    let last = store.last_height().map_err(internal)?.unwrap_or(0);
    let mut notes = Vec::new();
    let mut height = from;
    while height <= last && height < from.saturating_add(MAX_ISSUANCE_BLOCKS) {
        let block = store
            .block(height)
            .map_err(internal)?
            .ok_or_else(|| ApiError::internal(format!("block {height} is missing")))?;
        for tx in &block.transactions {
            if let mpms_ledger::Payload::IssueCredential(issuance) = &tx.tx.payload {
                if let Some(sealed) = issuance.subject_key.get() {
                    notes.push(IssuanceNote {
                        height,
                        credential: issuance.claim.id(),
                        subject: issuance.claim.subject,
                        enc: sealed.enc,
                    });
                }
            }
        }
        height += 1;
        if notes.len() >= limit {
            break;
        }
    }
    Ok(Json(IssuanceNotes {
        issuances: notes,
        next_height: height,
        height: last,
    }))
}

/// `GET /v1/accounts/{id}`.
#[utoipa::path(
    get,
    path = "/v1/accounts/{id}",
    tag = "parties",
    summary = "An account",
    description = "The committed nonce, the next nonce counting this node's pending transactions, and the record (balances, keys). An account the chain does not hold answers with `exists: false`.",
    params(("id" = PublicKey, Path, description = "The account id")),
    responses(
        (status = 200, description = "The account", body = AccountView),
        (status = 400, description = "Not an account id", body = ErrorBody),
        (status = 500, description = "A fault of this node", body = ErrorBody),
    ),
)]
pub async fn account(
    State(node): State<NodeHandle>,
    Path(text): Path<String>,
) -> ApiResult<AccountView> {
    let id: PublicKey = id("account id", &text)?;
    let account: Option<Account> =
        off_workers(&node, move |node| record(node, &keys::account(&id))).await?;
    let committed_nonce = account.as_ref().map_or(0, |a| a.nonce);
    let next_nonce = node
        .pending_next_nonce(id)
        .await
        .unwrap_or(committed_nonce)
        .max(committed_nonce);
    Ok(Json(AccountView {
        id,
        exists: account.is_some(),
        nonce: committed_nonce,
        next_nonce,
        account,
    }))
}

/// `GET /v1/subjects/{id}`.
#[utoipa::path(
    get,
    path = "/v1/subjects/{id}",
    tag = "credentials",
    summary = "A registered subject",
    description = "A subject: a patient or an intern, with the key its credentials are sealed to.",
    params(("id" = PublicKey, Path, description = "The subject's account id")),
    responses(
        (status = 200, description = "The subject", body = Subject),
        (status = 400, description = "Not an id", body = ErrorBody),
        (status = 404, description = "Not registered", body = ErrorBody),
        (status = 500, description = "A fault of this node", body = ErrorBody),
    ),
)]
pub async fn subject(
    State(node): State<NodeHandle>,
    Path(text): Path<String>,
) -> ApiResult<Subject> {
    let id: PublicKey = id("subject id", &text)?;
    off_workers(&node, move |node| {
        found("subject", record::<Subject>(node, &keys::subject(&id))?)
    })
    .await
}

/// Paging of list routes.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct Page {
    /// Most items (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
}

impl Page {
    /// The page from a query string: `limit` must be 1 to 1,000.
    fn checked(query: Result<Query<Page>, QueryRejection>) -> Result<Page, ApiError> {
        let Query(page) = query.map_err(bad_query)?;
        match page.limit {
            Some(n) if !(1..=MAX_PAGE).contains(&n) => Err(ApiError::bad_request(format!(
                "limit {n}: from 1 to {MAX_PAGE}"
            ))),
            _ => Ok(page),
        }
    }

    fn limit(&self) -> usize {
        self.limit.unwrap_or(DEFAULT_PAGE) as usize
    }
}

/// `GET /v1/subjects/{id}/credentials`.
#[utoipa::path(
    get,
    path = "/v1/subjects/{id}/credentials",
    tag = "credentials",
    summary = "A subject's credentials",
    description = "The credentials issued to a subject (an account, or an entry key: the entry and its corrections), by schema, then in issue order. A signed read by the subject only (`Authorization: MPMS-Sig key=HEX, time=MS, signature=HEX`: its ed25519 signature, domain `read`, over `GET\\n` + path and query + `\\n` + time, within 5 minutes of the node's clock).",
    params(("id" = PublicKey, Path, description = "The subject's account id"), Page),
    responses(
        (status = 200, description = "The credentials", body = SubjectCredentials),
        (status = 400, description = "Not an id, or a bad limit", body = ErrorBody),
        (status = 401, description = "Not signed, or a signature that does not check out", body = ErrorBody),
        (status = 403, description = "Signed by another key than the subject's", body = ErrorBody),
        (status = 500, description = "A fault of this node", body = ErrorBody),
    ),
)]
pub async fn subject_credentials(
    State(node): State<NodeHandle>,
    Path(text): Path<String>,
    query: Result<Query<Page>, QueryRejection>,
    reader: Reader,
) -> ApiResult<SubjectCredentials> {
    let id: PublicKey = id("subject id", &text)?;
    let page = Page::checked(query)?;
    off_workers(&node, move |node| {
        require_subject(node, &id, reader)?;
        subject_credentials_now(node, id, &page)
    })
    .await
}

fn subject_credentials_now(
    node: &NodeHandle,
    id: PublicKey,
    page: &Page,
) -> ApiResult<SubjectCredentials> {
    // The subject's per-schema lists of issued credentials.
    let lists = node
        .store()
        .scan_state(&keys::held_prefix(&id), page.limit())
        .map_err(internal)?;
    let mut out = Vec::new();
    for (_, value) in lists {
        let ids: Vec<Hash> = codec::decode(&value)
            .map_err(|e| ApiError::internal(format!("corrupt credential list: {e}")))?;
        for cid in ids {
            if out.len() >= page.limit() {
                break;
            }
            if let Some(credential) = current_credential(node, &cid)? {
                out.push(HeldCredential {
                    id: cid,
                    credential,
                });
            }
        }
    }
    Ok(Json(SubjectCredentials {
        subject: id,
        credentials: out,
    }))
}

/// `GET /v1/subjects/{id}/audit`: who asked for, was granted, lost or used access to
/// the subject's credentials, with heights and times: requests, grants, grant
/// revocations, expiries and recorded inspections, oldest first. Only what the chain
/// holds.
#[utoipa::path(
    get,
    path = "/v1/subjects/{id}/audit",
    tag = "credentials",
    summary = "A subject's access audit",
    description = "Every access request, grant, grant revocation, expiry and recorded inspection concerning the subject's credentials, with heights and times. A signed read (see `/v1/subjects/{id}/credentials`): the subject reads all of it, a requester or grantee the events of its own requests and grants. Pages follow requests and grants in the order they were made (`limit` counts them; a grant's later events come with it), each page oldest first; `next` is the cursor of the next page, to pass as `after`.",
    params(("id" = PublicKey, Path, description = "The subject's account id"), AuditPage),
    responses(
        (status = 200, description = "The audit trail: the whole of it for the subject, the events of its own requests and grants for anyone else", body = SubjectAudit),
        (status = 400, description = "Not an id, a bad limit or cursor", body = ErrorBody),
        (status = 401, description = "Not signed, or a signature that does not check out", body = ErrorBody),
        (status = 500, description = "A fault of this node", body = ErrorBody),
    ),
)]
pub async fn subject_audit(
    State(node): State<NodeHandle>,
    Path(text): Path<String>,
    query: Result<Query<AuditPage>, QueryRejection>,
    reader: Reader,
) -> ApiResult<SubjectAudit> {
    let id: PublicKey = id("subject id", &text)?;
    let Query(audit_page) = query.map_err(bad_query)?;
    let page = Page::checked(Ok(Query(Page {
        limit: audit_page.limit,
    })))?;
    let after = audit_page.after()?;
    let Some(key) = reader.0 else {
        return Err(ApiError::unauthorized(format!(
            "sign the read with the key of subject {id}, or of a party it granted or that asked it (Authorization: MPMS-Sig)"
        )));
    };
    off_workers(&node, move |node| {
        let mut audit = subject_audit_now(node, id, &page, after)?;
        // The subject reads its whole trail; anyone else the events of its own
        // requests and grants only.
        if !signs_for(node, &id, &key)? {
            audit.events.retain(|event| event.party() == key);
        }
        Ok(audit)
    })
    .await
}

/// A page of an audit trail.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditPage {
    /// Most requests and grants (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
    /// The cursor a page's `next` gave: this page starts after it.
    #[param(pattern = "^[0-9a-f]{82}$")]
    pub after: Option<String>,
}

/// An audit cursor's length: height (8 bytes), kind (1), id (32).
const AUDIT_CURSOR_BYTES: usize = 41;

impl AuditPage {
    fn after(&self) -> Result<Option<Vec<u8>>, ApiError> {
        let Some(text) = &self.after else {
            return Ok(None);
        };
        match hex::decode(text) {
            Ok(bytes) if bytes.len() == AUDIT_CURSOR_BYTES => Ok(Some(bytes)),
            _ => Err(ApiError::bad_request(format!(
                "after {text:?}: a cursor from a page's next ({} hex digits)",
                AUDIT_CURSOR_BYTES * 2
            ))),
        }
    }
}

/// The most inspections listed per grant, the newest (the grant's event says how
/// many there are).
const MAX_INSPECTIONS_LISTED: u64 = 100;

fn subject_audit_now(
    node: &NodeHandle,
    id: PublicKey,
    page: &Page,
    after: Option<Vec<u8>>,
) -> ApiResult<SubjectAudit> {
    let store = node.store();
    let corrupt = || ApiError::internal("malformed access index entry");
    let prefix = keys::subject_access_prefix(&id);
    // The first key after the cursor: the cursor's key followed by a zero byte.
    let mut from = prefix.clone();
    if let Some(after) = &after {
        from.extend_from_slice(after);
        from.push(0);
    }
    // One more than asked, to say whether the list was cut.
    let mut entries = store
        .scan_state_from(&prefix, &from, page.limit() + 1)
        .map_err(internal)?;
    let truncated = entries.len() > page.limit();
    entries.truncate(page.limit());
    let next = if truncated {
        entries
            .last()
            .and_then(|(key, _)| key.get(prefix.len()..))
            .map(hex::encode)
    } else {
        None
    };
    let last = store
        .last_header()
        .map_err(internal)?
        .ok_or_else(|| ApiError::internal("no chain"))?;
    let times = std::cell::RefCell::new(std::collections::HashMap::new());
    let time_of = |height: u64| -> Result<u64, ApiError> {
        if let Some(time) = times.borrow().get(&height) {
            return Ok(*time);
        }
        let time = store
            .header(height)
            .map_err(internal)?
            .map_or(0, |h| h.time_ms);
        times.borrow_mut().insert(height, time);
        Ok(time)
    };
    // (height, event): sorted by time, then height.
    let mut events: Vec<(u64, AuditEvent)> = Vec::new();
    for (key, _) in entries {
        // prefix, height (8 bytes), kind, id
        let at = prefix.len() + 8;
        let (Some(&kind), Some(raw)) = (key.get(at), key.get(at + 1..)) else {
            return Err(corrupt());
        };
        let record_id = Hash::from_bytes(raw.try_into().map_err(|_| corrupt())?);
        if kind == keys::ACCESS_REQUEST {
            let Some(r) = record::<AccessRequest>(node, &keys::request(&record_id))? else {
                continue;
            };
            events.push((
                r.height,
                AuditEvent::Request {
                    request: record_id,
                    requester: r.requester,
                    credentials: r.credentials.clone(),
                    purpose: r.purpose.clone(),
                    height: r.height,
                    time_ms: time_of(r.height)?,
                },
            ));
            continue;
        }
        let Some(g) = record::<Grant>(node, &keys::grant(&record_id))? else {
            continue;
        };
        events.push((
            g.granted_height,
            AuditEvent::Grant {
                grant: record_id,
                credential: g.credential,
                grantee: g.grantee,
                request: g.request,
                expires_at_ms: g.expires_at_ms,
                inspection_count: g.inspection_count,
                height: g.granted_height,
                time_ms: time_of(g.granted_height)?,
            },
        ));
        if let Some(revoked) = g.revoked_height {
            events.push((
                revoked,
                AuditEvent::GrantRevoked {
                    grant: record_id,
                    credential: g.credential,
                    grantee: g.grantee,
                    height: revoked,
                    time_ms: time_of(revoked)?,
                },
            ));
        }
        // The newest ones: an organization that records many cannot push later
        // inspections out of the list (the grant event carries the count).
        let first = g.inspection_count.saturating_sub(MAX_INSPECTIONS_LISTED);
        for n in first..g.inspection_count {
            if let Some(i) = record::<Inspection>(node, &keys::inspection(&record_id, n))? {
                events.push((
                    i.height,
                    AuditEvent::Inspection {
                        grant: record_id,
                        credential: g.credential,
                        grantee: g.grantee,
                        outcome: i.outcome,
                        height: i.height,
                        time_ms: time_of(i.height)?,
                    },
                ));
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
            events.push((
                last.height,
                AuditEvent::GrantExpired {
                    grant: record_id,
                    credential: g.credential,
                    grantee: g.grantee,
                    expires_at_ms: g.expires_at_ms,
                    time_ms: g.expires_at_ms,
                },
            ));
        }
    }
    events.sort_by_key(|(height, event)| (event.time_ms(), *height));
    Ok(Json(SubjectAudit {
        subject: id,
        as_of_height: last.height,
        truncated,
        events: events.into_iter().map(|(_, event)| event).collect(),
        next,
    }))
}

/// `GET /v1/credentials/{id}`.
#[utoipa::path(
    get,
    path = "/v1/credentials/{id}",
    tag = "credentials",
    summary = "A credential record",
    description = "The claim (issuer, practitioner, subject, schema, digests), the certifier's signature, its status (revoked by its certifier, or by governance with its certifier's credentials of a range of issue heights) and what supersedes it. Its content is sealed to the subject: only the subject and its grantees can open it.",
    params(("id" = Hash, Path, description = "The credential id")),
    responses(
        (status = 200, description = "Found", body = Credential),
        (status = 400, description = "Not an id", body = ErrorBody),
        (status = 404, description = "No such credential", body = ErrorBody),
        (status = 500, description = "A fault of this node", body = ErrorBody),
    ),
)]
pub async fn credential(
    State(node): State<NodeHandle>,
    Path(text): Path<String>,
) -> ApiResult<Credential> {
    let id: Hash = id("credential id", &text)?;
    off_workers(&node, move |node| {
        found("credential", current_credential(node, &id)?)
    })
    .await
}

/// The common error answers of proof routes.
fn bundle_error(e: mpms_light::bundle::BuildError) -> ApiError {
    match e {
        mpms_light::bundle::BuildError::NotFound => ApiError::not_found("credential not found"),
        other => ApiError::internal(other.to_string()),
    }
}

/// `GET /v1/credentials/{id}/proof`: the issuing transaction, its Merkle proof, the
/// block's header and certificate, and the certified authority-set changes up to that
/// block (what shows the certificate's signers were the authorities then).
#[utoipa::path(
    get,
    path = "/v1/credentials/{id}/proof",
    tag = "credentials",
    summary = "A credential's inclusion proof",
    description = "The issuing transaction, its Merkle proof, the block header and commit certificate, and the certified authority-set changes up to that block.",
    params(("id" = Hash, Path, description = "The credential id")),
    responses(
        (status = 200, description = "The proof", body = CredentialProof),
        (status = 400, description = "Not an id", body = ErrorBody),
        (status = 404, description = "No such credential", body = ErrorBody),
        (status = 500, description = "A fault of this node", body = ErrorBody),
    ),
)]
pub async fn credential_proof(
    State(node): State<NodeHandle>,
    Path(text): Path<String>,
) -> ApiResult<CredentialProof> {
    let id: Hash = id("credential id", &text)?;
    off_workers(&node, move |node| credential_proof_now(node, id)).await
}

fn credential_proof_now(node: &NodeHandle, id: Hash) -> ApiResult<CredentialProof> {
    let credential: Credential = record(node, &keys::credential(&id))?
        .ok_or_else(|| ApiError::not_found("credential not found"))?;
    let store = node.store();
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
    // A proof needs the transaction's hash, which erasure keeps: its ciphertext and
    // sealed keys are for the subject and its grantees alone (`/v1/transactions`).
    let tx = &block
        .transactions
        .get(loc.index as usize)
        .ok_or_else(|| ApiError::internal("indexed transaction missing"))?
        .erased();
    let authority_changes =
        mpms_light::bundle::authority_changes(store.as_ref(), loc.height).map_err(internal)?;
    Ok(Json(CredentialProof {
        credential_id: id,
        credential,
        transaction: tx.clone(),
        transaction_bytes: hex::encode(codec::encode(tx)),
        tx_index: loc.index,
        header: block.header.clone(),
        proof,
        certificate,
        authority_changes,
    }))
}

/// `GET /v1/credentials/{id}/bundle`: the credential's proof bundle, checkable
/// offline with `mpmsd verify`.
#[utoipa::path(
    get,
    path = "/v1/credentials/{id}/bundle",
    tag = "credentials",
    summary = "A credential's proof bundle",
    description = "Issuing transaction, Merkle proof, certified header, the certified chain of authority-set changes from genesis, and its status proven against a later certified header. Checked offline by `mpmsd verify`.",
    params(("id" = Hash, Path, description = "The credential id")),
    responses(
        (status = 200, description = "The bundle", body = ProofBundle),
        (status = 400, description = "Not an id", body = ErrorBody),
        (status = 404, description = "No such credential", body = ErrorBody),
        (status = 500, description = "A fault of this node", body = ErrorBody),
    ),
)]
pub async fn credential_bundle(
    State(node): State<NodeHandle>,
    Path(text): Path<String>,
) -> ApiResult<ProofBundle> {
    let id: Hash = id("credential id", &text)?;
    off_workers(&node, move |node| {
        mpms_light::bundle::build_bundle(node.store().as_ref(), node.genesis(), &id)
            .map(Json)
            .map_err(bundle_error)
    })
    .await
}

/// `GET /v1/credentials/{id}/status-proof`: the credential's status as of the last
/// block, proven against its certified header.
#[utoipa::path(
    get,
    path = "/v1/credentials/{id}/status-proof",
    tag = "credentials",
    summary = "A credential's status, proven",
    description = "The credential and certifier records as of the last block, proven against its certified header, with the authority-set changes from genesis.",
    params(("id" = Hash, Path, description = "The credential id")),
    responses(
        (status = 200, description = "The proof", body = StatusProof),
        (status = 400, description = "Not an id", body = ErrorBody),
        (status = 404, description = "No such credential", body = ErrorBody),
        (status = 500, description = "A fault of this node", body = ErrorBody),
    ),
)]
pub async fn credential_status_proof(
    State(node): State<NodeHandle>,
    Path(text): Path<String>,
) -> ApiResult<StatusProof> {
    let id: Hash = id("credential id", &text)?;
    off_workers(&node, move |node| {
        mpms_light::bundle::build_status(node.store().as_ref(), &id)
            .map(Json)
            .map_err(bundle_error)
    })
    .await
}

/// The longest state key a proof is asked for (keys are a prefix byte and ids).
const MAX_STATE_KEY_BYTES: usize = 1024;

/// Query of `GET /v1/state/proof`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct StateProofQuery {
    /// The state key, lowercase hex (at most 1,024 bytes).
    #[param(pattern = "^([0-9a-f]{2}){1,1024}$")]
    key: String,
    /// The height (default: the last block); heights older than the node keeps are 404.
    #[param(minimum = 0)]
    height: Option<u64>,
}

/// `GET /v1/state/proof?key=HEX[&height=H]`: a proof of one state key's value or
/// absence after block H, with H's header and certificate.
#[utoipa::path(
    get,
    path = "/v1/state/proof",
    tag = "blocks",
    summary = "A state proof",
    description = "A proof of one state key's value, or of its absence, after a block, with that block's header and certificate.",
    params(StateProofQuery),
    responses(
        (status = 200, description = "The proof", body = StateProofView),
        (status = 400, description = "A bad key or height", body = ErrorBody),
        (status = 404, description = "The height is not kept", body = ErrorBody),
        (status = 500, description = "A fault of this node", body = ErrorBody),
    ),
)]
pub async fn state_proof(
    State(node): State<NodeHandle>,
    query: Result<Query<StateProofQuery>, QueryRejection>,
) -> ApiResult<StateProofView> {
    let Query(query) = query.map_err(bad_query)?;
    let lower_hex = query
        .key
        .bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if query.key.is_empty()
        || query.key.len() > 2 * MAX_STATE_KEY_BYTES
        || query.key.len() % 2 != 0
        || !lower_hex
    {
        return Err(ApiError::bad_request(format!(
            "key: 1 to {MAX_STATE_KEY_BYTES} bytes, lowercase hex"
        )));
    }
    let key = hex::decode(&query.key).map_err(|e| ApiError::bad_request(format!("key: {e}")))?;
    off_workers(&node, move |node| {
        let store = node.store();
        let last = store
            .last_height()
            .map_err(internal)?
            .ok_or_else(|| ApiError::internal("no chain"))?;
        let height = query.height.unwrap_or(last);
        let kept = height <= last
            && mpms_ledger::state::tree::root_at(store.as_ref(), height)
                .map_err(internal)?
                .is_some();
        if !kept {
            return Err(ApiError::not_found(format!(
                "height {height} is not kept (the last is {last}; older state is pruned)"
            )));
        }
        let proof =
            mpms_ledger::state::tree::prove(store.as_ref(), height, &key).map_err(internal)?;
        Ok(Json(StateProofView {
            height,
            header: store.header(height).map_err(internal)?,
            certificate: store.certificate(height).map_err(internal)?,
            proof,
        }))
    })
    .await
}

/// `GET /v1/grants/{id}`.
#[utoipa::path(
    get,
    path = "/v1/grants/{id}",
    tag = "access",
    summary = "An access grant",
    description = "A subject's grant of one credential to an organization: the key sealed to the grantee (by digest once erased), expiry, revocation, and the latest inspections recorded under it.",
    params(("id" = Hash, Path, description = "The grant id")),
    responses(
        (status = 200, description = "The grant", body = GrantView),
        (status = 400, description = "Not an id", body = ErrorBody),
        (status = 404, description = "No such grant", body = ErrorBody),
        (status = 500, description = "A fault of this node", body = ErrorBody),
    ),
)]
pub async fn grant(
    State(node): State<NodeHandle>,
    Path(text): Path<String>,
) -> ApiResult<GrantView> {
    let id: Hash = id("grant id", &text)?;
    off_workers(&node, move |node| grant_now(node, id)).await
}

fn grant_now(node: &NodeHandle, id: Hash) -> ApiResult<GrantView> {
    let grant = record::<Grant>(node, &keys::grant(&id))?
        .ok_or_else(|| ApiError::not_found(format!("grant {id} not found")))?;
    // The latest inspections (each is its own record).
    let first = grant
        .inspection_count
        .saturating_sub(MAX_LISTED_INSPECTIONS);
    let mut inspections = Vec::new();
    for n in first..grant.inspection_count {
        if let Some(i) = record::<Inspection>(node, &keys::inspection(&id, n))? {
            inspections.push(i);
        }
    }
    Ok(Json(GrantView { grant, inspections }))
}

#[utoipa::path(
    get,
    path = "/v1/grant-sets/{id}",
    tag = "access",
    summary = "A set grant",
    description = "A subject's grant of several credentials in one transaction: its selection, expiry, revocation, and each entry's credential and grant id.",
    params(("id" = Hash, Path, description = "The set grant id")),
    responses(
        (status = 200, description = "Found", body = GrantSet),
        (status = 400, description = "Not an id", body = ErrorBody),
        (status = 404, description = "No such set grant", body = ErrorBody),
        (status = 500, description = "A fault of this node", body = ErrorBody),
    ),
)]
pub async fn grant_set(
    State(node): State<NodeHandle>,
    Path(text): Path<String>,
) -> ApiResult<GrantSet> {
    let id: Hash = id("grant set id", &text)?;
    off_workers(&node, move |node| {
        found(
            "grant set",
            record::<GrantSet>(node, &keys::grant_set(&id))?,
        )
    })
    .await
}

/// `GET /v1/certifiers/{id}/delegations/{practitioner}`.
#[utoipa::path(
    get,
    path = "/v1/certifiers/{id}/delegations/{practitioner}",
    tag = "parties",
    summary = "A practitioner's delegation",
    description = "A certifier's delegation of claim signing to a practitioner: its terms (role, schemas, validity, revocation) by the height from which each applies.",
    params(
        ("id" = PublicKey, Path, description = "The certifier's account id"),
        ("practitioner" = PublicKey, Path, description = "The practitioner's key"),
    ),
    responses(
        (status = 200, description = "The delegation", body = Delegation),
        (status = 400, description = "Not an id", body = ErrorBody),
        (status = 404, description = "No such delegation", body = ErrorBody),
        (status = 500, description = "A fault of this node", body = ErrorBody),
    ),
)]
pub async fn delegation(
    State(node): State<NodeHandle>,
    Path((certifier, practitioner)): Path<(String, String)>,
) -> ApiResult<Delegation> {
    let certifier: PublicKey = id("certifier id", &certifier)?;
    let practitioner: PublicKey = id("practitioner id", &practitioner)?;
    off_workers(&node, move |node| {
        found(
            "delegation",
            record::<Delegation>(node, &keys::delegation(&certifier, &practitioner))?,
        )
    })
    .await
}

/// Most inspections a grant's answer lists (the latest).
const MAX_LISTED_INSPECTIONS: u64 = 100;

#[utoipa::path(
    get,
    path = "/v1/requests/{id}",
    tag = "access",
    summary = "An access request",
    description = "An organization's request for access to a subject's credentials, with its purpose sealed to the subject.",
    params(("id" = Hash, Path, description = "The request id")),
    responses(
        (status = 200, description = "Found", body = AccessRequest),
        (status = 400, description = "Not an id", body = ErrorBody),
        (status = 404, description = "No such request", body = ErrorBody),
        (status = 500, description = "A fault of this node", body = ErrorBody),
    ),
)]
pub async fn request(
    State(node): State<NodeHandle>,
    Path(text): Path<String>,
) -> ApiResult<AccessRequest> {
    let id: Hash = id("request id", &text)?;
    off_workers(&node, move |node| {
        found(
            "request",
            record::<AccessRequest>(node, &keys::request(&id))?,
        )
    })
    .await
}

/// Whether `id` can name a schema (lowercase letters, digits, `.`, `_`, `-`; 1 to 64).
fn schema_id(text: &str) -> Result<&str, ApiError> {
    let valid = (1..=64).contains(&text.len())
        && text
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b));
    if valid {
        Ok(text)
    } else {
        Err(ApiError::bad_request(format!(
            "schema id {text:?}: 1 to 64 of a-z, 0-9, '.', '_', '-'"
        )))
    }
}

/// `GET /v1/schemas/{id}`.
#[utoipa::path(
    get,
    path = "/v1/schemas/{id}",
    tag = "credentials",
    summary = "A credential schema",
    description = "A schema: its fields and their types, its FHIR resource type if any, and who registered it.",
    params(("id" = String, Path, description = "The schema id", pattern = "^[a-z0-9._-]{1,64}$")),
    responses(
        (status = 200, description = "The schema", body = Schema),
        (status = 400, description = "Not a schema id", body = ErrorBody),
        (status = 404, description = "No such schema", body = ErrorBody),
        (status = 500, description = "A fault of this node", body = ErrorBody),
    ),
)]
pub async fn schema(State(node): State<NodeHandle>, Path(text): Path<String>) -> ApiResult<Schema> {
    let id = schema_id(&text)?.to_string();
    off_workers(&node, move |node| {
        found("schema", record::<Schema>(node, &keys::schema(&id))?)
    })
    .await
}

/// `GET /v1/schemas`: every registered schema, in id order.
#[utoipa::path(
    get,
    path = "/v1/schemas",
    tag = "credentials",
    summary = "Credential schemas",
    description = "The registered credential schemas, in id order.",
    params(Page),
    responses(
        (status = 200, description = "The schemas", body = SchemaList),
        (status = 400, description = "A bad limit", body = ErrorBody),
        (status = 500, description = "A fault of this node", body = ErrorBody),
    ),
)]
pub async fn schemas(
    State(node): State<NodeHandle>,
    query: Result<Query<Page>, QueryRejection>,
) -> ApiResult<SchemaList> {
    let page = Page::checked(query)?;
    off_workers(&node, move |node| schemas_now(node, &page)).await
}

fn schemas_now(node: &NodeHandle, page: &Page) -> ApiResult<SchemaList> {
    let full = keys::schema("");
    let entries = node
        .store()
        .scan_state(&full, page.limit())
        .map_err(internal)?;
    let mut schemas = Vec::new();
    for (_, value) in entries {
        schemas.push(
            codec::decode(&value)
                .map_err(|e| ApiError::internal(format!("corrupt schema: {e}")))?,
        );
    }
    Ok(Json(SchemaList { schemas }))
}

#[utoipa::path(
    get,
    path = "/v1/certifiers/{id}",
    tag = "parties",
    summary = "A certifier",
    description = "A certifier: its organization, its accreditation (scope, status, validity) and its stake.",
    params(("id" = PublicKey, Path, description = "The certifier's account id")),
    responses(
        (status = 200, description = "Found", body = Certifier),
        (status = 400, description = "Not an id", body = ErrorBody),
        (status = 404, description = "Not a certifier", body = ErrorBody),
        (status = 500, description = "A fault of this node", body = ErrorBody),
    ),
)]
pub async fn certifier(
    State(node): State<NodeHandle>,
    Path(text): Path<String>,
) -> ApiResult<Certifier> {
    let id: PublicKey = id("certifier id", &text)?;
    off_workers(&node, move |node| {
        found(
            "certifier",
            record::<Certifier>(node, &keys::certifier(&id))?,
        )
    })
    .await
}

/// `GET /v1/certifiers/{id}/status-lists`.
#[utoipa::path(
    get,
    path = "/v1/certifiers/{id}/status-lists",
    tag = "credentials",
    summary = "Where a certifier's status entries stand",
    description = "The certifier's next free status entry (every credential takes one, `status_index` in its claim, unique per certifier) and how many W3C status lists of 131,072 entries its credentials use.",
    params(("id" = PublicKey, Path, description = "The certifier's account id")),
    responses(
        (status = 200, description = "Found", body = StatusListsInfo),
        (status = 400, description = "Not an id", body = ErrorBody),
        (status = 404, description = "Not a certifier", body = ErrorBody),
        (status = 500, description = "A fault of this node", body = ErrorBody),
    ),
)]
pub async fn certifier_status_lists(
    State(node): State<NodeHandle>,
    Path(text): Path<String>,
) -> ApiResult<StatusListsInfo> {
    let id: PublicKey = id("certifier id", &text)?;
    off_workers(&node, move |node| {
        if record::<Certifier>(node, &keys::certifier(&id))?.is_none() {
            return Err(ApiError::not_found("certifier not found"));
        }
        let next_index =
            StatusListPublisher::next_index(node.store().as_ref(), &id).map_err(internal)?;
        Ok(Json(StatusListsInfo {
            certifier: id,
            next_index,
            list_bits: STATUS_LIST_BITS,
            lists: next_index.div_ceil(STATUS_LIST_BITS),
        }))
    })
    .await
}

/// `GET /v1/status-lists/{certifier}/{list}`.
#[utoipa::path(
    get,
    path = "/v1/status-lists/{certifier}/{list}",
    tag = "credentials",
    summary = "A certifier's W3C status list",
    description = "List `list` of the certifier's W3C Bitstring Status Lists (entries `list`·131,072 to (`list`+1)·131,072 − 1), as a `BitstringStatusListCredential` secured as a `vc+jwt` (EdDSA) by this node's status list key, named as a `did:key`. An entry's bit is set when its credential is revoked (by its certifier or by governance) or superseded, or when the certifier is slashed for fraud. It is read at the last committed block: `validFrom` is that block's time, `validUntil` ten minutes later, `credentialSubject.height` its height. A generic VC verifier reads it through a credential's `BitstringStatusListEntry`; the chain's own status proof (`/v1/credentials/{id}/status-proof`) needs no trust in the node that serves it.",
    params(
        ("certifier" = PublicKey, Path, description = "The certifier's account id"),
        ("list" = u64, Path, minimum = 0, maximum = 32767, description = "The list number (a credential's `status_index` divided by 131,072): 0 to 32,767"),
    ),
    responses(
        (status = 200, description = "The list", content_type = "application/vc+jwt", body = String),
        (status = 400, description = "Not an id or not a list number", body = ErrorBody),
        (status = 404, description = "Not a certifier, or a list past the last", body = ErrorBody),
        (status = 500, description = "A fault of this node", body = ErrorBody),
    ),
)]
pub async fn status_list(
    State(node): State<NodeHandle>,
    axum::Extension(scheme): axum::Extension<super::Scheme>,
    headers: HeaderMap,
    Path((certifier, list)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let certifier: PublicKey = id("certifier id", &certifier)?;
    let list: u64 = list
        .parse()
        .map_err(|_| ApiError::bad_request(format!("list {list:?}: expected a number")))?;
    // The list names itself by the address it was asked at, as credentials name it.
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .ok_or_else(|| ApiError::bad_request("no Host header"))?;
    let base = format!("{}://{host}", scheme.0);
    mpms_light::vc::check_status_base(&base).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let url = format!(
        "{base}{}",
        mpms_light::vc::status_list_path(&certifier, list)
    );
    let jwt = off_workers(&node, move |node| {
        node.status_lists()
            .publish(
                node.store().as_ref(),
                node.chain_id(),
                &certifier,
                list,
                &url,
            )
            .map_err(|e| match e {
                StatusListError::NoCertifier | StatusListError::NoList(..) => {
                    ApiError::not_found(e.to_string())
                }
                StatusListError::Store(_) | StatusListError::Sign(_) => internal(e),
            })
    })
    .await?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/vc+jwt"),
            // A list is read once per block; a minute's reuse is well within its
            // validity.
            (header::CACHE_CONTROL, "public, max-age=60"),
        ],
        jwt,
    )
        .into_response())
}

#[utoipa::path(
    get,
    path = "/v1/organizations/{id}",
    tag = "parties",
    summary = "A member organization",
    description = "A member organization: its kind (hospital, university, licensing board, employer, insurer), name and encryption key.",
    params(("id" = PublicKey, Path, description = "The organization's account id")),
    responses(
        (status = 200, description = "Found", body = Organization),
        (status = 400, description = "Not an id", body = ErrorBody),
        (status = 404, description = "Not an organization", body = ErrorBody),
        (status = 500, description = "A fault of this node", body = ErrorBody),
    ),
)]
pub async fn organization(
    State(node): State<NodeHandle>,
    Path(text): Path<String>,
) -> ApiResult<Organization> {
    let id: PublicKey = id("organization id", &text)?;
    off_workers(&node, move |node| {
        found(
            "organization",
            record::<Organization>(node, &keys::organization(&id))?,
        )
    })
    .await
}

/// `GET /v1/authorities`.
#[utoipa::path(
    get,
    path = "/v1/authorities",
    tag = "governance",
    summary = "The authorities",
    description = "The authority set in force and every authority's record (stake, status, keys).",
    responses(
        (status = 200, description = "The authorities", body = AuthoritiesView),
        (status = 500, description = "A fault of this node", body = ErrorBody),
    ),
)]
pub async fn authorities(State(node): State<NodeHandle>) -> ApiResult<AuthoritiesView> {
    off_workers(&node, authorities_now).await
}

fn authorities_now(node: &NodeHandle) -> ApiResult<AuthoritiesView> {
    let meta = read_meta(node.store().as_ref()).map_err(internal)?;
    let index: Vec<PublicKey> = record(node, &keys::authority_index())?.unwrap_or_default();
    let mut authorities = Vec::new();
    for operator in index {
        if let Some(a) = record::<Authority>(node, &keys::authority(&operator))? {
            authorities.push(a);
        }
    }
    Ok(Json(AuthoritiesView {
        active_set_hash: meta.authority_set.hash(),
        active_set: meta.authority_set,
        authorities,
    }))
}

/// `GET /v1/params`: the chain's parameters in force for the next height, consensus
/// timing included.
#[utoipa::path(
    get,
    path = "/v1/params",
    tag = "governance",
    summary = "The chain's parameters",
    description = "The parameters in force for the next height: stakes, limits, governance periods, consensus timing.",
    responses(
        (status = 200, description = "The parameters", body = Params),
        (status = 500, description = "A fault of this node", body = ErrorBody),
    ),
)]
pub async fn params(State(node): State<NodeHandle>) -> ApiResult<Params> {
    off_workers(&node, |node| {
        let meta = read_meta(node.store().as_ref()).map_err(internal)?;
        Ok(Json(meta.params))
    })
    .await
}

/// `GET /v1/proposals`.
#[utoipa::path(
    get,
    path = "/v1/proposals",
    tag = "governance",
    summary = "Governance proposals",
    description = "Governance proposals, newest first.",
    params(Page),
    responses(
        (status = 200, description = "The proposals", body = ProposalList),
        (status = 400, description = "A bad limit", body = ErrorBody),
        (status = 500, description = "A fault of this node", body = ErrorBody),
    ),
)]
pub async fn proposals(
    State(node): State<NodeHandle>,
    query: Result<Query<Page>, QueryRejection>,
) -> ApiResult<ProposalList> {
    let page = Page::checked(query)?;
    off_workers(&node, move |node| {
        let next: u64 = record(node, &keys::next_proposal())?.unwrap_or(0);
        let mut proposals = Vec::new();
        let first = next.saturating_sub(page.limit() as u64);
        for id in (first..next).rev() {
            if let Some(p) = record::<Proposal>(node, &keys::proposal(id))? {
                proposals.push(p);
            }
        }
        Ok(Json(ProposalList { proposals }))
    })
    .await
}

/// `GET /v1/proposals/{id}`.
#[utoipa::path(
    get,
    path = "/v1/proposals/{id}",
    tag = "governance",
    summary = "A governance proposal",
    description = "A governance proposal: its action, its votes and its outcome.",
    params(("id" = u64, Path, description = "The proposal number", minimum = 0)),
    responses(
        (status = 200, description = "The proposal", body = Proposal),
        (status = 400, description = "Not a number", body = ErrorBody),
        (status = 404, description = "No such proposal", body = ErrorBody),
        (status = 500, description = "A fault of this node", body = ErrorBody),
    ),
)]
pub async fn proposal(
    State(node): State<NodeHandle>,
    Path(text): Path<String>,
) -> ApiResult<Proposal> {
    let id = number("proposal id", &text)?;
    off_workers(&node, move |node| {
        found("proposal", record::<Proposal>(node, &keys::proposal(id))?)
    })
    .await
}

/// `GET /v1/evidence`.
#[utoipa::path(
    get,
    path = "/v1/evidence",
    tag = "governance",
    summary = "Punished offences",
    description = "Offences proven by evidence and punished: equivocation, fake credentials.",
    params(Page),
    responses(
        (status = 200, description = "The offences", body = OffenceList),
        (status = 400, description = "A bad limit", body = ErrorBody),
        (status = 500, description = "A fault of this node", body = ErrorBody),
    ),
)]
pub async fn evidence(
    State(node): State<NodeHandle>,
    query: Result<Query<Page>, QueryRejection>,
) -> ApiResult<OffenceList> {
    let page = Page::checked(query)?;
    off_workers(&node, move |node| evidence_now(node, &page)).await
}

fn evidence_now(node: &NodeHandle, page: &Page) -> ApiResult<OffenceList> {
    let full = keys::offence(&Hash::ZERO);
    let prefix = &full[..full.len() - 32];
    let entries = node
        .store()
        .scan_state(prefix, page.limit())
        .map_err(internal)?;
    let mut offences = Vec::new();
    for (key, value) in entries {
        let offence: Offence = codec::decode(&value)
            .map_err(|e| ApiError::internal(format!("offence record: {e}")))?;
        let id: [u8; 32] = key[prefix.len()..]
            .try_into()
            .map_err(|_| ApiError::internal("malformed offence key"))?;
        offences.push(OffenceView {
            offence: Hash::from_bytes(id),
            kind: offence.kind,
            authority: offence.authority,
            offence_height: offence.offence_height,
            punished_height: offence.punished_height,
            burned: offence.burned,
        });
    }
    Ok(Json(OffenceList { offences }))
}

/// `GET /v1/events`: a `block` event per commit, and a `tx` event per transaction.
#[utoipa::path(
    get,
    path = "/v1/events",
    tag = "blocks",
    summary = "Commits as Server-Sent Events",
    description = "A `text/event-stream` that never ends. For each committed block: one event `block` (data: a `BlockEvent`), then one event `tx` per transaction in block order (data: a `TxEvent`). A client that reads too slowly gets an event `lagged` (data: a `LaggedEvent`) and should catch up with `GET /v1/blocks/{height}`. A comment line is sent every 15 s to keep the connection open.",
    responses(
        (status = 200, description = "The event stream: `event: block|tx|lagged`, `data:` one JSON object (BlockEvent, TxEvent, LaggedEvent)", content_type = "text/event-stream", body = String),
    ),
)]
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
                        let block =
                            SseEvent::default()
                                .event("block")
                                .data(json_line(&BlockEvent {
                                    height: header.height,
                                    hash: c.block.hash(),
                                    time_ms: header.time_ms,
                                    transactions: c.receipts.len() as u64,
                                }));
                        // Popped from the back: block first, then the transactions in order.
                        for r in c.receipts.iter().rev() {
                            queued.push(SseEvent::default().event("tx").data(json_line(
                                &TxEvent {
                                    hash: r.tx_hash,
                                    height: header.height,
                                    events: r.events.clone(),
                                },
                            )));
                        }
                        queued.push(block);
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                        queued.push(
                            SseEvent::default()
                                .event("lagged")
                                .data(json_line(&LaggedEvent { missed_blocks: n })),
                        );
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
                }
            }
        },
    );
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}

/// An event's data: one line of JSON.
fn json_line<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

/// `GET /health/live`.
#[utoipa::path(
    get,
    path = "/health/live",
    tag = "node",
    summary = "Liveness",
    description = "200 while the process serves.",
    responses((status = 200, description = "Alive", body = Liveness)),
)]
pub async fn live() -> Json<Liveness> {
    Json(Liveness { live: true })
}

/// `GET /health/ready`: 200 when synced (not catching up, consensus running) and, on
/// a network of more than one authority, peered; 503 otherwise.
#[utoipa::path(
    get,
    path = "/health/ready",
    tag = "node",
    summary = "Readiness",
    description = "200 when synced, peered and (for a validator) holding the consensus key the chain names; 503 with the reasons otherwise.",
    responses(
        (status = 200, description = "Ready", body = Readiness),
        (status = 503, description = "Not ready: the reasons say why and what to do", body = Readiness),
    ),
)]
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
        Json(Readiness {
            ready: reasons.is_empty(),
            reasons,
            height: status.height,
            peers: status.peers,
        }),
    )
        .into_response()
}

/// The content type of `GET /metrics`.
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// `GET /metrics`.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "node",
    summary = "Prometheus metrics",
    description = "The node's metrics in the OpenMetrics text format.",
    responses(
        (status = 200, description = "The metrics", content_type = "application/openmetrics-text", body = String),
    ),
)]
pub async fn metrics(State(node): State<NodeHandle>) -> Response {
    (
        [(header::CONTENT_TYPE, OPENMETRICS)],
        node.metrics().render(),
    )
        .into_response()
}

/// `GET /openapi.json`.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "node",
    summary = "This document",
    description = "The OpenAPI document of this API.",
    responses((status = 200, description = "The document", body = Object)),
)]
pub async fn openapi() -> Json<Value> {
    Json(super::openapi_document())
}

/// `GET /admin/peers`.
pub async fn peers(State(node): State<NodeHandle>) -> ApiResult<Peers> {
    let peers = node.network().peers().await.map_err(internal)?;
    let listen = node.network().listen_addrs().await.unwrap_or_default();
    Ok(Json(Peers {
        peer_id: node.network().peer_id().to_string(),
        listen: listen.iter().map(ToString::to_string).collect(),
        peers: peers.iter().map(ToString::to_string).collect(),
    }))
}

/// Any other route.
pub async fn unknown_route(uri: Uri) -> ApiError {
    ApiError::not_found(format!("no route {}", uri.path()))
}

#[cfg(test)]
mod submission_tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use mpms_crypto::SigningKey;
    use mpms_ledger::{Payload, Transaction};

    fn transfer() -> SignedTransaction {
        let key = SigningKey::from_seed(&[3; 32]);
        Transaction {
            chain_id: "mpms-test".into(),
            sender: key.public_key(),
            nonce: 0,
            payload: Payload::Transfer {
                to: key.public_key(),
                amount: 1,
            },
        }
        .sign(&key)
    }

    #[test]
    fn a_batch_is_one_to_a_thousand_transactions() {
        let json = |n: usize| serde_json::to_vec(&vec![transfer(); n]).unwrap();
        let bytes = |n: usize| codec::encode(&vec![transfer(); n]);
        for n in [1, MAX_BATCH] {
            assert!(matches!(
                parse_submission("application/json", &json(n)),
                Ok(Submission::Many(txs)) if txs.len() == n
            ));
            assert!(matches!(
                parse_submission(BATCH_BYTES, &bytes(n)),
                Ok(Submission::Many(txs)) if txs.len() == n
            ));
        }
        for (content_type, body) in [
            ("application/json", json(0)),
            ("application/json", json(MAX_BATCH + 1)),
            (BATCH_BYTES, bytes(0)),
            (BATCH_BYTES, bytes(MAX_BATCH + 1)),
        ] {
            let Err(e) = parse_submission(content_type, &body) else {
                panic!("accepted");
            };
            assert_eq!(e.status, StatusCode::BAD_REQUEST, "{}", e.message);
        }
        // One transaction, by its first character; whitespace before a list is fine.
        let one = serde_json::to_vec(&transfer()).unwrap();
        assert!(matches!(
            parse_submission("application/json", &one),
            Ok(Submission::One(_))
        ));
        let mut spaced = b" \n".to_vec();
        spaced.extend(json(2));
        assert!(matches!(
            parse_submission("application/json", &spaced),
            Ok(Submission::Many(txs)) if txs.len() == 2
        ));
    }
}
