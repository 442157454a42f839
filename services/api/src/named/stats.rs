//! `GET /api/v1/webhooks/{id}/stats` (permission `webhooks.read`): how a named subscription's
//! deliveries went in the last hour and the last 24 hours, and its current state.
//!
//! Per window (`1h`, `24h`: the current minute and the 59, resp. 1439, before it):
//! `attempts` (requests made: delivered + failed, retries and test sends included; skipped
//! attempts, never sent, are not counted), `delivered`, `failed`, `success_ratio`
//! (delivered / attempts, `null` without attempts), `latency_p50_ms` / `latency_p99_ms` (the
//! upper bound of the latency bucket holding that percentile, buckets
//! [`LATENCY_BOUNDS_MS`](hookline_store::attempt_stats::LATENCY_BOUNDS_MS); `null` without
//! attempts) and `last_error` (`{message, at, response_code}` of the last failed attempt if it
//! was in the window, else `null`). The counts are exact, not sampled from the capped attempt
//! log: the attempt log sink counts every attempt it stores ([`hookline_store::attempt_stats`]).
//!
//! `state`: `enabled`; `throttled_rate_per_sec` and `url_kind` as the last attempt sent
//! recorded them, and `last_attempt_at` (all `null` without an attempt in the last 25 hours).

use super::subscriptions::{named, not_found, timestamp};
use crate::error::ApiError;
use crate::rate_limit::Class;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::Json;
use chrono::Utc;
use hookline_model::{Permission, Subscription};
use hookline_store::attempt_stats::{SubscriptionStats, WindowStats};
use serde_json::{json, Map, Value};

pub async fn stats(
    State(st): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let (key, ws) = st.caller(&headers, Permission::WebhooksRead)?;
    let sub = named(&ws, &id).ok_or_else(not_found)?;
    st.spend(Class::Read, &key)?;
    let stats = st
        .store
        .attempt_stats(&ws.workspace_id, &sub.id, Utc::now())
        .await
        .map_err(ApiError::unavailable)?;
    Ok(Json(view(sub, &stats)))
}

/// The response body.
pub fn view(sub: &Subscription, s: &SubscriptionStats) -> Value {
    let windows: Map<String, Value> = s.windows.iter().map(|w| (window_name(w.minutes), window(w))).collect();
    let last = s.last_attempt.as_ref();
    json!({
        "id": sub.id,
        "windows": windows,
        "state": {
            "enabled": sub.enabled,
            "disabled": super::subscriptions::disabled_view(sub),
            "throttled_rate_per_sec": last.and_then(|a| a.throttled_rate_per_sec),
            "url_kind": last.and_then(|a| a.url_kind.clone()),
            "last_attempt_at": last.map(|a| timestamp(&a.at)),
        },
    })
}

/// `1h`, `24h`.
fn window_name(minutes: i64) -> String {
    if minutes % 60 == 0 {
        format!("{}h", minutes / 60)
    } else {
        format!("{minutes}m")
    }
}

fn window(w: &WindowStats) -> Value {
    let mut v = counts(w);
    v["last_error"] = json!(w.last_error.as_ref().map(|e| json!({
        "message": e.message,
        "at": timestamp(&e.at),
        "response_code": e.response_code,
    })));
    v
}

/// A window's counts, ratio and latencies, as the stats and the workspace overview show them.
pub(crate) fn counts(w: &WindowStats) -> Value {
    json!({
        "attempts": w.attempts,
        "delivered": w.delivered,
        "failed": w.failed,
        "success_ratio": (w.attempts > 0).then(|| w.delivered as f64 / w.attempts as f64),
        "latency_p50_ms": w.p50_ms,
        "latency_p99_ms": w.p99_ms,
    })
}
