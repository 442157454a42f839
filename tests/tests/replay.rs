//! Replay of a named subscription from a point in time, through the four services against
//! Kafka and a real receiver: every event of the window again (delivered ones too), queued in
//! the original order, with the original webhook ids and `X-Webhook-Replay: true`; nothing from
//! before the window; replays never replayed; typed errors.

use hookline_model::Permission::{WebhooksRead as R, WebhooksWrite as W};
use hookline_tests::{Received, Receiver, TestPipeline};
use serde_json::{json, Value};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);

fn message(r: &Received) -> String {
    r.json()["data"]["message_ref"].as_str().unwrap().to_string()
}

/// The messages of the first `n` replay records in the dispatch topic, in topic order (one
/// endpoint's records share a partition, so this is the order they were queued in).
async fn requeued(p: &TestPipeline, n: usize) -> Vec<String> {
    let is_replay =
        |r: &hookline_tests::Record| serde_json::from_slice::<Value>(&r.payload).is_ok_and(|v| v["replay"] == true);
    let records = p
        .read_topic(&p.kafka.topics.dispatch(), WAIT, |rs| {
            rs.iter().filter(|r| is_replay(r)).count() >= n
        })
        .await
        .unwrap();
    records
        .iter()
        .filter(|r| is_replay(r))
        .take(n)
        .map(|r| {
            let v: Value = serde_json::from_slice(&r.payload).unwrap();
            v["event"]["data"]["message_id"].as_str().unwrap().to_string()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_resends_the_window_in_order_with_original_ids() {
    let mut p = TestPipeline::start().await.unwrap();
    let ws = format!("ws-{}", p.id);
    let key = p.create_key(&ws, &[R, W]).await.unwrap();
    let read_only = p.create_key(&ws, &[R]).await.unwrap();
    let rx = Receiver::start().await;
    let body = json!({"name": "Statuses", "url": rx.url("/hooks"), "event_types": ["SMS_STATUS"],
                      "filter": {"status": ["delivered"]}});
    let (s, v) = p
        .call("POST", "/api/v1/webhooks", Some(&key), Some(&body.to_string()))
        .await;
    assert_eq!(s, 201, "{v}");
    let id = v["id"].as_str().unwrap().to_string();
    let replay_path = format!("/api/v1/webhooks/{id}/replay");
    p.wait_workspace_version(&ws, p.workspace_version(&ws).unwrap(), WAIT)
        .await
        .unwrap();

    // One message before the window, three in it (one failed once, then delivered).
    p.send_delivered(&ws, "m-0").await.unwrap();
    rx.expect_n(1, WAIT, |_| true, "the message before the window").await;
    let from = chrono::Utc::now();
    rx.fail_next(1, 500);
    for m in ["m-1", "m-2", "m-3"] {
        p.send_delivered(&ws, m).await.unwrap();
        // One at a time, so the original order is known; m-1 fails once and is retried.
        let attempts = if m == "m-1" { 2 } else { 1 };
        rx.expect_n(attempts, WAIT, move |r| message(r) == m, m).await;
    }
    p.wait_settled(WAIT, "the live events").await.unwrap();
    let live: Vec<Received> = rx.requests();
    let first_ids: Vec<(String, String)> = live
        .iter()
        .filter(|r| r.header("x-webhook-replay").is_none())
        .map(|r| (message(r), r.header("x-webhook-id").unwrap().to_string()))
        .collect();
    let id_of = |m: &str| first_ids.iter().find(|(k, _)| k == m).unwrap().1.clone();

    // Typed errors, and a read-only key cannot replay.
    let call = |k: &str, b: Value| {
        let (p, k, path) = (&p, k.to_string(), replay_path.clone());
        async move { p.call("POST", &path, Some(&k), Some(&b.to_string())).await }
    };
    let from_s = from.to_rfc3339();
    assert_eq!(call(&read_only, json!({"from": from_s})).await.0, 403);
    for (b, code) in [
        (json!({}), "INVALID_FROM"),
        (json!({"from": "yesterday"}), "INVALID_FROM"),
        (json!({"from": "2999-01-01T00:00:00Z"}), "INVALID_FROM"),
        (json!({"from": from_s, "to": "2000-01-01T00:00:00Z"}), "INVALID_TO"),
        (
            json!({"from": from_s, "event_types": ["LINK_HIT"]}),
            "INVALID_EVENT_TYPE",
        ),
        (json!({"from": from_s, "event_types": []}), "INVALID_EVENT_TYPE"),
    ] {
        let (s, v) = call(&key, b.clone()).await;
        assert_eq!((s, v["error_code"].as_str()), (400, Some(code)), "{b}");
    }
    let (s, v) = p
        .call(
            "POST",
            "/api/v1/webhooks/wh_nope/replay",
            Some(&key),
            Some(&json!({"from": from_s}).to_string()),
        )
        .await;
    assert_eq!((s, v["error_code"].as_str()), (404, Some("NOT_FOUND")));

    // The window: m-1, m-2, m-3 again (m-1 once, though it was attempted twice), in order.
    let (s, v) = call(&key, json!({"from": from_s, "event_types": ["SMS_STATUS"]})).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        (v["replayed"].clone(), v["complete"].clone()),
        (json!(3), json!(true)),
        "{v}"
    );
    let replayed = rx
        .expect_n(
            3,
            WAIT,
            |r| r.header("x-webhook-replay") == Some("true"),
            "the replayed events",
        )
        .await;
    // Queued again in the original order; delivered like live traffic, with the endpoint's
    // concurrency, so the receiver may see neighbours swapped.
    assert_eq!(requeued(&p, 3).await, ["m-1", "m-2", "m-3"]);
    let mut got: Vec<String> = replayed.iter().map(message).collect();
    got.sort();
    assert_eq!(got, ["m-1", "m-2", "m-3"]);
    for r in &replayed {
        assert_eq!(
            r.header("x-webhook-id").unwrap(),
            id_of(&message(r)),
            "original webhook id"
        );
    }
    p.wait_metric(
        "hookline_api_replayed_events_total",
        &[],
        |v| v == 3.0,
        WAIT,
        "3 replayed",
    )
    .await
    .unwrap();

    // A window from before the epoch is a window from the epoch: nothing is older.
    let (s, v) = call(
        &key,
        json!({"from": "1829-11-16T21:27:15+20:10", "to": "1971-01-01T00:00:00Z"}),
    )
    .await;
    assert_eq!((s, v["replayed"].clone()), (200, json!(0)), "{v}");

    // From before everything: the four originals, never the replays.
    let (s, v) = call(
        &key,
        json!({"from": (from - chrono::Duration::minutes(5)).to_rfc3339()}),
    )
    .await;
    assert_eq!((s, v["replayed"].clone()), (200, json!(4)), "{v}");
    rx.expect_n(
        7,
        WAIT,
        |r| r.header("x-webhook-replay") == Some("true"),
        "the second replay",
    )
    .await;
    assert_eq!(requeued(&p, 7).await[3..], ["m-0", "m-1", "m-2", "m-3"]);
    p.wait_settled(WAIT, "the replays").await.unwrap();
    let replays = rx
        .requests()
        .iter()
        .filter(|r| r.header("x-webhook-replay").is_some())
        .count();
    assert_eq!(replays, 7, "no replay of a replay");
    p.stop().await.unwrap();
}
