//! The named-subscription payload (`/api/v1/webhooks`): an envelope in the style of the
//! Standard Webhooks spec.

use crate::event::{Event, EventData, OptOutSource};
use crate::named::NamedEventType;
use serde::Serialize;

/// Renders the named-subscription envelope, in the style of the Standard Webhooks spec:
/// `{"id": <event id>, "type": "SMS_STATUS", "timestamp": <RFC 3339>, "data": {...}}`.
///
/// `data` per type:
/// - `*_STATUS`: `message_ref`, `sender`, `recipient`, `status`, `status_code`,
///   `telecom_message_id`, `campaign_id`, `after_final`;
/// - `*_INBOUND`: `inbound_id`, `from`, `recipient` (the address that received it), `text`,
///   and `last_message` (`message_ref`, `campaign_id`) when the last message sent to `from` is
///   known;
/// - `LINK_HIT`: `url`, `recipient`, `user_agent`, `ip`, `source_message`;
/// - `OPT_OUT`: `phone`, `source` (`keyword`/`link`), `keyword`, `source_message`;
/// - `webhook.disabled` (operational URL only): `subscription_id`, `name`, `url`, `reason`
///   (`failing`/`gone`), `detail`, `disabled_at`, `failing_since`;
///
/// where `source_message` is `message_ref`, `sender`, `recipient`, `campaign_id`. Values the
/// event lacks are `null`. Keys are in this fixed order, so the bytes are deterministic.
/// A kind the dialect has no type for (never dispatched to a named subscription) is sent with
/// its kind as `type` and its default fields as `data`.
pub fn render(event: &Event) -> Vec<u8> {
    let kind = type_name(event);
    let mut out = Vec::with_capacity(384);
    out.extend_from_slice(b"{\"id\":");
    serde_json::to_writer(&mut out, &event.id).expect("write to Vec");
    out.extend_from_slice(b",\"type\":");
    serde_json::to_writer(&mut out, kind).expect("write to Vec");
    out.extend_from_slice(b",\"timestamp\":");
    serde_json::to_writer(&mut out, &crate::format_timestamp(&event.occurred_at)).expect("write to Vec");
    out.extend_from_slice(b",\"data\":");
    let data = match &event.data {
        EventData::Status(s) => serde_json::to_vec(&StatusData {
            message_ref: &s.message_id,
            sender: &s.sender_id,
            recipient: &s.recipient,
            status: s.status.as_str(),
            status_code: s.status_code.as_deref(),
            telecom_message_id: s.telecom_message_id.as_deref(),
            campaign_id: s.broadcast_id.as_deref(),
            after_final: s.after_final,
        }),
        EventData::Inbound(i) => serde_json::to_vec(&InboundData {
            inbound_id: &i.inbound_id,
            from: &i.from,
            recipient: &i.to,
            text: &i.text,
            last_message: i.last_message_id.as_deref().map(|m| LastMessage {
                message_ref: m,
                campaign_id: i.last_campaign_id.as_deref(),
            }),
        }),
        EventData::Click(c) => serde_json::to_vec(&LinkHitData {
            url: &c.url,
            recipient: &c.recipient,
            user_agent: &c.user_agent,
            ip: &c.ip,
            source_message: SourceMessage {
                message_ref: Some(&c.message_id),
                sender: c.sender_id.as_deref(),
                recipient: &c.recipient,
                campaign_id: c.broadcast_id.as_deref(),
            },
        }),
        EventData::OptOut(o) => serde_json::to_vec(&OptOutData {
            phone: &o.phone,
            source: o.source,
            keyword: o.keyword.as_deref(),
            source_message: SourceMessage {
                message_ref: o.message_id.as_deref(),
                sender: o.to.as_deref(),
                recipient: &o.phone,
                campaign_id: o.campaign_id.as_deref(),
            },
        }),
        EventData::WebhookDisabled(w) => serde_json::to_vec(&WebhookDisabledData {
            subscription_id: &w.subscription_id,
            name: w.name.as_deref(),
            url: &w.url,
            reason: w.reason.as_str(),
            detail: w.detail.as_deref(),
            disabled_at: crate::format_timestamp(&event.occurred_at),
            failing_since: w.failing_since.as_ref().map(crate::format_timestamp),
        }),
        EventData::Delivery(_) | EventData::Conversion(_) | EventData::Impression(_) | EventData::ClicksRevoked(_) => {
            Ok(super::defaults_object(event))
        }
    };
    out.extend_from_slice(&data.expect("plain data serialises"));
    out.push(b'}');
    out
}

/// The envelope's `type`: the dialect's event type, `webhook.disabled` for the operational
/// event, the kind otherwise.
pub fn type_name(event: &Event) -> &'static str {
    match (&event.data, NamedEventType::of_event(event)) {
        (EventData::WebhookDisabled(_), _) => "webhook.disabled",
        (_, Some(t)) => t.as_str(),
        (_, None) => event.kind().as_str(),
    }
}

#[derive(Serialize)]
struct WebhookDisabledData<'a> {
    subscription_id: &'a str,
    name: Option<&'a str>,
    url: &'a str,
    reason: &'a str,
    detail: Option<&'a str>,
    disabled_at: String,
    failing_since: Option<String>,
}

#[derive(Serialize)]
struct StatusData<'a> {
    message_ref: &'a str,
    sender: &'a str,
    recipient: &'a str,
    status: &'a str,
    status_code: Option<&'a str>,
    telecom_message_id: Option<&'a str>,
    campaign_id: Option<&'a str>,
    after_final: bool,
}

