//! The consumer context every Hookline consumer uses: it counts rebalances (the pump drops
//! per-partition state when the assignment changes), turns librdkafka's statistics into a
//! per-topic consumer-lag gauge, and tells readiness whether any broker is reachable.

use prometheus::{IntCounterVec, IntGaugeVec};
use rdkafka::client::ClientContext;
use rdkafka::consumer::{BaseConsumer, ConsumerContext, Rebalance, StreamConsumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::statistics::Statistics;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

/// A Hookline consumer.
pub type HooklineConsumer = StreamConsumer<HooklineContext>;

pub struct HooklineContext {
    generation: Arc<AtomicU64>,
    lag: IntGaugeVec,
    brokers: BrokerWatch,
}

/// Tells a readiness flag whether a client reaches a broker: cleared at once when librdkafka
/// reports all brokers down, and at each statistics report (`statistics.interval.ms`) set to
/// whether any broker's connection is up. Consumers ([`HooklineContext`]) and producers
/// ([`crate::Producer::reporting_brokers`]) both carry one: librdkafka serves a consumer's
/// callbacks only while it is polled, and a process whose handlers are all waiting (on a
/// produce the outage holds up, say) polls no more, but its producers are polled by their own
/// thread and hear of the outage at once.
#[derive(Clone, Default)]
pub struct BrokerWatch {
    flag: Arc<OnceLock<Arc<AtomicBool>>>,
    /// A producer's batch counters (batches, records), fed from each statistics report.
    batches: Arc<OnceLock<(IntCounterVec, IntCounterVec)>>,
}

impl BrokerWatch {
    /// From now on `flag` (a readiness component) follows the brokers; it starts true.
    pub fn report_to(&self, flag: Arc<AtomicBool>) {
        flag.store(true, Ordering::Relaxed);
        let _ = self.flag.set(flag);
    }

    fn on_error(&self, error: &KafkaError) {
        if error.rdkafka_error_code() == Some(RDKafkaErrorCode::AllBrokersDown) {
            if let Some(flag) = self.flag.get() {
                flag.store(false, Ordering::Relaxed);
            }
        }
    }

    /// From now on each statistics report adds the produce batches it covers (librdkafka's
    /// per-topic `batchcnt` window, reset at every report) to `batches` and their records to
    /// `records`, by topic.
    pub fn count_batches(&self, batches: IntCounterVec, records: IntCounterVec) {
        let _ = self.batches.set((batches, records));
    }

    fn on_stats(&self, statistics: &Statistics) {
        if let Some((batches, records)) = self.batches.get() {
            for (topic, t) in &statistics.topics {
                if t.batchcnt.cnt > 0 {
                    batches.with_label_values(&[topic]).inc_by(t.batchcnt.cnt as u64);
                    records.with_label_values(&[topic]).inc_by(t.batchcnt.sum.max(0) as u64);
                }
            }
        }
        if let Some(flag) = self.flag.get() {
            // Bootstrap entries have node id -1; the brokers learned from metadata have theirs.
            let up = statistics.brokers.values().any(|b| b.nodeid >= 0 && b.state == "UP");
            flag.store(up, Ordering::Relaxed);
        }
    }
}

impl ClientContext for BrokerWatch {
    fn error(&self, error: KafkaError, reason: &str) {
        self.on_error(&error);
        tracing::error!(%error, reason, "librdkafka error");
    }

    fn stats(&self, statistics: Statistics) {
        self.on_stats(&statistics);
    }
}

impl HooklineContext {
    pub fn new(lag: IntGaugeVec) -> Self {
        Self {
            generation: Arc::new(AtomicU64::new(0)),
            lag,
            brokers: BrokerWatch::default(),
        }
    }

    /// From now on `flag` (a readiness component) says whether this consumer reaches a broker
    /// ([`BrokerWatch`]). A process whose consumer has lost the cluster is not ready (its
    /// Service stops sending it HTTP traffic, and an operator sees why), and it is ready again
    /// by itself once a broker answers; it keeps running either way, since librdkafka
    /// reconnects on its own.
    pub fn report_brokers(&self, flag: Arc<AtomicBool>) {
        self.brokers.report_to(flag);
    }

    /// Incremented when a rebalance starts (partitions revoked) and when it ends (assigned).
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// A lease on the records received now: it lapses at the next rebalance.
    pub fn lease(&self) -> Lease {
        Lease {
            generation: self.generation.clone(),
            at: self.generation(),
        }
    }
}

/// Whether the partitions a record came from are still this consumer's, as they were when it
/// was received. Hookline's consumers use the eager range assignor, so every rebalance revokes
/// every partition first: once a rebalance has started, the record's partition may already be
/// another member's, which starts again from the committed offset. A handler that still waits
/// (for an endpoint's rate limit, say) checks the lease before acting, and leaves the record
/// to that owner instead of acting twice; the pump never commits a record of an earlier
/// generation, so nothing is lost.
#[derive(Clone, Debug)]
pub struct Lease {
    generation: Arc<AtomicU64>,
    at: u64,
}

impl Lease {
    /// A lease that never lapses (records handled outside a consumer group).
    pub fn permanent() -> Self {
        Self {
            generation: Arc::new(AtomicU64::new(0)),
            at: 0,
        }
    }

    pub fn is_current(&self) -> bool {
        self.generation.load(Ordering::Acquire) == self.at
    }
}

impl ClientContext for HooklineContext {
    fn error(&self, error: KafkaError, reason: &str) {
        self.brokers.error(error, reason);
    }

    fn stats(&self, statistics: Statistics) {
        self.brokers.on_stats(&statistics);
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
    fn pre_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(_) = rebalance {
            self.generation.fetch_add(1, Ordering::AcqRel);
        }
    }

    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        tracing::info!(?rebalance, "consumer group rebalance");
        self.generation.fetch_add(1, Ordering::AcqRel);
    }
}

/// A lease on the records `consumer` hands out now (see [`Lease`]).
pub fn lease(consumer: &HooklineConsumer) -> Lease {
    use rdkafka::consumer::Consumer as _;
    consumer.context().lease()
}
