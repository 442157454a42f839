//! Named subscriptions' Standard Webhooks headers, checked end to end by the official
//! verifier libraries, unmodified: PyPI `standardwebhooks` (in
//! `~/.cache/hookline/venv-standardwebhooks`) and npm `standardwebhooks` (under
//! `~/.cache/hookline/node`), both installed by `scripts/test.sh`. Real deliveries are captured
//! by a receiver (headers and exact body bytes) and handed to `tests/receivers/
//! verify_standard_webhooks.{py,js}`: the right secret verifies, another secret, a changed body
//! and an old timestamp are rejected; during a secret rotation's overlap both secrets verify,
//! after it only the new one; secrets of the old `whsec_` + hex format verify unchanged; the
//! 23 Telecom request next to them carries none of these headers.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use chrono::{DateTime, Utc};
use hookline_model::Permission::{WebhooksRead as R, WebhooksWrite as W};
use hookline_tests::{eventually, reference_signature, Received, Receiver, TestPipeline};
use serde_json::{json, Value};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);
const HOOKS: &str = "/api/v1/webhooks";

#[derive(Debug, Clone, Copy)]
enum Lib {
    Python,
    Node,
}

const LIBS: [Lib; 2] = [Lib::Python, Lib::Node];

fn home_cache(rest: &str) -> String {
    format!("{}/.cache/hookline/{rest}", std::env::var("HOME").unwrap_or_default())
}

fn command(lib: Lib) -> Command {
    match lib {
        Lib::Python => Command::new(
            std::env::var("HOOKLINE_TEST_STANDARDWEBHOOKS_PYTHON")
                .unwrap_or_else(|_| home_cache("venv-standardwebhooks/bin/python")),
        ),
        Lib::Node => {
            let mut c = Command::new("node");
            let path = std::env::var("HOOKLINE_TEST_NODE_PATH").unwrap_or_else(|_| home_cache("node/node_modules"));
            c.env("NODE_PATH", path);
            c
        }
    }
}

fn script(lib: Lib) -> PathBuf {
    let file = match lib {
        Lib::Python => "verify_standard_webhooks.py",
        Lib::Node => "verify_standard_webhooks.js",
    };
    Path::new(env!("CARGO_MANIFEST_DIR")).join("receivers").join(file)
}

/// Fails (never skips) when a verifier library is not installed.
fn require_libraries() {
    for lib in LIBS {
        let check = match lib {
            Lib::Python => ["-c", "import standardwebhooks"],
            Lib::Node => ["-e", "require('standardwebhooks')"],
        };
        let ok = command(lib)
            .args(check)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        assert!(
            ok,
            "the official {lib:?} `standardwebhooks` library is not installed: run scripts/test.sh \
             (it installs PyPI standardwebhooks in ~/.cache/hookline/venv-standardwebhooks and npm \
             standardwebhooks under ~/.cache/hookline/node)"
        );
    }
}

/// What one verifier said about a request: `Ok` when it verified, the library's message when
/// it rejected it.
fn verify(lib: Lib, secret: &str, r: &Received, body: &[u8], resign_timestamp: Option<i64>) -> Result<(), String> {
    let headers: serde_json::Map<String, Value> = r.headers.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
    let case = json!({"secret": secret, "headers": headers, "body_b64": B64.encode(body),
                      "resign_timestamp": resign_timestamp});
    let mut child = command(lib)
        .arg(script(lib))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{lib:?} verifier: {e}; run scripts/test.sh"));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(case.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{lib:?} verifier failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let said: Value = serde_json::from_slice(&out.stdout).expect("the verifier prints one JSON line");
    match said["ok"].as_bool() {
        Some(true) => Ok(()),
        _ => Err(said["error"].as_str().unwrap_or_default().to_string()),
    }
}

/// Both libraries verify `r` with `secret`.
#[track_caller]
fn accepted_by_both(secret: &str, r: &Received, what: &str) {
    for lib in LIBS {
        assert_eq!(verify(lib, secret, r, &r.body, None), Ok(()), "{lib:?}: {what}");
    }
}

/// Both libraries reject `r` (with `body` and, when given, re-signed at `resign`), saying `why`.
#[track_caller]
fn rejected_by_both(secret: &str, r: &Received, body: &[u8], resign: Option<i64>, why: &str, what: &str) {
    for lib in LIBS {
        let said = verify(lib, secret, r, body, resign);
        assert_eq!(said, Err(why.to_string()), "{lib:?}: {what}");
    }
}

