//! Per-subscription delivery statistics, exact for their windows: the attempt log's list is
//! capped per workspace (a busy subscription pushes a quiet one's attempts out), so the stats
//! are counted apart from it, as each attempt is logged.
//!
//! Each attempt that was sent (outcome `delivered` or `failed`; a `skipped` one was never
//! sent and is not counted) adds 1 to its subscription's bucket of the minute it was made in
//! ([`keys::attempt_stats`], a hash: `attempts`, `delivered`, `failed`, and one `le_<ms>`
//! field per latency bucket of [`LATENCY_BOUNDS_MS`]), which lives [`KEEP`]. Its subscription's
//! [`keys::attempt_stats_last`] hash keeps the last attempt (`attempt`, [`LastAttempt`]) and
//! the last failure (`error`, [`LastError`]). The writes go in the attempt log's own
//! pipeline ([`crate::Store::push_attempts`]), so the stats count exactly the attempts
//! logged. A window of N minutes sums the buckets of the current minute and the N − 1 before.

use crate::{keys, Store, StoreError};
use chrono::{DateTime, Utc};
use hookline_model::{AttemptOutcome, AttemptRecord};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

/// Upper bounds (ms) of the latency buckets; an attempt slower than the last bound counts in
/// the last bucket. A percentile is reported as the upper bound of the bucket it falls in.
pub const LATENCY_BOUNDS_MS: [u64; 12] = [10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 30_000, 60_000];

/// The windows the stats endpoint shows, in minutes (1 h and 24 h).
pub const WINDOWS_MINUTES: [i64; 2] = [60, 1_440];

/// How long a minute bucket and the last attempt/error are kept: the longest window and an
/// hour's margin.
pub const KEEP: Duration = Duration::from_secs(25 * 3600);

/// Writes to hashes that go in one pipeline with the attempt log: counter increments, field
/// values, and a TTL of [`KEEP`] on every key touched.
#[derive(Debug, Default, PartialEq)]
pub struct HashWrites {
    /// Per key, per field, the amount to add.
    pub incr: BTreeMap<String, BTreeMap<String, i64>>,
    /// Per key, per field, the value to set (a later one in the batch wins).
    pub set: BTreeMap<String, BTreeMap<String, Vec<u8>>>,
}

impl HashWrites {
    /// Every key written, each once.
    pub fn keys(&self) -> impl Iterator<Item = &String> {
        self.incr
            .keys()
            .chain(self.set.keys().filter(|k| !self.incr.contains_key(*k)))
    }
}

/// The subscription's last attempt that was sent: what the stats show as its current state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LastAttempt {
    pub at: DateTime<Utc>,
    pub outcome: AttemptOutcome,
    #[serde(default)]
    pub throttled_rate_per_sec: Option<u32>,
    #[serde(default)]
    pub url_kind: Option<String>,
}

/// The subscription's last failed attempt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LastError {
    /// The error (`HTTP 500`, `timeout`, ...) as in the attempt log.
    pub message: String,
    pub at: DateTime<Utc>,
    #[serde(default)]
    pub response_code: Option<u16>,
}

/// One window's numbers.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowStats {
    pub minutes: i64,
    pub attempts: u64,
    pub delivered: u64,
    pub failed: u64,
    /// Upper bounds of the latency buckets holding the median and the 99th percentile, over
    /// every counted attempt; `None` without attempts.
    pub p50_ms: Option<u64>,
    pub p99_ms: Option<u64>,
    /// The last failure, if it was within the window.
    pub last_error: Option<LastError>,
}

/// A subscription's stats: one entry per window of [`WINDOWS_MINUTES`], and its last attempt.
#[derive(Debug, Clone, PartialEq)]
pub struct SubscriptionStats {
    pub windows: Vec<WindowStats>,
    pub last_attempt: Option<LastAttempt>,
}

const ATTEMPTS: &str = "attempts";
const DELIVERED: &str = "delivered";
const FAILED: &str = "failed";
const LAST_ATTEMPT: &str = "attempt";
const LAST_ERROR: &str = "error";

fn minute_of(at: &DateTime<Utc>) -> i64 {
    at.timestamp().div_euclid(60)
}

fn latency_field(ms: u64) -> String {
    let bound = LATENCY_BOUNDS_MS
        .iter()
        .find(|b| ms <= **b)
        .unwrap_or(&LATENCY_BOUNDS_MS[LATENCY_BOUNDS_MS.len() - 1]);
    format!("le_{bound}")
}

/// What a batch of logged attempts adds to the stats (records in the order they were logged).
pub fn tally<'a>(records: impl IntoIterator<Item = &'a AttemptRecord>) -> HashWrites {
    let mut w = HashWrites::default();
    for r in records {
        let outcome_field = match r.outcome {
            AttemptOutcome::Delivered => DELIVERED,
            AttemptOutcome::Failed => FAILED,
            AttemptOutcome::Skipped => continue,
        };
        let bucket = keys::attempt_stats(&r.workspace_id, &r.subscription_id, minute_of(&r.attempted_at));
        let counters = w.incr.entry(bucket).or_default();
        for field in [
            ATTEMPTS.to_string(),
            outcome_field.to_string(),
            latency_field(r.response_time_ms),
        ] {
            *counters.entry(field).or_default() += 1;
        }
        let last = w
            .set
            .entry(keys::attempt_stats_last(&r.workspace_id, &r.subscription_id))
            .or_default();
        let attempt = LastAttempt {
            at: r.attempted_at,
            outcome: r.outcome,
            throttled_rate_per_sec: r.throttled_rate_per_sec,
            url_kind: r.url_kind.clone(),
        };
        last.insert(LAST_ATTEMPT.into(), serde_json::to_vec(&attempt).unwrap_or_default());
        if r.outcome == AttemptOutcome::Failed {
            let error = LastError {
                message: r.error.clone().unwrap_or_else(|| match r.response_code {
                    Some(code) => format!("HTTP {code}"),
                    None => "failed".into(),
                }),
                at: r.attempted_at,
                response_code: r.response_code,
            };
            last.insert(LAST_ERROR.into(), serde_json::to_vec(&error).unwrap_or_default());
        }
    }
    w
}

