//! The per-record handler of the delivery consumer (dispatch topic and retry tiers).
//!
//! Each step is a typed stage of [`Worker::handle`], run in a `dispatch` tracing span:
//!
//! 1. [`Worker::decode`] (or quarantine) and [`Worker::prepare`]: resolve the subscription
//!    from the live config (skipped if it is gone or disabled). The record names its
//!    subscription and the config version it was matched in, nothing more: when this
//!    process's config is older than that, the record waits for it (at most
//!    [`Worker::config_wait`]) and is deferred if it still has not arrived.
//! 2. [`Worker::admit`] ([`Gates`]): a request slot for the endpoint, or defer the record to a
//!    retry tier when the endpoint is saturated; then its rate limit: wait if the wait is
//!    short, defer if it is long. Deferring is not an attempt and keeps the attempt number.
//! 3. [`Worker::attempt`] (to the subscription's failover URL while its primary is failing,
//!    [`crate::failover`]), its outcome fed back to the endpoint's adaptive rate
//!    ([`throttle`]), then [`Worker::settle`]: make the outcome durable before the offset may
//!    be committed: the attempt record, and after a failure the record in its next retry tier
//!    or the dead-letter topic. A 429 (or a 503 with `Retry-After`) is deferred instead,
//!    keeping its attempt number, for up to [`throttle::THROTTLE_GRACE`]: throttling alone
//!    never dead-letters an event.
//!
//! A record of a subscription with batching leaves this path after `prepare`: it joins its
//! endpoint's batch, which is admitted, attempted and fed back once, and then settles on the
//! batch's outcome through the same `defer_throttled` and `settle` ([`batch`],
//! [`crate::batch`]).

use crate::attempt::{Attempted, Attempter, Outgoing};
use crate::failover::Failover;
use crate::gate::{Gate, Gates, Saturated};
use crate::metrics::Metrics;
use crate::ordering::Ordering;
use crate::retry::{Next, Schedule};
use crate::slots::Slot;
use chrono::{TimeZone, Utc};
use hookline_config::Topics;
use hookline_kafka::context::Lease;
use hookline_kafka::{headers, ConfigHandle, Handled, Message, OwnedMessage, Producer, Quarantine, QuarantineReason};
use hookline_model::{AttemptOutcome, AttemptRecord, DeadLetter, DeadLetterReason, Dispatch, Resolved, Subscription};
use std::sync::Arc;
use std::time::Duration;
use tracing::Instrument;

mod batch;
mod throttle;

/// Longest `hookline-last-error` header value.
const LAST_ERROR_MAX: usize = 256;

/// How long a record may keep waiting (deferral after deferral) for its workspace's config
/// version before it is dead-lettered. A follower is normally a few hundred milliseconds
/// behind; a version that has not arrived in this time will not (a workspace deleted and its
/// tombstone compacted away, a record re-sent for it), and the record must not cycle forever.
const CONFIG_WAIT_GIVE_UP: Duration = Duration::from_secs(600);

#[derive(Clone)]
pub(crate) struct Worker {
    pub config: ConfigHandle,
    pub attempter: Attempter,
    pub producer: Producer,
    pub quarantine: Quarantine,
    pub topics: Topics,
    pub gates: Arc<Gates>,
    /// Endpoints' adaptive rates in the store, for the next owner of each.
    pub shared_rates: Arc<crate::shared_rate::SharedRates>,
    pub schedule: Schedule,
    /// How long a record for a saturated endpoint is deferred.
    pub overflow_delay: Duration,
    /// Rate-limit waits up to this long happen in place; longer ones are deferred.
    pub rate_limit_max_wait: Duration,
    /// How long a record waits in place for its workspace's config version before it is
    /// deferred (see the module docs).
    pub config_wait: Duration,
    pub metrics: Arc<Metrics>,
    /// Which URL of a subscription with a failover URL each attempt goes to.
    pub failover: Arc<Failover>,
    /// The latest status of each message delivered per endpoint ([`crate::ordering`]).
    pub ordering: Arc<Ordering>,
    /// The open batch of each endpoint with batching ([`crate::batch`]).
    pub batches: Arc<batch::Batches>,
}

