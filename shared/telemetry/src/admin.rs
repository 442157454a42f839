//! The admin HTTP server: `/metrics` (Prometheus text), `/healthz` (the process is up) and
//! `/readyz` (every component has finished starting: config caught up, consumers running).

use crate::server::{error_code_shape, serve_http, HttpServer};
use crate::Runtime;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use prometheus::{Encoder, Registry, TextEncoder};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// A component's name and whether it has finished starting.
type Check = (String, Arc<AtomicBool>);

/// Named readiness flags; `/readyz` is 200 only when all are set.
#[derive(Clone, Default)]
pub struct Readiness {
    checks: Arc<Mutex<Vec<Check>>>,
}

impl Readiness {
    /// Registers a component that is not ready yet; set the returned flag when it is.
    pub fn component(&self, name: &str) -> Arc<AtomicBool> {
        let flag = Arc::new(AtomicBool::new(false));
        self.checks
            .lock()
            .expect("readiness lock")
            .push((name.to_string(), flag.clone()));
        flag
    }

    /// Names of components still starting.
    pub fn pending(&self) -> Vec<String> {
        self.checks
            .lock()
            .expect("readiness lock")
            .iter()
            .filter(|(_, f)| !f.load(Ordering::Relaxed))
            .map(|(n, _)| n.clone())
            .collect()
    }
}

#[derive(Clone)]
struct AdminState {
    registries: Arc<Vec<Registry>>,
    readiness: Readiness,
}

/// Binds `addr` (port 0 picks one) and serves until the runtime's shutdown, with its
/// readiness and HTTP limits.
pub async fn serve_admin(addr: SocketAddr, registries: Vec<Registry>, rt: &Runtime) -> std::io::Result<HttpServer> {
    let state = AdminState {
        registries: Arc::new(registries),
        readiness: rt.readiness.clone(),
    };
    let app = Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .with_state(state);
    serve_http("admin", addr, app, error_code_shape, rt).await
}

async fn metrics(State(st): State<AdminState>) -> impl IntoResponse {
    let families: Vec<_> = st.registries.iter().flat_map(|r| r.gather()).collect();
    let mut buf = Vec::new();
    if let Err(e) = TextEncoder::new().encode(&families, &mut buf) {
        return (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response();
    }
    ([(header::CONTENT_TYPE, prometheus::TEXT_FORMAT)], buf).into_response()
}

async fn readyz(State(st): State<AdminState>) -> impl IntoResponse {
    let pending = st.readiness.pending();
    if pending.is_empty() {
        (StatusCode::OK, "ready".to_string())
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("starting: {}", pending.join(", ")),
        )
    }
}
