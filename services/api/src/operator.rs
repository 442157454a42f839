//! The operator's views behind the admin token, for the portal's operator page:
//!
//! - `GET /admin/v1/workspaces`: every workspace with a config, its subscriptions and API
//!   keys counted;
//! - `GET /admin/v1/quarantine`: records quarantined in the last 24 hours, counted by reason
//!   (read back from the quarantine topic by time, outside any consumer group, as a replay
//!   reads the dispatch topic: [`hookline_kafka::history`]);
//! - `GET /admin/v1/dead-letters?limit=N`: the newest dead letters of every workspace (at most
//!   `limit` per workspace, default 50), newest first, each with its `workspace_id`.

use crate::admin::check_admin;
use crate::error::ApiError;
use crate::rate_limit::Class;
use crate::state::AppState;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::Json;
use chrono::{Duration as Age, Utc};
use hookline_kafka::history::{self, Visit};
use hookline_kafka::{headers, Headers, Message};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::Duration;

/// How far back the quarantine counts go.
const QUARANTINE_WINDOW_HOURS: i64 = 24;
/// Longest the quarantine count may spend reading the topic.
const SCAN_TIMEOUT: Duration = Duration::from_secs(30);

pub async fn workspaces(State(st): State<AppState>, headers: HeaderMap) -> Result<Json<Value>, ApiError> {
    check_admin(&st, &headers)?;
    let (workspaces, keys) = st.config.read(|c| {
        let keys: Vec<String> = c.api_keys().iter().map(|k| k.workspace_id.clone()).collect();
        (c.workspaces(), keys)
    });
    let mut counted: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for ws in &workspaces {
        counted.entry(ws.workspace_id.clone()).or_default().0 = ws.subscriptions.len();
    }
    for k in keys {
        counted.entry(k).or_default().1 += 1;
    }
    let list: Vec<Value> = counted
        .into_iter()
        .map(|(id, (subs, keys))| json!({"workspace_id": id, "subscriptions": subs, "api_keys": keys}))
        .collect();
    Ok(Json(json!({ "workspaces": list })))
}

pub async fn quarantine(State(st): State<AppState>, headers: HeaderMap) -> Result<Json<Value>, ApiError> {
    check_admin(&st, &headers)?;
    st.spend_admin(Class::Read)?;
    let since = Utc::now() - Age::hours(QUARANTINE_WINDOW_HOURS);
    let (kafka, topic) = (st.kafka.clone(), st.topics.quarantine());
    let counts = tokio::task::spawn_blocking(move || {
        let mut counts: BTreeMap<String, u64> = BTreeMap::new();
        history::scan(&kafka, &topic, since.timestamp_millis(), None, SCAN_TIMEOUT, |msg| {
            let reason = msg
                .headers()
                .and_then(|h| h.iter().find(|x| x.key == headers::QUARANTINE_REASON))
                .and_then(|x| x.value)
                .map_or_else(|| "unknown".to_string(), |v| String::from_utf8_lossy(v).into_owned());
            *counts.entry(reason).or_default() += 1;
            Visit::Continue
        })?;
        Ok::<_, hookline_kafka::KafkaError>(counts)
    })
    .await
    .map_err(ApiError::unavailable)?
    .map_err(ApiError::unavailable)?;
    Ok(Json(json!({
        "since": hookline_model::format_timestamp(&since),
        "counts": counts,
    })))
}

pub async fn dead_letters(
    State(st): State<AppState>,
    headers: HeaderMap,
    Query(q): crate::validate::QueryPairs,
) -> Result<Json<Value>, ApiError> {
    check_admin(&st, &headers)?;
    let limit = crate::validate::limit_param(&q)?;
    st.spend_admin(Class::Read)?;
    let ids: Vec<String> = st
        .config
        .read(|c| c.workspaces().iter().map(|w| w.workspace_id.clone()).collect());
    let mut all = vec![];
    for id in ids {
        for (_, d) in st.store.dead_letters(&id, limit).await.map_err(ApiError::unavailable)? {
            all.push(d);
        }
    }
    all.sort_by_key(|d| std::cmp::Reverse(d.dead_at));
    let items: Vec<Value> = all
        .iter()
        .map(|d| {
            let mut v = crate::dead_letters::item(&st, d);
            v["workspace_id"] = json!(d.dispatch.workspace_id);
            v
        })
        .collect();
    Ok(Json(json!({ "count": items.len(), "dead_letters": items })))
}
