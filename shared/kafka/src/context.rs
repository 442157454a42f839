//! The consumer context every Hookline consumer uses: it counts rebalances (the pump drops
//! per-partition state when the assignment changes) and turns librdkafka's statistics into a
//! per-topic consumer-lag gauge.

use prometheus::IntGaugeVec;
use rdkafka::client::ClientContext;
use rdkafka::consumer::{BaseConsumer, ConsumerContext, Rebalance, StreamConsumer};
use rdkafka::statistics::Statistics;
use std::sync::atomic::{AtomicU64, Ordering};

/// A Hookline consumer.
pub type HooklineConsumer = StreamConsumer<HooklineContext>;

pub struct HooklineContext {
    generation: AtomicU64,
    lag: IntGaugeVec,
}

impl HooklineContext {
    pub fn new(lag: IntGaugeVec) -> Self {
        Self {
            generation: AtomicU64::new(0),
            lag,
        }
    }

    /// Incremented after every rebalance.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }
}

impl ClientContext for HooklineContext {
    fn stats(&self, statistics: Statistics) {
        for (topic, t) in &statistics.topics {
            // Partition -1 is librdkafka's internal unassigned partition; -1 lag means unknown.
            let lag: i64 = t
                .partitions
                .iter()
                .filter(|(id, p)| **id >= 0 && p.consumer_lag >= 0)
                .map(|(_, p)| p.consumer_lag)
                .sum();
            self.lag.with_label_values(&[topic]).set(lag);
        }
    }
}

impl ConsumerContext for HooklineContext {
    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        tracing::info!(?rebalance, "consumer group rebalance");
        self.generation.fetch_add(1, Ordering::AcqRel);
    }
}
