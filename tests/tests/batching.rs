//! Batching per named subscription (issue 17) through the four services against Kafka and a
//! real receiver: a subscription with `batch: {max_events: 10, max_wait_ms: 200}` gets its
//! events as `{"events": [...]}` POSTs of at most 10, each signed over the whole body, every
//! event delivered; a failed batch is retried as a whole; a subscription without `batch` (the
//! default) is unchanged; a test send is never batched; the API checks `batch`.

use hookline::Service;
use hookline_model::Permission::{WebhooksRead as R, WebhooksWrite as W};
use hookline_tests::{eventually, reference_signature, unique, Received, Receiver, TestPipeline};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(60);
const HOOKS: &str = "/api/v1/webhooks";
const EVENTS: usize = 100;

/// The message refs of the envelopes in a request body (one envelope, or a batch).
fn refs(r: &Received) -> Vec<String> {
    let v = r.json();
    let one = |e: &Value| e["data"]["message_ref"].as_str().unwrap().to_string();
    match v["events"].as_array() {
        Some(events) => events.iter().map(one).collect(),
        None => vec![one(&v)],
    }
}

/// The refs delivered (answered 2xx) in `requests`.
fn delivered(requests: &[Received]) -> BTreeSet<String> {
    requests.iter().filter(|r| r.status == 200).flat_map(refs).collect()
}

