//! Per-message status ordering: for one message, a status webhook is not sent to an endpoint
//! after a later status of the same message has been delivered there.
//!
//! Records of one endpoint are attempted concurrently (up to its `max_concurrency`) and a
//! failed attempt is retried minutes later from a retry tier, so without this a message's
//! `sent` could reach the receiver after its `delivered`. The delivery consumer that owns an
//! endpoint (dispatch and retry topics are keyed by it) remembers, per (endpoint, message),
//! the highest status delivered there ([`Mark`]); a status that ranks below it is not sent
//! but recorded as a skipped attempt, "superseded by …" (never dead-lettered: nothing failed).
//!
//! Statuses rank by [`rank`]: `sent` below every final status; among equal ranks the one that
//! happened later (the event's `occurred_at`, the carrier's done time) is the later status.
//! An equal status (a redelivery of the same event) is sent: at-least-once allows it.
//!
//! Not ordered, sent as they come:
//! - statuses flagged `after_final` (the carrier reported them after the message's first
//!   final one): already marked for the receiver, they are delivered as before, so the flag
//!   stays the one signal for "the carrier changed its mind" (they still raise the mark);
//! - test sends and replays (an explicit request to send that event);
//! - every other event kind (one delivery webhook per message comes from enrich's claim).
//!
//! Two statuses of one message are never in flight to one endpoint at once: [`Ordering::turn`]
//! hands out a per-(endpoint, message) lock, held from the check to the attempt's outcome,
//! so the later status waits for the earlier attempt (one request, bounded by the timeout)
//! while other messages of the endpoint go on.
//!
//! The memory is in-process and bounded ([`Marks`]): when the endpoint's partition moves to
//! another replica (a rebalance, a restart) or an entry is evicted, the new owner starts with
//! nothing remembered, so an older status still pending then (in a retry tier) can follow a
//! newer one once.

use hookline_model::event::MessageStatus;
use hookline_model::{AttemptOutcome, AttemptRecord, Dispatch, EventData};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::OwnedMutexGuard;

/// Messages remembered per process before the oldest half is forgotten (see [`Marks`]).
pub(crate) const MAX_MESSAGES: usize = 200_000;

/// Where a status stands in its message's life: `sent` (accepted, en route) below the final
/// statuses, which rank equal (the one that happened later wins, see [`Mark`]).
pub(crate) fn rank(status: MessageStatus) -> u8 {
    u8::from(status.is_final())
}

/// The highest status of a message delivered to an endpoint: compared as (rank, occurred_at).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Mark {
    pub status: MessageStatus,
    pub occurred_at: chrono::DateTime<chrono::Utc>,
    /// When that status was delivered (for the skipped attempt's reason).
    pub delivered_at: chrono::DateTime<chrono::Utc>,
}

impl Mark {
    fn key(&self) -> (u8, chrono::DateTime<chrono::Utc>) {
        (rank(self.status), self.occurred_at)
    }

    /// Whether this delivered status is later than `other` (which must then not be sent).
    pub fn supersedes(&self, other: &Mark) -> bool {
        self.key() > other.key()
    }
}

/// A status record the ordering applies to: its message and its mark if delivered now.
struct Ordered {
    key: String,
    mark: Mark,
    after_final: bool,
}

fn ordered(d: &Dispatch) -> Option<Ordered> {
    let EventData::Status(s) = &d.event.data else {
        return None;
    };
    if d.test || d.replay {
        return None;
    }
    Some(Ordered {
        key: format!("{}\n{}", d.endpoint_key(), s.message_id),
        mark: Mark {
            status: s.status,
            occurred_at: d.event.occurred_at,
            delivered_at: chrono::Utc::now(),
        },
        after_final: s.after_final,
    })
}

/// The highest delivered status per (endpoint, message), bounded: two generations, the
/// current one filled until it holds half of [`MAX_MESSAGES`], then it becomes the previous
/// one (dropping the one before). A message touched in either is kept; one untouched for a
/// whole generation (100,000 newer messages of this process) is forgotten.
#[derive(Default)]
struct Marks {
    current: HashMap<String, Mark>,
    previous: HashMap<String, Mark>,
}

