//! The payload field table: per event kind, every field a subscription may select, in payload
//! order, whether it is sent by default, and how its value is read from an [`Event`]. The
//! catalogue, the default lists and the values are all read from this one table, so they
//! cannot disagree.
//!
//! `workspace_id` is opt-in for every kind (the 23 Telecom rule): it is in every catalogue but
//! in no default list.

use crate::event::{Event, EventData, EventKind};
use serde_json::{json, Value};

/// One field of one kind's payload.
pub struct Field {
    pub name: &'static str,
    /// Sent when a subscription has not chosen its fields.
    pub default: bool,
    /// The value; `null` when the event does not have it (an optional field such as
    /// `broadcast_id` on a non-broadcast message).
    pub value: fn(&Event) -> Value,
}

/// A field read from one kind's data: `null` on an event of another kind.
macro_rules! field {
    ($name:literal, $default:expr, $variant:ident, |$d:ident| $value:expr) => {
        Field {
            name: $name,
            default: $default,
            value: |e| match &e.data {
                EventData::$variant($d) => json!($value),
                _ => Value::Null,
            },
        }
    };
}

const DEFAULT: bool = true;
const OPT_IN: bool = false;

const TIMESTAMP: Field = Field {
    name: "timestamp",
    default: DEFAULT,
    value: |e| json!(crate::format_timestamp(&e.occurred_at)),
};

const WORKSPACE_ID: Field = Field {
    name: "workspace_id",
    default: OPT_IN,
    value: |e| json!(e.workspace_id),
};

static DELIVERY: &[Field] = &[
    field!("message_id", DEFAULT, Delivery, |d| d.message_id),
    field!("telecom_message_id", OPT_IN, Delivery, |d| d.telecom_message_id),
    field!("recipient", DEFAULT, Delivery, |d| d.recipient),
    field!("sender_id", DEFAULT, Delivery, |d| d.sender_id),
    field!("status", DEFAULT, Delivery, |d| d.status.as_str()),
    field!("status_code", DEFAULT, Delivery, |d| d.status_code),
    field!("num_parts", DEFAULT, Delivery, |d| d.num_parts),
    field!("cost", DEFAULT, Delivery, |d| d.cost),
    TIMESTAMP,
    WORKSPACE_ID,
];

static CLICK: &[Field] = &[
    field!("message_id", DEFAULT, Click, |c| c.message_id),
    field!("broadcast_id", DEFAULT, Click, |c| c.broadcast_id),
    field!("recipient", DEFAULT, Click, |c| c.recipient),
    field!("sender_id", OPT_IN, Click, |c| c.sender_id),
    field!("url", DEFAULT, Click, |c| c.url),
    field!("user_agent", OPT_IN, Click, |c| c.user_agent),
    field!("ip", OPT_IN, Click, |c| c.ip),
    TIMESTAMP,
    WORKSPACE_ID,
];

static CONVERSION: &[Field] = &[
    field!("message_id", DEFAULT, Conversion, |c| c.message_id),
    field!("broadcast_id", DEFAULT, Conversion, |c| c.broadcast_id),
    field!("recipient", DEFAULT, Conversion, |c| c.recipient),
    field!("click_id", OPT_IN, Conversion, |c| c.click_id),
    field!("event", DEFAULT, Conversion, |c| c.event),
    field!("value", DEFAULT, Conversion, |c| c.value),
    field!("currency", DEFAULT, Conversion, |c| c.currency),
    field!("transaction_id", DEFAULT, Conversion, |c| c.transaction_id),
    TIMESTAMP,
    WORKSPACE_ID,
];

static IMPRESSION: &[Field] = &[
    field!("message_id", DEFAULT, Impression, |i| i.message_id),
    field!("broadcast_id", OPT_IN, Impression, |i| i.broadcast_id),
    field!("recipient", DEFAULT, Impression, |i| i.recipient),
    field!("sender_id", DEFAULT, Impression, |i| i.sender_id),
    field!("num_parts", DEFAULT, Impression, |i| i.num_parts),
    field!("cost", DEFAULT, Impression, |i| i.cost),
    TIMESTAMP,
    WORKSPACE_ID,
];

