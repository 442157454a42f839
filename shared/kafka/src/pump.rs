//! The consume loop every Hookline consumer runs.
//!
//! Records are handed to a handler concurrently (up to `max_in_flight` unfinished at once) and
//! finish in any order, but a partition's offset is stored only up to its lowest unfinished
//! record, and only after the handler said the outcome is durable (produced downstream,
//! written to Redis, quarantined). An offset is therefore never committed past a record whose
//! work is unfinished: a crash at any point redelivers, never loses (at-least-once).
//! Auto-commit then commits what was stored. A slow record holds back its partition's commit
//! point, never the consumer: finished records do not count against `max_in_flight`.
//!
//! The loop works in batches, so that one wake-up of the consuming task serves every record
//! that is ready: after a record arrives it takes what else the consumer has already fetched
//! (up to [`POLL_BATCH`] or `max_in_flight`), after a handler finishes it collects every other
//! finished one, and it stores the offsets of all partitions that advanced in one call. Topics
//! are interned, so the per-record bookkeeping allocates nothing.
//!
//! A record this process already finished durably before a rebalance handed its partition
//! back at an older committed offset is skipped, not handled again
//! ([`commits::Commits::handled_before`]).
//!
//! On shutdown the loop stops receiving, waits up to the drain timeout for in-flight records,
//! stores what finished and commits synchronously.

mod commits;

use crate::context::HooklineConsumer;
use crate::{headers, KafkaError, KafkaMetrics};
use commits::{Commits, Pos, TopicIds};
use futures::stream::{FuturesUnordered, StreamExt};
use futures::FutureExt;
use hookline_telemetry::Runtime;
use rdkafka::consumer::{CommitMode, Consumer};
use rdkafka::message::{Message, OwnedMessage};
use rdkafka::{Offset, TopicPartitionList};
use std::collections::{HashMap, HashSet, VecDeque};
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

impl Handled {
    /// The store stayed unreachable until shutdown: leave the record uncommitted.
    pub fn store_unavailable() -> Self {
        Handled::Abort("shutdown while the store was unavailable".into())
    }
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
    metrics: KafkaMetrics,
    /// Where the consumer reports whether it reaches a broker (see
    /// [`crate::context::HooklineContext::report_brokers`]).
    readiness: hookline_telemetry::Readiness,
}

/// A partition: its topic's index in [`TopicIds`], and its number.
type Tp = (u16, i32);

/// Records not due yet kept per partition before it is paused.
const HELD_PER_PARTITION: usize = 512;

/// Most records taken from the consumer in one wake-up of the loop.
pub const POLL_BATCH: usize = 256;

/// Per-partition bookkeeping for records with a due time.
#[derive(Default)]
struct Delays {
    /// The next offset to accept per partition: anything below it is a copy re-fetched after
    /// a seek and is skipped.
    next: HashMap<Tp, i64>,
    /// Records waiting for their due time, per partition, in offset order. Within a retry tier
    /// due times grow with the offset, so only the head needs a timer.
    held: HashMap<Tp, VecDeque<(i64, OwnedMessage)>>,
    /// Partitions paused because their queue is full; resumed (after a seek back to `next`)
    /// once it has drained.
    paused: HashSet<Tp>,
    generation: u64,
}

impl Pump {
    /// A loop named `name` running under `rt`, counting records in `metrics`.
    pub fn new(name: &str, max_in_flight: usize, rt: &Runtime, metrics: &KafkaMetrics) -> Self {
        Self {
            name: name.to_string(),
            max_in_flight: max_in_flight.max(1),
            shutdown: rt.shutdown.clone(),
            drain: rt.drain,
            metrics: metrics.clone(),
            readiness: rt.readiness.clone(),
        }
    }

