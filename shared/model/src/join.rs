//! The joins: how enrich builds an [`Event`] from an input record and the message it is about.
//!
//! Each join takes the *when* (occurred, received) from the input and the message's identity
//! (workspace, sender, campaign) from the accepted message; its id is stable, derived from the
//! input, so reprocessing after a crash yields the same event id.

use crate::event::{
    ClickEvent, ConversionEvent, DeliveryEvent, Event, EventData, ImpressionEvent, InboundEvent, MessageRecord,
    MessageStatus, OptOutEvent, OptOutSource, StatusEvent,
};
use crate::input::{AcceptedMessage, CarrierDlr, ClickInput, ConversionInput, InboundInput};
use chrono::{DateTime, Utc};

impl Event {
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

    /// The impression of a message accepted on the API single-send path.
    pub fn impression(msg: &AcceptedMessage, received_at: DateTime<Utc>) -> Self {
        Self::joined(
            "imp",
            &msg.workspace_id,
            &[&msg.message_id],
            msg.accepted_at,
            received_at,
            EventData::Impression(ImpressionEvent {
                message_id: msg.message_id.clone(),
                broadcast_id: msg.broadcast_id.clone(),
                recipient: msg.recipient.clone(),
                sender_id: msg.sender_id.clone(),
                num_parts: msg.num_parts,
                cost: msg.cost,
            }),
        )
    }

    /// A human click, joined with its message.
    pub fn click(click: &ClickInput, msg: &AcceptedMessage) -> Self {
        Self::joined(
            "click",
            &msg.workspace_id,
            &[&click.click_id],
            click.clicked_at,
            click.received_at,
            EventData::Click(ClickEvent {
                message_id: click.message_id.clone(),
                broadcast_id: click.broadcast_id.clone().or_else(|| msg.broadcast_id.clone()),
                recipient: click.recipient.clone(),
                sender_id: Some(msg.sender_id.clone()),
                url: click.url.clone(),
                user_agent: click.user_agent.clone(),
                ip: click.ip.clone(),
                message: Some(MessageRecord::of(msg, None)),
            }),
        )
    }

    /// A conversion, joined with its message (and click, when known).
    pub fn conversion(conv: &ConversionInput, msg: &AcceptedMessage, click_id: Option<&str>) -> Self {
        let tx = conv.transaction_id.as_deref().unwrap_or_default();
        Self::joined(
            "conv",
            &msg.workspace_id,
            &[&msg.message_id, &conv.event, tx, &conv.occurred_at.to_rfc3339()],
            conv.occurred_at,
            conv.received_at,
            EventData::Conversion(ConversionEvent {
                message_id: msg.message_id.clone(),
                broadcast_id: msg.broadcast_id.clone(),
                recipient: msg.recipient.clone(),
                click_id: click_id.map(str::to_string),
                event: conv.event.clone(),
                value: conv.value,
                currency: conv.currency.clone(),
                transaction_id: conv.transaction_id.clone(),
            }),
        )
    }

    /// An inbound SMS (joined with the last message sent to its sender, when known).
    pub fn inbound(input: &InboundInput, last: Option<&AcceptedMessage>) -> Self {
        Self::joined(
            "in",
            &input.workspace_id,
            &[&input.inbound_id],
            input.received_at,
            input.ingested_at,
            EventData::Inbound(InboundEvent {
                inbound_id: input.inbound_id.clone(),
                from: input.from.clone(),
                to: input.to.clone(),
                text: input.text.clone(),
                last_message_id: input.last_message_id.clone(),
                last_campaign_id: last.and_then(|m| m.broadcast_id.clone()),
                channel: input.channel,
            }),
        )
    }

    /// The opt-out a visit to a message's opt-out link means.
    pub fn link_opt_out(click: &ClickInput, msg: &AcceptedMessage) -> Self {
        Self::joined(
            "optout",
            &msg.workspace_id,
            &[&click.click_id],
            click.clicked_at,
            click.received_at,
            EventData::OptOut(OptOutEvent {
                phone: click.recipient.clone(),
                to: Some(msg.sender_id.clone()),
                source: OptOutSource::Link,
                keyword: None,
                message_id: Some(msg.message_id.clone()),
                campaign_id: click.broadcast_id.clone().or_else(|| msg.broadcast_id.clone()),
            }),
        )
    }

    /// The opt-out an inbound STOP keyword means.
    pub fn keyword_opt_out(input: &InboundInput, keyword: &str, last: Option<&AcceptedMessage>) -> Self {
        Self::joined(
            "optout",
            &input.workspace_id,
            &[&input.inbound_id],
            input.received_at,
            input.ingested_at,
            EventData::OptOut(OptOutEvent {
                phone: input.from.clone(),
                to: Some(input.to.clone()),
                source: OptOutSource::Keyword,
                keyword: Some(keyword.to_string()),
                message_id: input.last_message_id.clone(),
                campaign_id: last.and_then(|m| m.broadcast_id.clone()),
            }),
        )
    }

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
        Self::joined(
            "st",
            &msg.workspace_id,
            &[
                &msg.message_id,
                status.as_str(),
                code.unwrap_or_default(),
                &at.to_rfc3339(),
            ],
            at,
            received_at,
            EventData::Status(StatusEvent {
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
        )
    }

    /// An event of `workspace_id`, its id stable: derived from `prefix`, the workspace and
    /// `key` (the input's identity), so the same input always yields the same id.
    fn joined(
        prefix: &str,
        workspace_id: &str,
        key: &[&str],
        occurred_at: DateTime<Utc>,
        received_at: DateTime<Utc>,
        data: EventData,
    ) -> Self {
        let mut parts = Vec::with_capacity(key.len() + 1);
        parts.push(workspace_id);
        parts.extend_from_slice(key);
        Event {
            id: crate::ids::stable_id(prefix, &parts),
            workspace_id: workspace_id.to_string(),
            occurred_at,
            received_at,
            data,
        }
    }
}

#[cfg(test)]
#[path = "join_tests.rs"]
mod tests;
