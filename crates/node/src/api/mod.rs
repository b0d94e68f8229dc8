//! The HTTP API (axum).
//!
//! Public routes (the `api.listen` address):
//!
//! | route | what |
//! |---|---|
//! | `POST /v1/transactions` | submit a transaction: canonical bytes (`application/octet-stream`) or JSON |
//! | `GET /v1/transactions/{hash}` | pending, committed (height, index, events) or unknown |
//! | `GET /v1/status` | chain and node status |
//! | `GET /v1/blocks/latest`, `GET /v1/blocks/{height}` | a block with its certificate |
//! | `GET /v1/accounts/{id}` | an account (nonce, balances) and the next nonce counting pending transactions |
//! | `GET /v1/subjects/{id}` | a registered subject |
//! | `GET /v1/subjects/{id}/credentials` | the subject's credentials |
//! | `GET /v1/subjects/{id}/audit` | requests, grants, revocations, expiries and inspections concerning them |
//! | `GET /v1/credentials/{id}` | a credential record |
//! | `GET /v1/credentials/{id}/proof` | inclusion proof: header, Merkle proof, commit certificate, authority-set changes |
//! | `GET /v1/credentials/{id}/bundle` | the proof bundle, checkable offline (`mpmsd verify`) |
//! | `GET /v1/credentials/{id}/status-proof` | the status as of the last block, proven |
//! | `GET /v1/state/proof` | a proof of one state key's value or absence at a height |
//! | `GET /v1/grants/{id}` | an access grant |
//! | `GET /v1/grant-sets/{id}` | a set grant and its entries' grants |
//! | `GET /v1/certifiers/{id}/delegations/{practitioner}` | a practitioner's delegation, its terms by height |
//! | `GET /v1/schemas`, `GET /v1/schemas/{id}` | credential schemas |
//! | `GET /v1/certifiers/{id}`, `GET /v1/organizations/{id}` | registered parties |
//! | `GET /v1/authorities` | the authority set and every authority's record |
//! | `GET /v1/params` | the chain's parameters in force, consensus timing included |
//! | `GET /v1/proposals`, `GET /v1/proposals/{id}` | governance proposals |
//! | `GET /v1/evidence` | punished offences |
//! | `GET /v1/events` | Server-Sent Events: `block` and `tx` on every commit |
//! | `GET /health/live`, `GET /health/ready` | liveness; readiness (synced and peered) |
//! | `GET /metrics` | Prometheus |
//! | `GET /openapi.json` | the OpenAPI document |
//!
//! Admin routes (the `api.admin_listen` address, loopback only): `GET /admin/peers`.
//!
//! Errors are JSON `{"error": "..."}` with a 4xx status for bad input; bodies larger
//! than `api.max_body_bytes` are refused with 413; a client address submitting more
//! than `api.max_submissions_per_sec` transactions a second gets 429.

mod limit;
mod openapi;
mod reader;
mod routes;
pub mod tls;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};

use tokio_rustls::rustls;

use crate::runtime::NodeHandle;

pub use openapi::{openapi_document, openapi_text};

/// An API error: a status and a reason.
#[derive(Debug)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// Why.
    pub message: String,
}

impl ApiError {
    /// 400 Bad Request.
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
        }
    }

    /// 401 Unauthorized: a read that must be signed was not, or its signature does
    /// not check out.
    pub fn unauthorized(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::UNAUTHORIZED,
            message: message.into(),
        }
    }

    /// 403 Forbidden: a signed read by someone who may not read this.
    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::FORBIDDEN,
            message: message.into(),
        }
    }

    /// 404 Not Found.
    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::NOT_FOUND,
            message: message.into(),
        }
    }

    /// 500 Internal Server Error (storage failures).
    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: message.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let unauthorized = self.status == StatusCode::UNAUTHORIZED;
        let mut response = (
            self.status,
            Json(serde_json::json!({ "error": self.message })),
        )
            .into_response();
        if unauthorized {
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static(mpms_api::read_auth::READ_SCHEME),
            );
        }
        response
    }
}

