//! `GET /api/v1/user/webhooks/logs?limit=N` (permission `webhooks.read`): the caller's latest
//! attempts, newest first. `limit` defaults to 50 and is capped at 1000; a `limit` that is
//! not a positive integer is `400 INVALID_LIMIT`.

use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::Json;
use hookline_model::{AttemptRecord, Permission};
use serde_json::{json, Map, Value};

/// The limit rule logs and dead letters share, at its home in `validate`.
pub use crate::validate::{limit_param, parse_limit, QueryPairs, DEFAULT_LIMIT, MAX_LIMIT};

pub async fn handle(
    State(st): State<AppState>,
    headers: HeaderMap,
    Query(q): QueryPairs,
) -> Result<Json<Value>, ApiError> {
    let key = st.authenticate(&headers, Permission::WebhooksRead)?;
    let limit = limit_param(&q)?;
    let records = st
        .store
        .latest_attempts(&key.workspace_id, limit)
        .await
        .map_err(ApiError::unavailable)?;
    let logs: Vec<Value> = records.iter().map(entry).collect();
    Ok(Json(json!({ "count": logs.len(), "logs": logs })))
}

/// One log entry: the attempt record with request headers as an object, `url_kind`
/// (`primary`/`failover`) when the subscription has a failover URL, and `batch` (`id`, `size`)
/// when the event went in a batch.
pub fn entry(r: &AttemptRecord) -> Value {
    let headers: Map<String, Value> = r.request_headers.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
    let mut entry = json!({
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
    });
    // Only for subscriptions with a failover URL: every other entry stays as it was.
    if let Some(kind) = &r.url_kind {
        entry["url_kind"] = json!(kind);
    }
    // Only for an event sent in a batch: the batch request it went in.
    if let (Some(id), Some(size)) = (&r.batch_id, r.batch_size) {
        entry["batch"] = json!({"id": id, "size": size});
    }
    entry
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit_of(query: &str) -> Result<usize, &'static str> {
        let uri: axum::http::Uri = format!("/x?{query}").parse().unwrap();
        let Query(pairs): QueryPairs = Query::try_from_uri(&uri).expect("any query string parses");
        limit_param(&pairs).map_err(|e| e.code)
    }

    /// A repeated or malformed `limit` is the endpoint's own `400 INVALID_LIMIT` (JSON), not the
    /// framework's plain-text rejection of a query it cannot deserialise.
    #[test]
    fn limit_is_parsed_from_any_query_string() {
        assert_eq!(limit_of(""), Ok(DEFAULT_LIMIT));
        assert_eq!(limit_of("limit=7&other=%FF%ZZ"), Ok(7));
        assert_eq!(limit_of("limit=100000"), Ok(MAX_LIMIT));
        for bad in [
            "limit=1&limit=2",
            "limit=0",
            "limit=-1",
            "limit=",
            "limit=1e3",
            "limit=%FF",
        ] {
            assert_eq!(limit_of(bad), Err("INVALID_LIMIT"), "{bad}");
        }
    }
}
