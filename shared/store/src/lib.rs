//! State that is not a Kafka topic: message metadata kept for the DLR join (with a TTL), dedup
//! claims and the per-workspace attempt log the logs endpoint reads. Every key format is in
//! [`keys`].
//!
//! [`Store`] is an enum rather than a trait object: there are exactly two backends, Redis in
//! every real deployment and [`memory`] for the embedded mode, and an enum keeps the async
//! methods plain.

pub mod attempt_stats;
pub mod compact;
pub mod key_usage;
pub mod keys;
pub mod memory;
pub mod record;
pub mod redis_store;

use chrono::{DateTime, Utc};
use compact::{Family, Mode, Put, Slot};
use hookline_model::{AcceptedMessage, AttemptRecord, DeadLetter, DlrStatus};
use std::time::Duration;

pub use key_usage::KeyUsage;
pub use keys::{ClaimKey, IdSpace};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("stored value does not decode: {0}")]
    Decode(#[from] serde_json::Error),
    #[error(transparent)]
    Record(#[from] record::RecordError),
}

/// Whether a write that takes ownership of ids went through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ownership {
    Stored,
    /// This key already belongs to another record; nothing was written.
    Taken(String),
}

/// A message's first final status and the record that claimed it (SMSEdge click payloads show
/// the message's `dlr_status`, read back from this claim).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FinalStatus {
    /// The claiming record (see [`Store::claim`]).
    pub claimant: String,
    pub status: DlrStatus,
}

impl FinalStatus {
    /// The stored value, `<claimant>|<status>`: the format claims have been written in, kept so
    /// the claims already stored (a dedup TTL's worth) still decode and still match their own
    /// record when it is reprocessed.
    fn encode(&self) -> String {
        format!("{}|{}", self.claimant, self.status.as_str())
    }

    fn decode(stored: &str) -> Option<Self> {
        let (claimant, status) = stored.rsplit_once('|')?;
        Some(Self {
            claimant: claimant.to_string(),
            status: DlrStatus::parse(status)?,
        })
    }
}

/// The key-value store.
#[derive(Clone)]
pub enum Store {
    Redis(redis_store::RedisStore),
    Memory(memory::MemoryStore),
}

impl Store {
    /// Connects to Redis (retrying in the background if it is down).
    pub async fn redis(url: &str, key_prefix: &str) -> Result<Self, StoreError> {
        Ok(Self::Redis(redis_store::RedisStore::connect(url, key_prefix).await?))
    }

    /// Connects to the Redis Cluster these seed nodes belong to.
    pub async fn redis_cluster(nodes: &[String], key_prefix: &str) -> Result<Self, StoreError> {
        Ok(Self::Redis(
            redis_store::RedisStore::connect_cluster(nodes, key_prefix).await?,
        ))
    }

    pub fn memory() -> Self {
        Self::Memory(memory::MemoryStore::default())
    }

    /// Keeps `msg` for `ttl`, findable by its carrier message id (DLRs; within its carrier
    /// connection when the message names one) and by its message id (clicks, conversions),
    /// in the [`IdSpace`] of whoever announced it: the workspace's own when it came from a
    /// credential bound to its workspace ([`AcceptedMessage::workspace_feed`]), else the
    /// platform's.
    ///
    /// First writer wins within a space: ids that already belong to another message are
    /// never overwritten (that would send the other message's DLRs and clicks elsewhere). The
    /// same message written again (a record reprocessed, a resubmit) is stored as before.
    pub async fn put_message(&self, msg: &AcceptedMessage, ttl: Duration) -> Result<Ownership, StoreError> {
        let space = IdSpace::written_by(msg.workspace_feed.then_some(msg.workspace_id.as_str()));
        let carrier_key = keys::carrier_message(space, msg.carrier_connection.as_deref(), &msg.carrier_message_id);
        let id_key = keys::message(space, &msg.message_id);
        match self {
            Self::Redis(r) => {
                // The record under its carrier id, then the message id's entry naming it: two
                // scripts (the two keys are on different cluster slots), the record undone if
                // the message id turns out to be taken.
                let owner = record::owner(&msg.workspace_id, &msg.message_id);
                let value = record::encode(msg);
                let ids = (msg.workspace_id.as_str(), msg.message_id.as_str());
                let rec = Slot::of(Family::Record, &carrier_key);
                let replaced = match r
                    .put(&rec, &value, Mode::Own(&owner), ttl, Some(&carrier_key), ids)
                    .await?
                {
                    Put::Refused(_) => return Ok(Ownership::Taken(carrier_key)),
                    Put::Written { replaced } => replaced,
                };
                let owner_digest = compact::digest(&owner);
                let entry = [&owner_digest[..], &rec.field[..]].concat();
                let idx = Slot::of(Family::Index, &id_key);
                match r
                    .put(&idx, &entry, Mode::Own(&owner_digest), ttl, Some(&id_key), ids)
                    .await?
                {
                    Put::Written { .. } => Ok(Ownership::Stored),
                    Put::Refused(_) => {
                        if !replaced {
                            r.undo(&rec, &value).await?;
                        }
                        Ok(Ownership::Taken(id_key))
                    }
                }
            }
            Self::Memory(m) => {
                let value = serde_json::to_vec(msg)?;
                let keys = [carrier_key.as_str(), id_key.as_str()];
                let taken = m.set_ex_owned(&keys, &value, ttl, |v| {
                    serde_json::from_slice::<AcceptedMessage>(v)
                        .is_ok_and(|o| o.workspace_id == msg.workspace_id && o.message_id == msg.message_id)
                });
                Ok(match taken {
                    None => Ownership::Stored,
                    Some(i) => Ownership::Taken(keys[i].to_string()),
                })
            }
        }
    }

