//! A recognisable sample event of each kind: what a test send delivers, and what the tests,
//! benchmarks and the fuzz harness start from.

use crate::event::{
    ClickEvent, ConversionEvent, DeliveryEvent, Event, EventData, EventKind, ImpressionEvent, InboundEvent,
    MessageRecord, MessageStatus, OptOutEvent, OptOutSource, RevokedClicks, StatusEvent,
};
use crate::input::MessageDetails;
use crate::status::DlrStatus;
use chrono::{DateTime, TimeZone, Utc};

/// What sets one sample apart from another. The default is the 23 Telecom reference example:
/// message `api_42` from `MyApp`, at 2026-02-13T10:30:04Z.
#[derive(Debug, Clone, Copy)]
pub struct Sample<'a> {
    /// The message the event is about; the event id is `test_<message_id>`.
    pub message_id: &'a str,
    pub inbound_id: &'a str,
    pub sender_id: &'a str,
    /// When it happened (and was received); the message was accepted 5 s before.
    pub at: DateTime<Utc>,
}

impl Default for Sample<'_> {
    fn default() -> Self {
        Self {
            message_id: "api_42",
            inbound_id: "5678",
            sender_id: "MyApp",
            at: Utc.with_ymd_and_hms(2026, 2, 13, 10, 30, 4).unwrap(),
        }
    }
}

impl Event {
    /// The sample event of `kind` for `workspace_id`, with the default [`Sample`] values.
    pub fn sample(kind: EventKind, workspace_id: &str) -> Self {
        Self::sample_of(kind, workspace_id, Sample::default())
    }

    /// The sample event of `kind` for `workspace_id`, with `s`'s ids, sender and time.
    pub fn sample_of(kind: EventKind, workspace_id: &str, s: Sample<'_>) -> Self {
        let record = MessageRecord {
            accepted_at: s.at - chrono::Duration::seconds(5),
            num_parts: 1,
            cost: 0.0085,
            dlr_status: Some(DlrStatus::Delivered),
            details: Some(MessageDetails {
                text: Some("Hookline test message: https://hkl.ink/test".into()),
                reference: Some("hookline-test".into()),
                original_url: Some("https://example.com/".into()),
                shortened_url: Some("https://hkl.ink/test".into()),
                shorten_url: Some(true),
                ..Default::default()
            }),
        };
        let data = match kind {
            EventKind::Delivery => EventData::Delivery(DeliveryEvent {
                message_id: s.message_id.into(),
                telecom_message_id: "test-carrier-0001".into(),
                recipient: "+14155551234".into(),
                sender_id: s.sender_id.into(),
                status: DlrStatus::Delivered,
                status_code: "000".into(),
                num_parts: 1,
                cost: 0.0085,
                broadcast_id: None,
                message: Some(record.clone()),
            }),
            EventKind::Click => EventData::Click(ClickEvent {
                message_id: s.message_id.into(),
                broadcast_id: Some("test-broadcast".into()),
                recipient: "+14155551234".into(),
                sender_id: Some(s.sender_id.into()),
                url: "https://hkl.ink/test".into(),
                user_agent: "Mozilla/5.0 (test)".into(),
                ip: "203.0.113.10".into(),
                message: Some(record),
            }),
            EventKind::Conversion => EventData::Conversion(ConversionEvent {
                message_id: s.message_id.into(),
                broadcast_id: Some("test-broadcast".into()),
                recipient: "+14155551234".into(),
                click_id: Some("test-click".into()),
                event: "purchase".into(),
                value: Some(19.99),
                currency: Some("USD".into()),
                transaction_id: Some("test-tx".into()),
            }),
            EventKind::Impression => EventData::Impression(ImpressionEvent {
                message_id: s.message_id.into(),
                broadcast_id: None,
                recipient: "+14155551234".into(),
                sender_id: s.sender_id.into(),
                num_parts: 1,
                cost: 0.0085,
            }),
            EventKind::Inbound => EventData::Inbound(InboundEvent {
                inbound_id: s.inbound_id.into(),
                from: "+14155551234".into(),
                to: "+14155550000".into(),
                text: "Hello from a test".into(),
                last_message_id: Some(s.message_id.into()),
                last_campaign_id: None,
                channel: Default::default(),
            }),
            EventKind::OptOut => EventData::OptOut(OptOutEvent {
                phone: "+14155551234".into(),
                to: Some("+14155550000".into()),
                source: OptOutSource::Keyword,
                keyword: Some("STOP".into()),
                message_id: Some(s.message_id.into()),
                campaign_id: None,
            }),
            EventKind::Status => EventData::Status(StatusEvent {
                message_id: s.message_id.into(),
                telecom_message_id: Some("test-carrier-0001".into()),
                recipient: "+14155551234".into(),
                sender_id: s.sender_id.into(),
                status: MessageStatus::Delivered,
                status_code: Some("000".into()),
                broadcast_id: None,
                after_final: false,
                channel: Default::default(),
            }),
            EventKind::ClicksRevoked => EventData::ClicksRevoked(RevokedClicks {
                api_sms_ids: vec![s.message_id.into()],
                campaign_sms_ids: vec![],
            }),
            EventKind::WebhookDisabled => EventData::WebhookDisabled(crate::endpoint_state::WebhookDisabledEvent {
                subscription_id: "wh_test".into(),
                name: Some("Test endpoint".into()),
                url: "https://example.com/hooks".into(),
                reason: crate::endpoint_state::DisableReason::Gone,
                detail: Some("HTTP 410".into()),
                failing_since: None,
            }),
        };
        Event {
            id: format!("test_{}", s.message_id),
            workspace_id: workspace_id.to_string(),
            occurred_at: s.at,
            received_at: s.at,
            data,
        }
    }
}
