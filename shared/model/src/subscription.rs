//! A webhook subscription: the one model that every configuration dialect is a view of.

use crate::channel::Channel;
use crate::event::{Event, EventKind};
use crate::named::NamedEventType;
use crate::retry::RetryPolicy;
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
    /// A flat object of the chosen fields (23 Telecom).
    Telecom23,
    /// The named-subscription envelope `{"id", "type", "timestamp", "data"}`
    /// ([`crate::render::named`]).
    Named,
    /// SMSEdge's message record (DLR, click), inbound record and revoke batch, with its field
    /// names and value types ([`crate::render::smsedge`]).
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

/// Subscription filters: OR inside a list, AND across lists; an empty list matches all.
/// Values compare case-insensitively.
///
/// What each list is compared with depends on the event kind (the named-subscription
/// reference):
///
/// | kind | `sender` | `status` | `message_ref` | `campaign_id` |
/// | --- | --- | --- | --- | --- |
/// | status (every channel) | the message's sender | its status | its id | its campaign |
/// | click (`LINK_HIT`), opt-out | the source message's sender | not applied | the source message's id | not applied |
/// | inbound (every channel) | the recipient (`to`, the address that received it) | not applied | the last message's id | the last message's campaign |
/// | delivery, conversion, impression | the message's sender | delivery status (delivery only) | the message id | the campaign |
///
/// "Not applied" means the list is ignored for that kind: a subscription to `SMS_STATUS` and
/// `LINK_HIT` with a `status` filter still gets every link hit that passes its other lists.
/// A field the event does not have (no last message on an inbound, no campaign) never
/// matches a non-empty list.
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

/// One filter list's view of an event: `None` = the list does not apply to this kind,
/// `Some(None)` = it applies but the event has no such value.
type Target<'a> = Option<Option<&'a str>>;

impl Filters {
    pub fn is_empty(&self) -> bool {
        self.sender.is_empty() && self.status.is_empty() && self.message_ref.is_empty() && self.campaign_id.is_empty()
    }

    /// Whether `event` passes every non-empty list that applies to its kind (see the table
    /// above).
    pub fn matches(&self, event: &Event) -> bool {
        use crate::event::EventData;
        let sender: Target = Some(event.sender_id());
        let (status, message_ref, campaign): (Target, Target, Target) = match &event.data {
            EventData::Delivery(d) => (
                Some(Some(d.status.as_str())),
                Some(Some(d.message_id.as_str())),
                Some(d.broadcast_id.as_deref()),
            ),
            EventData::Conversion(c) => (None, Some(Some(c.message_id.as_str())), Some(c.broadcast_id.as_deref())),
            EventData::Impression(i) => (None, Some(Some(i.message_id.as_str())), Some(i.broadcast_id.as_deref())),
            EventData::Click(c) => (None, Some(Some(c.message_id.as_str())), None),
            EventData::OptOut(o) => (None, Some(o.message_id.as_deref()), None),
            EventData::Inbound(i) => (
                None,
                Some(i.last_message_id.as_deref()),
                // Only a known last message has a campaign.
                Some(i.last_message_id.as_ref().and(i.last_campaign_id.as_deref())),
            ),
            EventData::Status(s) => (
                Some(Some(s.status.as_str())),
                Some(Some(s.message_id.as_str())),
                Some(s.broadcast_id.as_deref()),
            ),
            // A batch, not about one message: a non-empty list never matches it.
            EventData::ClicksRevoked(_) => (Some(None), Some(None), Some(None)),
        };
        any_of(&self.sender, sender)
            && any_of(&self.status, status)
            && any_of(&self.message_ref, message_ref)
            && any_of(&self.campaign_id, campaign)
    }
}

