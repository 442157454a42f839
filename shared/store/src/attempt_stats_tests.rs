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
    // The minute's bucket, the hour's roll-up, the last attempt.
    assert_eq!(written.len(), 3, "{written:?}");
    let hour = keys::attempt_stats_hour("ws", "wh_a", minute_of(&now).div_euclid(60));
    assert_eq!(
        w.incr[&hour], w.incr[&bucket],
        "the roll-up counts what the minute does"
    );
    assert_eq!(latency_field(0), "le_10");
    assert_eq!(latency_field(10), "le_10");
    assert_eq!(latency_field(11), "le_25");
    assert_eq!(latency_field(u64::MAX), "le_60000");
}

/// A time `offset` minutes (and 30 s) into a clock hour.
fn into_hour(offset: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(29_600_000 * 60 + offset * 60 + 30, 0).unwrap()
}

/// The windows and the chart read from roll-ups and minutes equal a plain count of the
/// attempts, wherever in its hour the read falls (the plan takes a window's first hour by its
/// minutes inside the window, or by its roll-up less the minutes before, whichever is fewer).
#[tokio::test]
async fn roll_ups_give_the_exact_windows_and_hours_at_every_minute_of_the_hour() {
    for offset in [0, 1, 17, 28, 29, 30, 31, 45, 58, 59] {
        let now = into_hour(offset);
        let store = Store::memory();
        // Attempts spread over 26 hours, some in the same minute, deterministic.
        let mut recs = vec![];
        let mut x: u64 = 7 + offset as u64;
        for _ in 0..600 {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let ago = ((x >> 33) % (26 * 60)) as i64;
            let outcome = if (x >> 20).is_multiple_of(3) {
                AttemptOutcome::Failed
            } else {
                AttemptOutcome::Delivered
            };
            let ms = [5, 40, 300, 2_000, 70_000][((x >> 40) % 5) as usize];
            recs.push(record("wh_a", outcome, ms, ago, now));
        }
        push(&store, &recs).await;
        let (stats, chart) = store.attempt_stats_hourly("ws", "wh_a", now).await.unwrap();

        let now_minute = minute_of(&now);
        for w in &stats.windows {
            let inside: Vec<&AttemptRecord> = recs
                .iter()
                .filter(|r| (now_minute - w.minutes + 1..=now_minute).contains(&minute_of(&r.attempted_at)))
                .collect();
            let delivered = inside.iter().filter(|r| r.outcome == AttemptOutcome::Delivered).count() as u64;
            assert_eq!(
                (w.attempts, w.delivered, w.failed),
                (inside.len() as u64, delivered, inside.len() as u64 - delivered),
                "{} min window at {offset} min into the hour",
                w.minutes
            );
            let mut histogram = [0u64; LATENCY_BOUNDS_MS.len()];
            for r in &inside {
                histogram[LATENCY_BOUNDS_MS
                    .iter()
                    .position(|b| r.response_time_ms <= *b)
                    .unwrap_or(11)] += 1;
            }
            let total = inside.len() as u64;
            assert_eq!(
                (w.p50_ms, w.p99_ms),
                (percentile(&histogram, total, 0.5), percentile(&histogram, total, 0.99))
            );
        }
        assert_eq!(chart.len(), 24);
        let now_hour = now_minute.div_euclid(60);
        for (i, h) in chart.iter().enumerate() {
            let hour = now_hour - 23 + i as i64;
            assert_eq!(h.minute, hour * 60, "clock hours, oldest first");
            let n = recs
                .iter()
                .filter(|r| minute_of(&r.attempted_at).div_euclid(60) == hour)
                .count() as u64;
            assert_eq!(h.attempts, n, "hour {i} at {offset} min into the hour");
        }
    }
}

/// The workspace overview's read (issue 28, item 3): 50 subscriptions cost at most 86 hashes
/// each, in one call, where reading every minute of the day cost 1 441 each (72 050).
#[tokio::test]
async fn fifty_subscriptions_are_read_with_a_bounded_number_of_hashes() {
    let store = Store::memory();
    let now = Utc::now();
    let subs: Vec<String> = (0..50).map(|i| format!("wh_{i}")).collect();
    let recs: Vec<AttemptRecord> = subs
        .iter()
        .flat_map(|s| [1, 90, 1_000].map(|ago| record(s, AttemptOutcome::Delivered, 40, ago, now)))
        .collect();
    push(&store, &recs).await;
    let Store::Memory(m) = &store else { unreachable!() };
    let before = m.hash_reads();
    let ids: Vec<&str> = subs.iter().map(String::as_str).collect();
    let all = store.attempt_stats_many("ws", &ids, now).await.unwrap();
    let reads = m.hash_reads() - before;
    assert!(reads <= 50 * 86, "{reads} hashes read for 50 subscriptions");
    assert_eq!(all.len(), 50);
    for (stats, chart) in &all {
        assert_eq!((stats.windows[0].attempts, stats.windows[1].attempts), (1, 3));
        assert_eq!(chart.iter().map(|h| h.attempts).sum::<u64>(), 3);
    }
    // At every minute of an hour, a subscription's read is at most 86 hashes.
    for offset in 0..60 {
        let n = ReadPlan::new(into_hour(offset)).keys("ws", "wh").len();
        assert!(n <= 86, "{n} keys at {offset} min into the hour");
    }
}
