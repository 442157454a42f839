use hookline_kafka::ConfigHandle;
use hookline_model::{AttemptOutcome, AttemptRecord, Dispatch};
use hookline_telemetry::{counter_vec, gauge, histogram_vec, int_gauge_vec, Registry, LATENCY_BUCKETS};
use prometheus::{Gauge, Histogram, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec};
use std::collections::HashSet;
use std::sync::Mutex;
use tokio_util::sync::CancellationToken;

pub(crate) struct Metrics {
    /// `hookline_delivery_attempts_total{event_type, outcome}`.
    attempts: IntCounterVec,
    /// `hookline_delivery_request_duration_seconds{outcome}`: the HTTP exchange.
    request_duration: HistogramVec,
    /// `hookline_delivery_event_latency_seconds{event_type}`: from Hookline first receiving
    /// the input to the receiver's 2xx.
    event_latency: HistogramVec,
    /// `hookline_delivery_in_flight_requests`.
    in_flight: IntGauge,
    /// `hookline_delivery_retries_scheduled_total{tier}`: failed attempts sent to a retry tier
    /// (tier = its delay in seconds).
    pub retries: IntCounterVec,
    /// `hookline_delivery_dead_lettered_total{event_type,reason}` (reason: `exhausted`,
    /// `endpoint_disabled`, `config_missing`).
    pub dead_lettered: IntCounterVec,
    /// `hookline_delivery_deferred_total{reason}`: records put back without an attempt
    /// (`saturated` endpoint, `rate_limited` beyond the in-place wait), or left to their
    /// partition's next owner after a rebalance (`handed_over`).
    pub deferred: IntCounterVec,
    /// `hookline_delivery_scheduling_lag_seconds`: how late this process's tasks wake
    /// ([`crate::lag`]): a saturated delivery process shows here first.
    pub scheduling_lag: Gauge,
    /// `hookline_delivery_rate_limit_waits_total`: in-place waits for an endpoint's limit.
    pub rate_limit_waits: IntCounter,
    /// `hookline_delivery_endpoint_rate_limit{workspace_id, subscription_id}`: the rate an
    /// endpoint's requests are paced at now (its limit, or less while it throttles), for the
    /// endpoints this process has sent to that still exist. Per-endpoint series (with `endpoint_concurrency`):
    /// set through [`Metrics::set_endpoint_state`], removed when the endpoint leaves the
    /// config ([`forget_deleted_endpoints`]), so the series are bounded by the live
    /// subscriptions, not by every one ever created.
    endpoint_rate: IntGaugeVec,
    /// `hookline_delivery_endpoint_concurrency_limit{workspace_id, subscription_id}`: the
    /// requests that may be in flight to an endpoint now ([`crate::concurrency`]); its series
    /// come and go with `endpoint_rate`'s.
    endpoint_concurrency: IntGaugeVec,
    /// The endpoints (`workspace_id`, `subscription_id`) with an `endpoint_rate` series.
    endpoint_series: Mutex<HashSet<(String, String)>>,
    /// `hookline_delivery_throttle_decreases_total{signal}`: times an endpoint's adaptive
    /// rate dropped, by what made it drop (`429`, `503`, `timeout`).
    pub throttle_decreases: IntCounterVec,
    /// `hookline_delivery_failovers_total`: endpoints switched to their failover URL
    /// ([`crate::failover`]).
    pub failovers: IntCounter,
    /// `hookline_delivery_failbacks_total`: endpoints switched back to their primary URL.
    pub failbacks: IntCounter,
    /// `hookline_delivery_probes_total{outcome}`: pings of a failed-over endpoint's primary
    /// URL (`ok`: a 2xx, `failed`: anything else).
    pub probes: IntCounterVec,
    /// `hookline_delivery_superseded_total{event_type}`: statuses not sent because a later
    /// status of their message was already delivered to the endpoint ([`crate::ordering`]).
    pub superseded: IntCounterVec,
    /// `hookline_delivery_batch_size`: events per batch request ([`crate::batch`]); its
    /// `_count` is the batch requests sent, its `_sum` the events they carried.
    pub batch_size: Histogram,
}

