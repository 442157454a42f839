//! The one HTTP server every Hookline HTTP port runs on (the API, ingest's HTTP edge, the
//! admin port): an accept loop over hyper's HTTP/1 connection driver with the limits a server
//! facing the internet needs, which `axum::serve` does not apply (it runs hyper without a
//! timer, so a client that sends half a header, or nothing, keeps its connection, and its file
//! descriptor, for as long as it likes; 20,000 such connections once exhausted the process's
//! descriptors and took the API and ingest down).
//!
//! Per connection, a watchdog closes it when it is
//! - **reading a request head** for longer than `header_read_timeout`: from accept until the
//!   first request head is complete, and from the first byte of each later request. A
//!   slow-loris client trickling a header byte at a time is cut off at the deadline.
//! - **idle** between requests (keep-alive, no byte read or written, no request running) for
//!   longer than `idle_timeout`.
//!
//! hyper's own `header_read_timeout` is left off on purpose: hyper (1.12) restarts that timer
//! as soon as a keep-alive connection goes idle, so it would close every idle connection at
//! the header deadline and the idle timeout could never be longer than it.
//!
//! Per request: the handler (which reads the body) gets `request_timeout`, then the client
//! gets `408`; bodies are limited to `max_body_bytes` (axum's `DefaultBodyLimit`, and a
//! `Content-Length` above it is refused before a byte of body is read), answered `413`. Both
//! are rendered in the server's own error shape ([`ErrorShape`]: each API dialect has one)
//! and close the connection, so an unread body is never drained.
//!
//! At most `max_connections` connections are open at once, and at most
//! `max_connections_per_client` of one client (source address, IPv6 /64). A new connection
//! over either cap first **evicts** a connection that is doing nothing (idle between requests
//! longest, else reading a head longest; see [`pool`]), counted in
//! `hookline_http_connections_evicted_total{server,state}`, so clients that connect and idle
//! cannot keep a newcomer out. Only when no connection of the cap can go is the newcomer
//! **accepted and closed at once** (with a one-line `503` written if the socket takes it)
//! rather than left in the kernel's accept queue: the client learns immediately that this
//! replica is full (a load balancer retries another) instead of hanging on a handshake that
//! looks complete, the descriptor is released at once, and the refusal is counted in
//! `hookline_http_connections_rejected_total{server,reason}`. Set the process's `nofile` limit
//! above the sum of the caps of the servers it runs, or `accept` itself fails (logged,
//! retried).
//!
//! Each request carries its peer's address as axum's `ConnectInfo<SocketAddr>`.

mod conn;
mod pool;

pub use pool::client_key;

use axum::extract::ConnectInfo;
use axum::extract::DefaultBodyLimit;
use axum::http::{header, HeaderValue, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use conn::{watchdog, ConnState, Expired, Watched};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use prometheus::{IntCounterVec, IntGaugeVec, Registry};
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

/// The limits of every HTTP server of a process (`HOOKLINE_HTTP_*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpLimits {
    /// How long a client may take to send a complete request head.
    pub header_read_timeout: Duration,
    /// How long a request may take, body included, before the client gets `408`.
    pub request_timeout: Duration,
    /// How long a keep-alive connection may sit idle between requests.
    pub idle_timeout: Duration,
    /// Connections open at once, per server.
    pub max_connections: usize,
    /// Connections one client (source address; IPv6: its /64) may have open at once, per
    /// server; 0 for no such cap (every client behind one proxy address).
    pub max_connections_per_client: usize,
    /// Largest request body; larger ones get `413`.
    pub max_body_bytes: usize,
}

impl Default for HttpLimits {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(60),
            max_connections: 4096,
            max_connections_per_client: 4096 / PER_CLIENT_SHARE,
            max_body_bytes: 1024 * 1024,
        }
    }
}

/// The default per-client cap is this fraction of `max_connections` (an eighth: 512 of
/// 4,096), so at least this many clients must each fill their share to fill a server, and an
/// honest client behind a NAT still has hundreds.
pub const PER_CLIENT_SHARE: usize = 8;

