//! The enriched event: what a webhook is about, after the join with message metadata.

use crate::channel::Channel;
use crate::input::{AcceptedMessage, MessageDetails};
use crate::status::DlrStatus;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Event types a subscription can listen to. The 23 Telecom dialect has one URL per kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    Delivery,
    Click,
    Conversion,
    Impression,
    /// An SMS received on one of the workspace's numbers.
    Inbound,
    /// A recipient opted out (STOP keyword, or an opt-out link).
    OptOut,
    /// Every status a message passes through (sent, delivered, ...), several per message.
    Status,
    /// A batch of clicks that bot detection revoked after the fact (SMSEdge `revoke_click_url`).
    ClicksRevoked,
    /// An endpoint of the workspace was auto-disabled: sent to its operational URL only
    /// ([`crate::endpoint_state`]).
    WebhookDisabled,
}

impl EventKind {
    pub const ALL: [EventKind; 9] = [
        Self::Delivery,
        Self::Click,
        Self::Conversion,
        Self::Impression,
        Self::Inbound,
        Self::OptOut,
        Self::Status,
        Self::ClicksRevoked,
        Self::WebhookDisabled,
    ];

    /// The kinds the 23 Telecom dialect has a URL for.
    pub const TELECOM23: [EventKind; 4] = [Self::Delivery, Self::Click, Self::Conversion, Self::Impression];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Delivery => "delivery",
            Self::Click => "click",
            Self::Conversion => "conversion",
            Self::Impression => "impression",
            Self::Inbound => "inbound",
            Self::OptOut => "opt_out",
            Self::Status => "status",
            Self::ClicksRevoked => "clicks_revoked",
            Self::WebhookDisabled => "webhook_disabled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An event ready for fan-out: it belongs to one workspace and carries every field any
/// subscription may select.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Stable id: the same input always yields the same id, so reprocessing after a crash
    /// produces the same webhook id and receivers can drop the duplicate.
    pub id: String,
    pub workspace_id: String,
    /// When the thing happened (delivery time, click time, ...): the payload `timestamp`.
    pub occurred_at: DateTime<Utc>,
    /// When Hookline first received the input; end-to-end latency is measured from here.
    pub received_at: DateTime<Utc>,
    pub data: EventData,
}

impl Event {
    pub fn kind(&self) -> EventKind {
        match &self.data {
            EventData::Delivery(_) => EventKind::Delivery,
            EventData::Click(_) => EventKind::Click,
            EventData::Conversion(_) => EventKind::Conversion,
            EventData::Impression(_) => EventKind::Impression,
            EventData::Inbound(_) => EventKind::Inbound,
            EventData::OptOut(_) => EventKind::OptOut,
            EventData::Status(_) => EventKind::Status,
            EventData::ClicksRevoked(_) => EventKind::ClicksRevoked,
            EventData::WebhookDisabled(_) => EventKind::WebhookDisabled,
        }
    }

    /// The channel of a status or inbound event; every other kind is SMS.
    pub fn channel(&self) -> Channel {
        match &self.data {
            EventData::Inbound(i) => i.channel,
            EventData::Status(s) => s.channel,
            _ => Channel::Sms,
        }
    }

    /// Sender id of the message the event is about (used by subscription filters).
    pub fn sender_id(&self) -> Option<&str> {
        match &self.data {
            EventData::Delivery(d) => Some(&d.sender_id),
            EventData::Impression(i) => Some(&i.sender_id),
            EventData::Click(c) => c.sender_id.as_deref(),
            EventData::Conversion(_) => None,
            // Filters match an inbound message's sender on the address that received it.
            EventData::Inbound(i) => Some(&i.to),
            EventData::OptOut(o) => o.to.as_deref(),
            EventData::Status(s) => Some(&s.sender_id),
            EventData::ClicksRevoked(_) | EventData::WebhookDisabled(_) => None,
        }
    }
}

/// Per-kind event data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventData {
    Delivery(DeliveryEvent),
    Click(ClickEvent),
    Conversion(ConversionEvent),
    Impression(ImpressionEvent),
    Inbound(InboundEvent),
    OptOut(OptOutEvent),
    Status(StatusEvent),
    ClicksRevoked(RevokedClicks),
    WebhookDisabled(crate::endpoint_state::WebhookDisabledEvent),
}

/// Message ids whose clicks were revoked, split by how the message was sent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevokedClicks {
    pub api_sms_ids: Vec<String>,
    pub campaign_sms_ids: Vec<String>,
}