    /// The message recorded under carrier key `logical`, if it is that carrier id's.
    async fn message_at(
        &self,
        logical: &str,
        carrier: (Option<&str>, &str),
    ) -> Result<Option<AcceptedMessage>, StoreError> {
        match self {
            Self::Redis(r) => Ok(match r.find(&Slot::of(Family::Record, logical), Some(logical)).await? {
                None => None,
                Some((v, true)) => Some(serde_json::from_slice(&v)?),
                Some((v, false)) => {
                    let m = record::decode(&v)?;
                    (m.carrier_connection.as_deref() == carrier.0 && m.carrier_message_id == carrier.1).then_some(m)
                }
            }),
            Self::Memory(_) => self.get_json(logical).await,
        }
    }

    /// The message whose message id is `message_id` in `space`.
    async fn message_in(&self, space: IdSpace<'_>, message_id: &str) -> Result<Option<AcceptedMessage>, StoreError> {
        let logical = keys::message(space, message_id);
        let Self::Redis(r) = self else {
            return self.get_json(&logical).await;
        };
        let entry = match r.find(&Slot::of(Family::Index, &logical), Some(&logical)).await? {
            None => return Ok(None),
            Some((v, true)) => return Ok(Some(serde_json::from_slice(&v)?)),
            Some((v, false)) => v,
        };
        let field: [u8; 8] = entry
            .get(8..16)
            .and_then(|f| f.try_into().ok())
            .ok_or(record::RecordError::new("message id entry"))?;
        Ok(match r.find(&Slot::of_field(Family::Record, field), None).await? {
            Some((v, _)) => Some(record::decode(&v)?).filter(|m| m.message_id == message_id),
            // Its record expired a moment before it.
            None => None,
        })
    }

    /// The accepted message with this (customer-facing) message id, as an event whose sender
    /// is bound to workspace `scope` (or to none) finds it: see [`IdSpace::read_by`].
    pub async fn message_by_id(
        &self,
        scope: Option<&str>,
        message_id: &str,
    ) -> Result<Option<AcceptedMessage>, StoreError> {
        for space in IdSpace::read_by(scope) {
            if let Some(m) = self.message_in(space, message_id).await? {
                return Ok(Some(m));
            }
        }
        Ok(None)
    }

    /// Remembers which message a click belongs to, for joining conversions, in the space of
    /// the click's sender (`scope`, as for messages). First writer wins, like
    /// [`Store::put_message`]: a click id already remembered for another message is
    /// [`Ownership::Taken`].
    pub async fn put_click(
        &self,
        scope: Option<&str>,
        click_id: &str,
        message_id: &str,
        ttl: Duration,
    ) -> Result<Ownership, StoreError> {
        let key = keys::click(IdSpace::written_by(scope), click_id);
        Ok(match self.claim_entry(&key, message_id, ttl).await? {
            Some(h) if h != message_id => Ownership::Taken(key),
            _ => Ownership::Stored,
        })
    }

    /// The message id of a known click, as a conversion whose sender is bound to `scope` (or
    /// to none) finds it.
    pub async fn message_of_click(&self, scope: Option<&str>, click_id: &str) -> Result<Option<String>, StoreError> {
        for space in IdSpace::read_by(scope) {
            if let Some(v) = self.claim_value(&keys::click(space, click_id)).await? {
                return Ok(Some(String::from_utf8_lossy(&v).into_owned()));
            }
        }
        Ok(None)
    }

