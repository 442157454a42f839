//! Endpoint state through the four services against Kafka and real receivers: the `enabled`
//! toggle, auto-disable on `410 Gone` and after every attempt failed for the policy's window,
//! the `webhook.disabled` notice at the operational URL, events for a disabled endpoint kept
//! as `endpoint_disabled` dead letters, and re-sent (same webhook ids) once it is enabled.

use hookline::Service;
use hookline_model::Permission::{WebhooksRead as R, WebhooksWrite as W};
use hookline_tests::{eventually, reference_signature, unique, Receiver, TestPipeline};
use serde_json::{json, Value};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);
const HOOKS: &str = "/api/v1/webhooks";
const OPS: &str = "/api/v1/operational-webhook";
const DEAD: &str = "/api/v1/user/webhooks/dead-letters";

fn hook(id: &str) -> String {
    format!("{HOOKS}/{id}")
}

/// The subscription's view once `pred` holds for it.
async fn wait_view(p: &TestPipeline, key: &str, id: &str, pred: impl Fn(&Value) -> bool, what: &str) -> Value {
    eventually(WAIT, || async {
        let (_, v) = p.call("GET", &hook(id), Some(key), None).await;
        pred(&v).then_some(v)
    })
    .await
    .unwrap_or_else(|| panic!("{what}: subscription {id} never got there"))
}

