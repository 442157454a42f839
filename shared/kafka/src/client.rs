//! Client construction with the settings Hookline's delivery guarantees rely on.

use crate::context::{BrokerWatch, HooklineConsumer, HooklineContext};
use crate::KafkaError;
use crate::KafkaMetrics;
use hookline_config::{KafkaArgs, Topics};
use rdkafka::consumer::Consumer;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::util::Timeout;
use rdkafka::ClientConfig;
use serde::Serialize;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

/// How long a producer waits to batch records into one request. 10 ms, not 5: on the
/// benchmark machine it raised the rate the pipeline sustains from about 2,500 to 3,000
/// events/s (every produce request also wakes the consumers waiting on its topic) for about
/// 7 ms more median latency end to end; override with `HOOKLINE_KAFKA_OPTIONS=linger.ms=N`.
///
/// When records come slowly the linger is paid in full at every hop: with 6 partitions a
/// partition's batch rarely holds a second record below about 600 records/s per partition.
/// Re-measured for issue 29 (benchmarks/RESULTS.md, "latency when not busy"): `linger.ms=1`
/// with `fetch.min.bytes=1` takes p50 at 700 events/s from 45 to 12 ms and p99 from 65 to
/// 49 ms (a quiet run; 52 to 15-26 ms p50 beside other work), but at 4,000/s the services
/// spend 0.22 CPU-ms per event instead of 0.18 and the run no longer keeps up, and 5,500/s
/// (kept up with 10) falls behind. librdkafka's linger is fixed per
/// client; the one switch that skips it at run time, `flush()`, reaches librdkafka through
/// rdkafka with a zero timeout (`rd_kafka_flush(rk, 0)`), too short for the broker thread to
/// see it, so "linger only when busy" needs a direct call, which this workspace's
/// `unsafe_code = "forbid"` rules out for now.
pub const LINGER_MS: &str = "10";

/// How long the broker may hold a consumer's fetch to gather [`FETCH_MIN_BYTES`]. librdkafka's
/// defaults (answer as soon as one byte is there, else after 500 ms; we had 50 ms) made every
/// consumer fetch again for every few records, one request each way and a wake-up of the
/// consuming task per fetch. Holding each fetch up to 10 ms lets a fetch carry what 10 ms
/// brought. On the benchmark machine (benchmarks/RESULTS.md, tuning table) the highest rate
/// kept up rose from about 6,000 to 8,000 events/s and the four services' CPU per event fell
/// by 30 % at 8,000/s (the broker's by 40 %), for up to 10 ms more per consumer hop when the
/// pipeline is idle. Override with `HOOKLINE_KAFKA_OPTIONS=fetch.wait.max.ms=N`.
///
/// Below about 1 MiB per 10 ms a fetch always waits the whole 10 ms, so each of the three
/// consumer hops on an event's way (ingest, enrich, delivery) adds up to 10 ms when the
/// pipeline is not busy. `fetch.min.bytes=1` (the broker answers as soon as there is data)
/// takes p50 at 700 events/s from about 52 to 30 ms (beside other work), but the fetches then
/// follow the upstream
/// produce requests one by one: at 4,000/s the services spent 0.205 CPU-ms per event instead of
/// 0.18 and the broker 0.148 instead of 0.116 (issue 29, benchmarks/RESULTS.md).
pub const FETCH_WAIT_MAX_MS: &str = "10";

/// A fetch is answered early once this much is there (1 MiB): under load the broker answers
/// as soon as a fetch is worth it rather than at the deadline.
pub const FETCH_MIN_BYTES: &str = "1048576";

/// `session.timeout.ms` of a dynamic member: a killed process's partitions move to the
/// group's other members after 10 s.
pub const SESSION_TIMEOUT_MS: &str = "10000";

/// `session.timeout.ms` of a static member (`HOOKLINE_GROUP_INSTANCE_ID`), Kafka's own default.
/// A broker restart or a coordinator's failover takes 10-25 s; a consumer that hears nothing
/// from its coordinator for a session timeout drops its assignment and rejoins, and a static
/// member rejoins under a new member id while an offset commit under the old one may still be
/// on its way. The coordinator answers that commit `FENCED_INSTANCE_ID`, which librdkafka
/// treats as fatal: the consumer stops for good (librdkafka issue #3437). That is what stalled
/// the static-membership broker-restart fault test in one run of three; with 45 s the
/// session outlives the restart. A static member that dies keeps its partitions that long
/// (unless it comes back sooner, which is what static membership is for).
pub const STATIC_SESSION_TIMEOUT_MS: &str = "45000";

/// Everything needed to build clients for one cluster.
#[derive(Debug, Clone)]
pub struct KafkaSettings {
    pub brokers: String,
    /// Extra librdkafka settings (security, tuning), applied last so they win.
    pub options: Vec<(String, String)>,
    pub topics: Topics,
    pub create_topics: bool,
    pub partitions: i32,
    pub replication: i32,
    /// Static membership id for group consumers.
    pub group_instance_id: Option<String>,
    /// Topic-level configs of created topics: plain ones, and the compacted config topic.
    pub topic_configs: Vec<(String, String)>,
    pub compacted_topic_configs: Vec<(String, String)>,
}

