//! Copies the attempts and dead-letter topics into the store, newest first per workspace,
//! capped: what the logs and dead-letter endpoints read.

use crate::metrics::Metrics;
use hookline_kafka::{Handled, HooklineConsumer, KafkaError, Message, OwnedMessage, Pump};
use hookline_model::{AttemptRecord, DeadLetter};
use hookline_store::{retry_until_ok, Store};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// What the sink keeps.
pub(crate) struct Sink {
    pub store: Store,
    pub attempts_topic: String,
    pub keep_attempts: usize,
    pub keep_dead_letters: usize,
    pub metrics: Arc<Metrics>,
    pub shutdown: CancellationToken,
}

pub(crate) async fn run(consumer: HooklineConsumer, pump: Pump, sink: Sink) -> Result<(), KafkaError> {
    let sink = Arc::new(sink);
    pump.run(&consumer, |msg: OwnedMessage| {
        let sink = sink.clone();
        async move {
            if msg.topic() == sink.attempts_topic {
                sink.attempt(&msg).await
            } else {
                sink.dead_letter(&msg).await
            }
        }
    })
    .await
}

impl Sink {
    async fn attempt(&self, msg: &OwnedMessage) -> Handled {
        let Some(rec) = self.decode::<AttemptRecord>(msg, "attempt") else {
            return Handled::Done;
        };
        let stored = retry_until_ok(
            &self.shutdown,
            "push_attempt",
            || {},
            || self.store.push_attempt(&rec, self.keep_attempts),
        )
        .await;
        self.done(stored, "attempt")
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
