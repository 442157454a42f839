//! The per-record handler of the delivery consumer (dispatch topic and retry tiers).
//!
//! 1. Decode; resolve the subscription (skipped if it is gone or disabled).
//! 2. Admission ([`Gates`]): a request slot for the endpoint, or defer the record to a retry
//!    tier when the endpoint is saturated; then its rate limit: wait if the wait is short,
//!    defer if it is long. Deferring is not an attempt and keeps the attempt number.
//! 3. Attempt, then make the outcome durable before the offset may be committed: the attempt
//!    record, and after a failure the record in its next retry tier or the dead-letter topic.

use crate::attempt::{Attempted, Attempter};
use crate::gate::{Gates, Saturated};
use crate::metrics::Metrics;
use crate::retry::{Next, Schedule};
use chrono::{TimeZone, Utc};
use hookline_config::Topics;
use hookline_kafka::context::Lease;
use hookline_kafka::{headers, ConfigHandle, Handled, Message, OwnedMessage, Producer, Quarantine};
use hookline_model::{AttemptOutcome, AttemptRecord, DeadLetter, Dispatch};
use std::sync::Arc;
use std::time::Duration;

/// Longest `hookline-last-error` header value.
const LAST_ERROR_MAX: usize = 256;

#[derive(Clone)]
pub(crate) struct Worker {
    pub config: ConfigHandle,
    pub attempter: Attempter,
    pub producer: Producer,
    pub quarantine: Quarantine,
    pub topics: Topics,
    pub gates: Arc<Gates>,
    pub schedule: Schedule,
    /// How long a record for a saturated endpoint is deferred.
    pub overflow_delay: Duration,
    /// Rate-limit waits up to this long happen in place; longer ones are deferred.
    pub rate_limit_max_wait: Duration,
    pub metrics: Arc<Metrics>,
}

impl Worker {
    /// Delivers one dispatch or retry record. `lease` lapses when a rebalance starts: a record
    /// that waited for its endpoint's permit or rate limit past that point is not attempted but
    /// left to the partition's next owner (which reads it again from the committed offset), so
    /// the two never send to one endpoint at once and its rate limit holds across a handover.
    pub async fn handle(&self, msg: OwnedMessage, lease: Lease) -> Handled {
        let raw = msg.payload().unwrap_or_default();
        let d: Dispatch = match serde_json::from_slice(raw) {
            Ok(d) => d,
            Err(e) => {
                return self
                    .quarantine
                    .put_record("invalid_dispatch_record", &e.to_string(), &msg)
                    .await
                    .into()
            }
        };
        let attempt = headers::get_i64(msg.headers(), headers::ATTEMPT).unwrap_or(1).max(1) as u32;
        let sub = match self.config.read(|c| d.effective_subscription(c)) {
            Some(sub) if sub.enabled => sub,
            Some(sub) => {
                return self
                    .log(&skipped(&d, attempt, &sub.url, "subscription is disabled"), &d)
                    .await
            }
            None => {
                return self
                    .log(&skipped(&d, attempt, "", "subscription no longer exists"), &d)
                    .await
            }
        };

        let gate = self
            .gates
            .get(&sub.endpoint_key(), sub.rate_limit_per_sec, sub.max_concurrency);
        let permit = match gate.enter().await {
            Ok(p) => p,
            Err(Saturated) => {
                let due_ms = gate.defer_until(Utc::now().timestamp_millis(), self.overflow_delay);
                return self.defer(&msg, &d, attempt, due_ms, "saturated").await;
            }
        };
        loop {
            match gate.check_rate() {
                Ok(()) => break,
                Err(wait) if wait <= self.rate_limit_max_wait => {
                    self.metrics.rate_limit_waits.inc();
                    tokio::time::sleep(wait).await;
                }
                Err(wait) => {
                    drop(permit);
                    let due_ms = Utc::now().timestamp_millis() + wait.as_millis() as i64;
                    return self.defer(&msg, &d, attempt, due_ms, "rate_limited").await;
                }
            }
        }
        // Deferrals above go ahead even after a revocation (at worst a duplicate, same webhook
        // id, later); an attempt must not, or two owners send to one endpoint at once.
        if !lease.is_current() {
            return self.handed_over();
        }

        let Attempted {
            mut record,
            retry_after,
        } = {
            let _in_flight = self.metrics.in_flight_guard();
            self.attempter.attempt(&d, &sub, attempt).await
        };
        gate.observe(Duration::from_millis(record.response_time_ms));
        drop(permit);

        let next = (record.outcome == AttemptOutcome::Failed && !d.test).then(|| {
            self.schedule
                .after_failure(&sub.retry, attempt, retry_after, Utc::now().timestamp_millis())
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
                    self.to_tier(&msg, &sub.endpoint_key(), n, due_ms, tier_secs, &error)
                        .await
                }
                Some(Next::Dead) => {
                    self.metrics
                        .dead_lettered
                        .with_label_values(&[d.event.kind().as_str()])
                        .inc();
                    let dead = DeadLetter {
                        dispatch: d.clone(),
                        attempts: attempt,
                        last_error: error.clone(),
                        dead_at: Utc::now(),
                    };
                    self.producer
                        .send_json(&self.topics.dead(), &sub.endpoint_key(), &dead, &[])
                        .await
                }
                None => Ok(()),
            }
        };
        let (logged, forwarded) = tokio::join!(self.log(&record, &d), forward);
        match (logged, Handled::from(forwarded)) {
            (Handled::Done, Handled::Done) => Handled::Done,
            (Handled::Abort(e), _) | (_, Handled::Abort(e)) => Handled::Abort(e),
        }
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

