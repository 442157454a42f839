//! Clicks (bot filtering, unique-click dedup in Redis, API links), conversions (join and
//! transaction-id dedup) and impressions, end to end on the real broker and Redis; the
//! dedup, join and status tests also on a Redis Cluster.

use hookline::Service;
use hookline_model::Permission::{WebhooksRead as R, WebhooksWrite as W};
use hookline_tests::{eventually, Receiver, StoreKind, TestPipeline};
use serde_json::{json, Value};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);
const HUMAN: &str =
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148 Safari/604.1";

async fn message(p: &TestPipeline, ws: &str, id: &str, broadcast: Option<&str>) {
    let mut m = TestPipeline::accepted(ws, id, &format!("c-{id}"));
    if let Some(b) = broadcast {
        m["broadcast_id"] = json!(b);
    }
    p.produce(&p.kafka.topics.accepted(), id, &serde_json::to_vec(&m).unwrap())
        .await
        .unwrap();
}

async fn post(p: &TestPipeline, path: &str, body: Value) -> u16 {
    p.ingest_post(path).json(&body).send().await.unwrap().status().as_u16()
}

fn click(message_id: &str, broadcast: Option<&str>, ua: &str) -> Value {
    let mut c = json!({"short_url": "https://hkl.ink/x1", "message_id": message_id, "recipient": "+14155551234",
                       "user_agent": ua, "ip": "203.0.113.7", "click_id": hookline_tests::unique("k")});
    if let Some(b) = broadcast {
        c["broadcast_id"] = json!(b);
    }
    c
}

/// Waits until enrich stored `n` accepted messages (a click or conversion can join them).
async fn messages_stored(p: &TestPipeline, n: usize) {
    p.wait_metric(
        "hookline_enrich_records_total",
        &[("kind", "message"), ("outcome", "stored")],
        |v| v >= n as f64,
        WAIT,
        "accepted messages stored by enrich",
    )
    .await
    .unwrap();
}

