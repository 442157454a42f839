//! Copies the attempts and dead-letter topics into the store, newest first per workspace,
//! capped: what the logs and dead-letter endpoints read.
//!
//! Attempts are written by group commit: each record's handler validates it and hands its
//! bytes to one writer task, which takes every attempt waiting at that moment and writes them
//! in one Redis round trip (one pipeline: per workspace one `LPUSH` of all its entries and one
//! `LTRIM`, and the per-subscription stats counters of `hookline_store::attempt_stats`), then
//! answers each handler. Under load a batch is whatever arrived during the
//! previous write; alone, a record is written at once. A record's offset is still committed
//! only after its own write succeeded.

use crate::metrics::Metrics;
use hookline_kafka::{Handled, HooklineConsumer, KafkaError, Message, OwnedMessage, Pump};
use hookline_model::{AttemptRecord, DeadLetter};
use hookline_store::{retry_until_ok, Store};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

/// Most attempts one write takes.
const WRITE_BATCH: usize = 512;

/// What the sink keeps.
pub(crate) struct Sink {
    pub store: Store,
    pub attempts_topic: String,
    pub keep_attempts: usize,
    pub keep_dead_letters: usize,
    pub metrics: Arc<Metrics>,
    pub shutdown: CancellationToken,
    pub auto_disable: crate::auto_disable::AutoDisable,
}

pub(crate) async fn run(consumer: HooklineConsumer, pump: Pump, sink: Sink) -> Result<(), KafkaError> {
    let (tx, rx) = mpsc::unbounded_channel();
    let writer = tokio::spawn(write_attempts(
        rx,
        sink.store.clone(),
        sink.keep_attempts,
        sink.shutdown.clone(),
    ));
    let sink = Arc::new((sink, tx));
    let result = pump
        .run(&consumer, |msg: OwnedMessage| {
            let sink = sink.clone();
            async move {
                let (sink, writer) = &*sink;
                if msg.topic() == sink.attempts_topic {
                    sink.attempt(&msg, writer).await
                } else {
                    sink.dead_letter(&msg).await
                }
            }
        })
        .await;
    // The pump and its handlers are done: the last sender goes, and the writer ends.
    drop(sink);
    let _ = writer.await;
    result
}

/// One attempt for the writer: its record, decoded (for its workspace and stats) and as it
/// came, and where to say whether it was stored.
struct Pending {
    record: AttemptRecord,
    value: Vec<u8>,
    stored: oneshot::Sender<bool>,
}

/// The group-commit writer (see the module docs). Ends when every sender is gone. Retries a
/// failed write until it succeeds or shutdown fires; then the batch is answered `false` and
/// its records stay uncommitted.
async fn write_attempts(
    mut rx: mpsc::UnboundedReceiver<Pending>,
    store: Store,
    keep: usize,
    shutdown: CancellationToken,
) {
    let mut batch = Vec::with_capacity(WRITE_BATCH);
    while rx.recv_many(&mut batch, WRITE_BATCH).await > 0 {
        let entries: Vec<(&AttemptRecord, &[u8])> = batch.iter().map(|p| (&p.record, p.value.as_slice())).collect();
        let stored = retry_until_ok(
            &shutdown,
            "push_attempts",
            || {},
            || store.push_attempts(&entries, keep),
        )
        .await
        .is_some();
        drop(entries);
        for p in batch.drain(..) {
            let _ = p.stored.send(stored);
        }
    }
}

impl Sink {
    /// Validates the attempt (it must decode as an [`AttemptRecord`]) and has the writer store
    /// it as it came.
    async fn attempt(&self, msg: &OwnedMessage, writer: &mpsc::UnboundedSender<Pending>) -> Handled {
        let Some(rec) = self.decode::<AttemptRecord>(msg, "attempt") else {
            return Handled::Done;
        };
        if let Err(e) = self.auto_disable.observe(&rec).await {
            tracing::warn!(error = %e, subscription_id = %rec.subscription_id, "auto-disable policy not applied");
        }
        let (stored, answer) = oneshot::channel();
        let pending = Pending {
            record: rec,
            value: msg.payload().unwrap_or_default().to_vec(),
            stored,
        };
        if writer.send(pending).is_err() {
            return Handled::store_unavailable();
        }
        let stored = answer.await.unwrap_or(false);
        self.done(stored.then_some(()), "attempt")
    }

    async fn dead_letter(&self, msg: &OwnedMessage) -> Handled {
        let Some(dead) = self.decode::<DeadLetter>(msg, "dead_letter") else {
            return Handled::Done;
        };
        let stored = retry_until_ok(
            &self.shutdown,
            "push_dead_letter",
            || {},
            || self.store.push_dead_letter(&dead, self.keep_dead_letters),
        )
        .await;
        self.done(stored, "dead_letter")
    }

    /// The topics are Hookline's own; a record that does not decode is logged and skipped
    /// rather than blocking every later one.
    fn decode<T: serde::de::DeserializeOwned>(&self, msg: &OwnedMessage, kind: &'static str) -> Option<T> {
        match serde_json::from_slice(msg.payload().unwrap_or_default()) {
            Ok(v) => Some(v),
            Err(e) => {
                tracing::error!(error = %e, topic = msg.topic(), offset = msg.offset(), "undecodable record skipped");
                self.metrics.logged.with_label_values(&[kind, "undecodable"]).inc();
                None
            }
        }
    }

    fn done(&self, stored: Option<()>, kind: &'static str) -> Handled {
        match stored {
            Some(()) => {
                self.metrics.logged.with_label_values(&[kind, "stored"]).inc();
                Handled::Done
            }
            None => Handled::store_unavailable(),
        }
    }
}
