//! Rendering an event into the exact request body a subscription asked for.

use crate::event::Event;
use crate::fields;
use crate::subscription::{BodyFormat, PayloadSchema, Subscription};

/// A rendered request body and its content type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub content_type: &'static str,
    pub body: Vec<u8>,
}

/// Renders the selected fields of `event` as a JSON object, in catalogue order (so the bytes
/// are deterministic, which keeps signatures reproducible in tests and logs).
pub fn render_json(event: &Event, selected: &[&str]) -> Vec<u8> {
    write_object(selected.iter().map(|f| (*f, fields::value(event, f))))
}

/// Writes `(name, value)` pairs as one JSON object, in the order given.
fn write_object<'a>(pairs: impl IntoIterator<Item = (&'a str, serde_json::Value)>) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    out.push(b'{');
    for (i, (field, value)) in pairs.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        // Writing into a Vec cannot fail, and field names and values are plain JSON.
        serde_json::to_writer(&mut out, field).expect("write to Vec");
        out.push(b':');
        serde_json::to_writer(&mut out, &value).expect("write to Vec");
    }
    out.push(b'}');
    out
}

/// Renders the request body for `sub`.
pub fn render(event: &Event, sub: &Subscription) -> Rendered {
    let json = match sub.schema {
        PayloadSchema::Telecom23 => render_json(event, &sub.fields_for(event.kind())),
        PayloadSchema::SmsEdge => write_object(crate::smsedge::fields(event)),
    };
    match sub.format {
        BodyFormat::Json => Rendered {
            content_type: "application/json",
            body: json,
        },
        BodyFormat::FormSms => {
            let json = String::from_utf8(json).expect("serde_json writes UTF-8");
            let body = serde_urlencoded::to_string([("sms", json.as_str())]).expect("form-encode one pair");
            Rendered {
                content_type: "application/x-www-form-urlencoded",
                body: body.into_bytes(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{DeliveryEvent, EventData};
    use crate::status::DlrStatus;
    use chrono::TimeZone;

    fn event() -> Event {
        Event {
            id: "dlr_x".into(),
            workspace_id: "ws_1".into(),
            occurred_at: chrono::Utc.with_ymd_and_hms(2026, 2, 13, 10, 30, 4).unwrap(),
            received_at: chrono::Utc::now(),
            data: EventData::Delivery(DeliveryEvent {
                message_id: "api_42".into(),
                telecom_message_id: "c-9".into(),
                recipient: "+14155551234".into(),
                sender_id: "MyApp".into(),
                status: DlrStatus::Delivered,
                status_code: "000".into(),
                num_parts: 1,
                cost: 0.0085,
                broadcast_id: None,
                message: None,
            }),
        }
    }

    #[test]
    fn renders_reference_example_bytes() {
        let defaults = fields::defaults(crate::EventKind::Delivery);
        let body = render_json(&event(), defaults);
        assert_eq!(
            String::from_utf8(body).unwrap(),
            r#"{"message_id":"api_42","recipient":"+14155551234","sender_id":"MyApp","status":"DELIVRD","status_code":"000","num_parts":1,"cost":0.0085,"timestamp":"2026-02-13T10:30:04Z"}"#
        );
    }

    #[test]
    fn opt_in_workspace_id() {
        let body = render_json(&event(), &["message_id", "workspace_id"]);
        assert_eq!(
            String::from_utf8(body).unwrap(),
            r#"{"message_id":"api_42","workspace_id":"ws_1"}"#
        );
    }
}
