//! Ingest: the edge of the pipeline.
//!
//! Reads the gateway's accepted-message stream, carrier DLR feeds, clicks and inbound SMS from
//! Kafka (whose ACLs say who may write them), and the same inputs plus conversions and
//! revoked clicks over HTTP ([`http`]), where every request must carry an ingest credential
//! that grants its kind ([`credentials`]); validates and normalises them ([`normalise`],
//! [`smpp`]) and produces them to the event topics for enrich. A Kafka record that cannot be
//! parsed is quarantined with its reason; an HTTP one is answered `400` with the same reason
//! code.

pub mod credentials;
pub mod http;
mod metrics;
pub mod normalise;
pub mod smpp;

use credentials::Scope;
use hookline_kafka::{
    ConfigHandle, Handled, KafkaMetrics, KafkaSettings, Message, OwnedMessage, Producer, Pump, Quarantine,
};
use hookline_model::IngestKind;
use hookline_store::KeyUsage;
use hookline_telemetry::Runtime;
use metrics::Metrics;
use std::net::SocketAddr;
use std::sync::Arc;

/// Ingest settings.
#[derive(Debug, Clone, clap::Args)]
pub struct IngestConfig {
    /// Address of the HTTP edge (`/v1/messages`, `/v1/dlr`).
    #[arg(
        long = "ingest-http-addr",
        id = "ingest_http_addr",
        env = "HOOKLINE_INGEST_HTTP_ADDR",
        default_value = "0.0.0.0:8081"
    )]
    pub http_addr: SocketAddr,
    /// Consumer group of the raw-topic consumer.
    #[arg(
        long = "ingest-group",
        id = "ingest_group",
        env = "HOOKLINE_INGEST_GROUP",
        default_value = "hookline-ingest"
    )]
    pub group: String,
    /// Records processed concurrently by one consumer.
    #[arg(
        long = "ingest-max-in-flight",
        id = "ingest_max_in_flight",
        env = "HOOKLINE_INGEST_MAX_IN_FLIGHT",
        default_value_t = 512
    )]
    pub max_in_flight: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error(transparent)]
    Kafka(#[from] hookline_kafka::KafkaError),
    #[error("binding the HTTP edge: {0}")]
    Bind(#[from] std::io::Error),
}

/// A running ingest service.
pub struct Running {
    pub http_addr: SocketAddr,
    pub task: tokio::task::JoinHandle<Result<(), IngestError>>,
}

/// Which kind of record a raw input is.
#[derive(Debug, Clone, Copy)]
pub enum InputKind {
    AcceptedMessage,
    CarrierDlr,
    Click,
    Inbound,
}

impl InputKind {
    fn label(self) -> &'static str {
        match self {
            Self::AcceptedMessage => "accepted_message",
            Self::CarrierDlr => "carrier_dlr",
            Self::Click => "click",
            Self::Inbound => "inbound",
        }
    }

    /// What an ingest credential must grant to send this kind.
    pub fn grant(self) -> IngestKind {
        match self {
            Self::AcceptedMessage => IngestKind::Messages,
            Self::CarrierDlr => IngestKind::Dlr,
            Self::Click => IngestKind::Clicks,
            Self::Inbound => IngestKind::Inbound,
        }
    }
}

/// Validation and forwarding, shared by the Kafka consumer and the HTTP edge.
#[derive(Clone)]
pub struct Ingestor {
    producer: Producer,
    quarantine: Quarantine,
    messages_topic: String,
    dlr_topic: String,
    clicks_topic: String,
    conversions_topic: String,
    inbound_topic: String,
    revoked_topic: String,
    config: ConfigHandle,
    usage: KeyUsage,
    metrics: Arc<Metrics>,
}