static INBOUND: &[Field] = &[
    field!("inbound_id", DEFAULT, Inbound, |i| i.inbound_id),
    field!("from", DEFAULT, Inbound, |i| i.from),
    field!("to", DEFAULT, Inbound, |i| i.to),
    field!("text", DEFAULT, Inbound, |i| i.text),
    field!("last_message_id", DEFAULT, Inbound, |i| i.last_message_id),
    TIMESTAMP,
    WORKSPACE_ID,
];

static OPT_OUT: &[Field] = &[
    field!("phone", DEFAULT, OptOut, |o| o.phone),
    field!("to", DEFAULT, OptOut, |o| o.to),
    field!("source", DEFAULT, OptOut, |o| o.source),
    field!("keyword", DEFAULT, OptOut, |o| o.keyword),
    field!("message_id", DEFAULT, OptOut, |o| o.message_id),
    TIMESTAMP,
    WORKSPACE_ID,
];

static STATUS: &[Field] = &[
    field!("message_id", DEFAULT, Status, |s| s.message_id),
    field!("telecom_message_id", OPT_IN, Status, |s| s.telecom_message_id),
    field!("recipient", DEFAULT, Status, |s| s.recipient),
    field!("sender_id", DEFAULT, Status, |s| s.sender_id),
    field!("status", DEFAULT, Status, |s| s.status.as_str()),
    field!("status_code", DEFAULT, Status, |s| s.status_code),
    field!("broadcast_id", OPT_IN, Status, |s| s.broadcast_id),
    field!("after_final", DEFAULT, Status, |s| s.after_final),
    TIMESTAMP,
    WORKSPACE_ID,
];

static CLICKS_REVOKED: &[Field] = &[
    field!("event", DEFAULT, ClicksRevoked, |_r| "clicks_revoked"),
    field!("count", DEFAULT, ClicksRevoked, |r| r.count()),
    field!("api_sms_ids", DEFAULT, ClicksRevoked, |r| r.api_sms_ids),
    field!("campaign_sms_ids", DEFAULT, ClicksRevoked, |r| r.campaign_sms_ids),
    Field {
        default: OPT_IN,
        ..TIMESTAMP
    },
    WORKSPACE_ID,
];

static WEBHOOK_DISABLED: &[Field] = &[
    field!("subscription_id", DEFAULT, WebhookDisabled, |w| w.subscription_id),
    field!("url", DEFAULT, WebhookDisabled, |w| w.url),
    field!("reason", DEFAULT, WebhookDisabled, |w| w.reason),
    field!("detail", DEFAULT, WebhookDisabled, |w| w.detail),
    TIMESTAMP,
    WORKSPACE_ID,
];

/// Every field of `kind`, in payload order.
pub fn table(kind: EventKind) -> &'static [Field] {
    match kind {
        EventKind::Delivery => DELIVERY,
        EventKind::Click => CLICK,
        EventKind::Conversion => CONVERSION,
        EventKind::Impression => IMPRESSION,
        EventKind::Inbound => INBOUND,
        EventKind::OptOut => OPT_OUT,
        EventKind::Status => STATUS,
        EventKind::ClicksRevoked => CLICKS_REVOKED,
        EventKind::WebhookDisabled => WEBHOOK_DISABLED,
    }
}

/// Every field a subscription may select for `kind`, in payload order.
pub fn catalogue(kind: EventKind) -> Vec<&'static str> {
    table(kind).iter().map(|f| f.name).collect()
}

