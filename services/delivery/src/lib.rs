//! Delivery: consumes the dispatch topic and the retry tiers and makes the HTTP attempts.
//!
//! For each record it resolves the subscription in its live config (records carry only the
//! subscription's id and the config version it was matched in; when this process's config is
//! older it waits for that version, and defers the record if it does not come), admits it
//! through the endpoint's gate ([`gate`]: an adaptive in-flight limit, an adaptive rate and
//! the configured rate limit as a hard ceiling), renders the payload the subscription asked for, signs it, POSTs it with
//! the subscription's timeout ([`attempt`]), and before the offset may be committed writes an
//! [`AttemptRecord`] and, after a failure, the record's next step ([`retry`]): its retry tier
//! with the due time, or the dead-letter topic. A message's status that would reach an
//! endpoint after a later status of that message is skipped instead (module `ordering`).
//!
//! [`AttemptRecord`]: hookline_model::AttemptRecord

mod aimd;
pub mod attempt;
mod batch;
mod ceiling;
pub mod client;
mod concurrency;
mod credentials;
pub mod failover;
pub mod gate;
mod lag;
mod memo;
mod metrics;
mod ordering;
mod pacer;
pub mod retry;
mod shared_rate;
mod slots;
mod worker;

use hookline_kafka::{ConfigHandle, KafkaMetrics, KafkaSettings, OwnedMessage, Pump, Quarantine};
use hookline_security::{Sealer, UrlPolicy};
use hookline_telemetry::Runtime;
use std::sync::Arc;
use std::time::Duration;