impl KafkaSettings {
    pub fn from_args(args: &KafkaArgs) -> Result<Self, KafkaError> {
        Ok(Self {
            brokers: args.brokers.clone(),
            options: args.parsed_options().map_err(KafkaError::Settings)?,
            topics: args.topics.clone(),
            create_topics: args.create_topics,
            partitions: args.topic_partitions,
            replication: args.topic_replication,
            group_instance_id: args.group_instance_id.clone(),
            topic_configs: args.parsed_topic_configs().map_err(KafkaError::Settings)?,
            compacted_topic_configs: args.parsed_compacted_topic_configs().map_err(KafkaError::Settings)?,
        })
    }

    /// Settings for `brokers` with default topics under `prefix` (tests, embedded mode).
    pub fn new(brokers: impl Into<String>, prefix: &str) -> Self {
        Self {
            brokers: brokers.into(),
            options: vec![],
            topics: Topics::with_prefix(prefix),
            create_topics: true,
            partitions: 3,
            replication: 1,
            group_instance_id: None,
            topic_configs: vec![],
            compacted_topic_configs: vec![],
        }
    }

    /// The one way a client's settings are built: what every client of this cluster shares
    /// (`client.id`, the brokers), then the client's `own` settings, then the operator's
    /// `options` (`HOOKLINE_KAFKA_OPTIONS`) last, so that on a repeated key the operator wins,
    /// as README promises.
    pub fn client(&self, own: &[(&str, &str)]) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("client.id", "hookline").set("bootstrap.servers", &self.brokers);
        for (k, v) in own {
            c.set(*k, *v);
        }
        for (k, v) in &self.options {
            c.set(k, v);
        }
        c
    }

    /// An idempotent producer with `acks=all`: a record reported as sent is durable and
    /// written once, which is what lets a consumer commit its input afterwards.
    ///
    /// `linger.ms` ([`LINGER_MS`]) trades a few milliseconds per hop for fewer, larger produce
    /// requests; benchmarks/RESULTS.md has the measurements behind the value.
    pub fn producer(&self) -> Result<Producer, KafkaError> {
        let c = self.client(&[
            ("enable.idempotence", "true"),
            ("acks", "all"),
            ("linger.ms", LINGER_MS),
            ("compression.type", "lz4"),
            ("message.timeout.ms", "120000"),
            ("statistics.interval.ms", "5000"),
        ]);
        let brokers = BrokerWatch::default();
        Ok(Producer {
            inner: c.create_with_context(brokers.clone())?,
            produced: None,
            brokers,
        })
    }

    /// A transactional producer (`transactional.id` = `id`), initialised: what a consumer uses
    /// to commit its output records and its input offsets atomically.
    pub async fn transactional_producer(&self, id: &str) -> Result<Producer, KafkaError> {
        let c = self.client(&[
            ("transactional.id", id),
            ("enable.idempotence", "true"),
            ("acks", "all"),
            ("linger.ms", LINGER_MS),
            ("transaction.timeout.ms", "10000"),
            ("statistics.interval.ms", "5000"),
        ]);
        let brokers = BrokerWatch::default();
        let producer: FutureProducer<BrokerWatch> = c.create_with_context(brokers.clone())?;
        let p = producer.clone();
        tokio::task::spawn_blocking(move || {
            use rdkafka::producer::Producer as _;
            p.init_transactions(std::time::Duration::from_secs(30))
        })
        .await
        .map_err(|e| KafkaError::Other(e.to_string()))??;
        Ok(Producer {
            inner: producer,
            produced: None,
            brokers,
        })
    }

    /// A consumer in `group` subscribed to `topics`. Offsets are committed automatically but
    /// only those explicitly stored, and the pump stores an offset only once the record's
    /// outcome is durable: at-least-once.
    ///
    /// The range assignor is set explicitly: it gives one consumer the same partition number of
    /// every subscribed topic with the same partition count, which is how the dispatch topic
    /// and the retry tiers keep one owner per endpoint.
    pub fn consumer(
        &self,
        group: &str,
        topics: &[&str],
        metrics: &KafkaMetrics,
    ) -> Result<HooklineConsumer, KafkaError> {
        let mut own = vec![
            ("group.id", group),
            ("enable.auto.commit", "true"),
            ("auto.commit.interval.ms", "1000"),
            ("enable.auto.offset.store", "false"),
            ("auto.offset.reset", "earliest"),
            ("fetch.wait.max.ms", FETCH_WAIT_MAX_MS),
            ("fetch.min.bytes", FETCH_MIN_BYTES),
            ("heartbeat.interval.ms", "1000"),
            ("partition.assignment.strategy", "range"),
            ("statistics.interval.ms", "5000"),
        ];
        match &self.group_instance_id {
            Some(id) => {
                own.push(("group.instance.id", id));
                own.push(("session.timeout.ms", STATIC_SESSION_TIMEOUT_MS));
            }
            None => own.push(("session.timeout.ms", SESSION_TIMEOUT_MS)),
        }
        let c = self.client(&own);
        let consumer: HooklineConsumer = c.create_with_context(HooklineContext::new(metrics.lag.clone()))?;
        consumer.subscribe(topics)?;
        Ok(consumer)
    }
}

