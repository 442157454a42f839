//! Copies the attempts topic into the store, newest first per workspace, capped.

use crate::metrics::Metrics;
use hookline_kafka::HooklineConsumer;
use hookline_kafka::{Handled, KafkaError, Message, OwnedMessage, Pump};
use hookline_model::AttemptRecord;
use hookline_store::{retry_until_ok, Store};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

pub(crate) async fn run(
    consumer: HooklineConsumer,
    store: Store,
    keep: usize,
    metrics: Arc<Metrics>,
    pump: Pump,
    shutdown: CancellationToken,
) -> Result<(), KafkaError> {
    let sd = shutdown;
    pump.run(&consumer, |msg: OwnedMessage| {
        let (store, metrics, sd) = (store.clone(), metrics.clone(), sd.clone());
        async move {
            let rec: AttemptRecord = match serde_json::from_slice(msg.payload().unwrap_or_default()) {
                Ok(r) => r,
                Err(e) => {
                    // The topic is Hookline's own; a record it cannot read is logged and
                    // skipped rather than blocking every later attempt.
                    tracing::error!(error = %e, offset = msg.offset(), "undecodable attempt record skipped");
                    metrics.attempts_logged.with_label_values(&["undecodable"]).inc();
                    return Handled::Done;
                }
            };
            match retry_until_ok(&sd, "push_attempt", || {}, || store.push_attempt(&rec, keep)).await {
                Some(()) => {
                    metrics.attempts_logged.with_label_values(&["stored"]).inc();
                    Handled::Done
                }
                None => Handled::Abort("shutdown while the store was unavailable".into()),
            }
        }
    })
    .await
}
