//! One test per join: which fields come from the input, which from the message, and that the
//! id is stable (the same input gives the same id, a different one a different id).

use super::*;
use crate::channel::Channel;
use crate::input::{LinkType, MessageDetails};
use crate::status::DlrStatus;
use chrono::TimeZone;

fn t(secs: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 2, 13, 10, 30, secs).unwrap()
}

fn msg() -> AcceptedMessage {
    AcceptedMessage {
        message_id: "m-1".into(),
        carrier_message_id: "c-1".into(),
        carrier_connection: None,
        workspace_id: "ws".into(),
        workspace_feed: false,
        recipient: "+14155551234".into(),
        sender_id: "MyApp".into(),
        num_parts: 2,
        cost: 0.01,
        broadcast_id: Some("b-msg".into()),
        send_path: None,
        accepted_at: t(0),
        channel: Channel::Whatsapp,
        details: Some(MessageDetails {
            text: Some("hi".into()),
            ..Default::default()
        }),
    }
}

fn dlr() -> CarrierDlr {
    CarrierDlr {
        carrier_message_id: "c-1".into(),
        status: DlrStatus::Delivered,
        status_code: "000".into(),
        done_at: t(5),
        cost: Some(0.02),
        carrier: None,
        carrier_connection: None,
        workspace_id: None,
        received_at: t(6),
    }
}

fn click() -> ClickInput {
    ClickInput {
        click_id: "k-1".into(),
        url: "https://hkl.ink/x".into(),
        message_id: "m-1".into(),
        broadcast_id: None,
        recipient: "+14155551234".into(),
        link_type: LinkType::Api,
        user_agent: "UA".into(),
        ip: "203.0.113.7".into(),
        bot: false,
        opt_out: false,
        workspace_id: None,
        clicked_at: t(10),
        received_at: t(11),
    }
}

fn inbound() -> InboundInput {
    InboundInput {
        inbound_id: "in-1".into(),
        workspace_id: "ws-in".into(),
        from: "+14155551234".into(),
        to: "+15550000".into(),
        text: "STOP".into(),
        last_message_id: Some("m-0".into()),
        received_at: t(20),
        ingested_at: t(21),
        channel: Channel::Rcs,
    }
}

/// Whose event it is, when it happened and when Hookline received it.
fn when(e: &Event) -> (&str, DateTime<Utc>, DateTime<Utc>) {
    (&e.workspace_id, e.occurred_at, e.received_at)
}

/// `f` of `a` and `f` of `a` changed by `change`: the same id twice, then a different one.
fn stable<I: Clone>(a: &I, change: impl Fn(&mut I), f: impl Fn(&I) -> Event) -> String {
    let id = f(a).id;
    assert_eq!(f(&a.clone()).id, id);
    let mut b = a.clone();
    change(&mut b);
    assert_ne!(f(&b).id, id);
    id
}

#[test]
fn delivery_takes_status_and_times_from_the_dlr_and_the_rest_from_the_message() {
    let e = Event::delivery(&dlr(), &msg());
    assert_eq!(when(&e), ("ws", t(5), t(6)));
    let EventData::Delivery(d) = &e.data else {
        panic!("{e:?}")
    };
    assert_eq!(d.message_id, "m-1");
    assert_eq!(d.telecom_message_id, "c-1");
    assert_eq!((d.recipient.as_str(), d.sender_id.as_str()), ("+14155551234", "MyApp"));
    assert_eq!((d.status, d.status_code.as_str()), (DlrStatus::Delivered, "000"));
    assert_eq!(d.num_parts, 2);
    assert_eq!(d.cost, 0.02, "the carrier's cost wins");
    assert_eq!(d.broadcast_id.as_deref(), Some("b-msg"));
    assert_eq!(d.message, Some(MessageRecord::of(&msg(), Some(DlrStatus::Delivered))));
    let no_cost = CarrierDlr { cost: None, ..dlr() };
    let EventData::Delivery(d) = Event::delivery(&no_cost, &msg()).data else {
        panic!()
    };
    assert_eq!(d.cost, 0.01, "else the cost known at submit");
    let id = stable(
        &dlr(),
        |d| d.status = DlrStatus::Expired,
        |d| Event::delivery(d, &msg()),
    );
    assert!(id.starts_with("dlr_"));
    stable(&dlr(), |d| d.done_at = t(7), |d| Event::delivery(d, &msg()));
}

