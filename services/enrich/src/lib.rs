//! Enrich: from validated inputs to one dispatch record per (event, subscription).
//!
//! - Accepted messages are kept in the store (Redis) for `metadata_ttl_secs`, keyed by the
//!   carrier's message id and the message id ([`Enricher::handle_message`]); each fires a
//!   `sent` status event, and an impression on the API single-send path.
//! - A DLR is joined with its message's metadata: a final one fires the delivery [`Event`],
//!   every one fires a status event ([`fanout`]). A DLR whose metadata is not there yet looks
//!   again in process a few times within 750 ms, then is parked on the wait topic and
//!   re-checked every `dlr_wait_recheck_ms` until `dlr_wait_max_secs` have passed since it was
//!   first seen; then it is quarantined as `metadata_not_found` ([`wait`]).
//! - Clicks, conversions, inbound SMS and opt-outs: see `engagement`.
//!
//! When the store is unreachable, processing waits and retries (nothing is skipped); the
//! consumer's offsets do not move until it recovers.

mod bots;
mod engagement;
pub mod fanout;
mod metrics;
mod revocations;
mod wait;

use chrono::Utc;
use hookline_kafka::{
    ConfigHandle, Handled, KafkaMetrics, KafkaSettings, Message, OwnedMessage, Producer, Pump, Quarantine,
    QuarantineReason,
};
use hookline_model::{AcceptedMessage, CarrierDlr, Event};
use hookline_store::{retry_until_ok, Ownership, Store};
use hookline_telemetry::Runtime;
use metrics::Metrics;
use std::sync::Arc;
use std::time::Duration;

