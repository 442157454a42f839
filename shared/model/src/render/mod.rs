//! Rendering an event into the exact request body a subscription asked for: one module per
//! payload dialect, all reading fields from the one table in [`crate::fields`].
//!
//! - [`telecom23`]: a flat object of the chosen fields (23 Telecom);
//! - [`named`]: the named-subscription envelope;
//! - [`smsedge`]: SMSEdge's message record, inbound record and revoke batch.

pub mod named;
pub mod smsedge;
pub mod telecom23;

use crate::event::Event;
use crate::subscription::{BodyFormat, PayloadSchema, Subscription};

/// A rendered request body and its content type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub content_type: &'static str,
    pub body: Vec<u8>,
}

/// Renders the request body for `sub`.
pub fn render(event: &Event, sub: &Subscription) -> Rendered {
    let json = match sub.schema {
        PayloadSchema::Telecom23 => telecom23::render(event, &sub.fields_for(event.kind())),
        PayloadSchema::Named => named::render(event),
        PayloadSchema::SmsEdge => write_object(smsedge::fields(event)),
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

/// The default fields of `event`'s kind as a flat object: what a dialect without a payload
/// of its own for that kind sends (a subscription of that dialect never lists the kind, but
/// something meaningful is rendered rather than nothing).
pub fn defaults_object(event: &Event) -> Vec<u8> {
    telecom23::render(event, &crate::fields::defaults(event.kind()))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::EventKind;

    #[test]
    fn render_picks_the_schema() {
        let event = Event::sample(EventKind::Delivery, "ws_1");
        let mut sub = crate::Subscription {
            event_kinds: vec![EventKind::Delivery],
            ..crate::Subscription::new(crate::Dialect::Telecom23, "ws_1", "s", "https://example.com")
        };
        let flat = render(&event, &sub);
        assert_eq!(flat.content_type, "application/json");
        assert_eq!(flat.body, defaults_object(&event));
        sub.schema = PayloadSchema::Named;
        let named = render(&event, &sub);
        assert_eq!(named.content_type, "application/json");
        let v: serde_json::Value = serde_json::from_slice(&named.body).unwrap();
        assert_eq!(v["type"], "delivery");
        assert_eq!(v["id"], event.id.as_str());
        assert_eq!(
            v["data"],
            serde_json::from_slice::<serde_json::Value>(&flat.body).unwrap()
        );
        sub.schema = PayloadSchema::SmsEdge;
        sub.format = BodyFormat::FormSms;
        let form = render(&event, &sub);
        assert_eq!(form.content_type, "application/x-www-form-urlencoded");
        let sms: Vec<(String, String)> = serde_urlencoded::from_bytes(&form.body).unwrap();
        assert_eq!(sms[0].0, "sms");
        assert_eq!(sms[0].1.as_bytes(), write_object(smsedge::fields(&event)));
    }
}
