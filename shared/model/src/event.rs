//! The enriched event: what a webhook is about, after the join with message metadata.

use crate::input::{AcceptedMessage, CarrierDlr, ClickInput, ConversionInput};
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
}

impl EventKind {
    pub const ALL: [EventKind; 4] = [Self::Delivery, Self::Click, Self::Conversion, Self::Impression];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Delivery => "delivery",
            Self::Click => "click",
            Self::Conversion => "conversion",
            Self::Impression => "impression",
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
        }
    }

    /// Sender id of the message the event is about (used by subscription filters).
    pub fn sender_id(&self) -> Option<&str> {
        match &self.data {
            EventData::Delivery(d) => Some(&d.sender_id),
            EventData::Impression(i) => Some(&i.sender_id),
            EventData::Click(c) => c.sender_id.as_deref(),
            EventData::Conversion(_) => None,
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

/// Per-kind event data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventData {
    Delivery(DeliveryEvent),
    Click(ClickEvent),
    Conversion(ConversionEvent),
    Impression(ImpressionEvent),
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
