//! The control plane over HTTP, against the running pipeline: auth and permissions, every
//! 23 Telecom error code, partial updates, isolation, test sends, logs, admin keys, and the
//! configuration surviving a restart of every Hookline process.

use hookline::Service;
use hookline_model::Permission::{WebhooksRead as R, WebhooksWrite as W};
use hookline_tests::{Receiver, TestPipeline};
use serde_json::{json, Value};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_and_permissions() {
    let mut p = TestPipeline::start().await.unwrap();
    let ws = format!("ws-{}", p.id);
    let read = p.create_key(&ws, &[R]).await.unwrap();
    let write = p.create_key(&ws, &[W]).await.unwrap();
    let hook = "/api/v1/user/webhooks";
    let body = Some(r#"{"unique_clicks_only": true}"#);

    for (method, path) in [
        ("GET", hook),
        ("PUT", hook),
        ("POST", "/api/v1/user/webhooks/test"),
        ("GET", "/api/v1/user/webhooks/logs"),
    ] {
        let (s, v) = p.call(method, path, None, body).await;
        assert_eq!(
            (s, v["error_code"].as_str()),
            (401, Some("UNAUTHORIZED")),
            "{method} {path} without key"
        );
        let (s, _) = p.call(method, path, Some("hk_not_a_real_key"), body).await;
        assert_eq!(s, 401, "{method} {path} with unknown key");
    }
    assert_eq!(p.call("GET", hook, Some(&read), None).await.0, 200);
    assert_eq!(
        p.call("GET", "/api/v1/user/webhooks/logs", Some(&read), None).await.0,
        200
    );
    let (s, v) = p.call("PUT", hook, Some(&read), body).await;
    assert_eq!((s, v["error_code"].as_str()), (403, Some("FORBIDDEN")));
    assert_eq!(
        p.call(
            "POST",
            "/api/v1/user/webhooks/test",
            Some(&read),
            Some(r#"{"type":"delivery"}"#)
        )
        .await
        .0,
        403
    );
    assert_eq!(p.call("PUT", hook, Some(&write), body).await.0, 200);
    assert_eq!(p.call("GET", hook, Some(&write), None).await.0, 403);
    assert_eq!(
        p.call("GET", "/api/v1/user/webhooks/logs", Some(&write), None).await.0,
        403
    );

    // Operator key creation.
    let admin = |token: &str, body: Value| {
        p.http
            .post(p.api("/admin/v1/api-keys"))
            .bearer_auth(token.to_string())
            .json(&body)
            .send()
    };
    let r = admin(
        hookline_tests::ADMIN_TOKEN,
        json!({"workspace_id": ws, "permissions": ["webhooks.read"]}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 201);
    let created: Value = r.json().await.unwrap();
    let new_key = created["api_key"].as_str().unwrap().to_string();
    assert!(new_key.starts_with("hk_") && created["key_id"].as_str().unwrap().starts_with("key_"));
    assert_eq!(p.call("GET", hook, Some(&new_key), None).await.0, 200);
    assert_eq!(
        admin("wrong", json!({"workspace_id": ws, "permissions": ["webhooks.read"]}))
            .await
            .unwrap()
            .status(),
        401
    );
    let r = admin(
        hookline_tests::ADMIN_TOKEN,
        json!({"workspace_id": ws, "permissions": ["root"]}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 400);
    let r = admin(
        hookline_tests::ADMIN_TOKEN,
        json!({"workspace_id": "bad id!", "permissions": ["webhooks.read"]}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 400);

    // Keys are stored hashed: the config topic never holds a key in clear text.
    let records = p
        .read_topic(&p.kafka.topics.config(), Duration::from_secs(3), |_| false)
        .await
        .unwrap();
    assert!(!records.is_empty());
    for r in &records {
        let text = String::from_utf8_lossy(&r.payload);
        assert!(
            !text.contains(&read) && !text.contains(&new_key),
            "clear-text key in config topic"
        );
    }
    p.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_validation_partial_updates_and_isolation() {
    let mut p = TestPipeline::start().await.unwrap();
    let ws_a = format!("a-{}", p.id);
    let ws_b = format!("b-{}", p.id);
    let a = p.create_key(&ws_a, &[R, W]).await.unwrap();
    let b = p.create_key(&ws_b, &[R, W]).await.unwrap();
    let hook = "/api/v1/user/webhooks";

    let (s, v) = p.call("PUT", hook, Some(&a), Some(r#"{"delivery_url":"http://127.0.0.1:9/d","signing_secret":"topsecret-value","delivery_fields":["message_id","workspace_id"]}"#)).await;
    assert_eq!(s, 200, "{v}");
    let before = p.call("GET", hook, Some(&a), None).await.1;
    assert_eq!(before["delivery_url"], "http://127.0.0.1:9/d");
    assert_eq!(before["signing_secret_set"], true);
    assert_eq!(before["unique_clicks_only"], false);
    assert_eq!(before["delivery_fields"], json!(["message_id", "workspace_id"]));
    assert_eq!(before["click_url"], Value::Null);
    assert!(!before.to_string().contains("topsecret-value"), "secret never echoed");

    for (body, code) in [
        ("{nope", "INVALID_BODY"),
        ("\"a string\"", "INVALID_BODY"),
        (
            r#"{"signing_secret":"x","clear_signing_secret":true}"#,
            "CONFLICTING_FIELDS",
        ),
        (r#"{"delivery_url":42}"#, "INVALID_URL"),
        (r#"{"delivery_url":"ftp://example.com/x"}"#, "INVALID_URL"),
        (r#"{"delivery_url":"http://169.254.169.254/latest"}"#, "INVALID_URL"),
        (r#"{"click_url":"http://[::ffff:10.0.0.1]/"}"#, "INVALID_URL"),
        (r#"{"click_url":"http://0x0a000001/"}"#, "INVALID_URL"),
        (r#"{"click_url":"http://[2002:a9fe:a9fe::]/"}"#, "INVALID_URL"),
        // Issue 13: credentials in a URL (they would be sent as Basic auth and shown to any
        // read key), control characters (the parser drops them, so the stored URL would not be
        // the requested one), literal or percent-encoded.
        (r#"{"delivery_url":"http://user:pass@127.0.0.1:9/d"}"#, "INVALID_URL"),
        (r#"{"click_url":"https://hook@example.com/c"}"#, "INVALID_URL"),
        (
            r#"{"delivery_url":"http://127.0.0.1:9/d\r\nX-Injected: 1"}"#,
            "INVALID_URL",
        ),
        (r#"{"delivery_url":"http://127.0.0.1:9/\td"}"#, "INVALID_URL"),
        (r#"{"delivery_url":"http://127.0.0.1:9/d\u0000"}"#, "INVALID_URL"),
        (
            r#"{"delivery_url":"http://127.0.0.1:9/d%0D%0AX-Injected:%201"}"#,
            "INVALID_URL",
        ),
        (r#"{"signing_secret":""}"#, "INVALID_SECRET"),
        (
            &format!(r#"{{"signing_secret":"{}"}}"#, "s".repeat(65)),
            "INVALID_SECRET",
        ),
        (r#"{"signing_secret":["x"]}"#, "INVALID_SECRET"),
        (r#"{"delivery_fields":null}"#, "INVALID_FIELDS"),
        (r#"{"delivery_fields":[]}"#, "INVALID_FIELDS"),
        (r#"{"impression_fields":["message_id","colour"]}"#, "INVALID_FIELDS"),
        (r#"{"unique_clicks_only":1}"#, "INVALID_TOGGLE"),
        // A rejected PUT changes nothing, even the valid parts of it.
        (
            r#"{"delivery_url":"http://127.0.0.1:9/other","unique_clicks_only":"true"}"#,
            "INVALID_TOGGLE",
        ),
    ] {
        let (s, v) = p.call("PUT", hook, Some(&a), Some(body)).await;
        assert_eq!((s, v["error_code"].as_str()), (400, Some(code)), "{body}: {v}");
        assert!(v["description"].is_string());
    }
    assert_eq!(
        p.call("GET", hook, Some(&a), None).await.1,
        before,
        "rejected PUTs changed nothing"
    );
    let read_only = p.create_key(&ws_a, &[R]).await.unwrap();
    let shown = p.call("GET", hook, Some(&read_only), None).await.1;
    assert_eq!(shown, before);
    assert!(!shown.to_string().contains("pass"), "{shown}");

    // Partial update: only the sent field changes; "" disables.
    let (s, after) = p
        .call(
            "PUT",
            hook,
            Some(&a),
            Some(r#"{"unique_clicks_only":true,"click_url":"http://127.0.0.1:9/c"}"#),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(after["unique_clicks_only"], true);
    assert_eq!(after["delivery_url"], before["delivery_url"]);
    assert_eq!(after["signing_secret_set"], true);
    let (_, after) = p
        .call(
            "PUT",
            hook,
            Some(&a),
            Some(r#"{"click_url":"","clear_signing_secret":true}"#),
        )
        .await;
    assert_eq!(
        (after["click_url"].clone(), after["signing_secret_set"].clone()),
        (Value::Null, json!(false))
    );

    // Workspace B sees none of A's configuration.
    let other = p.call("GET", hook, Some(&b), None).await.1;
    assert_eq!(other["delivery_url"], Value::Null);
    assert_eq!(other["unique_clicks_only"], false);
    assert_eq!(
        other["delivery_fields"],
        json!([
            "message_id",
            "recipient",
            "sender_id",
            "status",
            "status_code",
            "num_parts",
            "cost",
            "timestamp"
        ])
    );

    // The secret is sealed in the config topic (an operator key is configured in tests).
    p.call("PUT", hook, Some(&a), Some(r#"{"signing_secret":"sealed-secret-xyz"}"#))
        .await;
    let records = p
        .read_topic(&p.kafka.topics.config(), Duration::from_secs(3), |_| false)
        .await
        .unwrap();
    assert!(records
        .iter()
        .all(|r| !String::from_utf8_lossy(&r.payload).contains("sealed-secret-xyz")));
    p.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_sends_and_logs() {
    let mut p = TestPipeline::start().await.unwrap();
    let ws = format!("ws-{}", p.id);
    let key = p.create_key(&ws, &[R, W]).await.unwrap();
    let (ok, failing) = Receiver::ok_and_failing().await;
    let (s, _) = p
        .put_webhooks(
            &key,
            json!({
                // Stored, shown and requested in its normalised form (issue 13).
                "delivery_url": format!("HTTP://{}/x/./../d", ok.addr),
                "click_url": ok.url("/c"), "conversion_url": ok.url("/v"),
                "impression_url": failing.url("/i"), "signing_secret": "s3"
            }),
        )
        .await
        .unwrap();
    assert_eq!(s, 200);

    let test = |t: &str| {
        let body = format!(r#"{{"type":"{t}"}}"#);
        let (p, key) = (&p, &key);
        async move {
            p.call("POST", "/api/v1/user/webhooks/test", Some(key), Some(&body))
                .await
        }
    };
    for t in ["delivery", "click", "conversion"] {
        let (s, v) = test(t).await;
        assert_eq!(s, 200, "{t}: {v}");
        assert_eq!(
            (
                v["status"].as_str(),
                v["success"].as_bool(),
                v["response_code"].as_u64()
            ),
            (Some("ok"), Some(true), Some(200)),
            "{t}: {v}"
        );
        assert_eq!(v["type"], t);
    }
    let (s, v) = test("impression").await;
    assert_eq!(s, 200);
    assert_eq!(
        (v["status"].as_str(), v["response_code"].as_u64(), v["error"].as_str()),
        (Some("failed"), Some(500), Some("HTTP 500"))
    );

    let got = ok
        .expect_n(
            3,
            Duration::from_secs(5),
            |_| true,
            "a delivery, a click and a conversion test send",
        )
        .await;
    let paths: Vec<&str> = got.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(paths.len(), 3);
    for (path, event) in [("/d", "delivery"), ("/c", "click"), ("/v", "conversion")] {
        let r = got.iter().find(|r| r.path == path).unwrap();
        assert_eq!(r.header("x-webhook-event"), Some(event));
        let ts = r.header("x-webhook-timestamp").unwrap();
        assert_eq!(
            r.header("x-webhook-signature").unwrap(),
            hookline_tests::reference_signature("s3", ts, &r.body)
        );
    }
    let click = String::from_utf8(got.iter().find(|r| r.path == "/c").unwrap().body.clone()).unwrap();
    let order: Vec<usize> = ["message_id", "broadcast_id", "recipient", "url", "timestamp"]
        .iter()
        .map(|f| {
            click
                .find(&format!("\"{f}\":"))
                .unwrap_or_else(|| panic!("{f} in {click}"))
        })
        .collect();
    assert!(
        order.windows(2).all(|w| w[0] < w[1]),
        "default click fields in catalogue order: {click}"
    );
    assert_eq!(
        serde_json::from_str::<Value>(&click)
            .unwrap()
            .as_object()
            .unwrap()
            .len(),
        5
    );

    let (s, v) = p
        .call(
            "PUT",
            "/api/v1/user/webhooks",
            Some(&key),
            Some(r#"{"click_url":null}"#),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let (s, v) = test("click").await;
    assert_eq!((s, v["error_code"].as_str()), (400, Some("WEBHOOK_NOT_CONFIGURED")));
    let (s, v) = test("sms").await;
    assert_eq!((s, v["error_code"].as_str()), (400, Some("INVALID_TYPE")));
    let (s, v) = p
        .call("POST", "/api/v1/user/webhooks/test", Some(&key), Some("{"))
        .await;
    assert_eq!((s, v["error_code"].as_str()), (400, Some("INVALID_BODY")));

    // Logs: newest first, with payload, code, time and error.
    let (s, v) = p
        .call("GET", "/api/v1/user/webhooks/logs?limit=2", Some(&key), None)
        .await;
    assert_eq!(s, 200);
    assert_eq!(v["count"], 2);
    let newest = &v["logs"][0];
    assert_eq!(newest["type"], "impression");
    assert_eq!(
        (newest["response_code"].as_u64(), newest["outcome"].as_str()),
        (Some(500), Some("failed"))
    );
    assert_eq!(newest["error"], "HTTP 500");
    assert!(newest["payload"].as_str().unwrap().contains("\"message_id\""));
    assert!(newest["response_time_ms"].is_u64());
    assert!(newest["request_headers"]["X-Webhook-Signature"]
        .as_str()
        .unwrap()
        .starts_with("sha256="));
    assert_eq!(v["logs"][1]["type"], "conversion");
    let all = p.call("GET", "/api/v1/user/webhooks/logs", Some(&key), None).await.1;
    assert_eq!(all["count"], 4);
    // What GET and the logs show is the URL that was requested (the receiver saw `/d`).
    let delivery_log = all["logs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["type"] == "delivery")
        .unwrap();
    assert_eq!(delivery_log["url"], ok.url("/d"));
    let view = p.call("GET", "/api/v1/user/webhooks", Some(&key), None).await.1;
    assert_eq!(view["delivery_url"], ok.url("/d"));
    let (s, v) = p
        .call("GET", "/api/v1/user/webhooks/logs?limit=abc", Some(&key), None)
        .await;
    assert_eq!((s, v["error_code"].as_str()), (400, Some("INVALID_LIMIT")));
    let stranger = p.create_key(&format!("x-{}", p.id), &[R]).await.unwrap();
    assert_eq!(
        p.call("GET", "/api/v1/user/webhooks/logs", Some(&stranger), None)
            .await
            .1["count"],
        0
    );
    p.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configuration_survives_restarting_every_process() {
    let id = hookline_tests::unique("restart");
    let rx = Receiver::start().await;
    let ws = format!("ws-{id}");
    let key = {
        let mut p = TestPipeline::start_with(&id, &Service::ALL, &[]).await.unwrap();
        let key = p.create_key(&ws, &[R, W]).await.unwrap();
        let (s, _) = p
            .put_webhooks(
                &key,
                json!({"delivery_url": rx.url("/after-restart"), "delivery_fields": ["message_id", "status"]}),
            )
            .await
            .unwrap();
        assert_eq!(s, 200);
        p.stop().await.unwrap();
        key
    };
    // New processes, same broker and topics: config, keys and message metadata are all there.
    let mut p = TestPipeline::start_with(&id, &Service::ALL, &[]).await.unwrap();
    let (s, v) = p.call("GET", "/api/v1/user/webhooks", Some(&key), None).await;
    assert_eq!(s, 200);
    assert_eq!(v["delivery_url"], rx.url("/after-restart"));
    p.send_accepted(&ws, "m-restart", "c-restart").await.unwrap();
    p.send_dlr("c-restart", "id:c-restart stat:DELIVRD").await.unwrap();
    let got = rx
        .expect_n(1, Duration::from_secs(30), |_| true, "the DLR of m-restart")
        .await;
    assert_eq!(got[0].json(), json!({"message_id": "m-restart", "status": "DELIVRD"}));
    p.stop().await.unwrap();
}