/// How far a record got: `Err` ends its handling with that outcome (a skip, a deferral, a
/// quarantine: not necessarily a failure), `Ok` carries it to the next stage.
type Stage<T> = Result<T, Handled>;

/// A decoded record whose live subscription is enabled.
struct Prepared {
    d: Dispatch,
    attempt: u32,
    sub: Subscription,
}

/// A prepared record holding its endpoint's request slot, within its rate limit.
struct Admitted {
    gate: Arc<Gate>,
    slot: Slot,
}

impl Worker {
    /// Delivers one dispatch or retry record. `lease` lapses when a rebalance starts: a record
    /// that waited for its endpoint's permit or rate limit past that point is not attempted but
    /// left to the partition's next owner (which reads it again from the committed offset), so
    /// the two never send to one endpoint at once and its rate limit holds across a handover.
    ///
    /// Runs in a `dispatch` span carrying the dispatch id (the webhook id), the event id, the
    /// endpoint (workspace and subscription) and the attempt number.
    pub async fn handle(&self, msg: OwnedMessage, lease: Lease) -> Handled {
        let d = match self.decode(&msg).await {
            Ok(d) => d,
            Err(done) => return done,
        };
        let attempt = headers::get_i64(msg.headers(), headers::ATTEMPT).unwrap_or(1).max(1) as u32;
        let span = tracing::info_span!(
            "dispatch",
            dispatch_id = %d.dispatch_id,
            event_id = %d.event.id,
            workspace_id = %d.workspace_id,
            subscription_id = %d.subscription_id,
            attempt,
        );
        self.stages(&msg, d, attempt, &lease)
            .instrument(span)
            .await
            .unwrap_or_else(|done| done)
    }

    /// Prepare, admit, attempt, then make the outcome durable.
    async fn stages(&self, msg: &OwnedMessage, d: Dispatch, attempt: u32, lease: &Lease) -> Stage<Handled> {
        let prepared = self.prepare(msg, d, attempt).await?;
        // Held until the outcome, so no other status of the message goes to the endpoint
        // meanwhile; taken before admission, so waiting for it holds no request slot.
        let turn = self.ordering.turn(&prepared.d).await;
        if let Some(why) = turn.superseded() {
            return Err(self.superseded(&prepared, &why).await);
        }
        // Since when the record has been put back without an attempt (kept across deferrals).
        let deferred_since = headers::get_i64(msg.headers(), headers::FIRST_SEEN_MS);
        if let Some(policy) = batch::policy(&prepared) {
            return Ok(self.batched(prepared, turn, policy, lease, deferred_since).await);
        }
        let admitted = self.admit(&prepared, deferred_since).await?;
        // Deferrals above go ahead even after a revocation (at worst a duplicate, same webhook
        // id, later); an attempt must not, or two owners send to one endpoint at once.
        if !lease.is_current() {
            return Err(self.handed_over());
        }
        let attempted = self.attempt(&prepared, admitted).await;
        turn.outcome(&attempted.record);
        let attempted = self.defer_throttled(&prepared, attempted, deferred_since).await?;
        Ok(self.settle(&prepared, attempted).await)
    }

    /// The record decoded, or quarantined as `invalid_dispatch_record`.
    async fn decode(&self, msg: &OwnedMessage) -> Stage<Dispatch> {
        match serde_json::from_slice(msg.payload().unwrap_or_default()) {
            Ok(d) => Ok(d),
            Err(e) => Err(self
                .quarantine
                .put_record(QuarantineReason::InvalidDispatchRecord, &e.to_string(), msg)
                .await
                .into()),
        }
    }

    /// Resolves the record's subscription from the live config: skipped when it is gone or
    /// disabled, deferred (or dead-lettered) when this process's config is behind the record.
    async fn prepare(&self, msg: &OwnedMessage, d: Dispatch, attempt: u32) -> Stage<Prepared> {
        match self.lookup(&d).await {
            Resolved::Found(sub) if sub.enabled => Ok(Prepared { d, attempt, sub: *sub }),
            Resolved::Found(sub) => Err(self.endpoint_disabled(&d, attempt, &sub).await),
            Resolved::Gone => Err(self
                .log(&skipped(&d, attempt, "", "subscription no longer exists"), &d)
                .await),
            Resolved::Behind { live } => Err(self.config_behind(msg, &d, attempt, live).await),
        }
    }

