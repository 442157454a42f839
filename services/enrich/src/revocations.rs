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

/// Where the per-host slot locks of [`Instance::claim`] live, under the temporary directory.
const SLOT_DIR: &str = "hookline-transactional-ids";

/// Slots tried per host and group before giving up on a stable id.
const SLOTS: usize = 64;

/// This process's identity for the batcher's `transactional.id`,
/// `<enrich group>-revocations-<instance>`.
///
/// Stable across a restart, so the restarted process's `init_transactions` fences its
/// predecessor and aborts the transaction that one left open at once; with a random id a
/// kill -9 in the middle of a batch left that transaction open until the broker timed it out
/// (`transaction.timeout.ms`, 10 s, checked every 10 s), and read-committed readers of the
/// dispatch partitions it wrote to (delivery) read nothing past it meanwhile.
///
/// Unique among live processes, or they would fence each other in turn: the `instance` is
/// - `HOOKLINE_GROUP_INSTANCE_ID` when set (static membership: unique by that setting's own
///   contract, Kafka refuses two live members with one id);
/// - else `<hostname>-<slot>`: the slot is the lowest number whose lock file
///   (`$TMPDIR/hookline-transactional-ids/<group>-<slot>.lock`) this process can lock. The
///   kernel releases the lock when the process exits, kill -9 included, so a process restarted
///   on the same host takes its predecessor's slot back, and two processes of one host never
///   hold the same one. In Kubernetes the hostname is the pod name and `/tmp` the pod's
///   `emptyDir`: a restarted container keeps both (slot 0); a new pod has a new name.
/// - else (no writable temporary directory) a random one, as before, with a warning.
pub(crate) struct Instance {
    pub transactional_id: String,
    /// The slot's lock, held for the life of the process.
    _slot: Option<std::fs::File>,
}

impl Instance {
    pub fn claim(group_instance_id: Option<&str>, group: &str) -> Self {
        Self::claim_in(group_instance_id, group, &std::env::temp_dir().join(SLOT_DIR))
    }

    fn claim_in(group_instance_id: Option<&str>, group: &str, dir: &std::path::Path) -> Self {
        let id = |instance: &str| format!("{group}-revocations-{instance}");
        if let Some(i) = group_instance_id {
            return Self {
                transactional_id: id(i),
                _slot: None,
            };
        }
        match lock_slot(dir, group) {
            Ok((slot, file)) => Self {
                transactional_id: id(&format!("{}-{slot}", hostname())),
                _slot: Some(file),
            },
            Err(e) => {
                let random = hex::encode(rand::random::<[u8; 6]>());
                tracing::warn!(
                    error = %e,
                    dir = %dir.display(),
                    "revocations: no slot lock for a stable transactional id; using a random one (a kill -9 then holds back readers of dispatch for the transaction timeout)"
                );
                Self {
                    transactional_id: id(&random),
                    _slot: None,
                }
            }
        }
    }
}

/// The lowest free slot of `group` in `dir`, and its lock.
fn lock_slot(dir: &std::path::Path, group: &str) -> std::io::Result<(usize, std::fs::File)> {
    std::fs::create_dir_all(dir)?;
    // A group name may hold any character Kafka allows; the file name only safe ones.
    let safe: String = group
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    for slot in 0..SLOTS {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join(format!("{safe}-{slot}.lock")))?;
        match file.try_lock() {
            Ok(()) => return Ok((slot, file)),
            Err(std::fs::TryLockError::WouldBlock) => continue,
            Err(std::fs::TryLockError::Error(e)) => return Err(e),
        }
    }
    Err(std::io::Error::other(format!("all {SLOTS} slots are taken")))
}

/// The host's name (the pod name in Kubernetes).
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "host".to_string())
}

pub(crate) struct Batcher {
    pub consumer: HooklineConsumer,
    /// Transactional ([`hookline_kafka::KafkaSettings::transactional_producer`]), with
    /// `instance`'s id.
    pub producer: Producer,
    /// Held while the batcher runs: its slot lock keeps the id this process's own.
    pub instance: Instance,
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
        tracing::info!(transactional_id = %self.instance.transactional_id, "revocations: batching");
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
                    // Fatal (a static member fenced, say): this consumer is dead for good.
                    Err(e @ rdkafka::error::KafkaError::MessageConsumptionFatal(_)) => {
                        return Err(KafkaError::Other(format!("revocations: fatal consumer error: {e}")));
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
            tracing::error!(
                error = %e,
                transactional_id = %self.instance.transactional_id,
                "revocations: transaction failed; aborting (if fenced: another live process took this id)"
            );
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_static_member_id_names_the_instance_when_set() {
        let dir = tempdir();
        let i = Instance::claim_in(Some("enrich-0"), "g", &dir);
        assert_eq!(i.transactional_id, "g-revocations-enrich-0");
    }

    /// Two live processes of one host never share an id (they would fence each other); a
    /// restarted one takes its predecessor's back (and so aborts its open transaction).
    #[test]
    fn live_instances_of_one_host_get_distinct_ids_and_a_restart_gets_the_freed_one() {
        let dir = tempdir();
        let host = hostname();
        let a = Instance::claim_in(None, "hookline-enrich", &dir);
        let b = Instance::claim_in(None, "hookline-enrich", &dir);
        assert_eq!(a.transactional_id, format!("hookline-enrich-revocations-{host}-0"));
        assert_eq!(b.transactional_id, format!("hookline-enrich-revocations-{host}-1"));
        let other_group = Instance::claim_in(None, "other", &dir);
        assert_eq!(other_group.transactional_id, format!("other-revocations-{host}-0"));
        drop(a);
        let restarted = Instance::claim_in(None, "hookline-enrich", &dir);
        assert_eq!(
            restarted.transactional_id,
            format!("hookline-enrich-revocations-{host}-0")
        );
        drop(b);
    }

    #[test]
    fn without_a_lockable_directory_the_id_is_random() {
        let file = tempdir().join("a-file");
        std::fs::write(&file, b"").unwrap();
        let a = Instance::claim_in(None, "g", &file);
        let b = Instance::claim_in(None, "g", &file);
        assert!(a.transactional_id.starts_with("g-revocations-"));
        assert_ne!(a.transactional_id, b.transactional_id);
    }

    fn tempdir() -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("hookline-txn-test-{}", hex::encode(rand::random::<[u8; 8]>())));
        std::fs::create_dir_all(&d).unwrap();
        d
    }
}
