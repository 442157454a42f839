//! Per-service Kafka record counters.

use hookline_telemetry::{counter_vec, histogram_vec, int_gauge_vec, Registry, LATENCY_BUCKETS};
use prometheus::{HistogramVec, IntCounterVec, IntGaugeVec};

/// `hookline_<service>_consumed_records_total{topic}`,
/// `hookline_<service>_produced_records_total{topic}`,
/// `hookline_<service>_consumer_lag_records{topic}` (from librdkafka statistics, every 5 s) and
/// `hookline_<service>_delayed_record_lateness_seconds{topic}`: for records with a due time
/// (retry tiers, the DLR wait topic), how long after it they were processed.
#[derive(Clone)]
pub struct KafkaMetrics {
    pub consumed: IntCounterVec,
    pub produced: IntCounterVec,
    pub lag: IntGaugeVec,
    pub lateness: HistogramVec,
}

impl KafkaMetrics {
    pub fn new(registry: &Registry, service: &str) -> Self {
        Self {
            consumed: counter_vec(
                registry,
                &format!("hookline_{service}_consumed_records_total"),
                "Records consumed, by topic.",
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
        }
    }
}