    /// Puts the record back for a later try of the same attempt, due at `due_ms`.
    async fn defer(
        &self,
        msg: &OwnedMessage,
        d: &Dispatch,
        attempt: u32,
        due_ms: i64,
        reason: &'static str,
    ) -> Handled {
        self.metrics.deferred.with_label_values(&[reason]).inc();
        let wait = Duration::from_millis((due_ms - Utc::now().timestamp_millis()).max(0) as u64);
        let tier = self.schedule.tier_for(wait);
        self.to_tier(msg, &d.subscription.endpoint_key(), attempt, due_ms, tier, reason)
            .await
            .into()
    }

    async fn to_tier(
        &self,
        msg: &OwnedMessage,
        endpoint: &str,
        attempt: u32,
        due_ms: i64,
        tier_secs: u64,
        last_error: &str,
    ) -> Result<(), hookline_kafka::KafkaError> {
        let (attempt, due) = (attempt.to_string(), due_ms.to_string());
        let error: String = last_error.chars().take(LAST_ERROR_MAX).collect();
        let hdrs: [(&str, &[u8]); 3] = [
            (headers::ATTEMPT, attempt.as_bytes()),
            (headers::DUE_AT_MS, due.as_bytes()),
            (headers::LAST_ERROR, error.as_bytes()),
        ];
        self.producer
            .send(
                &self.topics.retry_tier(tier_secs),
                Some(endpoint.as_bytes()),
                msg.payload(),
                &hdrs,
            )
            .await
    }
}

fn skipped(d: &Dispatch, attempt: u32, url: &str, why: &str) -> AttemptRecord {
    AttemptRecord {
        attempt_id: format!("{}.{attempt}", d.dispatch_id),
        webhook_id: d.dispatch_id.clone(),
        event_id: d.event.id.clone(),
        event_type: d.event.kind(),
        workspace_id: d.workspace_id.clone(),
        subscription_id: d.subscription_id.clone(),
        url: url.to_string(),
        attempt,
        test: d.test,
        outcome: AttemptOutcome::Skipped,
        request_headers: vec![],
        payload: String::new(),
        response_code: None,
        response_time_ms: 0,
        response_body: None,
        error: Some(why.to_string()),
        attempted_at: Utc::now(),
        next_attempt_at: None,
        dead_lettered: false,
    }
}
