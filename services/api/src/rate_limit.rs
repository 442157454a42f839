//! Per-credential limits on the API's expensive routes, so that one key (or the admin token)
//! cannot keep Redis or the brokers busy for everyone else (issue 28: four clients looping on
//! the workspace overview multiplied Redis's p99 by five; a replay scans every dispatch
//! partition and re-sends up to `HOOKLINE_REPLAY_MAX_EVENTS`).
//!
//! Two classes, each a token bucket per credential (an API key's `key_id`, or the admin
//! token), refilled at `per_min / 60` tokens a second up to `burst`:
//!
//! - [`Class::Read`]: the reads that fan out over the store or a topic: the workspace
//!   overview, a subscription's stats, the attempt log (and its search), the dead-letter
//!   listings, the operator's quarantine counts (`HOOKLINE_API_EXPENSIVE_READS_PER_MIN`,
//!   `HOOKLINE_API_EXPENSIVE_READS_BURST`);
//! - [`Class::Replay`]: what re-sends events: replay and a customer's dead-letter re-send
//!   (`HOOKLINE_API_REPLAYS_PER_MIN`, `HOOKLINE_API_REPLAYS_BURST`). The operator's re-send
//!   has none: incident recovery goes workspace by workspace with the one admin token.
//!
//! A call past its credential's budget is `429 RATE_LIMITED` in the dialect's error shape with
//! `Retry-After` (whole seconds until a token is back); nothing is done for it. The check
//! comes after authentication and the request's own checks (`401`, `403`, `400`, `404`
//! first), just before the expensive work: an unknown caller never spends a key's budget,
//! and a refused request costs none. The buckets live in each API process (N replicas allow
//! N times the budget); a `per_min` of 0 turns a class off. Refusals are counted in
//! `hookline_api_rate_limited_total{class}`.

use crate::error::ApiError;
use crate::state::AppState;
use axum::http::HeaderMap;
use hookline_model::{ApiKeyRecord, Permission, WorkspaceConfig};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The settings of the limits (flags and environment variables).
#[derive(Debug, Clone, clap::Args)]
pub struct LimitConfig {
    /// Expensive reads (overview, stats, logs, dead-letter listings, quarantine counts) one
    /// credential may make per minute, sustained; 0 for no limit.
    #[arg(long, env = "HOOKLINE_API_EXPENSIVE_READS_PER_MIN", default_value_t = 120)]
    pub expensive_reads_per_min: u32,
    /// Expensive reads one credential may make at once before the per-minute rate applies.
    #[arg(long, env = "HOOKLINE_API_EXPENSIVE_READS_BURST", default_value_t = 20)]
    pub expensive_reads_burst: u32,
    /// Replays and dead-letter re-sends one credential may start per minute, sustained; 0
    /// for no limit.
    #[arg(long, env = "HOOKLINE_API_REPLAYS_PER_MIN", default_value_t = 6)]
    pub replays_per_min: u32,
    /// Replays and dead-letter re-sends one credential may start at once.
    #[arg(long, env = "HOOKLINE_API_REPLAYS_BURST", default_value_t = 3)]
    pub replays_burst: u32,
}

/// Which budget a route spends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Class {
    Read,
    Replay,
}

impl Class {
    /// The `class` label of `hookline_api_rate_limited_total`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Replay => "replay",
        }
    }
}

/// A class's rate: `burst` tokens, refilled at `per_min` a minute.
#[derive(Debug, Clone, Copy)]
struct Rate {
    per_min: u32,
    burst: u32,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Buckets swept of full (idle) ones once the map holds this many.
const SWEEP_AT: usize = 10_000;

/// The buckets of every credential and class.
pub struct Limits {
    read: Rate,
    replay: Rate,
    buckets: Mutex<HashMap<(Class, String), Bucket>>,
}

impl Limits {
    pub fn new(cfg: &LimitConfig) -> Self {
        Self {
            read: Rate {
                per_min: cfg.expensive_reads_per_min,
                burst: cfg.expensive_reads_burst.max(1),
            },
            replay: Rate {
                per_min: cfg.replays_per_min,
                burst: cfg.replays_burst.max(1),
            },
            buckets: Mutex::default(),
        }
    }

    /// Spends one of `credential`'s tokens of `class`, or `429 RATE_LIMITED` with the seconds
    /// until one is back.
    pub fn check(&self, class: Class, credential: &str) -> Result<(), ApiError> {
        self.check_at(class, credential, Instant::now())
    }