impl RevokedClicks {
    pub fn count(&self) -> usize {
        self.api_sms_ids.len() + self.campaign_sms_ids.len()
    }
}

/// A message's status in the status-event model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageStatus {
    /// Accepted by the gateway, or en route at the carrier.
    Sent,
    /// The carrier could not tell (UNKNOWN).
    Failed,
    /// Temporarily undeliverable (EXPIRED: not delivered within its validity).
    SoftBounce,
    /// Permanently refused (REJECTD).
    HardBounce,
    Delivered,
    Undelivered,
}

impl MessageStatus {
    /// The status a carrier DLR status means.
    pub fn from_dlr(s: DlrStatus) -> Self {
        match s {
            DlrStatus::Delivered => Self::Delivered,
            DlrStatus::Undeliverable => Self::Undelivered,
            DlrStatus::Rejected => Self::HardBounce,
            DlrStatus::Expired => Self::SoftBounce,
            DlrStatus::Unknown => Self::Failed,
            DlrStatus::Enroute | DlrStatus::Accepted => Self::Sent,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sent => "sent",
            Self::Failed => "failed",
            Self::SoftBounce => "soft_bounce",
            Self::HardBounce => "hard_bounce",
            Self::Delivered => "delivered",
            Self::Undelivered => "undelivered",
        }
    }

    /// Whether no further status is expected.
    pub fn is_final(self) -> bool {
        self != Self::Sent
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusEvent {
    pub message_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub telecom_message_id: Option<String>,
    pub recipient: String,
    pub sender_id: String,
    pub status: MessageStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub broadcast_id: Option<String>,
    /// The status arrived after the message already had a final one: delivered as it came,
    /// flagged rather than reordered or dropped.
    #[serde(default)]
    pub after_final: bool,
    /// The message's channel (SMS unless the gateway said otherwise).
    #[serde(default, skip_serializing_if = "Channel::is_sms")]
    pub channel: Channel,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InboundEvent {
    pub inbound_id: String,
    /// The phone number that sent the SMS.
    pub from: String,
    /// The workspace's number or sender address that received it.
    pub to: String,
    pub text: String,
    /// The last message sent to `from`, when the gateway knows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_message_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_campaign_id: Option<String>,
    /// The channel it arrived on (SMS unless the gateway said otherwise).
    #[serde(default, skip_serializing_if = "Channel::is_sms")]
    pub channel: Channel,
}

/// How a recipient opted out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OptOutSource {
    /// An inbound STOP (or a variant).
    Keyword,
    /// A visit to an opt-out link.
    Link,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OptOutEvent {
    /// The recipient who opted out.
    pub phone: String,
    /// The number or sender address they opted out of.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    pub source: OptOutSource,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keyword: Option<String>,
    /// The message the opt-out refers to (the last one sent, or the link's message).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub campaign_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeliveryEvent {
    pub message_id: String,
    /// The carrier's id for the message (`telecom_message_id` in the payload).
    pub telecom_message_id: String,
    pub recipient: String,
    pub sender_id: String,
    pub status: DlrStatus,
    pub status_code: String,
    pub num_parts: u32,
    pub cost: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub broadcast_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<MessageRecord>,
}

/// The message an event is about, as the gateway's record of it stood when the event happened:
/// what a payload that is a whole message record (SMSEdge's DLR and click) is rendered from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageRecord {
    pub accepted_at: DateTime<Utc>,
    pub num_parts: u32,
    pub cost: f64,
    /// The latest final delivery status, when one has arrived.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dlr_status: Option<DlrStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<MessageDetails>,
}

impl MessageRecord {
    pub fn of(msg: &AcceptedMessage, dlr_status: Option<DlrStatus>) -> Self {
        Self {
            accepted_at: msg.accepted_at,
            num_parts: msg.num_parts,
            cost: msg.cost,
            dlr_status,
            details: msg.details.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClickEvent {
    pub message_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub broadcast_id: Option<String>,
    pub recipient: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sender_id: Option<String>,
    /// The short link that was clicked.
    pub url: String,
    pub user_agent: String,
    pub ip: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<MessageRecord>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConversionEvent {
    pub message_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub broadcast_id: Option<String>,
    pub recipient: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub click_id: Option<String>,
    /// The tracker's event name (`purchase`, `signup`, ...).
    pub event: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transaction_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImpressionEvent {
    pub message_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub broadcast_id: Option<String>,
    pub recipient: String,
    pub sender_id: String,
    pub num_parts: u32,
    pub cost: f64,
}