fn any_of(list: &[String], target: Target) -> bool {
    match target {
        None => true,
        Some(value) => list.is_empty() || value.is_some_and(|v| list.iter().any(|l| l.eq_ignore_ascii_case(v))),
    }
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
    /// Named subscriptions: the exact (kind, channel) pairs wanted; `event_kinds` then holds
    /// their kinds. Empty for the other dialects, whose `event_kinds` mean SMS events only.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub event_types: Vec<NamedEventType>,
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

/// The Kafka key of subscription `id`'s dispatch, retry and dead-letter records,
/// `<workspace_id>/<id>`: one key per endpoint, so one delivery consumer owns each endpoint.
pub fn endpoint_key(workspace_id: &str, id: &str) -> String {
    format!("{workspace_id}/{id}")
}

/// A subscription's timeout when nothing else is chosen.
pub const DEFAULT_TIMEOUT_MS: u64 = 5_000;

impl Subscription {
    /// A subscription of `dialect` with that dialect's payload schema and retry policy, JSON
    /// bodies, no event kinds yet, and every optional setting at its default: no filters,
    /// chosen fields or credentials, the system's rate limit and concurrency, a 5 s timeout,
    /// enabled. The dialects' APIs and the tests start from it and set what differs.
    pub fn new(
        dialect: Dialect,
        workspace_id: impl Into<String>,
        id: impl Into<String>,
        url: impl Into<String>,
    ) -> Self {
        let schema = match dialect {
            Dialect::Telecom23 => PayloadSchema::Telecom23,
            Dialect::SmsEdge => PayloadSchema::SmsEdge,
            Dialect::Named => PayloadSchema::Named,
        };
        Self {
            id: id.into(),
            workspace_id: workspace_id.into(),
            dialect,
            name: None,
            url: url.into(),
            event_kinds: vec![],
            event_types: vec![],
            filters: Filters::default(),
            schema,
            format: BodyFormat::Json,
            fields: BTreeMap::new(),
            signing_secret: None,
            basic_auth: None,
            rate_limit_per_sec: 0,
            max_concurrency: 0,
            retry: RetryPolicy::of(dialect),
            timeout_ms: DEFAULT_TIMEOUT_MS,
            enabled: true,
        }
    }

    /// The Kafka key of its dispatch records.
    pub fn endpoint_key(&self) -> String {
        endpoint_key(&self.workspace_id, &self.id)
    }

    /// Whether an event should be dispatched to this subscription: enabled, same workspace,
    /// its (kind, channel) wanted, and it passes the filters.
    pub fn wants(&self, event: &Event) -> bool {
        self.enabled && event.workspace_id == self.workspace_id && self.wants_type(event) && self.filters.matches(event)
    }

    fn wants_type(&self, event: &Event) -> bool {
        let (kind, channel) = (event.kind(), event.channel());
        if self.event_types.is_empty() {
            channel == Channel::Sms && self.event_kinds.contains(&kind)
        } else {
            self.event_types
                .iter()
                .any(|t| t.kind() == kind && t.channel() == channel)
        }
    }

    /// The event type name sent with an event (`X-Webhook-Event`): the named dialect's
    /// (`SMS_STATUS`, ...) for named subscriptions, the kind (`delivery`, ...) otherwise.
    pub fn event_type_name(&self, event: &Event) -> &'static str {
        match (self.schema, NamedEventType::of_event(event)) {
            (PayloadSchema::Named, Some(t)) => t.as_str(),
            _ => event.kind().as_str(),
        }
    }

    /// The fields to render for `kind`.
    pub fn fields_for(&self, kind: EventKind) -> Vec<&str> {
        match self.fields.get(&kind) {
            Some(chosen) => chosen.iter().map(String::as_str).collect(),
            None => crate::fields::defaults(kind),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{
        ClickEvent, DeliveryEvent, EventData, InboundEvent, MessageStatus, OptOutEvent, OptOutSource, StatusEvent,
    };
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

    fn ev(data: EventData) -> Event {
        Event {
            id: "e".into(),
            workspace_id: "ws".into(),
            occurred_at: chrono::Utc::now(),
            received_at: chrono::Utc::now(),
            data,
        }
    }

    fn status(sender: &str, st: MessageStatus, msg: &str, campaign: Option<&str>, channel: Channel) -> Event {
        ev(EventData::Status(StatusEvent {
            message_id: msg.into(),
            telecom_message_id: None,
            recipient: "+1".into(),
            sender_id: sender.into(),
            status: st,
            status_code: None,
            broadcast_id: campaign.map(Into::into),
            after_final: false,
            channel,
        }))
    }

    fn click(sender: Option<&str>, msg: &str, campaign: Option<&str>) -> Event {
        ev(EventData::Click(ClickEvent {
            message_id: msg.into(),
            broadcast_id: campaign.map(Into::into),
            recipient: "+1".into(),
            sender_id: sender.map(Into::into),
            url: "https://l/x".into(),
            user_agent: "UA".into(),
            ip: "203.0.113.1".into(),
            message: None,
        }))
    }

    fn opt_out(to: Option<&str>, msg: Option<&str>, campaign: Option<&str>) -> Event {
        ev(EventData::OptOut(OptOutEvent {
            phone: "+1".into(),
            to: to.map(Into::into),
            source: OptOutSource::Keyword,
            keyword: Some("STOP".into()),
            message_id: msg.map(Into::into),
            campaign_id: campaign.map(Into::into),
        }))
    }

    fn inbound(to: &str, last: Option<&str>, campaign: Option<&str>, channel: Channel) -> Event {
        ev(EventData::Inbound(InboundEvent {
            inbound_id: "i1".into(),
            from: "+1".into(),
            to: to.into(),
            text: "hi".into(),
            last_message_id: last.map(Into::into),
            last_campaign_id: campaign.map(Into::into),
            channel,
        }))
    }

    fn filters(sender: &[&str], status: &[&str], message_ref: &[&str], campaign_id: &[&str]) -> Filters {
        let v = |l: &[&str]| l.iter().map(|s| s.to_string()).collect();
        Filters {
            sender: v(sender),
            status: v(status),
            message_ref: v(message_ref),
            campaign_id: v(campaign_id),
        }
    }

    #[test]
    fn status_filters_truth_table() {
        use MessageStatus::*;
        let f = filters(&["A", "B"], &["delivered", "hard_bounce"], &[], &[]);
        for (sender, st, want) in [
            ("A", Delivered, true),
            ("b", HardBounce, true),
            ("C", Delivered, false),
            ("A", Sent, false),
            ("C", Sent, false),
        ] {
            assert_eq!(
                f.matches(&status(sender, st, "m1", None, Channel::Sms)),
                want,
                "{sender} {st:?}"
            );
        }
        let f = filters(&[], &[], &["m1", "m2"], &["c1"]);
        assert!(f.matches(&status("A", Sent, "m2", Some("c1"), Channel::Sms)));
        assert!(!f.matches(&status("A", Sent, "m3", Some("c1"), Channel::Sms)));
        assert!(!f.matches(&status("A", Sent, "m1", Some("c2"), Channel::Sms)));
        assert!(!f.matches(&status("A", Sent, "m1", None, Channel::Sms)));
        // Every channel's status events use the same lists.
        assert!(f.matches(&status("A", Sent, "m1", Some("c1"), Channel::Whatsapp)));
        assert!(Filters::default().matches(&status("Z", Failed, "m", None, Channel::Rcs)));
    }

    #[test]
    fn link_hit_and_opt_out_filter_on_the_source_message_only() {
        let f = filters(&["A"], &[], &["m1"], &[]);
        assert!(f.matches(&click(Some("A"), "m1", None)));
        assert!(!f.matches(&click(Some("B"), "m1", None)));
        assert!(!f.matches(&click(Some("A"), "m2", None)));
        assert!(!f.matches(&click(None, "m1", None)));
        assert!(f.matches(&opt_out(Some("A"), Some("m1"), None)));
        assert!(!f.matches(&opt_out(Some("B"), Some("m1"), None)));
        assert!(!f.matches(&opt_out(Some("A"), Some("m2"), None)));
        assert!(!f.matches(&opt_out(Some("A"), None, None)), "no source message id");
        assert!(!f.matches(&opt_out(None, Some("m1"), None)));
        // `status` and `campaign_id` are not applied to link hits and opt-outs.
        let f = filters(&[], &["delivered"], &[], &["c1"]);
        assert!(f.matches(&click(Some("A"), "m1", Some("c2"))));
        assert!(f.matches(&click(None, "m1", None)));
        assert!(f.matches(&opt_out(None, None, Some("c2"))));
        // ...but they still apply, with the others, to status events of the same subscription.
        assert!(!f.matches(&status("A", MessageStatus::Sent, "m1", Some("c1"), Channel::Sms)));
    }

    #[test]
    fn inbound_filters_on_recipient_and_last_message() {
        let f = filters(&["+15550001", "MyBrand"], &[], &[], &[]);
        assert!(f.matches(&inbound("+15550001", None, None, Channel::Sms)));
        assert!(f.matches(&inbound("mybrand", None, None, Channel::Mms)));
        assert!(!f.matches(&inbound("+15550002", None, None, Channel::Sms)));
        let f = filters(&[], &[], &["m1"], &[]);
        assert!(f.matches(&inbound("x", Some("m1"), None, Channel::Sms)));
        assert!(!f.matches(&inbound("x", Some("m2"), None, Channel::Sms)));
        assert!(!f.matches(&inbound("x", None, None, Channel::Sms)), "no last message");
        let f = filters(&[], &[], &[], &["c1"]);
        assert!(f.matches(&inbound("x", Some("m1"), Some("c1"), Channel::Sms)));
        assert!(!f.matches(&inbound("x", Some("m1"), Some("c2"), Channel::Sms)));
        assert!(!f.matches(&inbound("x", Some("m1"), None, Channel::Sms)));
        assert!(
            !f.matches(&inbound("x", None, Some("c1"), Channel::Sms)),
            "no last message"
        );
        // `status` is not applied to inbound events.
        let f = filters(&["x"], &["delivered"], &[], &[]);
        assert!(f.matches(&inbound("x", None, None, Channel::Sms)));
        assert!(!f.matches(&inbound("y", None, None, Channel::Sms)));
    }

    fn named(types: &[NamedEventType]) -> Subscription {
        Subscription {
            name: Some("n".into()),
            event_kinds: types.iter().map(|t| t.kind()).collect(),
            event_types: types.to_vec(),
            ..Subscription::new(Dialect::Named, "ws", "wh_1", "https://example.com")
        }
    }

    #[test]
    fn wants_matches_kind_and_channel() {
        use NamedEventType::*;
        let sub = named(&[SmsStatus, WhatsappInbound, LinkHit]);
        let st = |c| status("A", MessageStatus::Sent, "m", None, c);
        assert!(sub.wants(&st(Channel::Sms)));
        assert!(!sub.wants(&st(Channel::Whatsapp)));
        assert!(sub.wants(&inbound("x", None, None, Channel::Whatsapp)));
        assert!(!sub.wants(&inbound("x", None, None, Channel::Sms)));
        assert!(sub.wants(&click(None, "m", None)));
        assert!(!sub.wants(&opt_out(None, None, None)));
        assert!(!sub.wants(&dlr("A", DlrStatus::Delivered, None)));
        assert_eq!(sub.event_type_name(&st(Channel::Sms)), "SMS_STATUS");

        // The other dialects' subscriptions (no `event_types`) stay SMS only.
        let mut legacy = named(&[]);
        legacy.schema = PayloadSchema::Telecom23;
        legacy.dialect = Dialect::Telecom23;
        legacy.event_kinds = vec![EventKind::Status, EventKind::Delivery];
        assert!(legacy.wants(&st(Channel::Sms)));
        assert!(!legacy.wants(&st(Channel::Mms)));
        assert!(legacy.wants(&dlr("A", DlrStatus::Delivered, None)));
        assert_eq!(legacy.event_type_name(&st(Channel::Sms)), "status");
    }

    #[test]
    fn records_without_channel_or_event_types_still_decode() {
        let old = r#"{"type":"status","message_id":"m","recipient":"+1","sender_id":"A","status":"sent"}"#;
        let data: EventData = serde_json::from_str(old).unwrap();
        let EventData::Status(s) = &data else { panic!() };
        assert_eq!(s.channel, Channel::Sms);
        assert_eq!(
            serde_json::to_string(&data).unwrap(),
            r#"{"type":"status","message_id":"m","recipient":"+1","sender_id":"A","status":"sent","after_final":false}"#
        );
        let mut sub = named(&[]);
        sub.event_types.clear();
        let json = serde_json::to_value(&sub).unwrap();
        assert!(json.get("event_types").is_none());
        let back: Subscription = serde_json::from_value(json).unwrap();
        assert_eq!(back, sub);
    }
}
