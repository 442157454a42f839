//! `POST /api/v1/webhooks/{id}/test` (permission `webhooks.write`), body optional:
//! `{"event_type": "SMS_STATUS"}`.
//!
//! Sends a sample event of that type (default: the subscription's first event type) to this
//! subscription only, through the pipeline like the 23 Telecom test send
//! ([`crate::test_send`]: one attempt, never retried, filters not applied), waits for the
//! attempt and answers with its outcome in the same shape, `type` being the event type.
//! Errors: `404 NOT_FOUND`, `400 INVALID_BODY` (a body that is not a JSON object),
//! `400 INVALID_EVENT_TYPE` (not one of the subscription's event types), `504 TEST_TIMEOUT`.

use super::subscriptions::{named, not_found};
use crate::error::ApiError;
use crate::state::AppState;
use crate::test_send;
use crate::validate::Field;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::Json;
use hookline_model::event::EventData;
use hookline_model::{Event, NamedEventType, Permission, Subscription};
use serde::Deserialize;
use serde_json::Value;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Body {
    event_type: Field<String>,
}

pub async fn test(
    State(st): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let ws = st.caller_workspace(&headers, Permission::WebhooksWrite)?;
    let sub = named(&ws, &id).ok_or_else(not_found)?.clone();
    let event_type = event_type(&sub, &body)?;
    let event = sample(event_type, &ws.workspace_id);
    let rec = test_send::send_and_wait(&st, &ws, &sub, event)
        .await?
        .ok_or_else(test_send::timed_out)?;
    Ok(Json(test_send::outcome(event_type.as_str(), &rec)))
}

/// The event type asked for: the subscription's first one when the body is empty or has no
/// `event_type`.
fn event_type(sub: &Subscription, body: &[u8]) -> Result<NamedEventType, ApiError> {
    let first = sub.event_types.first().copied();
    let asked = if body.iter().all(u8::is_ascii_whitespace) {
        Field::Absent
    } else {
        crate::validate::body::<Body>(crate::validate::json_object(body)?)?.event_type
    };
    let subscribed: Vec<&str> = sub.event_types.iter().map(|t| t.as_str()).collect();
    let invalid = || {
        ApiError::bad_request(
            "INVALID_EVENT_TYPE",
            format!(
                "event_type must be one of this webhook's event types: {}",
                subscribed.join(", ")
            ),
        )
    };
    match asked {
        Field::Absent => first.ok_or_else(invalid),
        Field::Valid(name) => NamedEventType::parse(&name)
            .filter(|t| sub.event_types.contains(t))
            .ok_or_else(invalid),
        Field::Null | Field::Invalid => Err(invalid()),
    }
}

/// The test send's sample event ([`test_send::sample`]) of `t`'s kind, on `t`'s channel.
fn sample(t: NamedEventType, workspace_id: &str) -> Event {
    let mut event = test_send::sample(t.kind(), workspace_id);
    match &mut event.data {
        EventData::Status(s) => s.channel = t.channel(),
        EventData::Inbound(i) => i.channel = t.channel(),
        _ => {}
    }
    event
}

#[cfg(test)]
mod tests {
    use super::*;
    use hookline_model::Dialect;

    #[test]
    fn event_type_defaults_to_the_first_and_must_be_subscribed() {
        use NamedEventType::*;
        let mut sub = Subscription::new(Dialect::Named, "w", "wh_1", "https://example.com");
        sub.event_types = vec![WhatsappInbound, SmsStatus];
        for body in ["", " \n", "{}", r#"{"other":1}"#] {
            assert_eq!(event_type(&sub, body.as_bytes()).unwrap(), WhatsappInbound, "{body:?}");
        }
        assert_eq!(event_type(&sub, br#"{"event_type":"SMS_STATUS"}"#).unwrap(), SmsStatus);
        for body in [
            r#"{"event_type":"RCS_STATUS"}"#,
            r#"{"event_type":"sms_status"}"#,
            r#"{"event_type":null}"#,
            r#"{"event_type":5}"#,
        ] {
            assert_eq!(
                event_type(&sub, body.as_bytes()).unwrap_err().code,
                "INVALID_EVENT_TYPE",
                "{body}"
            );
        }
        for body in ["{", "[]", "\"SMS_STATUS\""] {
            assert_eq!(
                event_type(&sub, body.as_bytes()).unwrap_err().code,
                "INVALID_BODY",
                "{body}"
            );
        }
    }

    #[test]
    fn every_type_has_a_sample_of_its_own_type() {
        for t in NamedEventType::ALL {
            assert_eq!(NamedEventType::of_event(&sample(t, "w")), Some(t));
        }
    }
}