/// Renders an error the server itself answers (`413`, `408`) in the shape of the API it
/// serves: `(path, status, error code, description)`. Each dialect has its own envelope, and
/// a client parses its errors by it.
pub type ErrorShape = fn(&str, StatusCode, &'static str, &str) -> Response;

/// `{"error_code": ..., "description": ...}`: the shape of the 23 Telecom and named-
/// subscription APIs, ingest and the admin port.
pub fn error_code_shape(_path: &str, status: StatusCode, code: &'static str, description: &str) -> Response {
    (
        status,
        axum::Json(serde_json::json!({"error_code": code, "description": description})),
    )
        .into_response()
}

/// Connection metrics of every server of a process, labelled by server (`api`, `ingest`,
/// `admin`). Registered once per process runtime and shared by its services, so the admin
/// port (which gathers all registries) shows each name once.
#[derive(Clone)]
pub struct HttpMetrics {
    open: IntGaugeVec,
    rejected: IntCounterVec,
    evicted: IntCounterVec,
    timeouts: IntCounterVec,
}

impl HttpMetrics {
    pub fn new(registry: &Registry) -> Self {
        Self {
            open: crate::int_gauge_vec(
                registry,
                "hookline_http_connections_open",
                "HTTP connections open, by server.",
                &["server"],
            ),
            rejected: crate::counter_vec(
                registry,
                "hookline_http_connections_rejected_total",
                "HTTP connections closed at accept because the server (reason full) or the client (reason per_client) had its cap of connections open, none of them evictable.",
                &["server", "reason"],
            ),
            evicted: crate::counter_vec(
                registry,
                "hookline_http_connections_evicted_total",
                "HTTP connections closed to make room for a new one under a connection cap, by server and the state they were in (idle, header).",
                &["server", "state"],
            ),
            timeouts: crate::counter_vec(
                registry,
                "hookline_http_timeouts_total",
                "HTTP connections closed or requests answered for a timeout, by server and kind (header, idle, request).",
                &["server", "kind"],
            ),
        }
    }
}

/// A running HTTP server.
pub struct HttpServer {
    pub addr: SocketAddr,
    pub task: tokio::task::JoinHandle<()>,
}

/// Binds `addr` (port 0 picks one) and serves `app` as `server` (the metrics label) with the
/// runtime's limits until its shutdown, letting in-flight requests finish.
pub async fn serve_http(
    server: &'static str,
    addr: SocketAddr,
    app: Router,
    shape: ErrorShape,
    rt: &crate::Runtime,
) -> io::Result<HttpServer> {
    let listener = TcpListener::bind(addr).await?;
    serve_listener(server, listener, app, shape, rt)
}

/// [`serve_http`] on a listener bound earlier (the API binds at start-up, to report its
/// address, and serves once its config has loaded).
pub fn serve_listener(
    server: &'static str,
    listener: TcpListener,
    app: Router,
    shape: ErrorShape,
    rt: &crate::Runtime,
) -> io::Result<HttpServer> {
    let addr = listener.local_addr()?;
    let shared = Arc::new(Shared {
        server,
        app: app.layer(DefaultBodyLimit::max(rt.http.max_body_bytes)),
        shape,
        limits: rt.http.clone(),
        metrics: rt.http_metrics.clone(),
    });
    let shutdown = rt.shutdown.clone();
    let task = tokio::spawn(accept_loop(listener, shared, shutdown));
    Ok(HttpServer { addr, task })
}

struct Shared {
    server: &'static str,
    app: Router,
    shape: ErrorShape,
    limits: HttpLimits,
    metrics: HttpMetrics,
}

/// What a full server writes to a connection it will not serve, before closing it.
const FULL_RESPONSE: &[u8] =
    b"HTTP/1.1 503 Service Unavailable\r\nconnection: close\r\ncontent-length: 0\r\nretry-after: 1\r\n\r\n";

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>, shutdown: CancellationToken) {
    let pool = pool::Pool::new(shared.limits.max_connections, shared.limits.max_connections_per_client);
    let mut connections = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
            a = listener.accept() => a,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of descriptors (EMFILE) or a connection reset before accept: retry, but
                // not in a busy loop.
                tracing::warn!(server = shared.server, error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let state = Arc::new(ConnState::new());
        let slot = match pool.admit(peer.ip(), state.clone()) {
            Ok((slot, evicted)) => {
                for e in evicted {
                    shared
                        .metrics
                        .evicted
                        .with_label_values(&[shared.server, e.label()])
                        .inc();
                }
                slot
            }
            Err(refused) => {
                shared
                    .metrics
                    .rejected
                    .with_label_values(&[shared.server, refused.label()])
                    .inc();
                let _ = stream.try_write(FULL_RESPONSE);
                drop(stream);
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let shared = shared.clone();
        let shutdown = shutdown.clone();
        connections.spawn(async move {
            let open = shared.metrics.open.with_label_values(&[shared.server]);
            open.inc();
            serve_connection(stream, peer, state, &shared, shutdown).await;
            open.dec();
            drop(slot);
        });
    }
    drop(listener);
    // Graceful: every connection finishes its request in flight (idle ones close at once).
    while connections.join_next().await.is_some() {}
}

async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    state: Arc<ConnState>,
    shared: &Arc<Shared>,
    shutdown: CancellationToken,
) {
    let io = TokioIo::new(Watched {
        inner: stream,
        state: state.clone(),
        linger_until: None,
    });
    let service = ConnService {
        shared: shared.clone(),
        state: state.clone(),
        peer,
    };
    let conn = hyper::server::conn::http1::Builder::new()
        .keep_alive(true)
        .header_read_timeout(None)
        .serve_connection(io, service);
    tokio::pin!(conn);
    let expired = tokio::select! {
        _ = conn.as_mut() => None,
        e = watchdog(&state, &shared.limits) => Some(e),
        // Its slot went to a newcomer (counted there). Picked while doing nothing: idle (or
        // still writing a response, which finishes first: a handler is done before hyper has
        // written its body) it closes gracefully, at once when nothing is being written; a
        // request that started since is answered first. Only one stuck in a request head is
        // dropped on the spot.
        _ = state.evicted.cancelled() => {
            let stuck_in_head = state.in_flight.load(Ordering::Acquire) == 0
                && state.head_started.load(Ordering::Acquire) != conn::NOT_READING;
            if !stuck_in_head {
                conn.as_mut().graceful_shutdown();
                tokio::select! {
                    _ = conn.as_mut() => {}
                    _ = watchdog(&state, &shared.limits) => {}
                }
            }
            None
        }
        _ = shutdown.cancelled() => {
            conn.as_mut().graceful_shutdown();
            tokio::select! {
                _ = conn.as_mut() => None,
                e = watchdog(&state, &shared.limits) => Some(e),
            }
        }
    };
    if let Some(kind) = expired {
        let kind = match kind {
            Expired::Header => "header",
            Expired::Idle => "idle",
        };
        shared.metrics.timeouts.with_label_values(&[shared.server, kind]).inc();
        tracing::debug!(server = shared.server, kind, "closing an HTTP connection on timeout");
    }
    // Dropping `conn` closes the socket.
}

/// The router, seen from one connection: tracks its requests for the watchdog, applies the
/// request timeout and the body limit, and renders their errors in the server's shape.
#[derive(Clone)]
struct ConnService {
    shared: Arc<Shared>,
    state: Arc<ConnState>,
    peer: SocketAddr,
}

impl hyper::service::Service<Request<Incoming>> for ConnService {
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn call(&self, mut req: Request<Incoming>) -> Self::Future {
        let shared = self.shared.clone();
        let state = self.state.clone();
        req.extensions_mut().insert(ConnectInfo(self.peer));
        state.request_started();
        Box::pin(async move {
            let path = req.uri().path().to_string();
            let response = fix_error_shape(&shared, &path, respond(&shared, req.map(axum::body::Body::new)).await);
            if response.headers().get(header::CONNECTION).is_some_and(|v| v == "close") {
                state.linger.store(true, Ordering::Release);
            }
            state.request_done();
            Ok(response)
        })
    }
}

async fn respond(shared: &Shared, req: Request<axum::body::Body>) -> Response {
    let limit = shared.limits.max_body_bytes;
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return StatusCode::PAYLOAD_TOO_LARGE.into_response();
    }
    let path = req.uri().path().to_string();
    match tokio::time::timeout(shared.limits.request_timeout, shared.app.clone().oneshot(req)).await {
        Ok(Ok(r)) => r,
        Ok(Err(never)) => match never {},
        Err(_) => {
            shared
                .metrics
                .timeouts
                .with_label_values(&[shared.server, "request"])
                .inc();
            let secs = shared.limits.request_timeout.as_secs_f64();
            let mut r = (shared.shape)(
                &path,
                StatusCode::REQUEST_TIMEOUT,
                "REQUEST_TIMEOUT",
                &format!("the request took longer than {secs} s"),
            );
            r.headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
            r
        }
    }
}

/// A `413` (axum's body-limit rejection is plain text, and ours above has no body) becomes
/// the server's own error shape, and closes the connection so the rest of the body is not
/// read. No handler answers 413 itself.
fn fix_error_shape(shared: &Shared, path: &str, response: Response) -> Response {
    if response.status() != StatusCode::PAYLOAD_TOO_LARGE {
        return response;
    }
    let limit = shared.limits.max_body_bytes;
    let mut r = (shared.shape)(
        path,
        StatusCode::PAYLOAD_TOO_LARGE,
        "PAYLOAD_TOO_LARGE",
        &format!("the request body is larger than {limit} bytes"),
    );
    r.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    r
}
