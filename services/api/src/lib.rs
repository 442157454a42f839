//! The control plane.
//!
//! - `PUT`/`GET /api/v1/user/webhooks`: the 23 Telecom dialect ([`telecom23`]).
//! - `POST /api/v1/user/webhooks/test`: a sample event through the real delivery path
//!   ([`test_send`]).
//! - `GET /api/v1/user/webhooks/logs`: the caller's latest attempts ([`logs`]).
//! - `/api/v1/webhooks[/{id}]`: the named-subscription dialect ([`named`]).
//! - `POST /v1/user/set-webhook`, `GET /v1/user/get-webhook`, `POST /v1/user/test-webhook`:
//!   the SMSEdge dialect ([`smsedge`]).
//! - `/admin/v1/api-keys`, `/admin/v1/ingest-keys`: operator-only creation, listing and
//!   revocation of API keys and ingest credentials ([`admin`]).
//!
//! Configuration is written to the compacted config topic and applied locally at once, so a
//! `GET` after a `PUT` sees the change; enrich and delivery follow the topic within a second.
//! The API also consumes the attempts topic into the store, which backs the logs endpoint.

pub mod admin;
mod attempt_log;
pub mod auth;
pub mod dead_letters;
pub mod error;
pub mod logs;
mod metrics;
pub mod named;
pub mod routes;
pub mod smsedge;
pub mod telecom23;
pub mod test_send;
mod validate;