    fn check_at(&self, class: Class, credential: &str, now: Instant) -> Result<(), ApiError> {
        let rate = match class {
            Class::Read => self.read,
            Class::Replay => self.replay,
        };
        if rate.per_min == 0 {
            return Ok(());
        }
        let per_sec = f64::from(rate.per_min) / 60.0;
        let burst = f64::from(rate.burst);
        let mut buckets = self.buckets.lock().expect("rate limit lock");
        if buckets.len() >= SWEEP_AT {
            buckets.retain(|(c, _), b| {
                let r = if *c == Class::Read { self.read } else { self.replay };
                b.tokens + now.duration_since(b.at).as_secs_f64() * f64::from(r.per_min) / 60.0 < f64::from(r.burst)
            });
        }
        let b = buckets
            .entry((class, credential.to_string()))
            .or_insert(Bucket { tokens: burst, at: now });
        b.tokens = (b.tokens + now.duration_since(b.at).as_secs_f64() * per_sec).min(burst);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            return Ok(());
        }
        let wait = Duration::from_secs_f64((1.0 - b.tokens) / per_sec);
        let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        Err(ApiError::too_many_requests(
            secs.max(1),
            format!(
                "this credential's limit of {} such requests a minute (bursts of {}) is used up; retry after the Retry-After seconds",
                rate.per_min, rate.burst
            ),
        ))
    }
}

/// The admin token's budget (one credential, whoever holds it).
const ADMIN: &str = "admin-token";

impl AppState {
    /// The caller's key (once it has `needs`) and its workspace, for a limited route that
    /// checks its request before it [`spend`](AppState::spend)s.
    pub(crate) fn caller(
        &self,
        headers: &HeaderMap,
        needs: Permission,
    ) -> Result<(ApiKeyRecord, WorkspaceConfig), ApiError> {
        let key = self.authenticate(headers, needs)?;
        let ws = self.workspace(&key.workspace_id);
        Ok((key, ws))
    }

    /// Spends one of `key`'s tokens of `class`, once the request is known to be valid (a
    /// refused request costs nothing, so a client fixing its request is not throttled for
    /// it), just before the expensive work.
    pub(crate) fn spend(&self, class: Class, key: &ApiKeyRecord) -> Result<(), ApiError> {
        self.spend_as(class, &key.key_id)
    }

    /// [`AppState::spend`] for the admin token (checked already).
    pub(crate) fn spend_admin(&self, class: Class) -> Result<(), ApiError> {
        self.spend_as(class, ADMIN)
    }

    fn spend_as(&self, class: Class, credential: &str) -> Result<(), ApiError> {
        let spent = self.limits.check(class, credential);
        if spent.is_err() {
            self.metrics.rate_limited.with_label_values(&[class.as_str()]).inc();
        }
        spent
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(per_min: u32, burst: u32) -> Limits {
        Limits::new(&LimitConfig {
            expensive_reads_per_min: per_min,
            expensive_reads_burst: burst,
            replays_per_min: 1,
            replays_burst: 1,
        })
    }

    #[test]
    fn a_burst_then_the_rate_per_credential_and_class() {
        let l = limits(60, 3);
        let t0 = Instant::now();
        for _ in 0..3 {
            l.check_at(Class::Read, "key_a", t0).unwrap();
        }
        let e = l.check_at(Class::Read, "key_a", t0).unwrap_err();
        assert_eq!(
            (e.status.as_u16(), e.code, e.retry_after_secs),
            (429, "RATE_LIMITED", Some(1))
        );
        // Another credential, and another class, have their own budgets.
        l.check_at(Class::Read, "key_b", t0).unwrap();
        l.check_at(Class::Replay, "key_a", t0).unwrap();
        let e = l.check_at(Class::Replay, "key_a", t0).unwrap_err();
        assert_eq!(e.retry_after_secs, Some(60), "one a minute");
        // One token a second comes back.
        l.check_at(Class::Read, "key_a", t0 + Duration::from_millis(1_000))
            .unwrap();
        assert!(l
            .check_at(Class::Read, "key_a", t0 + Duration::from_millis(1_500))
            .is_err());
    }

    #[test]
    fn zero_per_minute_is_no_limit() {
        let l = limits(0, 1);
        let t0 = Instant::now();
        for _ in 0..1_000 {
            l.check_at(Class::Read, "key_a", t0).unwrap();
        }
    }

    #[test]
    fn idle_buckets_are_swept() {
        let l = limits(60, 1);
        let t0 = Instant::now();
        for i in 0..SWEEP_AT {
            l.check_at(Class::Read, &format!("key_{i}"), t0).unwrap();
        }
        l.check_at(Class::Read, "key_new", t0 + Duration::from_secs(2)).unwrap();
        assert_eq!(l.buckets.lock().unwrap().len(), 1, "the refilled buckets went");
    }
}