    /// Claims `key` for `claimant` for `ttl`, atomically across every process sharing the
    /// store. Claiming again with the same claimant wins again, so a record reprocessed after
    /// a crash (same claimant: its topic, partition and offset) is not mistaken for a
    /// duplicate of itself.
    pub async fn claim(&self, key: &ClaimKey, claimant: &str, ttl: Duration) -> Result<bool, StoreError> {
        Ok(self
            .claim_holder(key, claimant, ttl)
            .await?
            .is_none_or(|h| h == claimant))
    }

    /// Claims `key` with `value`, returning the holder's value when someone else holds it.
    async fn claim_holder(&self, key: &ClaimKey, value: &str, ttl: Duration) -> Result<Option<String>, StoreError> {
        self.claim_entry(&key.key(), value, ttl).await
    }

    /// Takes the claim-like entry `logical` (a claim, a click's message id) with `value`,
    /// returning the holder's value when someone else holds it.
    async fn claim_entry(&self, logical: &str, value: &str, ttl: Duration) -> Result<Option<String>, StoreError> {
        Ok(match self {
            Self::Redis(r) => {
                let slot = Slot::of(Family::Claim, logical);
                match r
                    .put(&slot, value.as_bytes(), Mode::Claim, ttl, Some(logical), ("", ""))
                    .await?
                {
                    Put::Written { .. } => None,
                    Put::Refused(h) => Some(String::from_utf8_lossy(&h).into_owned()),
                }
            }
            Self::Memory(m) => m.claim(logical, value, ttl),
        })
    }

    /// The value of claim-like entry `logical`, if it is held.
    async fn claim_value(&self, logical: &str) -> Result<Option<Vec<u8>>, StoreError> {
        match self {
            Self::Redis(r) => Ok(r
                .find(&Slot::of(Family::Claim, logical), Some(logical))
                .await?
                .map(|(v, _)| v)),
            Self::Memory(m) => Ok(m.get(logical)),
        }
    }

    /// Claims the first final status of message `message_id` of `workspace_id` for `claim`'s
    /// record, like [`Store::claim`]: true when it is the first (or this record, again).
    pub async fn claim_final_status(
        &self,
        workspace_id: &str,
        message_id: &str,
        claim: &FinalStatus,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let key = ClaimKey::final_status(workspace_id, message_id);
        let holder = self.claim_holder(&key, &claim.encode(), ttl).await?;
        Ok(holder.is_none_or(|h| FinalStatus::decode(&h).as_ref() == Some(claim)))
    }

