//! No secret in the services' logs, even at debug level (held behaviour of security issue 13):
//! signing secrets, SMSEdge Basic-auth credentials, API keys and ingest credentials go through
//! configuration, ingest, enrich, failed and retried deliveries, and none of them shows up in
//! what the services log. Its own test binary, because it installs the process's subscriber.

use base64::Engine;
use hookline_model::Permission::{WebhooksRead as R, WebhooksWrite as W};
use hookline_tests::{Receiver, TestPipeline};
use serde_json::json;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_is_logged_at_debug_level() {
    let logs = Captured::default();
    tracing_subscriber::fmt()
        .with_env_filter("debug")
        .with_writer(logs.clone())
        .with_ansi(false)
        .init();

    let p = TestPipeline::start().await.unwrap();
    let rx = Receiver::start().await;
    let ws = hookline_tests::unique("ws");
    let key = p.create_key(&ws, &[R, W]).await.unwrap();
    let secret = "signing-secret-Zq81x";
    let (s, _) = p
        .put_webhooks(&key, json!({"delivery_url": rx.url("/dlr"), "signing_secret": secret}))
        .await
        .unwrap();
    assert_eq!(s, 200);
    let (basic_user, basic_pass) = ("edgeuser", "edge-pass-Kp2");
    let r = p
        .http
        .post(p.api("/v1/user/set-webhook"))
        .header("X-API-Key", &key)
        .form(&[
            ("dlr_url", rx.url("/smsedge")),
            ("auth", format!("{basic_user}:{basic_pass}")),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // Events through the HTTP edge; the first attempts fail (both DLR webhooks), so the
    // 23 Telecom one is retried (10 s later) and the attempt log records both failures.
    rx.fail_next(2, 500);
    let m = TestPipeline::accepted(&ws, "m-1", "c-1");
    assert_eq!(
        p.ingest_post("/v1/messages").json(&m).send().await.unwrap().status(),
        202
    );
    let dlr = json!({"carrier_message_id": "c-1", "status": "DELIVRD"});
    assert_eq!(p.ingest_post("/v1/dlr").json(&dlr).send().await.unwrap().status(), 202);
    let got = rx
        .expect_n(
            1,
            Duration::from_secs(60),
            |r| r.header("x-webhook-attempt") == Some("2"),
            "the signed webhook was retried",
        )
        .await;
    assert!(got[0].header("x-webhook-signature").is_some());
    let smsedge = rx.requests().into_iter().filter(|r| r.path == "/smsedge").count();
    assert_eq!(smsedge, 1, "the Basic-auth webhook was attempted");

    let text = String::from_utf8_lossy(&logs.0.lock().unwrap()).into_owned();
    assert!(
        text.contains("DEBUG") && text.lines().count() > 20,
        "debug logging was captured ({} lines)",
        text.lines().count()
    );
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{basic_user}:{basic_pass}"));
    for (what, needle) in [
        ("signing secret", secret),
        ("Basic-auth password", basic_pass),
        ("Basic-auth header", basic.as_str()),
        ("API key", key.as_str()),
        ("ingest credential", p.ingest_key.as_str()),
    ] {
        assert!(!text.contains(needle), "the {what} appears in the logs");
    }
}
