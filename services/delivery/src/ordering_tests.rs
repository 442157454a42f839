use super::*;
use chrono::{DateTime, TimeZone, Utc};
use futures::FutureExt;
use hookline_model::{Dialect, Event, EventKind, Subscription};

fn at(sec: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 2, 13, 10, 30, sec).unwrap()
}

/// A status `status` of message `m` for subscription `sub`, that happened at `sec`.
fn status(sub: &str, m: &str, status: MessageStatus, sec: u32) -> Dispatch {
    let mut event = Event::sample(EventKind::Status, "ws");
    event.id = format!("ev-{m}-{}-{sec}", status.as_str());
    event.occurred_at = at(sec);
    if let EventData::Status(s) = &mut event.data {
        s.message_id = m.to_string();
        s.status = status;
    }
    Dispatch::new(
        event,
        &Subscription::new(Dialect::Named, "ws", sub, "https://example.com"),
        1,
    )
}

fn delivered(d: &Dispatch) -> AttemptRecord {
    AttemptRecord::new(d, 1, "https://example.com".into(), AttemptOutcome::Delivered)
}

fn failed(d: &Dispatch) -> AttemptRecord {
    AttemptRecord::new(d, 1, "https://example.com".into(), AttemptOutcome::Failed)
}

/// Attempts `d` now: `None` when it was sent (and `outcome` made of it), else why not.
async fn attempt(o: &Ordering, d: &Dispatch, outcome: fn(&Dispatch) -> AttemptRecord) -> Option<String> {
    let turn = o.turn(d).await;
    if let Some(why) = turn.superseded() {
        return Some(why);
    }
    turn.outcome(&outcome(d));
    None
}

#[test]
fn sent_ranks_below_every_final_status() {
    use MessageStatus::*;
    for f in [Delivered, Undelivered, Failed, SoftBounce, HardBounce] {
        assert!(rank(Sent) < rank(f), "{f:?}");
        assert_eq!(rank(f), rank(Delivered), "finals rank equal: {f:?}");
    }
    let mark = |status, sec| Mark {
        status,
        occurred_at: at(sec),
        delivered_at: at(59),
    };
    assert!(mark(Delivered, 1).supersedes(&mark(Sent, 2)), "rank before time");
    assert!(
        mark(Undelivered, 3).supersedes(&mark(Delivered, 2)),
        "equal rank: the later one"
    );
    assert!(!mark(Delivered, 2).supersedes(&mark(Undelivered, 3)));
    assert!(
        !mark(Delivered, 2).supersedes(&mark(Delivered, 2)),
        "a redelivery is not superseded"
    );
}

#[tokio::test]
async fn a_status_below_a_delivered_one_is_not_sent_and_says_why() {
    let o = Ordering::default();
    let sent = status("s1", "m1", MessageStatus::Sent, 1);
    let done = status("s1", "m1", MessageStatus::Delivered, 2);
    assert_eq!(attempt(&o, &sent, failed).await, None, "first try of sent, failed");
    assert_eq!(attempt(&o, &done, delivered).await, None);
    let why = attempt(&o, &sent, delivered)
        .await
        .expect("the retried sent is superseded");
    assert!(
        why.starts_with("superseded by delivered (occurred 2026-02-13T10:30:02+00:00) delivered at "),
        "{why}"
    );
    // The same status again (a redelivery) and a later final are still sent.
    assert_eq!(attempt(&o, &done, delivered).await, None);
    assert_eq!(
        attempt(&o, &status("s1", "m1", MessageStatus::Undelivered, 3), delivered).await,
        None
    );
    assert!(attempt(&o, &done, delivered).await.is_some(), "now below undelivered");
}

#[tokio::test]
async fn other_messages_endpoints_and_kinds_are_not_affected() {
    let o = Ordering::default();
    assert_eq!(
        attempt(&o, &status("s1", "m1", MessageStatus::Delivered, 2), delivered).await,
        None
    );
    assert_eq!(
        attempt(&o, &status("s1", "m2", MessageStatus::Sent, 1), delivered).await,
        None,
        "another message"
    );
    assert_eq!(
        attempt(&o, &status("s2", "m1", MessageStatus::Sent, 1), delivered).await,
        None,
        "another endpoint"
    );
    let mut late = status("s1", "m1", MessageStatus::Sent, 3);
    if let EventData::Status(s) = &mut late.event.data {
        s.after_final = true;
    }
    assert_eq!(
        attempt(&o, &late, delivered).await,
        None,
        "flagged after_final: sent as it is"
    );
    let mut test = status("s1", "m1", MessageStatus::Sent, 1);
    test.test = true;
    assert_eq!(attempt(&o, &test, delivered).await, None, "a test send");
    let mut replay = status("s1", "m1", MessageStatus::Sent, 1);
    replay.replay = true;
    assert_eq!(attempt(&o, &replay, delivered).await, None, "a replay");
    let mut other = status("s1", "m1", MessageStatus::Sent, 1);
    other.event = Event::sample(EventKind::Delivery, "ws");
    assert_eq!(attempt(&o, &other, delivered).await, None, "another kind");
}

#[tokio::test]
async fn one_status_of_a_message_at_a_time_without_holding_up_other_messages() {
    let o = Ordering::default();
    let sent = status("s1", "m1", MessageStatus::Sent, 1);
    let done = status("s1", "m1", MessageStatus::Delivered, 2);
    let first = o.turn(&sent).await;
    assert!(
        o.turn(&done).now_or_never().is_none(),
        "m1's delivered waits for m1's sent"
    );
    let other = o.turn(&status("s1", "m2", MessageStatus::Sent, 1)).now_or_never();
    assert!(other.is_some(), "another message of the endpoint is not held up");
    drop(other);
    first.outcome(&delivered(&sent));
    let next = o.turn(&done).now_or_never().expect("m1's turn is free again");
    assert_eq!(next.superseded(), None, "delivered is later than sent");
    drop(next);
    assert_eq!(o.locks_in_use(), 0, "unused locks are removed");
}

#[test]
fn the_memory_is_bounded_and_keeps_recent_messages() {
    let mut marks = Marks::default();
    let mark = Mark {
        status: MessageStatus::Delivered,
        occurred_at: at(1),
        delivered_at: at(1),
    };
    marks.raise("first", mark);
    for i in 0..MAX_MESSAGES {
        marks.raise(&i.to_string(), mark);
        if i % 1000 == 0 {
            marks.raise("first", mark);
        }
    }
    assert!(marks.len() <= MAX_MESSAGES);
    assert_eq!(marks.get("first"), Some(mark), "a message touched again is kept");
    assert_eq!(marks.get("0"), None, "one untouched for a generation is forgotten");
    assert!(marks.get(&(MAX_MESSAGES - 1).to_string()).is_some());
}
