//! A webhook receiver: a real HTTP server on 127.0.0.1 that records every request and answers
//! with a configurable status.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU16, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One request as the receiver saw it.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub at: Instant,
    /// Wall-clock time of arrival, Unix milliseconds (to compare with times Hookline wrote).
    pub wall_ms: i64,
    /// The status the receiver answered (set once it has decided).
    pub status: u16,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("JSON body")
    }
}

#[derive(Clone, Default)]
struct Shared {
    seen: Arc<Mutex<Vec<Received>>>,
    status: Arc<AtomicU16>,
    /// Requests still to be failed with `fail_status` before answering `status`.
    fail_remaining: Arc<AtomicUsize>,
    fail_status: Arc<AtomicU16>,
    /// Milliseconds to wait before answering.
    delay_ms: Arc<AtomicU64>,
    /// Microseconds added to the wait per request in flight (see
    /// [`Receiver::delay_growing_with_load`]).
    delay_per_request_us: Arc<AtomicU64>,
    /// Requests being answered now, and the most there have been at once.
    in_flight: Arc<AtomicUsize>,
    max_in_flight: Arc<AtomicUsize>,
    /// Extra response headers.
    headers: Arc<Mutex<Vec<(String, String)>>>,
    /// Fail every n-th first attempt (`X-Webhook-Attempt: 1`) with `fail_status` (0: off).
    fail_nth_first: Arc<AtomicUsize>,
    first_attempts: Arc<AtomicUsize>,
    /// Requests per second this receiver accepts (0: no limit); see [`Receiver::limit_per_sec`].
    limit_per_sec: Arc<AtomicUsize>,
    /// When the requests it accepted within the last second arrived.
    accepted: Arc<Mutex<std::collections::VecDeque<Instant>>>,
    /// A status for the requests a rule picks; see [`Receiver::fail_when`].
    fail_when: Arc<Mutex<Option<FailWhen>>>,
}

/// Picks a request (given the ones before it, each with the status it got) to fail.
type FailRule = dyn Fn(&Received, &[Received]) -> bool + Send + Sync;

/// The status and the rule of [`Receiver::fail_when`].
type FailWhen = (u16, Arc<FailRule>);

pub struct Receiver {
    pub addr: SocketAddr,
    shared: Shared,
}

impl Receiver {
    /// Starts a receiver answering 200.
    pub async fn start() -> Self {
        let shared = Shared {
            status: Arc::new(AtomicU16::new(200)),
            ..Default::default()
        };
        let app = Router::new().fallback(record).with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind receiver");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { addr, shared }
    }

