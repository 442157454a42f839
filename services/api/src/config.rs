//! The API's settings (flags and environment variables).

use std::net::SocketAddr;

/// API settings.
#[derive(Debug, Clone, clap::Args)]
pub struct ApiConfig {
    #[arg(
        long = "api-http-addr",
        id = "api_http_addr",
        env = "HOOKLINE_API_HTTP_ADDR",
        default_value = "0.0.0.0:8080"
    )]
    pub http_addr: SocketAddr,
    /// Bearer token for `/admin/v1/*`. Without it the admin endpoints answer 404.
    #[arg(long, env = "HOOKLINE_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
    /// Consumer group that copies the attempts topic into the store.
    #[arg(
        long = "api-attempts-group",
        id = "api_attempts_group",
        env = "HOOKLINE_API_ATTEMPTS_GROUP",
        default_value = "hookline-api-attempts"
    )]
    pub attempts_group: String,
    /// Attempts kept per workspace for the logs endpoint.
    #[arg(long, env = "HOOKLINE_ATTEMPT_LOG_KEEP", default_value_t = 1000)]
    pub attempt_log_keep: usize,
    /// Dead letters kept per workspace for listing and re-sending (the dead-letter topic keeps
    /// all of them, for its retention).
    #[arg(long, env = "HOOKLINE_DEAD_LETTER_KEEP", default_value_t = 10_000)]
    pub dead_letter_keep: usize,
    /// Named subscriptions one workspace may have (each dialect's fixed channels come on top:
    /// four 23 Telecom URLs, four SMSEdge URLs). Creating one more answers
    /// `400 SUBSCRIPTION_LIMIT`, so one key holder cannot turn an event into unbounded
    /// outbound requests.
    #[arg(long, env = "HOOKLINE_MAX_SUBSCRIPTIONS_PER_WORKSPACE", default_value_t = 50)]
    pub max_subscriptions_per_workspace: usize,
    /// Auto-disable a named subscription once every attempt to it has failed for this long
    /// (default 5 days, as Svix does); 0 turns this rule off.
    #[arg(long, env = "HOOKLINE_AUTO_DISABLE_AFTER_SECS", default_value_t = 5 * 24 * 3600)]
    pub auto_disable_after_secs: u64,
    /// Auto-disable a named subscription whose receiver answers `410 Gone` (the Standard
    /// Webhooks spec's "SHOULD disable").
    #[arg(
        long,
        env = "HOOKLINE_AUTO_DISABLE_ON_GONE",
        default_value_t = true,
        action = clap::ArgAction::Set
    )]
    pub auto_disable_on_gone: bool,
    /// Most events one `POST /api/v1/webhooks/{id}/replay` re-sends; a longer window answers
    /// `"complete": false` with the time to continue from.
    #[arg(long, env = "HOOKLINE_REPLAY_MAX_EVENTS", default_value_t = 10_000)]
    pub replay_max_events: usize,
    /// Who may show the portal (`/portal`) in a frame: the CSP `frame-ancestors` sources,
    /// e.g. `'self' https://console.example.com`.
    #[arg(long, env = "HOOKLINE_PORTAL_FRAME_ANCESTORS", default_value = "'self'")]
    pub portal_frame_ancestors: String,
    /// How long a test send waits for its attempt beyond the subscription's own timeout.
    #[arg(long, env = "HOOKLINE_TEST_SEND_GRACE_SECS", default_value_t = 10)]
    pub test_send_grace_secs: u64,
    /// How long a named subscription's replaced secret keeps signing after
    /// `POST /api/v1/webhooks/{id}/rotate-secret` without `overlap_secs` (0 to 7 days).
    #[arg(
        long,
        env = "HOOKLINE_SECRET_ROTATION_OVERLAP_SECS",
        default_value_t = 86_400,
        value_parser = clap::value_parser!(u64).range(0..=crate::named::rotation::MAX_OVERLAP_SECS)
    )]
    pub secret_rotation_overlap_secs: u64,
    /// Per-credential limits on the expensive routes ([`crate::rate_limit`]).
    #[command(flatten)]
    pub limits: crate::rate_limit::LimitConfig,
}
