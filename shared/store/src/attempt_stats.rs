//! Per-subscription delivery statistics, exact for their windows: the attempt log's list is
//! capped per workspace (a busy subscription pushes a quiet one's attempts out), so the stats
//! are counted apart from it, as each attempt is logged.
//!
//! Each attempt that was sent (outcome `delivered` or `failed`; a `skipped` one was never
//! sent and is not counted) adds 1 to its subscription's bucket of the minute it was made in
//! ([`keys::attempt_stats`], a hash: `attempts`, `delivered`, `failed`, and one `le_<ms>`
//! field per latency bucket of [`LATENCY_BOUNDS_MS`]) and to the same fields of the clock
//! hour's roll-up ([`keys::attempt_stats_hour`]); both live [`KEEP`]. Its subscription's
//! [`keys::attempt_stats_last`] hash keeps the last attempt (`attempt`, [`LastAttempt`]) and
//! the last failure (`error`, [`LastError`]). The writes go in the attempt log's own
//! pipeline ([`crate::Store::push_attempts`]), so the stats count exactly the attempts
//! logged.
//!
//! A window of N minutes is the current minute and the N − 1 before. It is read as the
//! roll-ups of the clock hours it covers, and, for the hour it starts in part-way through,
//! that hour's minutes inside the window or (when fewer) its roll-up less its minutes before
//! the window ([`ReadPlan`]). So a read costs the 24 hourly roll-ups the chart shows, at most
//! one more, and at most 30 minute buckets per window: at most 86 hashes per subscription
//! (about 55 on average), not the 1 441 minute buckets of a day. [`Store::attempt_stats_many`]
//! reads any number of subscriptions in one round trip (the workspace overview).
//!
//! Hourly roll-ups started with issue 28: minutes logged before an upgrade to it are in no
//! roll-up, so for the first day after it the windows and the chart count fewer attempts than
//! were made.

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

