use hookline_telemetry::{counter_vec, Registry};
use prometheus::IntCounterVec;

pub(crate) struct Metrics {
    /// `hookline_api_config_writes_total{dialect}`.
    pub config_writes: IntCounterVec,
    /// `hookline_api_test_sends_total{outcome}`: ok, failed, timeout.
    pub test_sends: IntCounterVec,
    /// `hookline_api_attempts_logged_total{outcome}`: attempt records copied to the store.
    pub attempts_logged: IntCounterVec,
}

impl Metrics {
    pub fn new(r: &Registry) -> Self {
        Self {
            config_writes: counter_vec(
                r,
                "hookline_api_config_writes_total",
                "Webhook configuration writes, by dialect.",
                &["dialect"],
            ),
            test_sends: counter_vec(
                r,
                "hookline_api_test_sends_total",
                "Test sends by outcome.",
                &["outcome"],
            ),
            attempts_logged: counter_vec(
                r,
                "hookline_api_attempts_logged_total",
                "Attempt records written to the log store.",
                &["outcome"],
            ),
        }
    }
}
