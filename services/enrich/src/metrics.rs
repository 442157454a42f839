use hookline_telemetry::{counter_vec, Registry};
use hookline_telemetry::{histogram_vec, LATENCY_BUCKETS};
use prometheus::{Histogram, IntCounterVec};

pub(crate) struct Metrics {
    /// `hookline_enrich_records_total{kind, outcome}`.
    pub records: IntCounterVec,
    /// `hookline_enrich_dlr_join_total{outcome}`: joined, rechecked (an in-process look again,
    /// [`crate::wait`]), waiting (parked on the wait topic), not_found, intermediate.
    pub join: IntCounterVec,
    /// `hookline_enrich_events_total{event_type, outcome}`: dispatched, no_subscription.
    pub events: IntCounterVec,
    /// `hookline_enrich_dispatched_total{event_type}`: dispatch records produced.
    pub dispatched: IntCounterVec,
    /// `hookline_enrich_fanout_capped_total{event_type}`: deliveries not made because an
    /// event matched more than `HOOKLINE_MAX_DELIVERIES_PER_EVENT` subscriptions.
    pub capped: IntCounterVec,
    /// `hookline_enrich_store_errors_total{op}`.
    pub store_errors: IntCounterVec,
    /// `hookline_enrich_clicks_total{outcome}`: bot, duplicate, no_message, delivered.
    pub clicks: IntCounterVec,
    /// `hookline_enrich_conversions_total{outcome}`: joined, unjoined, duplicate.
    pub conversions: IntCounterVec,
    /// `hookline_enrich_late_statuses_total`: statuses that arrived after a final one.
    pub late_statuses: prometheus::IntCounter,
    /// `hookline_enrich_opt_outs_total{source}`.
    pub opt_outs: IntCounterVec,
    /// `hookline_enrich_dedup_duration_seconds`: one atomic claim in the store (with retries).
    pub dedup_duration: Histogram,
    /// `hookline_enrich_revocations_total{outcome}`: batched, invalid, no_subscription.
    pub revocations: IntCounterVec,
    /// `hookline_enrich_revocation_batches_total`: batches dispatched (one per workspace).
    pub revocation_batches: prometheus::IntCounter,
}

impl Metrics {
    pub fn new(r: &Registry) -> Self {
        Self {
            records: counter_vec(
                r,
                "hookline_enrich_records_total",
                "Records consumed, by kind and outcome.",
                &["kind", "outcome"],
            ),
            join: counter_vec(r, "hookline_enrich_dlr_join_total", "DLR join outcomes.", &["outcome"]),
            events: counter_vec(
                r,
                "hookline_enrich_events_total",
                "Enriched events by type and outcome.",
                &["event_type", "outcome"],
            ),
            dispatched: counter_vec(
                r,
                "hookline_enrich_dispatched_total",
                "Dispatch records produced, by event type.",
                &["event_type"],
            ),
            capped: counter_vec(
                r,
                "hookline_enrich_fanout_capped_total",
                "Deliveries not made because an event matched more subscriptions than the per-event cap, by event type.",
                &["event_type"],
            ),
            clicks: counter_vec(r, "hookline_enrich_clicks_total", "Clicks by outcome.", &["outcome"]),
            late_statuses: counter_vec(
                r,
                "hookline_enrich_late_statuses_total",
                "Statuses that arrived after the message's final one.",
                &[],
            )
            .with_label_values(&[] as &[&str]),
            opt_outs: counter_vec(r, "hookline_enrich_opt_outs_total", "Opt-outs by source.", &["source"]),
            conversions: counter_vec(
                r,
                "hookline_enrich_conversions_total",
                "Conversions by outcome.",
                &["outcome"],
            ),
            dedup_duration: histogram_vec(
                r,
                "hookline_enrich_dedup_duration_seconds",
                "Duration of one dedup claim in the store.",
                &[],
                LATENCY_BUCKETS,
            )
            .with_label_values(&[] as &[&str]),
            revocations: counter_vec(
                r,
                "hookline_enrich_revocations_total",
                "Revoked clicks by outcome.",
                &["outcome"],
            ),
            revocation_batches: counter_vec(
                r,
                "hookline_enrich_revocation_batches_total",
                "Revoke-click batches dispatched.",
                &[],
            )
            .with_label_values(&[] as &[&str]),
            store_errors: counter_vec(
                r,
                "hookline_enrich_store_errors_total",
                "Failed store operations (retried), by operation.",
                &["op"],
            ),
        }
    }
}
