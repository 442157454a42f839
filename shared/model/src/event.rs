//! The enriched event: what a webhook is about, after the join with message metadata.

use crate::input::{AcceptedMessage, CarrierDlr, ClickInput, ConversionInput, InboundInput, MessageDetails};
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
}

impl EventKind {
    pub const ALL: [EventKind; 8] = [
        Self::Delivery,
        Self::Click,
        Self::Conversion,
        Self::Impression,
        Self::Inbound,
        Self::OptOut,
        Self::Status,
        Self::ClicksRevoked,
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

/// The messaging channel a status or inbound event belongs to. Every feed Hookline reads is
/// SMS today; a record without a `channel` is SMS, so old records still decode, and SMS is not
/// written out, so SMS records stay byte-identical.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    #[default]
    Sms,
    Mms,
    Whatsapp,
    Rcs,
}

impl Channel {
    pub const ALL: [Channel; 4] = [Self::Sms, Self::Mms, Self::Whatsapp, Self::Rcs];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sms => "sms",
            Self::Mms => "mms",
            Self::Whatsapp => "whatsapp",
            Self::Rcs => "rcs",
        }
    }

    pub fn is_sms(&self) -> bool {
        *self == Self::Sms
    }
}

impl fmt::Display for Channel {
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
            EventData::ClicksRevoked(_) => None,
        }
    }

    /// Builds the delivery event from a DLR and the message metadata it joins with.
    pub fn delivery(dlr: &CarrierDlr, msg: &AcceptedMessage) -> Self {
        Event {
            id: crate::ids::stable_id(
                "dlr",
                &[
                    &dlr.carrier_message_id,
                    dlr.status.as_str(),
                    &dlr.status_code,
                    &dlr.done_at.to_rfc3339(),
                ],
            ),
            workspace_id: msg.workspace_id.clone(),
            occurred_at: dlr.done_at,
            received_at: dlr.received_at,
            data: EventData::Delivery(DeliveryEvent {
                message_id: msg.message_id.clone(),
                telecom_message_id: dlr.carrier_message_id.clone(),
                recipient: msg.recipient.clone(),
                sender_id: msg.sender_id.clone(),
                status: dlr.status,
                status_code: dlr.status_code.clone(),
                num_parts: msg.num_parts,
                cost: dlr.cost.unwrap_or(msg.cost),
                broadcast_id: msg.broadcast_id.clone(),
                message: Some(MessageRecord::of(msg, Some(dlr.status))),
            }),
        }
    }
}

impl Event {
    /// The impression of a message accepted on the API single-send path.
    pub fn impression(msg: &AcceptedMessage, received_at: DateTime<Utc>) -> Self {
        Event {
            id: crate::ids::stable_id("imp", &[&msg.workspace_id, &msg.message_id]),
            workspace_id: msg.workspace_id.clone(),
            occurred_at: msg.accepted_at,
            received_at,
            data: EventData::Impression(ImpressionEvent {
                message_id: msg.message_id.clone(),
                broadcast_id: msg.broadcast_id.clone(),
                recipient: msg.recipient.clone(),
                sender_id: msg.sender_id.clone(),
                num_parts: msg.num_parts,
                cost: msg.cost,
            }),
        }
    }

    /// A human click, joined with its message.
    pub fn click(click: &ClickInput, msg: &AcceptedMessage) -> Self {
        Event {
            id: crate::ids::stable_id("click", &[&msg.workspace_id, &click.click_id]),
            workspace_id: msg.workspace_id.clone(),
            occurred_at: click.clicked_at,
            received_at: click.received_at,
            data: EventData::Click(ClickEvent {
                message_id: click.message_id.clone(),
                broadcast_id: click.broadcast_id.clone().or_else(|| msg.broadcast_id.clone()),
                recipient: click.recipient.clone(),
                sender_id: Some(msg.sender_id.clone()),
                url: click.url.clone(),
                user_agent: click.user_agent.clone(),
                ip: click.ip.clone(),
                message: Some(MessageRecord::of(msg, None)),
            }),
        }
    }