type Hash = HashMap<String, Vec<u8>>;

fn count(h: &Hash, field: &str) -> u64 {
    h.get(field)
        .and_then(|v| std::str::from_utf8(v).ok()?.parse().ok())
        .unwrap_or(0)
}

/// The percentile `q` (0–1) of a histogram, as the upper bound of its bucket.
fn percentile(histogram: &[u64], total: u64, q: f64) -> Option<u64> {
    if total == 0 {
        return None;
    }
    let rank = ((q * total as f64).ceil() as u64).max(1);
    let mut seen = 0;
    for (i, n) in histogram.iter().enumerate() {
        seen += n;
        if seen >= rank {
            return Some(LATENCY_BOUNDS_MS[i]);
        }
    }
    LATENCY_BOUNDS_MS.last().copied()
}

/// The stats at minute `now_minute` from the buckets read (`(minute, hash)`, any order) and
/// the last-attempt hash.
pub fn summarize(now_minute: i64, buckets: &[(i64, Hash)], last: &Hash) -> SubscriptionStats {
    fn decode<T: serde::de::DeserializeOwned>(last: &Hash, field: &str) -> Option<T> {
        last.get(field).and_then(|v| serde_json::from_slice(v).ok())
    }
    let last_error: Option<LastError> = decode(last, LAST_ERROR);
    let windows = WINDOWS_MINUTES
        .iter()
        .map(|&minutes| {
            let first = now_minute - minutes + 1;
            let mut w = WindowStats {
                minutes,
                attempts: 0,
                delivered: 0,
                failed: 0,
                p50_ms: None,
                p99_ms: None,
                last_error: last_error.clone().filter(|e| minute_of(&e.at) >= first),
            };
            let mut histogram = [0u64; LATENCY_BOUNDS_MS.len()];
            for (_, h) in buckets.iter().filter(|(m, _)| (first..=now_minute).contains(m)) {
                w.attempts += count(h, ATTEMPTS);
                w.delivered += count(h, DELIVERED);
                w.failed += count(h, FAILED);
                for (i, bound) in LATENCY_BOUNDS_MS.iter().enumerate() {
                    histogram[i] += count(h, &format!("le_{bound}"));
                }
            }
            let total = histogram.iter().sum();
            w.p50_ms = percentile(&histogram, total, 0.5);
            w.p99_ms = percentile(&histogram, total, 0.99);
            w
        })
        .collect();
    SubscriptionStats {
        windows,
        last_attempt: decode(last, LAST_ATTEMPT),
    }
}

/// One hour of a subscription's attempts, for a chart.
#[derive(Debug, Clone, PartialEq)]
pub struct HourStats {
    /// The hour's first minute (Unix minutes).
    pub minute: i64,
    pub attempts: u64,
    pub delivered: u64,
}

/// The 24 hours ending with minute `now_minute`, oldest first, from the buckets read.
pub fn hourly(now_minute: i64, buckets: &[(i64, Hash)]) -> Vec<HourStats> {
    let first = now_minute - 24 * 60 + 1;
    let mut hours: Vec<HourStats> = (0..24)
        .map(|h| HourStats {
            minute: first + h * 60,
            attempts: 0,
            delivered: 0,
        })
        .collect();
    for (m, h) in buckets.iter().filter(|(m, _)| (first..=now_minute).contains(m)) {
        let slot = &mut hours[((m - first) / 60) as usize];
        slot.attempts += count(h, ATTEMPTS);
        slot.delivered += count(h, DELIVERED);
    }
    hours
}

impl Store {
    /// The stats of subscription `subscription_id` of `workspace_id` at `now` (see the
    /// module docs): one read of every minute bucket of the longest window.
    pub async fn attempt_stats(
        &self,
        workspace_id: &str,
        subscription_id: &str,
        now: DateTime<Utc>,
    ) -> Result<SubscriptionStats, StoreError> {
        Ok(self.attempt_stats_hourly(workspace_id, subscription_id, now).await?.0)
    }

    /// [`Store::attempt_stats`] and the last 24 hours hour by hour ([`hourly`]), from the
    /// same read.
    pub async fn attempt_stats_hourly(
        &self,
        workspace_id: &str,
        subscription_id: &str,
        now: DateTime<Utc>,
    ) -> Result<(SubscriptionStats, Vec<HourStats>), StoreError> {
        let now_minute = minute_of(&now);
        let longest = WINDOWS_MINUTES.iter().max().copied().unwrap_or(0);
        let minutes: Vec<i64> = (now_minute - longest + 1..=now_minute).collect();
        let mut keys: Vec<String> = minutes
            .iter()
            .map(|m| keys::attempt_stats(workspace_id, subscription_id, *m))
            .collect();
        keys.push(keys::attempt_stats_last(workspace_id, subscription_id));
        let mut hashes = match self {
            Self::Redis(r) => r.hgetall_many(&keys).await?,
            Self::Memory(m) => keys.iter().map(|k| m.hgetall(k)).collect(),
        };
        let last = hashes.pop().unwrap_or_default();
        let buckets: Vec<(i64, Hash)> = minutes.into_iter().zip(hashes).filter(|(_, h)| !h.is_empty()).collect();
        Ok((summarize(now_minute, &buckets, &last), hourly(now_minute, &buckets)))
    }
}

#[cfg(test)]
#[path = "attempt_stats_tests.rs"]
mod tests;