    /// A record for a disabled endpoint: not sent, kept as an `endpoint_disabled` dead letter
    /// (listed and re-sendable) with a skipped attempt saying why. A test send is only skipped:
    /// it was never retried either.
    async fn endpoint_disabled(&self, d: &Dispatch, attempt: u32, sub: &Subscription) -> Handled {
        let why = match &sub.disabled {
            Some(off) => format!("endpoint disabled ({})", off.reason.as_str()),
            None => "endpoint disabled".to_string(),
        };
        let mut record = skipped(d, attempt, &sub.url, &why);
        if d.test {
            return self.log(&record, d).await;
        }
        record.dead_lettered = true;
        let dead = self.dead_letter(
            d,
            &sub.url,
            attempt.saturating_sub(1),
            &why,
            DeadLetterReason::EndpointDisabled,
        );
        let (logged, dead) = tokio::join!(self.log(&record, d), dead);
        both(logged, dead.into())
    }

    /// A request slot for the endpoint and its rate limit: waits in place when the wait is
    /// short, defers the record (same attempt) when the endpoint is saturated or the wait long.
    async fn admit(&self, p: &Prepared, deferred_since: Option<i64>) -> Stage<Admitted> {
        let Prepared { d, attempt, sub } = p;
        match self.admission(sub).await {
            Ok(admitted) => Ok(admitted),
            Err((due_ms, reason)) => Err(self.defer(d, *attempt, due_ms, reason, deferred_since).await),
        }
    }

    /// `sub`'s endpoint admits one request (an event, or a batch of them), or says when to come
    /// back and why (`saturated`, `rate_limited`).
    async fn admission(&self, sub: &Subscription) -> Result<Admitted, (i64, &'static str)> {
        let gate = self
            .gates
            .get_shared(
                &sub.endpoint_key(),
                sub.rate_limit_per_sec,
                sub.max_concurrency,
                &self.shared_rates,
            )
            .await;
        let slot = match gate.enter().await {
            Ok(slot) => slot,
            Err(Saturated) => {
                let due_ms = gate.defer_until(Utc::now().timestamp_millis(), self.overflow_delay);
                return Err((due_ms, "saturated"));
            }
        };
        loop {
            match gate.check_rate() {
                Ok(()) => return Ok(Admitted { gate, slot }),
                Err(wait) if wait <= self.rate_limit_max_wait => {
                    self.metrics.rate_limit_waits.inc();
                    tokio::time::sleep(wait).await;
                }
                Err(wait) => {
                    drop(slot);
                    return Err((Utc::now().timestamp_millis() + wait.as_millis() as i64, "rate_limited"));
                }
            }
        }
    }

    /// The HTTP attempt, holding the endpoint's slot until it ends; its outcome adapts the
    /// endpoint's rate.
    async fn attempt(&self, p: &Prepared, admitted: Admitted) -> Attempted {
        self.request(&p.d, &p.sub, admitted, Outgoing::of(&p.d, &p.sub, p.attempt))
            .await
    }

    /// Sends `out` (about `d`, the first event of a batch) to `sub`'s URL, or its failover URL,
    /// holding the endpoint's slot until it ends; its outcome adapts the endpoint's rate and
    /// counts for its failover.
    async fn request(&self, d: &Dispatch, sub: &Subscription, admitted: Admitted, out: Outgoing<'_>) -> Attempted {
        let Admitted { gate, slot } = admitted;
        let (rate, sent, in_flight) = (gate.current_rate(), std::time::Instant::now(), slot.in_flight());
        let route = self.failover.route(sub, d.test);
        let target = route.as_ref().map_or(sub, |r| r.subscription(sub));
        let mut attempted = {
            let _in_flight = self.metrics.in_flight_guard();
            self.attempter.send(d, target, out).await
        };
        if let Some(route) = &route {
            self.failover.attempted(route, sub, &mut attempted.record);
        }
        gate.observe(Duration::from_millis(attempted.record.response_time_ms));
        drop(slot);
        attempted.record.throttled_rate_per_sec = (rate < gate.limit()).then_some(rate);
        self.feed_back(&gate, sub, sent, in_flight, &attempted);
        attempted
    }

