//! Failover URLs (issue 17) through the four services against Kafka and real receivers: a named
//! subscription whose primary answers 503 fails over to its failover URL after `failover_after`
//! consecutive failures, the attempt log says which URL each attempt used, the primary gets
//! signed pings meanwhile, and once it answers, traffic returns to it, with no event lost. Also
//! the API's checks of `failover_url` (URL policy, different from `url`, `null` clears it).

use hookline::Service;
use hookline_model::Permission::{WebhooksRead as R, WebhooksWrite as W};
use hookline_tests::{eventually, reference_signature, unique, Received, Receiver, TestPipeline};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);
const HOOKS: &str = "/api/v1/webhooks";

fn is_event(r: &Received) -> bool {
    r.header("x-webhook-event") == Some("SMS_STATUS")
}

fn is_ping(r: &Received) -> bool {
    r.header("x-webhook-event") == Some("ping")
}

/// The message refs of the events among `requests`.
fn refs(requests: &[Received]) -> BTreeSet<String> {
    requests
        .iter()
        .filter(|r| is_event(r))
        .map(|r| r.json()["data"]["message_ref"].as_str().unwrap().to_string())
        .collect()
}

fn set(ms: &[&str]) -> BTreeSet<String> {
    ms.iter().map(|m| m.to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fails_over_probes_the_primary_and_fails_back_without_losing_events() {
    // Named retries 1 s and 3 s apart; the primary probed every 200 ms while failed over.
    let mut p = TestPipeline::start_with(
        &unique("fo"),
        &Service::ALL,
        &["--retry-delay-scale=0.1", "--failover-probe-interval-ms=200"],
    )
    .await
    .unwrap();
    let ws = format!("ws-{}", p.id);
    let key = p.create_key(&ws, &[R, W]).await.unwrap();
    let primary = Receiver::start().await;
    primary.respond_with(503);
    let backup = Receiver::start().await;
    let (a_url, b_url) = (primary.url("/primary"), backup.url("/backup"));

    // The API: the URL policy applies to failover_url (the SSRF check included), it must
    // differ from url, and null clears it.
    let create = |extra: Value| {
        let mut body = json!({"name": "Failover", "url": a_url, "event_types": ["SMS_STATUS"],
                              "filter": {"status": ["delivered"]}});
        body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        let (p, key) = (&p, &key);
        async move { p.call("POST", HOOKS, Some(key), Some(&body.to_string())).await }
    };
    for bad in [
        json!({"failover_url": "http://169.254.169.254/latest/meta-data"}),
        json!({"failover_url": "http://10.1.2.3/h"}),
        json!({"failover_url": a_url}),
        json!({"failover_url": 7}),
    ] {
        let (s, v) = create(bad.clone()).await;
        assert_eq!(
            (s, v["error_code"].as_str()),
            (400, Some("INVALID_FAILOVER_URL")),
            "{bad}: {v}"
        );
    }
    let (s, v) = create(json!({"failover_url": b_url, "failover_after": 0})).await;
    assert_eq!(
        (s, v["error_code"].as_str()),
        (400, Some("INVALID_FAILOVER_AFTER")),
        "{v}"
    );
    let (s, tmp) = create(json!({"failover_url": b_url})).await;
    assert_eq!(
        (s, &tmp["failover_url"], &tmp["failover_after"]),
        (201, &json!(b_url), &json!(3))
    );
    let tmp_path = format!("{HOOKS}/{}", tmp["id"].as_str().unwrap());
    let (s, v) = p
        .call("PATCH", &tmp_path, Some(&key), Some(r#"{"failover_url":null}"#))
        .await;
    assert_eq!((s, &v["failover_url"]), (200, &Value::Null), "{v}");
    let (s, v) = p.call("GET", &tmp_path, Some(&key), None).await;
    assert_eq!((s, &v["failover_url"]), (200, &Value::Null), "{v}");
    assert_eq!(p.call("DELETE", &tmp_path, Some(&key), None).await.0, 204);

    // The subscription under test: fail over after 2 failures in a row.
    let (s, created) = create(json!({"failover_url": b_url, "failover_after": 2})).await;
    assert_eq!(s, 201, "{created}");
    assert_eq!(
        (&created["failover_url"], &created["failover_after"]),
        (&json!(b_url), &json!(2))
    );
    let secret = created["signing_secret"].as_str().unwrap().to_string();
    p.wait_workspace_version(&ws, p.workspace_version(&ws).unwrap(), WAIT)
        .await
        .unwrap();

    // Two events fail at the primary: the endpoint fails over, and their retries go to the
    // failover URL.
    p.send_delivered(&ws, "m1").await.unwrap();
    p.send_delivered(&ws, "m2").await.unwrap();
    primary
        .expect_n(2, WAIT, is_event, "the first attempts, at the primary")
        .await;
    p.wait_metric(
        "hookline_delivery_failovers_total",
        &[],
        |v| v >= 1.0,
        WAIT,
        "failed over",
    )
    .await
    .unwrap();
    // Events sent now go straight to the failover URL.
    p.send_delivered(&ws, "m3").await.unwrap();
    p.send_delivered(&ws, "m4").await.unwrap();
    let at_backup = backup.expect_n(4, WAIT, is_event, "m1 to m4 at the failover URL").await;
    assert_eq!(refs(&at_backup), set(&["m1", "m2", "m3", "m4"]));
    for r in &at_backup {
        // Same headers and signature as at the primary.
        let ts = r.header("x-webhook-timestamp").unwrap();
        assert_eq!(
            r.header("x-webhook-signature").unwrap(),
            reference_signature(&secret, ts, &r.body)
        );
    }
    // Exactly the threshold's failures reached the primary (first attempts, or a first
    // attempt's retry when the second event came later), and never m3 or m4.
    let failed_at_primary: Vec<Received> = primary.requests().into_iter().filter(is_event).collect();
    assert_eq!(failed_at_primary.len(), 2, "{:?}", refs(&failed_at_primary));
    let first_at_primary = refs(&failed_at_primary);
    assert!(first_at_primary.is_subset(&set(&["m1", "m2"])), "{first_at_primary:?}");

    // The primary is probed meanwhile: signed pings, not events.
    let pings = primary.expect_n(2, WAIT, is_ping, "pings of the primary").await;
    for ping in &pings {
        assert_eq!(ping.path, "/primary");
        assert_eq!(ping.json()["type"], "ping");
        assert!(ping.header("x-webhook-attempt").is_none());
        let ts = ping.header("x-webhook-timestamp").unwrap();
        assert_eq!(
            ping.header("x-webhook-signature").unwrap(),
            reference_signature(&secret, ts, &ping.body),
            "pings are signed like events"
        );
    }
    assert!(
        p.metric("hookline_delivery_probes_total", &[("outcome", "failed")])
            .await
            .unwrap()
            >= 2.0
    );

    // The attempt log says which URL each attempt used.
    let logs = eventually(WAIT, || async {
        let (_, v) = p
            .call("GET", "/api/v1/user/webhooks/logs?limit=100", Some(&key), None)
            .await;
        let logs = v["logs"].as_array()?.clone();
        let delivered_at_backup = logs
            .iter()
            .filter(|l| l["url_kind"] == "failover" && l["outcome"] == "delivered")
            .count();
        (delivered_at_backup >= 4).then_some(logs)
    })
    .await
    .expect("4 delivered failover attempts in the log");
    for l in &logs {
        match l["url_kind"].as_str() {
            Some("failover") => assert_eq!(l["url"], json!(b_url), "{l}"),
            Some("primary") => {
                assert_eq!(l["url"], json!(a_url), "{l}");
                assert_eq!(
                    (l["outcome"].as_str(), l["response_code"].as_u64()),
                    (Some("failed"), Some(503))
                );
            }
            _ => panic!("an attempt of a subscription with a failover URL without url_kind: {l}"),
        }
    }
    assert_eq!(
        logs.iter().filter(|l| l["url_kind"] == "primary").count(),
        2,
        "the two first attempts: {logs:?}"
    );

    // The primary answers again: a probe sees it and traffic returns there.
    primary.respond_with(200);
    p.wait_metric(
        "hookline_delivery_failbacks_total",
        &[],
        |v| v >= 1.0,
        WAIT,
        "failed back",
    )
    .await
    .unwrap();
    assert!(
        p.metric("hookline_delivery_probes_total", &[("outcome", "ok")])
            .await
            .unwrap()
            >= 1.0
    );
    let pings_then = primary.requests().iter().filter(|r| is_ping(r)).count();
    p.send_delivered(&ws, "m5").await.unwrap();
    p.send_delivered(&ws, "m6").await.unwrap();
    let at_primary = primary
        .expect_n(4, WAIT, is_event, "m5 and m6 back at the primary")
        .await;
    assert_eq!(
        refs(&at_primary),
        first_at_primary.union(&set(&["m5", "m6"])).cloned().collect()
    );
    p.wait_settled(WAIT, "m5 and m6 handled").await.unwrap();

    // No event lost, none sent twice to the failover URL, and no more probing.
    let backup_refs: Vec<String> = backup
        .requests()
        .iter()
        .filter(|r| is_event(r))
        .map(|r| r.json()["data"]["message_ref"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(backup_refs.len(), 4, "{backup_refs:?}");
    let delivered: BTreeSet<String> = refs(&backup.requests()).union(&set(&["m5", "m6"])).cloned().collect();
    assert_eq!(delivered, set(&["m1", "m2", "m3", "m4", "m5", "m6"]));
    assert_eq!(
        primary.requests().iter().filter(|r| is_ping(r)).count(),
        pings_then,
        "probing stops once the primary answers"
    );
    let (_, dead) = p
        .call("GET", "/api/v1/user/webhooks/dead-letters", Some(&key), None)
        .await;
    assert_eq!(dead["count"], 0, "{dead}");
    p.stop().await.unwrap();
}
