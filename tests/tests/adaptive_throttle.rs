//! Adaptive throttling (AIMD) against the real broker and a real receiver on loopback: a
//! subscription limited to 1,000/s whose receiver takes only 100/s is brought down to the
//! receiver's rate within seconds, and every event still arrives, none dead-lettered.

use hookline::Service;
use hookline_tests::{subscription, Receiver, TestPipeline};
use std::collections::HashSet;
use std::time::{Duration, Instant};

/// Events sent at once.
const EVENTS: usize = 3000;
/// What the receiver accepts per second (a sliding window, then 429 without `Retry-After`).
const RECEIVER_LIMIT: usize = 100;
/// How long after the first request the rate must be down to the receiver's.
const SETTLE_WITHIN: Duration = Duration::from_secs(5);
/// Requests a window may hold beyond the receiver's limit after settling. AIMD finds the
/// receiver's rate by exceeding it: each time the rate is raised past it (every few seconds)
/// the request that gets the 429, and one sent before that answer is back, are over the
/// limit in their window before the rate halves.
const PROBE_TOLERANCE: usize = 2;

/// Requests (accepted and refused) in the busiest one-second window starting at or after
/// each request: `(window start, count)`, in order.
fn windows(times: &[Instant]) -> Vec<(Instant, usize)> {
    let mut end = 0;
    (0..times.len())
        .map(|i| {
            while end < times.len() && times[end] < times[i] + Duration::from_secs(1) {
                end += 1;
            }
            (times[i], end - i)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_that_takes_100_per_sec_gets_at_most_that_and_every_event() {
    let _alone = hookline_tests::alone().await;
    let mut p = TestPipeline::start_with(&hookline_tests::unique("aimd"), &[Service::Delivery], &[])
        .await
        .unwrap();
    let ws = format!("ws-{}", p.id);
    let rx = Receiver::start().await;
    rx.limit_per_sec(RECEIVER_LIMIT);
    let mut sub = subscription(&ws, "throttled", &rx.url("/t"));
    sub.rate_limit_per_sec = 1000;
    p.put_subscription(&sub).await.unwrap();

    let started = Instant::now();
    let ids = p.produce_dispatches(&sub, 0, EVENTS).await;
    eprintln!("{EVENTS} events produced in {:?}", started.elapsed());

    // Every event accepted (a 200) at least once.
    let delivered = |rx: &Receiver| -> HashSet<String> {
        rx.requests()
            .iter()
            .filter(|r| r.status == 200)
            .filter_map(|r| r.header("x-webhook-id").map(str::to_string))
            .collect()
    };
    let all = hookline_tests::eventually(Duration::from_secs(240), || async {
        (delivered(&rx).len() >= EVENTS).then_some(())
    })
    .await;
    let total_time = started.elapsed();
    let requests = rx.requests();
    let accepted: Vec<_> = requests.iter().filter(|r| r.status == 200).collect();
    let got = delivered(&rx);
    assert!(
        all.is_some(),
        "{} of {EVENTS} events delivered in {total_time:?} ({} requests)",
        got.len(),
        requests.len()
    );
    assert_eq!(got, ids, "exactly the events sent, each delivered");
    let refused = requests.iter().filter(|r| r.status == 429).count();
    assert_eq!(refused + accepted.len(), requests.len(), "only 200s and 429s");

    // The rate at the receiver, every request counted, refused or not.
    let mut times: Vec<Instant> = requests.iter().map(|r| r.at).collect();
    times.sort();
    let first = times[0];
    let win = windows(&times);
    let peak = win.iter().map(|w| w.1).max().unwrap();
    // From the start of the first window after which none exceeds the receiver's limit.
    let settled_at = win
        .iter()
        .rposition(|w| w.1 > RECEIVER_LIMIT)
        .map_or(first, |i| win[i].0 + Duration::from_millis(1));
    let worst_after = win
        .iter()
        .filter(|w| w.0 >= first + SETTLE_WITHIN)
        .map(|w| w.1)
        .max()
        .unwrap_or(0);
    let over_after: usize = win
        .iter()
        .filter(|w| w.0 >= first + SETTLE_WITHIN && w.1 > RECEIVER_LIMIT)
        .count();
    let refused_after = requests
        .iter()
        .filter(|r| r.status == 429 && r.at >= first + SETTLE_WITHIN)
        .count();
    eprintln!(
        "adaptive throttle: receiver limit {RECEIVER_LIMIT}/s, subscription limit 1000/s; busiest second {peak} \
         requests; every second at most {RECEIVER_LIMIT} from {:?} after the first request (last over-limit \
         window); from {SETTLE_WITHIN:?} on: busiest second {worst_after}, {over_after} windows over {RECEIVER_LIMIT}, \
         {refused_after} 429s; in all {} requests, {refused} 429s, {} duplicates of accepted events; \
         {EVENTS} events delivered in {total_time:?} ({:.0}/s)",
        settled_at - first,
        requests.len(),
        accepted.len() - EVENTS,
        EVENTS as f64 / (total_time.as_secs_f64() - (first - started).as_secs_f64()),
    );
    let per_second: Vec<String> = (0..=(times[times.len() - 1] - first).as_secs())
        .map(|s| {
            let from = first + Duration::from_secs(s);
            let n = times
                .iter()
                .filter(|t| **t >= from && **t < from + Duration::from_secs(1))
                .count();
            n.to_string()
        })
        .collect();
    eprintln!("requests per second from the first: {}", per_second.join(" "));
    assert!(
        peak > RECEIVER_LIMIT,
        "the test starts above the receiver's limit ({peak})"
    );
    assert!(
        worst_after <= RECEIVER_LIMIT + PROBE_TOLERANCE,
        "{worst_after} requests in a second, {SETTLE_WITHIN:?} after the start"
    );

    // None dead-lettered; the throttling shows in the metrics and the attempt records.
    assert_eq!(
        p.metric("hookline_delivery_dead_lettered_total", &[]).await.unwrap(),
        0.0
    );
    let decreases = p.metric("hookline_delivery_throttle_decreases_total", &[("signal", "429")]);
    assert!(decreases.await.unwrap() >= 1.0);
    let labels = [("subscription_id", "throttled"), ("workspace_id", ws.as_str())];
    let rate = p
        .metric("hookline_delivery_endpoint_rate_limit", &labels)
        .await
        .unwrap();
    assert!(rate > 0.0 && rate <= 1000.0, "gauge {rate}");
    p.wait_metric(
        "hookline_delivery_deferred_total",
        &[("reason", "throttled")],
        |n| n >= refused as f64,
        Duration::from_secs(10),
        "every 429 deferred",
    )
    .await
    .unwrap();
    assert!(
        requests.iter().all(|r| r.header("x-webhook-attempt") == Some("1")),
        "a 429 does not use an attempt"
    );
    let attempts = p
        .read_topic(&p.kafka.topics.attempts(), Duration::from_secs(30), |rs| {
            rs.iter().any(|r| throttled_rate(&r.payload).is_some())
        })
        .await
        .unwrap();
    let slowed = attempts.iter().find_map(|r| throttled_rate(&r.payload));
    assert!(
        slowed.is_some_and(|r| r < 1000),
        "an attempt record shows the lowered rate: {slowed:?}"
    );
    p.stop().await.unwrap();
}

/// `throttled_rate_per_sec` of an attempt record.
fn throttled_rate(payload: &[u8]) -> Option<u64> {
    let v: serde_json::Value = serde_json::from_slice(payload).ok()?;
    v["throttled_rate_per_sec"].as_u64()
}

/// The endpoint's adaptive rate outlives its owner: after the delivery process that brought
/// it down to the receiver's rate stops, the process that takes the endpoint over starts at
/// that rate (from the store), not at its limit. The receiver stops refusing at the handover,
/// so what the new owner sends in its first second is the rate it started at, undisturbed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_next_owner_of_an_endpoint_starts_at_the_rate_the_last_one_reached() {
    let _alone = hookline_tests::alone().await;
    let id = hookline_tests::unique("aimd-h");
    let mut first = TestPipeline::start_with(&id, &[Service::Delivery], &[]).await.unwrap();
    let ws = format!("ws-{id}");
    let rx = Receiver::start().await;
    rx.limit_per_sec(RECEIVER_LIMIT);
    let mut sub = subscription(&ws, "throttled", &rx.url("/t"));
    sub.rate_limit_per_sec = 1000;
    first.put_subscription(&sub).await.unwrap();
    let labels = [("subscription_id", "throttled"), ("workspace_id", ws.as_str())];

    // The first owner finds the receiver's rate.
    let mut ids = first.produce_dispatches(&sub, 0, 1500).await;
    let lowered = first
        .wait_metric(
            "hookline_delivery_endpoint_rate_limit",
            &labels,
            |r| r > 0.0 && r <= RECEIVER_LIMIT as f64,
            Duration::from_secs(30),
            "the first owner lowers the rate",
        )
        .await
        .unwrap();
    first.stop().await.unwrap();
    let before = rx.requests().len();
    rx.limit_per_sec(0);

    // The next owner, on the same group and store, with events still to send.
    let mut second = TestPipeline::start_with(&id, &[Service::Delivery], &[]).await.unwrap();
    ids.extend(second.produce_dispatches(&sub, 1500, 1000).await);
    let done = hookline_tests::eventually(Duration::from_secs(120), || async {
        let got: HashSet<String> = rx
            .requests()
            .iter()
            .filter(|r| r.status == 200)
            .filter_map(|r| r.header("x-webhook-id").map(str::to_string))
            .collect();
        (got == ids).then_some(())
    })
    .await;
    assert!(done.is_some(), "every event delivered across the handover");

    let after: Vec<_> = rx.requests().into_iter().skip(before).collect();
    let start = after[0].at;
    let first_second = after.iter().filter(|r| r.at < start + Duration::from_secs(1)).count();
    eprintln!(
        "handover: the first owner's rate was {lowered}/s shortly before it stopped; the next owner sent \
         {first_second} requests in its first second to the (no longer limiting) receiver, limit 1000/s, \
         {} events left for it",
        after.len()
    );
    // Starting at the limit it sent 488 in that second (this test, run with the store's rate
    // ignored); from the shared rate, that rate plus at most an additive step or two.
    assert!(
        first_second <= 3 * RECEIVER_LIMIT,
        "{first_second} requests in the new owner's first second"
    );
    second.stop().await.unwrap();
}
