//! The compacted config topic: every service keeps an in-memory [`ConfigState`] that follows
//! it, and the API writes to it.
//!
//! The follower assigns itself every partition from the beginning (no consumer group, nothing
//! committed): each process rebuilds the whole state on start, which is what makes the
//! configuration durable across restarts with the broker as its only store. It reports
//! "caught up" once it has read up to the high watermark it saw at start; services are not
//! ready before that.

use crate::{KafkaError, KafkaSettings, Producer};
use hookline_model::config_log::ConfigKey;
use hookline_model::{ApiKeyRecord, ConfigState, IngestKeyRecord, WorkspaceConfig};
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// Shared read access to the current configuration.
#[derive(Clone)]
pub struct ConfigHandle {
    state: Arc<RwLock<ConfigState>>,
    caught_up: watch::Receiver<bool>,
    /// Bumped after every applied record, so a reader can wait for a change
    /// ([`ConfigHandle::wait_for_workspace_version`]) instead of polling.
    applied: Arc<watch::Sender<u64>>,
}

impl ConfigHandle {
    fn with_state(state: ConfigState, caught_up: watch::Receiver<bool>) -> Self {
        Self {
            state: Arc::new(RwLock::new(state)),
            caught_up,
            applied: Arc::new(watch::channel(0).0),
        }
    }

    /// A handle over a fixed state, for unit tests of code that reads config.
    pub fn fixed(state: ConfigState) -> Self {
        let (_tx, rx) = watch::channel(true);
        Self::with_state(state, rx)
    }

    /// Runs `f` with the current state. Keep `f` short: it holds a read lock.
    pub fn read<T>(&self, f: impl FnOnce(&ConfigState) -> T) -> T {
        f(&self.state.read().expect("config lock"))
    }

    /// Applies one config record and wakes whoever waits for a change.
    fn apply(&self, key: &str, value: Option<&[u8]>) -> Result<(), hookline_model::config_log::ConfigRecordError> {
        let result = self.state.write().expect("config lock").apply(key, value);
        self.applied.send_modify(|n| *n += 1);
        result
    }

    /// Applies a record locally before the follower sees it (the API's read-your-writes).
    pub fn apply_local(&self, key: &str, value: Option<&[u8]>) {
        if let Err(e) = self.apply(key, value) {
            tracing::error!(error = %e, "local config apply");
        }
    }

    /// Waits up to `timeout` until the config of `workspace_id` is at least `version` (or the
    /// workspace was deleted, which is newer than any version); whether it got there. Delivery
    /// calls it for a record produced from a newer config than its own, typically a
    /// subscription created a few hundred milliseconds ago that this process's follower has
    /// not read yet. Costs nothing while waiting: woken by each applied record.
    pub async fn wait_for_workspace_version(&self, workspace_id: &str, version: u64, timeout: Duration) -> bool {
        // Subscribed before the check: a record applied in between still wakes us.
        let mut applied = self.applied.subscribe();
        let reached = || self.read(|c| c.workspace_version(workspace_id).is_none_or(|v| v >= version));
        let wait = async {
            loop {
                if reached() {
                    return;
                }
                if applied.changed().await.is_err() {
                    // The sender lives as long as this handle: cannot happen.
                    std::future::pending::<()>().await;
                }
            }
        };
        tokio::time::timeout(timeout, wait).await.is_ok()
    }

    /// A receiver woken after every record applied (followed or local), for code that reacts
    /// to configuration changes rather than reading the config per record (delivery drops the
    /// metric series of deleted endpoints).
    pub fn subscribe_changes(&self) -> watch::Receiver<u64> {
        self.applied.subscribe()
    }

    /// Waits until the initial replay is complete.
    pub async fn wait_caught_up(&self) {
        let mut rx = self.caught_up.clone();
        let _ = rx.wait_for(|v| *v).await;
    }

    pub fn is_caught_up(&self) -> bool {
        *self.caught_up.borrow()
    }