    /// The start of the endpoint's current failing streak: `now` if this failure starts one,
    /// else when the first failure of the streak was seen. Kept for `ttl` (longer than the
    /// auto-disable window, so a streak outlives the window it is measured against).
    pub async fn failing_since(
        &self,
        endpoint_key: &str,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> Result<DateTime<Utc>, StoreError> {
        let key = keys::failing_since(endpoint_key);
        let now_s = now.to_rfc3339();
        let holder = match self {
            Self::Redis(r) => r.claim(&key, &now_s, ttl).await?,
            Self::Memory(m) => m.claim(&key, &now_s, ttl),
        };
        Ok(holder
            .and_then(|h| DateTime::parse_from_rfc3339(&h).ok())
            .map_or(now, |t| t.with_timezone(&Utc)))
    }

    /// Ends the endpoint's failing streak (it delivered).
    pub async fn clear_failing(&self, endpoint_key: &str) -> Result<(), StoreError> {
        self.del(&keys::failing_since(endpoint_key)).await
    }

    /// Keeps the endpoint's adaptive rate for `ttl` (`Some`), or forgets it (`None`: back at
    /// its limit).
    pub async fn put_adaptive_rate(
        &self,
        endpoint_key: &str,
        rate: Option<u32>,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        let key = keys::adaptive_rate(endpoint_key);
        match rate {
            Some(rate) => self.set_ex(&key, rate.to_string().as_bytes(), ttl).await,
            None => self.del(&key).await,
        }
    }

    /// The endpoint's adaptive rate, if one is kept.
    pub async fn adaptive_rate(&self, endpoint_key: &str) -> Result<Option<u32>, StoreError> {
        Ok(self
            .get(&keys::adaptive_rate(endpoint_key))
            .await?
            .and_then(|v| std::str::from_utf8(&v).ok()?.parse().ok()))
    }

    /// Keeps the endpoint's adaptive concurrency limit for `ttl`.
    pub async fn put_adaptive_concurrency(
        &self,
        endpoint_key: &str,
        limit: u32,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        let key = keys::adaptive_concurrency(endpoint_key);
        self.set_ex(&key, limit.to_string().as_bytes(), ttl).await
    }

    /// The endpoint's adaptive concurrency limit, if one is kept.
    pub async fn adaptive_concurrency(&self, endpoint_key: &str) -> Result<Option<u32>, StoreError> {
        Ok(self
            .get(&keys::adaptive_concurrency(endpoint_key))
            .await?
            .and_then(|v| std::str::from_utf8(&v).ok()?.parse().ok()))
    }

    async fn del(&self, key: &str) -> Result<(), StoreError> {
        match self {
            Self::Redis(r) => r.del(key).await,
            Self::Memory(m) => {
                m.del(key);
                Ok(())
            }
        }
    }

    /// Whether the message has had a final status.
    pub async fn has_final_status(&self, workspace_id: &str, message_id: &str) -> Result<bool, StoreError> {
        let key = ClaimKey::final_status(workspace_id, message_id).key();
        Ok(self.claim_value(&key).await?.is_some())
    }

    /// The message's first final status, if it has had one.
    pub async fn final_status(&self, workspace_id: &str, message_id: &str) -> Result<Option<DlrStatus>, StoreError> {
        let key = ClaimKey::final_status(workspace_id, message_id).key();
        Ok(self
            .claim_value(&key)
            .await?
            .and_then(|v| FinalStatus::decode(&String::from_utf8_lossy(&v)))
            .map(|f| f.status))
    }

    async fn set_ex(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), StoreError> {
        match self {
            Self::Redis(r) => r.set_ex(key, value, ttl).await,
            Self::Memory(m) => {
                m.set_ex(key, value.to_vec(), ttl);
                Ok(())
            }
        }
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        match self {
            Self::Redis(r) => r.get(key).await,
            Self::Memory(m) => Ok(m.get(key)),
        }
    }

    async fn get_json<T: serde::de::DeserializeOwned>(&self, key: &str) -> Result<Option<T>, StoreError> {
        Ok(self.get(key).await?.map(|v| serde_json::from_slice(&v)).transpose()?)
    }

    /// The accepted message a DLR refers to (by the carrier's id, within the carrier
    /// connection when the DLR names one), if it is known and not expired, as a DLR whose
    /// sender is bound to workspace `scope` (or to none) finds it.
    pub async fn message_by_carrier_id(
        &self,
        scope: Option<&str>,
        connection: Option<&str>,
        carrier_message_id: &str,
    ) -> Result<Option<AcceptedMessage>, StoreError> {
        for space in IdSpace::read_by(scope) {
            let key = keys::carrier_message(space, connection, carrier_message_id);
            if let Some(m) = self.message_at(&key, (connection, carrier_message_id)).await? {
                return Ok(Some(m));
            }
        }
        Ok(None)
    }

    /// Prepends a batch of attempts, each given decoded and as the JSON bytes to keep, to
    /// their workspaces' logs, keeping the newest `keep` of each, and counts them in their
    /// subscriptions' stats ([`attempt_stats`]): one round trip (one atomic pipeline) for the
    /// whole batch, the attempt log's write path. Within a workspace the later entry of
    /// `batch` ends up nearer the front, as if pushed one at a time in order.
    pub async fn push_attempts(&self, batch: &[(&AttemptRecord, &[u8])], keep: usize) -> Result<(), StoreError> {
        let mut lists: Vec<(String, Vec<&[u8]>)> = Vec::new();
        for (record, value) in batch {
            let key = keys::attempts(&record.workspace_id);
            match lists.iter_mut().find(|(k, _)| *k == key) {
                Some((_, values)) => values.push(value),
                None => lists.push((key, vec![value])),
            }
        }
        let stats = attempt_stats::tally(batch.iter().map(|(r, _)| *r));
        match self {
            Self::Redis(r) => r.push_capped_many(&lists, keep, &stats).await,
            Self::Memory(m) => {
                for (key, values) in &lists {
                    for v in values {
                        m.push_capped(key, v.to_vec(), keep);
                    }
                }
                m.write_hashes(&stats, attempt_stats::KEEP);
                Ok(())
            }
        }
    }

    /// The newest `limit` attempts of a workspace, newest first.
    pub async fn latest_attempts(&self, workspace_id: &str, limit: usize) -> Result<Vec<AttemptRecord>, StoreError> {
        let key = keys::attempts(workspace_id);
        let raw = match self {
            Self::Redis(r) => r.range(&key, limit).await?,
            Self::Memory(m) => m.range(&key, limit),
        };
        let mut out = Vec::with_capacity(raw.len());
        for v in raw {
            match serde_json::from_slice(&v) {
                Ok(rec) => out.push(rec),
                // One undecodable entry (an older format) must not hide the others.
                Err(e) => tracing::warn!(error = %e, "skipping undecodable attempt log entry"),
            }
        }
        Ok(out)
    }
}

impl Store {
    /// Prepends a dead letter to its workspace's list, keeping the newest `keep`.
    pub async fn push_dead_letter(&self, dead: &DeadLetter, keep: usize) -> Result<(), StoreError> {
        let key = keys::dead_letters(&dead.dispatch.workspace_id);
        let value = serde_json::to_vec(dead)?;
        match self {
            Self::Redis(r) => r.push_capped(&key, &value, keep).await,
            Self::Memory(m) => {
                m.push_capped(&key, value, keep);
                Ok(())
            }
        }
    }