    /// A conversion, joined with its message (and click, when known).
    pub fn conversion(conv: &ConversionInput, msg: &AcceptedMessage, click_id: Option<&str>) -> Self {
        let tx = conv.transaction_id.as_deref().unwrap_or_default();
        let id = crate::ids::stable_id(
            "conv",
            &[
                &msg.workspace_id,
                &msg.message_id,
                &conv.event,
                tx,
                &conv.occurred_at.to_rfc3339(),
            ],
        );
        Event {
            id,
            workspace_id: msg.workspace_id.clone(),
            occurred_at: conv.occurred_at,
            received_at: conv.received_at,
            data: EventData::Conversion(ConversionEvent {
                message_id: msg.message_id.clone(),
                broadcast_id: msg.broadcast_id.clone(),
                recipient: msg.recipient.clone(),
                click_id: click_id.map(str::to_string),
                event: conv.event.clone(),
                value: conv.value,
                currency: conv.currency.clone(),
                transaction_id: conv.transaction_id.clone(),
            }),
        }
    }
}

impl Event {
    /// An inbound SMS (joined with the last message sent to its sender, when known).
    pub fn inbound(input: &InboundInput, last: Option<&AcceptedMessage>) -> Self {
        Event {
            id: crate::ids::stable_id("in", &[&input.workspace_id, &input.inbound_id]),
            workspace_id: input.workspace_id.clone(),
            occurred_at: input.received_at,
            received_at: input.ingested_at,
            data: EventData::Inbound(InboundEvent {
                inbound_id: input.inbound_id.clone(),
                from: input.from.clone(),
                to: input.to.clone(),
                text: input.text.clone(),
                last_message_id: input.last_message_id.clone(),
                last_campaign_id: last.and_then(|m| m.broadcast_id.clone()),
                channel: input.channel,
            }),
        }
    }

    /// The opt-out a visit to a message's opt-out link means.
    pub fn link_opt_out(click: &ClickInput, msg: &AcceptedMessage) -> Self {
        Event {
            id: crate::ids::stable_id("optout", &[&msg.workspace_id, &click.click_id]),
            workspace_id: msg.workspace_id.clone(),
            occurred_at: click.clicked_at,
            received_at: click.received_at,
            data: EventData::OptOut(OptOutEvent {
                phone: click.recipient.clone(),
                to: Some(msg.sender_id.clone()),
                source: OptOutSource::Link,
                keyword: None,
                message_id: Some(msg.message_id.clone()),
                campaign_id: click.broadcast_id.clone().or_else(|| msg.broadcast_id.clone()),
            }),
        }
    }

    /// The opt-out an inbound STOP keyword means.
    pub fn keyword_opt_out(input: &InboundInput, keyword: &str, last: Option<&AcceptedMessage>) -> Self {
        Event {
            id: crate::ids::stable_id("optout", &[&input.workspace_id, &input.inbound_id]),
            workspace_id: input.workspace_id.clone(),
            occurred_at: input.received_at,
            received_at: input.ingested_at,
            data: EventData::OptOut(OptOutEvent {
                phone: input.from.clone(),
                to: Some(input.to.clone()),
                source: OptOutSource::Keyword,
                keyword: Some(keyword.to_string()),
                message_id: input.last_message_id.clone(),
                campaign_id: last.and_then(|m| m.broadcast_id.clone()),
            }),
        }
    }
}

impl Event {
    /// The `sent` status of an accepted message.
    pub fn sent(msg: &AcceptedMessage, received_at: DateTime<Utc>) -> Self {
        Self::status(msg, MessageStatus::Sent, None, None, msg.accepted_at, received_at)
    }

    /// The status a DLR reports (`after_final` is set by the caller, which knows the history).
    pub fn dlr_status(dlr: &CarrierDlr, msg: &AcceptedMessage) -> Self {
        Self::status(
            msg,
            MessageStatus::from_dlr(dlr.status),
            Some(&dlr.carrier_message_id),
            Some(&dlr.status_code),
            dlr.done_at,
            dlr.received_at,
        )
    }

    fn status(
        msg: &AcceptedMessage,
        status: MessageStatus,
        carrier_id: Option<&str>,
        code: Option<&str>,
        at: DateTime<Utc>,
        received_at: DateTime<Utc>,
    ) -> Self {
        Event {
            id: crate::ids::stable_id(
                "st",
                &[
                    &msg.workspace_id,
                    &msg.message_id,
                    status.as_str(),
                    code.unwrap_or_default(),
                    &at.to_rfc3339(),
                ],
            ),
            workspace_id: msg.workspace_id.clone(),
            occurred_at: at,
            received_at,
            data: EventData::Status(StatusEvent {
                message_id: msg.message_id.clone(),
                telecom_message_id: carrier_id.map(str::to_string),
                recipient: msg.recipient.clone(),
                sender_id: msg.sender_id.clone(),
                status,
                status_code: code.map(str::to_string),
                broadcast_id: msg.broadcast_id.clone(),
                after_final: false,
                channel: msg.channel,
            }),
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
