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
        self.take_many(client, now, 1)
    }

    /// Takes `count` submissions of `client` at `now`, all or none; false if over
    /// its budget (a count above the burst, twice the rate, is always over it).
    pub fn take_many(&self, client: IpAddr, now: Instant, count: usize) -> bool {
        if self.per_sec <= 0.0 || count == 0 {
            return true;
        }
        let count = count as f64;
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
        if *tokens < count {
            return false;
        }
        *tokens -= count;
        true
    }
}

/// What a submission's client may still be charged: the limiter puts it in the
/// request, so that a batch pays for each transaction it carries.
#[derive(Clone)]
pub struct Charge {
    limiter: SubmitLimiter,
    client: IpAddr,
}

impl Charge {
    /// Takes `count` more submissions, all or none; false if over the budget.
    pub fn take(&self, count: usize) -> bool {
        self.limiter.take_many(self.client, Instant::now(), count)
    }

    /// The 429 answer to a batch that [`Charge::take`] refused `count` more for.
    pub fn refusal(&self, count: usize) -> Response {
        let burst = 2.0 * self.limiter.per_sec;
        too_many(if count as f64 + 1.0 > burst {
            format!(
                "a batch of {} transactions is more than this address may submit at once ({burst}, twice api.max_submissions_per_sec): send smaller batches",
                count + 1
            )
        } else {
            "too many submissions from this address: slow down (api.max_submissions_per_sec)"
                .to_string()
        })
    }
}

fn too_many(message: String) -> Response {
    (
        StatusCode::TOO_MANY_REQUESTS,
        [(header::RETRY_AFTER, "1")],
        Json(serde_json::json!({ "error": message })),
    )
        .into_response()
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
    let mut request = request;
    if let Some(client) = client {
        if !limiter.take(client, Instant::now()) {
            return too_many(
                "too many submissions from this address: slow down (api.max_submissions_per_sec)"
                    .to_string(),
            );
        }
        request.extensions_mut().insert(Charge { limiter, client });
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