/// The fields sent when a subscription has not chosen any, in payload order.
pub fn defaults(kind: EventKind) -> Vec<&'static str> {
    table(kind).iter().filter(|f| f.default).map(|f| f.name).collect()
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
    let table = table(kind);
    if let Some(bad) = chosen.iter().find(|c| !table.iter().any(|f| f.name == c.as_str())) {
        return Err(FieldsError::Unknown(bad.clone(), kind));
    }
    Ok(table
        .iter()
        .filter(|f| chosen.iter().any(|c| c == f.name))
        .map(|f| f.name.to_string())
        .collect())
}

/// The value of one field of an event; `null` for a field its kind does not have.
pub fn value(event: &Event, name: &str) -> Value {
    table(event.kind())
        .iter()
        .find(|f| f.name == name)
        .map_or(Value::Null, |f| (f.value)(event))
}

/// The named fields of `event` as `(name, value)` pairs, in the order given.
pub fn pairs<'a, 'n: 'a>(event: &'a Event, names: &'a [&'n str]) -> impl Iterator<Item = (&'n str, Value)> + 'a {
    names.iter().map(move |f| (*f, value(event, f)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The table as it stands, `*` marking a default field: a change to a catalogue or a
    /// default list is a change to the payloads receivers get, so it shows here.
    #[test]
    fn the_table_per_kind() {
        let expected = [
            (EventKind::Delivery, "message_id* telecom_message_id recipient* sender_id* status* status_code* num_parts* cost* timestamp* workspace_id"),
            (EventKind::Click, "message_id* broadcast_id* recipient* sender_id url* user_agent ip timestamp* workspace_id"),
            (EventKind::Conversion, "message_id* broadcast_id* recipient* click_id event* value* currency* transaction_id* timestamp* workspace_id"),
            (EventKind::Impression, "message_id* broadcast_id recipient* sender_id* num_parts* cost* timestamp* workspace_id"),
            (EventKind::Inbound, "inbound_id* from* to* text* last_message_id* timestamp* workspace_id"),
            (EventKind::OptOut, "phone* to* source* keyword* message_id* timestamp* workspace_id"),
            (EventKind::Status, "message_id* telecom_message_id recipient* sender_id* status* status_code* broadcast_id after_final* timestamp* workspace_id"),
            (EventKind::ClicksRevoked, "event* count* api_sms_ids* campaign_sms_ids* timestamp workspace_id"),
            (EventKind::WebhookDisabled, "subscription_id* url* reason* detail* timestamp* workspace_id"),
        ];
        assert_eq!(expected.len(), EventKind::ALL.len());
        for (kind, want) in expected {
            let got: Vec<String> = table(kind)
                .iter()
                .map(|f| format!("{}{}", f.name, if f.default { "*" } else { "" }))
                .collect();
            assert_eq!(got.join(" "), want, "{kind}");
        }
    }

    /// Names are unique per kind, every kind ends with `timestamp` and the opt-in
    /// `workspace_id`, and every field reads its own kind's data: on an event of any other
    /// kind it is `null`.
    #[test]
    fn the_table_is_consistent() {
        for kind in EventKind::ALL {
            let names = catalogue(kind);
            let mut unique = names.clone();
            unique.sort_unstable();
            unique.dedup();
            assert_eq!(unique.len(), names.len(), "{kind}: a name twice");
            assert_eq!(names[names.len() - 2..], ["timestamp", "workspace_id"], "{kind}");
            assert!(!defaults(kind).contains(&"workspace_id"), "{kind}");
            assert!(defaults(kind).iter().all(|f| names.contains(f)));
            let own = Event::sample(kind, "ws");
            assert_eq!(value(&own, "workspace_id"), json!("ws"));
            assert_eq!(value(&own, "no_such_field"), Value::Null);
            for other in EventKind::ALL.into_iter().filter(|k| *k != kind) {
                let e = Event::sample(other, "ws");
                for f in &table(kind)[..names.len() - 2] {
                    assert_eq!((f.value)(&e), Value::Null, "{kind}.{} on {other}", f.name);
                }
            }
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