    /// The newest `limit` dead letters of a workspace, newest first, each with its stored
    /// bytes (the handle [`Store::remove_dead_letter`] takes).
    pub async fn dead_letters(
        &self,
        workspace_id: &str,
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, DeadLetter)>, StoreError> {
        let key = keys::dead_letters(workspace_id);
        let raw = match self {
            Self::Redis(r) => r.range(&key, limit).await?,
            Self::Memory(m) => m.range(&key, limit),
        };
        Ok(raw
            .into_iter()
            .filter_map(|v| match serde_json::from_slice(&v) {
                Ok(d) => Some((v, d)),
                Err(e) => {
                    tracing::warn!(error = %e, "skipping undecodable dead letter");
                    None
                }
            })
            .collect())
    }

    /// Removes one dead letter (after it was re-sent).
    pub async fn remove_dead_letter(&self, workspace_id: &str, raw: &[u8]) -> Result<(), StoreError> {
        let key = keys::dead_letters(workspace_id);
        match self {
            Self::Redis(r) => r.remove_one(&key, raw).await,
            Self::Memory(m) => {
                m.remove_one(&key, raw);
                Ok(())
            }
        }
    }
}

/// Runs `op` until it succeeds, backing off from 50 ms to 5 s between tries, so a Redis
/// outage pauses processing instead of dropping or skipping records. Returns `None` only if
/// `shutdown` fires first; the caller then leaves its record uncommitted.
pub async fn retry_until_ok<T, F, Fut>(
    shutdown: &tokio_util::sync::CancellationToken,
    what: &str,
    mut on_error: impl FnMut(),
    mut op: F,
) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, StoreError>>,
{
    let mut delay = Duration::from_millis(50);
    loop {
        match op().await {
            Ok(v) => return Some(v),
            Err(e) => {
                on_error();
                tracing::warn!(op = what, error = %e, retry_in_ms = delay.as_millis() as u64, "store unavailable");
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => return None,
            _ = tokio::time::sleep(delay) => {}
        }
        delay = (delay * 2).min(Duration::from_secs(5));
    }
}

#[cfg(test)]
mod backend_tests;
#[cfg(test)]
mod id_space_tests;

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_final_status_claim_is_stored_as_before_and_read_back_typed() {
        let store = Store::memory();
        let ttl = Duration::from_secs(60);
        let first = FinalStatus {
            claimant: "hookline.carrier-dlrs:0:5".into(),
            status: DlrStatus::Delivered,
        };
        assert!(!store.has_final_status("ws", "m1").await.unwrap());
        assert!(store.claim_final_status("ws", "m1", &first, ttl).await.unwrap());
        assert_eq!(
            store.claim_value("claim:final:ws:m1").await.unwrap().as_deref(),
            Some(&b"hookline.carrier-dlrs:0:5|DELIVRD"[..]),
            "the format claims already in Redis have"
        );
        assert!(
            store.claim_final_status("ws", "m1", &first, ttl).await.unwrap(),
            "same record again"
        );
        let later = FinalStatus {
            claimant: "hookline.carrier-dlrs:0:9".into(),
            status: DlrStatus::Undeliverable,
        };
        assert!(!store.claim_final_status("ws", "m1", &later, ttl).await.unwrap());
        assert!(store.has_final_status("ws", "m1").await.unwrap());
        assert_eq!(
            store.final_status("ws", "m1").await.unwrap(),
            Some(DlrStatus::Delivered)
        );
        assert_eq!(store.final_status("ws", "m2").await.unwrap(), None);
    }
}