/// The Standard Webhooks algorithm written out independently of Hookline's signer.
fn reference_standard(secret: &str, id: &str, ts: &str, body: &[u8]) -> String {
    use hmac::{Hmac, Mac};
    let key = B64.decode(secret.strip_prefix("whsec_").unwrap()).unwrap();
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{id}.{ts}.").as_bytes());
    mac.update(body);
    format!("v1,{}", B64.encode(mac.finalize().into_bytes()))
}

fn signatures(r: &Received) -> Vec<&str> {
    r.header("webhook-signature").unwrap().split(' ').collect()
}

/// Sends SMS `m` and its delivered DLR, and returns the named subscription's request for it.
async fn deliver(p: &TestPipeline, ws: &str, named: &Receiver, m: &str) -> Received {
    let carrier = format!("c-{m}");
    p.send_accepted(ws, m, &carrier).await.unwrap();
    p.send_dlr(&carrier, &format!("id:{carrier} stat:DELIVRD err:000"))
        .await
        .unwrap();
    let got = named
        .expect_n(
            1,
            WAIT,
            |r| r.json()["data"]["message_ref"] == m,
            "the delivered status",
        )
        .await;
    got[0].clone()
}

/// `POST .../rotate-secret` with `body`; waits until the pipeline has the new config.
async fn rotate(p: &TestPipeline, ws: &str, key: &str, id: &str, body: Option<&str>) -> Value {
    let version = p.workspace_version(ws).unwrap();
    let (s, v) = p
        .call("POST", &format!("{HOOKS}/{id}/rotate-secret"), Some(key), body)
        .await;
    assert_eq!(s, 200, "{v}");
    p.wait_workspace_version(ws, version + 1, WAIT).await.unwrap();
    v
}

