//! `hookline embedded`: the whole pipeline in one process on librdkafka's mock cluster and the
//! in-memory store, driven the way README tells a newcomer to: the printed key, the API, and
//! the HTTP ingest edge.

use hookline_tests::{reference_signature, test_settings, unique, Receiver};
use serde_json::json;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_mode_delivers_a_dlr_injected_over_http() {
    let (shutdown, emb, api, ingest, http) = started("emb").await;
    let rx = Receiver::start().await;

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

/// `hookline embedded` for a fresh prefix from `tag`, once ready (its config, with the created
/// key, loaded): its shutdown token, itself, the API and ingest base URLs, and a client.
async fn started(
    tag: &str,
) -> (
    CancellationToken,
    hookline::embedded::Embedded,
    String,
    String,
    reqwest::Client,
) {
    let shutdown = CancellationToken::new();
    let settings = test_settings(&unique(tag), &[]);
    let emb = hookline::embedded::start(settings, shutdown.clone()).await.unwrap();
    let api = format!("http://{}", emb.pipeline.api_addr.unwrap());
    let ingest = format!("http://{}", emb.pipeline.ingest_addr.unwrap());
    let http = reqwest::Client::new();
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
    assert!(ready.is_some(), "the embedded mode never became ready");
    (shutdown, emb, api, ingest, http)
}

/// POSTs `body` to `url`, with the ingest credential `key` when given.
async fn post(http: &reqwest::Client, url: String, key: Option<&str>, body: &'static str) -> reqwest::Response {
    let mut req = http.post(url).body(body);
    if let Some(key) = key {
        req = req.bearer_auth(key);
    }
    req.send().await.unwrap()
}

/// Replay and the operator's quarantine counts in the embedded mode (issue 28, item 8): the
/// mock broker finds no offsets by time, and both used to answer nothing (`{"replayed": 0,
/// "complete": true}`, `{"counts": {}}`). A replay from a point in time re-sends exactly the
/// events after it, and a quarantined record is counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_mode_replays_a_window_and_counts_quarantined_records() {
    let (shutdown, emb, api, ingest, http) = started("embr").await;
    let rx = Receiver::start().await;
    let wait = Duration::from_secs(30);

    let r = http
        .post(format!("{api}/api/v1/webhooks"))
        .header("X-API-Key", &emb.api_key)
        .json(
            &json!({"name": "Delivered", "url": rx.url("/named"), "event_types": ["SMS_STATUS"],
                       "filter": {"status": ["delivered"]}}),
        )
        .send()
        .await
        .unwrap();
    let status = r.status();
    let created: serde_json::Value = r.json().await.unwrap();
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_string();

    // One delivered status before the window, two in it, each delivered before the next is
    // sent (the filter leaves one event per message).
    let message_ref =
        |r: &hookline_tests::Received| r.json()["data"]["message_ref"].as_str().unwrap_or_default().to_string();
    let mut from = None;
    for (i, m) in ["r-0", "r-1", "r-2"].into_iter().enumerate() {
        if i == 1 {
            from = Some(chrono::Utc::now());
        }
        send_status(&http, &ingest, &emb.ingest_key, m).await;
        rx.expect_n(1, wait, move |r| message_ref(r) == m, m).await;
    }
    let from = from.unwrap().to_rfc3339();

    let r = http
        .post(format!("{api}/api/v1/webhooks/{id}/replay"))
        .header("X-API-Key", &emb.api_key)
        .json(&json!({"from": from}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!((&v["replayed"], &v["complete"]), (&json!(2), &json!(true)), "{v}");
    let replayed = rx
        .expect_n(
            2,
            wait,
            |r| r.header("x-webhook-replay") == Some("true"),
            "the replayed window",
        )
        .await;
    let mut got: Vec<String> = replayed.iter().map(message_ref).collect();
    got.sort();
    assert_eq!(got, ["r-1", "r-2"]);

    // A DLR whose message never comes is quarantined (`metadata_not_found`) after the wait.
    let r = post(
        &http,
        format!("{ingest}/v1/dlr"),
        Some(&emb.ingest_key),
        "id:carrier-none sub:001 dlvrd:001 submit date:2602131030 done date:2602131030 stat:DELIVRD err:000 text:Hello",
    )
    .await;
    assert_eq!(r.status(), 202);
    let counted = hookline_tests::eventually(wait, || async {
        let v: serde_json::Value = http
            .get(format!("{api}/admin/v1/quarantine"))
            .bearer_auth(&emb.admin_token)
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        v["counts"]["metadata_not_found"].as_u64().filter(|n| *n > 0)
    })
    .await;
    assert_eq!(counted, Some(1), "the quarantined DLR is counted");

    shutdown.cancel();
    emb.pipeline.wait().await.unwrap();
}

/// Announces message `m` (carrier id `c-<m>`) and posts its delivered DLR over the ingest edge.
async fn send_status(http: &reqwest::Client, ingest: &str, key: &str, m: &str) {
    let message = json!({"message_id": m, "carrier_message_id": format!("c-{m}"), "workspace_id": "demo",
        "recipient": "+14155551234", "sender_id": "MyApp", "accepted_at": "2026-02-13T10:30:00Z"});
    let r = http
        .post(format!("{ingest}/v1/messages"))
        .bearer_auth(key)
        .json(&message)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let dlr = format!(
        "id:c-{m} sub:001 dlvrd:001 submit date:2602131030 done date:2602131030 stat:DELIVRD err:000 text:Hello"
    );
    let r = http
        .post(format!("{ingest}/v1/dlr"))
        .bearer_auth(key)
        .body(dlr)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
}
