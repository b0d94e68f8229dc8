//! Per-client budget of transaction submissions: a token bucket per client address.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;

/// Client addresses remembered; beyond it, those with a full bucket are forgotten.
const MAX_CLIENTS: usize = 65_536;

/// Submissions each client address may make: `per_sec` a second, bursts of twice as
/// many. Zero means no limit.
#[derive(Clone)]
pub struct SubmitLimiter {
    per_sec: f64,
    clients: Arc<Mutex<HashMap<IpAddr, (f64, Instant)>>>,
}

impl SubmitLimiter {
    /// A limiter of `per_sec` submissions a second per client address.
    pub fn new(per_sec: u32) -> SubmitLimiter {
        SubmitLimiter {
            per_sec: f64::from(per_sec),
            clients: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// Takes one submission of `client` at `now`; false if over its budget.
    pub fn take(&self, client: IpAddr, now: Instant) -> bool {
        if self.per_sec <= 0.0 {
            return true;
        }
        let burst = 2.0 * self.per_sec;
        let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        if clients.len() >= MAX_CLIENTS && !clients.contains_key(&client) {
            let per_sec = self.per_sec;
            clients.retain(|_, (tokens, at)| {
                *tokens + now.saturating_duration_since(*at).as_secs_f64() * per_sec < burst
            });
        }
        let (tokens, at) = clients.entry(client).or_insert((burst, now));
        *tokens =
            (*tokens + now.saturating_duration_since(*at).as_secs_f64() * self.per_sec).min(burst);
        *at = now;
        if *tokens < 1.0 {
            return false;
        }
        *tokens -= 1.0;
        true
    }
}

/// Refuses a submission over the client's budget with 429 and `Retry-After`.
pub async fn limit_submissions(
    State(limiter): State<SubmitLimiter>,
    request: Request,
    next: Next,
) -> Response {
    let client = request
        .extensions()
        .get::<ConnectInfo<super::tls::ClientAddr>>()
        .map(|ConnectInfo(client)| client.0.ip());
    if let Some(client) = client {
        if !limiter.take(client, Instant::now()) {
            return (
                StatusCode::TOO_MANY_REQUESTS,
                [(header::RETRY_AFTER, "1")],
                Json(serde_json::json!({
                    "error": "too many submissions from this address: slow down (api.max_submissions_per_sec)"
                })),
            )
                .into_response();
        }
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_client_gets_its_rate_and_burst_and_no_more() {
        let limiter = SubmitLimiter::new(10);
        let (a, b) = (IpAddr::from([127, 0, 0, 1]), IpAddr::from([10, 0, 0, 1]));
        let start = Instant::now();
        let allowed = (0..100).filter(|_| limiter.take(a, start)).count();
        assert_eq!(allowed, 20, "a burst of twice the rate");
        assert!(limiter.take(b, start), "another client has its own budget");
        assert!(limiter.take(a, start + Duration::from_millis(100)));
        assert!(!limiter.take(a, start + Duration::from_millis(100)));
        let unlimited = SubmitLimiter::new(0);
        assert!((0..10_000).all(|_| unlimited.take(a, start)));
    }
}