impl Metrics {
    pub fn new(r: &Registry) -> Self {
        Self {
            attempts: counter_vec(
                r,
                "hookline_delivery_attempts_total",
                "Delivery attempts by event type and outcome.",
                &["event_type", "outcome"],
            ),
            request_duration: histogram_vec(
                r,
                "hookline_delivery_request_duration_seconds",
                "Webhook HTTP request duration.",
                &["outcome"],
                LATENCY_BUCKETS,
            ),
            event_latency: histogram_vec(
                r,
                "hookline_delivery_event_latency_seconds",
                "Input received to webhook delivered.",
                &["event_type"],
                LATENCY_BUCKETS,
            ),
            in_flight: int_gauge_vec(
                r,
                "hookline_delivery_in_flight_requests",
                "Webhook requests in flight.",
                &[],
            )
            .with_label_values(&[] as &[&str]),
            retries: counter_vec(
                r,
                "hookline_delivery_retries_scheduled_total",
                "Failed attempts scheduled for retry, by tier (seconds).",
                &["tier"],
            ),
            dead_lettered: counter_vec(
                r,
                "hookline_delivery_dead_lettered_total",
                "Events written to the dead-letter topic, by event type and reason.",
                &["event_type", "reason"],
            ),
            deferred: counter_vec(
                r,
                "hookline_delivery_deferred_total",
                "Records deferred to a retry tier without an attempt, by reason.",
                &["reason"],
            ),
            scheduling_lag: gauge(
                r,
                "hookline_delivery_scheduling_lag_seconds",
                "How late delivery's tasks wake (a 10 ms probe's decaying maximum): a saturated delivery process shows here first.",
            ),
            rate_limit_waits: counter_vec(
                r,
                "hookline_delivery_rate_limit_waits_total",
                "In-place waits for an endpoint's rate limit.",
                &[],
            )
            .with_label_values(&[] as &[&str]),
            endpoint_rate: int_gauge_vec(
                r,
                "hookline_delivery_endpoint_rate_limit",
                "Requests per second an endpoint is paced at now (adaptive, at most its limit).",
                &["workspace_id", "subscription_id"],
            ),
            endpoint_concurrency: int_gauge_vec(
                r,
                "hookline_delivery_endpoint_concurrency_limit",
                "Requests that may be in flight to an endpoint now (adaptive, at most its maximum).",
                &["workspace_id", "subscription_id"],
            ),
            endpoint_series: Mutex::default(),
            throttle_decreases: counter_vec(
                r,
                "hookline_delivery_throttle_decreases_total",
                "Decreases of an endpoint's adaptive rate, by signal (429, 503, timeout).",
                &["signal"],
            ),
            failovers: counter_vec(
                r,
                "hookline_delivery_failovers_total",
                "Endpoints switched to their failover URL after consecutive failures.",
                &[],
            )
            .with_label_values(&[] as &[&str]),
            failbacks: counter_vec(
                r,
                "hookline_delivery_failbacks_total",
                "Endpoints switched back to their primary URL.",
                &[],
            )
            .with_label_values(&[] as &[&str]),
            probes: counter_vec(
                r,
                "hookline_delivery_probes_total",
                "Pings of failed-over endpoints' primary URLs, by outcome.",
                &["outcome"],
            ),
            superseded: counter_vec(
                r,
                "hookline_delivery_superseded_total",
                "Statuses not sent because a later status of their message was delivered, by event type.",
                &["event_type"],
            ),
            batch_size: histogram_vec(
                r,
                "hookline_delivery_batch_size",
                "Events per batch request (subscriptions with batching).",
                &[],
                &[1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0],
            )
            .with_label_values(&[] as &[&str]),
        }
    }

    pub fn observe(&self, rec: &AttemptRecord, d: &Dispatch) {
        let kind = rec.event_type.as_str();
        self.attempts.with_label_values(&[kind, rec.outcome.as_str()]).inc();
        if rec.outcome == AttemptOutcome::Skipped {
            return;
        }
        self.request_duration
            .with_label_values(&[rec.outcome.as_str()])
            .observe(rec.response_time_ms as f64 / 1000.0);
        if rec.outcome == AttemptOutcome::Delivered && !d.test {
            let secs = (chrono::Utc::now() - d.event.received_at).num_milliseconds().max(0) as f64 / 1000.0;
            self.event_latency.with_label_values(&[kind]).observe(secs);
        }
    }

    /// Shows the rate `subscription_id` of `workspace_id` is paced at and its concurrency limit, unless the endpoint
    /// has left `config` meanwhile (a request that was in flight when its subscription was
    /// deleted must not bring the series back after [`Metrics::forget_deleted`] removed it:
    /// both run under the same lock).
    pub fn set_endpoint_state(
        &self,
        config: &ConfigHandle,
        workspace_id: &str,
        subscription_id: &str,
        rate: u32,
        concurrency: usize,
    ) {
        let mut series = self.endpoint_series.lock().expect("endpoint series lock");
        if !exists(config, workspace_id, subscription_id) {
            return;
        }
        series.insert((workspace_id.to_string(), subscription_id.to_string()));
        let labels = [workspace_id, subscription_id];
        self.endpoint_rate.with_label_values(&labels).set(i64::from(rate));
        self.endpoint_concurrency
            .with_label_values(&labels)
            .set(i64::try_from(concurrency).unwrap_or(i64::MAX));
    }

    /// Removes the series of every endpoint no longer in `config`; how many went.
    pub fn forget_deleted(&self, config: &ConfigHandle) -> usize {
        let mut series = self.endpoint_series.lock().expect("endpoint series lock");
        let gone: Vec<(String, String)> = series
            .iter()
            .filter(|(ws, sub)| !exists(config, ws, sub))
            .cloned()
            .collect();
        for key in &gone {
            series.remove(key);
            // Absent already only if never set, which the set above rules out.
            let _ = self.endpoint_rate.remove_label_values(&[&key.0, &key.1]);
            let _ = self.endpoint_concurrency.remove_label_values(&[&key.0, &key.1]);
        }
        gone.len()
    }

    /// Counts a request in flight until the guard drops.
    pub fn in_flight_guard(&self) -> InFlight {
        self.in_flight.inc();
        InFlight(self.in_flight.clone())
    }
}

pub(crate) struct InFlight(IntGauge);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.dec();
    }
}

fn exists(config: &ConfigHandle, workspace_id: &str, subscription_id: &str) -> bool {
    config.read(|c| {
        c.workspace(workspace_id)
            .is_some_and(|w| w.subscription(subscription_id).is_some())
    })
}

/// Until `shutdown`: after every config change, removes the per-endpoint series of the
/// endpoints that are gone (a deleted subscription, or its whole workspace), so that
/// create/delete cycles leave no series behind.
pub(crate) async fn forget_deleted_endpoints(
    config: ConfigHandle,
    metrics: std::sync::Arc<Metrics>,
    shutdown: CancellationToken,
) {
    let mut changes = config.subscribe_changes();
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            changed = changes.changed() => {
                if changed.is_err() {
                    return;
                }
            }
        }
        let gone = metrics.forget_deleted(&config);
        if gone > 0 {
            tracing::debug!(gone, "metric series of deleted endpoints removed");
        }
    }
}
