//! What the portal shows a signed-in customer first: who the key is
//! (`GET /api/v1/me`) and every endpoint of the workspace, of every dialect, with how its
//! deliveries went in the last 24 hours (`GET /api/v1/user/webhooks/overview`).
//!
//! The overview lists the workspace's subscriptions in config order: the 23 Telecom URLs
//! (`events`: the event kind), the SMSEdge URLs, the named subscriptions (`events`: their
//! types) and the operational URL. Its numbers come from the attempt stats the attempt log
//! sink keeps ([`hookline_store::attempt_stats`]), read for every endpoint in one round
//! trip: 24 hourly points per endpoint (clock hours, the current one last), oldest first,
//! for a chart.

use crate::error::ApiError;
use crate::rate_limit::Class;
use crate::state::AppState;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::Json;
use chrono::Utc;
use hookline_model::{Dialect, Permission, Subscription};
use hookline_store::attempt_stats::{HourStats, WindowStats};
use serde_json::{json, Value};

/// `GET /api/v1/me`: the caller's key id, workspace and permissions (any valid key).
pub async fn me(State(st): State<AppState>, headers: HeaderMap) -> Result<Json<Value>, ApiError> {
    let key = st.authenticate(&headers, Permission::WebhooksRead)?;
    Ok(Json(json!({
        "key_id": key.key_id,
        "workspace_id": key.workspace_id,
        "permissions": key.permissions,
    })))
}

/// `GET /api/v1/user/webhooks/overview` (permission `webhooks.read`).
pub async fn overview(State(st): State<AppState>, headers: HeaderMap) -> Result<Json<Value>, ApiError> {
    let (key, ws) = st.caller(&headers, Permission::WebhooksRead)?;
    st.spend(Class::Read, &key)?;
    // Every endpoint's stats in one round trip (the hourly roll-ups, not every minute).
    let ids: Vec<&str> = ws.subscriptions.iter().map(|s| s.id.as_str()).collect();
    let all = st
        .store
        .attempt_stats_many(&ws.workspace_id, &ids, Utc::now())
        .await
        .map_err(ApiError::unavailable)?;
    let endpoints: Vec<Value> = ws
        .subscriptions
        .iter()
        .zip(&all)
        .map(|(sub, (stats, hours))| endpoint(sub, stats.windows.iter().max_by_key(|w| w.minutes), hours))
        .collect();
    Ok(Json(json!({ "endpoints": endpoints })))
}

fn dialect(d: Dialect) -> &'static str {
    match d {
        Dialect::Telecom23 => "telecom23",
        Dialect::SmsEdge => "smsedge",
        Dialect::Named => "named",
        Dialect::Operational => "operational",
    }
}

fn endpoint(sub: &Subscription, day: Option<&WindowStats>, hours: &[HourStats]) -> Value {
    let events: Vec<&str> = if sub.event_types.is_empty() {
        sub.event_kinds.iter().map(|k| k.as_str()).collect()
    } else {
        sub.event_types.iter().map(|t| t.as_str()).collect()
    };
    let stats = day.map_or_else(
        || json!({"attempts": 0, "delivered": 0, "failed": 0, "success_ratio": null, "latency_p50_ms": null, "latency_p99_ms": null}),
        crate::named::stats::counts,
    );
    let hourly: Vec<Value> = hours
        .iter()
        .map(|h| {
            let at = chrono::DateTime::from_timestamp(h.minute * 60, 0).unwrap_or_default();
            json!({"hour": hookline_model::format_timestamp(&at), "attempts": h.attempts, "delivered": h.delivered})
        })
        .collect();
    json!({
        "dialect": dialect(sub.dialect),
        "id": sub.id,
        "name": sub.name,
        "url": sub.url,
        "events": events,
        "enabled": sub.enabled,
        "disabled": crate::named::subscriptions::disabled_view(sub),
        "stats_24h": stats,
        "hourly": hourly,
    })
}
