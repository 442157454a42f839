//! SMSEdge payloads, field for field as SMSEdge's webhook page shows them.
//!
//! - DLR and click: the whole message record (`id`, `created`, `updated`, `from`, `to`, ...,
//!   `clicked`, `status`, `dlr_status`), `clicked: true` on the click webhook.
//! - Inbound: `id`, `from`, `to`, `message`, `received`.
//! - Revoke-click batch: `event`, `count`, `api_sms_ids`, `campaign_sms_ids`.
//!
//! SMSEdge ids and phone numbers are numbers on the wire (`"id": 12345`, `"to": 15551234567`),
//! except the inbound `from`, which is a string. Hookline's ids are strings: one made only of
//! digits is written as a number, anything else stays a string rather than being lost.
//! Times are `YYYY-MM-DD HH:MM:SS` in UTC. Gateway fields Hookline was not given
//! ([`crate::input::MessageDetails`]) are `null`, flags `0`.

use crate::event::{Event, EventData, MessageRecord};
use crate::status::DlrStatus;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

/// The payload of `event` as ordered `(field, value)` pairs.
pub fn fields(event: &Event) -> Vec<(&'static str, Value)> {
    match &event.data {
        EventData::Delivery(d) => message_record(
            event,
            &d.message_id,
            &d.sender_id,
            &d.recipient,
            d.broadcast_id.as_deref(),
            d.message.as_ref(),
            false,
        ),
        EventData::Click(c) => message_record(
            event,
            &c.message_id,
            c.sender_id.as_deref().unwrap_or_default(),
            &c.recipient,
            c.broadcast_id.as_deref(),
            c.message.as_ref(),
            true,
        ),
        EventData::Inbound(i) => vec![
            ("id", number_or_string(&i.inbound_id)),
            ("from", json!(i.from.trim_start_matches('+'))),
            ("to", number_or_string(&i.to)),
            ("message", json!(i.text)),
            ("received", json!(time(&event.occurred_at))),
        ],
        EventData::ClicksRevoked(r) => vec![
            ("event", json!("clicks_revoked")),
            ("count", json!(r.count())),
            ("api_sms_ids", ids(&r.api_sms_ids)),
            ("campaign_sms_ids", ids(&r.campaign_sms_ids)),
        ],
        // SMSEdge has no webhook for the other kinds; a subscription of this schema never
        // lists them, but render something meaningful rather than nothing.
        _ => {
            let defaults = crate::fields::defaults(event.kind());
            crate::fields::pairs(event, &defaults).collect()
        }
    }
}

fn message_record(
    event: &Event,
    message_id: &str,
    from: &str,
    to: &str,
    campaign: Option<&str>,
    record: Option<&MessageRecord>,
    clicked: bool,
) -> Vec<(&'static str, Value)> {
    let details = record.and_then(|r| r.details.clone()).unwrap_or_default();
    let flag = |b: Option<bool>| json!(u8::from(b.unwrap_or(false)));
    let created = record.map_or(event.occurred_at, |r| r.accepted_at);
    vec![
        ("id", number_or_string(message_id)),
        ("created", json!(time(&created))),
        ("updated", json!(time(&event.occurred_at))),
        ("from", json!(from)),
        ("to", number_or_string(to)),
        ("verify_local", flag(details.verify_local)),
        ("shorten_url", flag(details.shorten_url)),
        ("list_id", json!(details.list_id)),
        ("reference", json!(details.reference)),
        ("transactional", flag(details.transactional)),
        ("preferred_route_id", json!(details.preferred_route_id)),
        ("campaign_id", campaign.map_or(Value::Null, number_or_string)),
        ("delay_time", json!(details.delay_time)),
        ("country_id", json!(details.country_id)),
        ("country_name", json!(details.country_name)),
        ("country_iso", json!(details.country_iso)),
        ("clicked", json!(clicked)),
        ("cost", json!(record.map_or(0.0, |r| r.cost))),
        ("parts", json!(record.map_or(1, |r| r.num_parts))),
        ("original_url", json!(details.original_url)),
        ("shortened_url", json!(details.shortened_url)),
        ("text", json!(details.text)),
        ("status", json!("sent")),
        ("dlr_status", json!(dlr_status(record.and_then(|r| r.dlr_status)))),
    ]
}

/// SMSEdge's `dlr_status`: `Pending` until a final report arrives.
pub fn dlr_status(status: Option<DlrStatus>) -> &'static str {
    match status {
        Some(DlrStatus::Delivered) => "Delivered",
        Some(DlrStatus::Undeliverable) => "Failed",
        Some(DlrStatus::Rejected) => "Rejected",
        Some(DlrStatus::Expired) => "Expired",
        Some(DlrStatus::Unknown) => "Unknown",
        Some(DlrStatus::Enroute | DlrStatus::Accepted) | None => "Pending",
    }
}

fn time(ts: &DateTime<Utc>) -> String {
    ts.format("%Y-%m-%d %H:%M:%S").to_string()
}

/// `"15551234567"` or `"+15551234567"` → `15551234567`; anything else stays a string.
fn number_or_string(s: &str) -> Value {
    let digits = s.strip_prefix('+').unwrap_or(s);
    match digits.parse::<u64>() {
        Ok(n) if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) => json!(n),
        _ => json!(s),
    }
}

