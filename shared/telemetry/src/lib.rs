//! Telemetry shared by every service.
//!
//! Each service instance owns a Prometheus [`Registry`] (so tests can run two delivery
//! replicas in one process without metric name clashes); the admin server gathers the
//! registries of every service the process runs. Metric names follow
//! `hookline_<service>_<name>_<unit>[_total]`, with small fixed label sets; a concept every
//! service shares has one family with a `service` label instead (`hookline_quarantined_total`).

mod admin;
mod metrics;
pub mod openapi;
mod server;

pub use admin::{serve_admin, Readiness};
pub use metrics::{counter_vec, gauge, histogram_vec, int_gauge_vec, LATENCY_BUCKETS};
pub use prometheus::{Registry, TextEncoder};
pub use server::{
    client_key, error_code_shape, serve_http, serve_listener, ErrorShape, HttpLimits, HttpMetrics, HttpServer,
    PER_CLIENT_SHARE,
};

/// Installs the global tracing subscriber: human-readable by default, JSON lines with
/// `HOOKLINE_LOG_FORMAT=json`; filtering through `RUST_LOG` (default `info`).
pub fn init_tracing() {
    use tracing_subscriber::{fmt, EnvFilter};
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,rdkafka=warn"));
    let json = std::env::var("HOOKLINE_LOG_FORMAT").is_ok_and(|v| v == "json");
    let builder = fmt().with_env_filter(filter).with_target(true);
    // A second call (tests) finds a subscriber already set; that is fine.
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

/// What every service instance gets from the process that runs it: where to register
/// metrics, how to report readiness, and when and how long to shut down.
#[derive(Clone)]
pub struct Runtime {
    pub registry: Registry,
    pub readiness: Readiness,
    pub shutdown: tokio_util::sync::CancellationToken,
    /// How long in-flight work may take to finish after `shutdown`.
    pub drain: std::time::Duration,
    /// Limits of every HTTP server the process runs.
    pub http: HttpLimits,
    /// Connection metrics of those servers, registered once in the first runtime's registry
    /// and shared by its siblings (see [`HttpMetrics`]).
    pub http_metrics: HttpMetrics,
    /// `hookline_quarantined_total{service, reason}`: records sent to quarantine. One family
    /// for every service, registered once in the first runtime's registry and shared by its
    /// siblings, like [`HttpMetrics`].
    pub quarantined: prometheus::IntCounterVec,
}

impl Runtime {
    /// A runtime with the default [`HttpLimits`].
    pub fn new(shutdown: tokio_util::sync::CancellationToken, drain: std::time::Duration) -> Self {
        let registry = Registry::new();
        let http_metrics = HttpMetrics::new(&registry);
        let quarantined = counter_vec(
            &registry,
            "hookline_quarantined_total",
            "Records sent to quarantine, by service and reason.",
            &["service", "reason"],
        );
        Self {
            registry,
            readiness: Readiness::default(),
            shutdown,
            drain,
            http: HttpLimits::default(),
            http_metrics,
            quarantined,
        }
    }

    /// The same runtime with other HTTP limits (`HOOKLINE_HTTP_*`).
    pub fn with_http_limits(mut self, limits: HttpLimits) -> Self {
        self.http = limits;
        self
    }

    /// A runtime for one more service in the same process: own registry, shared readiness
    /// and shutdown.
    pub fn sibling(&self) -> Self {
        Self {
            registry: Registry::new(),
            ..self.clone()
        }
    }
}

/// A token cancelled on SIGTERM or SIGINT.
pub fn shutdown_on_signal() -> tokio_util::sync::CancellationToken {
    let token = tokio_util::sync::CancellationToken::new();
    let t = token.clone();
    tokio::spawn(async move {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
            _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT: shutting down"),
        }
        t.cancel();
    });
    token
}
