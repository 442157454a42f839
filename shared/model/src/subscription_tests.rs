//! Filters, wanted types and old records of [`super`].

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

#[test]
fn previous_secret_round_trips_and_old_records_have_none() {
    let mut sub = named(&[NamedEventType::SmsStatus]);
    sub.signing_secret = Some(SealedSecret("plain:whsec_new".into()));
    let json = serde_json::to_value(&sub).unwrap();
    assert!(json.get("previous_secret").is_none(), "not written when absent");
    // A record written before rotation existed (no such member) decodes to none.
    assert_eq!(serde_json::from_value::<Subscription>(json).unwrap(), sub);

    let expires_at = "2026-02-14T10:30:00Z".parse::<DateTime<Utc>>().unwrap();
    sub.previous_secret = Some(PreviousSecret {
        secret: SealedSecret("plain:whsec_old".into()),
        expires_at,
    });
    let json = serde_json::to_value(&sub).unwrap();
    assert_eq!(
        json["previous_secret"],
        serde_json::json!({"secret": "plain:whsec_old", "expires_at": "2026-02-14T10:30:00Z"})
    );
    assert_eq!(serde_json::from_value::<Subscription>(json).unwrap(), sub);
    let p = sub.previous_secret.unwrap();
    assert!(p.live_at(expires_at - chrono::Duration::seconds(1)));
    assert!(!p.live_at(expires_at), "expired at its expiry");
}

/// Records written before the timestamps decode with none (shown as `null`), and the stamps
/// only ever move forward, by at least 1 ms, whatever the clock says.
#[test]
fn timestamps_default_to_none_and_only_move_forward() {
    let sub = named(&[NamedEventType::SmsStatus]);
    let json = serde_json::to_value(&sub).unwrap();
    assert!(json.get("created_at").is_none() && json.get("updated_at").is_none());
    let back: Subscription = serde_json::from_value(json).unwrap();
    assert_eq!((back.created_at, back.updated_at), (None, None));

    let t = |s: &str| {
        chrono::DateTime::parse_from_rfc3339(s)
            .unwrap()
            .with_timezone(&chrono::Utc)
    };
    let mut sub = back;
    sub.stamp_created(t("2026-02-13T10:30:00.123456Z"), None);
    assert_eq!(
        sub.created_at,
        Some(t("2026-02-13T10:30:00.123Z")),
        "to the millisecond"
    );
    assert_eq!(sub.updated_at, sub.created_at);
    // A clock behind the newest creation still creates after it.
    sub.stamp_created(t("2026-02-13T10:29:00Z"), Some(t("2026-02-13T10:30:00.500Z")));
    assert_eq!(sub.created_at, Some(t("2026-02-13T10:30:00.501Z")));
    sub.touch(t("2026-02-13T11:00:00Z"));
    assert_eq!(sub.updated_at, Some(t("2026-02-13T11:00:00Z")));
    sub.touch(t("2026-02-13T11:00:00Z"));
    assert_eq!(sub.updated_at, Some(t("2026-02-13T11:00:00.001Z")), "same millisecond");
    assert_eq!(
        sub.created_at,
        Some(t("2026-02-13T10:30:00.501Z")),
        "a change keeps created_at"
    );
    let round: Subscription = serde_json::from_value(serde_json::to_value(&sub).unwrap()).unwrap();
    assert_eq!(round, sub);
}

#[test]
fn failover_fields_are_optional_and_default_to_three_failures() {
    // A record written before failover URLs: no fields, the default threshold.
    let old = named(&[NamedEventType::SmsStatus]);
    let json = serde_json::to_value(&old).unwrap();
    assert!(json.get("failover_url").is_none() && json.get("failover_after").is_none());
    let back: Subscription = serde_json::from_value(json.clone()).unwrap();
    assert_eq!(
        (back.failover_url.as_deref(), back.failover_threshold()),
        (None, DEFAULT_FAILOVER_AFTER)
    );
    let mut with = json;
    with["failover_url"] = "https://backup.example.com/h".into();
    with["failover_after"] = 5.into();
    let sub: Subscription = serde_json::from_value(with).unwrap();
    assert_eq!(sub.failover_url.as_deref(), Some("https://backup.example.com/h"));
    assert_eq!(sub.failover_threshold(), 5);
}