/// Outcome of ingesting one record.
#[derive(Debug, thiserror::Error)]
pub enum IngestFailure {
    #[error(transparent)]
    Invalid(#[from] normalise::InputError),
    #[error("could not produce: {0}")]
    Produce(#[from] hookline_kafka::KafkaError),
    /// No ingest credential, or one that is unknown or revoked.
    #[error("missing or invalid ingest credential")]
    Unauthorized,
    /// The credential does not grant this input, or is bound to another workspace or carrier
    /// connection than the record names.
    #[error("{0}")]
    Forbidden(String),
    /// The config (and so the credentials) is not replayed yet.
    #[error("not ready: the configuration is still loading")]
    NotReady,
}

impl Ingestor {
    /// Validates `raw` and produces the normalised record. Validation errors are returned, not
    /// quarantined: the caller decides (Kafka quarantines, HTTP answers 400).
    ///
    /// `received_at` stands in for the event time an input leaves out (a DLR's `done_at`, a
    /// click's `clicked_at`, an inbound's `received_at`), and those times are part of the
    /// event's id. So a record read again after a crash or a broker restart must get the same
    /// value: the Kafka consumer passes the record's own timestamp, never the clock, or the
    /// re-read would become a second event with its own webhook id.
    ///
    /// `scope` is the HTTP caller's credential binding ([`Scope`]); Kafka records have none
    /// (the topic's ACL said who may write them).
    pub async fn ingest(
        &self,
        kind: InputKind,
        raw: &[u8],
        received_at: chrono::DateTime<chrono::Utc>,
        scope: Option<&Scope>,
    ) -> Result<(), IngestFailure> {
        let (label, topic, key, value) = match kind {
            InputKind::AcceptedMessage => {
                let mut m = normalise::accepted_message(raw)?;
                if let Some(s) = scope {
                    s.message(&mut m)?;
                }
                (
                    "accepted_message",
                    &self.messages_topic,
                    m.carrier_message_id.clone(),
                    serde_json::to_vec(&m),
                )
            }
            InputKind::CarrierDlr => {
                let mut d = normalise::carrier_dlr(raw, received_at)?;
                if let Some(s) = scope {
                    s.dlr(&mut d)?;
                }
                (
                    "carrier_dlr",
                    &self.dlr_topic,
                    d.carrier_message_id.clone(),
                    serde_json::to_vec(&d),
                )
            }
            InputKind::Click => {
                let mut c = normalise::click(raw, received_at)?;
                if let Some(s) = scope {
                    s.click(&mut c);
                }
                ("click", &self.clicks_topic, c.click_id.clone(), serde_json::to_vec(&c))
            }
            InputKind::Inbound => {
                let i = normalise::inbound(raw, received_at)?;
                if let Some(s) = scope {
                    s.inbound(&i)?;
                }
                ("inbound", &self.inbound_topic, i.from.clone(), serde_json::to_vec(&i))
            }
        };
        let value = value.map_err(hookline_kafka::KafkaError::from)?;
        normalise::check_record_size(&value)?;
        self.producer
            .send(topic, Some(key.as_bytes()), Some(&value), &[])
            .await?;
        self.metrics.records.with_label_values(&[label, "accepted"]).inc();
        Ok(())
    }

    /// Validates a conversion (tracker postback or API action) of an authenticated caller
    /// and produces it.
    pub async fn ingest_conversion(
        &self,
        fields: &serde_json::Map<String, serde_json::Value>,
        scope: &Scope,
    ) -> Result<(), IngestFailure> {
        let mut c = normalise::conversion(fields, chrono::Utc::now())?;
        scope.conversion(&mut c);
        let key = c.click_id.clone().or_else(|| c.message_id.clone()).unwrap_or_default();
        let value = serde_json::to_vec(&c).map_err(hookline_kafka::KafkaError::from)?;
        normalise::check_record_size(&value)?;
        self.producer
            .send(&self.conversions_topic, Some(key.as_bytes()), Some(&value), &[])
            .await?;
        self.metrics
            .records
            .with_label_values(&["conversion", "accepted"])
            .inc();
        Ok(())
    }

    /// Validates a revoked click of an authenticated caller and produces it to the topic
    /// bot detection writes (keyed by workspace, as enrich's batcher expects).
    pub async fn ingest_revocation(&self, raw: &[u8], scope: &Scope) -> Result<(), IngestFailure> {
        let r = normalise::revocation(raw)?;
        scope.revocation(&r)?;
        let value = serde_json::to_vec(&r).map_err(hookline_kafka::KafkaError::from)?;
        normalise::check_record_size(&value)?;
        self.producer
            .send(&self.revoked_topic, Some(r.workspace_id.as_bytes()), Some(&value), &[])
            .await?;
        self.metrics
            .records
            .with_label_values(&["revocation", "accepted"])
            .inc();
        Ok(())
    }

    /// The caller's scope if `token` is a live credential granting `kind` (see
    /// [`credentials::authenticate`]); notes the credential's use for the key listings.
    pub fn authenticate(&self, token: Option<&str>, kind: IngestKind) -> Result<Scope, IngestFailure> {
        let scope = credentials::authenticate(&self.config, token, kind)?;
        self.usage.touch(scope.key_id());
        Ok(scope)
    }

    /// Handles one raw Kafka record: forward, or quarantine with the reason.
    async fn handle_record(&self, kind: InputKind, msg: OwnedMessage) -> Handled {
        let raw = msg.payload().unwrap_or_default();
        match self.ingest(kind, raw, record_time(&msg), None).await {
            Ok(()) => Handled::Done,
            Err(IngestFailure::Invalid(e)) => {
                let label = kind.label();
                self.metrics.records.with_label_values(&[label, "quarantined"]).inc();
                self.quarantine
                    .put_record(e.reason(), &e.to_string(), &msg)
                    .await
                    .into()
            }
            Err(IngestFailure::Produce(e)) => Handled::Abort(e.to_string()),
            // Only the HTTP edge authenticates; a Kafka record has no scope to break.
            Err(e @ (IngestFailure::Unauthorized | IngestFailure::Forbidden(_) | IngestFailure::NotReady)) => {
                Handled::Abort(e.to_string())
            }
        }
    }
}

/// Starts the raw-topic consumer and the HTTP edge, which authenticates callers against
/// `config` and records credential use in `store`.
pub async fn start(
    kafka: &KafkaSettings,
    store: hookline_store::Store,
    config: ConfigHandle,
    cfg: &IngestConfig,
    rt: &Runtime,
) -> Result<Running, IngestError> {
    let metrics = Arc::new(Metrics::new(&rt.registry));
    let kafka_metrics = KafkaMetrics::new(&rt.registry, "ingest");
    let producer = kafka
        .producer()?
        .instrumented(&kafka_metrics)
        .reporting_brokers(rt.readiness.component("ingest producer: kafka brokers reachable"));
    let topics = &kafka.topics;
    let ingestor = Ingestor {
        producer: producer.clone(),
        quarantine: Quarantine::new(producer.clone(), topics.quarantine(), "ingest", rt),
        messages_topic: topics.messages(),
        dlr_topic: topics.dlr(),
        clicks_topic: topics.clicks(),
        conversions_topic: topics.conversions(),
        inbound_topic: topics.inbound(),
        revoked_topic: topics.clicks_revoked(),
        config,
        usage: KeyUsage::new(store),
        metrics,
    };

    let accepted_topic = topics.accepted();
    let dlr_topic = topics.carrier_dlr();
    let link_clicks_topic = topics.link_clicks();
    let sms_inbound_topic = topics.sms_inbound();
    let consumer = kafka.consumer(
        &cfg.group,
        &[&accepted_topic, &dlr_topic, &link_clicks_topic, &sms_inbound_topic],
        &kafka_metrics,
    )?;

    let http = http::serve(cfg.http_addr, ingestor.clone(), rt).await?;
    let ready = rt.readiness.component("ingest");
    let pump = Pump::new("ingest", cfg.max_in_flight, rt, &kafka_metrics);
    let drain = rt.drain;
    let task = tokio::spawn(async move {
        ready.store(true, std::sync::atomic::Ordering::Relaxed);
        let handler = |msg: OwnedMessage| {
            let kind = if msg.topic() == accepted_topic {
                InputKind::AcceptedMessage
            } else if msg.topic() == link_clicks_topic {
                InputKind::Click
            } else if msg.topic() == sms_inbound_topic {
                InputKind::Inbound
            } else {
                InputKind::CarrierDlr
            };
            let ingestor = ingestor.clone();
            async move { ingestor.handle_record(kind, msg).await }
        };
        let result = pump.run(&consumer, handler).await;
        producer.flush(drain);
        let _ = http.task.await;
        Ok(result?)
    });
    Ok(Running {
        http_addr: http.addr,
        task,
    })
}

/// The record's timestamp (the producer's create time, or the broker's append time), which
/// stays the same however often the record is read; the clock only for a record without one.
fn record_time(msg: &OwnedMessage) -> chrono::DateTime<chrono::Utc> {
    msg.timestamp()
        .to_millis()
        .and_then(chrono::DateTime::from_timestamp_millis)
        .unwrap_or_else(chrono::Utc::now)
}