/// The scheme the API is served with (`http` or `https`): the addresses it names
/// (a status list's own) use it.
#[derive(Debug, Clone, Copy)]
pub struct Scheme(pub &'static str);

/// The public router; `tls` says whether it is served over TLS.
pub fn router(
    node: NodeHandle,
    max_body_bytes: usize,
    max_submissions_per_sec: u32,
    tls: bool,
) -> Router {
    let limiter = limit::SubmitLimiter::new(max_submissions_per_sec);
    Router::new()
        .route(
            "/v1/transactions",
            post(routes::submit).layer(axum::middleware::from_fn_with_state(
                limiter,
                limit::limit_submissions,
            )),
        )
        .route("/v1/transactions/{hash}", get(routes::transaction))
        .route("/v1/status", get(routes::status))
        .route("/v1/blocks/latest", get(routes::latest_block))
        .route("/v1/blocks/{height}", get(routes::block))
        .route("/v1/accounts/{id}", get(routes::account))
        .route("/v1/subjects/{id}", get(routes::subject))
        .route(
            "/v1/subjects/{id}/credentials",
            get(routes::subject_credentials),
        )
        .route("/v1/subjects/{id}/audit", get(routes::subject_audit))
        .route("/v1/issuances", get(routes::issuances))
        .route("/v1/credentials/{id}", get(routes::credential))
        .route("/v1/credentials/{id}/proof", get(routes::credential_proof))
        .route(
            "/v1/credentials/{id}/bundle",
            get(routes::credential_bundle),
        )
        .route(
            "/v1/credentials/{id}/status-proof",
            get(routes::credential_status_proof),
        )
        .route("/v1/state/proof", get(routes::state_proof))
        .route("/v1/grants/{id}", get(routes::grant))
        .route("/v1/grant-sets/{id}", get(routes::grant_set))
        .route(
            "/v1/certifiers/{id}/delegations/{practitioner}",
            get(routes::delegation),
        )
        .route("/v1/requests/{id}", get(routes::request))
        .route("/v1/schemas", get(routes::schemas))
        .route("/v1/schemas/{id}", get(routes::schema))
        .route("/v1/certifiers/{id}", get(routes::certifier))
        .route(
            "/v1/certifiers/{id}/status-lists",
            get(routes::certifier_status_lists),
        )
        .route(
            "/v1/status-lists/{certifier}/{list}",
            get(routes::status_list),
        )
        .route("/v1/organizations/{id}", get(routes::organization))
        .route("/v1/authorities", get(routes::authorities))
        .route("/v1/params", get(routes::params))
        .route("/v1/proposals", get(routes::proposals))
        .route("/v1/proposals/{id}", get(routes::proposal))
        .route("/v1/evidence", get(routes::evidence))
        .route("/v1/events", get(routes::events))
        .route("/health/live", get(routes::live))
        .route("/health/ready", get(routes::ready))
        .route("/metrics", get(routes::metrics))
        .route("/openapi.json", get(routes::openapi))
        .fallback(routes::unknown_route)
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .layer(axum::Extension(Scheme(if tls { "https" } else { "http" })))
        .with_state(node)
}

/// The admin router (loopback only).
pub fn admin_router(node: NodeHandle) -> Router {
    Router::new()
        .route("/admin/peers", get(routes::peers))
        .fallback(routes::unknown_route)
        .with_state(node)
}

/// Serves `router` on `addr` until `shutdown` resolves, over TLS with `tls` if
/// given. Returns the bound address once listening, and the server's task.
pub async fn serve(
    addr: SocketAddr,
    router: Router,
    tls: Option<Arc<rustls::ServerConfig>>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<std::io::Result<()>>)> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let app = router.into_make_service_with_connect_info::<tls::ClientAddr>();
    let task = match tls {
        None => tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(shutdown)
                .await
        }),
        Some(config) => {
            let listener = tls::TlsListener::new(listener, config)?;
            tokio::spawn(async move {
                axum::serve(listener, app)
                    .with_graceful_shutdown(shutdown)
                    .await
            })
        }
    };
    Ok((bound, task))
}
