//! Failover URLs: where a subscription's attempts go while its primary URL is failing.
//!
//! Per endpoint, in this process (one delivery consumer owns an endpoint, see [`crate::gate`]),
//! a [`State`]: the consecutive failed attempts to the primary `url`. Once they reach the
//! subscription's [`failover_threshold`](Subscription::failover_threshold) (default 3) the
//! endpoint *fails over*: its next attempts go to `failover_url`, with the same headers and
//! signature, through the same URL policy, rate limit and retry policy (a failed attempt to
//! the failover URL is a failed attempt like any other). While it is failed over, a task
//! probes the primary every `HOOKLINE_FAILOVER_PROBE_INTERVAL_MS` (default 5 s) with a signed
//! ping ([`Attempter::probe`]); the first 2xx *fails back*: attempts go to the primary again
//! and its count starts from zero. A delivered attempt to the primary (one sent just before the
//! switch) fails back too. Each attempt of a subscription with a failover URL records which URL
//! it used (`url_kind`, `url`); probes are counted in metrics only. A probe does not take the
//! endpoint's gate (one request per interval, beside its attempts).
//!
//! The state is in memory: when an endpoint's partition moves to another delivery replica
//! (a rebalance, a restart), the new owner starts on the primary and fails over again after the
//! threshold's failures. A process that lost the endpoint stops probing once no attempt has
//! been routed for [`PROBE_IDLE_STOP`]. A test send always goes to the primary and counts for
//! nothing. Changing the primary URL starts the count afresh; removing the failover URL ends
//! failover.

use crate::attempt::Attempter;
use crate::metrics::Metrics;
use hookline_kafka::ConfigHandle;
use hookline_model::{AttemptOutcome, AttemptRecord, Subscription, URL_KIND_FAILOVER, URL_KIND_PRIMARY};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// A process that has routed no attempt to a failed-over endpoint for this long stops probing
/// it (it has probably lost the endpoint to another replica); its next attempt there resumes.
pub const PROBE_IDLE_STOP: Duration = Duration::from_secs(600);

/// Which of a subscription's URLs an attempt goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrlKind {
    Primary,
    Failover,
}

impl UrlKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Primary => URL_KIND_PRIMARY,
            Self::Failover => URL_KIND_FAILOVER,
        }
    }
}

/// A change of the URL an endpoint's attempts go to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Switch {
    ToFailover,
    ToPrimary,
}

/// One endpoint's failover state machine (no I/O, no clock).
#[derive(Debug, Default)]
pub struct State {
    /// The primary URL the count is about.
    primary: String,
    /// Consecutive failed attempts to `primary`.
    failures: u32,
    failing_over: bool,
    /// A probe task is running for this endpoint.
    probing: bool,
    last_routed: Option<Instant>,
}

impl State {
    fn new(primary: &str) -> Self {
        Self {
            primary: primary.to_string(),
            ..Self::default()
        }
    }

    /// Where the next attempt goes.
    pub fn route(&self) -> UrlKind {
        if self.failing_over {
            UrlKind::Failover
        } else {
            UrlKind::Primary
        }
    }

    /// An attempt to `kind` ended with `outcome`; `threshold` failures in a row fail over.
    /// Failover attempts and skipped ones (never sent) change nothing.
    pub fn attempted(&mut self, kind: UrlKind, outcome: AttemptOutcome, threshold: u32) -> Option<Switch> {
        match (kind, outcome) {
            (UrlKind::Primary, AttemptOutcome::Delivered) => {
                self.failures = 0;
                self.fail_back()
            }
            (UrlKind::Primary, AttemptOutcome::Failed) => {
                self.failures = self.failures.saturating_add(1);
                if !self.failing_over && self.failures >= threshold.max(1) {
                    self.failing_over = true;
                    return Some(Switch::ToFailover);
                }
                None
            }
            _ => None,
        }
    }

    /// A probe of the primary ended: `answered` = a 2xx.
    pub fn probed(&mut self, answered: bool) -> Option<Switch> {
        if answered {
            self.failures = 0;
            self.fail_back()
        } else {
            None
        }
    }

    fn fail_back(&mut self) -> Option<Switch> {
        std::mem::take(&mut self.failing_over).then_some(Switch::ToPrimary)
    }
}