    /// Runs until the runtime's shutdown fires or a handler aborts.
    ///
    /// A record with a [`headers::DUE_AT_MS`] header in the future is not handed over yet: it
    /// is held (with the records after it in its partition) until it is due, while every
    /// other partition keeps flowing and the consumer keeps polling, so
    /// `max.poll.interval.ms` is never exceeded. At most 512 records are held per partition;
    /// then the partition is paused. librdkafka drops what it had prefetched for a paused
    /// partition and resumes from its fetch position, so before resuming the partition is
    /// seeked back to the first record not held. Held records are not committed: after a
    /// crash they are read again.
    pub async fn run<F, Fut>(self, consumer: &HooklineConsumer, handler: F) -> Result<(), KafkaError>
    where
        F: Fn(OwnedMessage) -> Fut,
        Fut: Future<Output = Handled>,
    {
        let Self {
            name,
            max_in_flight,
            shutdown,
            drain,
            metrics,
            readiness,
        } = self;
        let name = name.as_str();
        consumer
            .context()
            .report_brokers(readiness.component(&format!("{name}: kafka brokers reachable")));
        // One closure, so every in-flight future has the same type.
        let start = |msg: OwnedMessage, tp: Tp| {
            let pos = Pos {
                tp,
                offset: msg.offset(),
                generation: consumer.context().generation(),
            };
            let fut = handler(msg);
            async move { (pos, fut.await) }
        };
        let mut topics = TopicIds::new(&metrics);
        let poll_batch = metrics.poll_batch.with_label_values(&[name]);
        let mut in_flight = FuturesUnordered::new();
        let mut commits = Commits::default();
        let mut delays = Delays::default();
        loop {
            let next_due = delays.next_due();
            let wake = sleep_until_ms(next_due);
            tokio::select! {
                biased;
                Some(first) = in_flight.next(), if !in_flight.is_empty() => {
                    // This one and every other finished handler, then one offset store.
                    let mut finished = Some(first);
                    while let Some((pos, handled)) = finished.take() {
                        if let Handled::Abort(reason) = handled {
                            commits.store(consumer, &topics);
                            return Err(KafkaError::Other(format!("{name}: stopped without committing: {reason}")));
                        }
                        commits.finished(consumer, pos);
                        finished = in_flight.next().now_or_never().flatten();
                    }
                    commits.store(consumer, &topics);
                }
                _ = shutdown.cancelled() => break,
                _ = wake, if next_due.is_some() && in_flight.len() < max_in_flight => {
                    delays.reset_on_rebalance(consumer, &topics);
                    while in_flight.len() < max_in_flight {
                        let Some((tp, msg)) = delays.pop_due(consumer, &topics) else { break };
                        observe_lateness(&metrics, &msg);
                        commits.started(consumer, tp, &msg);
                        in_flight.push(start(msg, tp));
                    }
                }
                received = consumer.recv(), if in_flight.len() < max_in_flight => match received {
                    Ok(msg) => {
                        // This record and whatever else the consumer has fetched already.
                        let (mut taken, mut skipped) = (0, 0);
                        let mut next = Some(msg.detach());
                        while let Some(msg) = next.take() {
                            taken += 1;
                            delays.reset_on_rebalance(consumer, &topics);
                            let tp = topics.tp(&msg);
                            if commits.handled_before(tp, msg.offset()) {
                                // Handled already, before a rebalance: finished at once.
                                metrics.already_handled.with_label_values(&[msg.topic()]).inc();
                                commits.started(consumer, tp, &msg);
                                let generation = consumer.context().generation();
                                commits.finished(consumer, Pos { tp, offset: msg.offset(), generation });
                                skipped += 1;
                            } else if let Some(msg) = delays.accept(consumer, tp, msg, &topics) {
                                observe_lateness(&metrics, &msg);
                                commits.started(consumer, tp, &msg);
                                in_flight.push(start(msg, tp));
                            }
                            if in_flight.len() >= max_in_flight || taken >= POLL_BATCH {
                                break;
                            }
                            // An error left in the queue is met by the next `recv`.
                            next = match consumer.recv().now_or_never() {
                                Some(Ok(m)) => Some(m.detach()),
                                _ => None,
                            };
                        }
                        if skipped > 0 {
                            commits.store(consumer, &topics);
                        }
                        poll_batch.observe(taken as f64);
                    }
                    // A fatal error (a static member fenced by its own rejoin, say) leaves the
                    // consumer dead for good: stop, so the process exits and is restarted,
                    // rather than run on consuming nothing.
                    Err(e @ rdkafka::error::KafkaError::MessageConsumptionFatal(_)) => {
                        commits.store(consumer, &topics);
                        return Err(KafkaError::Other(format!("{name}: fatal consumer error: {e}")));
                    }
                    // Transient broker and fetch errors: librdkafka recovers by itself.
                    Err(e) => {
                        tracing::warn!(consumer = name, error = %e, "kafka consume error");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                },
            }
        }

        // Held records are not committed: they are fetched again after a restart.
        tracing::info!(
            consumer = name,
            in_flight = in_flight.len(),
            held = delays.held.values().map(VecDeque::len).sum::<usize>(),
            "draining"
        );
        let drained = tokio::time::timeout(drain, async {
            while let Some((pos, handled)) = in_flight.next().await {
                if let Handled::Abort(_) = handled {
                    return;
                }
                commits.finished(consumer, pos);
            }
        })
        .await;
        commits.store(consumer, &topics);
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

impl Delays {
    /// After a rebalance the assignment restarts from committed offsets: forget positions and
    /// held records (they are fetched again) and lift any pause we had set.
    fn reset_on_rebalance(&mut self, consumer: &HooklineConsumer, topics: &TopicIds) {
        let generation = consumer.context().generation();
        if generation == self.generation {
            return;
        }
        self.generation = generation;
        for tp in self.paused.drain() {
            let _ = consumer.resume(&tpl(topics.name(tp), tp.1));
        }
        self.held.clear();
        self.next.clear();
    }

    /// Takes a received record: returns it when it is to be handled now, or keeps it (not
    /// due yet, or behind one that is not) or drops it (a copy re-fetched after a seek, or
    /// received for a partition that is paused and will be re-read from `next`).
    fn accept(
        &mut self,
        consumer: &HooklineConsumer,
        tp: Tp,
        msg: OwnedMessage,
        topics: &TopicIds,
    ) -> Option<OwnedMessage> {
        if self.paused.contains(&tp) || self.next.get(&tp).is_some_and(|next| msg.offset() < *next) {
            return None;
        }
        let due = headers::get_i64(msg.headers(), headers::DUE_AT_MS);
        let queue = self.held.entry(tp).or_default();
        if queue.is_empty() && due.is_none_or(|d| d <= now_ms()) {
            self.next.insert(tp, msg.offset() + 1);
            topics.count_consumed(tp);
            return Some(msg);
        }
        if queue.len() >= HELD_PER_PARTITION {
            // Full: stop fetching; this record is read again after the seek on resume.
            let topic = topics.name(tp);
            if let Err(e) = consumer.pause(&tpl(topic, tp.1)) {
                tracing::warn!(%topic, partition = tp.1, error = %e, "pause failed");
            }
            self.next.insert(tp, msg.offset());
            self.paused.insert(tp);
            return None;
        }
        self.next.insert(tp, msg.offset() + 1);
        topics.count_consumed(tp);
        queue.push_back((due.unwrap_or_default(), msg));
        None
    }

    /// The earliest due time of a held record.
    fn next_due(&self) -> Option<i64> {
        self.held.values().filter_map(|q| q.front().map(|(due, _)| *due)).min()
    }

    /// The earliest held record if it is due, with its partition. Resumes its partition once
    /// the queue is empty.
    fn pop_due(&mut self, consumer: &HooklineConsumer, topics: &TopicIds) -> Option<(Tp, OwnedMessage)> {
        let now = now_ms();
        let tp = self
            .held
            .iter()
            .filter_map(|(tp, q)| q.front().filter(|(due, _)| *due <= now).map(|(due, _)| (*due, *tp)))
            .min()?
            .1;
        let queue = self.held.get_mut(&tp)?;
        let (_, msg) = queue.pop_front()?;
        if queue.is_empty() && self.paused.remove(&tp) {
            let (topic, partition) = (topics.name(tp), &tp.1);
            let next = self.next.get(&tp).copied().unwrap_or(msg.offset() + 1);
            // Asynchronous seek (zero timeout): it applies before fetching resumes. librdkafka
            // dropped what it had prefetched when the partition was paused.
            if let Err(e) = consumer.seek(topic, *partition, Offset::Offset(next), Duration::ZERO) {
                tracing::warn!(%topic, partition, error = %e, "seek before resume failed");
            }
            if let Err(e) = consumer.resume(&tpl(topic, *partition)) {
                tracing::warn!(%topic, partition, error = %e, "resume failed");
            }
        }
        Some((tp, msg))
    }
}

fn observe_lateness(metrics: &KafkaMetrics, msg: &OwnedMessage) {
    if let Some(due) = headers::get_i64(msg.headers(), headers::DUE_AT_MS) {
        let late_ms = (now_ms() - due).max(0);
        metrics
            .lateness
            .with_label_values(&[msg.topic()])
            .observe(late_ms as f64 / 1000.0);
    }
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

/// Sleeps until the Unix-ms time `due` (forever when `None`).
async fn sleep_until_ms(due: Option<i64>) {
    match due {
        Some(due) => tokio::time::sleep(Duration::from_millis((due - now_ms()).max(0) as u64)).await,
        None => std::future::pending().await,
    }
}

/// One partition, to pause or resume.
fn tpl(topic: &str, partition: i32) -> TopicPartitionList {
    let mut tpl = TopicPartitionList::with_capacity(1);
    tpl.add_partition(topic, partition);
    tpl
}
