use hookline_telemetry::{counter_vec, Registry};
use prometheus::IntCounterVec;

pub(crate) struct Metrics {
    /// `hookline_enrich_records_total{kind, outcome}`.
    pub records: IntCounterVec,
    /// `hookline_enrich_dlr_join_total{outcome}`: joined, waiting, not_found, intermediate.
    pub join: IntCounterVec,
    /// `hookline_enrich_events_total{event_type, outcome}`: dispatched, no_subscription.
    pub events: IntCounterVec,
    /// `hookline_enrich_dispatched_total{event_type}`: dispatch records produced.
    pub dispatched: IntCounterVec,
    /// `hookline_enrich_quarantined_total{reason}`.
    pub quarantined: IntCounterVec,
    /// `hookline_enrich_store_errors_total{op}`.
    pub store_errors: IntCounterVec,
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
            quarantined: counter_vec(
                r,
                "hookline_enrich_quarantined_total",
                "Records sent to quarantine, by reason.",
                &["reason"],
            ),
            store_errors: counter_vec(
                r,
                "hookline_enrich_store_errors_total",
                "Failed store operations (retried), by operation.",
                &["op"],
            ),
        }
    }
}
