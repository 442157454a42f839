//! The delivery engine against the real broker: retry schedule and never-early retries, the
//! dead-letter topic and re-sending, rate limits across two delivery replicas, isolation of a
//! slow endpoint, and nothing lost when a delivery process is killed.

use hookline::Service;
use hookline_model::Permission::{WebhooksRead as R, WebhooksWrite as W};
use hookline_model::RetryPolicy;
use hookline_tests::{eventually, subscription, workspace, Receiver, TestPipeline};
use serde_json::{json, Value};
use std::collections::HashSet;
use std::time::{Duration, Instant};

fn attempts_of(rx: &Receiver) -> Vec<(Instant, String, String)> {
    rx.requests()
        .into_iter()
        .map(|r| {
            let id = r.header("x-webhook-id").unwrap_or_default().to_string();
            let n = r.header("x-webhook-attempt").unwrap_or_default().to_string();
            (r.at, id, n)
        })
        .collect()
}

/// Configures `sub` alone in its workspace, dispatches one event to it and waits (60 s at
/// most) for its first `attempts` requests at `rx`.
async fn attempts_of_one_event(
    p: &TestPipeline,
    rx: &Receiver,
    sub: &hookline_model::Subscription,
    attempts: usize,
    what: &str,
) -> Vec<hookline_tests::Received> {
    p.put_subscription(sub).await.unwrap();
    p.dispatch(sub, 1).await.unwrap();
    rx.expect_n(attempts, Duration::from_secs(60), |_| true, what).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_deliveries_retry_after_10_and_30_seconds_never_earlier() {
    let mut p = TestPipeline::start().await.unwrap();
    let ws = format!("ws-{}", p.id);
    let key = p.create_key(&ws, &[R, W]).await.unwrap();
    let rx = Receiver::start().await;
    rx.fail_next(2, 500);
    let (s, _) = p
        .put_webhooks(&key, json!({"delivery_url": rx.url("/d")}))
        .await
        .unwrap();
    assert_eq!(s, 200);
    p.send_accepted(&ws, "m-retry", "c-retry").await.unwrap();
    p.send_dlr("c-retry", "id:c-retry stat:DELIVRD").await.unwrap();

    let got = rx
        .expect_n(
            3,
            Duration::from_secs(60),
            |_| true,
            "the first attempt and two retries",
        )
        .await;
    assert_eq!(got.len(), 3, "three attempts");
    let a = attempts_of(&rx);
    assert!(
        a.iter().all(|(_, id, _)| *id == a[0].1),
        "one webhook id for every attempt"
    );
    assert_eq!(
        a.iter().map(|(_, _, n)| n.as_str()).collect::<Vec<_>>(),
        ["1", "2", "3"]
    );
    let gap1 = a[1].0 - a[0].0;
    let gap2 = a[2].0 - a[1].0;
    assert!(
        gap1 >= Duration::from_secs(10),
        "second attempt {gap1:?} after the first"
    );
    assert!(
        gap2 >= Duration::from_secs(30),
        "third attempt {gap2:?} after the second"
    );
    eprintln!(
        "retry lateness at the receiver: attempt 2 +{} ms, attempt 3 +{} ms",
        (gap1 - Duration::from_secs(10)).as_millis(),
        (gap2 - Duration::from_secs(30)).as_millis()
    );

    // The log shows every attempt, the schedule and the final success.
    let logs = eventually(Duration::from_secs(10), || async {
        let v = p.user_get(&key, "/api/v1/user/webhooks/logs").await.ok()?;
        let logs = v["logs"].as_array()?.clone();
        (logs.len() == 3).then_some(logs)
    })
    .await
    .expect("three attempts logged");
    assert_eq!(
        (logs[0]["attempt"].as_u64(), logs[0]["outcome"].as_str()),
        (Some(3), Some("delivered"))
    );
    assert_eq!(
        (logs[2]["attempt"].as_u64(), logs[2]["response_code"].as_u64()),
        (Some(1), Some(500))
    );
    assert!(logs[2]["next_attempt_at"].is_string() && logs[1]["next_attempt_at"].is_string());
    let metrics = p.metrics().await.unwrap();
    assert!(
        metrics.contains("hookline_delivery_retries_scheduled_total{tier=\"10\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("hookline_delivery_retries_scheduled_total{tier=\"30\"} 1"));
    // Each retry was held in its tier once and released at or after its due time: the
    // lateness histogram has one observation per tier, and what it measured (release minus
    // due time, due time = failure + delay) is at most what the receiver saw past the delay
    // (its next request follows the release; the failure follows its previous request).
    for (tier, gap_ms) in [
        (10, got[1].wall_ms - got[0].wall_ms),
        (30, got[2].wall_ms - got[1].wall_ms),
    ] {
        let topic = p.kafka.topics.retry_tier(tier);
        let labels = [("topic", topic.as_str())];
        let name = "hookline_delivery_delayed_record_lateness_seconds";
        let count = hookline_tests::metric_value(&metrics, &format!("{name}_count"), &labels);
        let sum = hookline_tests::metric_value(&metrics, &format!("{name}_sum"), &labels);
        eprintln!("lateness metric, {tier} s tier: {count} record(s), {sum} s");
        assert_eq!(count, 1.0, "one retry released from {topic}: {metrics}");
        let seen_late_ms = (gap_ms - tier as i64 * 1000) as f64;
        assert!(
            sum * 1000.0 <= seen_late_ms + 5.0,
            "{tier} s tier: lateness metric {sum} s, but the receiver saw the retry {seen_late_ms} ms past its delay"
        );
    }
    assert!(
        metrics.contains("hookline_delivery_consumer_lag_records{topic="),
        "lag reported from librdkafka statistics"
    );
    p.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smsedge_policy_with_scaled_tiers() {
    // 6 h delays scaled by 0.0005: 10.8 s.
    let mut p = TestPipeline::start_scaled("sme", "0.0005").await.unwrap();
    let ws = format!("ws-{}", p.id);
    let rx = Receiver::start().await;
    // 500, not 429: a 429 asks for less and is retried without using an attempt.
    rx.fail_next(2, 500);
    let mut sub = subscription(&ws, "smsedge-dlr", &rx.url("/dlr"));
    sub.retry = RetryPolicy::smsedge();
    let got = attempts_of_one_event(&p, &rx, &sub, 3, "the first attempt and two retries").await;
    let tier = Duration::from_millis(10_800);
    assert!(got[1].at - got[0].at >= tier, "{:?}", got[1].at - got[0].at);
    assert!(got[2].at - got[1].at >= tier, "{:?}", got[2].at - got[1].at);
    let metrics = p.metrics().await.unwrap();
    assert!(
        metrics.contains("hookline_delivery_retries_scheduled_total{tier=\"21600\"} 2"),
        "{metrics}"
    );
    p.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_is_not_retried_before_its_time() {
    let mut p = TestPipeline::start().await.unwrap();
    let ws = format!("ws-{}", p.id);
    let rx = Receiver::start().await;
    rx.fail_next(1, 429);
    rx.add_header("Retry-After", "20");
    let sub = subscription(&ws, "limited", &rx.url("/x"));
    let got = attempts_of_one_event(&p, &rx, &sub, 2, "the 429 attempt and its retry after Retry-After").await;
    assert!(
        got[1].at - got[0].at >= Duration::from_secs(20),
        "{:?}",
        got[1].at - got[0].at
    );
    p.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exhausted_events_are_dead_lettered_and_can_be_resent() {
    // The 23 Telecom policy scaled by 0.1: 1 s and 3 s.
    let mut p = TestPipeline::start_scaled("dead", "0.1").await.unwrap();
    let ws = format!("ws-{}", p.id);
    let key = p.create_key(&ws, &[R, W]).await.unwrap();
    let rx = Receiver::start().await;
    rx.respond_with(500);
    let (s, _) = p
        .put_webhooks(&key, json!({"delivery_url": rx.url("/d")}))
        .await
        .unwrap();
    assert_eq!(s, 200);
    p.send_accepted(&ws, "m-dead", "c-dead").await.unwrap();
    p.send_dlr("c-dead", "id:c-dead stat:DELIVRD").await.unwrap();

    let dead = p
        .read_topic(&p.kafka.topics.dead(), Duration::from_secs(30), |rs| !rs.is_empty())
        .await
        .unwrap();
    assert_eq!(dead.len(), 1);
    let letter: Value = serde_json::from_slice(&dead[0].payload).unwrap();
    assert_eq!(
        (letter["attempts"].as_u64(), letter["last_error"].as_str()),
        (Some(3), Some("HTTP 500"))
    );
    // The dead letter is written after the third attempt failed: no attempt can follow it.
    assert_eq!(rx.requests().len(), 3, "exactly three attempts");

    // Listed for the workspace...
    let list = eventually(Duration::from_secs(10), || async {
        let v = p.user_get(&key, "/api/v1/user/webhooks/dead-letters").await.ok()?;
        (v["count"] == 1).then_some(v)
    })
    .await
    .expect("dead letter listed");
    assert_eq!(list["dead_letters"][0]["subscription_id"], "t23-delivery");
    assert_eq!(list["dead_letters"][0]["attempts"], 3);

    // ...and re-sent once the receiver is back.
    rx.respond_with(200);
    let r = p
        .http
        .post(p.api("/admin/v1/dead-letters/resend"))
        .bearer_auth(hookline_tests::ADMIN_TOKEN)
        .json(&json!({"workspace_id": ws, "subscription_id": "t23-delivery", "from": "2020-01-01T00:00:00Z"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["resent"], 1);
    let got = rx
        .expect_n(4, Duration::from_secs(20), |_| true, "the re-sent dead letter")
        .await;
    assert_eq!(
        got[3].header("x-webhook-id"),
        got[0].header("x-webhook-id"),
        "same webhook id"
    );
    assert_eq!(got[3].header("x-webhook-attempt"), Some("1"), "a fresh policy");
    let after = p.user_get(&key, "/api/v1/user/webhooks/dead-letters").await.unwrap();
    assert_eq!(after["count"], 0, "re-sent letters leave the list");
    p.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limit_holds_with_two_delivery_replicas() {
    let id = hookline_tests::unique("rate");
    let mut main = TestPipeline::start_with(&id, &[Service::Api], &[]).await.unwrap();
    let mut r1 = TestPipeline::start_with(&id, &[Service::Delivery], &[]).await.unwrap();
    let mut r2 = TestPipeline::start_with(&id, &[Service::Delivery], &[]).await.unwrap();
    let ws = format!("ws-{id}");
    let rx = Receiver::start().await;
    let mut sub = subscription(&ws, "limited", &rx.url("/r"));
    sub.rate_limit_per_sec = 50;
    main.put_subscription(&sub).await.unwrap();
    // Both replicas hold partitions before the burst.
    hookline_tests::wait_group_stable(&format!("{id}-delivery"), 2, Duration::from_secs(60))
        .await
        .unwrap();
    let total = 200;
    for n in 0..total {
        main.dispatch(&sub, n).await.unwrap();
    }
    let got = rx
        .expect_n(total, Duration::from_secs(60), |_| true, "every event of the burst")
        .await;
    let ids: HashSet<_> = got
        .iter()
        .filter_map(|r| r.header("x-webhook-id").map(str::to_string))
        .collect();
    assert_eq!(ids.len(), total, "every event delivered");
    let mut times: Vec<Instant> = got.iter().map(|r| r.at).collect();
    times.sort();
    let mut worst = 0;
    for (i, t) in times.iter().enumerate() {
        let in_window = times[i..]
            .iter()
            .take_while(|u| **u < *t + Duration::from_secs(1))
            .count();
        worst = worst.max(in_window);
    }
    eprintln!("rate limit 50/s, two replicas: busiest one-second window at the receiver had {worst} requests");
    assert!(worst <= 50, "a one-second window had {worst} requests");
    for p in [&mut main, &mut r1, &mut r2] {
        p.stop().await.unwrap();
    }
}

/// Latency (dispatch produced → receiver) of `n` healthy deliveries, with `2n` events to a
/// slow endpoint sent first into the same partition (more than its in-flight bound plus queue,
/// so some overflow to a retry tier).
async fn healthy_latency(
    p: &TestPipeline,
    healthy: &hookline_model::Subscription,
    slow: Option<&hookline_model::Subscription>,
    rx: &Receiver,
    n: usize,
    base: usize,
) -> Vec<Duration> {
    if let Some(slow) = slow {
        for i in 0..2 * n {
            p.dispatch(slow, base + i).await.unwrap();
        }
    }
    let mut sent = Vec::new();
    for i in 0..n {
        let at = Instant::now();
        let id = p.dispatch(healthy, base + i).await.unwrap();
        sent.push((id, at));
    }
    let got = rx
        .expect_n(
            base + n,
            Duration::from_secs(30),
            |_| true,
            "the healthy endpoint's events",
        )
        .await;
    sent.iter()
        .map(|(id, at)| {
            let r = got
                .iter()
                .find(|r| r.header("x-webhook-id") == Some(id.as_str()))
                .expect("healthy delivered");
            r.at.saturating_duration_since(*at)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_endpoint_does_not_hold_up_a_healthy_one_in_the_same_partition() {
    // One partition: both endpoints share it.
    let mut p = TestPipeline::start_partitioned(
        &hookline_tests::unique("iso"),
        &[Service::Delivery, Service::Api],
        &["--endpoint-queue=16"],
        1,
    )
    .await
    .unwrap();
    let ws = format!("ws-{}", p.id);
    let healthy_rx = Receiver::start().await;
    let slow_rx = Receiver::start().await;
    slow_rx.delay(Duration::from_secs(10));
    let healthy = subscription(&ws, "healthy", &healthy_rx.url("/ok"));
    let mut slow = subscription(&ws, "slow", &slow_rx.url("/slow"));
    slow.timeout_ms = 3000;
    p.put_workspace(&workspace(&ws, vec![healthy.clone(), slow.clone()]))
        .await
        .unwrap();

    let n = 50;
    let alone = healthy_latency(&p, &healthy, None, &healthy_rx, n, 0).await;
    let started = Instant::now();
    let with_slow = healthy_latency(&p, &healthy, Some(&slow), &healthy_rx, n, n).await;
    let healthy_done = started.elapsed();
    let pct = |v: &[Duration], q: f64| {
        let mut v = v.to_vec();
        v.sort();
        v[((v.len() as f64 * q).ceil() as usize).saturating_sub(1)]
    };
    eprintln!(
        "healthy endpoint latency, alone: p50 {:?} p99 {:?}; with a slow neighbour: p50 {:?} p99 {:?}",
        pct(&alone, 0.5),
        pct(&alone, 0.99),
        pct(&with_slow, 0.5),
        pct(&with_slow, 0.99)
    );
    // The slow endpoint's first requests only time out after 3 s: every healthy delivery
    // queued behind them in the partition arrived well before that.
    let worst = with_slow.iter().max().copied().unwrap_or_default();
    assert!(
        worst < Duration::from_secs(3),
        "a healthy delivery took {worst:?} ({healthy_done:?} for all)"
    );
    let metrics = p.metrics().await.unwrap();
    assert!(
        metrics.contains("hookline_delivery_deferred_total{reason=\"saturated\"}"),
        "slow endpoint overflowed: {metrics}"
    );
    p.stop().await.unwrap();
}

fn delivery_binary() -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap();
    let bin = dir.join("hookline-delivery");
    assert!(
        bin.exists(),
        "{} is missing: build the workspace binaries first (scripts/test.sh does)",
        bin.display()
    );
    bin
}

fn spawn_delivery(id: &str, settings_key: &str, log: &std::path::Path) -> tokio::process::Child {
    tokio::process::Command::new(delivery_binary())
        .env("HOOKLINE_KAFKA_BROKERS", hookline_tests::brokers())
        .env("HOOKLINE_TOPIC_PREFIX", format!("{id}."))
        .env("HOOKLINE_TOPIC_PARTITIONS", "2")
        .env("HOOKLINE_DELIVERY_GROUP", format!("{id}-delivery"))
        .env("HOOKLINE_REDIS_URL", hookline_tests::redis_url())
        .env("HOOKLINE_REDIS_KEY_PREFIX", format!("{id}:"))
        .env("HOOKLINE_ALLOW_HTTP_URLS", "true")
        .env("HOOKLINE_ALLOW_CIDRS", "127.0.0.0/8")
        .env("HOOKLINE_ADMIN_ADDR", "127.0.0.1:0")
        .env("HOOKLINE_SECRET_KEY", settings_key)
        .env("RUST_LOG", "warn")
        // A small per-endpoint queue: the backlog after the restart (seconds of a 600/s load)
        // overflows into the retry tiers, so crash recovery covers the dispatch topic and the
        // deferral path together. 32 was not always enough on a loaded 2-core machine, where
        // the restarted process could fetch its backlog no faster than 16 requests drained it.
        .env("HOOKLINE_ENDPOINT_QUEUE", "4")
        // Static membership (a feature: HOOKLINE_GROUP_INSTANCE_ID): the restarted process takes
        // its partitions back at once instead of after the dead member's session expires. The
        // default, dynamic membership, is tested by the fault tests (tests/faults: a killed
        // replica's partitions go to the survivor).
        .env("HOOKLINE_GROUP_INSTANCE_ID", format!("{id}-delivery-0"))
        .stdout(std::fs::File::create(log).unwrap())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start hookline-delivery")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_of_a_delivery_process_loses_nothing() {
    let id = hookline_tests::unique("kill");
    let mut p = TestPipeline::start_with(&id, &[Service::Api], &[]).await.unwrap();
    let key = p.settings.security.secret_key.clone().unwrap();
    let ws = format!("ws-{id}");
    let rx = Receiver::start().await;
    // 20 ms per answer: 16 in flight drain at most 800/s, slower than the restarted process
    // hands out its backlog, so the backlog overflows the endpoint's queue whatever the
    // broker's fetch speed (on Kafka, with instant answers, it sometimes never did).
    rx.delay(Duration::from_millis(20));
    let sub = subscription(&ws, "many", &rx.url("/k"));
    p.put_subscription(&sub).await.unwrap();

    let logs = hookline_tests::run_dir("kill");
    let mut delivery = spawn_delivery(&id, &key, &logs.join("kill-1.log"));
    let total = 3000;
    // Events keep arriving, about 600/s, while the process is killed and restarted.
    let producer = {
        let (producer, topics, sub) = (p.producer.clone(), p.kafka.topics.clone(), sub.clone());
        tokio::spawn(async move {
            let mut ids = HashSet::new();
            for n in 0..total {
                let d = hookline_tests::dispatch_record(&sub, n);
                producer
                    .send_json(
                        &topics.dispatch(),
                        &sub.endpoint_key(),
                        &d,
                        &[("hookline-attempt", b"1")],
                    )
                    .await
                    .unwrap();
                ids.insert(d.dispatch_id);
                if n % 60 == 59 {
                    // The pace of the load (about 600/s), not a wait.
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
            ids
        })
    };
    // Kill it hard once a third has arrived, mid-stream.
    let partial = rx.wait_for(total / 3, Duration::from_secs(60), |_| true).await;
    assert!(partial.len() >= total / 3, "delivery made progress before the kill");
    delivery.start_kill().unwrap();
    delivery.wait().await.unwrap();
    let at_kill = rx.requests().len();
    eprintln!("killed with {at_kill} of {total} received");
    assert!(at_kill < total * 2 / 3, "the kill happened mid-run");

    let mut restarted = spawn_delivery(&id, &key, &logs.join("kill-2.log"));
    let ids = producer.await.unwrap();
    let all = eventually(Duration::from_secs(120), || async {
        let seen: HashSet<String> = rx
            .requests()
            .iter()
            .filter_map(|r| r.header("x-webhook-id").map(str::to_string))
            .collect();
        (seen.len() >= total).then_some(seen)
    })
    .await
    .unwrap_or_else(|| {
        let seen: HashSet<String> = rx
            .requests()
            .iter()
            .filter_map(|r| r.header("x-webhook-id").map(str::to_string))
            .collect();
        panic!(
            "after the restart only {} of {total} events arrived ({} requests)",
            seen.len(),
            rx.requests().len()
        )
    });
    assert_eq!(all, ids, "exactly the dispatched events, each at least once");
    let deferred = p
        .read_topic(&p.kafka.topics.retry_tier(10), Duration::from_secs(10), |r| {
            !r.is_empty()
        })
        .await
        .unwrap();
    assert!(
        !deferred.is_empty(),
        "the restart backlog overflowed into the first retry tier"
    );
    eprintln!(
        "received {} requests for {total} events (duplicates after the kill carry the same id)",
        rx.requests().len()
    );
    // SIGTERM: the process drains, commits and exits cleanly within its grace period.
    let pid = restarted.id().expect("running").to_string();
    assert!(std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let status = tokio::time::timeout(Duration::from_secs(25), restarted.wait())
        .await
        .expect("exited within the drain timeout")
        .unwrap();
    assert!(status.success(), "clean exit after SIGTERM: {status}");
    p.stop().await.unwrap();
    // The processes' logs are kept only when the test fails.
    let _ = std::fs::remove_dir_all(&logs);
}
