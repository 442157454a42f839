//! Failed admin-token attempts are throttled per client (source address; IPv6: its /64), so
//! the admin token cannot be guessed at the speed of the API port.
//!
//! A client may present a wrong token [`BURST`] times; then one more attempt per [`REFILL`].
//! Once it has none left, a wrong token from that client is answered `429 TOO_MANY_ATTEMPTS`
//! with `Retry-After` until its next attempt is due. The right token always passes: behind a
//! load balancer every client shares one address, and refusing the right token there would
//! let anyone lock the operator out with ten wrong ones. Guessing is defeated by the token's
//! length (at least 43 characters: 32 random bytes), not by this throttle, which keeps
//! guesses slow and visible. A request without an `Authorization` header is no attempt (it
//! cannot guess anything) and is not counted.
//!
//! The table keeps at most [`MAX_CLIENTS`] clients; beyond that, clients not in it share one
//! bucket, so spreading guesses over many addresses gains nothing past that point.

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Wrong tokens a client may present before it is slowed down.
pub const BURST: u32 = 10;
/// Then, one more attempt per this long (six a minute).
pub const REFILL: Duration = Duration::from_secs(10);
/// Clients tracked one by one.
pub const MAX_CLIENTS: usize = 10_000;
/// The bucket clients beyond [`MAX_CLIENTS`] share.
const OVERFLOW: IpAddr = IpAddr::V6(Ipv6Addr::UNSPECIFIED);

#[derive(Debug, Default)]
pub struct AdminThrottle {
    clients: Mutex<HashMap<IpAddr, Bucket>>,
}

/// Attempts left (fractional while refilling) as of `at`.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    left: f64,
    at: Instant,
}

impl Bucket {
    fn at(self, now: Instant) -> Self {
        let refilled = now.saturating_duration_since(self.at).as_secs_f64() / REFILL.as_secs_f64();
        Self {
            left: (self.left + refilled).min(BURST as f64),
            at: now,
        }
    }
}

impl AdminThrottle {
    /// How long `client` must wait before its next admin request, or `None` when it may try.
    pub fn wait(&self, client: IpAddr, now: Instant) -> Option<Duration> {
        let clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        let key = Self::key(&clients, hookline_telemetry::client_key(client));
        let b = clients.get(&key)?.at(now);
        (b.left < 1.0).then(|| REFILL.mul_f64(1.0 - b.left))
    }

    /// `client` presented a wrong token at `now`.
    pub fn failed(&self, client: IpAddr, now: Instant) {
        let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        let client = hookline_telemetry::client_key(client);
        if !clients.contains_key(&client) && clients.len() >= MAX_CLIENTS {
            // Forget the clients whose attempts have all come back.
            clients.retain(|_, b| b.at(now).left < BURST as f64);
        }
        let key = Self::key(&clients, client);
        let b = clients.entry(key).or_insert(Bucket {
            left: BURST as f64,
            at: now,
        });
        *b = b.at(now);
        b.left = (b.left - 1.0).max(0.0);
    }

    /// The bucket `client` counts against.
    fn key(clients: &HashMap<IpAddr, Bucket>, client: IpAddr) -> IpAddr {
        if clients.contains_key(&client) || clients.len() < MAX_CLIENTS {
            client
        } else {
            OVERFLOW
        }
    }
}

/// The middleware of every `/admin/` route: refuses a throttled client, counts a `401`
/// answered to a request that presented a token.
pub async fn guard(State(throttle): State<Arc<AdminThrottle>>, req: Request, next: Next) -> Response {
    // Segment by segment: a string literal that looks like a route would count as one for the
    // OpenAPI check (tests/tests/openapi.rs).
    if req.uri().path().split('/').nth(1) != Some("admin") {
        return next.run(req).await;
    }
    // The shared HTTP server gives every request its peer; without one (a router driven
    // directly, in unit tests) there is no client to throttle.
    let Some(client) = req.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip()) else {
        return next.run(req).await;
    };
    let throttled = throttle.wait(client, Instant::now());
    let attempted = req.headers().contains_key(header::AUTHORIZATION);
    // Admin handlers check the token before anything else, so a wrong one changes nothing.
    let response = next.run(req).await;
    if attempted && response.status() == StatusCode::UNAUTHORIZED {
        throttle.failed(client, Instant::now());
        if let Some(wait) = throttled {
            return too_many(wait);
        }
    }
    response
}

fn too_many(wait: Duration) -> Response {
    let secs = wait.as_secs_f64().ceil().max(1.0) as u64;
    let mut r = crate::error::ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "TOO_MANY_ATTEMPTS",
        format!("too many wrong admin tokens from this address; retry in {secs} s"),
    )
    .into_response();
    r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ten_wrong_tokens_then_one_per_refill_per_client() {
        let t = AdminThrottle::default();
        let a: IpAddr = "203.0.113.7".parse().unwrap();
        let t0 = Instant::now();
        for _ in 0..BURST {
            assert_eq!(t.wait(a, t0), None);
            t.failed(a, t0);
        }
        assert_eq!(t.wait(a, t0), Some(REFILL));
        assert_eq!(t.wait(a, t0 + REFILL / 2), Some(REFILL / 2));
        // Another address, and another /64, are not affected; the same /64 is.
        assert_eq!(t.wait("203.0.113.8".parse().unwrap(), t0), None);
        let v6: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        for _ in 0..BURST {
            t.failed(v6, t0);
        }
        assert!(t.wait("2001:db8:1:2:ffff::9".parse().unwrap(), t0).is_some());
        assert_eq!(t.wait("2001:db8:1:3::1".parse().unwrap(), t0), None);
        // One attempt back per refill.
        let later = t0 + REFILL;
        assert_eq!(t.wait(a, later), None);
        t.failed(a, later);
        assert_eq!(t.wait(a, later), Some(REFILL));
    }

    #[test]
    fn clients_beyond_the_table_share_one_bucket() {
        let t = AdminThrottle::default();
        let now = Instant::now();
        for i in 0..MAX_CLIENTS as u32 {
            t.failed(IpAddr::V4(i.into()), now);
        }
        let (x, y): (IpAddr, IpAddr) = ("198.51.100.1".parse().unwrap(), "198.51.100.2".parse().unwrap());
        for _ in 0..BURST / 2 {
            t.failed(x, now);
            t.failed(y, now);
        }
        assert!(t.wait(x, now).is_some() && t.wait(y, now).is_some());
        assert_eq!(
            t.wait(IpAddr::V4(1.into()), now),
            None,
            "a tracked client keeps its own"
        );
    }
}
