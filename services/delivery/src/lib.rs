//! Delivery: consumes dispatch records and makes the HTTP attempt.
//!
//! For each record it resolves the subscription (live config, or the record's snapshot when
//! the live config is older), renders the payload the subscription asked for, signs it, POSTs
//! it with the subscription's timeout, and writes an [`AttemptRecord`] to the attempts topic
//! before the dispatch offset may be committed.
//!
//! [`AttemptRecord`]: hookline_model::AttemptRecord

pub mod attempt;
pub mod client;
mod metrics;
mod worker;

use hookline_kafka::{ConfigHandle, KafkaMetrics, KafkaSettings, OwnedMessage, Pump, Quarantine};
use hookline_security::{Sealer, UrlPolicy};
use hookline_telemetry::Runtime;
use std::sync::Arc;

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
    /// Requests in flight at once per delivery process.
    #[arg(
        long = "delivery-max-in-flight",
        id = "delivery_max_in_flight",
        env = "HOOKLINE_DELIVERY_MAX_IN_FLIGHT",
        default_value_t = 256
    )]
    pub max_in_flight: usize,
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

/// Starts the dispatch consumer.
pub async fn start(
    kafka: &KafkaSettings,
    config: ConfigHandle,
    policy: UrlPolicy,
    sealer: Sealer,
    cfg: &DeliveryConfig,
    rt: &Runtime,
) -> Result<Running, DeliveryError> {
    let metrics = Arc::new(metrics::Metrics::new(&rt.registry));
    let kafka_metrics = KafkaMetrics::new(&rt.registry, "delivery");
    let producer = kafka.producer()?.instrumented(&kafka_metrics);
    let attempter = attempt::Attempter::new(client::build(&policy)?, policy, sealer, cfg.user_agent.clone());
    let worker = worker::Worker {
        config: config.clone(),
        attempter,
        producer: producer.clone(),
        quarantine: Quarantine::new(producer.clone(), kafka.topics.quarantine(), metrics.quarantined.clone()),
        attempts_topic: kafka.topics.attempts(),
        metrics,
    };
    let consumer = kafka.consumer(&cfg.group, &[&kafka.topics.dispatch()])?;
    let ready = rt.readiness.component("delivery");
    let pump = Pump::new("delivery", cfg.max_in_flight, rt, &kafka_metrics);
    let drain = rt.drain;
    let task = tokio::spawn(async move {
        config.wait_caught_up().await;
        ready.store(true, std::sync::atomic::Ordering::Relaxed);
        let result = pump
            .run(&consumer, |msg: OwnedMessage| {
                let w = worker.clone();
                async move { w.handle(msg).await }
            })
            .await;
        producer.flush(drain);
        Ok(result?)
    });
    Ok(Running { task })
}
