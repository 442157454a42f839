//! Issue 28, finding 6: the operational URL's signing secret can be rotated like a named
//! subscription's (`POST /api/v1/operational-webhook/rotate-secret`): the new secret signs the
//! next notice at once, and during the overlap the replaced one signs it too, as a second
//! `webhook-signature` entry.

use hookline::Service;
use hookline_model::Permission::{WebhooksRead as R, WebhooksWrite as W};
use hookline_security::StandardSigner;
use hookline_tests::{reference_signature, unique, Receiver, TestPipeline};
use serde_json::{json, Value};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);
const OPS: &str = "/api/v1/operational-webhook";
const ROTATE: &str = "/api/v1/operational-webhook/rotate-secret";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operational_secret_rotates_with_an_overlap() {
    let mut p = TestPipeline::start_with(&unique("opsrot"), &Service::ALL, &[])
        .await
        .unwrap();
    let ws = format!("ws-{}", p.id);
    let key = p.create_key(&ws, &[R, W]).await.unwrap();
    let read_only = p.create_key(&ws, &[R]).await.unwrap();
    let ops = Receiver::start().await;
    let gone = Receiver::start().await;
    gone.respond_with(410);

    // Nothing to rotate yet; a read-only key may not.
    let (s, v) = p.call("POST", ROTATE, Some(&key), None).await;
    assert_eq!((s, v["error_code"].as_str()), (404, Some("NOT_FOUND")), "{v}");
    let (s, set) = p
        .call(
            "PUT",
            OPS,
            Some(&key),
            Some(&json!({"url": ops.url("/ops")}).to_string()),
        )
        .await;
    assert_eq!(s, 200, "{set}");
    let old = set["signing_secret"].as_str().unwrap().to_string();
    assert_eq!(p.call("POST", ROTATE, Some(&read_only), None).await.0, 403);
    let (s, v) = p
        .call("POST", ROTATE, Some(&key), Some(r#"{"overlap_secs":604801}"#))
        .await;
    assert_eq!((s, v["error_code"].as_str()), (400, Some("INVALID_OVERLAP")), "{v}");

    let version = p.workspace_version(&ws).unwrap();
    let (s, rotated) = p
        .call("POST", ROTATE, Some(&key), Some(r#"{"overlap_secs":3600}"#))
        .await;
    assert_eq!(s, 200, "{rotated}");
    let new = rotated["signing_secret"].as_str().unwrap().to_string();
    assert!(new.starts_with("whsec_") && new != old);
    assert_eq!(rotated["url"], ops.url("/ops"));
    assert!(rotated["previous_secret_expires_at"].as_str().unwrap().ends_with('Z'));
    // The secret is shown once: the view has none.
    let (_, view) = p.call("GET", OPS, Some(&read_only), None).await;
    assert_eq!(view, json!({"url": ops.url("/ops")}));
    p.wait_workspace_version(&ws, version + 1, WAIT).await.unwrap();

    // A notice (a subscription answering 410 is disabled) is signed by both secrets.
    let body = json!({"name": "Gone", "url": gone.url("/gone"), "event_types": ["SMS_STATUS"]});
    let (s, v) = p
        .call("POST", "/api/v1/webhooks", Some(&key), Some(&body.to_string()))
        .await;
    assert_eq!(s, 201, "{v}");
    p.wait_workspace_version(&ws, p.workspace_version(&ws).unwrap(), WAIT)
        .await
        .unwrap();
    p.send_delivered(&ws, "m-1").await.unwrap();
    let notice = ops.expect_n(1, WAIT, |_| true, "webhook.disabled").await.remove(0);
    let body: Value = notice.json();
    assert_eq!(body["type"], "webhook.disabled", "{body}");
    let ts = notice.header("x-webhook-timestamp").unwrap();
    assert_eq!(
        notice.header("x-webhook-signature").unwrap(),
        reference_signature(&new, ts, &notice.body),
        "the single-value signature is the new secret's"
    );
    let (id, ts) = (
        notice.header("webhook-id").unwrap(),
        notice.header("webhook-timestamp").unwrap(),
    );
    let sign = |secret: &str| StandardSigner::new(secret).unwrap().sign(id, ts, &notice.body);
    assert_eq!(
        notice.header("webhook-signature").unwrap(),
        format!("{} {}", sign(&new), sign(&old)),
        "both secrets sign during the overlap, the new one first"
    );
    p.stop().await.unwrap();
}