    /// Two receivers: one answering 200, one answering 500 to everything.
    pub async fn ok_and_failing() -> (Self, Self) {
        let (ok, failing) = (Self::start().await, Self::start().await);
        failing.respond_with(500);
        (ok, failing)
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The status every following request is answered with.
    pub fn respond_with(&self, status: u16) {
        self.shared.status.store(status, Ordering::SeqCst);
    }

    /// Answers the next `n` requests with `status`, then the normal status again.
    pub fn fail_next(&self, n: usize, status: u16) {
        self.shared.fail_status.store(status, Ordering::SeqCst);
        self.shared.fail_remaining.store(n, Ordering::SeqCst);
    }

    /// Answers every `n`-th first attempt (`X-Webhook-Attempt: 1`) with `status`, so that
    /// retries are spread over a run and a retry is never failed.
    pub fn fail_every_nth_first_attempt(&self, n: usize, status: u16) {
        self.shared.fail_status.store(status, Ordering::SeqCst);
        self.shared.fail_nth_first.store(n, Ordering::SeqCst);
    }

    /// Answers `status` to every request `rule` picks, given the requests that came before it
    /// (each with the status it was answered, 0 while still unanswered): to fail one event
    /// until others have arrived, whatever the timing.
    pub fn fail_when(&self, status: u16, rule: impl Fn(&Received, &[Received]) -> bool + Send + Sync + 'static) {
        *self.shared.fail_when.lock().unwrap() = Some((status, Arc::new(rule)));
    }

    /// Accepts at most `n` requests in any one second: a request arriving when `n` were
    /// accepted in the second before it is answered 429 (no `Retry-After`), like a receiver
    /// with a sliding-window rate limit. 0 removes the limit.
    pub fn limit_per_sec(&self, n: usize) {
        self.shared.limit_per_sec.store(n, Ordering::SeqCst);
    }

    /// Waits this long before answering each request.
    pub fn delay(&self, d: Duration) {
        self.shared.delay_ms.store(d.as_millis() as u64, Ordering::SeqCst);
    }

    /// Waits `base` plus `per_request` for every request in flight (this one included) before
    /// answering: a receiver that slows down as it gets busy.
    pub fn delay_growing_with_load(&self, base: Duration, per_request: Duration) {
        self.shared
            .delay_per_request_us
            .store(per_request.as_micros() as u64, Ordering::SeqCst);
        self.delay(base);
    }

    /// The most requests this receiver has been answering at once.
    pub fn max_in_flight(&self) -> usize {
        self.shared.max_in_flight.load(Ordering::SeqCst)
    }

    /// Forgets the most requests in flight so far (to measure a later phase).
    pub fn reset_max_in_flight(&self) {
        self.shared.max_in_flight.store(0, Ordering::SeqCst);
    }

    /// Adds a header to every response.
    pub fn add_header(&self, name: &str, value: &str) {
        self.shared
            .headers
            .lock()
            .unwrap()
            .push((name.to_string(), value.to_string()));
    }

    pub fn requests(&self) -> Vec<Received> {
        self.shared.seen.lock().unwrap().clone()
    }

    /// Waits until at least `n` requests matched `pred`; returns those (fewer when `timeout`
    /// passed first: use [`expect_n`](Self::expect_n) when `n` must arrive).
    pub async fn wait_for(&self, n: usize, timeout: Duration, pred: impl Fn(&Received) -> bool) -> Vec<Received> {
        let deadline = Instant::now() + timeout;
        loop {
            let got: Vec<Received> = self.requests().into_iter().filter(|r| pred(r)).collect();
            if got.len() >= n || Instant::now() >= deadline {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until at least `n` requests matched `pred` and returns those; panics naming `what`
    /// (and how many of all requests arrived) when `timeout` passes first.
    #[track_caller]
    pub fn expect_n<'a>(
        &'a self,
        n: usize,
        timeout: Duration,
        pred: impl Fn(&Received) -> bool + 'a,
        what: &'a str,
    ) -> impl std::future::Future<Output = Vec<Received>> + 'a {
        let caller = std::panic::Location::caller();
        async move {
            let got = self.wait_for(n, timeout, pred).await;
            assert!(
                got.len() >= n,
                "{caller}: {what}: {} of {n} arrived within {timeout:?} ({} requests in all at {})",
                got.len(),
                self.requests().len(),
                self.addr
            );
            got
        }
    }
}

async fn record(State(s): State<Shared>, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let first_attempt = headers.get("x-webhook-attempt").and_then(|v| v.to_str().ok()) == Some("1");
    let headers = headers
        .iter()
        .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or_default().to_string()))
        .collect();
    let at = Instant::now();
    let over_limit = over_limit(&s, at);
    let rule = s.fail_when.lock().unwrap().clone();
    let (index, ruled) = {
        let mut seen = s.seen.lock().unwrap();
        seen.push(Received {
            method: method.to_string(),
            path: uri.path().to_string(),
            headers,
            body: body.to_vec(),
            at,
            wall_ms: chrono::Utc::now().timestamp_millis(),
            status: 0,
        });
        let index = seen.len() - 1;
        let ruled = rule.and_then(|(status, rule)| rule(&seen[index], &seen[..index]).then_some(status));
        (index, ruled)
    };
    let in_flight = InFlight::enter(&s);
    let delay = Duration::from_millis(s.delay_ms.load(Ordering::SeqCst))
        + Duration::from_micros(s.delay_per_request_us.load(Ordering::SeqCst) * in_flight.0 as u64);
    if !delay.is_zero() {
        // A slow receiver, when a test asks for one (`Receiver::delay`).
        tokio::time::sleep(delay).await;
    }
    drop(in_flight);
    let nth = s.fail_nth_first.load(Ordering::SeqCst);
    let failing = s
        .fail_remaining
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
        || (nth > 0 && first_attempt && (s.first_attempts.fetch_add(1, Ordering::SeqCst) + 1) % nth == 0);
    let status = if over_limit {
        429
    } else if let Some(status) = ruled {
        status
    } else if failing {
        s.fail_status.load(Ordering::SeqCst)
    } else {
        s.status.load(Ordering::SeqCst)
    };
    s.seen.lock().unwrap()[index].status = status;
    let mut resp = StatusCode::from_u16(status).unwrap_or(StatusCode::OK).into_response();
    for (k, v) in s.headers.lock().unwrap().iter() {
        if let (Ok(k), Ok(v)) = (HeaderName::try_from(k.as_str()), HeaderValue::try_from(v.as_str())) {
            resp.headers_mut().insert(k, v);
        }
    }
    resp
}

/// Counts a request in flight (how many were, itself included) until dropped.
struct InFlight(usize, Arc<AtomicUsize>);

impl InFlight {
    fn enter(s: &Shared) -> Self {
        let n = s.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        s.max_in_flight.fetch_max(n, Ordering::SeqCst);
        Self(n, s.in_flight.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.1.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Whether a request arriving `at` is over the receiver's limit per second; counts it as
/// accepted when it is not.
fn over_limit(s: &Shared, at: Instant) -> bool {
    let limit = s.limit_per_sec.load(Ordering::SeqCst);
    if limit == 0 {
        return false;
    }
    let mut accepted = s.accepted.lock().unwrap();
    while accepted
        .front()
        .is_some_and(|t| at.duration_since(*t) >= Duration::from_secs(1))
    {
        accepted.pop_front();
    }
    if accepted.len() >= limit {
        return true;
    }
    accepted.push_back(at);
    false
}