use axum::Router;
use hookline_config::Topics;
use hookline_kafka::{ConfigHandle, ConfigWriter, KafkaSettings, Producer};
use hookline_model::WorkspaceConfig;
use hookline_security::{Sealer, UrlPolicy};
use hookline_store::Store;
use hookline_telemetry::Runtime;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// API settings.
#[derive(Debug, Clone, clap::Args)]
pub struct ApiConfig {
    #[arg(
        long = "api-http-addr",
        id = "api_http_addr",
        env = "HOOKLINE_API_HTTP_ADDR",
        default_value = "0.0.0.0:8080"
    )]
    pub http_addr: SocketAddr,
    /// Bearer token for `/admin/v1/*`. Without it the admin endpoints answer 404.
    #[arg(long, env = "HOOKLINE_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
    /// Consumer group that copies the attempts topic into the store.
    #[arg(
        long = "api-attempts-group",
        id = "api_attempts_group",
        env = "HOOKLINE_API_ATTEMPTS_GROUP",
        default_value = "hookline-api-attempts"
    )]
    pub attempts_group: String,
    /// Attempts kept per workspace for the logs endpoint.
    #[arg(long, env = "HOOKLINE_ATTEMPT_LOG_KEEP", default_value_t = 1000)]
    pub attempt_log_keep: usize,
    /// Dead letters kept per workspace for listing and re-sending (the dead-letter topic keeps
    /// all of them, for its retention).
    #[arg(long, env = "HOOKLINE_DEAD_LETTER_KEEP", default_value_t = 10_000)]
    pub dead_letter_keep: usize,
    /// Named subscriptions one workspace may have (each dialect's fixed channels come on top:
    /// four 23 Telecom URLs, four SMSEdge URLs). Creating one more answers
    /// `400 SUBSCRIPTION_LIMIT`, so one key holder cannot turn an event into unbounded
    /// outbound requests.
    #[arg(long, env = "HOOKLINE_MAX_SUBSCRIPTIONS_PER_WORKSPACE", default_value_t = 50)]
    pub max_subscriptions_per_workspace: usize,
    /// How long a test send waits for its attempt beyond the subscription's own timeout.
    #[arg(long, env = "HOOKLINE_TEST_SEND_GRACE_SECS", default_value_t = 10)]
    pub test_send_grace_secs: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiStartError {
    #[error(transparent)]
    Kafka(#[from] hookline_kafka::KafkaError),
    #[error("binding the API: {0}")]
    Bind(#[from] std::io::Error),
}

/// Shared by every handler.
#[derive(Clone)]
pub struct AppState {
    pub config: ConfigHandle,
    writer: ConfigWriter,
    producer: Producer,
    topics: Topics,
    store: Store,
    /// Last use of API keys and ingest credentials, for the operators' listings.
    usage: hookline_store::KeyUsage,
    sealer: Sealer,
    policy: UrlPolicy,
    /// Serialises read-modify-write of workspace configs within this process. Across API
    /// replicas the last write wins.
    write_lock: Arc<tokio::sync::Mutex<()>>,
    cfg: ApiConfig,
    metrics: Arc<metrics::Metrics>,
}

impl AppState {
    /// The caller's workspace config, or an empty one.
    fn workspace(&self, id: &str) -> WorkspaceConfig {
        self.config
            .read(|c| c.workspace(id))
            .map(|w| (*w).clone())
            .unwrap_or_else(|| WorkspaceConfig::new(id))
    }

    /// Writes a workspace config durably and applies it locally.
    async fn save(&self, ws: &WorkspaceConfig) -> Result<(), error::ApiError> {
        let (key, value) = self
            .writer
            .put_workspace(ws)
            .await
            .map_err(error::ApiError::unavailable)?;
        self.config.apply_local(&key, Some(&value));
        Ok(())
    }
}

/// A running API.
pub struct Running {
    pub addr: SocketAddr,
    pub task: tokio::task::JoinHandle<Result<(), ApiStartError>>,
}

/// The API: the routes of [`routes`], with `/openapi.json`.
pub fn router(state: AppState) -> Router {
    routes::documented().0.with_state(state)
}

async fn telecom23_get(
    axum::extract::State(st): axum::extract::State<AppState>,
    headers: axum::http::HeaderMap,
) -> Result<axum::Json<serde_json::Value>, error::ApiError> {
    let key = auth::authenticate(&st, &headers, hookline_model::Permission::WebhooksRead)?;
    Ok(axum::Json(telecom23::view(&st.workspace(&key.workspace_id))))
}

async fn telecom23_put(
    axum::extract::State(st): axum::extract::State<AppState>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> Result<axum::Json<serde_json::Value>, error::ApiError> {
    let key = auth::authenticate(&st, &headers, hookline_model::Permission::WebhooksWrite)?;
    let _guard = st.write_lock.lock().await;
    let current = st.workspace(&key.workspace_id);
    let updated = telecom23::apply_put(&current, &body, &st.policy, &st.sealer).await?;
    st.save(&updated).await?;
    st.metrics.config_writes.with_label_values(&["telecom23"]).inc();
    Ok(axum::Json(telecom23::view(&updated)))
}

async fn smsedge_get(
    axum::extract::State(st): axum::extract::State<AppState>,
    headers: axum::http::HeaderMap,
) -> Result<axum::Json<serde_json::Value>, smsedge::SmsEdgeError> {
    let key = auth::authenticate(&st, &headers, hookline_model::Permission::WebhooksRead)?;
    Ok(smsedge::success(smsedge::view(&st.workspace(&key.workspace_id))))
}

async fn smsedge_set(
    axum::extract::State(st): axum::extract::State<AppState>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> Result<axum::Json<serde_json::Value>, smsedge::SmsEdgeError> {
    let key = auth::authenticate(&st, &headers, hookline_model::Permission::WebhooksWrite)?;
    let _guard = st.write_lock.lock().await;
    let current = st.workspace(&key.workspace_id);
    let updated = smsedge::apply_set(&current, &headers, &body, &st.policy, &st.sealer).await?;
    st.save(&updated).await?;
    st.metrics.config_writes.with_label_values(&["smsedge"]).inc();
    Ok(smsedge::success(smsedge::view(&updated)))
}

async fn smsedge_test(
    axum::extract::State(st): axum::extract::State<AppState>,
    headers: axum::http::HeaderMap,
) -> Result<axum::Json<serde_json::Value>, smsedge::SmsEdgeError> {
    let key = auth::authenticate(&st, &headers, hookline_model::Permission::WebhooksWrite)?;
    let ws = st.workspace(&key.workspace_id);
    Ok(smsedge::success(smsedge::test_all(&st, &ws).await?))
}

/// Errors the HTTP server answers itself (`413` body too large, `408` request timeout) in the
/// dialect of the path: SMSEdge's envelope under `/v1/user/`, `{"error_code", "description"}`
/// (23 Telecom, named subscriptions, operators) everywhere else.
fn error_shape(
    path: &str,
    status: axum::http::StatusCode,
    code: &'static str,
    description: &str,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let e = error::ApiError::new(status, code, description);
    // Segment by segment: a string literal that looks like a route would count as one for the
    // OpenAPI check (tests/tests/openapi.rs).
    let mut segments = path.split('/').skip(1);
    if segments.next() == Some("v1") && segments.next() == Some("user") {
        smsedge::SmsEdgeError(e).into_response()
    } else {
        e.into_response()
    }
}

/// Starts the HTTP API and the attempt-log consumer.
pub async fn start(
    kafka: &KafkaSettings,
    store: Store,
    config: ConfigHandle,
    policy: UrlPolicy,
    sealer: Sealer,
    cfg: &ApiConfig,
    rt: &Runtime,
) -> Result<Running, ApiStartError> {
    let kafka_metrics = hookline_kafka::KafkaMetrics::new(&rt.registry, "api");
    let producer = kafka.producer()?.instrumented(&kafka_metrics);
    let metrics = Arc::new(metrics::Metrics::new(&rt.registry));
    let state = AppState {
        config: config.clone(),
        writer: ConfigWriter::new(producer.clone(), kafka.topics.config()),
        producer: producer.clone(),
        topics: kafka.topics.clone(),
        store: store.clone(),
        usage: hookline_store::KeyUsage::new(store.clone()),
        sealer,
        policy,
        write_lock: Arc::default(),
        cfg: cfg.clone(),
        metrics: metrics.clone(),
    };
    let consumer = kafka.consumer(
        &cfg.attempts_group,
        &[&kafka.topics.attempts(), &kafka.topics.dead()],
        &kafka_metrics,
    )?;
    let listener = tokio::net::TcpListener::bind(cfg.http_addr).await?;
    let addr = listener.local_addr()?;
    let ready = rt.readiness.component("api");
    let pump = hookline_kafka::Pump::new("api-attempt-log", 512, rt, &kafka_metrics);
    let shutdown = rt.shutdown.clone();
    let rt = rt.clone();
    let sink = attempt_log::Sink {
        store: store.clone(),
        attempts_topic: kafka.topics.attempts(),
        keep_attempts: cfg.attempt_log_keep,
        keep_dead_letters: cfg.dead_letter_keep,
        metrics: metrics.clone(),
        shutdown: shutdown.clone(),
    };
    let task = tokio::spawn(async move {
        let log = attempt_log::run(consumer, pump, sink);
        // Serving before the config is loaded would answer 401 to valid keys.
        config.wait_caught_up().await;
        ready.store(true, std::sync::atomic::Ordering::Relaxed);
        let http = hookline_telemetry::serve_listener("api", listener, router(state), error_shape, &rt)?;
        let (h, l) = tokio::join!(http.task, log);
        producer.flush(Duration::from_secs(5));
        if let Err(e) = h {
            tracing::error!(error = %e, "the API server task failed");
        }
        l?;
        Ok(())
    });
    Ok(Running { addr, task })
}