/// Delivery settings.
#[derive(Debug, Clone, clap::Args)]
pub struct DeliveryConfig {
    #[arg(
        long = "delivery-group",
        id = "delivery_group",
        env = "HOOKLINE_DELIVERY_GROUP",
        default_value = "hookline-delivery"
    )]
    pub group: String,
    /// `User-Agent` of every webhook request.
    #[arg(long, env = "HOOKLINE_USER_AGENT", default_value = concat!("Hookline-Webhooks/", env!("CARGO_PKG_VERSION")))]
    pub user_agent: String,
    /// Records in flight at once per delivery process (across endpoints).
    #[arg(
        long = "delivery-max-in-flight",
        id = "delivery_max_in_flight",
        env = "HOOKLINE_DELIVERY_MAX_IN_FLIGHT",
        default_value_t = 1024
    )]
    pub max_in_flight: usize,
    /// Requests in flight at once to an endpoint new to delivery: where its adaptive
    /// concurrency limit starts ([`concurrency`]).
    #[arg(long, env = "HOOKLINE_ENDPOINT_CONCURRENCY", default_value_t = 16)]
    pub endpoint_concurrency: usize,
    /// The most requests in flight at once to one endpoint, however well it answers: the
    /// ceiling of every endpoint's adaptive concurrency limit (a subscription's
    /// `max_concurrency` may set a lower one). 256 lets one endpoint answering in 50 ms take
    /// about 5,000 requests/s.
    #[arg(long, env = "HOOKLINE_ENDPOINT_MAX_CONCURRENCY", default_value_t = 256)]
    pub endpoint_max_concurrency: usize,
    /// Idle connections kept open per receiving host (scheme, host and port), for reuse by the
    /// next request to any endpoint there. Endpoints of one host share them, so this should
    /// be at least the concurrency a busy host gets: every request that finds the pool empty
    /// opens a connection, and every one that finishes with the pool full closes its own.
    /// With 64, 16 busy endpoints on one host made delivery open 37–119 new connections per
    /// 1,000 requests in the benchmark; with 256 and adaptive concurrency (each endpoint's
    /// limit growing past 16), 35 at 3,000 events/s. 1,024, delivery's records in flight
    /// (`HOOKLINE_DELIVERY_MAX_IN_FLIGHT`), is as many as one host can ever have in use, and
    /// an idle connection costs a few KiB until its 60 s idle timeout.
    #[arg(long, env = "HOOKLINE_DELIVERY_IDLE_CONNECTIONS_PER_HOST", default_value_t = 1024)]
    pub idle_connections_per_host: usize,
    /// Records that may wait for one endpoint's free slot; beyond that they are deferred to a
    /// retry tier so a saturated endpoint cannot fill the consumer's window.
    #[arg(long, env = "HOOKLINE_ENDPOINT_QUEUE", default_value_t = 256)]
    pub endpoint_queue: usize,
    /// How long a record for a saturated endpoint is deferred.
    #[arg(long, env = "HOOKLINE_OVERFLOW_DELAY_MS", default_value_t = 1000)]
    pub overflow_delay_ms: u64,
    /// Requests per second per endpoint when its subscription sets none (rate_limit 0).
    #[arg(long, env = "HOOKLINE_DEFAULT_RATE_LIMIT", default_value_t = 1000)]
    pub default_rate_limit: u32,
    /// Rate-limit waits up to this long happen in place; longer ones defer the record.
    #[arg(long, env = "HOOKLINE_RATE_LIMIT_MAX_WAIT_MS", default_value_t = 2000)]
    pub rate_limit_max_wait_ms: u64,
    /// How long a record produced from a newer workspace config than this process has (a
    /// subscription created a moment ago) waits for it before it is deferred to a retry tier.
    #[arg(long, env = "HOOKLINE_CONFIG_WAIT_MS", default_value_t = 5000)]
    pub config_wait_ms: u64,
    /// Multiplies every retry delay and tier. For tests only (a 6 h policy in seconds);
    /// keep 1.0 in production.
    #[arg(long, env = "HOOKLINE_RETRY_DELAY_SCALE", default_value_t = 1.0)]
    pub retry_delay_scale: f64,
    /// Egress proxy for every webhook request (`http://host:port`). Unset: requests go direct
    /// and the system's `HTTP_PROXY`/`HTTPS_PROXY`/`ALL_PROXY` are ignored, because a proxy
    /// resolves the target itself, past the connect-time URL policy check. Set: the proxy owns
    /// that check (Smokescreen-style), see [`client`].
    #[arg(long, env = "HOOKLINE_EGRESS_PROXY", hide_env_values = true, value_parser = client::parse_egress_proxy)]
    pub egress_proxy: Option<reqwest::Url>,
    /// How often the primary URL of an endpoint that failed over is probed ([`failover`]).
    #[arg(long, env = "HOOKLINE_FAILOVER_PROBE_INTERVAL_MS", default_value_t = 5000)]
    pub failover_probe_interval_ms: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    #[error(transparent)]
    Kafka(#[from] hookline_kafka::KafkaError),
    #[error("building the HTTP client: {0}")]
    Http(#[from] reqwest::Error),
}

/// A running delivery service.
pub struct Running {
    pub task: tokio::task::JoinHandle<Result<(), DeliveryError>>,
}

/// Starts the consumer of the dispatch topic and the retry tiers.
pub async fn start(
    kafka: &KafkaSettings,
    store: hookline_store::Store,
    config: ConfigHandle,
    policy: UrlPolicy,
    sealer: Sealer,
    cfg: &DeliveryConfig,
    rt: &Runtime,
) -> Result<Running, DeliveryError> {
    let metrics = Arc::new(metrics::Metrics::new(&rt.registry));
    tokio::spawn(metrics::forget_deleted_endpoints(
        config.clone(),
        metrics.clone(),
        rt.shutdown.clone(),
    ));
    // Shown, not acted on: see `lag`.
    lag::spawn_probe(rt.shutdown.clone(), metrics.scheduling_lag.clone());
    let kafka_metrics = KafkaMetrics::new(&rt.registry, "delivery");
    let producer = kafka
        .producer()?
        .instrumented(&kafka_metrics)
        .reporting_brokers(rt.readiness.component("delivery producer: kafka brokers reachable"));
    let attempter = attempt::Attempter::new(
        client::build(&policy, cfg.egress_proxy.as_ref(), cfg.idle_connections_per_host)?,
        policy,
        sealer,
        cfg.user_agent.clone(),
    );
    let topics = kafka.topics.clone();
    let failover = Arc::new(failover::Failover::new(
        attempter.clone(),
        config.clone(),
        metrics.clone(),
        Duration::from_millis(cfg.failover_probe_interval_ms),
        rt.shutdown.clone(),
    ));
    let worker = worker::Worker {
        config: config.clone(),
        attempter,
        producer: producer.clone(),
        quarantine: Quarantine::new(producer.clone(), topics.quarantine(), "delivery", rt),
        gates: Arc::new(gate::Gates::new(
            cfg.endpoint_concurrency,
            cfg.endpoint_max_concurrency,
            cfg.endpoint_queue,
            cfg.default_rate_limit,
        )),
        shared_rates: Arc::new(shared_rate::SharedRates::new(store)),
        schedule: retry::Schedule {
            tiers_secs: topics.retry_tiers().into_iter().map(|(secs, _)| secs).collect(),
            scale: cfg.retry_delay_scale,
        },
        overflow_delay: Duration::from_millis(cfg.overflow_delay_ms),
        rate_limit_max_wait: Duration::from_millis(cfg.rate_limit_max_wait_ms),
        config_wait: Duration::from_millis(cfg.config_wait_ms),
        topics: topics.clone(),
        metrics,
        failover,
        ordering: Arc::default(),
        batches: Arc::default(),
    };
    let mut inputs = vec![topics.dispatch()];
    inputs.extend(topics.retry_tiers().into_iter().map(|(_, name)| name));
    let inputs: Vec<&str> = inputs.iter().map(String::as_str).collect();
    let consumer = kafka.consumer(&cfg.group, &inputs, &kafka_metrics)?;
    let ready = rt.readiness.component("delivery");
    let pump = Pump::new("delivery", cfg.max_in_flight, rt, &kafka_metrics);
    let drain = rt.drain;
    let task = tokio::spawn(async move {
        config.wait_caught_up().await;
        ready.store(true, std::sync::atomic::Ordering::Relaxed);
        let result = pump
            .run(&consumer, |msg: OwnedMessage| {
                let w = worker.clone();
                let lease = hookline_kafka::context::lease(&consumer);
                async move { w.handle(msg, lease).await }
            })
            .await;
        producer.flush(drain);
        Ok(result?)
    });
    Ok(Running { task })
}