type Shared = Arc<Mutex<State>>;

fn lock(s: &Shared) -> std::sync::MutexGuard<'_, State> {
    s.lock().unwrap_or_else(|p| p.into_inner())
}

/// Every endpoint's [`State`] in this process, and what its probe tasks need.
pub(crate) struct Failover {
    endpoints: Mutex<HashMap<String, Shared>>,
    probes: Probes,
}

#[derive(Clone)]
struct Probes {
    attempter: Attempter,
    config: ConfigHandle,
    metrics: Arc<Metrics>,
    every: Duration,
    shutdown: CancellationToken,
}

/// Where one attempt goes: `target` is the subscription with its failover URL as `url` when
/// failed over.
pub(crate) struct Route {
    kind: UrlKind,
    state: Shared,
    target: Option<Subscription>,
    /// Whether the outcome updates the state (not for a test send).
    counts: bool,
}

impl Route {
    /// The subscription to attempt: `primary` itself, or a copy sending to the failover URL.
    pub fn subscription<'a>(&'a self, primary: &'a Subscription) -> &'a Subscription {
        self.target.as_ref().unwrap_or(primary)
    }
}

impl Failover {
    pub fn new(
        attempter: Attempter,
        config: ConfigHandle,
        metrics: Arc<Metrics>,
        every: Duration,
        shutdown: CancellationToken,
    ) -> Self {
        Self {
            endpoints: Mutex::default(),
            probes: Probes {
                attempter,
                config,
                metrics,
                every: every.max(Duration::from_millis(10)),
                shutdown,
            },
        }
    }

    /// Where an attempt of `sub` goes; `None` when it has no failover URL.
    pub fn route(&self, sub: &Subscription, test: bool) -> Option<Route> {
        let mut endpoints = self.endpoints.lock().unwrap_or_else(|p| p.into_inner());
        let Some(failover_url) = &sub.failover_url else {
            // Failover removed (or never set): forget its state. Most processes have none.
            if !endpoints.is_empty() {
                endpoints.remove(&sub.endpoint_key());
            }
            return None;
        };
        let state = endpoints
            .entry(sub.endpoint_key())
            .or_insert_with(|| Arc::new(Mutex::new(State::new(&sub.url))))
            .clone();
        drop(endpoints);
        let mut s = lock(&state);
        if s.primary != sub.url {
            // A new primary: its own count. A running probe task sees it is no longer
            // failed over and ends.
            let probing = s.probing;
            *s = State::new(&sub.url);
            s.probing = probing;
        }
        s.last_routed = Some(Instant::now());
        let kind = if test { UrlKind::Primary } else { s.route() };
        if kind == UrlKind::Failover && !s.probing {
            s.probing = true;
            self.probes.spawn(sub, state.clone());
        }
        drop(s);
        let target = (kind == UrlKind::Failover).then(|| Subscription {
            url: failover_url.clone(),
            ..sub.clone()
        });
        Some(Route {
            kind,
            state,
            target,
            counts: !test,
        })
    }

    /// Records the attempt's URL kind and counts its outcome; a switch to the failover URL
    /// starts probing the primary.
    pub fn attempted(&self, route: &Route, sub: &Subscription, record: &mut AttemptRecord) {
        record.url_kind = Some(route.kind.as_str().to_string());
        if !route.counts {
            return;
        }
        let mut s = lock(&route.state);
        let switch = s.attempted(route.kind, record.outcome, sub.failover_threshold());
        let spawn = switch == Some(Switch::ToFailover) && !s.probing;
        if spawn {
            s.probing = true;
        }
        drop(s);
        match switch {
            Some(Switch::ToFailover) => {
                tracing::warn!(endpoint = %sub.endpoint_key(), "primary URL failing: attempts go to the failover URL");
                self.probes.metrics.failovers.inc();
            }
            Some(Switch::ToPrimary) => self.probes.failed_back(sub),
            None => {}
        }
        if spawn {
            self.probes.spawn(sub, route.state.clone());
        }
    }
}

impl Probes {
    fn failed_back(&self, sub: &Subscription) {
        tracing::info!(endpoint = %sub.endpoint_key(), "primary URL answers again: attempts go to it");
        self.metrics.failbacks.inc();
    }

