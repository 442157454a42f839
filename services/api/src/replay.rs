//! `POST /api/v1/webhooks/{id}/replay` (permission `webhooks.write`): re-sends every event a
//! named subscription was sent in a window of time, not only the failed ones.
//!
//! Body: `{"from": RFC 3339, "to"?: RFC 3339, "event_types"?: [...]}` (`to` defaults to now;
//! `event_types`, a subset of the subscription's, narrows it). The history is the dispatch
//! topic itself: every event enrich dispatched to the endpoint is a record there, keyed by the
//! endpoint, for the topic's retention (`retention.ms`; 7 days by the broker's default). The
//! window is found with Kafka's offsets-for-times and read back outside any consumer group
//! ([`hookline_kafka::history`]); each matching record (test sends, replays and repeats of
//! one webhook id left out) is produced to the dispatch topic again, in its original order,
//! with its original webhook id and `replay: true`, so delivery sends it like live traffic:
//! after the endpoint's queue, under its rate limit and concurrency (so neighbours may arrive
//! swapped, as in live traffic), with its retry policy and
//! the subscription as configured now (URL, secret, enabled). Receivers see
//! `X-Webhook-Replay: true` next to the usual headers.
//!
//! At most `HOOKLINE_REPLAY_MAX_EVENTS` (10,000) events per call: a longer window answers
//! `"complete": false` and `next_from`, where the next call continues.
//!
//! Answers `{"replayed", "from", "to", "complete", "next_from"}`. Errors: `INVALID_BODY`,
//! `INVALID_FROM`, `INVALID_TO`, `INVALID_EVENT_TYPE` (400), `NOT_FOUND` (404).

use crate::error::ApiError;
use crate::named::subscriptions::{named, not_found};
use crate::rate_limit::Class;
use crate::state::AppState;
use crate::validate::Field;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::Json;
use chrono::{DateTime, Utc};
use hookline_kafka::history::{self, Visit};
use hookline_kafka::{headers, Message};
use hookline_model::{Dispatch, NamedEventType, Permission};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::HashSet;
use std::time::Duration;

/// Longest a replay may spend reading the dispatch topic back.
const SCAN_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Body {
    from: Field<String>,
    to: Field<String>,
    event_types: Field<Vec<Value>>,
}

/// The window and types asked for.
struct Request {
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    types: Option<Vec<NamedEventType>>,
}

fn time(field: &Field<String>, code: &'static str, key: &str) -> Result<Option<DateTime<Utc>>, ApiError> {
    match field {
        Field::Absent => Ok(None),
        Field::Valid(s) => DateTime::parse_from_rfc3339(s)
            .map(|t| Some(t.with_timezone(&Utc)))
            .map_err(|e| ApiError::bad_request(code, format!("{key} must be an RFC 3339 time: {e}"))),
        Field::Null | Field::Invalid => Err(ApiError::bad_request(code, format!("{key} must be an RFC 3339 time"))),
    }
}

fn request(body: &[u8], allowed: &[NamedEventType]) -> Result<Request, ApiError> {
    let b: Body = crate::validate::body(crate::validate::json_object(body)?)?;
    let now = Utc::now();
    let from = time(&b.from, "INVALID_FROM", "from")?
        .ok_or_else(|| ApiError::bad_request("INVALID_FROM", "from is required"))?;
    if from > now {
        return Err(ApiError::bad_request("INVALID_FROM", "from is in the future"));
    }
    let to = time(&b.to, "INVALID_TO", "to")?.unwrap_or(now);
    if to < from {
        return Err(ApiError::bad_request("INVALID_TO", "to is before from"));
    }
    let types = match &b.event_types {
        Field::Absent | Field::Null => None,
        Field::Valid(items) if !items.is_empty() => {
            let mut types = vec![];
            for item in items {
                let t = item
                    .as_str()
                    .and_then(NamedEventType::parse)
                    .filter(|t| allowed.contains(t));
                let Some(t) = t else {
                    let names: Vec<_> = allowed.iter().map(|t| t.as_str()).collect();
                    return Err(ApiError::bad_request(
                        "INVALID_EVENT_TYPE",
                        format!("event_types must be some of this subscription's: {}", names.join(", ")),
                    ));
                };
                types.push(t);
            }
            Some(types)
        }
        _ => {
            return Err(ApiError::bad_request(
                "INVALID_EVENT_TYPE",
                "event_types must be a non-empty array of event types",
            ))
        }
    };
    Ok(Request { from, to, types })
}

pub async fn handle(
    State(st): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let (key, ws) = st.caller(&headers, Permission::WebhooksWrite)?;
    let sub = named(&ws, &id).ok_or_else(not_found)?.clone();
    let req = request(&body, &sub.event_types)?;
    st.spend(Class::Replay, &key)?;

    let endpoint = sub.endpoint_key();
    let (kafka, topic, max) = (st.kafka.clone(), st.topics.dispatch(), st.cfg.replay_max_events.max(1));
    // Kafka finds offsets for times from the epoch on (negative ones mean "latest" and
    // "earliest"); a window starting earlier starts there, nothing is older.
    let (from_ms, to_ms) = (req.from.timestamp_millis().max(0), req.to.timestamp_millis().max(0));
    let types = req.types.clone();
    let (found, scanned) = tokio::task::spawn_blocking(move || {
        let mut found: Vec<Dispatch> = vec![];
        let mut seen = HashSet::new();
        let scanned = history::scan(&kafka, &topic, from_ms, Some(to_ms), SCAN_TIMEOUT, |msg| {
            if msg.key() != Some(endpoint.as_bytes()) {
                return Visit::Continue;
            }
            let Ok(d) = serde_json::from_slice::<Dispatch>(msg.payload().unwrap_or_default()) else {
                return Visit::Continue;
            };
            let wanted = !d.test
                && !d.replay
                && types
                    .as_ref()
                    .is_none_or(|t| NamedEventType::of_event(&d.event).is_some_and(|k| t.contains(&k)));
            if !wanted || seen.contains(&d.dispatch_id) {
                return Visit::Continue;
            }
            if found.len() == max {
                return Visit::Stop;
            }
            seen.insert(d.dispatch_id.clone());
            found.push(d);
            Visit::Continue
        })?;
        Ok::<_, hookline_kafka::KafkaError>((found, scanned))
    })
    .await
    .map_err(ApiError::unavailable)?
    .map_err(ApiError::unavailable)?;

    for mut d in found.iter().cloned() {
        d.replay = true;
        st.producer
            .send_json(
                &st.topics.dispatch(),
                &d.endpoint_key(),
                &d,
                &[(headers::ATTEMPT, b"1")],
            )
            .await
            .map_err(ApiError::unavailable)?;
    }
    st.metrics
        .replayed
        .with_label_values(&[] as &[&str])
        .inc_by(found.len() as u64);
    let next_from = scanned
        .stopped_at_ms
        .and_then(DateTime::<Utc>::from_timestamp_millis)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
    Ok(Json(json!({
        "replayed": found.len(),
        "from": req.from.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "to": req.to.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "complete": next_from.is_none(),
        "next_from": next_from,
    })))
}
