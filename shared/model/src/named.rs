//! The event types of the named-subscription dialect (`/api/v1/webhooks`), and the one
//! mapping between them and the model's (event kind, channel) pairs.

use crate::channel::Channel;
use crate::event::{Event, EventKind};
use serde::{Deserialize, Serialize};
use std::fmt;

/// An event type a named subscription can listen to, as the reference spells it.
///
/// `LINK_HIT` and `OPT_OUT` are not tied to a channel (clicks and opt-outs carry none): in the
/// model they are SMS, the channel every click and opt-out event has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum NamedEventType {
    SmsStatus,
    SmsInbound,
    LinkHit,
    OptOut,
    MmsStatus,
    MmsInbound,
    WhatsappStatus,
    WhatsappInbound,
    RcsStatus,
    RcsInbound,
}

impl NamedEventType {
    pub const ALL: [NamedEventType; 10] = [
        Self::SmsStatus,
        Self::SmsInbound,
        Self::LinkHit,
        Self::OptOut,
        Self::MmsStatus,
        Self::MmsInbound,
        Self::WhatsappStatus,
        Self::WhatsappInbound,
        Self::RcsStatus,
        Self::RcsInbound,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::SmsStatus => "SMS_STATUS",
            Self::SmsInbound => "SMS_INBOUND",
            Self::LinkHit => "LINK_HIT",
            Self::OptOut => "OPT_OUT",
            Self::MmsStatus => "MMS_STATUS",
            Self::MmsInbound => "MMS_INBOUND",
            Self::WhatsappStatus => "WHATSAPP_STATUS",
            Self::WhatsappInbound => "WHATSAPP_INBOUND",
            Self::RcsStatus => "RCS_STATUS",
            Self::RcsInbound => "RCS_INBOUND",
        }
    }

    /// The exact (upper-case) spelling of the reference.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }

    pub fn kind(self) -> EventKind {
        match self {
            Self::SmsStatus | Self::MmsStatus | Self::WhatsappStatus | Self::RcsStatus => EventKind::Status,
            Self::SmsInbound | Self::MmsInbound | Self::WhatsappInbound | Self::RcsInbound => EventKind::Inbound,
            Self::LinkHit => EventKind::Click,
            Self::OptOut => EventKind::OptOut,
        }
    }

    pub fn channel(self) -> Channel {
        match self {
            Self::SmsStatus | Self::SmsInbound | Self::LinkHit | Self::OptOut => Channel::Sms,
            Self::MmsStatus | Self::MmsInbound => Channel::Mms,
            Self::WhatsappStatus | Self::WhatsappInbound => Channel::Whatsapp,
            Self::RcsStatus | Self::RcsInbound => Channel::Rcs,
        }
    }

    /// The type with this kind and channel; `None` for kinds the dialect does not expose
    /// (delivery, conversion, impression) and for clicks or opt-outs off SMS.
    pub fn of(kind: EventKind, channel: Channel) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|t| t.kind() == kind && t.channel() == channel)
    }

    /// The type of an event, when the dialect has one for it.
    pub fn of_event(event: &Event) -> Option<Self> {
        Self::of(event.kind(), event.channel())
    }
}

impl fmt::Display for NamedEventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapping_is_one_to_one_and_round_trips() {
        let expected = [
            ("SMS_STATUS", EventKind::Status, Channel::Sms),
            ("SMS_INBOUND", EventKind::Inbound, Channel::Sms),
            ("LINK_HIT", EventKind::Click, Channel::Sms),
            ("OPT_OUT", EventKind::OptOut, Channel::Sms),
            ("MMS_STATUS", EventKind::Status, Channel::Mms),
            ("MMS_INBOUND", EventKind::Inbound, Channel::Mms),
            ("WHATSAPP_STATUS", EventKind::Status, Channel::Whatsapp),
            ("WHATSAPP_INBOUND", EventKind::Inbound, Channel::Whatsapp),
            ("RCS_STATUS", EventKind::Status, Channel::Rcs),
            ("RCS_INBOUND", EventKind::Inbound, Channel::Rcs),
        ];
        assert_eq!(expected.len(), NamedEventType::ALL.len());
        for (name, kind, channel) in expected {
            let t = NamedEventType::parse(name).unwrap();
            assert_eq!((t.as_str(), t.kind(), t.channel()), (name, kind, channel));
            assert_eq!(NamedEventType::of(kind, channel), Some(t));
            assert_eq!(t.to_string(), name);
            assert_eq!(serde_json::to_value(t).unwrap(), serde_json::json!(name));
            assert_eq!(
                serde_json::from_value::<NamedEventType>(serde_json::json!(name)).unwrap(),
                t
            );
        }
        for bad in ["sms_status", "SMS", "", "DELIVERY", "LINK_HIT "] {
            assert_eq!(NamedEventType::parse(bad), None, "{bad}");
        }
        for kind in [EventKind::Delivery, EventKind::Conversion, EventKind::Impression] {
            assert_eq!(NamedEventType::of(kind, Channel::Sms), None);
        }
        assert_eq!(NamedEventType::of(EventKind::Click, Channel::Mms), None);
    }
}