/// The clock hour (Unix hours) a Unix minute is in.
fn hour_of(minute: i64) -> i64 {
    minute.div_euclid(60)
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
        let minute = minute_of(&r.attempted_at);
        for bucket in [
            keys::attempt_stats(&r.workspace_id, &r.subscription_id, minute),
            keys::attempt_stats_hour(&r.workspace_id, &r.subscription_id, hour_of(minute)),
        ] {
            let counters = w.incr.entry(bucket).or_default();
            for field in [
                ATTEMPTS.to_string(),
                outcome_field.to_string(),
                latency_field(r.response_time_ms),
            ] {
                *counters.entry(field).or_default() += 1;
            }
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

/// The counters of one hash (a minute bucket or an hour's roll-up), or a sum and difference
/// of them.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Counts {
    attempts: i64,
    delivered: i64,
    failed: i64,
    histogram: [i64; LATENCY_BOUNDS_MS.len()],
}

impl Counts {
    fn of(h: &Hash) -> Self {
        let mut c = Self {
            attempts: count(h, ATTEMPTS),
            delivered: count(h, DELIVERED),
            failed: count(h, FAILED),
            ..Self::default()
        };
        for (i, bound) in LATENCY_BOUNDS_MS.iter().enumerate() {
            c.histogram[i] = count(h, &format!("le_{bound}"));
        }
        c
    }

    /// Adds `sign` (1 or −1) times `other`.
    fn add(&mut self, other: &Self, sign: i64) {
        self.attempts += sign * other.attempts;
        self.delivered += sign * other.delivered;
        self.failed += sign * other.failed;
        for (a, b) in self.histogram.iter_mut().zip(other.histogram) {
            *a += sign * b;
        }
    }
}

type Hash = HashMap<String, Vec<u8>>;

fn count(h: &Hash, field: &str) -> i64 {
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

/// One window as hashes to add and subtract: the roll-ups of `hours`, plus the minute buckets
/// of `plus`, less those of `minus`.
#[derive(Debug, Clone, PartialEq)]
struct WindowParts {
    minutes: i64,
    hours: Vec<i64>,
    plus: Vec<i64>,
    minus: Vec<i64>,
}

impl WindowParts {
    /// The window of `minutes` ending with minute `now_minute`.
    fn new(now_minute: i64, minutes: i64) -> Self {
        let first = now_minute - minutes + 1;
        let first_hour = hour_of(first);
        let offset = first - first_hour * 60;
        let mut parts = Self {
            minutes,
            hours: (first_hour + 1..=hour_of(now_minute)).collect(),
            plus: vec![],
            minus: vec![],
        };
        if offset == 0 || 60 - offset > offset {
            // The first hour whole, less the minutes before the window (none when it starts
            // on the hour).
            parts.hours.insert(0, first_hour);
            parts.minus = (first_hour * 60..first).collect();
        } else {
            // Its minutes in the window.
            parts.plus = (first..(first_hour + 1) * 60).collect();
        }
        parts
    }
}

/// What one read of a subscription's stats fetches at minute `now_minute`: the 24 clock hours
/// of the chart (the current one last), and for each window of [`WINDOWS_MINUTES`] the hours
/// and minutes that make it up ([`WindowParts`]). The keys, in order: the hours, the minutes,
/// the last-attempt hash.
#[derive(Debug, Clone, PartialEq)]
pub struct ReadPlan {
    now_minute: i64,
    chart: Vec<i64>,
    windows: Vec<WindowParts>,
    hours: Vec<i64>,
    minutes: Vec<i64>,
}

impl ReadPlan {
    pub fn new(now: DateTime<Utc>) -> Self {
        let now_minute = minute_of(&now);
        let now_hour = hour_of(now_minute);
        let chart: Vec<i64> = (now_hour - 23..=now_hour).collect();
        let windows: Vec<WindowParts> = WINDOWS_MINUTES
            .iter()
            .map(|m| WindowParts::new(now_minute, *m))
            .collect();
        let mut hours: Vec<i64> = chart.clone();
        let mut minutes = vec![];
        for w in &windows {
            hours.extend(&w.hours);
            minutes.extend(w.plus.iter().chain(&w.minus));
        }
        hours.sort_unstable();
        hours.dedup();
        minutes.sort_unstable();
        minutes.dedup();
        Self {
            now_minute,
            chart,
            windows,
            hours,
            minutes,
        }
    }

    /// The hashes to read for one subscription, in the order [`ReadPlan::summarize`] takes
    /// them.
    pub fn keys(&self, workspace_id: &str, subscription_id: &str) -> Vec<String> {
        let hours = self
            .hours
            .iter()
            .map(|h| keys::attempt_stats_hour(workspace_id, subscription_id, *h));
        let minutes = self
            .minutes
            .iter()
            .map(|m| keys::attempt_stats(workspace_id, subscription_id, *m));
        hours
            .chain(minutes)
            .chain([keys::attempt_stats_last(workspace_id, subscription_id)])
            .collect()
    }

    /// The stats and the chart from the hashes read for [`ReadPlan::keys`], in its order.
    pub fn summarize(&self, hashes: &[Hash]) -> (SubscriptionStats, Vec<HourStats>) {
        let (hour_hashes, rest) = hashes.split_at(self.hours.len().min(hashes.len()));
        let (minute_hashes, last) = rest.split_at(self.minutes.len().min(rest.len()));
        let hours: HashMap<i64, Counts> = self
            .hours
            .iter()
            .copied()
            .zip(hour_hashes.iter().map(Counts::of))
            .collect();
        let minutes: HashMap<i64, Counts> = self
            .minutes
            .iter()
            .copied()
            .zip(minute_hashes.iter().map(Counts::of))
            .collect();
        let empty = Hash::new();
        let last = last.first().unwrap_or(&empty);
        fn decode<T: serde::de::DeserializeOwned>(last: &Hash, field: &str) -> Option<T> {
            last.get(field).and_then(|v| serde_json::from_slice(v).ok())
        }
        let last_error: Option<LastError> = decode(last, LAST_ERROR);
        let zero = Counts::default();
        let windows = self
            .windows
            .iter()
            .map(|parts| {
                let mut c = Counts::default();
                for h in &parts.hours {
                    c.add(hours.get(h).unwrap_or(&zero), 1);
                }
                for m in &parts.plus {
                    c.add(minutes.get(m).unwrap_or(&zero), 1);
                }
                for m in &parts.minus {
                    c.add(minutes.get(m).unwrap_or(&zero), -1);
                }
                let first = self.now_minute - parts.minutes + 1;
                let histogram: Vec<u64> = c.histogram.iter().map(|n| (*n).max(0) as u64).collect();
                let total = histogram.iter().sum();
                WindowStats {
                    minutes: parts.minutes,
                    attempts: c.attempts.max(0) as u64,
                    delivered: c.delivered.max(0) as u64,
                    failed: c.failed.max(0) as u64,
                    p50_ms: percentile(&histogram, total, 0.5),
                    p99_ms: percentile(&histogram, total, 0.99),
                    last_error: last_error.clone().filter(|e| minute_of(&e.at) >= first),
                }
            })
            .collect();
        let chart = self
            .chart
            .iter()
            .map(|h| {
                let c = hours.get(h).unwrap_or(&zero);
                HourStats {
                    minute: h * 60,
                    attempts: c.attempts.max(0) as u64,
                    delivered: c.delivered.max(0) as u64,
                }
            })
            .collect();
        let stats = SubscriptionStats {
            windows,
            last_attempt: decode(last, LAST_ATTEMPT),
        };
        (stats, chart)
    }
}

/// One clock hour of a subscription's attempts, for a chart.
#[derive(Debug, Clone, PartialEq)]
pub struct HourStats {
    /// The hour's first minute (Unix minutes).
    pub minute: i64,
    pub attempts: u64,
    pub delivered: u64,
}

impl Store {
    /// The stats of subscription `subscription_id` of `workspace_id` at `now` (see the
    /// module docs): one round trip.
    pub async fn attempt_stats(
        &self,
        workspace_id: &str,
        subscription_id: &str,
        now: DateTime<Utc>,
    ) -> Result<SubscriptionStats, StoreError> {
        Ok(self.attempt_stats_hourly(workspace_id, subscription_id, now).await?.0)
    }

    /// [`Store::attempt_stats`] and the 24 clock hours ending with the current one, oldest
    /// first, from the same read.
    pub async fn attempt_stats_hourly(
        &self,
        workspace_id: &str,
        subscription_id: &str,
        now: DateTime<Utc>,
    ) -> Result<(SubscriptionStats, Vec<HourStats>), StoreError> {
        let mut all = self.attempt_stats_many(workspace_id, &[subscription_id], now).await?;
        Ok(all.pop().unwrap_or_else(|| ReadPlan::new(now).summarize(&[])))
    }

    /// [`Store::attempt_stats_hourly`] of each of `subscription_ids`, in their order, in one
    /// round trip (one pipeline of at most 86 `HGETALL`s per subscription).
    pub async fn attempt_stats_many(
        &self,
        workspace_id: &str,
        subscription_ids: &[&str],
        now: DateTime<Utc>,
    ) -> Result<Vec<(SubscriptionStats, Vec<HourStats>)>, StoreError> {
        let plan = ReadPlan::new(now);
        let per_sub: Vec<Vec<String>> = subscription_ids.iter().map(|id| plan.keys(workspace_id, id)).collect();
        let keys: Vec<String> = per_sub.iter().flatten().cloned().collect();
        if keys.is_empty() {
            // No subscriptions: nothing to ask (Redis refuses an empty pipeline).
            return Ok(vec![]);
        }
        let hashes = match self {
            Self::Redis(r) => r.hgetall_many(&keys).await?,
            Self::Memory(m) => keys.iter().map(|k| m.hgetall(k)).collect(),
        };
        let mut rest = hashes.as_slice();
        let mut out = Vec::with_capacity(per_sub.len());
        for k in &per_sub {
            let (mine, after) = rest.split_at(k.len().min(rest.len()));
            out.push(plan.summarize(mine));
            rest = after;
        }
        Ok(out)
    }
}

#[cfg(test)]
#[path = "attempt_stats_tests.rs"]
mod tests;
