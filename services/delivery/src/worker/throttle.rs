//! What an attempt tells the endpoint's adaptive rate ([`crate::aimd`]), and the deferral of
//! a throttled record.
//!
//! A 429 (or a 503 with `Retry-After`) is the receiver asking for less, not failing: the
//! record is put back in a
//! retry tier *without* using an attempt of its retry policy (like a record refused by a
//! saturated endpoint), due after the receiver's `Retry-After` if it gave one, else spread at
//! the endpoint's new, lower rate. So a receiver that throttles for a while gets every event,
//! late, and none dead-lettered. The exemption is bounded: a record that has been put back
//! for [`THROTTLE_GRACE`] (counted from the `hookline-first-seen-ms` header the deferrals
//! carry) has its 429s count as failed attempts again, so an endpoint that answers nothing
//! but 429 reaches the dead-letter topic in the end instead of cycling forever. Timeouts and
//! bare 503s lower the rate too but stay failed attempts: a receiver that does not answer, or
//! answers 503 without saying when to come back, may be down.

use super::{both, Prepared, Stage, Worker};
use crate::attempt::Attempted;
use crate::gate::{Gate, Signal};
use chrono::{TimeZone, Utc};
use hookline_model::{AttemptOutcome, Subscription};
use std::time::{Duration, Instant};

/// How long a record may be put back for 429s and 503s without using an attempt.
pub const THROTTLE_GRACE: Duration = Duration::from_secs(3600);

/// What `attempted` says about the receiver's capacity, and the label of a decrease.
fn signal(attempted: &Attempted) -> (Signal, &'static str) {
    match attempted.record.response_code {
        Some(429) => (Signal::Throttled(attempted.retry_after), "429"),
        Some(503) => (Signal::Throttled(attempted.retry_after), "503"),
        _ if attempted.timed_out() => (Signal::TimedOut, "timeout"),
        _ if attempted.record.outcome == AttemptOutcome::Delivered => (Signal::Success, ""),
        Some(500..=599) => (Signal::ServerError, ""),
        _ => (Signal::Neutral, ""),
    }
}

impl Worker {
    /// Feeds the outcome of a request sent at `sent` (with `in_flight` requests in flight,
    /// itself included) back to its endpoint's gate, and shows the endpoint's rate and
    /// concurrency limit.
    pub(super) fn feed_back(
        &self,
        gate: &Gate,
        sub: &Subscription,
        sent: Instant,
        in_flight: usize,
        attempted: &Attempted,
    ) {
        let (signal, label) = signal(attempted);
        if let Some(rate) = gate.feedback(sent, in_flight, signal) {
            self.metrics.throttle_decreases.with_label_values(&[label]).inc();
            tracing::info!(
                rate,
                limit = gate.limit(),
                signal = label,
                "endpoint throttled: rate lowered"
            );
        }
        self.metrics.set_endpoint_state(
            &self.config,
            &sub.workspace_id,
            &sub.id,
            gate.current_rate(),
            gate.concurrency_limit(),
        );
        self.shared_rates.publish(&sub.endpoint_key(), gate);
    }

    /// A throttling answer ([`Attempted::throttled_response`]) within [`THROTTLE_GRACE`]: its attempt record is written (failed, with the
    /// time of the next try) and the record deferred with the same attempt number. Anything
    /// else goes on to [`Worker::settle`].
    pub(super) async fn defer_throttled(
        &self,
        p: &Prepared,
        attempted: Attempted,
        deferred_since: Option<i64>,
    ) -> Stage<Attempted> {
        let now = Utc::now().timestamp_millis();
        let since = deferred_since.unwrap_or(now);
        if !attempted.throttled_response() || p.d.test || now - since >= THROTTLE_GRACE.as_millis() as i64 {
            return Ok(attempted);
        }
        let Prepared { d, attempt, sub } = p;
        let gate = self
            .gates
            .get(&sub.endpoint_key(), sub.rate_limit_per_sec, sub.max_concurrency);
        // The whole Retry-After (it uses no attempt), however long the endpoint's pause.
        let min_wait = attempted
            .retry_after
            .unwrap_or_default()
            .clamp(self.overflow_delay, THROTTLE_GRACE.max(self.overflow_delay));
        let due_ms = gate.defer_until(now, min_wait);
        let mut record = attempted.record;
        record.next_attempt_at = Utc.timestamp_millis_opt(due_ms).single();
        let (logged, deferred) = tokio::join!(
            self.log(&record, d),
            self.defer(d, *attempt, due_ms, "throttled", Some(since))
        );
        Err(both(logged, deferred))
    }
}
