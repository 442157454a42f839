//! Per-message status ordering through the four services against Kafka and a real receiver:
//! a status retried after a later status of its message was delivered is not sent (a skipped
//! "superseded" attempt, counted, never dead-lettered) while other messages to the same
//! endpoint go on; and a multi-part message's per-part reports make one delivery webhook.

use hookline::Service;
use hookline_model::Permission::{WebhooksRead as R, WebhooksWrite as W};
use hookline_tests::{eventually, unique, Received, Receiver, TestPipeline};
use serde_json::{json, Value};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);

/// The message ref and status of a named status webhook.
fn status_of(r: &Received) -> (String, String) {
    let v = r.json();
    let field = |k: &str| v["data"][k].as_str().unwrap_or_default().to_string();
    (field("message_ref"), field("status"))
}

fn is(r: &Received, m: &str, status: &str) -> bool {
    status_of(r) == (m.to_string(), status.to_string())
}

/// Whether `m`'s `status` was answered 2xx among `requests`.
fn got(requests: &[Received], m: &str, status: &str) -> bool {
    requests.iter().any(|r| is(r, m, status) && r.status == 200)
}

/// Produces message `m`'s acceptance (its `sent` status).
async fn accept(p: &TestPipeline, ws: &str, m: &str) {
    p.send_accepted(ws, m, &format!("c-{m}")).await.unwrap();
}