/// Enrich settings.
#[derive(Debug, Clone, clap::Args)]
pub struct EnrichConfig {
    #[arg(
        long = "enrich-group",
        id = "enrich_group",
        env = "HOOKLINE_ENRICH_GROUP",
        default_value = "hookline-enrich"
    )]
    pub group: String,
    /// How long accepted-message metadata is kept for the DLR join.
    #[arg(long, env = "HOOKLINE_METADATA_TTL_SECS", default_value_t = 72 * 3600)]
    pub metadata_ttl_secs: u64,
    /// How long a DLR may wait for its message's metadata before it is quarantined.
    #[arg(long, env = "HOOKLINE_DLR_WAIT_MAX_SECS", default_value_t = 300)]
    pub dlr_wait_max_secs: u64,
    /// How often a waiting DLR looks for its metadata again.
    #[arg(long, env = "HOOKLINE_DLR_WAIT_RECHECK_MS", default_value_t = 2000)]
    pub dlr_wait_recheck_ms: u64,
    /// How long click, click-dedup and conversion-dedup keys are kept.
    #[arg(long, env = "HOOKLINE_DEDUP_TTL_SECS", default_value_t = 30 * 24 * 3600)]
    pub dedup_ttl_secs: u64,
    #[arg(
        long = "enrich-max-in-flight",
        id = "enrich_max_in_flight",
        env = "HOOKLINE_ENRICH_MAX_IN_FLIGHT",
        default_value_t = 512
    )]
    pub max_in_flight: usize,
    /// Dispatch records one event may fan out to, at most; beyond it the first subscriptions
    /// (in creation order) get the event and the rest are counted in
    /// `hookline_enrich_fanout_capped_total`.
    #[arg(long, env = "HOOKLINE_MAX_DELIVERIES_PER_EVENT", default_value_t = 64)]
    pub max_deliveries_per_event: usize,
    /// How often each workspace's revoked clicks are sent as one batch.
    #[arg(long, env = "HOOKLINE_REVOKE_BATCH_INTERVAL_MS", default_value_t = 60_000)]
    pub revoke_batch_interval_ms: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum EnrichError {
    #[error(transparent)]
    Kafka(#[from] hookline_kafka::KafkaError),
}

/// A running enrich service.
pub struct Running {
    pub task: tokio::task::JoinHandle<Result<(), EnrichError>>,
}

/// The join and fan-out logic, shared by the main and the wait consumers.
#[derive(Clone)]
pub struct Enricher {
    store: Store,
    producer: Producer,
    quarantine: Quarantine,
    config: ConfigHandle,
    dispatch_topic: String,
    wait_topic: String,
    cfg: EnrichConfig,
    metrics: Arc<Metrics>,
    shutdown: tokio_util::sync::CancellationToken,
    /// In-process looks again of DLRs without metadata yet ([`wait`]).
    soon: wait::Soon,
}

impl Enricher {
    /// Stores an accepted message's metadata. A message whose ids already belong to another
    /// message (another workspace's, or a carrier id taken within its connection) is
    /// quarantined as `metadata_conflict`: first writer wins, so nobody can take over another
    /// workspace's DLRs and clicks by re-announcing its ids.
    async fn handle_message(&self, msg: OwnedMessage) -> Handled {
        let Some(accepted) = self.decode::<AcceptedMessage>(&msg) else {
            return self.quarantined(&msg, QuarantineReason::InvalidInternalRecord).await;
        };
        let ttl = Duration::from_secs(self.cfg.metadata_ttl_secs);
        let stored = retry_until_ok(
            &self.shutdown,
            "put_message",
            || self.store_error("put_message"),
            || self.store.put_message(&accepted, ttl),
        )
        .await;
        match stored {
            Some(Ownership::Taken(key)) => {
                self.metrics.records.with_label_values(&["message", "conflict"]).inc();
                let detail = format!(
                    "message {} of workspace {}: {key} already belongs to another message",
                    accepted.message_id, accepted.workspace_id
                );
                self.quarantine_with(&msg, QuarantineReason::MetadataConflict, &detail)
                    .await
            }
            Some(Ownership::Stored) => {
                self.metrics.records.with_label_values(&["message", "stored"]).inc();
                match self.impression(&accepted).await {
                    Handled::Done => fanout::fan_out(self, &Event::sent(&accepted, Utc::now())).await,
                    stop => stop,
                }
            }
            None => Handled::store_unavailable(),
        }
    }

    /// Joins a DLR (fresh from ingest, or back from the wait topic) and fans it out.
    async fn handle_dlr(&self, msg: OwnedMessage, sighting: wait::Sighting) -> Handled {
        let Some(dlr) = self.decode::<CarrierDlr>(&msg) else {
            return self.quarantined(&msg, QuarantineReason::InvalidInternalRecord).await;
        };
        let found = retry_until_ok(
            &self.shutdown,
            "get_message",
            || self.store_error("get_message"),
            || {
                self.store.message_by_carrier_id(
                    dlr.workspace_id.as_deref(),
                    dlr.carrier_connection.as_deref(),
                    &dlr.carrier_message_id,
                )
            },
        )
        .await;
        let meta = match found {
            None => return Handled::store_unavailable(),
            Some(m) => m,
        };
        match meta {
            Some(meta) if !in_scope(dlr.workspace_id.as_deref(), &meta) => self.out_of_scope(&msg, &meta, "dlr").await,
            Some(meta) => self.joined_dlr(&msg, &dlr, &meta).await,
            None => wait::not_found(self, &msg, sighting).await,
        }
    }

    fn decode<T: serde::de::DeserializeOwned>(&self, msg: &OwnedMessage) -> Option<T> {
        serde_json::from_slice(msg.payload().unwrap_or_default()).ok()
    }

    async fn quarantined(&self, msg: &OwnedMessage, reason: QuarantineReason) -> Handled {
        let detail = format!("record on {} does not decode as Hookline's own format", msg.topic());
        self.quarantine_with(msg, reason, &detail).await
    }

    async fn quarantine_with(&self, msg: &OwnedMessage, reason: QuarantineReason, detail: &str) -> Handled {
        self.quarantine.put_record(reason, detail, msg).await.into()
    }

    /// A record whose sender is bound to one workspace refers to another workspace's message:
    /// quarantined as `workspace_mismatch`, nothing fires.
    async fn out_of_scope(&self, msg: &OwnedMessage, meta: &AcceptedMessage, what: &str) -> Handled {
        self.metrics
            .records
            .with_label_values(&[what, "workspace_mismatch"])
            .inc();
        let detail = format!(
            "{what} from a credential of another workspace refers to message {} of workspace {}",
            meta.message_id, meta.workspace_id
        );
        self.quarantine_with(msg, QuarantineReason::WorkspaceMismatch, &detail)
            .await
    }

    fn store_error(&self, op: &str) {
        self.metrics.store_errors.with_label_values(&[op]).inc();
    }
}

/// What a main-consumer record is, by its topic.
enum Input {
    Message,
    Dlr,
    Click,
    Conversion,
    Inbound,
}

/// Whether `meta` may be joined by a record whose sender is bound to `scope` (`None`: an
/// unbound sender, such as the gateway or a Kafka feed).
fn in_scope(scope: Option<&str>, meta: &AcceptedMessage) -> bool {
    scope.is_none_or(|w| w == meta.workspace_id)
}

fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

/// Starts the main consumer (messages + DLRs) and the wait-topic consumer.
pub async fn start(
    kafka: &KafkaSettings,
    store: Store,
    config: ConfigHandle,
    cfg: &EnrichConfig,
    rt: &Runtime,
) -> Result<Running, EnrichError> {
    let metrics = Arc::new(Metrics::new(&rt.registry));
    let kafka_metrics = KafkaMetrics::new(&rt.registry, "enrich");
    let producer = kafka
        .producer()?
        .instrumented(&kafka_metrics)
        .reporting_brokers(rt.readiness.component("enrich producer: kafka brokers reachable"));
    let topics = &kafka.topics;
    let enricher = Enricher {
        store,
        producer: producer.clone(),
        quarantine: Quarantine::new(producer.clone(), topics.quarantine(), "enrich", rt),
        config: config.clone(),
        dispatch_topic: topics.dispatch(),
        wait_topic: topics.dlr_wait(),
        cfg: cfg.clone(),
        metrics,
        shutdown: rt.shutdown.clone(),
        soon: wait::Soon::new(cfg.dlr_wait_recheck_ms),
    };
    let (messages_topic, clicks_topic, conversions_topic) = (topics.messages(), topics.clicks(), topics.conversions());
    let inbound_topic = topics.inbound();
    let main = kafka.consumer(
        &cfg.group,
        &[
            &messages_topic,
            &topics.dlr(),
            &clicks_topic,
            &conversions_topic,
            &inbound_topic,
        ],
        &kafka_metrics,
    )?;
    let waiting = kafka.consumer(&format!("{}-wait", cfg.group), &[&topics.dlr_wait()], &kafka_metrics)?;
    let ready = rt.readiness.component("enrich");
    let main_pump = Pump::new("enrich", cfg.max_in_flight, rt, &kafka_metrics);
    let wait_pump = Pump::new("enrich-wait", cfg.max_in_flight, rt, &kafka_metrics);
    let drain = rt.drain;
    let instance = revocations::Instance::claim(kafka.group_instance_id.as_deref(), &cfg.group);
    let batcher = revocations::Batcher {
        consumer: kafka.consumer(
            &format!("{}-revocations", cfg.group),
            &[&topics.clicks_revoked()],
            &kafka_metrics,
        )?,
        producer: kafka.transactional_producer(&instance.transactional_id).await?,
        instance,
        quarantine: enricher.quarantine.clone(),
        config: config.clone(),
        dispatch_topic: topics.dispatch(),
        max_deliveries: cfg.max_deliveries_per_event,
        interval: Duration::from_millis(cfg.revoke_batch_interval_ms),
        metrics: enricher.metrics.clone(),
        shutdown: rt.shutdown.clone(),
    };

    let task = tokio::spawn(async move {
        // Fanning out before the config is loaded would drop events for subscriptions that
        // exist but are not known yet.
        config.wait_caught_up().await;
        ready.store(true, std::sync::atomic::Ordering::Relaxed);
        let e1 = enricher.clone();
        let main_loop = main_pump.run(&main, |msg: OwnedMessage| {
            let e = e1.clone();
            let topic = msg.topic();
            let kind = if topic == messages_topic {
                Input::Message
            } else if topic == clicks_topic {
                Input::Click
            } else if topic == conversions_topic {
                Input::Conversion
            } else if topic == inbound_topic {
                Input::Inbound
            } else {
                Input::Dlr
            };
            async move {
                match kind {
                    Input::Message => e.handle_message(msg).await,
                    Input::Click => e.handle_click(msg).await,
                    Input::Conversion => e.handle_conversion(msg).await,
                    Input::Inbound => e.handle_inbound(msg).await,
                    Input::Dlr => e.handle_dlr(msg, wait::Sighting::New).await,
                }
            }
        });
        let e2 = enricher.clone();
        let wait_loop = wait_pump.run(&waiting, |msg: OwnedMessage| {
            let e = e2.clone();
            // The pump holds each record until its due time.
            async move { e.handle_dlr(msg, wait::Sighting::Waited).await }
        });
        // A loop that stops with an error stops the others too (they drain and commit), so
        // the process exits and is restarted instead of running on without it.
        let stop_all = |r: Result<(), hookline_kafka::KafkaError>| {
            if r.is_err() {
                enricher.shutdown.cancel();
            }
            r
        };
        let (a, b, c) = tokio::join!(
            async { stop_all(main_loop.await) },
            async { stop_all(wait_loop.await) },
            async { stop_all(batcher.run().await) }
        );
        enricher.producer.flush(drain);
        a?;
        b?;
        c?;
        Ok(())
    });
    Ok(Running { task })
}
