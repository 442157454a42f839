//! Per-service Kafka record counters.

use hookline_telemetry::{counter_vec, histogram_vec, int_gauge_vec, Registry, LATENCY_BUCKETS};
use prometheus::{HistogramVec, IntCounterVec, IntGaugeVec};

/// `hookline_<service>_consumed_records_total{topic}`,
/// `hookline_<service>_produced_records_total{topic}`,
/// `hookline_<service>_consumer_lag_records{topic}` (from librdkafka statistics, every 5 s) and
/// `hookline_<service>_delayed_record_lateness_seconds{topic}`: for records with a due time
/// (retry tiers, the DLR wait topic), how long after it they were processed;
/// `hookline_<service>_poll_batch_records{consumer}`: records a consume loop took from its
/// consumer per wake-up (the batch its handlers then work on concurrently);
/// `hookline_<service>_already_handled_records_total{topic}`: records read again after a
/// rebalance handed their partition back at an older committed offset, which this process had
/// already handled durably, and skipped (see [`crate::pump`]);
/// `hookline_<service>_produce_batches_total{topic}` and
/// `hookline_<service>_produce_batch_records_total{topic}`: the batches (one partition's
/// records in one produce request) the service's producers sent and the records they carried,
/// from librdkafka's statistics every 5 s; their ratio is the records per produce batch, what
/// `linger.ms` buys.
#[derive(Clone)]
pub struct KafkaMetrics {
    pub consumed: IntCounterVec,
    pub already_handled: IntCounterVec,
    pub produced: IntCounterVec,
    pub lag: IntGaugeVec,
    pub lateness: HistogramVec,
    pub poll_batch: HistogramVec,
    pub produce_batches: IntCounterVec,
    pub produce_batch_records: IntCounterVec,
}

/// Buckets of [`KafkaMetrics::poll_batch`]: 1 to [`crate::pump::POLL_BATCH`] records.
const BATCH_BUCKETS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0];

impl KafkaMetrics {
    pub fn new(registry: &Registry, service: &str) -> Self {
        Self {
            consumed: counter_vec(
                registry,
                &format!("hookline_{service}_consumed_records_total"),
                "Records consumed, by topic.",
                &["topic"],
            ),
            already_handled: counter_vec(
                registry,
                &format!("hookline_{service}_already_handled_records_total"),
                "Records read again after a rebalance that this process had already handled durably, skipped.",
                &["topic"],
            ),
            produced: counter_vec(
                registry,
                &format!("hookline_{service}_produced_records_total"),
                "Records produced (acknowledged by the broker), by topic.",
                &["topic"],
            ),
            lag: int_gauge_vec(
                registry,
                &format!("hookline_{service}_consumer_lag_records"),
                "Records between the committed position and the end of the topic, summed over assigned partitions.",
                &["topic"],
            ),
            lateness: histogram_vec(
                registry,
                &format!("hookline_{service}_delayed_record_lateness_seconds"),
                "For records with a due time: processing time minus due time.",
                &["topic"],
                LATENCY_BUCKETS,
            ),
            poll_batch: histogram_vec(
                registry,
                &format!("hookline_{service}_poll_batch_records"),
                "Records a consume loop took from its consumer per wake-up.",
                &["consumer"],
                BATCH_BUCKETS,
            ),
            produce_batches: counter_vec(
                registry,
                &format!("hookline_{service}_produce_batches_total"),
                "Produce batches (one partition's records in one request) sent, by topic.",
                &["topic"],
            ),
            produce_batch_records: counter_vec(
                registry,
                &format!("hookline_{service}_produce_batch_records_total"),
                "Records in the produce batches sent, by topic.",
                &["topic"],
            ),
        }
    }
}