impl Marks {
    fn get(&self, key: &str) -> Option<Mark> {
        self.current.get(key).or_else(|| self.previous.get(key)).copied()
    }

    /// Keeps `mark` for `key` unless a later one is kept.
    fn raise(&mut self, key: &str, mark: Mark) {
        let mark = match self.get(key) {
            Some(kept) if !mark.supersedes(&kept) => kept,
            _ => mark,
        };
        self.previous.remove(key);
        if self.current.len() >= MAX_MESSAGES / 2 {
            self.previous = std::mem::take(&mut self.current);
        }
        self.current.insert(key.to_string(), mark);
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.current.len() + self.previous.len()
    }
}

/// The per-endpoint, per-message status memory and locks of one delivery process.
#[derive(Default)]
pub(crate) struct Ordering {
    marks: Mutex<Marks>,
    /// One lock per (endpoint, message) with a status in handling; removed when unused.
    locks: Arc<Locks>,
}

/// The lock of each (endpoint, message) in handling, by key.
type Locks = Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>;

/// A record's turn for its message at its endpoint, from [`Ordering::turn`] until dropped.
/// Records the ordering does not apply to get an empty turn.
pub(crate) struct Turn<'a> {
    ordering: &'a Ordering,
    held: Option<(Ordered, Held)>,
}

/// The lock of one (endpoint, message); releasing it removes it from the map when no other
/// record waits for it.
struct Held {
    guard: Option<OwnedMutexGuard<()>>,
    locks: Arc<Locks>,
    key: String,
}

impl Drop for Held {
    fn drop(&mut self) {
        drop(self.guard.take());
        let mut locks = self.locks.lock().unwrap_or_else(|p| p.into_inner());
        // Clones are made under this map lock, so a count of 1 means no one waits for it.
        if locks.get(&self.key).is_some_and(|l| Arc::strong_count(l) == 1) {
            locks.remove(&self.key);
        }
    }
}

impl Ordering {
    /// Waits until no other status of `d`'s message is in handling for `d`'s endpoint, and
    /// holds that turn until the returned value is dropped.
    pub async fn turn(&self, d: &Dispatch) -> Turn<'_> {
        let Some(o) = ordered(d) else {
            return Turn {
                ordering: self,
                held: None,
            };
        };
        let lock = {
            let mut locks = self.locks.lock().unwrap_or_else(|p| p.into_inner());
            locks.entry(o.key.clone()).or_default().clone()
        };
        let held = Held {
            guard: Some(lock.lock_owned().await),
            locks: self.locks.clone(),
            key: o.key.clone(),
        };
        Turn {
            ordering: self,
            held: Some((o, held)),
        }
    }

    fn marks(&self) -> std::sync::MutexGuard<'_, Marks> {
        self.marks.lock().unwrap_or_else(|p| p.into_inner())
    }

    #[cfg(test)]
    fn locks_in_use(&self) -> usize {
        self.locks.lock().unwrap().len()
    }
}

impl Turn<'_> {
    /// Why the record must not be sent: a later status of its message was already delivered
    /// to its endpoint.
    pub fn superseded(&self) -> Option<String> {
        let (o, _) = self.held.as_ref()?;
        if o.after_final {
            return None;
        }
        let kept = self.ordering.marks().get(&o.key)?;
        kept.supersedes(&o.mark).then(|| {
            format!(
                "superseded by {} (occurred {}) delivered at {}",
                kept.status.as_str(),
                kept.occurred_at.to_rfc3339(),
                kept.delivered_at.to_rfc3339()
            )
        })
    }

    /// Remembers a delivered status; ends the turn.
    pub fn outcome(self, record: &AttemptRecord) {
        if let Some((o, _held)) = &self.held {
            if record.outcome == AttemptOutcome::Delivered {
                let mark = Mark {
                    delivered_at: record.attempted_at,
                    ..o.mark
                };
                self.ordering.marks().raise(&o.key, mark);
            }
        }
    }
}

#[cfg(test)]
#[path = "ordering_tests.rs"]
mod tests;
