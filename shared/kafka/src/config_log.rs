//! The compacted config topic: every service keeps an in-memory [`ConfigState`] that follows
//! it, and the API writes to it.
//!
//! The follower assigns itself every partition from the beginning (no consumer group, nothing
//! committed): each process rebuilds the whole state on start, which is what makes the
//! configuration durable across restarts with the broker as its only store. It reports
//! "caught up" once it has read up to the high watermark it saw at start; services are not
//! ready before that.
//!
//! The topic's order is the configuration's only order. Workspace records are applied with a
//! version check ([`ConfigState::apply`]), and the API acknowledges a write only once this
//! process's follower has applied it in that order ([`ConfigHandle::wait_applied`]): a write
//! made from a config another write had already changed is found stale there and made again,
//! so an acknowledged write is never lost, on any broker, with any number of API replicas.

use crate::{KafkaError, KafkaSettings, Producer};
use hookline_model::config_log::ConfigKey;
use hookline_model::{ApiKeyRecord, Applied, ConfigState, IngestKeyRecord, WorkspaceConfig};
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, RwLock};
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
    /// How far the follower has read, for writers waiting for their own record.
    progress: Arc<Mutex<Progress>>,
}

/// A position in the config topic: partition and offset.
pub type Position = (i32, i64);

/// How far the follower has read: the next offset of each partition, and the positions of
/// the latest records it found [`Applied::Stale`] (a writer checks its own record's position
/// right after it is read, so a short memory is enough).
#[derive(Default)]
struct Progress {
    next: HashMap<i32, i64>,
    stale: VecDeque<Position>,
}

impl Progress {
    const STALE_KEPT: usize = 4096;

    fn record(&mut self, at: Position, applied: Option<Applied>) {
        self.next.insert(at.0, at.1 + 1);
        if applied == Some(Applied::Stale) {
            if self.stale.len() == Self::STALE_KEPT {
                self.stale.pop_front();
            }
            self.stale.push_back(at);
        }
    }

    /// What became of the record at `at`, once the follower has read past it.
    fn outcome(&self, at: Position) -> Option<Applied> {
        let read = self.next.get(&at.0).is_some_and(|next| *next > at.1);
        read.then(|| {
            if self.stale.contains(&at) {
                Applied::Stale
            } else {
                Applied::InForce
            }
        })
    }
}

impl ConfigHandle {
    fn with_state(state: ConfigState, caught_up: watch::Receiver<bool>) -> Self {
        Self {
            state: Arc::new(RwLock::new(state)),
            caught_up,
            applied: Arc::new(watch::channel(0).0),
            progress: Arc::default(),
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

    /// Applies one config record read at `at` and wakes whoever waits for a change.
    fn apply(
        &self,
        key: &str,
        value: Option<&[u8]>,
        at: Option<Position>,
    ) -> Result<Applied, hookline_model::config_log::ConfigRecordError> {
        let result = self.state.write().expect("config lock").apply(key, value);
        if let Some(at) = at {
            self.progress
                .lock()
                .expect("config progress")
                .record(at, result.as_ref().ok().copied());
        }
        self.applied.send_modify(|n| *n += 1);
        result
    }

    /// Waits up to `timeout` until the follower has read the record written at `at`, and says
    /// whether it is in force or was stale (`None`: not read in time). The API answers a
    /// configuration write only after this: what it then reads is the topic's order, the
    /// same every process of every service folds, never a local guess.
    pub async fn wait_applied(&self, at: Position, timeout: Duration) -> Option<Applied> {
        let mut applied = self.applied.subscribe();
        let wait = async {
            loop {
                if let Some(outcome) = self.progress.lock().expect("config progress").outcome(at) {
                    return outcome;
                }
                if applied.changed().await.is_err() {
                    std::future::pending::<()>().await;
                }
            }
        };
        tokio::time::timeout(timeout, wait).await.ok()
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
                match follower.apply(&key, msg.payload(), Some((msg.partition(), msg.offset()))) {
                    Ok(Applied::InForce) => {}
                    Ok(Applied::Stale) => {
                        tracing::debug!(%key, offset = msg.offset(), "stale config record ignored")
                    }
                    // A bad config record is skipped; the rest of the config still applies.
                    Err(e) => tracing::error!(error = %e, offset = msg.offset(), "skipping config record"),
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
            writer.apply("workspace:ws", Some(&record(1)), None).unwrap();
            writer.apply("workspace:other", Some(&record(9)), None).unwrap();
            tokio::task::yield_now().await;
            writer.apply("workspace:ws", Some(&record(2)), None).unwrap();
        });
        assert!(
            handle
                .wait_for_workspace_version("ws", 2, Duration::from_secs(10))
                .await
        );
        applier.await.unwrap();
        assert!(!handle.wait_for_workspace_version("ws", 3, short).await);
        // A deleted workspace is newer than any record about it.
        handle.apply("workspace:ws", None, None).unwrap();
        assert!(handle.wait_for_workspace_version("ws", 3, short).await);
    }

    /// A writer learns whether its record, once read, is in force or stale; before it is read,
    /// nothing (a timeout).
    #[tokio::test]
    async fn a_writer_learns_what_became_of_its_record() {
        let handle = ConfigHandle::fixed(ConfigState::default());
        let short = Duration::from_millis(50);
        assert_eq!(handle.wait_applied((0, 0), short).await, None);
        handle.apply("workspace:ws", Some(&record(1)), Some((0, 0))).unwrap();
        handle.apply("workspace:ws", Some(&record(1)), Some((0, 1))).unwrap();
        assert_eq!(handle.wait_applied((0, 0), short).await, Some(Applied::InForce));
        assert_eq!(handle.wait_applied((0, 1), short).await, Some(Applied::Stale));
        assert_eq!(handle.wait_applied((1, 0), short).await, None, "another partition");
        let waiter = {
            let h = handle.clone();
            tokio::spawn(async move { h.wait_applied((0, 2), Duration::from_secs(10)).await })
        };
        handle.apply("workspace:ws", Some(&record(2)), Some((0, 2))).unwrap();
        assert_eq!(waiter.await.unwrap(), Some(Applied::InForce));
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

    /// Writes the record and returns where it landed once the broker has it.
    async fn put(&self, key: ConfigKey, value: Vec<u8>) -> Result<Position, KafkaError> {
        let key = key.render();
        self.producer
            .send_at(&self.topic, Some(key.as_bytes()), Some(&value), &[])
            .await
    }

    pub async fn put_workspace(&self, ws: &WorkspaceConfig) -> Result<Position, KafkaError> {
        self.put(ConfigKey::Workspace(ws.workspace_id.clone()), serde_json::to_vec(ws)?)
            .await
    }

    pub async fn put_api_key(&self, rec: &ApiKeyRecord) -> Result<Position, KafkaError> {
        self.put(ConfigKey::ApiKey(rec.key_hash.clone()), serde_json::to_vec(rec)?)
            .await
    }

    pub async fn put_ingest_key(&self, rec: &IngestKeyRecord) -> Result<Position, KafkaError> {
        self.put(ConfigKey::IngestKey(rec.key_hash.clone()), serde_json::to_vec(rec)?)
            .await
    }

    /// Revokes an API key or ingest credential: a tombstone for its record. Compaction keeps
    /// the tombstone for the topic's `delete.retention.ms` after it removed every earlier
    /// record of the key, so a follower reading from the start sees either the tombstone or
    /// nothing of the key.
    pub async fn delete(&self, key: ConfigKey) -> Result<Position, KafkaError> {
        let key = key.render();
        self.producer
            .send_at(&self.topic, Some(key.as_bytes()), None, &[])
            .await
    }
}
