//! The routes the portal reads besides the dialects' own: who the key is, the workspace's
//! endpoints at a glance, and the operator's views.

use super::docs::*;
use crate::state::AppState;
use crate::{account, operator};
use axum::http::Method;
use axum::routing::get;
use hookline_telemetry::openapi::DocumentedRouter;
use serde_json::json;

pub(super) fn routes(r: DocumentedRouter<AppState>) -> DocumentedRouter<AppState> {
    let stats = json!({"attempts": 40, "delivered": 38, "failed": 2, "success_ratio": 0.95, "latency_p50_ms": 100, "latency_p99_ms": 2500});
    r.route(
        op(Method::GET, "/api/v1/me", LOGS, "The caller's API key: its id, workspace and permissions", READ)
            .response(200, "the key (never the key itself)", json!({"key_id": "key_0123456789ab", "workspace_id": "acme",
                "permissions": ["webhooks.read", "webhooks.write"]})),
        get(account::me),
    )
    .route(
        limited(unavailable(op(Method::GET, "/api/v1/user/webhooks/overview", LOGS, "Every endpoint of the workspace, of every dialect, with its deliveries of the last 24 hours", READ)), READS)
            .response(200, "endpoints in config order; `dialect` is telecom23, smsedge, named or operational; `events` are kinds (23 Telecom, SMSEdge) or named types; \
                `disabled` is null while enabled; `hourly` has 24 points, oldest first; ratios and latencies are null without attempts",
                json!({"endpoints": [{"dialect": "named", "id": "wh_3f2a9c", "name": "Delivered SMS", "url": "https://example.com/hooks",
                    "events": ["SMS_STATUS"], "enabled": false, "disabled": {"reason": "gone", "at": "2026-02-13T10:30:00Z", "detail": "HTTP 410"},
                    "stats_24h": stats, "hourly": [{"hour": "2026-02-13T10:00:00Z", "attempts": 40, "delivered": 38}]}]}))
            .nullable(&[
                "endpoints[].name",
                "endpoints[].disabled",
                "endpoints[].disabled.at",
                "endpoints[].disabled.detail",
                "endpoints[].stats_24h.success_ratio",
                "endpoints[].stats_24h.latency_p50_ms",
                "endpoints[].stats_24h.latency_p99_ms",
            ]),
        get(account::overview),
    )
    .route(
        op(Method::GET, "/admin/v1/workspaces", OPERATORS, "Every workspace with a config, its subscriptions and API keys counted", ADMIN)
            .response(200, "workspaces by id", json!({"workspaces": [{"workspace_id": "acme", "subscriptions": 3, "api_keys": 2}]})),
        get(operator::workspaces),
    )
    .route(
        limited(unavailable(op(Method::GET, "/admin/v1/quarantine", OPERATORS, "Records quarantined in the last 24 hours, by reason (read back from the quarantine topic)", ADMIN)), READS)
            .response(200, "counts by reason code", json!({"since": "2026-02-12T10:30:00Z", "counts": {"metadata_not_found": 3, "invalid_json": 1}})),
        get(operator::quarantine),
    )
    .route(
        limited(unavailable(op(Method::GET, "/admin/v1/dead-letters", OPERATORS, "The newest dead letters of every workspace (`?limit=` per workspace, default 50, at most 1000), newest first", ADMIN)), READS)
            .query("limit", LIMIT, limit())
            .response(400, "INVALID_LIMIT", error("INVALID_LIMIT"))
            .response(200, "dead letters, as the caller's listing shows them, with their workspace", json!({"count": 1, "dead_letters": [{
                "workspace_id": "acme", "webhook_id": "wh_1", "event_id": "dlr_0f3a", "type": "delivery", "subscription_id": "t23-delivery",
                "url": "https://example.com/dlr", "attempts": 3, "last_error": "HTTP 500", "reason": "exhausted",
                "dead_at": "2026-02-13T10:31:00Z"}]}))
            .nullable(&["dead_letters[].url"]),
        get(operator::dead_letters),
    )
}
