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
//! On shutdown the loop stops receiving, waits up to the drain timeout for in-flight records,
//! stores what finished and commits synchronously.

use crate::context::HooklineConsumer;
use crate::{headers, KafkaError, KafkaMetrics};
use futures::stream::{FuturesUnordered, StreamExt};
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
}

type Tp = (String, i32);

/// Records not due yet kept per partition before it is paused.
const HELD_PER_PARTITION: usize = 512;

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
        } = self;
        let name = name.as_str();
        // One closure, so every in-flight future has the same type.
        let start = |msg: OwnedMessage| {
            let pos = Pos {
                topic: msg.topic().to_string(),
                partition: msg.partition(),
                offset: msg.offset(),
                generation: consumer.context().generation(),
            };
            let fut = handler(msg);
            async move { (pos, fut.await) }
        };
        let mut in_flight = FuturesUnordered::new();
        let mut commits = Commits::default();
        let mut delays = Delays::default();
        loop {
            let next_due = delays.next_due();
            let wake = sleep_until_ms(next_due);
            tokio::select! {
                biased;
                Some((pos, handled)) = in_flight.next(), if !in_flight.is_empty() => {
                    if let Handled::Abort(reason) = handled {
                        return Err(KafkaError::Other(format!("{name}: stopped without committing: {reason}")));
                    }
                    commits.finished(consumer, pos);
                }
                _ = shutdown.cancelled() => break,
                _ = wake, if next_due.is_some() && in_flight.len() < max_in_flight => {
                    delays.reset_on_rebalance(consumer);
                    if let Some(msg) = delays.pop_due(consumer) {
                        observe_lateness(&metrics, &msg);
                        commits.started(consumer, &msg);
                        in_flight.push(start(msg));
                    }
                }
                received = consumer.recv(), if in_flight.len() < max_in_flight => match received {
                    Ok(msg) => {
                        delays.reset_on_rebalance(consumer);
                        let Some(msg) = delays.accept(consumer, msg.detach(), &metrics) else {
                            continue;
                        };
                        observe_lateness(&metrics, &msg);
                        commits.started(consumer, &msg);
                        in_flight.push(start(msg));
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

/// Where a handed-out record came from, and the consumer's rebalance generation then.
struct Pos {
    topic: String,
    partition: i32,
    offset: i64,
    generation: u64,
}

/// Per partition, the records handed out and not yet committable, in the order received, for
/// the current rebalance generation only.
#[derive(Default)]
struct Commits {
    started: HashMap<Tp, VecDeque<(i64, bool)>>,
    generation: u64,
}

impl Commits {
    /// Forgets everything of an earlier generation: after a rebalance a partition, even one
    /// assigned back to this consumer, restarts from its committed offset.
    fn follow(&mut self, generation: u64) {
        if generation != self.generation {
            self.started.clear();
            self.generation = generation;
        }
    }

    fn started(&mut self, consumer: &HooklineConsumer, msg: &OwnedMessage) {
        self.follow(consumer.context().generation());
        self.started
            .entry((msg.topic().to_string(), msg.partition()))
            .or_default()
            .push_back((msg.offset(), false));
    }

    /// Marks a record finished and stores its partition's offset up to the lowest record
    /// still unfinished. A record received before the latest rebalance stores nothing: its
    /// partition was revoked, and if it came back, it is read again from the committed offset
    /// (storing this record's offset would commit past records not handled again yet).
    fn finished(&mut self, consumer: &HooklineConsumer, pos: Pos) {
        let current = consumer.context().generation();
        self.follow(current);
        if pos.generation != current {
            return;
        }
        let Pos {
            topic,
            partition,
            offset,
            ..
        } = pos;
        let tp = (topic, partition);
        let Some(queue) = self.started.get_mut(&tp) else { return };
        if let Some(entry) = queue.iter_mut().find(|(o, done)| *o == offset && !*done) {
            entry.1 = true;
        }
        let mut committable = None;
        while let Some(&(o, true)) = queue.front() {
            committable = Some(o);
            queue.pop_front();
        }
        if queue.is_empty() {
            self.started.remove(&tp);
        }
        if let Some(o) = committable {
            store(consumer, (tp.0, tp.1, o));
        }
    }
}

impl Delays {
    /// After a rebalance the assignment restarts from committed offsets: forget positions and
    /// held records (they are fetched again) and lift any pause we had set.
    fn reset_on_rebalance(&mut self, consumer: &HooklineConsumer) {
        let generation = consumer.context().generation();
        if generation == self.generation {
            return;
        }
        self.generation = generation;
        for (topic, partition) in self.paused.drain() {
            let _ = consumer.resume(&tpl(&topic, partition, None));
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
        msg: OwnedMessage,
        metrics: &KafkaMetrics,
    ) -> Option<OwnedMessage> {
        let tp = (msg.topic().to_string(), msg.partition());
        if self.paused.contains(&tp) || self.next.get(&tp).is_some_and(|next| msg.offset() < *next) {
            return None;
        }
        let due = headers::get_i64(msg.headers(), headers::DUE_AT_MS);
        let queue = self.held.entry(tp.clone()).or_default();
        if queue.is_empty() && due.is_none_or(|d| d <= now_ms()) {
            self.next.insert(tp, msg.offset() + 1);
            metrics.consumed.with_label_values(&[msg.topic()]).inc();
            return Some(msg);
        }
        if queue.len() >= HELD_PER_PARTITION {
            // Full: stop fetching; this record is read again after the seek on resume.
            if let Err(e) = consumer.pause(&tpl(&tp.0, tp.1, None)) {
                tracing::warn!(topic = %tp.0, partition = tp.1, error = %e, "pause failed");
            }
            self.next.insert(tp.clone(), msg.offset());
            self.paused.insert(tp);
            return None;
        }
        self.next.insert(tp, msg.offset() + 1);
        metrics.consumed.with_label_values(&[msg.topic()]).inc();
        queue.push_back((due.unwrap_or_default(), msg));
        None
    }

    /// The earliest due time of a held record.
    fn next_due(&self) -> Option<i64> {
        self.held.values().filter_map(|q| q.front().map(|(due, _)| *due)).min()
    }

    /// The earliest held record if it is due. Resumes its partition once the queue is empty.
    fn pop_due(&mut self, consumer: &HooklineConsumer) -> Option<OwnedMessage> {
        let now = now_ms();
        let tp = self
            .held
            .iter()
            .filter_map(|(tp, q)| {
                q.front()
                    .filter(|(due, _)| *due <= now)
                    .map(|(due, _)| (*due, tp.clone()))
            })
            .min()?
            .1;
        let queue = self.held.get_mut(&tp)?;
        let (_, msg) = queue.pop_front()?;
        if queue.is_empty() && self.paused.remove(&tp) {
            let (topic, partition) = &tp;
            let next = self.next.get(&tp).copied().unwrap_or(msg.offset() + 1);
            // Asynchronous seek (zero timeout): it applies before fetching resumes. librdkafka
            // dropped what it had prefetched when the partition was paused.
            if let Err(e) = consumer.seek(topic, *partition, Offset::Offset(next), Duration::ZERO) {
                tracing::warn!(%topic, partition, error = %e, "seek before resume failed");
            }
            if let Err(e) = consumer.resume(&tpl(topic, *partition, None)) {
                tracing::warn!(%topic, partition, error = %e, "resume failed");
            }
        }
        Some(msg)
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

fn tpl(topic: &str, partition: i32, offset: Option<i64>) -> TopicPartitionList {
    let mut tpl = TopicPartitionList::with_capacity(1);
    match offset {
        Some(o) => {
            let _ = tpl.add_partition_offset(topic, partition, Offset::Offset(o));
        }
        None => {
            tpl.add_partition(topic, partition);
        }
    }
    tpl
}

fn store(consumer: &HooklineConsumer, (topic, partition, offset): (String, i32, i64)) {
    // The committed offset is the next record to read.
    // Fails only when the partition was revoked meanwhile; its new owner redelivers.
    if let Err(e) = consumer.store_offsets(&tpl(&topic, partition, Some(offset + 1))) {
        tracing::debug!(%topic, partition, offset, error = %e, "offset not stored");
    }
}