async fn metric_is(p: &TestPipeline, line: &str) -> bool {
    eventually(Duration::from_secs(15), || async {
        p.metrics().await.ok().filter(|m| m.contains(line)).map(|_| ())
    })
    .await
    .is_some()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bots_are_dropped_broadcast_clicks_are_unique_and_api_links_always_fire() {
    let mut p = TestPipeline::start().await.unwrap();
    let ws = format!("ws-{}", p.id);
    let key = p.create_key(&ws, &[R, W]).await.unwrap();
    let rx = Receiver::start().await;
    let (s, _) = p
        .put_webhooks(&key, json!({"click_url": rx.url("/c"), "unique_clicks_only": true}))
        .await
        .unwrap();
    assert_eq!(s, 200);
    message(&p, &ws, "m-b", Some("b1")).await;
    message(&p, &ws, "m-a", None).await;
    messages_stored(&p, 2).await;

    assert_eq!(post(&p, "/v1/clicks", click("m-b", Some("b1"), HUMAN)).await, 202);
    assert!(metric_is(&p, "hookline_enrich_clicks_total{outcome=\"delivered\"} 1").await);
    assert_eq!(post(&p, "/v1/clicks", click("m-b", Some("b1"), HUMAN)).await, 202); // repeat: skipped
    assert_eq!(
        post(&p, "/v1/clicks", click("m-b", Some("b1"), "facebookexternalhit/1.1")).await,
        202
    );
    let mut flagged = click("m-a", None, HUMAN);
    flagged["bot"] = json!(true);
    assert_eq!(post(&p, "/v1/clicks", flagged).await, 202);
    assert_eq!(post(&p, "/v1/clicks", click("m-a", None, HUMAN)).await, 202); // API link
    assert_eq!(post(&p, "/v1/clicks", click("m-a", None, HUMAN)).await, 202); // API link again
    assert_eq!(post(&p, "/v1/clicks", json!({"message_id": "m-a"})).await, 400);

    assert!(metric_is(&p, "hookline_enrich_clicks_total{outcome=\"bot\"} 2").await);
    assert!(metric_is(&p, "hookline_enrich_clicks_total{outcome=\"duplicate\"} 1").await);
    let got = rx
        .expect_n(3, WAIT, |_| true, "one broadcast click and two API-link clicks")
        .await;
    p.wait_settled(WAIT, "the clicks").await.unwrap();
    assert_eq!(rx.requests().len(), 3, "one broadcast click and two API-link clicks");
    let first = got.iter().find(|r| r.json()["message_id"] == "m-b").unwrap().json();
    assert_eq!(first["broadcast_id"], "b1");
    assert_eq!(first["url"], "https://hkl.ink/x1");
    assert_eq!(first["recipient"], "+14155551234");
    assert!(first["timestamp"].is_string());

    // Toggle off: a repeat broadcast click fires again.
    let version = p.workspace_version(&ws).unwrap();
    let (s, _) = p
        .put_webhooks(&key, json!({"unique_clicks_only": false}))
        .await
        .unwrap();
    assert_eq!(s, 200);
    p.wait_workspace_version(&ws, version + 1, WAIT).await.unwrap();
    assert_eq!(post(&p, "/v1/clicks", click("m-b", Some("b1"), HUMAN)).await, 202);
    rx.expect_n(
        4,
        WAIT,
        |_| true,
        "the repeat broadcast click once unique_clicks_only is off",
    )
    .await;
    p.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_clicks_on_two_enrich_replicas_fire_once() {
    concurrent_clicks_fire_once(StoreKind::Redis).await;
}

/// The same on a Redis Cluster (three masters, a replica each): the claim is one hash slot's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_clicks_on_two_enrich_replicas_fire_once_on_a_redis_cluster() {
    concurrent_clicks_fire_once(StoreKind::Cluster).await;
}

async fn concurrent_clicks_fire_once(store: StoreKind) {
    let id = hookline_tests::unique("dup");
    let mut main = TestPipeline::start_with_store(&id, &[Service::Ingest, Service::Delivery, Service::Api], &[], store)
        .await
        .unwrap();
    let mut e1 = TestPipeline::start_with_store(&id, &[Service::Enrich], &[], store)
        .await
        .unwrap();
    let mut e2 = TestPipeline::start_with_store(&id, &[Service::Enrich], &[], store)
        .await
        .unwrap();
    let ws = format!("ws-{id}");
    let key = main.create_key(&ws, &[R, W]).await.unwrap();
    let rx = Receiver::start().await;
    let (s, _) = main
        .put_webhooks(&key, json!({"click_url": rx.url("/c"), "unique_clicks_only": true}))
        .await
        .unwrap();
    assert_eq!(s, 200);
    message(&main, &ws, "m-dup", Some("b-dup")).await;
    // Both replicas have the click subscription and share the partitions, and one of them
    // stored the message.
    let version = main.workspace_version(&ws).unwrap();
    for e in [&e1, &e2] {
        e.wait_workspace_version(&ws, version, WAIT).await.unwrap();
    }
    hookline_tests::wait_group_stable(&e1.settings.enrich.group, 2, WAIT)
        .await
        .unwrap();
    let stored = eventually(WAIT, || async {
        let mut n = 0.0;
        for e in [&e1, &e2] {
            n += e
                .metric(
                    "hookline_enrich_records_total",
                    &[("kind", "message"), ("outcome", "stored")],
                )
                .await
                .ok()?;
        }
        (n >= 1.0).then_some(())
    })
    .await;
    assert!(stored.is_some(), "neither enrich replica stored m-dup within {WAIT:?}");
    // 20 clicks by the same recipient on the same broadcast, spread over both partitions (and
    // so both replicas) at the same moment.
    let topic = main.kafka.topics.link_clicks();
    for n in 0..20 {
        let c = serde_json::to_vec(&click("m-dup", Some("b-dup"), HUMAN)).unwrap();
        main.produce(&topic, &format!("k{n}"), &c).await.unwrap();
    }
    rx.expect_n(1, WAIT, |_| true, "the first click").await;
    hookline_tests::wait_settled(&[&main, &e1, &e2], WAIT, "the 20 clicks")
        .await
        .unwrap();
    assert_eq!(
        rx.requests().len(),
        1,
        "the first click fired, the other 19 were duplicates"
    );
    for p in [&mut main, &mut e1, &mut e2] {
        p.stop().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conversions_join_their_click_and_fire_once_per_transaction() {
    conversions_fire_once(StoreKind::Redis).await;
}

/// The same on a Redis Cluster: messages, clicks and conversion claims on their own slots.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conversions_join_their_click_and_fire_once_per_transaction_on_a_redis_cluster() {
    conversions_fire_once(StoreKind::Cluster).await;
}

async fn conversions_fire_once(store: StoreKind) {
    let mut p = TestPipeline::start_with_store(&hookline_tests::unique("p"), &Service::ALL, &[], store)
        .await
        .unwrap();
    let ws = format!("ws-{}", p.id);
    let key = p.create_key(&ws, &[R, W]).await.unwrap();
    let rx = Receiver::start().await;
    let (s, _) = p
        .put_webhooks(&key, json!({"conversion_url": rx.url("/v")}))
        .await
        .unwrap();
    assert_eq!(s, 200);
    message(&p, &ws, "m-c", Some("b-c")).await;
    messages_stored(&p, 1).await;
    let mut c = click("m-c", Some("b-c"), HUMAN);
    c["click_id"] = json!("click-77");
    assert_eq!(post(&p, "/v1/clicks", c).await, 202);
    // Stored (the conversion joins it) before it is counted.
    assert!(metric_is(&p, "hookline_enrich_clicks_total{outcome=\"delivered\"} 1").await);

    let track = |q: &str| p.ingest_get(&format!("/track?{q}")).send();
    let q = "click_id=click-77&event=purchase&value=19.99&currency=usd&transaction_id=tx-1";
    assert_eq!(track(q).await.unwrap().status(), 202);
    assert_eq!(
        track(q).await.unwrap().status(),
        202,
        "a repeated postback is accepted..."
    );
    assert_eq!(
        post(&p, "/v1/actions", json!({"message_id": "m-c", "event": "signup"})).await,
        202
    );
    assert_eq!(
        track("click_id=unknown-click&event=purchase").await.unwrap().status(),
        202
    );
    assert_eq!(track("event=purchase").await.unwrap().status(), 400);

    let got = rx.expect_n(2, WAIT, |_| true, "the purchase and the signup").await;
    assert!(
        metric_is(&p, "hookline_enrich_conversions_total{outcome=\"duplicate\"} 1").await,
        "...but fires once"
    );
    assert!(metric_is(&p, "hookline_enrich_conversions_total{outcome=\"unjoined\"} 1").await);
    p.wait_settled(WAIT, "the conversions").await.unwrap();
    assert_eq!(rx.requests().len(), 2);
    let purchase = got.iter().map(|r| r.json()).find(|v| v["event"] == "purchase").unwrap();
    assert_eq!(
        purchase,
        json!({"message_id": "m-c", "broadcast_id": "b-c", "recipient": "+14155551234", "event": "purchase",
               "value": 19.99, "currency": "USD", "transaction_id": "tx-1", "timestamp": purchase["timestamp"]})
    );
    let q = p
        .read_topic(&p.kafka.topics.quarantine(), WAIT, |rs| {
            rs.iter()
                .any(|r| r.header("hookline-quarantine-reason") == Some("conversion_not_joined"))
        })
        .await
        .unwrap();
    assert!(q
        .iter()
        .any(|r| r.header("hookline-quarantine-reason") == Some("conversion_not_joined")));
    p.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn impressions_fire_for_api_single_sends_only() {
    let mut p = TestPipeline::start().await.unwrap();
    let ws = format!("ws-{}", p.id);
    let key = p.create_key(&ws, &[R, W]).await.unwrap();
    let rx = Receiver::start().await;
    let (s, _) = p
        .put_webhooks(&key, json!({"impression_url": rx.url("/i")}))
        .await
        .unwrap();
    assert_eq!(s, 200);
    message(&p, &ws, "m-single", None).await;
    message(&p, &ws, "m-broadcast", Some("b9")).await;
    let got = rx.expect_n(1, WAIT, |_| true, "the impression of m-single").await;
    assert_eq!(
        got[0].json(),
        json!({"message_id": "m-single", "recipient": "+14155551234", "sender_id": "MyApp", "num_parts": 2,
               "cost": 0.0085, "timestamp": "2026-02-13T10:30:00Z"})
    );
    assert_eq!(got[0].header("x-webhook-event"), Some("impression"));
    p.wait_settled(WAIT, "both messages").await.unwrap();
    assert_eq!(rx.requests().len(), 1, "no impression for a broadcast message");
    p.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inbound_sms_fires_inbound_and_stop_fires_opt_out() {
    let mut p = TestPipeline::start().await.unwrap();
    let ws = format!("ws-{}", p.id);
    let rx = Receiver::start().await;
    // No dialect exposes these kinds yet: the subscription is written to the config topic.
    let mut sub = hookline_tests::subscription(&ws, "inbound-and-opt-out", &rx.url("/in"));
    sub.event_kinds = vec![hookline_model::EventKind::Inbound, hookline_model::EventKind::OptOut];
    p.put_subscription(&sub).await.unwrap();
    message(&p, &ws, "m-last", Some("camp-1")).await;
    messages_stored(&p, 1).await;

    let inbound = |text: &str, id: &str| {
        json!({"inbound_id": id, "workspace_id": ws, "from": "+14155551234", "to": "+14155550000", "text": text,
               "last_message_id": "m-last", "received_at": "2026-02-27T14:35:00Z"})
    };
    assert_eq!(post(&p, "/v1/inbound", inbound("Hello there", "in-1")).await, 202);
    assert_eq!(post(&p, "/v1/inbound", inbound(" Stop. ", "in-2")).await, 202);
    assert_eq!(
        post(&p, "/v1/inbound", json!({"workspace_id": ws, "text": "x"})).await,
        400
    );

    let got = rx
        .expect_n(3, WAIT, |_| true, "two inbound webhooks and one opt-out")
        .await;
    let events: Vec<&str> = got.iter().filter_map(|r| r.header("x-webhook-event")).collect();
    assert_eq!(events.iter().filter(|e| **e == "inbound").count(), 2);
    let hello = got
        .iter()
        .map(|r| r.json())
        .find(|v| v["text"] == "Hello there")
        .unwrap();
    assert_eq!(
        hello,
        json!({"inbound_id": "in-1", "from": "+14155551234", "to": "+14155550000", "text": "Hello there",
               "last_message_id": "m-last", "timestamp": "2026-02-27T14:35:00Z"})
    );
    let opt_out = got
        .iter()
        .find(|r| r.header("x-webhook-event") == Some("opt_out"))
        .unwrap()
        .json();
    assert_eq!(
        opt_out,
        json!({"phone": "+14155551234", "to": "+14155550000", "source": "keyword", "keyword": "STOP",
               "message_id": "m-last", "timestamp": "2026-02-27T14:35:00Z"})
    );
    assert!(metric_is(&p, "hookline_enrich_opt_outs_total{source=\"keyword\"} 1").await);

    // A visit to the message's opt-out link: opt-out from the link, no click.
    let mut visit = click("m-last", Some("camp-1"), HUMAN);
    visit["opt_out"] = json!(true);
    assert_eq!(post(&p, "/v1/clicks", visit).await, 202);
    let got = rx.expect_n(4, WAIT, |_| true, "the link opt-out").await;
    let link = got
        .iter()
        .map(|r| r.json())
        .find(|v| v["source"] == "link")
        .expect("link opt-out");
    assert_eq!(
        (link["phone"].as_str(), link["to"].as_str()),
        (Some("+14155551234"), Some("MyApp"))
    );
    assert_eq!(link["message_id"], "m-last");
    p.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_status_fires_and_statuses_after_a_final_one_are_flagged() {
    statuses_after_a_final_one_are_flagged(StoreKind::Redis).await;
}

/// The same on a Redis Cluster: the DLR join and the first-final-status claim.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_status_fires_and_statuses_after_a_final_one_are_flagged_on_a_redis_cluster() {
    statuses_after_a_final_one_are_flagged(StoreKind::Cluster).await;
}

async fn statuses_after_a_final_one_are_flagged(store: StoreKind) {
    let mut p = TestPipeline::start_with_store(&hookline_tests::unique("p"), &Service::ALL, &[], store)
        .await
        .unwrap();
    let ws = format!("ws-{}", p.id);
    let rx = Receiver::start().await;
    let mut sub = hookline_tests::subscription(&ws, "statuses", &rx.url("/s"));
    sub.event_kinds = vec![hookline_model::EventKind::Status];
    p.put_subscription(&sub).await.unwrap();

    p.send_accepted(&ws, "m-st", "c-st").await.unwrap();
    let statuses = [
        "id:c-st stat:ENROUTE err:000 done date:2602131030",
        "id:c-st stat:DELIVRD err:000 done date:2602131031",
        "id:c-st stat:UNDELIV err:0B1 done date:2602131032",
        "id:c-st stat:ACCEPTD err:000 done date:2602131033",
    ];
    let mut seen = 1; // the gateway's "sent"
    for dlr in statuses {
        p.send_dlr("c-st", dlr).await.unwrap();
        seen += 1;
        // One at a time, so the order at the receiver is the order of arrival.
        rx.expect_n(seen, WAIT, |_| true, dlr).await;
    }
    let got: Vec<Value> = rx.requests().iter().map(|r| r.json()).collect();
    let summary: Vec<(String, bool)> = got
        .iter()
        .map(|v| {
            (
                v["status"].as_str().unwrap().to_string(),
                v["after_final"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("sent".to_string(), false),
            ("sent".to_string(), false),
            ("delivered".to_string(), false),
            ("undelivered".to_string(), true),
            ("sent".to_string(), true),
        ]
    );
    assert_eq!(got[3]["status_code"], "0B1");
    assert_eq!(got[2]["message_id"], "m-st");
    assert!(metric_is(&p, "hookline_enrich_late_statuses_total 2").await);
    p.stop().await.unwrap();
}
