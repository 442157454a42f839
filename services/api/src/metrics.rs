use hookline_telemetry::{counter_vec, Registry};
use prometheus::IntCounterVec;

pub(crate) struct Metrics {
    /// `hookline_api_config_writes_total{dialect}`.
    pub config_writes: IntCounterVec,
    /// `hookline_api_config_write_conflicts_total{dialect}`: writes found stale in the config
    /// topic's order (another replica wrote the workspace first) and made again.
    pub config_write_conflicts: IntCounterVec,
    /// `hookline_api_config_reasserts_total`: the config in force written again one version
    /// up, so that a workspace's last record in the compacted topic is never a stale one.
    pub config_reasserts: IntCounterVec,
    /// `hookline_api_test_sends_total{outcome}`: ok, failed, timeout.
    pub test_sends: IntCounterVec,
    /// `hookline_api_logged_records_total{kind, outcome}`: attempt records and dead letters
    /// copied to the store.
    pub logged: IntCounterVec,
    /// `hookline_api_dead_letters_resent_total`.
    pub resent: IntCounterVec,
    /// `hookline_api_endpoints_auto_disabled_total{reason}`: `failing`, `gone`.
    pub auto_disabled: IntCounterVec,
    /// `hookline_api_replayed_events_total`: events re-sent by replays.
    pub replayed: IntCounterVec,
    /// `hookline_api_rate_limited_total{class}`: calls answered `429` for their credential's
    /// budget ([`crate::rate_limit`]): `read`, `replay`.
    pub rate_limited: IntCounterVec,
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
            config_write_conflicts: counter_vec(
                r,
                "hookline_api_config_write_conflicts_total",
                "Configuration writes another replica's write got ahead of in the config topic, made again on the newer config.",
                &["dialect"],
            ),
            config_reasserts: counter_vec(
                r,
                "hookline_api_config_reasserts_total",
                "Configs in force written again after a stale write gave up, so that compaction never keeps a stale record last.",
                &[],
            ),
            test_sends: counter_vec(
                r,
                "hookline_api_test_sends_total",
                "Test sends by outcome.",
                &["outcome"],
            ),
            logged: counter_vec(
                r,
                "hookline_api_logged_records_total",
                "Attempt records and dead letters written to the store.",
                &["kind", "outcome"],
            ),
            resent: counter_vec(
                r,
                "hookline_api_dead_letters_resent_total",
                "Dead letters re-sent to the dispatch topic.",
                &[],
            ),
            auto_disabled: counter_vec(
                r,
                "hookline_api_endpoints_auto_disabled_total",
                "Endpoints disabled by the auto-disable policy, by reason.",
                &["reason"],
            ),
            replayed: counter_vec(
                r,
                "hookline_api_replayed_events_total",
                "Events re-sent by replays of an endpoint's history.",
                &[],
            ),
            rate_limited: counter_vec(
                r,
                "hookline_api_rate_limited_total",
                "Calls refused with 429 for their credential's budget of expensive requests, by class.",
                &["class"],
            ),
        }
    }
}
