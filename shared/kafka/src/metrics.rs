//! Per-service Kafka record counters.

use hookline_telemetry::{counter_vec, Registry};
use prometheus::IntCounterVec;

/// `hookline_<service>_consumed_records_total{topic}` and
/// `hookline_<service>_produced_records_total{topic}`.
#[derive(Clone)]
pub struct KafkaMetrics {
    pub consumed: IntCounterVec,
    pub produced: IntCounterVec,
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
        }
    }
}
