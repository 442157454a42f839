use hookline_telemetry::{counter_vec, Registry};
use prometheus::IntCounterVec;

pub(crate) struct Metrics {
    /// `hookline_ingest_records_total{kind, outcome}`: outcome is `accepted` or `quarantined`.
    pub records: IntCounterVec,
}

impl Metrics {
    pub fn new(r: &Registry) -> Self {
        Self {
            records: counter_vec(
                r,
                "hookline_ingest_records_total",
                "Input records by kind and outcome.",
                &["kind", "outcome"],
            ),
        }
    }
}