fn is_batch(r: &Received) -> bool {
    r.header("x-webhook-event") == Some("batch")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_are_signed_as_one_body_retried_as_a_whole_and_opt_in() {
    // Named retries 1 s and 3 s apart.
    let p = TestPipeline::start_with(&unique("batch"), &Service::ALL, &["--retry-delay-scale=0.1"])
        .await
        .unwrap();
    let ws = format!("ws-{}", p.id);
    let key = p.create_key(&ws, &[R, W]).await.unwrap();
    let batched = Receiver::start().await;
    let single = Receiver::start().await;
    let create = |url: String, extra: Value| {
        // `delivered` only: not the `sent` status each accepted message has.
        let mut body = json!({"name": "Batching", "url": url, "event_types": ["SMS_STATUS"],
                              "filter": {"status": ["delivered"]}});
        body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        let (p, key) = (&p, &key);
        async move { p.call("POST", HOOKS, Some(key), Some(&body.to_string())).await }
    };

    // The API refuses a batch out of range, after every other check.
    for bad in [
        json!({"batch": {"max_events": 1, "max_wait_ms": 200}}),
        json!({"batch": {"max_events": 10}}),
        json!({"batch": "10"}),
    ] {
        let (s, v) = create(batched.url("/x"), bad.clone()).await;
        assert_eq!(
            (s, v["error_code"].as_str()),
            (400, Some("INVALID_BATCH")),
            "{bad}: {v}"
        );
    }
    let (s, v) = create(batched.url("/x"), json!({"failover_after": 0, "batch": 1})).await;
    assert_eq!(
        (s, v["error_code"].as_str()),
        (400, Some("INVALID_FAILOVER_AFTER")),
        "{v}"
    );

    let (s, a) = create(
        batched.url("/batched"),
        json!({"batch": {"max_events": 10, "max_wait_ms": 200}}),
    )
    .await;
    assert_eq!(s, 201, "{a}");
    assert_eq!(a["batch"], json!({"max_events": 10, "max_wait_ms": 200}));
    let (s, b) = create(single.url("/single"), json!({})).await;
    assert_eq!((s, &b["batch"]), (201, &Value::Null), "off by default: {b}");
    let a_path = format!("{HOOKS}/{}", a["id"].as_str().unwrap());
    let (s, v) = p.call("GET", &a_path, Some(&key), None).await;
    assert_eq!((s, &v["batch"]["max_events"]), (200, &json!(10)), "{v}");
    let secret = a["signing_secret"].as_str().unwrap().to_string();
    p.wait_workspace_version(&ws, p.workspace_version(&ws).unwrap(), WAIT)
        .await
        .unwrap();

    // The first batch fails: its events are retried, together.
    batched.fail_next(1, 500);
    let all: BTreeSet<String> = (0..EVENTS).map(|i| format!("m{i}")).collect();
    // All at once, so that they reach delivery within a batch's wait of each other.
    let (p, ws) = (&p, &ws);
    futures::future::join_all(all.iter().map(|m| async move {
        p.send_accepted(ws, m, &format!("c-{m}")).await.unwrap();
    }))
    .await;
    futures::future::join_all(all.iter().map(|m| async move {
        let receipt = format!("id:c-{m} stat:DELIVRD err:000");
        p.send_dlr(&format!("c-{m}"), &receipt).await.unwrap();
    }))
    .await;
    let singles = single
        .expect_n(EVENTS, WAIT, |_| true, "every event, one request each")
        .await;
    eventually(WAIT, || async { (delivered(&batched.requests()) == all).then_some(()) })
        .await
        .unwrap_or_else(|| {
            let missing: Vec<_> = all.difference(&delivered(&batched.requests())).cloned().collect();
            panic!("events never delivered in a batch: {missing:?}")
        });

    // Without `batch`: one envelope per request, as before.
    assert_eq!(delivered(&singles), all);
    for r in &singles {
        assert_eq!(r.header("x-webhook-event"), Some("SMS_STATUS"));
        assert!(r.json().get("events").is_none() && r.header("x-webhook-batch-size").is_none());
    }

    // With it: few requests, each `{"events": [...]}` of at most 10 envelopes, signed as one.
    let requests = batched.requests();
    assert!(
        requests.len() <= 25,
        "{} requests for {EVENTS} events in batches of up to 10: (status, events, attempt) {:?}",
        requests.len(),
        requests
            .iter()
            .map(|r| (
                r.status,
                refs(r).len(),
                r.header("x-webhook-attempt").map(str::to_string)
            ))
            .collect::<Vec<_>>()
    );
    for r in &requests {
        assert!(is_batch(r), "{:?}", r.headers);
        let events = r.json()["events"].as_array().unwrap().clone();
        assert!((1..=10).contains(&events.len()), "{} events", events.len());
        assert_eq!(
            r.header("x-webhook-batch-size"),
            Some(events.len().to_string().as_str())
        );
        for e in &events {
            assert_eq!(e["type"], "SMS_STATUS");
            assert!(e["id"].as_str().is_some_and(|id| !id.is_empty()), "{e}");
        }
        let ts = r.header("x-webhook-timestamp").unwrap();
        assert_eq!(
            r.header("x-webhook-signature").unwrap(),
            reference_signature(&secret, ts, &r.body),
            "signed over the whole batch body"
        );
        let id = r.header("x-webhook-id").unwrap();
        assert!(id.starts_with("whb_"), "{id}");
        assert_eq!(r.header("webhook-id"), Some(id));
        assert!(r.header("webhook-signature").is_some_and(|s| s.starts_with("v1,")));
    }
    // The failed batch came back as a whole: each of its events in a later batch, attempt 2.
    let failed = &requests[0];
    assert_eq!(failed.status, 500);
    let retried: Vec<&Received> = requests
        .iter()
        .filter(|r| r.status == 200 && r.header("x-webhook-attempt") == Some("2"))
        .collect();
    let retried_refs: BTreeSet<String> = retried.iter().flat_map(|r| refs(r)).collect();
    let failed_refs: BTreeSet<String> = refs(failed).into_iter().collect();
    assert!(
        failed_refs.is_subset(&retried_refs) && retried.len() <= 2,
        "the failed batch's events {failed_refs:?}, retried together: {retried_refs:?} in {} requests",
        retried.len()
    );
    assert!(
        p.metric("hookline_delivery_batch_size_count", &[]).await.unwrap() >= requests.len() as f64,
        "every batch request counted"
    );

    // The attempt log: one record per event, marked with the batch it went in.
    let logs = eventually(WAIT, || async {
        let (_, v) = p
            .call("GET", "/api/v1/user/webhooks/logs?limit=1000", Some(&key), None)
            .await;
        let logs: Vec<Value> = v["logs"]
            .as_array()?
            .iter()
            .filter(|l| l["url"].as_str().is_some_and(|u| u.ends_with("/batched")))
            .cloned()
            .collect();
        (logs.len() > EVENTS).then_some(logs)
    })
    .await
    .expect("an attempt record per event of each batch");
    for l in &logs {
        let (id, size) = (l["batch"]["id"].as_str().unwrap(), l["batch"]["size"].as_u64().unwrap());
        assert!(id.starts_with("whb_") && (1..=10).contains(&size), "{l}");
        assert_eq!(l["request_headers"]["X-Webhook-Id"], json!(id));
        let payload: Value = serde_json::from_str(l["payload"].as_str().unwrap()).unwrap();
        assert_eq!(payload["id"], l["event_id"], "each record keeps its own envelope");
    }

    // A test send is never batched.
    let before = batched.requests().len();
    let (s, v) = p.call("POST", &format!("{a_path}/test"), Some(&key), None).await;
    assert_eq!(s, 200, "{v}");
    let all_now = batched.expect_n(before + 1, WAIT, |_| true, "the test send").await;
    let test = all_now.last().unwrap();
    assert!(
        !is_batch(test) && test.json().get("events").is_none(),
        "{:?}",
        test.headers
    );
}
