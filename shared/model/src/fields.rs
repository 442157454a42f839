//! Payload field catalogue: which fields each event kind can carry, which are sent by default,
//! and how each field's value is read from an [`Event`].
//!
//! `workspace_id` is opt-in for every kind (the 23 Telecom rule): it is in every catalogue but
//! in no default list.

use crate::event::{Event, EventData, EventKind};
use serde_json::{json, Value};

/// Every field a subscription may select for `kind`, in payload order.
pub fn catalogue(kind: EventKind) -> &'static [&'static str] {
    match kind {
        EventKind::Delivery => &[
            "message_id",
            "telecom_message_id",
            "recipient",
            "sender_id",
            "status",
            "status_code",
            "num_parts",
            "cost",
            "timestamp",
            "workspace_id",
        ],
        EventKind::Click => &[
            "message_id",
            "broadcast_id",
            "recipient",
            "sender_id",
            "url",
            "user_agent",
            "ip",
            "timestamp",
            "workspace_id",
        ],
        EventKind::Conversion => &[
            "message_id",
            "broadcast_id",
            "recipient",
            "click_id",
            "event",
            "value",
            "currency",
            "transaction_id",
            "timestamp",
            "workspace_id",
        ],
        EventKind::Impression => &[
            "message_id",
            "broadcast_id",
            "recipient",
            "sender_id",
            "num_parts",
            "cost",
            "timestamp",
            "workspace_id",
        ],
        EventKind::Inbound => &[
            "inbound_id",
            "from",
            "to",
            "text",
            "last_message_id",
            "timestamp",
            "workspace_id",
        ],
        EventKind::OptOut => &[
            "phone",
            "to",
            "source",
            "keyword",
            "message_id",
            "timestamp",
            "workspace_id",
        ],
        EventKind::Status => &[
            "message_id",
            "telecom_message_id",
            "recipient",
            "sender_id",
            "status",
            "status_code",
            "broadcast_id",
            "after_final",
            "timestamp",
            "workspace_id",
        ],
        EventKind::ClicksRevoked => &[
            "event",
            "count",
            "api_sms_ids",
            "campaign_sms_ids",
            "timestamp",
            "workspace_id",
        ],
    }
}

/// The fields sent when a subscription has not chosen any.
pub fn defaults(kind: EventKind) -> &'static [&'static str] {
    match kind {
        EventKind::Delivery => &[
            "message_id",
            "recipient",
            "sender_id",
            "status",
            "status_code",
            "num_parts",
            "cost",
            "timestamp",
        ],
        EventKind::Click => &["message_id", "broadcast_id", "recipient", "url", "timestamp"],
        EventKind::Conversion => &[
            "message_id",
            "broadcast_id",
            "recipient",
            "event",
            "value",
            "currency",
            "transaction_id",
            "timestamp",
        ],
        EventKind::Impression => &["message_id", "recipient", "sender_id", "num_parts", "cost", "timestamp"],
        EventKind::Inbound => &["inbound_id", "from", "to", "text", "last_message_id", "timestamp"],
        EventKind::OptOut => &["phone", "to", "source", "keyword", "message_id", "timestamp"],
        EventKind::Status => &[
            "message_id",
            "recipient",
            "sender_id",
            "status",
            "status_code",
            "after_final",
            "timestamp",
        ],
        EventKind::ClicksRevoked => &["event", "count", "api_sms_ids", "campaign_sms_ids"],
    }
}

/// Why a field list was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FieldsError {
    #[error("the field list is empty")]
    Empty,
    #[error("unknown field `{0}` for {1} events")]
    Unknown(String, EventKind),
}

/// Validates a chosen field list and returns it in catalogue order without duplicates, so
/// the stored form is canonical whatever order the caller used.
pub fn normalise(kind: EventKind, chosen: &[String]) -> Result<Vec<String>, FieldsError> {
    if chosen.is_empty() {
        return Err(FieldsError::Empty);
    }
    let cat = catalogue(kind);
    if let Some(bad) = chosen.iter().find(|f| !cat.contains(&f.as_str())) {
        return Err(FieldsError::Unknown(bad.clone(), kind));
    }
    Ok(cat
        .iter()
        .filter(|f| chosen.iter().any(|c| c == *f))
        .map(|f| f.to_string())
        .collect())
}

