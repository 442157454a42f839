//! Revoke-click batches (SMSEdge `revoke_click_url`).
//!
//! Revocations (`link.clicks.revoked`, keyed by workspace) are gathered per workspace and,
//! once per interval (a minute by default), each workspace's batch becomes one
//! `clicks_revoked` event dispatched to the subscriptions that want it; delivery then POSTs it
//! with the subscription's policy (SMSEdge: 3 attempts, 6 h apart).
//!
//! The dispatch records and the consumed offsets are committed in one Kafka transaction, so a
//! revocation is batched exactly once across restarts: a crash before the commit aborts the
//! transaction (its dispatch records are never read: Kafka consumers read committed records
//! only) and the revocations are read again into a later batch; after the commit they are
//! never read again. A failed transaction stops this loop with an error, like an aborting
//! handler stops the pump: the process restarts and reads from the committed offsets.

use crate::fanout::{fan_out_to, Out};
use crate::metrics::Metrics;
use hookline_kafka::{
    ConfigHandle, Handled, HooklineConsumer, KafkaError, Message, OwnedMessage, Producer, Quarantine, QuarantineReason,
};
use hookline_model::event::RevokedClicks;
use hookline_model::{ids, Event, EventData, RevokedClickInput, RevokedSource};
use rdkafka::consumer::Consumer;
use rdkafka::producer::Producer as _;
use rdkafka::{Offset, TopicPartitionList};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Bound on each transactional call.
const TXN_TIMEOUT: Duration = Duration::from_secs(30);

pub(crate) struct Batcher {
    pub consumer: HooklineConsumer,
    /// Transactional ([`hookline_kafka::KafkaSettings::transactional_producer`]).
    pub producer: Producer,
    pub quarantine: Quarantine,
    pub config: ConfigHandle,
    pub dispatch_topic: String,
    pub max_deliveries: usize,
    pub interval: Duration,
    pub metrics: Arc<Metrics>,
    pub shutdown: CancellationToken,
}

/// Revocations read since the last commit.
#[derive(Default)]
struct Pending {
    batches: BTreeMap<String, RevokedClicks>,
    /// Next offset per partition read since the last commit.
    offsets: HashMap<(String, i32), i64>,
    generation: u64,
}

impl Batcher {
    pub async fn run(self) -> Result<(), KafkaError> {
        let mut pending = Pending::default();
        let mut tick = tokio::time::interval(self.interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            tokio::select! {
                _ = self.shutdown.cancelled() => break,
                _ = tick.tick() => {
                    if !pending.offsets.is_empty() {
                        self.commit(&mut pending).await?;
                    }
                }
                received = self.consumer.recv() => match received {
                    Ok(msg) => {
                        // After a rebalance the assignment restarts from committed offsets:
                        // what was gathered is read again by whoever owns it now.
                        let generation = self.consumer.context().generation();
                        if generation != pending.generation {
                            pending = Pending { generation, ..Pending::default() };
                        }
                        self.gather(&mut pending, msg.detach()).await?;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "revocations: kafka consume error");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                },
            }
        }
        // Nothing gathered since the last commit is committed now: it is read again after a
        // restart, into the next batch.
        Ok(())
    }

    async fn gather(&self, pending: &mut Pending, msg: OwnedMessage) -> Result<(), KafkaError> {
        match serde_json::from_slice::<RevokedClickInput>(msg.payload().unwrap_or_default()) {
            Ok(r) => {
                let batch = pending.batches.entry(r.workspace_id).or_default();
                let ids = match r.source {
                    RevokedSource::Api => &mut batch.api_sms_ids,
                    RevokedSource::Campaign => &mut batch.campaign_sms_ids,
                };
                // A message revoked twice in one batch is listed once.
                if !ids.contains(&r.message_id) {
                    ids.push(r.message_id);
                }
            }
            Err(e) => {
                self.metrics.revocations.with_label_values(&["invalid"]).inc();
                self.quarantine
                    .put_record(QuarantineReason::InvalidRevocation, &e.to_string(), &msg)
                    .await?;
            }
        }
        pending
            .offsets
            .insert((msg.topic().to_string(), msg.partition()), msg.offset() + 1);
        Ok(())
    }

    /// Dispatches every gathered batch and commits it with the consumed offsets, atomically.
    async fn commit(&self, pending: &mut Pending) -> Result<(), KafkaError> {
        let result = self.transaction(pending).await;
        if let Err(e) = &result {
            tracing::error!(error = %e, "revocations: transaction failed; aborting");
            let p = self.producer.client().clone();
            let _ = tokio::task::spawn_blocking(move || p.abort_transaction(TXN_TIMEOUT)).await;
            return result;
        }
        *pending = Pending {
            generation: pending.generation,
            ..Pending::default()
        };
        Ok(())
    }

    async fn transaction(&self, pending: &Pending) -> Result<(), KafkaError> {
        self.producer.client().begin_transaction()?;
        let now = chrono::Utc::now();
        let mut batched = 0;
        for (workspace, batch) in &pending.batches {
            let mut parts: Vec<&str> = vec![workspace];
            parts.extend(batch.api_sms_ids.iter().map(String::as_str));
            parts.push("|");
            parts.extend(batch.campaign_sms_ids.iter().map(String::as_str));
            let event = Event {
                id: ids::stable_id("revoke", &parts),
                workspace_id: workspace.clone(),
                occurred_at: now,
                received_at: now,
                data: EventData::ClicksRevoked(batch.clone()),
            };
            let (config_version, subs) = self.config.read(|c| c.matching(&event));
            if subs.is_empty() {
                self.metrics
                    .revocations
                    .with_label_values(&["no_subscription"])
                    .inc_by(batch.count() as u64);
                continue;
            }
            let out = Out {
                producer: &self.producer,
                dispatch_topic: &self.dispatch_topic,
                metrics: &self.metrics,
                max_deliveries: self.max_deliveries,
            };
            if let Handled::Abort(e) = fan_out_to(&out, &event, config_version, subs).await {
                return Err(KafkaError::Other(e));
            }
            self.metrics.revocation_batches.inc();
            batched += batch.count();
        }
        let mut offsets = TopicPartitionList::new();
        for ((topic, partition), next) in &pending.offsets {
            offsets.add_partition_offset(topic, *partition, Offset::Offset(*next))?;
        }
        let group = self
            .consumer
            .group_metadata()
            .ok_or_else(|| KafkaError::Other("revocations: no consumer group metadata".into()))?;
        let p = self.producer.client().clone();
        tokio::task::spawn_blocking(move || {
            p.send_offsets_to_transaction(&offsets, &group, TXN_TIMEOUT)?;
            p.commit_transaction(TXN_TIMEOUT)
        })
        .await
        .map_err(|e| KafkaError::Other(e.to_string()))??;
        self.metrics
            .revocations
            .with_label_values(&["batched"])
            .inc_by(batched as u64);
        Ok(())
    }
}
