//! `POST /api/v1/user/webhooks/test` `{"type": "delivery"|"click"|"conversion"|"impression"}`
//! (permission `webhooks.write`).
//!
//! Builds a sample event of that type, produces it to the dispatch topic exactly as enrich
//! would (marked `test`, so it is attempted once and never retried), waits for the attempt to
//! appear in the attempt log and answers with its outcome:
//! `{"type", "webhook_id", "url", "success", "status": "ok"|"failed", "response_code",
//! "response_time_ms", "error", "payload"}`. Errors: `INVALID_BODY`, `INVALID_TYPE`,
//! `WEBHOOK_NOT_CONFIGURED` (400), `TEST_TIMEOUT` (504) when no attempt was recorded in time.

use crate::error::ApiError;
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use chrono::Utc;
use hookline_kafka::headers;
use hookline_model::sample::Sample;
use hookline_model::{
    AttemptOutcome, AttemptRecord, Dispatch, Event, EventKind, Permission, Subscription, WorkspaceConfig,
};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

pub async fn handle(State(st): State<AppState>, headers: HeaderMap, body: Bytes) -> Result<Json<Value>, ApiError> {
    let ws = st.caller_workspace(&headers, Permission::WebhooksWrite)?;
    let req: Value = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request("INVALID_BODY", format!("request body is not valid JSON: {e}")))?;
    let kind = req
        .get("type")
        .and_then(Value::as_str)
        .and_then(EventKind::parse)
        .filter(|k| EventKind::TELECOM23.contains(k))
        .ok_or_else(|| {
            ApiError::bad_request(
                "INVALID_TYPE",
                "type must be one of delivery, click, conversion, impression",
            )
        })?;

    let sub_id = crate::telecom23::subscription_id(kind);
    let Some(sub) = ws.subscription(&sub_id).cloned() else {
        return Err(ApiError::bad_request(
            "WEBHOOK_NOT_CONFIGURED",
            format!("no {kind}_url is configured"),
        ));
    };

    let event = sample(kind, &ws.workspace_id);
    let rec = send_and_wait(&st, &ws, &sub, event).await?.ok_or_else(timed_out)?;
    Ok(Json(outcome(kind.as_str(), &rec)))
}

/// `504 TEST_TIMEOUT`, when no attempt was recorded in time.
pub fn timed_out() -> ApiError {
    ApiError::new(
        StatusCode::GATEWAY_TIMEOUT,
        "TEST_TIMEOUT",
        "the test event was queued but no attempt was recorded in time; check the logs endpoint later",
    )
}

/// A test send's answer: the attempt's outcome, `type` being the event type's name in the
/// caller's dialect.
pub fn outcome(type_name: &str, rec: &AttemptRecord) -> Value {
    let ok = rec.outcome == AttemptOutcome::Delivered;
    json!({
        "type": type_name,
        "webhook_id": rec.webhook_id,
        "url": rec.url,
        "success": ok,
        "status": if ok { "ok" } else { "failed" },
        "response_code": rec.response_code,
        "response_time_ms": rec.response_time_ms,
        "error": rec.error,
        "payload": rec.payload,
    })
}

/// Produces `event` for `sub` to the dispatch topic as a test (one attempt, no retry) and
/// waits for its attempt record: `None` if none was recorded within the subscription's
/// timeout plus the grace period. Each send is counted in `hookline_api_test_sends_total`
/// (`ok`, `failed`, or `timeout` for `None`), whichever dialect made it.
///
/// The record carries the subscription's id and `ws.version`, not the subscription: this API
/// wrote that version to the config topic (and applied it locally) before, so delivery has it
/// or waits for it, and signs with the secret of that version or a newer one.
pub async fn send_and_wait(
    st: &AppState,
    ws: &WorkspaceConfig,
    sub: &Subscription,
    event: Event,
) -> Result<Option<AttemptRecord>, ApiError> {
    let dispatch = Dispatch {
        test: true,
        ..Dispatch::new(event, sub, ws.version)
    };
    st.producer
        .send_json(
            &st.topics.dispatch(),
            &sub.endpoint_key(),
            &dispatch,
            &[(headers::ATTEMPT, b"1")],
        )
        .await
        .map_err(ApiError::unavailable)?;

    let deadline =
        Instant::now() + Duration::from_millis(sub.timeout_ms) + Duration::from_secs(st.cfg.test_send_grace_secs);
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let recent = st
            .store
            .latest_attempts(&ws.workspace_id, 200)
            .await
            .map_err(ApiError::unavailable)?;
        if let Some(rec) = recent.into_iter().find(|r| r.webhook_id == dispatch.dispatch_id) {
            let ok = rec.outcome == AttemptOutcome::Delivered;
            st.metrics
                .test_sends
                .with_label_values(&[if ok { "ok" } else { "failed" }])
                .inc();
            return Ok(Some(rec));
        }
    }
    st.metrics.test_sends.with_label_values(&["timeout"]).inc();
    Ok(None)
}

/// A recognisable sample event of each kind ([`Event::sample_of`]), sent by `Hookline`, with a
/// fresh message id (numeric, as SMSEdge ids are; the event id is `test_<message_id>`) and
/// inbound id, at the current time.
pub fn sample(kind: EventKind, workspace_id: &str) -> Event {
    let message_id = (900_000_000 + rand::random::<u32>() % 100_000_000).to_string();
    let inbound_id = format!("{}", rand::random::<u32>() % 1_000_000);
    let sample = Sample {
        message_id: &message_id,
        inbound_id: &inbound_id,
        sender_id: "Hookline",
        at: Utc::now(),
    };
    Event::sample_of(kind, workspace_id, sample)
}