    /// Probes `sub`'s primary until it answers, the endpoint is no longer failed over (or its
    /// subscription is gone, disabled or without a failover URL), it has been idle for
    /// [`PROBE_IDLE_STOP`], or the process shuts down.
    fn spawn(&self, sub: &Subscription, state: Shared) {
        let me = self.clone();
        let (ws, id) = (sub.workspace_id.clone(), sub.id.clone());
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = me.shutdown.cancelled() => break,
                    _ = tokio::time::sleep(me.every) => {}
                }
                let idle = {
                    let s = lock(&state);
                    !s.failing_over || s.last_routed.is_none_or(|at| at.elapsed() >= PROBE_IDLE_STOP)
                };
                let sub = me.config.read(|c| c.subscription(&ws, &id));
                let Some(sub) = sub.filter(|s| s.enabled && s.failover_url.is_some() && !idle) else {
                    break;
                };
                let answered = match me.attempter.probe(&sub).await {
                    Ok(status) => (200..300).contains(&status),
                    Err(e) => {
                        tracing::debug!(endpoint = %sub.endpoint_key(), error = %e, "probe failed");
                        false
                    }
                };
                let outcome = if answered { "ok" } else { "failed" };
                me.metrics.probes.with_label_values(&[outcome]).inc();
                let switch = {
                    let mut s = lock(&state);
                    // The primary may have changed while the probe was out.
                    if s.primary == sub.url {
                        s.probed(answered)
                    } else {
                        None
                    }
                };
                if switch == Some(Switch::ToPrimary) {
                    me.failed_back(&sub);
                    break;
                }
            }
            lock(&state).probing = false;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use AttemptOutcome::{Delivered, Failed, Skipped};
    use UrlKind::{Failover as F, Primary as P};

    #[test]
    fn fails_over_after_n_consecutive_primary_failures() {
        let mut s = State::new("https://a");
        assert_eq!(s.route(), P);
        assert_eq!(s.attempted(P, Failed, 3), None);
        assert_eq!(s.attempted(P, Failed, 3), None);
        // A success in between restarts the count; a skip (never sent) changes nothing.
        assert_eq!(s.attempted(P, Delivered, 3), None);
        assert_eq!(s.attempted(P, Skipped, 3), None);
        assert_eq!(s.attempted(P, Failed, 3), None);
        assert_eq!(s.attempted(P, Failed, 3), None);
        assert_eq!(s.route(), P);
        assert_eq!(s.attempted(P, Failed, 3), Some(Switch::ToFailover));
        assert_eq!(s.route(), F);
        // Attempts in flight before the switch that fail too do not switch again.
        assert_eq!(s.attempted(P, Failed, 3), None);
        // Failover outcomes, good or bad, leave the primary's state alone.
        assert_eq!(s.attempted(F, Failed, 3), None);
        assert_eq!(s.attempted(F, Delivered, 3), None);
        assert_eq!(s.route(), F);
    }

    #[test]
    fn a_probe_answer_or_a_primary_success_fails_back_and_resets_the_count() {
        let mut s = State::new("https://a");
        assert_eq!(s.attempted(P, Failed, 1), Some(Switch::ToFailover));
        assert_eq!(s.probed(false), None);
        assert_eq!(s.route(), F);
        assert_eq!(s.probed(true), Some(Switch::ToPrimary));
        assert_eq!(s.route(), P);
        assert_eq!(s.probed(true), None, "already back");
        // The count starts again from zero.
        let mut s = State::new("https://a");
        assert_eq!(s.attempted(P, Failed, 2), None);
        assert_eq!(s.attempted(P, Failed, 2), Some(Switch::ToFailover));
        assert_eq!(s.route(), F);
        assert_eq!(s.probed(true), Some(Switch::ToPrimary));
        assert_eq!(s.attempted(P, Failed, 2), None);
        assert_eq!(s.attempted(P, Failed, 2), Some(Switch::ToFailover));
        // A delivered primary attempt (sent just before the switch) fails back as well.
        assert_eq!(s.attempted(P, Delivered, 2), Some(Switch::ToPrimary));
        assert_eq!(s.route(), P);
    }

    #[test]
    fn a_threshold_of_zero_means_one() {
        let mut s = State::new("https://a");
        assert_eq!(s.attempted(P, Failed, 0), Some(Switch::ToFailover));
    }
}
