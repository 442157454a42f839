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

/// Starts the receiver (every request must be signed with `secret`) on `hosts` ports of 127.0.0.1, one arrival record for all of them: each
/// port is a host of its own to the sender (its own connection pool), as every customer's
/// receiver is in production.
pub async fn start_hosts(secret: &str, hosts: usize) -> (Vec<SocketAddr>, Arrivals) {
    let arrivals = Arrivals::default();
    let shared = Shared {
        secret: Arc::new(secret.as_bytes().to_vec()),
        arrivals: arrivals.clone(),
    };
    let app = Router::new()
        .route("/slow/{n}", axum::routing::post(slow))
        .fallback(receive)
        .with_state(shared);
    let mut addrs = Vec::with_capacity(hosts);
    for _ in 0..hosts.max(1) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        addrs.push(listener.local_addr().unwrap());
        let app = app.clone();
        tokio::spawn(
            async move { axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await },
        );
    }
    (addrs, arrivals)
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
    let message_ids = serde_json::from_slice::<serde_json::Value>(&body)
        .map(|v| message_ids(&v))
        .unwrap_or_default();
    let mut g = s.arrivals.inner.lock().unwrap();
    g.requests += 1;
    g.peers.insert(peer);
    if header("x-webhook-signature") != expected {
        g.bad_signatures += 1;
        return StatusCode::UNAUTHORIZED;
    }
    for id in message_ids {
        g.first.entry(id).or_insert(now);
    }
    StatusCode::OK
}

/// The message ids a body is about: a 23 Telecom payload's `message_id`, a named envelope's
/// message (`data.message_ref`, or `data.source_message.message_ref` for a link hit), each
/// envelope's of a batch (`{"events": [...]}`).
fn message_ids(v: &serde_json::Value) -> Vec<String> {
    if let Some(events) = v["events"].as_array() {
        return events.iter().flat_map(message_ids).collect();
    }
    [
        &v["message_id"],
        &v["data"]["message_ref"],
        &v["data"]["source_message"]["message_ref"],
    ]
    .into_iter()
    .find_map(|id| id.as_str())
    .map(|id| vec![id.to_string()])
    .unwrap_or_default()
}
