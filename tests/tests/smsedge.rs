//! The SMSEdge dialect end to end: its webhook API and envelope, form-encoded `sms=<json>`
//! payloads in SMSEdge's field names, Basic auth on DLRs only, the first-click-per-message rule,
//! inbound, revoke-click batches (exact JSON, once across a restart), and test-webhook.

use hookline::Service;
use hookline_model::Permission::{WebhooksRead as R, WebhooksWrite as W};
use hookline_tests::{eventually, Received, Receiver, TestPipeline};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);
const HUMAN: &str = "Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 Chrome/126.0 Mobile Safari/537.36";

async fn set(p: &TestPipeline, key: &str, form: &[(&str, &str)]) -> (u16, Value) {
    let r = p
        .http
        .post(p.api("/v1/user/set-webhook"))
        .header("X-API-Key", key)
        .form(form)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

async fn get(p: &TestPipeline, key: &str) -> (u16, Value) {
    let r = p
        .http
        .get(p.api("/v1/user/get-webhook"))
        .header("X-API-Key", key)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

/// The `sms` field of a form-encoded request, parsed.
fn sms(r: &Received) -> Value {
    assert_eq!(r.header("content-type"), Some("application/x-www-form-urlencoded"));
    let form: HashMap<String, String> = serde_urlencoded::from_bytes(&r.body).unwrap();
    assert_eq!(form.len(), 1, "only the sms field");
    serde_json::from_str(&form["sms"]).unwrap()
}

/// An accepted message carrying the gateway's SMSEdge record fields.
async fn message(p: &TestPipeline, ws: &str, id: &str, campaign: Option<&str>) {
    let mut m = TestPipeline::accepted(ws, id, &format!("c-{id}"));
    m["recipient"] = json!("+15551234567");
    m["sender_id"] = json!("SenderID");
    m["cost"] = json!(0.0175);
    m["num_parts"] = json!(1);
    m["accepted_at"] = json!("2026-02-27T14:30:00Z");
    if let Some(c) = campaign {
        m["broadcast_id"] = json!(c);
    }
    m["details"] = json!({
        "text": "Check out this offer: https://short.example.com/abc123", "reference": "api-0227-abc123xyz",
        "list_id": 456, "country_id": 226, "country_name": "United States", "country_iso": "US",
        "original_url": "https://example.com/offer", "shortened_url": "https://short.example.com/abc123",
        "verify_local": false, "shorten_url": true, "transactional": false, "preferred_route_id": 789
    });
    p.produce(&p.kafka.topics.accepted(), id, &serde_json::to_vec(&m).unwrap())
        .await
        .unwrap();
}

async fn click(p: &TestPipeline, message_id: &str) {
    let c = json!({"short_url": "https://short.example.com/abc123", "message_id": message_id,
                   "recipient": "+15551234567", "user_agent": HUMAN, "ip": "203.0.113.7",
                   "click_id": hookline_tests::unique("k")});
    let s = p.ingest_post("/v1/clicks").json(&c).send().await.unwrap().status();
    assert_eq!(s, 202);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_api_parameters_envelope_and_errors() {
    let mut p = TestPipeline::start_with(&hookline_tests::unique("se-api"), &[Service::Api], &[])
        .await
        .unwrap();
    let ws = format!("ws-{}", p.id);
    let key = p.create_key(&ws, &[R, W]).await.unwrap();

    let (s, v) = get(&p, &key).await;
    assert_eq!(s, 200);
    assert_eq!(
        v,
        json!({"success": true, "data": {"dlr_url": null, "click_url": null, "inbound_url": null,
                                          "revoke_click_url": null, "auth": false}})
    );
    let (s, v) = set(
        &p,
        &key,
        &[
            // Stored and shown normalised, as it is requested (issue 13).
            ("dlr_url", "HTTPS://Example.COM:443/x/../dlr"),
            ("click_url", "https://example.com/click"),
            ("inbound_url", "https://example.com/inbound"),
            ("revoke_click_url", "https://example.com/revoke"),
            ("auth", "myuser:mypass"),
        ],
    )
    .await;
    assert_eq!(s, 200);
    let all = json!({"success": true, "data": {"dlr_url": "https://example.com/dlr",
        "click_url": "https://example.com/click", "inbound_url": "https://example.com/inbound",
        "revoke_click_url": "https://example.com/revoke", "auth": true}});
    assert_eq!(v, all, "the reference's set-webhook response");
    assert_eq!(get(&p, &key).await.1, all);

    // Only given parameters change; "" clears; JSON works too.
    let (s, v) = set(&p, &key, &[("inbound_url", "")]).await;
    assert_eq!(s, 200);
    assert_eq!(v["data"]["inbound_url"], Value::Null);
    assert_eq!(v["data"]["dlr_url"], "https://example.com/dlr");
    let r = p
        .http
        .post(p.api("/v1/user/set-webhook"))
        .header("X-API-Key", &key)
        .json(&json!({"auth": ""}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["data"]["auth"], false);

    // Errors, in the envelope, change nothing.
    let before = get(&p, &key).await.1;
    for (form, code) in [
        (vec![("dlr_url", "ftp://example.com/x")], "INVALID_URL"),
        (vec![("click_url", "https://169.254.169.254/latest")], "INVALID_URL"),
        // Issue 13: credentials go in `auth`, never in a URL; no control characters.
        (
            vec![("dlr_url", "https://myuser:mypass@example.com/dlr")],
            "INVALID_URL",
        ),
        (vec![("inbound_url", "https://token@example.com/in")], "INVALID_URL"),
        (
            vec![("click_url", "https://example.com/c\r\nX-Injected: 1")],
            "INVALID_URL",
        ),
        (vec![("revoke_click_url", "https://example.com/r\t")], "INVALID_URL"),
        (vec![("dlr_url", "https://example.com/d%0a")], "INVALID_URL"),
        (vec![("auth", "no-colon")], "INVALID_AUTH"),
        (vec![("auth", "a-rather-long-user:and-a-long-password")], "INVALID_AUTH"),
        (
            vec![("dlr_url", "https://example.com/ok"), ("auth", ":pass")],
            "INVALID_AUTH",
        ),
    ] {
        let (s, v) = set(&p, &key, &form).await;
        assert_eq!(s, 400, "{form:?}");
        assert_eq!(v["success"], false);
        assert_eq!(v["error"]["code"], code, "{form:?}: {v}");
        assert!(v["error"]["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    assert_eq!(get(&p, &key).await.1, before, "rejected requests changed nothing");

    // Three dialects on one workspace: a write through one never changes another's view.
    let (s, _) = p
        .put_webhooks(
            &key,
            json!({"delivery_url": "https://example.com/t23", "signing_secret": "s"}),
        )
        .await
        .unwrap();
    assert_eq!(s, 200);
    let body = json!({"name": "statuses", "url": "https://example.com/named", "event_types": ["SMS_STATUS"]});
    let (s, _) = p
        .call("POST", "/api/v1/webhooks", Some(&key), Some(&body.to_string()))
        .await;
    assert_eq!(s, 201);
    let views = || async {
        let (_, t23) = p.call("GET", "/api/v1/user/webhooks", Some(&key), None).await;
        let (_, named) = p.call("GET", "/api/v1/webhooks", Some(&key), None).await;
        (t23, named, get(&p, &key).await.1)
    };
    let (t23, named, se) = views().await;
    assert_eq!(named["data"].as_array().map(Vec::len), Some(1));
    assert_eq!(se, before, "other dialects' writes left SMSEdge's view alone");
    let (s, _) = set(&p, &key, &[("dlr_url", "https://example.com/dlr2"), ("click_url", "")]).await;
    assert_eq!(s, 200);
    let (t23_after, named_after, _) = views().await;
    assert_eq!(
        (t23_after, named_after),
        (t23, named),
        "SMSEdge writes left the others alone"
    );

    let r = p.http.get(p.api("/v1/user/get-webhook")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.json::<Value>().await.unwrap()["error"]["code"], "UNAUTHORIZED");
    let read_only = p.create_key(&ws, &[R]).await.unwrap();
    let (s, v) = set(&p, &read_only, &[("dlr_url", "")]).await;
    assert_eq!((s, v["error"]["code"].as_str()), (403, Some("FORBIDDEN")));
    p.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dlr_click_and_inbound_payloads_on_the_wire() {
    let mut p = TestPipeline::start().await.unwrap();
    let ws = format!("ws-{}", p.id);
    let key = p.create_key(&ws, &[R, W]).await.unwrap();
    let rx = Receiver::start().await;
    let (s, _) = set(
        &p,
        &key,
        &[
            ("dlr_url", &rx.url("/dlr")),
            ("click_url", &rx.url("/click")),
            ("inbound_url", &rx.url("/inbound")),
            ("auth", "myuser:mypass"),
        ],
    )
    .await;
    assert_eq!(s, 200);
    // A 23 Telecom click URL on the same workspace: every human click on an API link.
    let (s, _) = p
        .put_webhooks(&key, json!({"click_url": rx.url("/t23-click")}))
        .await
        .unwrap();
    assert_eq!(s, 200);

    message(&p, &ws, "12345", Some("100")).await;
    p.wait_metric(
        "hookline_enrich_records_total",
        &[("kind", "message"), ("outcome", "stored")],
        |v| v >= 1.0,
        WAIT,
        "message 12345 stored by enrich",
    )
    .await
    .unwrap();
    p.send_dlr(
        "c-12345",
        "id:c-12345 sub:001 dlvrd:001 submit date:2602271430 done date:2602271435 stat:DELIVRD err:000",
    )
    .await
    .unwrap();
    let got = rx.expect_n(1, WAIT, |r| r.path == "/dlr", "a request to /dlr").await;
    let dlr = &got[0];
    let expected: Value =
        serde_json::from_str(include_str!("../../shared/model/src/render/smsedge_reference_dlr.json")).unwrap();
    assert_eq!(sms(dlr), expected, "the reference DLR example");
    // Field order as on the page.
    let raw: HashMap<String, String> = serde_urlencoded::from_bytes(&dlr.body).unwrap();
    assert!(raw["sms"].starts_with(r#"{"id":12345,"created":"#), "{}", raw["sms"]);
    assert!(raw["sms"].ends_with(r#""status":"sent","dlr_status":"Delivered"}"#));
    // base64("myuser:mypass")
    assert_eq!(dlr.header("authorization"), Some("Basic bXl1c2VyOm15cGFzcw=="));

    // Two human clicks: SMSEdge gets the first only; 23 Telecom (API link) gets both.
    click(&p, "12345").await;
    click(&p, "12345").await;
    rx.expect_n(2, WAIT, |r| r.path == "/t23-click", "a request to /t23-click")
        .await;
    rx.expect_n(1, WAIT, |r| r.path == "/click", "a request to /click")
        .await;
    // Both clicks handled to their end: a second SMSEdge click would have arrived.
    p.wait_settled(WAIT, "both clicks").await.unwrap();
    let clicks: Vec<Received> = rx.requests().into_iter().filter(|r| r.path == "/click").collect();
    assert_eq!(clicks.len(), 1, "only the first click per message");
    let mut want = expected.clone();
    want["clicked"] = json!(true);
    let c = sms(&clicks[0]);
    want["updated"] = c["updated"].clone();
    assert_eq!(c, want, "the DLR's record with clicked: true");
    assert_eq!(clicks[0].header("authorization"), None, "no Basic auth on clicks");

    let inbound = json!({"inbound_id": "5678", "workspace_id": ws, "from": "+15551234567", "to": "1234",
                         "text": "Reply text from user", "received_at": "2026-02-27T14:35:00Z"});
    let s = p
        .ingest_post("/v1/inbound")
        .json(&inbound)
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(s, 202);
    let got = rx
        .expect_n(1, WAIT, |r| r.path == "/inbound", "a request to /inbound")
        .await;
    assert_eq!(
        sms(&got[0]),
        json!({"id": 5678, "from": "15551234567", "to": 1234, "message": "Reply text from user",
               "received": "2026-02-27 14:35:00"})
    );
    assert_eq!(got[0].header("authorization"), None, "no Basic auth on inbound");
    p.stop().await.unwrap();
}

async fn revoke(p: &TestPipeline, ws: &str, message_id: &str, source: &str) {
    let r = json!({"workspace_id": ws, "message_id": message_id, "source": source});
    p.produce(&p.kafka.topics.clicks_revoked(), ws, &serde_json::to_vec(&r).unwrap())
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoke_batches_have_the_exact_shape_and_survive_a_restart_once() {
    let id = hookline_tests::unique("revoke");
    let flags = ["--revoke-batch-interval-ms=2000"];
    // Configure first, and queue the first revocations before enrich starts, so that they
    // fall into one batch whatever the timing.
    let mut p = TestPipeline::start_with(&id, &[Service::Api], &flags).await.unwrap();
    let ws = format!("ws-{id}");
    let key = p.create_key(&ws, &[R, W]).await.unwrap();
    let rx = Receiver::start().await;
    let (s, _) = set(&p, &key, &[("revoke_click_url", &rx.url("/revoke")), ("auth", "u:p")]).await;
    assert_eq!(s, 200);
    for (m, src) in [
        ("100001", "api"),
        ("100002", "api"),
        ("200001", "campaign"),
        ("200002", "campaign"),
        ("200003", "campaign"),
        ("100001", "api"),
    ] {
        revoke(&p, &ws, m, src).await;
    }
    p.stop().await.unwrap();
    let mut p = TestPipeline::start_with(&id, &Service::ALL, &flags).await.unwrap();
    let got = rx
        .expect_n(1, WAIT, |r| r.path == "/revoke", "a request to /revoke")
        .await;
    let batch = &got[0];
    assert_eq!(batch.header("content-type"), Some("application/json"));
    assert_eq!(batch.header("authorization"), None, "Basic auth is for DLRs only");
    assert_eq!(
        batch.json(),
        json!({"event": "clicks_revoked", "count": 5, "api_sms_ids": [100001, 100002],
               "campaign_sms_ids": [200001, 200002, 200003]})
    );

    // Revocations read but not yet batched when the process stops are batched, once, by the
    // next one.
    revoke(&p, &ws, "100003", "api").await;
    revoke(&p, &ws, "200004", "campaign").await;
    // The scenario, not a wait for a result: stop the process a moment after these were
    // produced (read on loopback, not yet batched: the batch interval is 2 s). Whether or not
    // it read them, the next process must batch them exactly once, which is what is checked.
    tokio::time::sleep(Duration::from_millis(300)).await;
    p.stop().await.unwrap();
    let mut p = TestPipeline::start_with(&id, &Service::ALL, &flags).await.unwrap();
    revoke(&p, &ws, "100004", "api").await;
    let all = eventually(WAIT, || async {
        let ids: Vec<Value> = rx
            .requests()
            .iter()
            .filter(|r| r.path == "/revoke")
            .flat_map(|r| {
                let v = r.json();
                let mut ids = v["api_sms_ids"].as_array().cloned().unwrap_or_default();
                ids.extend(v["campaign_sms_ids"].as_array().cloned().unwrap_or_default());
                ids
            })
            .collect();
        (ids.len() >= 8).then_some(ids)
    })
    .await
    .expect("every revocation batched");
    // Every revocation committed with its batch and every batch delivered: a batch sent twice
    // would have arrived.
    p.wait_settled(WAIT, "the revocations").await.unwrap();
    let batches: Vec<Value> = rx
        .requests()
        .iter()
        .filter(|r| r.path == "/revoke")
        .map(Received::json)
        .collect();
    let mut ids: Vec<u64> = all.iter().filter_map(Value::as_u64).collect();
    ids.sort_unstable();
    assert_eq!(
        ids,
        [100001, 100002, 100003, 100004, 200001, 200002, 200003, 200004],
        "each revocation once: {batches:?}"
    );
    for b in &batches {
        let n = b["api_sms_ids"].as_array().unwrap().len() + b["campaign_sms_ids"].as_array().unwrap().len();
        assert_eq!(b["count"], json!(n), "count is the sum of both lists");
    }
    let metrics = p.metrics().await.unwrap();
    assert!(
        metrics.contains("hookline_enrich_revocation_batches_total"),
        "{metrics}"
    );
    p.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_webhook_reports_each_webhook() {
    let mut p = TestPipeline::start().await.unwrap();
    let ws = format!("ws-{}", p.id);
    let key = p.create_key(&ws, &[R, W]).await.unwrap();
    let (ok, failing) = Receiver::ok_and_failing().await;
    let (s, _) = set(
        &p,
        &key,
        &[
            ("dlr_url", &ok.url("/dlr")),
            ("click_url", &ok.url("/click")),
            ("revoke_click_url", &failing.url("/revoke")),
            ("auth", "u:p"),
        ],
    )
    .await;
    assert_eq!(s, 200);
    let r = p
        .http
        .post(p.api("/v1/user/test-webhook"))
        .header("X-API-Key", &key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["success"], true);
    let d = &v["data"];
    for name in ["dlr", "click"] {
        assert_eq!(d[name]["status"], "ok", "{v}");
        assert_eq!(d[name]["http_code"], 200);
        assert!(d[name]["time"].as_f64().is_some_and(|t| (0.0..10.0).contains(&t)));
    }
    assert_eq!(d["revoke_click"]["status"], "failed");
    assert_eq!(d["revoke_click"]["http_code"], 500);
    assert_eq!(d["inbound"], json!({"status": "skipped", "reason": "not configured"}));
    // The demo DLR went out as SMSEdge sends one: form-encoded, with Basic auth.
    let dlr = ok.expect_n(1, WAIT, |r| r.path == "/dlr", "a request to /dlr").await;
    assert!(sms(&dlr[0])["id"].is_u64());
    assert!(dlr[0].header("authorization").is_some());
    let revoke = failing
        .expect_n(1, WAIT, |r| r.path == "/revoke", "a request to /revoke")
        .await;
    assert_eq!(revoke[0].json()["event"], "clicks_revoked");
    p.stop().await.unwrap();
}
