//! `GET /api/v1/user/webhooks/logs?limit=N` (permission `webhooks.read`): the caller's latest
//! attempts, newest first. `limit` defaults to 50 and is capped at 1000; a `limit` that is
//! not a positive integer is `400 INVALID_LIMIT`.

use crate::auth::authenticate;
use crate::error::ApiError;
use crate::AppState;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::Json;
use hookline_model::{AttemptRecord, Permission};
use serde::Deserialize;
use serde_json::{json, Map, Value};

pub const DEFAULT_LIMIT: usize = 50;
pub const MAX_LIMIT: usize = 1000;

#[derive(Deserialize)]
pub struct LogsQuery {
    limit: Option<String>,
}

pub async fn handle(
    State(st): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<LogsQuery>,
) -> Result<Json<Value>, ApiError> {
    let key = authenticate(&st, &headers, Permission::WebhooksRead)?;
    let limit = match q.limit.as_deref() {
        None => DEFAULT_LIMIT,
        Some(raw) => match raw.parse::<usize>() {
            Ok(n) if n > 0 => n.min(MAX_LIMIT),
            _ => {
                return Err(ApiError::bad_request(
                    "INVALID_LIMIT",
                    "limit must be a positive integer",
                ))
            }
        },
    };
    let records = st
        .store
        .latest_attempts(&key.workspace_id, limit)
        .await
        .map_err(ApiError::unavailable)?;
    let logs: Vec<Value> = records.iter().map(entry).collect();
    Ok(Json(json!({ "count": logs.len(), "logs": logs })))
}

/// `limit`: default 50, capped at 1000, `INVALID_LIMIT` unless a positive integer.
pub fn parse_limit(raw: Option<&str>) -> Result<usize, ApiError> {
    match raw {
        None => Ok(DEFAULT_LIMIT),
        Some(raw) => match raw.parse::<usize>() {
            Ok(n) if n > 0 => Ok(n.min(MAX_LIMIT)),
            _ => Err(ApiError::bad_request(
                "INVALID_LIMIT",
                "limit must be a positive integer",
            )),
        },
    }
}

/// One log entry: the attempt record with request headers as an object.
pub fn entry(r: &AttemptRecord) -> Value {
    let headers: Map<String, Value> = r.request_headers.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
    json!({
        "attempt_id": r.attempt_id,
        "webhook_id": r.webhook_id,
        "event_id": r.event_id,
        "type": r.event_type,
        "url": r.url,
        "attempt": r.attempt,
        "test": r.test,
        "outcome": r.outcome,
        "request_headers": headers,
        "payload": r.payload,
        "response_code": r.response_code,
        "response_time_ms": r.response_time_ms,
        "response_body": r.response_body,
        "error": r.error,
        "attempted_at": hookline_model::format_timestamp(&r.attempted_at),
        "next_attempt_at": r.next_attempt_at.as_ref().map(hookline_model::format_timestamp),
        "dead_lettered": r.dead_lettered,
    })
}