#[derive(Serialize)]
struct InboundData<'a> {
    inbound_id: &'a str,
    from: &'a str,
    recipient: &'a str,
    text: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_message: Option<LastMessage<'a>>,
}

#[derive(Serialize)]
struct LastMessage<'a> {
    message_ref: &'a str,
    campaign_id: Option<&'a str>,
}

#[derive(Serialize)]
struct LinkHitData<'a> {
    url: &'a str,
    recipient: &'a str,
    user_agent: &'a str,
    ip: &'a str,
    source_message: SourceMessage<'a>,
}

#[derive(Serialize)]
struct OptOutData<'a> {
    phone: &'a str,
    source: OptOutSource,
    keyword: Option<&'a str>,
    source_message: SourceMessage<'a>,
}

#[derive(Serialize)]
struct SourceMessage<'a> {
    message_ref: Option<&'a str>,
    sender: Option<&'a str>,
    recipient: &'a str,
    campaign_id: Option<&'a str>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(data: EventData) -> Event {
        Event {
            id: "ev_1".into(),
            workspace_id: "ws_1".into(),
            occurred_at: chrono::Utc.with_ymd_and_hms(2026, 2, 13, 10, 30, 4).unwrap(),
            received_at: chrono::Utc::now(),
            data,
        }
    }

    fn named_body(data: EventData) -> String {
        String::from_utf8(render(&at(data))).unwrap()
    }

    #[test]
    fn named_envelope_per_type() {
        use crate::event::*;
        use crate::Channel;
        let status = named_body(EventData::Status(StatusEvent {
            message_id: "api_42".into(),
            telecom_message_id: Some("c-9".into()),
            recipient: "+14155551234".into(),
            sender_id: "MyApp".into(),
            status: MessageStatus::Delivered,
            status_code: Some("000".into()),
            broadcast_id: None,
            after_final: false,
            channel: Channel::Sms,
        }));
        assert_eq!(
            status,
            r#"{"id":"ev_1","type":"SMS_STATUS","timestamp":"2026-02-13T10:30:04Z","data":{"message_ref":"api_42","sender":"MyApp","recipient":"+14155551234","status":"delivered","status_code":"000","telecom_message_id":"c-9","campaign_id":null,"after_final":false}}"#
        );
        let rcs = render(&at(EventData::Status(StatusEvent {
            message_id: "m".into(),
            telecom_message_id: None,
            recipient: "+1".into(),
            sender_id: "S".into(),
            status: MessageStatus::Sent,
            status_code: None,
            broadcast_id: Some("b-1".into()),
            after_final: true,
            channel: Channel::Rcs,
        })));
        let v: serde_json::Value = serde_json::from_slice(&rcs).unwrap();
        assert_eq!(v["type"], "RCS_STATUS");
        assert_eq!(v["data"]["campaign_id"], "b-1");

        let inbound = |last: Option<&str>, channel| {
            named_body(EventData::Inbound(InboundEvent {
                inbound_id: "in_1".into(),
                from: "+14155551234".into(),
                to: "+15550000".into(),
                text: "Hi \"there\"".into(),
                last_message_id: last.map(Into::into),
                last_campaign_id: Some("b-7".into()),
                channel,
            }))
        };
        assert_eq!(
            inbound(Some("api_41"), Channel::Sms),
            r#"{"id":"ev_1","type":"SMS_INBOUND","timestamp":"2026-02-13T10:30:04Z","data":{"inbound_id":"in_1","from":"+14155551234","recipient":"+15550000","text":"Hi \"there\"","last_message":{"message_ref":"api_41","campaign_id":"b-7"}}}"#
        );
        assert_eq!(
            inbound(None, Channel::Whatsapp),
            r#"{"id":"ev_1","type":"WHATSAPP_INBOUND","timestamp":"2026-02-13T10:30:04Z","data":{"inbound_id":"in_1","from":"+14155551234","recipient":"+15550000","text":"Hi \"there\""}}"#
        );

        assert_eq!(
            named_body(EventData::Click(ClickEvent {
                message_id: "api_42".into(),
                broadcast_id: Some("b-1".into()),
                recipient: "+14155551234".into(),
                sender_id: Some("MyApp".into()),
                url: "https://hkl.ink/x".into(),
                user_agent: "UA".into(),
                ip: "203.0.113.7".into(),
                message: None,
            })),
            r#"{"id":"ev_1","type":"LINK_HIT","timestamp":"2026-02-13T10:30:04Z","data":{"url":"https://hkl.ink/x","recipient":"+14155551234","user_agent":"UA","ip":"203.0.113.7","source_message":{"message_ref":"api_42","sender":"MyApp","recipient":"+14155551234","campaign_id":"b-1"}}}"#
        );
        assert_eq!(
            named_body(EventData::OptOut(OptOutEvent {
                phone: "+14155551234".into(),
                to: Some("MyApp".into()),
                source: OptOutSource::Keyword,
                keyword: Some("STOP".into()),
                message_id: None,
                campaign_id: None,
            })),
            r#"{"id":"ev_1","type":"OPT_OUT","timestamp":"2026-02-13T10:30:04Z","data":{"phone":"+14155551234","source":"keyword","keyword":"STOP","source_message":{"message_ref":null,"sender":"MyApp","recipient":"+14155551234","campaign_id":null}}}"#
        );
    }
}
