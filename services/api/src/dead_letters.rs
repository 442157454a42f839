//! Dead letters: events whose retry policy is exhausted.
//!
//! - `GET /api/v1/user/webhooks/dead-letters?limit=N` (permission `webhooks.read`): the
//!   caller's dead letters, newest first (default 50, at most 1000). A letter names its
//!   subscription and the URL of its last attempt, never a secret (letters written before the
//!   URL was recorded show the subscription's current URL).
//! - `POST /api/v1/user/webhooks/dead-letters/resend` (permission `webhooks.write`)
//!   `{"webhook_ids"?: [...], "subscription_id"?, "from"?, "to"?}`: the same re-send, for the
//!   caller's own workspace only (every filter optional; none re-sends every letter listed).
//!   A letter whose endpoint is still disabled comes back as an `endpoint_disabled` letter.
//! - `POST /admin/v1/dead-letters/resend` (admin token) `{"workspace_id", "subscription_id"?,
//!   "from"?, "to"?}` (RFC 3339 bounds on when the event was dead-lettered, inclusive): puts
//!   each matching event back on the dispatch topic as attempt 1 of a fresh policy, with the
//!   same webhook id, then removes it from the list. Delivery sends it with the subscription as
//!   configured at that time (URL, secret, credentials). Answers `{"resent": n}`.
//!   `hookline admin resend-dead-letters` does the same from the command line.

use crate::error::ApiError;
use crate::rate_limit::Class;
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::Json;
use chrono::{DateTime, Utc};
use hookline_config::Topics;
use hookline_kafka::{headers, Producer};
use hookline_model::{DeadLetter, Permission};
use hookline_store::Store;
use serde::Deserialize;
use serde_json::{json, Value};

/// Dead letters considered by one resend (the newest ones).
pub const RESEND_SCAN: usize = 10_000;

/// Which dead letters to re-send.
#[derive(Debug, Clone, Deserialize)]
pub struct ResendFilter {
    pub workspace_id: String,
    #[serde(default)]
    pub subscription_id: Option<String>,
    #[serde(default)]
    pub from: Option<DateTime<Utc>>,
    #[serde(default)]
    pub to: Option<DateTime<Utc>>,
    /// Only these webhook ids.
    #[serde(default)]
    pub webhook_ids: Option<Vec<String>>,
}

impl ResendFilter {
    pub fn matches(&self, d: &DeadLetter) -> bool {
        self.subscription_id
            .as_ref()
            .is_none_or(|s| *s == d.dispatch.subscription_id)
            && self.from.is_none_or(|f| d.dead_at >= f)
            && self.to.is_none_or(|t| d.dead_at <= t)
            && self
                .webhook_ids
                .as_ref()
                .is_none_or(|ids| ids.contains(&d.dispatch.dispatch_id))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ResendError {
    #[error(transparent)]
    Store(#[from] hookline_store::StoreError),
    #[error(transparent)]
    Kafka(#[from] hookline_kafka::KafkaError),
}

/// Re-sends the matching dead letters; returns how many. Each is produced before it is removed
/// from the list, so a failure midway loses nothing (it may be re-sent twice).
pub async fn resend(
    store: &Store,
    producer: &Producer,
    topics: &Topics,
    filter: &ResendFilter,
) -> Result<usize, ResendError> {
    let mut n = 0;
    for (raw, dead) in store.dead_letters(&filter.workspace_id, RESEND_SCAN).await? {
        if !filter.matches(&dead) {
            continue;
        }
        let d = &dead.dispatch;
        producer
            .send_json(&topics.dispatch(), &d.endpoint_key(), d, &[(headers::ATTEMPT, b"1")])
            .await?;
        store.remove_dead_letter(&filter.workspace_id, &raw).await?;
        n += 1;
    }
    Ok(n)
}

pub async fn list(
    State(st): State<AppState>,
    headers: HeaderMap,
    Query(q): crate::validate::QueryPairs,
) -> Result<Json<Value>, ApiError> {
    let key = st.authenticate(&headers, Permission::WebhooksRead)?;
    let limit = crate::validate::limit_param(&q)?;
    st.spend(Class::Read, &key)?;
    let dead = st
        .store
        .dead_letters(&key.workspace_id, limit)
        .await
        .map_err(ApiError::unavailable)?;
    let items: Vec<Value> = dead.iter().map(|(_, d)| item(&st, d)).collect();
    Ok(Json(json!({ "count": items.len(), "dead_letters": items })))
}

/// A dead letter as the listings show it.
pub(crate) fn item(st: &AppState, d: &DeadLetter) -> Value {
    let url = match d.url.as_str() {
        "" => st
            .config
            .read(|c| c.subscription(&d.dispatch.workspace_id, &d.dispatch.subscription_id))
            .map(|s| s.url),
        url => Some(url.to_string()),
    };
    json!({
        "webhook_id": d.dispatch.dispatch_id,
        "event_id": d.dispatch.event.id,
        "type": d.dispatch.event.kind(),
        "subscription_id": d.dispatch.subscription_id,
        "url": url,
        "attempts": d.attempts,
        "last_error": d.last_error,
        "reason": d.reason.as_str(),
        "dead_at": hookline_model::format_timestamp(&d.dead_at),
    })
}

/// The caller's filter for `POST /api/v1/user/webhooks/dead-letters/resend`: every member of
/// [`ResendFilter`] but the workspace, which is the caller's.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct UserResend {
    #[serde(default)]
    subscription_id: Option<String>,
    #[serde(default)]
    from: Option<DateTime<Utc>>,
    #[serde(default)]
    to: Option<DateTime<Utc>>,
    #[serde(default)]
    webhook_ids: Option<Vec<String>>,
}

pub async fn user_resend(State(st): State<AppState>, headers: HeaderMap, body: Bytes) -> Result<Json<Value>, ApiError> {
    let key = st.authenticate(&headers, Permission::WebhooksWrite)?;
    let u: UserResend = if body.is_empty() {
        UserResend::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            ApiError::bad_request(
                "INVALID_BODY",
                format!("expected {{webhook_ids?, subscription_id?, from?, to?}}: {e}"),
            )
        })?
    };
    st.spend(Class::Replay, &key)?;
    let filter = ResendFilter {
        workspace_id: key.workspace_id,
        subscription_id: u.subscription_id,
        from: u.from,
        to: u.to,
        webhook_ids: u.webhook_ids,
    };
    let n = resend(&st.store, &st.producer, &st.topics, &filter)
        .await
        .map_err(ApiError::unavailable)?;
    st.metrics.resent.with_label_values(&[] as &[&str]).inc_by(n as u64);
    Ok(Json(json!({ "resent": n })))
}

pub async fn resend_handler(
    State(st): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    crate::admin::check_admin(&st, &headers)?;
    let filter: ResendFilter = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request(
            "INVALID_BODY",
            format!("expected {{workspace_id, subscription_id?, from?, to?}}: {e}"),
        )
    })?;
    // No budget here: after an incident the operator re-sends workspace after workspace with
    // the one platform token, and a per-credential budget would throttle the recovery.
    let n = resend(&st.store, &st.producer, &st.topics, &filter)
        .await
        .map_err(ApiError::unavailable)?;
    st.metrics.resent.with_label_values(&[] as &[&str]).inc_by(n as u64);
    Ok(Json(json!({ "resent": n })))
}