#[test]
fn status_events_of_a_message_and_of_its_dlr() {
    let sent = Event::sent(&msg(), t(3));
    assert_eq!(when(&sent), ("ws", t(0), t(3)));
    let EventData::Status(s) = &sent.data else {
        panic!("{sent:?}")
    };
    assert_eq!(s.status, MessageStatus::Sent);
    assert_eq!(
        (s.telecom_message_id.as_deref(), s.status_code.as_deref()),
        (None, None)
    );
    assert_eq!((s.message_id.as_str(), s.sender_id.as_str()), ("m-1", "MyApp"));
    assert_eq!(s.broadcast_id.as_deref(), Some("b-msg"));
    assert_eq!(s.channel, Channel::Whatsapp, "the message's channel");
    assert!(!s.after_final);

    let e = Event::dlr_status(&dlr(), &msg());
    assert_eq!((e.occurred_at, e.received_at), (t(5), t(6)));
    let EventData::Status(s) = &e.data else { panic!("{e:?}") };
    assert_eq!(s.status, MessageStatus::Delivered);
    assert_eq!(s.telecom_message_id.as_deref(), Some("c-1"));
    assert_eq!(s.status_code.as_deref(), Some("000"));
    assert_eq!(s.recipient, "+14155551234");
    assert!(e.id.starts_with("st_") && e.id != sent.id);
    stable(
        &dlr(),
        |d| d.status_code = "001".into(),
        |d| Event::dlr_status(d, &msg()),
    );
    stable(&msg(), |m| m.message_id = "m-2".into(), |m| Event::sent(m, t(3)));
    assert_eq!(
        Event::sent(&msg(), t(9)).id,
        sent.id,
        "received_at is not part of the id"
    );
}

#[test]
fn click_takes_the_visit_from_the_input_and_the_sender_from_the_message() {
    let e = Event::click(&click(), &msg());
    assert_eq!(when(&e), ("ws", t(10), t(11)));
    let EventData::Click(c) = &e.data else { panic!("{e:?}") };
    assert_eq!(
        (c.url.as_str(), c.user_agent.as_str(), c.ip.as_str()),
        ("https://hkl.ink/x", "UA", "203.0.113.7")
    );
    assert_eq!((c.message_id.as_str(), c.recipient.as_str()), ("m-1", "+14155551234"));
    assert_eq!(c.sender_id.as_deref(), Some("MyApp"));
    assert_eq!(
        c.broadcast_id.as_deref(),
        Some("b-msg"),
        "the message's campaign when the click has none"
    );
    assert_eq!(c.message, Some(MessageRecord::of(&msg(), None)));
    let own = ClickInput {
        broadcast_id: Some("b-click".into()),
        ..click()
    };
    let EventData::Click(c) = Event::click(&own, &msg()).data else {
        panic!()
    };
    assert_eq!(
        c.broadcast_id.as_deref(),
        Some("b-click"),
        "the click's own campaign wins"
    );
    let id = stable(&click(), |c| c.click_id = "k-2".into(), |c| Event::click(c, &msg()));
    assert!(id.starts_with("click_"));
}

#[test]
fn conversion_takes_the_postback_from_the_input_and_the_message_ids_from_the_message() {
    let conv = ConversionInput {
        click_id: None,
        message_id: Some("ignored".into()),
        event: "purchase".into(),
        value: Some(9.5),
        currency: Some("EUR".into()),
        transaction_id: Some("tx-1".into()),
        workspace_id: None,
        occurred_at: t(30),
        received_at: t(31),
    };
    let e = Event::conversion(&conv, &msg(), Some("k-1"));
    assert_eq!(when(&e), ("ws", t(30), t(31)));
    let EventData::Conversion(c) = &e.data else {
        panic!("{e:?}")
    };
    assert_eq!(c.message_id, "m-1", "the joined message's id");
    assert_eq!(c.broadcast_id.as_deref(), Some("b-msg"));
    assert_eq!(c.recipient, "+14155551234");
    assert_eq!(c.click_id.as_deref(), Some("k-1"));
    assert_eq!(
        (c.event.as_str(), c.value, c.currency.as_deref()),
        ("purchase", Some(9.5), Some("EUR"))
    );
    assert_eq!(c.transaction_id.as_deref(), Some("tx-1"));
    assert_eq!(
        Event::conversion(&conv, &msg(), None).id,
        e.id,
        "the click is not part of the id"
    );
    let id = stable(
        &conv,
        |c| c.transaction_id = Some("tx-2".into()),
        |c| Event::conversion(c, &msg(), None),
    );
    assert!(id.starts_with("conv_"));
    stable(
        &conv,
        |c| c.event = "signup".into(),
        |c| Event::conversion(c, &msg(), None),
    );
}