/// Produces message `m`'s DELIVRD report (its `delivered` status).
async fn report(p: &TestPipeline, m: &str) {
    let carrier = format!("c-{m}");
    p.send_dlr(&carrier, &format!("id:{carrier} stat:DELIVRD err:000"))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_status_retried_after_a_later_one_was_delivered_is_skipped_and_other_messages_go_on() {
    // Named retries 5 s and 15 s apart: m2's whole round (accepted, `sent`, reported,
    // `delivered`) fits before m1's `sent` is retried, even on a busy machine.
    let mut p = TestPipeline::start_with(&unique("ord"), &Service::ALL, &["--retry-delay-scale=0.5"])
        .await
        .unwrap();
    let ws = format!("ws-{}", p.id);
    let key = p.create_key(&ws, &[R, W]).await.unwrap();
    let rx = Receiver::start().await;
    // m1's `sent` fails until m1's `delivered` and m2's `delivered` were answered: whatever
    // the timing, m1's `sent` is due for a retry after a later status of m1 got through, and
    // m2 has to get through while m1's retry is pending.
    rx.fail_when(500, |r, before| {
        is(r, "m1", "sent") && !(got(before, "m1", "delivered") && got(before, "m2", "delivered"))
    });
    let body = json!({"name": "Statuses", "url": rx.url("/s"), "event_types": ["SMS_STATUS"]});
    let (s, created) = p
        .call("POST", "/api/v1/webhooks", Some(&key), Some(&body.to_string()))
        .await;
    assert_eq!(s, 201, "{created}");
    p.wait_workspace_version(&ws, p.workspace_version(&ws).unwrap(), WAIT)
        .await
        .unwrap();

    accept(&p, &ws, "m1").await;
    rx.expect_n(1, WAIT, |r| is(r, "m1", "sent"), "m1's sent, failed").await;
    report(&p, "m1").await;
    // Each report after its `sent` got through, so that only m1's `sent` is ever superseded.
    accept(&p, &ws, "m2").await;
    rx.expect_n(1, WAIT, |r| is(r, "m2", "sent"), "m2's sent").await;
    report(&p, "m2").await;
    let superseded = [("event_type", "status")];
    p.wait_metric(
        "hookline_delivery_superseded_total",
        &superseded,
        |v| v >= 1.0,
        WAIT,
        "m1's sent superseded",
    )
    .await
    .unwrap();
    p.wait_settled(WAIT, "every status").await.unwrap();

    // The receiver never got m1's `sent` after m1's `delivered`, and m2's statuses (in
    // order) came while m1's `sent` waited for its retry.
    let all = rx.requests();
    let m1: Vec<(String, u16)> = all
        .iter()
        .filter(|r| status_of(r).0 == "m1")
        .map(|r| (status_of(r).1, r.status))
        .collect();
    let delivered_at = m1.iter().position(|s| s.0 == "delivered").expect("m1's delivered");
    assert!(
        m1[delivered_at..].iter().all(|s| s.0 != "sent"),
        "no sent after delivered: {m1:?}"
    );
    assert!(m1.iter().all(|s| s.0 != "sent" || s.1 == 500), "{m1:?}");
    let m2: Vec<&str> = all
        .iter()
        .filter(|r| status_of(r).0 == "m2" && r.status == 200)
        .map(|r| if is(r, "m2", "sent") { "sent" } else { "delivered" })
        .collect();
    assert_eq!(m2, ["sent", "delivered"]);
    assert_eq!(
        p.metric("hookline_delivery_superseded_total", &superseded)
            .await
            .unwrap(),
        1.0
    );

    // The log shows the skipped attempt and why; nothing was dead-lettered.
    let sent_webhook = all.iter().find(|r| is(r, "m1", "sent")).unwrap();
    let sent_id = sent_webhook.header("webhook-id").expect("webhook-id").to_string();
    let logs = eventually(WAIT, || async {
        let (_, v) = p.call("GET", "/api/v1/user/webhooks/logs", Some(&key), None).await;
        let mine: Vec<Value> = v["logs"]
            .as_array()?
            .iter()
            .filter(|l| l["webhook_id"] == sent_id.as_str())
            .cloned()
            .collect();
        mine.iter().any(|l| l["outcome"] == "skipped").then_some(mine)
    })
    .await
    .expect("the skipped attempt of m1's sent in the log");
    let skipped = logs.iter().find(|l| l["outcome"] == "skipped").unwrap();
    let why = skipped["error"].as_str().unwrap();
    assert!(why.starts_with("superseded by delivered (occurred "), "{why}");
    assert_eq!(skipped["dead_lettered"], false);
    assert!(logs.iter().any(|l| l["outcome"] == "failed"), "{logs:?}");
    let m2_delivered = all.iter().find(|r| is(r, "m2", "delivered")).unwrap();
    let skipped_ms = chrono::DateTime::parse_from_rfc3339(skipped["attempted_at"].as_str().unwrap())
        .unwrap()
        .timestamp_millis();
    // The log's times are whole seconds.
    assert!(
        m2_delivered.wall_ms < skipped_ms + 1000,
        "m2 was delivered before m1's sent was retried (and skipped)"
    );
    assert!(m2_delivered.wall_ms > sent_webhook.wall_ms, "after m1's first attempt");
    let (_, dead) = p
        .call("GET", "/api/v1/user/webhooks/dead-letters", Some(&key), None)
        .await;
    assert_eq!(dead["dead_letters"], json!([]), "{dead}");
    p.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_part_reports_of_a_multi_part_message_make_one_delivery_webhook() {
    let mut p = TestPipeline::start().await.unwrap();
    let ws = format!("ws-{}", p.id);
    let key = p.create_key(&ws, &[R, W]).await.unwrap();
    let (t23, named) = (Receiver::start().await, Receiver::start().await);
    let (s, v) = p
        .put_webhooks(
            &key,
            json!({"delivery_url": t23.url("/d"), "delivery_fields": ["message_id", "status", "num_parts"]}),
        )
        .await
        .unwrap();
    assert_eq!(s, 200, "{v}");
    let body = json!({"name": "Statuses", "url": named.url("/s"), "event_types": ["SMS_STATUS"]});
    assert_eq!(
        p.call("POST", "/api/v1/webhooks", Some(&key), Some(&body.to_string()))
            .await
            .0,
        201
    );
    p.wait_workspace_version(&ws, p.workspace_version(&ws).unwrap(), WAIT)
        .await
        .unwrap();

    // A two-part message (the harness's accepted messages have num_parts 2) and the carrier's
    // report for each part: same carrier id, parts done a second apart.
    p.send_accepted(&ws, "m-parts", "c-parts").await.unwrap();
    named.expect_n(1, WAIT, |_| true, "the sent status").await;
    for done in ["2602131031", "2602131032"] {
        p.send_dlr("c-parts", &format!("id:c-parts stat:DELIVRD err:000 done date:{done}"))
            .await
            .unwrap();
    }
    named.expect_n(3, WAIT, |_| true, "sent and both part reports").await;
    p.wait_settled(WAIT, "both part reports").await.unwrap();

    // One 23 Telecom delivery webhook for the message, with its part count.
    let reports: Vec<Value> = t23.requests().iter().map(|r| r.json()).collect();
    assert_eq!(
        reports,
        [json!({"message_id": "m-parts", "status": "DELIVRD", "num_parts": 2})]
    );
    // Every report is a status event; the second part's is flagged after the final one.
    let statuses: Vec<(String, bool)> = named
        .requests()
        .iter()
        .map(|r| {
            let v = r.json();
            (
                v["data"]["status"].as_str().unwrap().to_string(),
                v["data"]["after_final"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        statuses,
        [
            ("sent".to_string(), false),
            ("delivered".to_string(), false),
            ("delivered".to_string(), true)
        ]
    );
    p.stop().await.unwrap();
}