/// A cloneable handle on one producer (librdkafka producers are thread-safe and meant to be
/// shared).
#[derive(Clone)]
pub struct Producer {
    inner: FutureProducer<BrokerWatch>,
    produced: Option<prometheus::IntCounterVec>,
    brokers: BrokerWatch,
}

impl Producer {
    /// Counts acknowledged records in `metrics.produced`, and the produce batches and their
    /// records in `metrics.produce_batches` and `metrics.produce_batch_records`.
    pub fn instrumented(mut self, metrics: &crate::KafkaMetrics) -> Self {
        self.produced = Some(metrics.produced.clone());
        self.brokers
            .count_batches(metrics.produce_batches.clone(), metrics.produce_batch_records.clone());
        self
    }

    /// From now on `flag` (a readiness component) says whether this producer reaches a broker
    /// ([`BrokerWatch`]): it hears of an outage even while every consumer of the process is
    /// busy, since librdkafka polls producers on their own thread.
    pub fn reporting_brokers(self, flag: Arc<AtomicBool>) -> Self {
        self.brokers.report_to(flag);
        self
    }

    /// Sends one record and waits until the broker has it (or librdkafka gave up after
    /// `message.timeout.ms`).
    pub async fn send(
        &self,
        topic: &str,
        key: Option<&[u8]>,
        payload: Option<&[u8]>,
        headers: &[(&str, &[u8])],
    ) -> Result<(), KafkaError> {
        self.send_at(topic, key, payload, headers).await.map(|_| ())
    }

    /// [`Producer::send`], returning where the record landed: its partition and offset (the
    /// config writer waits for its own record to be applied in topic order).
    pub async fn send_at(
        &self,
        topic: &str,
        key: Option<&[u8]>,
        payload: Option<&[u8]>,
        headers: &[(&str, &[u8])],
    ) -> Result<(i32, i64), KafkaError> {
        let mut record: FutureRecord<'_, [u8], [u8]> = FutureRecord::to(topic);
        if let Some(k) = key {
            record = record.key(k);
        }
        if let Some(p) = payload {
            record = record.payload(p);
        }
        if !headers.is_empty() {
            let mut h = OwnedHeaders::new_with_capacity(headers.len());
            for (k, v) in headers {
                h = h.insert(Header {
                    key: k,
                    value: Some(*v),
                });
            }
            record = record.headers(h);
        }
        let delivery = self
            .inner
            .send(record, Timeout::Never)
            .await
            .map_err(|(e, _)| KafkaError::Client(e))?;
        if let Some(c) = &self.produced {
            c.with_label_values(&[topic]).inc();
        }
        Ok((delivery.partition, delivery.offset))
    }

    /// Sends `value` as JSON.
    pub async fn send_json<T: Serialize>(
        &self,
        topic: &str,
        key: &str,
        value: &T,
        headers: &[(&str, &[u8])],
    ) -> Result<(), KafkaError> {
        let payload = serde_json::to_vec(value)?;
        self.send(topic, Some(key.as_bytes()), Some(&payload), headers).await
    }

    /// The librdkafka producer, for what this wrapper does not cover (transactions).
    pub fn client(&self) -> &FutureProducer<BrokerWatch> {
        &self.inner
    }

    /// Waits up to `timeout` for queued records to be sent (used on shutdown).
    pub fn flush(&self, timeout: std::time::Duration) {
        use rdkafka::producer::Producer as _;
        let _ = self.inner.flush(Timeout::After(timeout));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// README: `HOOKLINE_KAFKA_OPTIONS` are applied last and override everything, for every
    /// client (the config follower and the admin client were once built the other way round).
    #[test]
    fn operator_options_override_every_clients_own_settings() {
        let mut s = KafkaSettings::new("127.0.0.1:9", "t.");
        s.options = vec![
            ("fetch.wait.max.ms".into(), "7".into()),
            ("client.id".into(), "ops".into()),
        ];
        let c = s.client(&[("fetch.wait.max.ms", "100"), ("group.id", "g")]);
        assert_eq!(c.get("fetch.wait.max.ms"), Some("7"));
        assert_eq!(c.get("client.id"), Some("ops"));
        assert_eq!(
            c.get("group.id"),
            Some("g"),
            "a setting the operator did not name stays"
        );
        assert_eq!(c.get("bootstrap.servers"), Some("127.0.0.1:9"));
    }
}