/// The caller's dead letter for subscription `sub` with `reason`, once it is listed.
async fn wait_dead_letter(p: &TestPipeline, key: &str, sub: &str, reason: &str) -> Value {
    eventually(WAIT, || async {
        let (_, v) = p.call("GET", DEAD, Some(key), None).await;
        v["dead_letters"]
            .as_array()?
            .iter()
            .find(|d| d["subscription_id"] == sub && d["reason"] == reason)
            .cloned()
    })
    .await
    .unwrap_or_else(|| panic!("no {reason} dead letter for {sub}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disabled_endpoints_keep_their_events_and_get_them_back_when_enabled() {
    // Auto-disable after 2 s of failures; named retries 1 s and 3 s apart.
    let mut p = TestPipeline::start_with(
        &unique("ep"),
        &Service::ALL,
        &["--auto-disable-after-secs=2", "--retry-delay-scale=0.1"],
    )
    .await
    .unwrap();
    let ws = format!("ws-{}", p.id);
    let key = p.create_key(&ws, &[R, W]).await.unwrap();
    let read_only = p.create_key(&ws, &[R]).await.unwrap();
    let gone = Receiver::start().await;
    gone.respond_with(410);
    let failing = Receiver::start().await;
    failing.respond_with(500);
    let ops = Receiver::start().await;

    // The operational URL: its secret is shown once, a read-only key cannot set it, and the
    // URL policy applies.
    let put_ops = |k: &str, body: Value| {
        let (p, k) = (&p, k.to_string());
        async move { p.call("PUT", OPS, Some(&k), Some(&body.to_string())).await }
    };
    assert_eq!(put_ops(&read_only, json!({"url": ops.url("/ops")})).await.0, 403);
    let (s, v) = put_ops(&key, json!({"url": "http://169.254.169.254/latest"})).await;
    assert_eq!((s, v["error_code"].as_str()), (400, Some("INVALID_URL")));
    let (s, v) = put_ops(&key, json!({"url": 7})).await;
    assert_eq!((s, v["error_code"].as_str()), (400, Some("INVALID_URL")));
    let (s, set) = put_ops(&key, json!({"url": ops.url("/ops")})).await;
    assert_eq!(s, 200, "{set}");
    let ops_secret = set["signing_secret"].as_str().unwrap().to_string();
    assert!(ops_secret.starts_with("whsec_"));
    let (s, again) = put_ops(&key, json!({"url": ops.url("/ops")})).await;
    assert_eq!(
        (s, again),
        (200, json!({"url": ops.url("/ops")})),
        "the secret is shown once"
    );
    let (s, got) = p.call("GET", OPS, Some(&read_only), None).await;
    assert_eq!((s, got), (200, json!({"url": ops.url("/ops")})));

    // Two named subscriptions, one message each at a time.
    let create = |name: &str, url: String, refs: &[&str]| {
        let body = json!({"name": name, "url": url, "event_types": ["SMS_STATUS"],
                          "filter": {"status": ["delivered"], "message_ref": refs}});
        let (p, key) = (&p, &key);
        async move {
            let (s, v) = p.call("POST", HOOKS, Some(key), Some(&body.to_string())).await;
            assert_eq!(s, 201, "{v}");
            assert_eq!(
                (v["enabled"].clone(), v["disabled"].clone()),
                (json!(true), Value::Null)
            );
            v["id"].as_str().unwrap().to_string()
        }
    };
    let gone_id = create("Gone", gone.url("/gone"), &["m-g1", "m-g2"]).await;
    let failing_id = create("Failing", failing.url("/failing"), &["m-f1", "m-f2"]).await;
    let (_, list) = p.call("GET", HOOKS, Some(&key), None).await;
    assert_eq!(
        list["data"].as_array().unwrap().len(),
        2,
        "the operational URL is not a named subscription: {list}"
    );
    p.wait_workspace_version(&ws, p.workspace_version(&ws).unwrap(), WAIT)
        .await
        .unwrap();

    // 410 Gone once: disabled, with the reason and time on GET, announced at the operational
    // URL, signed with its secret.
    p.send_delivered(&ws, "m-g1").await.unwrap();
    gone.expect_n(1, WAIT, |_| true, "the status answered 410").await;
    let view = wait_view(&p, &key, &gone_id, |v| v["enabled"] == false, "disabled after 410").await;
    assert_eq!(view["disabled"]["reason"], "gone", "{view}");
    assert_eq!(view["disabled"]["detail"], "HTTP 410", "{view}");
    assert!(view["disabled"]["at"].as_str().unwrap().ends_with('Z'));
    let notice = ops.expect_n(1, WAIT, |_| true, "webhook.disabled").await.remove(0);
    assert_eq!(notice.path, "/ops");
    assert_eq!(notice.header("x-webhook-event"), Some("webhook.disabled"));
    let ts = notice.header("x-webhook-timestamp").unwrap();
    assert_eq!(
        notice.header("x-webhook-signature").unwrap(),
        reference_signature(&ops_secret, ts, &notice.body)
    );
    let body = notice.json();
    assert_eq!(body["type"], "webhook.disabled");
    assert_eq!(body["data"]["subscription_id"], gone_id.as_str());
    assert_eq!(body["data"]["name"], "Gone");
    assert_eq!(body["data"]["url"], gone.url("/gone"));
    assert_eq!(body["data"]["reason"], "gone");
    assert_eq!(body["data"]["detail"], "HTTP 410");
    p.wait_metric(
        "hookline_api_endpoints_auto_disabled_total",
        &[("reason", "gone")],
        |v| v == 1.0,
        WAIT,
        "one gone endpoint",
    )
    .await
    .unwrap();

    // An event for the disabled endpoint is kept as a dead letter, not sent.
    p.send_delivered(&ws, "m-g2").await.unwrap();
    let kept = wait_dead_letter(&p, &key, &gone_id, "endpoint_disabled").await;
    assert_eq!(kept["subscription_id"], gone_id.as_str());
    assert_eq!(kept["attempts"], 0);
    p.wait_settled(WAIT, "the events for the disabled endpoint")
        .await
        .unwrap();
    assert_eq!(gone.requests().len(), 1, "nothing sent while disabled");

    // Re-enabled by hand (typed errors first), then the kept event re-sent with its webhook id.
    let patch = |k: &str, body: &str| {
        let (p, k, path, body) = (&p, k.to_string(), hook(&gone_id), body.to_string());
        async move { p.call("PATCH", &path, Some(&k), Some(&body)).await }
    };
    let (s, v) = patch(&key, r#"{"enabled":"yes"}"#).await;
    assert_eq!((s, v["error_code"].as_str()), (400, Some("INVALID_ENABLED")));
    assert_eq!(patch(&read_only, r#"{"enabled":true}"#).await.0, 403);
    gone.respond_with(200);
    let (s, v) = patch(&key, r#"{"enabled":true}"#).await;
    assert_eq!(
        (s, v["enabled"].clone(), v["disabled"].clone()),
        (200, json!(true), Value::Null)
    );
    p.wait_workspace_version(&ws, p.workspace_version(&ws).unwrap(), WAIT)
        .await
        .unwrap();
    let resend = json!({"webhook_ids": [kept["webhook_id"]]}).to_string();
    assert_eq!(
        p.call("POST", &format!("{DEAD}/resend"), Some(&read_only), Some(&resend))
            .await
            .0,
        403
    );
    let (s, v) = p
        .call("POST", &format!("{DEAD}/resend"), Some(&key), Some(r#"{"nope":1}"#))
        .await;
    assert_eq!((s, v["error_code"].as_str()), (400, Some("INVALID_BODY")));
    let (s, v) = p
        .call("POST", &format!("{DEAD}/resend"), Some(&key), Some(&resend))
        .await;
    assert_eq!((s, v), (200, json!({"resent": 1})));
    let back = gone
        .expect_n(
            1,
            WAIT,
            |r| r.json()["data"]["message_ref"] == "m-g2",
            "the re-sent event",
        )
        .await;
    assert_eq!(back[0].header("x-webhook-id"), kept["webhook_id"].as_str());

    // Disabled by hand: reason `manual`; another change keeps it disabled.
    let (s, v) = patch(&key, r#"{"enabled":false}"#).await;
    assert_eq!(
        (s, v["enabled"].clone(), v["disabled"]["reason"].clone()),
        (200, json!(false), json!("manual"))
    );
    let (s, v) = patch(&key, r#"{"name":"Gone again"}"#).await;
    assert_eq!((s, v["disabled"]["reason"].clone()), (200, json!("manual")));

    // Every attempt failing for the window (2 s here): disabled as `failing` at the attempt
    // that is 2 s or more after the streak's first failure.
    p.send_delivered(&ws, "m-f1").await.unwrap();
    let view = wait_view(
        &p,
        &key,
        &failing_id,
        |v| v["enabled"] == false,
        "disabled after failing",
    )
    .await;
    assert_eq!(view["disabled"]["reason"], "failing", "{view}");
    assert_eq!(view["disabled"]["detail"], "HTTP 500", "{view}");
    let attempts = failing.requests();
    assert!(attempts.len() >= 2, "{} attempts", attempts.len());
    let streak = attempts.last().unwrap().at - attempts[0].at;
    assert!(
        streak >= Duration::from_secs(2),
        "disabled after {streak:?} of failures"
    );
    let notice = ops
        .expect_n(2, WAIT, |_| true, "the second webhook.disabled")
        .await
        .remove(1)
        .json();
    assert_eq!(notice["data"]["subscription_id"], failing_id.as_str());
    assert_eq!(notice["data"]["reason"], "failing");
    assert!(notice["data"]["failing_since"].as_str().is_some(), "{notice}");
    p.wait_metric(
        "hookline_api_endpoints_auto_disabled_total",
        &[("reason", "failing")],
        |v| v == 1.0,
        WAIT,
        "one failing endpoint",
    )
    .await
    .unwrap();
    p.send_delivered(&ws, "m-f2").await.unwrap();
    wait_dead_letter(&p, &key, &failing_id, "endpoint_disabled").await;
    p.wait_metric(
        "hookline_delivery_dead_lettered_total",
        &[("reason", "endpoint_disabled")],
        |v| v >= 2.0,
        WAIT,
        "both kept events counted",
    )
    .await
    .unwrap();

    // A manually disabled endpoint is never announced; nothing else went to the operational URL.
    p.wait_settled(WAIT, "everything").await.unwrap();
    assert_eq!(ops.requests().len(), 2);
    p.stop().await.unwrap();
}