/// The value of one field of an event; `null` when the event does not have it (an optional
/// field such as `broadcast_id` on a non-broadcast message).
pub fn value(event: &Event, field: &str) -> Value {
    if field == "workspace_id" {
        return json!(event.workspace_id);
    }
    if field == "timestamp" {
        return json!(crate::format_timestamp(&event.occurred_at));
    }
    match &event.data {
        EventData::Delivery(d) => match field {
            "message_id" => json!(d.message_id),
            "telecom_message_id" => json!(d.telecom_message_id),
            "recipient" => json!(d.recipient),
            "sender_id" => json!(d.sender_id),
            "status" => json!(d.status.as_str()),
            "status_code" => json!(d.status_code),
            "num_parts" => json!(d.num_parts),
            "cost" => json!(d.cost),
            _ => Value::Null,
        },
        EventData::Click(c) => match field {
            "message_id" => json!(c.message_id),
            "broadcast_id" => json!(c.broadcast_id),
            "recipient" => json!(c.recipient),
            "sender_id" => json!(c.sender_id),
            "url" => json!(c.url),
            "user_agent" => json!(c.user_agent),
            "ip" => json!(c.ip),
            _ => Value::Null,
        },
        EventData::Conversion(c) => match field {
            "message_id" => json!(c.message_id),
            "broadcast_id" => json!(c.broadcast_id),
            "recipient" => json!(c.recipient),
            "click_id" => json!(c.click_id),
            "event" => json!(c.event),
            "value" => json!(c.value),
            "currency" => json!(c.currency),
            "transaction_id" => json!(c.transaction_id),
            _ => Value::Null,
        },
        EventData::Impression(i) => match field {
            "message_id" => json!(i.message_id),
            "broadcast_id" => json!(i.broadcast_id),
            "recipient" => json!(i.recipient),
            "sender_id" => json!(i.sender_id),
            "num_parts" => json!(i.num_parts),
            "cost" => json!(i.cost),
            _ => Value::Null,
        },
        EventData::Inbound(i) => match field {
            "inbound_id" => json!(i.inbound_id),
            "from" => json!(i.from),
            "to" => json!(i.to),
            "text" => json!(i.text),
            "last_message_id" => json!(i.last_message_id),
            _ => Value::Null,
        },
        EventData::OptOut(o) => match field {
            "phone" => json!(o.phone),
            "to" => json!(o.to),
            "source" => json!(o.source),
            "keyword" => json!(o.keyword),
            "message_id" => json!(o.message_id),
            _ => Value::Null,
        },
        EventData::Status(s) => match field {
            "message_id" => json!(s.message_id),
            "telecom_message_id" => json!(s.telecom_message_id),
            "recipient" => json!(s.recipient),
            "sender_id" => json!(s.sender_id),
            "status" => json!(s.status.as_str()),
            "status_code" => json!(s.status_code),
            "broadcast_id" => json!(s.broadcast_id),
            "after_final" => json!(s.after_final),
            _ => Value::Null,
        },
        EventData::ClicksRevoked(r) => match field {
            "event" => json!("clicks_revoked"),
            "count" => json!(r.count()),
            "api_sms_ids" => json!(r.api_sms_ids),
            "campaign_sms_ids" => json!(r.campaign_sms_ids),
            _ => Value::Null,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_in_catalogue_and_exclude_workspace_id() {
        for kind in EventKind::ALL {
            for f in defaults(kind) {
                assert!(catalogue(kind).contains(f), "{kind}: {f}");
            }
            assert!(!defaults(kind).contains(&"workspace_id"));
            assert!(catalogue(kind).contains(&"workspace_id"));
        }
    }

    #[test]
    fn normalise_orders_dedups_and_rejects() {
        let got = normalise(
            EventKind::Delivery,
            &["status".into(), "message_id".into(), "status".into()],
        )
        .unwrap();
        assert_eq!(got, vec!["message_id", "status"]);
        assert_eq!(normalise(EventKind::Delivery, &[]), Err(FieldsError::Empty));
        assert!(matches!(
            normalise(EventKind::Click, &["status".into()]),
            Err(FieldsError::Unknown(f, EventKind::Click)) if f == "status"
        ));
    }
}
