//! Opt-in batching of a subscription's deliveries (`batch` on a named subscription,
//! [`hookline_model::batch`]).
//!
//! A record of a subscription with batching that reaches the attempt stage joins its
//! endpoint's open batch instead of taking a request slot of its own; the record that opens a
//! batch starts a collector ([`Pending::ready`]) that returns the batch once it has
//! `max_events` records or `max_wait_ms` after its first, whichever comes first. The batch is
//! then admitted once (one request slot and one rate-limit token: the rate limit counts
//! requests, not events), sent as one POST `{"events": [<envelope>, ...]}` signed over that
//! whole body, and its outcome fed to the endpoint's adaptive rate and failover state once.
//! Records waiting for a batch hold no request slot, so the endpoint's concurrency never caps
//! a batch; they stay in the consumer's window (`HOOKLINE_DELIVERY_MAX_IN_FLIGHT`) until the
//! batch is settled.
//!
//! Every record of the batch then settles on the batch's outcome as if it had been sent
//! alone: one attempt record each (the shared response, with `batch_id` and `batch_size`),
//! and after a failure its own next retry tier (or the dead-letter topic, once its policy is
//! used up). Records of one batch fail with the same attempt number at the same moment, so
//! they are due together and come back into one batch: **the batch retries as a whole**;
//! there is no per-event outcome within a batch. A 429 defers every record of the batch (none
//! uses an attempt, as for a single event); a saturated endpoint or a long rate-limit wait
//! defers them all to the same due time. Test sends are never batched. Replays are batched
//! apart from first sends (a batch carries one `X-Webhook-Replay`).
//!
//! The request: `X-Webhook-Id` and `webhook-id` are the batch id
//! ([`hookline_model::batch::batch_id`], derived from the events' webhook ids, so the same
//! events re-sent together keep it), `X-Webhook-Event: batch`, `X-Webhook-Attempt` the highest
//! attempt number among its events, `X-Webhook-Batch-Size` the number of events; each
//! envelope's `id` is its event id, what a receiver dedupes on. The attempt log keeps each
//! event's own envelope as its payload.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;

/// The open (still filling) batch of every endpoint in this process. One delivery consumer
/// owns an endpoint ([`crate::gate`]), so a batch is never split across processes on purpose;
/// after a rebalance each owner batches what it has.
pub(crate) struct Batcher<M> {
    open: Mutex<HashMap<String, Open<M>>>,
    next_id: std::sync::atomic::AtomicU64,
}

struct Open<M> {
    id: u64,
    members: Arc<Mutex<Vec<M>>>,
    full: Arc<Notify>,
}

/// The collector of a batch, held by the record that opened it.
pub(crate) struct Pending<M> {
    batcher: Arc<Batcher<M>>,
    key: String,
    id: u64,
    members: Arc<Mutex<Vec<M>>>,
    full: Arc<Notify>,
    wait: Duration,
}

impl<M> Default for Batcher<M> {
    fn default() -> Self {
        Self {
            open: Mutex::default(),
            next_id: Default::default(),
        }
    }
}

impl<M> Batcher<M> {
    /// Adds `m` to `key`'s open batch, or opens one. Returns the batch's collector when `m`
    /// opened it: the caller awaits [`Pending::ready`] and sends what it returns.
    pub fn add(self: &Arc<Self>, key: &str, max_events: usize, wait: Duration, m: M) -> Option<Pending<M>> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(batch) = open.get(key) {
            let mut members = batch.members.lock().unwrap_or_else(|p| p.into_inner());
            members.push(m);
            if members.len() >= max_events {
                // Full: the next record opens a new batch; the collector sends this one now.
                batch.full.notify_one();
                drop(members);
                open.remove(key);
            }
            return None;
        }
        let id = self.next_id.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let (members, full) = (Arc::new(Mutex::new(vec![m])), Arc::new(Notify::new()));
        if max_events > 1 {
            let batch = Open {
                id,
                members: members.clone(),
                full: full.clone(),
            };
            open.insert(key.to_string(), batch);
        } else {
            full.notify_one();
        }
        Some(Pending {
            batcher: self.clone(),
            key: key.to_string(),
            id,
            members,
            full,
            wait,
        })
    }

    /// Batches still filling (for tests and metrics).
    #[cfg(test)]
    fn open_batches(&self) -> usize {
        self.open.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

impl<M> Pending<M> {
    /// The batch, once it is full or its wait is over; no record joins it after this.
    pub async fn ready(self) -> Vec<M> {
        tokio::select! {
            _ = self.full.notified() => {}
            _ = tokio::time::sleep(self.wait) => {}
        }
        let mut open = self.batcher.open.lock().unwrap_or_else(|p| p.into_inner());
        if open.get(&self.key).is_some_and(|b| b.id == self.id) {
            open.remove(&self.key);
        }
        drop(open);
        std::mem::take(&mut *self.members.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[tokio::test]
    async fn a_full_batch_is_ready_at_once_and_the_next_record_opens_another() {
        let b = Arc::new(Batcher::default());
        let long = Duration::from_secs(60);
        let pending = b.add("w/a", 3, long, 1).expect("the first record opens the batch");
        assert!(b.add("w/a", 3, long, 2).is_none());
        assert!(b.add("w/b", 3, long, 10).is_some(), "another endpoint, another batch");
        assert!(b.add("w/a", 3, long, 3).is_none());
        let next = b.add("w/a", 3, long, 4).expect("a full batch takes no more");
        let started = Instant::now();
        assert_eq!(pending.ready().await, vec![1, 2, 3]);
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "sent when full, not after its wait"
        );
        assert!(b.add("w/a", 3, long, 5).is_none());
        drop(next);
        assert_eq!(b.open_batches(), 2);
    }

    #[tokio::test]
    async fn a_batch_that_does_not_fill_is_sent_after_its_wait() {
        let b = Arc::new(Batcher::default());
        let wait = Duration::from_millis(80);
        let started = Instant::now();
        let pending = b.add("w/a", 10, wait, "x").unwrap();
        assert!(b.add("w/a", 10, wait, "y").is_none());
        assert_eq!(pending.ready().await, vec!["x", "y"]);
        assert!(started.elapsed() >= wait, "{:?}", started.elapsed());
        assert_eq!(b.open_batches(), 0, "closed: the next record opens a new batch");
        let again = b.add("w/a", 10, wait, "z").expect("a new batch");
        assert_eq!(again.ready().await, vec!["z"]);
    }

    #[tokio::test]
    async fn a_batch_of_one_is_sent_at_once() {
        let b = Arc::new(Batcher::default());
        let started = Instant::now();
        let p = b.add("w/a", 1, Duration::from_secs(60), 7).unwrap();
        assert_eq!(p.ready().await, vec![7]);
        assert!(started.elapsed() < Duration::from_secs(5));
        assert_eq!(b.open_batches(), 0);
    }
}
