//! `hookline embedded`: the whole pipeline in one process on librdkafka's mock cluster and the
//! in-memory store, driven the way README tells a newcomer to: the printed key, the API, and
//! the HTTP ingest edge.

use hookline_tests::{reference_signature, test_settings, unique, Receiver};
use serde_json::json;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_mode_delivers_a_dlr_injected_over_http() {
    let shutdown = CancellationToken::new();
    let settings = test_settings(&unique("emb"), &[]);
    let emb = hookline::embedded::start(settings, shutdown.clone()).await.unwrap();
    let api = format!("http://{}", emb.pipeline.api_addr.unwrap());
    let ingest = format!("http://{}", emb.pipeline.ingest_addr.unwrap());
    let http = reqwest::Client::new();
    let rx = Receiver::start().await;

    // Ready once the config (with the created key) is loaded.
    let admin = format!("http://{}/readyz", emb.pipeline.admin_addr);
    let ready = hookline_tests::eventually(Duration::from_secs(30), || async {
        http.get(&admin)
            .send()
            .await
            .ok()
            .filter(|r| r.status().is_success())
            .map(|_| ())
    })
    .await;
    assert!(ready.is_some());

    let r = http
        .put(format!("{api}/api/v1/user/webhooks"))
        .header("X-API-Key", &emb.api_key)
        .json(&json!({"delivery_url": rx.url("/webhook/delivery"), "signing_secret": "demo-secret"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // Without the printed ingest credential the edge takes nothing; with it, a message and its
    // DLR are accepted.
    let key = Some(emb.ingest_key.as_str());
    for (path, key, body, status) in [
        ("/v1/messages", None, r#"{"message_id":"demo-0","carrier_message_id":"carrier-0","workspace_id":"demo","recipient":"+14155551234","sender_id":"MyApp","accepted_at":"2026-02-13T10:30:00Z"}"#, 401),
        ("/v1/messages", key, r#"{"message_id":"demo-1","carrier_message_id":"carrier-1","workspace_id":"demo","recipient":"+14155551234","sender_id":"MyApp","num_parts":1,"cost":0.0085,"accepted_at":"2026-02-13T10:30:00Z"}"#, 202),
        ("/v1/dlr", key, "id:carrier-1 sub:001 dlvrd:001 submit date:2602131030 done date:2602131030 stat:DELIVRD err:000 text:Hello", 202),
    ] {
        let r = post(&http, format!("{ingest}{path}"), key, body).await;
        assert_eq!(r.status(), status, "{path} {body}");
    }
    // A bad record is refused with its reason, not accepted.
    let r = post(&http, format!("{ingest}/v1/dlr"), key, "nonsense").await;
    assert_eq!(r.status(), 400);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(
        (v["error_code"].as_str(), v["reason"].as_str()),
        (Some("INVALID_RECORD"), Some("invalid_smpp_receipt"))
    );

    let got = rx
        .expect_n(1, Duration::from_secs(30), |_| true, "the DLR of demo-1")
        .await;
    let body = got[0].json();
    assert_eq!(
        (body["message_id"].as_str(), body["status"].as_str()),
        (Some("demo-1"), Some("DELIVRD"))
    );
    let ts = got[0].header("x-webhook-timestamp").unwrap();
    assert_eq!(
        got[0].header("x-webhook-signature").unwrap(),
        reference_signature("demo-secret", ts, &got[0].body)
    );

    shutdown.cancel();
    emb.pipeline.wait().await.unwrap();
}

/// POSTs `body` to `url`, with the ingest credential `key` when given.
async fn post(http: &reqwest::Client, url: String, key: Option<&str>, body: &'static str) -> reqwest::Response {
    let mut req = http.post(url).body(body);
    if let Some(key) = key {
        req = req.bearer_auth(key);
    }
    req.send().await.unwrap()
}
