//! The benchmark's webhook receiver: a real HTTP server on loopback that verifies every
//! request's signature and records when each event arrived.

use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Router;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

#[derive(Clone, Default)]
pub struct Arrivals {
    inner: Arc<Mutex<Inner>>,
}

#[derive(Default)]
struct Inner {
    /// First arrival per message id.
    first: HashMap<String, Instant>,
    requests: u64,
    bad_signatures: u64,
    /// Client addresses seen (one per TCP connection the sender opened).
    peers: std::collections::HashSet<SocketAddr>,
}

impl Arrivals {
    pub fn snapshot(&self) -> (HashMap<String, Instant>, u64, u64) {
        let g = self.inner.lock().unwrap();
        (g.first.clone(), g.requests, g.bad_signatures)
    }

    /// TCP connections the senders opened so far.
    pub fn connections(&self) -> usize {
        self.inner.lock().unwrap().peers.len()
    }

    pub fn delivered(&self) -> usize {
        self.inner.lock().unwrap().first.len()
    }
}

#[derive(Clone)]
struct Shared {
    secret: Arc<Vec<u8>>,
    arrivals: Arrivals,
}

/// Starts the receiver; every request must be signed with `secret`.
pub async fn start(secret: &str) -> (SocketAddr, Arrivals) {
    let arrivals = Arrivals::default();
    let shared = Shared {
        secret: Arc::new(secret.as_bytes().to_vec()),
        arrivals: arrivals.clone(),
    };
    let app = Router::new()
        .route("/slow/{n}", axum::routing::post(slow))
        .fallback(receive)
        .with_state(shared);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await });
    (addr, arrivals)
}

/// An endpoint that answers after the subscription's timeout (5 s).
async fn slow() -> StatusCode {
    tokio::time::sleep(std::time::Duration::from_secs(6)).await;
    StatusCode::OK
}

async fn receive(
    State(s): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let now = Instant::now();
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let expected = hookline_security::sign(&s.secret, header("x-webhook-timestamp"), &body);
    let message_id = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v["message_id"].as_str().map(str::to_string));
    let mut g = s.arrivals.inner.lock().unwrap();
    g.requests += 1;
    g.peers.insert(peer);
    if header("x-webhook-signature") != expected {
        g.bad_signatures += 1;
        return StatusCode::UNAUTHORIZED;
    }
    if let Some(id) = message_id {
        g.first.entry(id).or_insert(now);
    }
    StatusCode::OK
}