#[test]
fn impression_is_the_message_itself() {
    let e = Event::impression(&msg(), t(4));
    assert_eq!(when(&e), ("ws", t(0), t(4)));
    let EventData::Impression(i) = &e.data else {
        panic!("{e:?}")
    };
    assert_eq!((i.message_id.as_str(), i.sender_id.as_str()), ("m-1", "MyApp"));
    assert_eq!((i.num_parts, i.cost), (2, 0.01));
    assert_eq!(i.broadcast_id.as_deref(), Some("b-msg"));
    assert_eq!(Event::impression(&msg(), t(9)).id, e.id);
    let id = stable(&msg(), |m| m.message_id = "m-2".into(), |m| Event::impression(m, t(4)));
    assert!(id.starts_with("imp_"));
}

#[test]
fn inbound_takes_everything_from_the_input_but_the_last_campaign() {
    let e = Event::inbound(&inbound(), Some(&msg()));
    assert_eq!(when(&e), ("ws-in", t(20), t(21)));
    let EventData::Inbound(i) = &e.data else {
        panic!("{e:?}")
    };
    assert_eq!(
        (i.inbound_id.as_str(), i.from.as_str(), i.to.as_str()),
        ("in-1", "+14155551234", "+15550000")
    );
    assert_eq!(i.text, "STOP");
    assert_eq!(
        i.last_message_id.as_deref(),
        Some("m-0"),
        "the input's, not the message's"
    );
    assert_eq!(i.last_campaign_id.as_deref(), Some("b-msg"));
    assert_eq!(i.channel, Channel::Rcs, "the input's channel");
    let EventData::Inbound(i) = Event::inbound(&inbound(), None).data else {
        panic!()
    };
    assert_eq!(i.last_campaign_id, None);
    assert_eq!(Event::inbound(&inbound(), None).id, e.id);
    let id = stable(
        &inbound(),
        |i| i.inbound_id = "in-2".into(),
        |i| Event::inbound(i, None),
    );
    assert!(id.starts_with("in_"));
}

#[test]
fn opt_outs_by_link_and_by_keyword() {
    let c = ClickInput {
        opt_out: true,
        ..click()
    };
    let e = Event::link_opt_out(&c, &msg());
    assert_eq!(when(&e), ("ws", t(10), t(11)));
    let EventData::OptOut(o) = &e.data else { panic!("{e:?}") };
    assert_eq!((o.phone.as_str(), o.to.as_deref()), ("+14155551234", Some("MyApp")));
    assert_eq!((o.source, o.keyword.as_deref()), (OptOutSource::Link, None));
    assert_eq!(o.message_id.as_deref(), Some("m-1"));
    assert_eq!(o.campaign_id.as_deref(), Some("b-msg"));
    assert!(e.id.starts_with("optout_"));
    assert_ne!(e.id, Event::click(&c, &msg()).id, "not the click's id");
    stable(&c, |c| c.click_id = "k-2".into(), |c| Event::link_opt_out(c, &msg()));

    let e = Event::keyword_opt_out(&inbound(), "STOP", Some(&msg()));
    assert_eq!(when(&e), ("ws-in", t(20), t(21)));
    let EventData::OptOut(o) = &e.data else { panic!("{e:?}") };
    assert_eq!((o.phone.as_str(), o.to.as_deref()), ("+14155551234", Some("+15550000")));
    assert_eq!((o.source, o.keyword.as_deref()), (OptOutSource::Keyword, Some("STOP")));
    assert_eq!(o.message_id.as_deref(), Some("m-0"), "the inbound's last message");
    assert_eq!(o.campaign_id.as_deref(), Some("b-msg"));
    assert!(e.id.starts_with("optout_"));
    assert_ne!(e.id, Event::inbound(&inbound(), None).id, "not the inbound's id");
    stable(
        &inbound(),
        |i| i.inbound_id = "in-2".into(),
        |i| Event::keyword_opt_out(i, "STOP", None),
    );
}
