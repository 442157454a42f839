//! A webhook subscription: the one model that every configuration dialect is a view of.

use crate::event::{Event, EventKind};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Which API manages a subscription. A change through one dialect never touches the
/// subscriptions of another; each dialect's GET shows only its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Dialect {
    /// `PUT /api/v1/user/webhooks`: one subscription per event kind.
    Telecom23,
    /// `POST /v1/user/set-webhook`.
    SmsEdge,
    /// `POST /api/v1/webhooks`: named subscriptions with filters.
    Named,
}

/// Field names and value shapes of a payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PayloadSchema {
    Telecom23,
    /// SMSEdge's message record (DLR, click), inbound record and revoke batch, with its field
    /// names and value types ([`crate::smsedge`]).
    SmsEdge,
}

/// How the payload is put in the request body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BodyFormat {
    /// `application/json`, the payload object as the body.
    Json,
    /// `application/x-www-form-urlencoded`, the payload object as JSON in the `sms` field
    /// (SMSEdge).
    FormSms,
}

/// A secret as stored in the config topic: sealed with the operator key when one is
/// configured (see `hookline-security`), never in a response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SealedSecret(pub String);

/// Delays between attempts. `delays_secs.len() + 1` attempts in total.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetryPolicy {
    pub delays_secs: Vec<u64>,
}

impl RetryPolicy {
    /// 23 Telecom: 3 attempts in total, 10 s then 30 s apart.
    pub fn telecom23() -> Self {
        Self {
            delays_secs: vec![10, 30],
        }
    }

    /// SMSEdge: 3 attempts in total, 6 h apart.
    pub fn smsedge() -> Self {
        Self {
            delays_secs: vec![6 * 3600, 6 * 3600],
        }
    }

    /// No retry: the single attempt of a test send.
    pub fn none() -> Self {
        Self { delays_secs: vec![] }
    }

    pub fn max_attempts(&self) -> u32 {
        self.delays_secs.len() as u32 + 1
    }
}

/// Subscription filters: OR inside a list, AND across lists; an empty list matches all.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Filters {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sender: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub status: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub message_ref: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub campaign_id: Vec<String>,
}

impl Filters {
    pub fn is_empty(&self) -> bool {
        self.sender.is_empty() && self.status.is_empty() && self.message_ref.is_empty() && self.campaign_id.is_empty()
    }

    /// Whether `event` passes every non-empty list.
    pub fn matches(&self, event: &Event) -> bool {
        use crate::event::EventData;
        let (status, message_ref, campaign) = match &event.data {
            EventData::Delivery(d) => (
                Some(d.status.as_str()),
                Some(d.message_id.as_str()),
                d.broadcast_id.as_deref(),
            ),
            EventData::Click(c) => (None, Some(c.message_id.as_str()), c.broadcast_id.as_deref()),
            EventData::Conversion(c) => (None, Some(c.message_id.as_str()), c.broadcast_id.as_deref()),
            EventData::Impression(i) => (None, Some(i.message_id.as_str()), i.broadcast_id.as_deref()),
            EventData::Inbound(i) => (None, i.last_message_id.as_deref(), i.last_campaign_id.as_deref()),
            EventData::OptOut(o) => (None, o.message_id.as_deref(), o.campaign_id.as_deref()),
            EventData::Status(s) => (
                Some(s.status.as_str()),
                Some(s.message_id.as_str()),
                s.broadcast_id.as_deref(),
            ),
            EventData::ClicksRevoked(_) => (None, None, None),
        };
        any_of(&self.sender, event.sender_id())
            && any_of(&self.status, status)
            && any_of(&self.message_ref, message_ref)
            && any_of(&self.campaign_id, campaign)
    }
}

fn any_of(list: &[String], value: Option<&str>) -> bool {
    list.is_empty() || value.is_some_and(|v| list.iter().any(|l| l.eq_ignore_ascii_case(v)))
}

/// One endpoint that receives some event kinds of one workspace.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Subscription {
    /// Unique inside the workspace. Dispatch records are keyed by
    /// `<workspace_id>/<id>`, so one delivery consumer owns one endpoint.
    pub id: String,
    pub workspace_id: String,
    pub dialect: Dialect,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub url: String,
    pub event_kinds: Vec<EventKind>,
    #[serde(default, skip_serializing_if = "Filters::is_empty")]
    pub filters: Filters,
    pub schema: PayloadSchema,
    pub format: BodyFormat,
    /// Chosen payload fields per kind, canonical (see [`crate::fields::normalise`]); a kind
    /// not in the map sends its defaults.
    #[serde(default)]
    pub fields: BTreeMap<EventKind, Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signing_secret: Option<SealedSecret>,
    /// `user:pass` for HTTP Basic auth, sealed like the signing secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub basic_auth: Option<SealedSecret>,
    /// Requests per second; 0 means the system default.
    #[serde(default)]
    pub rate_limit_per_sec: u32,
    /// Requests in flight at once; 0 means the system default (SMSEdge: 3).
    #[serde(default)]
    pub max_concurrency: u32,
    pub retry: RetryPolicy,
    pub timeout_ms: u64,
    pub enabled: bool,
}

impl Subscription {
    /// The Kafka key of its dispatch records.
    pub fn endpoint_key(&self) -> String {
        format!("{}/{}", self.workspace_id, self.id)
    }

    /// Whether an event should be dispatched to this subscription.
    pub fn wants(&self, event: &Event) -> bool {
        self.enabled
            && event.workspace_id == self.workspace_id
            && self.event_kinds.contains(&event.kind())
            && self.filters.matches(event)
    }

    /// The fields to render for `kind`.
    pub fn fields_for(&self, kind: EventKind) -> Vec<&str> {
        match self.fields.get(&kind) {
            Some(chosen) => chosen.iter().map(String::as_str).collect(),
            None => crate::fields::defaults(kind).to_vec(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{DeliveryEvent, EventData};
    use crate::status::DlrStatus;

    fn dlr(sender: &str, status: DlrStatus, broadcast: Option<&str>) -> Event {
        Event {
            id: "e".into(),
            workspace_id: "ws".into(),
            occurred_at: chrono::Utc::now(),
            received_at: chrono::Utc::now(),
            data: EventData::Delivery(DeliveryEvent {
                message_id: "m1".into(),
                telecom_message_id: "c1".into(),
                recipient: "+1".into(),
                sender_id: sender.into(),
                status,
                status_code: "000".into(),
                num_parts: 1,
                cost: 0.0,
                broadcast_id: broadcast.map(Into::into),
                message: None,
            }),
        }
    }

    #[test]
    fn filters_or_within_and_across() {
        let f = Filters {
            sender: vec!["A".into(), "B".into()],
            status: vec!["DELIVRD".into()],
            ..Default::default()
        };
        assert!(f.matches(&dlr("A", DlrStatus::Delivered, None)));
        assert!(f.matches(&dlr("B", DlrStatus::Delivered, None)));
        assert!(!f.matches(&dlr("C", DlrStatus::Delivered, None)));
        assert!(!f.matches(&dlr("A", DlrStatus::Expired, None)));
        let c = Filters {
            campaign_id: vec!["b1".into()],
            ..Default::default()
        };
        assert!(c.matches(&dlr("A", DlrStatus::Delivered, Some("b1"))));
        assert!(!c.matches(&dlr("A", DlrStatus::Delivered, None)));
        assert!(Filters::default().matches(&dlr("Z", DlrStatus::Unknown, None)));
    }
}
