//! Serving: the router of [`crate::routes`] over an [`AppState`], the HTTP server (with the
//! errors it answers itself in each dialect's shape) and the consumer that copies attempts and
//! dead letters into the store for the logs endpoints.

use crate::config::ApiConfig;
use crate::state::AppState;
use crate::{attempt_log, error, metrics, routes, smsedge};
use axum::Router;
use hookline_kafka::{ConfigHandle, ConfigWriter, KafkaSettings};
use hookline_security::{Sealer, UrlPolicy};
use hookline_store::Store;
use hookline_telemetry::Runtime;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum ApiStartError {
    #[error(transparent)]
    Kafka(#[from] hookline_kafka::KafkaError),
    #[error("binding the API: {0}")]
    Bind(#[from] std::io::Error),
}

/// A running API.
pub struct Running {
    pub addr: SocketAddr,
    pub task: tokio::task::JoinHandle<Result<(), ApiStartError>>,
}

/// The API: the routes of [`routes`], with `/openapi.json`, failed admin tokens throttled
/// ([`crate::admin_throttle`]).
pub fn router(state: AppState) -> Router {
    let throttle = Arc::new(crate::admin_throttle::AdminThrottle::default());
    routes::documented()
        .0
        .merge(crate::portal::routes())
        .layer(axum::middleware::from_fn_with_state(
            throttle,
            crate::admin_throttle::guard,
        ))
        .with_state(state)
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
    let producer = kafka
        .producer()?
        .instrumented(&kafka_metrics)
        .reporting_brokers(rt.readiness.component("api producer: kafka brokers reachable"));
    let metrics = Arc::new(metrics::Metrics::new(&rt.registry));
    let state = AppState {
        config: config.clone(),
        writer: ConfigWriter::new(producer.clone(), kafka.topics.config()),
        producer: producer.clone(),
        topics: kafka.topics.clone(),
        kafka: kafka.clone(),
        store: store.clone(),
        usage: hookline_store::KeyUsage::new(store.clone()),
        sealer,
        policy,
        write_lock: Arc::default(),
        cfg: cfg.clone(),
        metrics: metrics.clone(),
        limits: Arc::new(crate::rate_limit::Limits::new(&cfg.limits)),
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
        auto_disable: crate::auto_disable::AutoDisable::new(state.clone()),
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
