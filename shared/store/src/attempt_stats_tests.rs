//! Counting, windows and percentiles of [`super`], through the store's write and read paths.

use super::*;
use hookline_model::{Dispatch, Event, EventKind, Subscription};

fn record(sub: &str, outcome: AttemptOutcome, ms: u64, minutes_ago: i64, now: DateTime<Utc>) -> AttemptRecord {
    let s = Subscription::new(hookline_model::Dialect::Named, "ws", sub, "https://example.com");
    let d = Dispatch::new(Event::sample(EventKind::Status, "ws"), &s, 1);
    let mut r = AttemptRecord::new(&d, 1, s.url.clone(), outcome);
    r.response_time_ms = ms;
    r.attempted_at = now - chrono::Duration::minutes(minutes_ago);
    if outcome == AttemptOutcome::Failed {
        r.response_code = Some(500);
        r.error = Some(format!("HTTP 500 ({minutes_ago} min ago)"));
    }
    r
}

async fn push(store: &Store, records: &[AttemptRecord]) {
    let bytes: Vec<Vec<u8>> = records.iter().map(|r| serde_json::to_vec(r).unwrap()).collect();
    let batch: Vec<(&AttemptRecord, &[u8])> = records.iter().zip(&bytes).map(|(r, b)| (r, b.as_slice())).collect();
    store.push_attempts(&batch, 1000).await.unwrap();
}

#[tokio::test]
async fn windows_count_sent_attempts_exactly_beyond_the_log_cap() {
    let store = Store::memory();
    let now = Utc::now();
    // Within the day only: 1 failed, 2 h ago, slower than every bound.
    let mut recs = vec![record("wh_a", AttemptOutcome::Failed, 120_000, 120, now)];
    // Within the hour: 7 delivered (5 at 40 ms, 2 at 900 ms), 3 failed at 3 s.
    for _ in 0..5 {
        recs.push(record("wh_a", AttemptOutcome::Delivered, 40, 1, now));
    }
    for _ in 0..2 {
        recs.push(record("wh_a", AttemptOutcome::Delivered, 900, 59, now));
    }
    for m in [2, 3, 10] {
        recs.push(record("wh_a", AttemptOutcome::Failed, 3_000, m, now));
    }
    // Not counted: skipped, older than a day, another subscription.
    recs.push(record("wh_a", AttemptOutcome::Skipped, 1, 0, now));
    recs.push(record("wh_a", AttemptOutcome::Delivered, 40, 1_440, now));
    recs.push(record("wh_b", AttemptOutcome::Delivered, 40, 0, now));
    // Each in its own batch, and the log keeping fewer than were counted.
    for r in &recs {
        let bytes = serde_json::to_vec(r).unwrap();
        store.push_attempts(&[(r, &bytes)], 3).await.unwrap();
    }
    assert_eq!(store.latest_attempts("ws", 100).await.unwrap().len(), 3);

    let s = store.attempt_stats("ws", "wh_a", now).await.unwrap();
    let [hour, day] = &s.windows[..] else { panic!("{s:?}") };
    assert_eq!(
        (hour.minutes, hour.attempts, hour.delivered, hour.failed),
        (60, 10, 7, 3)
    );
    // 10 attempts: the 5th is in ≤ 50 ms, the 10th in ≤ 5 s.
    assert_eq!((hour.p50_ms, hour.p99_ms), (Some(50), Some(5_000)));
    let e = hour.last_error.as_ref().unwrap();
    assert_eq!(
        (e.message.as_str(), e.response_code),
        ("HTTP 500 (10 min ago)", Some(500))
    );
    assert_eq!(
        (day.minutes, day.attempts, day.delivered, day.failed),
        (1_440, 11, 7, 4)
    );
    assert_eq!((day.p50_ms, day.p99_ms), (Some(1_000), Some(60_000)));
    assert_eq!(day.last_error, hour.last_error, "the last failure");
    // The last attempt sent (the skipped one was not).
    let last = s.last_attempt.unwrap();
    assert_eq!(
        (last.outcome, last.at),
        (AttemptOutcome::Delivered, now - chrono::Duration::minutes(1_440))
    );

    let b = store.attempt_stats("ws", "wh_b", now).await.unwrap();
    assert_eq!(b.windows[0].attempts, 1);
    assert_eq!(b.windows[0].last_error, None);
    let none = store.attempt_stats("ws", "wh_none", now).await.unwrap();
    assert_eq!((none.windows[1].attempts, none.windows[1].p50_ms), (0, None));
    assert_eq!(none.last_attempt, None);
}

#[tokio::test]
async fn last_error_leaves_the_hour_window_and_the_state_fields_are_kept() {
    let store = Store::memory();
    let now = Utc::now();
    let mut failed = record("wh_a", AttemptOutcome::Failed, 10, 61, now);
    failed.error = None;
    failed.response_code = None;
    let mut ok = record("wh_a", AttemptOutcome::Delivered, 10, 61, now);
    ok.throttled_rate_per_sec = Some(12);
    ok.url_kind = Some("failover".into());
    push(&store, &[failed, ok]).await;
    let s = store.attempt_stats("ws", "wh_a", now).await.unwrap();
    assert_eq!((s.windows[0].attempts, s.windows[0].last_error.is_none()), (0, true));
    let e = s.windows[1].last_error.as_ref().unwrap();
    assert_eq!(e.message, "failed", "no error text and no response");
    let last = s.last_attempt.unwrap();
    assert_eq!(
        (last.throttled_rate_per_sec, last.url_kind.as_deref()),
        (Some(12), Some("failover"))
    );
}

#[test]
fn a_batch_is_aggregated_per_bucket_and_keys_are_written_once() {
    let now = Utc::now();
    let recs = [
        record("wh_a", AttemptOutcome::Delivered, 7, 0, now),
        record("wh_a", AttemptOutcome::Failed, 7, 0, now),
    ];
    let w = tally(&recs);
    let bucket = keys::attempt_stats("ws", "wh_a", minute_of(&now));
    let fields = &w.incr[&bucket];
    assert_eq!(fields["attempts"], 2);
    assert_eq!((fields["delivered"], fields["failed"], fields["le_10"]), (1, 1, 2));
    let written: Vec<_> = w.keys().collect();
    assert_eq!(written.len(), 2, "{written:?}");
    assert_eq!(latency_field(0), "le_10");
    assert_eq!(latency_field(10), "le_10");
    assert_eq!(latency_field(11), "le_25");
    assert_eq!(latency_field(u64::MAX), "le_60000");
}