fn expiry(v: &Value) -> DateTime<Utc> {
    v["previous_secret_expires_at"].as_str().unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_verifiers_accept_deliveries_and_secret_rotations() {
    require_libraries();
    let mut p = TestPipeline::start().await.unwrap();
    let ws = format!("ws-{}", p.id);
    let key = p.create_key(&ws, &[R, W]).await.unwrap();
    let read_only = p.create_key(&ws, &[R]).await.unwrap();
    let other = p.create_key(&format!("other-{}", p.id), &[R, W]).await.unwrap();
    let (named, t23) = (Receiver::start().await, Receiver::start().await);
    let (s, _) = p
        .put_webhooks(
            &key,
            json!({"delivery_url": t23.url("/t23"), "signing_secret": "t23-secret"}),
        )
        .await
        .unwrap();
    assert_eq!(s, 200);
    let t23_view = p.user_get(&key, "/api/v1/user/webhooks").await.unwrap();
    let version = p.workspace_version(&ws).unwrap();
    let body = json!({"name": "Delivered SMS", "url": named.url("/named"), "event_types": ["SMS_STATUS"],
                      "filter": {"status": ["delivered"]}});
    let (s, created) = p.call("POST", HOOKS, Some(&key), Some(&body.to_string())).await;
    assert_eq!(s, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_string();
    let first = created["signing_secret"].as_str().unwrap().to_string();
    assert_eq!(created["previous_secret_expires_at"], Value::Null);
    p.wait_workspace_version(&ws, version + 1, WAIT).await.unwrap();
    let wrong = hookline_security::standard_webhooks::generate_secret();

    // One secret: the headers, and what the verifiers make of them.
    let r = deliver(&p, &ws, &named, "m-1").await;
    let (wid, ts) = (r.header("webhook-id").unwrap(), r.header("webhook-timestamp").unwrap());
    assert_eq!(Some(wid), r.header("x-webhook-id"));
    assert_eq!(Some(ts), r.header("x-webhook-timestamp"));
    assert_eq!(
        r.header("x-webhook-signature").unwrap(),
        reference_signature(&first, ts, &r.body),
        "X-Webhook-Signature unchanged"
    );
    assert_eq!(signatures(&r), [reference_standard(&first, wid, ts, &r.body)]);
    accepted_by_both(&first, &r, "the subscription's secret");
    rejected_by_both(
        &wrong,
        &r,
        &r.body,
        None,
        "No matching signature found",
        "another secret",
    );
    let mut changed = r.body.clone();
    changed.push(b' ');
    rejected_by_both(
        &first,
        &r,
        &changed,
        None,
        "No matching signature found",
        "a changed body",
    );
    // Re-signed by the library itself at the delivery's own time it verifies, so re-signed
    // six minutes earlier it fails on the time alone.
    let sent_at: i64 = ts.parse().unwrap();
    for lib in LIBS {
        assert_eq!(verify(lib, &first, &r, &r.body, Some(sent_at)), Ok(()), "{lib:?}");
    }
    rejected_by_both(
        &first,
        &r,
        &r.body,
        Some(sent_at - 360),
        "Message timestamp too old",
        "stale",
    );
    // The 23 Telecom request for the same DLR has none of the Standard Webhooks headers.
    let t = t23.expect_n(1, WAIT, |_| true, "the 23 Telecom DLR").await;
    for h in ["webhook-id", "webhook-timestamp", "webhook-signature"] {
        assert_eq!(t[0].header(h), None, "{h}");
    }
    let t_ts = t[0].header("x-webhook-timestamp").unwrap();
    assert_eq!(
        t[0].header("x-webhook-signature").unwrap(),
        reference_signature("t23-secret", t_ts, &t[0].body)
    );

    // Rotation errors change nothing.
    let before = p.call("GET", &format!("{HOOKS}/{id}"), Some(&key), None).await.1;
    let version = p.workspace_version(&ws).unwrap();
    let path = format!("{HOOKS}/{id}/rotate-secret");
    for (k, path, body, status, code) in [
        (None, path.as_str(), None, 401, "UNAUTHORIZED"),
        (Some(&read_only), path.as_str(), None, 403, "FORBIDDEN"),
        (Some(&other), path.as_str(), None, 404, "NOT_FOUND"),
        (
            Some(&key),
            "/api/v1/webhooks/wh_unknown/rotate-secret",
            None,
            404,
            "NOT_FOUND",
        ),
        (
            Some(&key),
            "/api/v1/webhooks/t23-delivery/rotate-secret",
            None,
            404,
            "NOT_FOUND",
        ),
        (Some(&key), path.as_str(), Some("{"), 400, "INVALID_BODY"),
        (
            Some(&key),
            path.as_str(),
            Some(r#"{"overlap_secs":-1}"#),
            400,
            "INVALID_OVERLAP",
        ),
        (
            Some(&key),
            path.as_str(),
            Some(r#"{"overlap_secs":604801}"#),
            400,
            "INVALID_OVERLAP",
        ),
        (
            Some(&key),
            path.as_str(),
            Some(r#"{"overlap_secs":"60"}"#),
            400,
            "INVALID_OVERLAP",
        ),
    ] {
        let (s, v) = p.call("POST", path, k.map(String::as_str), body).await;
        assert_eq!(
            (s, v["error_code"].as_str()),
            (status, Some(code)),
            "{path} {body:?}: {v}"
        );
    }
    assert_eq!(p.workspace_version(&ws), Some(version));
    assert_eq!(
        p.call("GET", &format!("{HOOKS}/{id}"), Some(&key), None).await.1,
        before
    );

    // Rotation with the default overlap (24 h): both secrets sign, either verifies.
    let asked = Utc::now();
    let v = rotate(&p, &ws, &key, &id, None).await;
    let second = v["signing_secret"].as_str().unwrap().to_string();
    assert_eq!(v["id"], id.as_str());
    assert!(second.starts_with("whsec_") && second != first);
    let until = expiry(&v);
    let day = chrono::Duration::hours(24);
    assert!(until >= asked + day - chrono::Duration::seconds(1) && until <= Utc::now() + day);
    let shown = p.call("GET", &format!("{HOOKS}/{id}"), Some(&read_only), None).await.1;
    assert_eq!(shown["previous_secret_expires_at"], v["previous_secret_expires_at"]);
    let listed = p.call("GET", HOOKS, Some(&key), None).await.1.to_string();
    for s in [&first, &second] {
        assert!(!shown.to_string().contains(s.as_str()) && !listed.contains(s.as_str()));
    }
    let r = deliver(&p, &ws, &named, "m-2").await;
    let (wid, ts) = (r.header("webhook-id").unwrap(), r.header("webhook-timestamp").unwrap());
    assert_eq!(
        signatures(&r),
        [
            reference_standard(&second, wid, ts, &r.body),
            reference_standard(&first, wid, ts, &r.body)
        ]
    );
    assert_eq!(
        r.header("x-webhook-signature").unwrap(),
        reference_signature(&second, ts, &r.body),
        "X-Webhook-Signature: the new secret only"
    );
    accepted_by_both(&first, &r, "the old secret during the overlap");
    accepted_by_both(&second, &r, "the new secret");
    rejected_by_both(
        &wrong,
        &r,
        &r.body,
        None,
        "No matching signature found",
        "another secret",
    );

    // Rotating again, with a 2 s overlap: the previous secret is now the second one; once its
    // overlap has passed only the third signs.
    let v = rotate(&p, &ws, &key, &id, Some(r#"{"overlap_secs":2}"#)).await;
    let third = v["signing_secret"].as_str().unwrap().to_string();
    let until = expiry(&v);
    assert!(until <= Utc::now() + chrono::Duration::seconds(2));
    eventually(WAIT, || async { (Utc::now() > until).then_some(()) })
        .await
        .unwrap();
    let shown = p.call("GET", &format!("{HOOKS}/{id}"), Some(&key), None).await.1;
    assert_eq!(shown["previous_secret_expires_at"], Value::Null, "expired");
    let r = deliver(&p, &ws, &named, "m-3").await;
    assert_eq!(signatures(&r).len(), 1, "{:?}", signatures(&r));
    accepted_by_both(&third, &r, "the new secret");
    rejected_by_both(&second, &r, &r.body, None, "No matching signature found", "expired");
    rejected_by_both(&first, &r, &r.body, None, "No matching signature found", "two back");

    // No overlap: the replaced secret stops signing at once.
    let v = rotate(&p, &ws, &key, &id, Some(r#"{"overlap_secs":0}"#)).await;
    let fourth = v["signing_secret"].as_str().unwrap().to_string();
    assert!(expiry(&v) <= Utc::now());
    let r = deliver(&p, &ws, &named, "m-4").await;
    assert_eq!(signatures(&r).len(), 1);
    accepted_by_both(&fourth, &r, "the new secret");
    rejected_by_both(&third, &r, &r.body, None, "No matching signature found", "no overlap");

    // 23 Telecom untouched by all of it.
    assert_eq!(p.user_get(&key, "/api/v1/user/webhooks").await.unwrap(), t23_view);
    p.stop().await.unwrap();
}

/// Secrets issued before the Standard Webhooks format (`whsec_` + 48 hex characters) keep
/// verifying: hex is base64, and Hookline decodes them as the official libraries do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_format_secrets_verify_with_the_official_libraries() {
    use hookline_model::*;
    require_libraries();
    let mut p = TestPipeline::start_with(&hookline_tests::unique("swold"), &[hookline::Service::Delivery], &[])
        .await
        .unwrap();
    let sealer = hookline_security::Sealer::new(p.settings.security.secret_key.as_deref()).unwrap();
    let named = Receiver::start().await;
    let old = format!("whsec_{}", hex::encode(rand::random::<[u8; 24]>()));
    assert_eq!(old.len(), 54);
    let sub = Subscription {
        name: Some("Old".into()),
        event_kinds: vec![EventKind::Delivery],
        signing_secret: Some(SealedSecret(sealer.seal(&old))),
        ..Subscription::new(Dialect::Named, format!("ws-{}", p.id), "wh_old", named.url("/old"))
    };
    p.put_subscription(&sub).await.unwrap();
    let dispatch_id = p.dispatch(&sub, 1).await.unwrap();
    let r = named.expect_n(1, WAIT, |_| true, "the dispatched event").await;
    let r = &r[0];
    assert_eq!(r.header("webhook-id"), Some(dispatch_id.as_str()));
    let ts = r.header("webhook-timestamp").unwrap();
    assert_eq!(signatures(r), [reference_standard(&old, &dispatch_id, ts, &r.body)]);
    accepted_by_both(&old, r, "an old-format secret");
    let wrong = format!("whsec_{}", hex::encode(rand::random::<[u8; 24]>()));
    rejected_by_both(&wrong, r, &r.body, None, "No matching signature found", "another one");
    p.stop().await.unwrap();
}
