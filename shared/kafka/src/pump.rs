//! The consume loop every Hookline consumer runs.
//!
//! Records are handed to a handler concurrently (up to `max_in_flight`), but their offsets are
//! stored strictly in the order the records were received, and only after the handler said
//! the record's outcome is durable (produced downstream, written to Redis, quarantined). An
//! offset is therefore never committed past a record whose work is unfinished: a crash at any
//! point redelivers, never loses (at-least-once). Auto-commit then commits what was stored.
//!
//! On shutdown the loop stops receiving, waits up to the drain timeout for in-flight records,
//! stores what finished and commits synchronously.

use crate::{KafkaError, KafkaMetrics};
use futures::stream::{FuturesOrdered, StreamExt};
use hookline_telemetry::Runtime;
use prometheus::IntCounterVec;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::message::{Message, OwnedMessage};
use rdkafka::{Offset, TopicPartitionList};
use std::future::Future;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// What a handler reports about one record.
#[derive(Debug)]
pub enum Handled {
    /// The outcome is durable; the offset may be committed.
    Done,
    /// The outcome could not be made durable (the broker stayed unreachable past the
    /// producer's timeout). The pump stops without committing this record or any after it, and
    /// returns an error so the process exits and is restarted; the record is redelivered.
    Abort(String),
}

impl From<Result<(), KafkaError>> for Handled {
    /// A produce that succeeded made the outcome durable; one that failed (after librdkafka's
    /// own retries) did not.
    fn from(r: Result<(), KafkaError>) -> Self {
        match r {
            Ok(()) => Handled::Done,
            Err(e) => Handled::Abort(e.to_string()),
        }
    }
}

/// How a consume loop runs: its name (for logs), concurrency, and shutdown behaviour.
pub struct Pump {
    name: String,
    max_in_flight: usize,
    shutdown: CancellationToken,
    drain: Duration,
    consumed: IntCounterVec,
}

impl Pump {
    /// A loop named `name` running under `rt`, counting records in `metrics`.
    pub fn new(name: &str, max_in_flight: usize, rt: &Runtime, metrics: &KafkaMetrics) -> Self {
        Self {
            name: name.to_string(),
            max_in_flight: max_in_flight.max(1),
            shutdown: rt.shutdown.clone(),
            drain: rt.drain,
            consumed: metrics.consumed.clone(),
        }
    }

    /// Runs until the runtime's shutdown fires or a handler aborts.
    pub async fn run<F, Fut>(self, consumer: &StreamConsumer, handler: F) -> Result<(), KafkaError>
    where
        F: Fn(OwnedMessage) -> Fut,
        Fut: Future<Output = Handled>,
    {
        let Self {
            name,
            max_in_flight,
            shutdown,
            drain,
            consumed,
        } = self;
        let name = name.as_str();
        let mut in_flight = FuturesOrdered::new();
        loop {
            tokio::select! {
                biased;
                Some((pos, handled)) = in_flight.next(), if !in_flight.is_empty() => {
                    if let Handled::Abort(reason) = handled {
                        return Err(KafkaError::Other(format!("{name}: stopped without committing: {reason}")));
                    }
                    store(consumer, pos);
                }
                _ = shutdown.cancelled() => break,
                received = consumer.recv(), if in_flight.len() < max_in_flight => match received {
                    Ok(msg) => {
                        let msg = msg.detach();
                        consumed.with_label_values(&[msg.topic()]).inc();
                        let pos = (msg.topic().to_string(), msg.partition(), msg.offset());
                        let fut = handler(msg);
                        in_flight.push_back(async move { (pos, fut.await) });
                    }
                    // Transient broker and fetch errors: librdkafka recovers by itself.
                    Err(e) => {
                        tracing::warn!(consumer = name, error = %e, "kafka consume error");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                },
            }
        }

        tracing::info!(consumer = name, in_flight = in_flight.len(), "draining");
        let drained = tokio::time::timeout(drain, async {
            while let Some((pos, handled)) = in_flight.next().await {
                if let Handled::Abort(_) = handled {
                    return;
                }
                store(consumer, pos);
            }
        })
        .await;
        if drained.is_err() {
            tracing::warn!(consumer = name, "drain timeout: unfinished records will be redelivered");
        }
        if let Err(e) = consumer.commit_consumer_state(CommitMode::Sync) {
            // Nothing stored since the last auto-commit is reported as an error too.
            tracing::debug!(consumer = name, error = %e, "final commit");
        }
        Ok(())
    }
}

fn store(consumer: &StreamConsumer, (topic, partition, offset): (String, i32, i64)) {
    let mut tpl = TopicPartitionList::with_capacity(1);
    // The committed offset is the next record to read.
    if tpl
        .add_partition_offset(&topic, partition, Offset::Offset(offset + 1))
        .is_ok()
    {
        // Fails only when the partition was revoked meanwhile; its new owner redelivers.
        if let Err(e) = consumer.store_offsets(&tpl) {
            tracing::debug!(%topic, partition, offset, error = %e, "offset not stored");
        }
    }
}