    /// Makes the outcome durable: the attempt record, and after a failure the record in its
    /// next retry tier or the dead-letter topic.
    async fn settle(&self, p: &Prepared, attempted: Attempted) -> Handled {
        let Prepared { d, attempt, sub } = p;
        let Attempted {
            mut record,
            retry_after,
        } = attempted;
        let next = (record.outcome == AttemptOutcome::Failed && !d.test).then(|| {
            self.schedule
                .after_failure(&sub.retry, *attempt, retry_after, Utc::now().timestamp_millis())
        });
        match &next {
            Some(Next::Retry { due_ms, .. }) => record.next_attempt_at = Utc.timestamp_millis_opt(*due_ms).single(),
            Some(Next::Dead) => record.dead_lettered = true,
            None => {}
        }
        let error = record.error.clone().unwrap_or_default();
        let forward = async {
            match next {
                Some(Next::Retry {
                    attempt: n,
                    due_ms,
                    tier_secs,
                }) => {
                    self.metrics.retries.with_label_values(&[&tier_secs.to_string()]).inc();
                    self.to_tier(d, n, due_ms, tier_secs, &error, None).await
                }
                // The URL the last attempt went to: the failover URL when failed over.
                Some(Next::Dead) => {
                    self.dead_letter(d, &record.url, *attempt, &error, DeadLetterReason::Exhausted)
                        .await
                }
                None => Ok(()),
            }
        };
        let (logged, forwarded) = tokio::join!(self.log(&record, d), forward);
        both(logged, forwarded.into())
    }

    /// A status not sent because a later one of its message was already delivered to the
    /// endpoint: a skipped attempt saying so, never a dead letter (nothing failed).
    async fn superseded(&self, p: &Prepared, why: &str) -> Handled {
        let kind = p.d.event.kind();
        self.metrics.superseded.with_label_values(&[kind.as_str()]).inc();
        self.log(&skipped(&p.d, p.attempt, &p.sub.url, why), &p.d).await
    }

    /// A record whose partition was revoked while it waited: no attempt, nothing committed;
    /// the partition's next owner handles it.
    fn handed_over(&self) -> Handled {
        self.metrics.deferred.with_label_values(&["handed_over"]).inc();
        Handled::Done
    }

    /// Writes the attempt record.
    async fn log(&self, record: &AttemptRecord, d: &Dispatch) -> Handled {
        self.metrics.observe(record, d);
        self.producer
            .send_json(&self.topics.attempts(), &record.workspace_id, record, &[])
            .await
            .into()
    }

    /// The live subscription of `d`, waiting up to `config_wait` for the config version the
    /// record was produced from (still [`Resolved::Behind`] if it has not come).
    async fn lookup(&self, d: &Dispatch) -> Resolved {
        let resolve = || self.config.read(|c| d.resolve(c));
        match resolve() {
            Resolved::Behind { .. } => {
                self.config
                    .wait_for_workspace_version(&d.workspace_id, d.config_version, self.config_wait)
                    .await;
                resolve()
            }
            r => r,
        }
    }

