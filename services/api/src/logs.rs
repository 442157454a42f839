//! `GET /api/v1/user/webhooks/logs?limit=N` (permission `webhooks.read`): the caller's latest
//! attempts, newest first. `limit` defaults to 50 and is capped at 1000; a `limit` that is
//! not a positive integer is `400 INVALID_LIMIT`.
//!
//! Optional filters, all of which an entry must pass: `event_type` (`delivery`, `status`,
//! ...), `outcome` (`delivered`, `failed`, `skipped`), `subscription_id`, `from` and `to`
//! (RFC 3339, inclusive, on `attempted_at`). With a filter the whole kept log
//! (`HOOKLINE_ATTEMPT_LOG_KEEP` entries) is searched, newest first, for `limit` matches. A
//! filter given twice, or a value it cannot take, is `400 INVALID_FILTER`.

use crate::error::ApiError;
use crate::rate_limit::Class;
use crate::state::AppState;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::Json;
use chrono::{DateTime, Utc};
use hookline_model::{AttemptOutcome, AttemptRecord, EventKind, Permission};
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
    let filter = Filter::parse(&q)?;
    st.spend(Class::Read, &key)?;
    let scan = if filter.is_empty() {
        limit
    } else {
        st.cfg.attempt_log_keep.max(limit)
    };
    let records = st
        .store
        .latest_attempts(&key.workspace_id, scan)
        .await
        .map_err(ApiError::unavailable)?;
    let logs: Vec<Value> = records
        .iter()
        .filter(|r| filter.matches(r))
        .take(limit)
        .map(entry)
        .collect();
    Ok(Json(json!({ "count": logs.len(), "logs": logs })))
}

/// The optional filters of the listing (see the module docs).
#[derive(Debug, Default)]
struct Filter {
    event_type: Option<EventKind>,
    outcome: Option<AttemptOutcome>,
    subscription_id: Option<String>,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
}

impl Filter {
    fn parse(q: &[(String, String)]) -> Result<Self, ApiError> {
        let invalid = |name: &str, why: &str| ApiError::bad_request("INVALID_FILTER", format!("{name}: {why}"));
        let param = |name: &str| crate::validate::single_param(q, name, "INVALID_FILTER");
        let time = |name: &str| -> Result<Option<DateTime<Utc>>, ApiError> {
            param(name)?
                .map(|v| {
                    DateTime::parse_from_rfc3339(v)
                        .map(|t| t.with_timezone(&Utc))
                        .map_err(|_| invalid(name, "not an RFC 3339 time"))
                })
                .transpose()
        };
        Ok(Self {
            event_type: param("event_type")?
                .map(|v| EventKind::parse(v).ok_or_else(|| invalid("event_type", "not an event type")))
                .transpose()?,
            outcome: param("outcome")?
                .map(|v| {
                    [
                        AttemptOutcome::Delivered,
                        AttemptOutcome::Failed,
                        AttemptOutcome::Skipped,
                    ]
                    .into_iter()
                    .find(|o| o.as_str() == v)
                    .ok_or_else(|| invalid("outcome", "one of delivered, failed, skipped"))
                })
                .transpose()?,
            subscription_id: param("subscription_id")?.map(str::to_string),
            from: time("from")?,
            to: time("to")?,
        })
    }

    fn is_empty(&self) -> bool {
        self.event_type.is_none()
            && self.outcome.is_none()
            && self.subscription_id.is_none()
            && self.from.is_none()
            && self.to.is_none()
    }

    fn matches(&self, r: &AttemptRecord) -> bool {
        self.event_type.is_none_or(|k| r.event_type == k)
            && self.outcome.is_none_or(|o| r.outcome == o)
            && self.subscription_id.as_ref().is_none_or(|s| *s == r.subscription_id)
            && self.from.is_none_or(|t| r.attempted_at >= t)
            && self.to.is_none_or(|t| r.attempted_at <= t)
    }
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