fn ids(list: &[String]) -> Value {
    Value::Array(list.iter().map(|s| number_or_string(s)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{ClickEvent, DeliveryEvent, InboundEvent, RevokedClicks};
    use crate::input::MessageDetails;
    use chrono::TimeZone;

    fn record() -> MessageRecord {
        MessageRecord {
            accepted_at: Utc.with_ymd_and_hms(2026, 2, 27, 14, 30, 0).unwrap(),
            num_parts: 1,
            cost: 0.0175,
            dlr_status: Some(DlrStatus::Delivered),
            details: Some(MessageDetails {
                text: Some("Check out this offer: https://short.example.com/abc123".into()),
                reference: Some("api-0227-abc123xyz".into()),
                list_id: Some(456),
                country_id: Some(226),
                country_name: Some("United States".into()),
                country_iso: Some("US".into()),
                original_url: Some("https://example.com/offer".into()),
                shortened_url: Some("https://short.example.com/abc123".into()),
                verify_local: Some(false),
                shorten_url: Some(true),
                transactional: Some(false),
                preferred_route_id: Some(789),
                delay_time: None,
            }),
        }
    }

    fn event(data: EventData) -> Event {
        Event {
            id: "e".into(),
            workspace_id: "ws".into(),
            occurred_at: Utc.with_ymd_and_hms(2026, 2, 27, 14, 35, 0).unwrap(),
            received_at: Utc::now(),
            data,
        }
    }

    fn object(pairs: Vec<(&'static str, Value)>) -> Value {
        Value::Object(pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
    }

    /// The DLR example of SMSEdge's page, value for value.
    #[test]
    fn dlr_matches_the_reference_example() {
        let e = event(EventData::Delivery(DeliveryEvent {
            message_id: "12345".into(),
            telecom_message_id: "c".into(),
            recipient: "+15551234567".into(),
            sender_id: "SenderID".into(),
            status: DlrStatus::Delivered,
            status_code: "000".into(),
            num_parts: 1,
            cost: 0.0175,
            broadcast_id: Some("100".into()),
            message: Some(record()),
        }));
        let got = fields(&e);
        let names: Vec<&str> = got.iter().map(|(k, _)| *k).collect();
        assert_eq!(
            names,
            [
                "id",
                "created",
                "updated",
                "from",
                "to",
                "verify_local",
                "shorten_url",
                "list_id",
                "reference",
                "transactional",
                "preferred_route_id",
                "campaign_id",
                "delay_time",
                "country_id",
                "country_name",
                "country_iso",
                "clicked",
                "cost",
                "parts",
                "original_url",
                "shortened_url",
                "text",
                "status",
                "dlr_status"
            ]
        );
        // The reference DLR example of SMSEdge's page (also what the integration test expects).
        let reference: Value = serde_json::from_str(include_str!("smsedge_reference_dlr.json")).unwrap();
        assert_eq!(object(got), reference);
    }

    #[test]
    fn click_is_the_message_record_with_clicked_true() {
        let mut rec = record();
        rec.dlr_status = None;
        let e = event(EventData::Click(ClickEvent {
            message_id: "12345".into(),
            broadcast_id: None,
            recipient: "15551234567".into(),
            sender_id: Some("SenderID".into()),
            url: "https://short.example.com/abc123".into(),
            user_agent: "Mozilla".into(),
            ip: "203.0.113.1".into(),
            message: Some(rec),
        }));
        let v = object(fields(&e));
        assert_eq!(v["clicked"], json!(true));
        assert_eq!(v["dlr_status"], json!("Pending"));
        assert_eq!(v["campaign_id"], Value::Null);
        assert_eq!(v["to"], json!(15551234567_u64));
    }

    #[test]
    fn inbound_and_revoke_match_the_reference_examples() {
        let e = event(EventData::Inbound(InboundEvent {
            inbound_id: "5678".into(),
            from: "+15551234567".into(),
            to: "1234".into(),
            text: "Reply text from user".into(),
            last_message_id: None,
            last_campaign_id: None,
            channel: Default::default(),
        }));
        assert_eq!(
            object(fields(&e)),
            json!({"id": 5678, "from": "15551234567", "to": 1234, "message": "Reply text from user",
                   "received": "2026-02-27 14:35:00"})
        );
        let r = event(EventData::ClicksRevoked(RevokedClicks {
            api_sms_ids: vec!["100001".into(), "100002".into()],
            campaign_sms_ids: vec!["200001".into(), "200002".into(), "200003".into()],
        }));
        assert_eq!(
            object(fields(&r)),
            json!({"event": "clicks_revoked", "count": 5, "api_sms_ids": [100001, 100002],
                   "campaign_sms_ids": [200001, 200002, 200003]})
        );
    }

    #[test]
    fn non_numeric_ids_stay_strings() {
        assert_eq!(number_or_string("api_42"), json!("api_42"));
        assert_eq!(number_or_string("+1"), json!(1));
        assert_eq!(number_or_string("+"), json!("+"));
        assert_eq!(
            number_or_string("99999999999999999999999"),
            json!("99999999999999999999999")
        );
    }
}