    /// A record whose config version has not arrived: deferred like a saturated endpoint's
    /// (no attempt, same attempt number), or dead-lettered once it has waited
    /// [`CONFIG_WAIT_GIVE_UP`] in all. Never taken for deleted: the subscription may be seconds
    /// old.
    async fn config_behind(&self, msg: &OwnedMessage, d: &Dispatch, attempt: u32, live: u64) -> Handled {
        let now = Utc::now().timestamp_millis();
        let since = headers::get_i64(msg.headers(), headers::FIRST_SEEN_MS).unwrap_or(now);
        if now - since >= CONFIG_WAIT_GIVE_UP.as_millis() as i64 {
            let error = format!(
                "config version {} of workspace {} not seen in {} s (this process has {live})",
                d.config_version,
                d.workspace_id,
                CONFIG_WAIT_GIVE_UP.as_secs()
            );
            tracing::warn!(webhook_id = %d.dispatch_id, %error, "dead-lettering a record");
            let mut record = skipped(d, attempt, "", &error);
            record.dead_lettered = true;
            let (logged, dead) = tokio::join!(
                self.log(&record, d),
                self.dead_letter(
                    d,
                    "",
                    attempt.saturating_sub(1),
                    &error,
                    DeadLetterReason::ConfigMissing
                )
            );
            return both(logged, dead.into());
        }
        let due_ms = now + self.overflow_delay.as_millis() as i64;
        self.defer(d, attempt, due_ms, "config_behind", Some(since)).await
    }

    /// Writes `d` to the dead-letter topic after `attempts` attempts, the last one to `url`.
    async fn dead_letter(
        &self,
        d: &Dispatch,
        url: &str,
        attempts: u32,
        error: &str,
        reason: DeadLetterReason,
    ) -> Result<(), hookline_kafka::KafkaError> {
        self.metrics
            .dead_lettered
            .with_label_values(&[d.event.kind().as_str(), reason.as_str()])
            .inc();
        let dead = DeadLetter {
            dispatch: d.clone(),
            url: url.to_string(),
            attempts,
            last_error: error.to_string(),
            dead_at: Utc::now(),
            reason,
        };
        self.producer
            .send_json(&self.topics.dead(), &d.endpoint_key(), &dead, &[])
            .await
    }

    /// Puts the record back for a later try of the same attempt, due at `due_ms`.
    async fn defer(
        &self,
        d: &Dispatch,
        attempt: u32,
        due_ms: i64,
        reason: &'static str,
        first_seen_ms: Option<i64>,
    ) -> Handled {
        self.metrics.deferred.with_label_values(&[reason]).inc();
        let wait = Duration::from_millis((due_ms - Utc::now().timestamp_millis()).max(0) as u64);
        let tier = self.schedule.tier_for(wait);
        self.to_tier(d, attempt, due_ms, tier, reason, first_seen_ms)
            .await
            .into()
    }

    /// Writes `d` to a retry tier for attempt `attempt` at `due_ms`, re-encoded: a record in
    /// the format that carried a subscription snapshot (secrets included) loses it here.
    async fn to_tier(
        &self,
        d: &Dispatch,
        attempt: u32,
        due_ms: i64,
        tier_secs: u64,
        last_error: &str,
        first_seen_ms: Option<i64>,
    ) -> Result<(), hookline_kafka::KafkaError> {
        let (attempt, due) = (attempt.to_string(), due_ms.to_string());
        let error: String = last_error.chars().take(LAST_ERROR_MAX).collect();
        let first_seen = first_seen_ms.map(|ms| ms.to_string());
        let mut hdrs: Vec<(&str, &[u8])> = vec![
            (headers::ATTEMPT, attempt.as_bytes()),
            (headers::DUE_AT_MS, due.as_bytes()),
            (headers::LAST_ERROR, error.as_bytes()),
        ];
        if let Some(f) = &first_seen {
            hdrs.push((headers::FIRST_SEEN_MS, f.as_bytes()));
        }
        self.producer
            .send_json(&self.topics.retry_tier(tier_secs), &d.endpoint_key(), d, &hdrs)
            .await
    }
}

/// Done when both writes are durable; otherwise the record is not committed.
fn both(a: Handled, b: Handled) -> Handled {
    match (a, b) {
        (Handled::Done, Handled::Done) => Handled::Done,
        (Handled::Abort(e), _) | (_, Handled::Abort(e)) => Handled::Abort(e),
    }
}

fn skipped(d: &Dispatch, attempt: u32, url: &str, why: &str) -> AttemptRecord {
    AttemptRecord {
        error: Some(why.to_string()),
        ..AttemptRecord::new(d, attempt, url.to_string(), AttemptOutcome::Skipped)
    }
}