    /// Starts following `settings.topics.config()` until `shutdown`.
    pub async fn follow(settings: &KafkaSettings, shutdown: CancellationToken) -> Result<Self, KafkaError> {
        let topic = settings.topics.config();
        let group = format!("hookline-config-{}", rand::random::<u64>());
        let consumer: StreamConsumer = settings
            .client(&[
                ("group.id", &group),
                ("enable.auto.commit", "false"),
                ("enable.partition.eof", "false"),
                ("fetch.wait.max.ms", "100"),
            ])
            .create()?;

        // Metadata and watermarks are blocking calls.
        let consumer = Arc::new(consumer);
        let c = consumer.clone();
        let t = topic.clone();
        let targets: HashMap<i32, i64> = tokio::task::spawn_blocking(move || -> Result<_, KafkaError> {
            // A topic created a moment ago (by this process or another) may not be in every
            // broker's metadata yet, or its partitions may have no leader yet: Kafka
            // propagates new topics asynchronously. Retry for a while before giving up.
            let deadline = std::time::Instant::now() + Duration::from_secs(60);
            loop {
                match config_targets(&c, &t) {
                    Ok(v) => return Ok(v),
                    Err(e) if std::time::Instant::now() < deadline => {
                        tracing::debug!(error = %e, "config topic not readable yet; retrying");
                        std::thread::sleep(Duration::from_millis(250));
                    }
                    Err(e) => return Err(e),
                }
            }
        })
        .await
        .map_err(|e| KafkaError::Other(e.to_string()))??;

        let (tx, rx) = watch::channel(targets.is_empty());
        let handle = Self::with_state(ConfigState::default(), rx);
        let follower = handle.clone();
        tokio::spawn(async move {
            let mut pending = targets;
            loop {
                let msg = tokio::select! {
                    _ = shutdown.cancelled() => return,
                    m = consumer.recv() => m,
                };
                let msg = match msg {
                    Ok(m) => m,
                    Err(e) => {
                        tracing::warn!(error = %e, "config topic read error");
                        tokio::time::sleep(Duration::from_millis(200)).await;
                        continue;
                    }
                };
                let key = msg.key().map(String::from_utf8_lossy).unwrap_or_default();
                if let Err(e) = follower.apply(&key, msg.payload()) {
                    // A bad config record is skipped; the rest of the config still applies.
                    tracing::error!(error = %e, offset = msg.offset(), "skipping config record");
                }
                if let Some(high) = pending.get(&msg.partition()) {
                    if msg.offset() + 1 >= *high {
                        pending.remove(&msg.partition());
                        if pending.is_empty() {
                            let _ = tx.send(true);
                        }
                    }
                }
            }
        });
        Ok(handle)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hookline_model::WorkspaceConfig;

    fn record(version: u64) -> Vec<u8> {
        serde_json::to_vec(&WorkspaceConfig {
            version,
            ..WorkspaceConfig::new("ws")
        })
        .unwrap()
    }

    #[tokio::test]
    async fn waits_for_a_workspace_version_until_it_is_applied_or_times_out() {
        let handle = ConfigHandle::fixed(ConfigState::default());
        let short = Duration::from_millis(50);
        assert!(
            handle.wait_for_workspace_version("ws", 0, short).await,
            "0 is always there"
        );
        assert!(!handle.wait_for_workspace_version("ws", 2, short).await);

        let writer = handle.clone();
        let applier = tokio::spawn(async move {
            writer.apply_local("workspace:ws", Some(&record(1)));
            writer.apply_local("workspace:other", Some(&record(9)));
            tokio::task::yield_now().await;
            writer.apply_local("workspace:ws", Some(&record(2)));
        });
        assert!(
            handle
                .wait_for_workspace_version("ws", 2, Duration::from_secs(10))
                .await
        );
        applier.await.unwrap();
        assert!(!handle.wait_for_workspace_version("ws", 3, short).await);
        // A deleted workspace is newer than any record about it.
        handle.apply_local("workspace:ws", None);
        assert!(handle.wait_for_workspace_version("ws", 3, short).await);
    }
}

/// Assigns every partition of `topic` from the beginning and returns the high watermark of
/// each non-empty one (what the follower must read to be caught up).
fn config_targets(c: &StreamConsumer, topic: &str) -> Result<HashMap<i32, i64>, KafkaError> {
    let md = c.fetch_metadata(Some(topic), Duration::from_secs(30))?;
    let partitions: Vec<i32> = md
        .topics()
        .iter()
        .find(|m| m.name() == topic)
        .filter(|m| crate::admin::has_leaders(m))
        .map(|m| m.partitions().iter().map(|p| p.id()).collect())
        .ok_or_else(|| {
            KafkaError::Other(format!(
                "config topic {topic} has no partitions, or some without a leader (does it exist?)"
            ))
        })?;
    let mut tpl = TopicPartitionList::new();
    let mut targets = HashMap::new();
    for p in partitions {
        tpl.add_partition_offset(topic, p, Offset::Beginning)?;
        let (low, high) = c.fetch_watermarks(topic, p, Duration::from_secs(30))?;
        if high > low {
            targets.insert(p, high);
        }
    }
    c.assign(&tpl)?;
    Ok(targets)
}

/// Writes config records (the API's side).
#[derive(Clone)]
pub struct ConfigWriter {
    producer: Producer,
    topic: String,
}

impl ConfigWriter {
    pub fn new(producer: Producer, topic: String) -> Self {
        Self { producer, topic }
    }

    /// Writes the record and returns its key and bytes once the broker has it.
    async fn put(&self, key: ConfigKey, value: Vec<u8>) -> Result<(String, Vec<u8>), KafkaError> {
        let key = key.render();
        self.producer
            .send(&self.topic, Some(key.as_bytes()), Some(&value), &[])
            .await?;
        Ok((key, value))
    }

    pub async fn put_workspace(&self, ws: &WorkspaceConfig) -> Result<(String, Vec<u8>), KafkaError> {
        self.put(ConfigKey::Workspace(ws.workspace_id.clone()), serde_json::to_vec(ws)?)
            .await
    }

    pub async fn put_api_key(&self, rec: &ApiKeyRecord) -> Result<(String, Vec<u8>), KafkaError> {
        self.put(ConfigKey::ApiKey(rec.key_hash.clone()), serde_json::to_vec(rec)?)
            .await
    }

    pub async fn put_ingest_key(&self, rec: &IngestKeyRecord) -> Result<(String, Vec<u8>), KafkaError> {
        self.put(ConfigKey::IngestKey(rec.key_hash.clone()), serde_json::to_vec(rec)?)
            .await
    }

    /// Revokes an API key or ingest credential: a tombstone for its record. Compaction keeps
    /// the tombstone for the topic's `delete.retention.ms` after it removed every earlier
    /// record of the key, so a follower reading from the start sees either the tombstone or
    /// nothing of the key.
    pub async fn delete(&self, key: ConfigKey) -> Result<String, KafkaError> {
        let key = key.render();
        self.producer.send(&self.topic, Some(key.as_bytes()), None, &[]).await?;
        Ok(key)
    }
}
