//! Secrets stay in the config topic (sealed) and in delivery's memory: dispatch, retry,
//! dead-letter and attempt records and the Redis dead-letter list name the subscription and
//! its config version, never its secret or credentials; delivery takes them from its live
//! config, waiting for a config version it has not read yet instead of taking a new
//! subscription for a deleted one; and the api and delivery refuse to start without the
//! operator key unless plaintext secrets are allowed.

use base64::Engine;
use hookline::Service;
use hookline_model::Permission::{WebhooksRead as R, WebhooksWrite as W};
use hookline_model::{Dispatch, EventKind, Subscription};
use hookline_tests::{delivery_event, eventually, reference_signature, Receiver, Record, TestPipeline};
use serde_json::{json, Value};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(60);

/// The value of one metric line (`name{labels}`), if the scrape has it.
fn metric(scrape: &str, series: &str) -> Option<f64> {
    scrape.lines().find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
}

async fn wait_metric(p: &TestPipeline, series: &str, at_least: f64) -> bool {
    eventually(WAIT, || async {
        let scrape = p.metrics().await.ok()?;
        (metric(&scrape, series)? >= at_least).then_some(())
    })
    .await
    .is_some()
}

/// Every byte of a record a leak could hide in: key, value, header names and values.
fn all_bytes(r: &Record) -> Vec<u8> {
    let mut out = r.key.clone();
    out.extend_from_slice(&r.payload);
    for (k, v) in &r.headers {
        out.extend_from_slice(k.as_bytes());
        out.extend_from_slice(v.as_bytes());
    }
    out
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle.as_bytes())
}

fn assert_signed(r: &hookline_tests::Received, secret: &str) {
    let ts = r.header("x-webhook-timestamp").expect("timestamp header");
    assert_eq!(
        r.header("x-webhook-signature"),
        Some(reference_signature(secret, ts, &r.body).as_str()),
        "signed with {secret}"
    );
}

async fn smsedge_set(p: &TestPipeline, key: &str, form: &[(&str, &str)]) -> u16 {
    p.http
        .post(p.api("/v1/user/set-webhook"))
        .header("X-API-Key", key)
        .form(form)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// A failing delivery with a signing secret (23 Telecom) and Basic auth (SMSEdge) through
/// every retry to the dead-letter topic and the Redis list: neither the secret, nor the Basic
/// credentials, nor their sealed forms in the config topic appear in any byte of the dispatch,
/// retry, dead-letter or attempt records or of the stored dead letters. Re-sending them still
/// signs and authenticates, from the live config.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_leaves_the_config_topic() {
    // Both policies scaled: 23 Telecom retries after 5 and 15 ms, SMSEdge after 10.8 s twice.
    let mut p = TestPipeline::start_scaled("leak", "0.0005").await.unwrap();
    let ws = format!("ws-{}", p.id);
    let key = p.create_key(&ws, &[R, W]).await.unwrap();
    let rx = Receiver::start().await;
    rx.respond_with(500);
    let (secret, user, password) = ("whsec-Sup3rSecretSigningKey", "hookuser", "Pa55-w0rd-xyz");
    let basic = format!("{user}:{password}");
    let (s, _) = p
        .put_webhooks(&key, json!({"delivery_url": rx.url("/t23"), "signing_secret": secret}))
        .await
        .unwrap();
    assert_eq!(s, 200);
    assert_eq!(
        smsedge_set(&p, &key, &[("dlr_url", &rx.url("/se")), ("auth", &basic)]).await,
        200
    );
    p.send_accepted(&ws, "m-leak", "c-leak").await.unwrap();
    p.send_dlr("c-leak", "id:c-leak stat:DELIVRD").await.unwrap();

    // Both dead-lettered after three attempts each, and listed with their URL.
    let list = eventually(WAIT, || async {
        let (_, v) = p
            .call("GET", "/api/v1/user/webhooks/dead-letters", Some(&key), None)
            .await;
        (v["count"] == 2).then_some(v)
    })
    .await
    .expect("two dead letters listed");
    let mut listed: Vec<(String, String)> = list["dead_letters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            assert_eq!(d["attempts"], 3, "{d}");
            (
                d["subscription_id"].as_str().unwrap().to_string(),
                d["url"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    listed.sort();
    assert_eq!(
        listed,
        [
            ("se-dlr".to_string(), rx.url("/se")),
            ("t23-delivery".to_string(), rx.url("/t23"))
        ]
    );

    // The sealed forms, as the config topic holds them.
    let config = p
        .read_topic(&p.kafka.topics.config(), WAIT, |rs| {
            rs.iter().any(|r| {
                let v: Value = serde_json::from_slice(&r.payload).unwrap_or_default();
                v["telecom23"]["signing_secret"].is_string() && v["smsedge"]["basic_auth"].is_string()
            })
        })
        .await
        .unwrap();
    let ws_record: Value = config
        .iter()
        .rev()
        .find_map(|r| {
            serde_json::from_slice::<Value>(&r.payload)
                .ok()
                .filter(|v| v["workspace_id"] == ws)
        })
        .expect("workspace record");
    // Every sealed value in it (settings and subscriptions), and their ciphertext alone.
    let text = ws_record.to_string();
    let sealed: Vec<String> = text
        .split("\"v1:")
        .skip(1)
        .map(|rest| rest.split('"').next().unwrap().to_string())
        .collect();
    assert!(sealed.len() >= 2, "secret and credentials sealed at rest: {text}");
    assert!(!text.contains(secret) && !text.contains(password), "{text}");

    // The dead letters as the API stored them in Redis (before the re-send empties the list).
    let store = hookline_store::Store::redis(&hookline_tests::redis_url(), &format!("{}:", p.id))
        .await
        .unwrap();
    let stored = store.dead_letters(&ws, 10).await.unwrap();
    assert_eq!(stored.len(), 2);
    for (_, letter) in &stored {
        assert!(
            letter.dispatch.config_version >= 2,
            "names its config version: {letter:?}"
        );
    }

    // Re-send both once the receiver is back: signed and authenticated from the live config.
    assert_eq!(rx.requests().len(), 6);
    rx.respond_with(200);
    let r = p
        .http
        .post(p.api("/admin/v1/dead-letters/resend"))
        .bearer_auth(hookline_tests::ADMIN_TOKEN)
        .json(&json!({"workspace_id": ws}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["resent"], 2);
    let all = rx.expect_n(8, WAIT, |_| true, "both re-sent").await;
    let ok = &all[6..];
    let t23 = ok.iter().find(|r| r.path == "/t23").expect("23 Telecom re-sent");
    assert_signed(t23, secret);
    let se = ok.iter().find(|r| r.path == "/se").expect("SMSEdge re-sent");
    let encoded = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(&basic));
    assert_eq!(se.header("authorization"), Some(encoded.as_str()));

    // Every record of the dispatch, retry, dead-letter and attempts topics: 2 dispatches and
    // 2 re-sends, 4 retries, 2 dead letters, 8 attempts.
    let topics = p.kafka.topics.clone();
    let mut names = vec![topics.dispatch(), topics.dead(), topics.attempts()];
    names.extend(topics.retry_tiers().into_iter().map(|(_, t)| t));
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let records = p
        .read_topics(&names, WAIT, |rs| {
            let n = |t: &str| rs.iter().filter(|r| r.topic == t).count();
            n(&topics.dispatch()) >= 4 && n(&topics.dead()) >= 2 && n(&topics.attempts()) >= 8 && rs.len() >= 18
        })
        .await
        .unwrap();
    let retries = records.iter().filter(|r| r.topic.contains(".retry.")).count();
    assert_eq!(retries, 4, "two retries per subscription");
    let mut leaks = vec![];
    let mut forbidden = vec![secret, password, &basic, &encoded["Basic ".len()..]];
    forbidden.extend(sealed.iter().map(String::as_str));
    let bytes = records.iter().map(|r| (r.topic.clone(), all_bytes(r)));
    let redis = stored
        .into_iter()
        .map(|(raw, _)| ("redis dead-letter list".to_string(), raw));
    for (place, b) in bytes.chain(redis) {
        for f in &forbidden {
            if contains(&b, f) {
                leaks.push(format!("{f} in {place}: {}", String::from_utf8_lossy(&b)));
            }
        }
        // No subscription snapshot at all (attempt records name `subscription_id` only).
        if contains(&b, "\"subscription\":") || contains(&b, "\"basic_auth\"") || contains(&b, "\"signing_secret\"") {
            leaks.push(format!(
                "a subscription snapshot in {place}: {}",
                String::from_utf8_lossy(&b)
            ));
        }
    }
    assert!(leaks.is_empty(), "{leaks:#?}");
    p.stop().await.unwrap();
}

/// A delivery replica whose config is behind the record's `config_version` waits for it (and
/// defers the record meanwhile) instead of taking the new subscription for a deleted one; a
/// test send right after a secret change (api writes config, then the dispatch) is signed with
/// the new secret by a delivery process that follows the config on its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscription_newer_than_deliverys_config_is_delivered_and_signed() {
    let id = hookline_tests::unique("fresh");
    let secret_key = format!("--secret-key={}", hookline_security::Sealer::random_key_hex());
    let mut api = TestPipeline::start_with(&id, &[Service::Api], &[&secret_key])
        .await
        .unwrap();
    // Its own config follower; a short in-place wait so the deferral path runs.
    let mut delivery = TestPipeline::start_with(&id, &[Service::Delivery], &[&secret_key, "--config-wait-ms=200"])
        .await
        .unwrap();
    let ws = format!("ws-{id}");
    let key = api.create_key(&ws, &[R, W]).await.unwrap();
    let rx = Receiver::start().await;

    // The event for a subscription of config version 1, which no one has written yet: as if
    // enrich matched a subscription delivery has not read.
    let sub_id = hookline_api::telecom23::subscription_id(EventKind::Delivery);
    let stub = Subscription::new(hookline_model::Dialect::Telecom23, &ws, &sub_id, "");
    let d = Dispatch::new(delivery_event(&ws, "m-fresh"), &stub, 1);
    api.producer
        .send_json(
            &api.kafka.topics.dispatch(),
            &d.endpoint_key(),
            &d,
            &[("hookline-attempt", b"1")],
        )
        .await
        .unwrap();
    assert!(
        wait_metric(
            &delivery,
            "hookline_delivery_deferred_total{reason=\"config_behind\"}",
            2.0
        )
        .await,
        "deferred while the config is behind"
    );
    let (s, _) = api
        .put_webhooks(&key, json!({"delivery_url": rx.url("/d"), "signing_secret": "first"}))
        .await
        .unwrap();
    assert_eq!(s, 200);
    let got = rx
        .expect_n(1, WAIT, |_| true, "delivered once its config arrived")
        .await;
    assert_eq!(got[0].header("x-webhook-id"), Some(d.dispatch_id.as_str()));
    assert_eq!(
        got[0].header("x-webhook-attempt"),
        Some("1"),
        "deferrals are not attempts"
    );
    assert_signed(&got[0], "first");

    // A new secret, and a test send at once: the api's config and dispatch race delivery's
    // follower.
    let (s, _) = api
        .put_webhooks(&key, json!({"signing_secret": "second"}))
        .await
        .unwrap();
    assert_eq!(s, 200);
    let (s, v) = api
        .call(
            "POST",
            "/api/v1/user/webhooks/test",
            Some(&key),
            Some(r#"{"type":"delivery"}"#),
        )
        .await;
    assert_eq!((s, &v["success"]), (200, &json!(true)), "{v}");
    let got = rx.expect_n(2, WAIT, |_| true, "the test send").await;
    assert_eq!(got[1].header("x-webhook-id"), v["webhook_id"].as_str());
    assert_signed(&got[1], "second");

    let scrape = delivery.metrics().await.unwrap();
    assert_eq!(
        metric(
            &scrape,
            "hookline_delivery_attempts_total{event_type=\"delivery\",outcome=\"skipped\"}"
        ),
        None,
        "nothing taken for deleted: {scrape}"
    );
    delivery.stop().await.unwrap();
    api.stop().await.unwrap();
}

/// A record whose subscription was deleted (config at least as new, subscription absent) is
/// skipped at once, as before: no request, an attempt logged as skipped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_subscription_is_skipped() {
    let mut p = TestPipeline::start().await.unwrap();
    let ws = format!("ws-{}", p.id);
    let rx = Receiver::start().await;
    let kept = hookline_tests::subscription(&ws, "kept", &rx.url("/kept"));
    let deleted = hookline_tests::subscription(&ws, "deleted", &rx.url("/deleted"));
    let mut config = hookline_tests::workspace(&ws, vec![kept.clone()]);
    config.version = 2;
    p.put_workspace(&config).await.unwrap();
    p.dispatch(&deleted, 1).await.unwrap();
    p.dispatch(&kept, 2).await.unwrap();
    assert!(
        wait_metric(
            &p,
            "hookline_delivery_attempts_total{event_type=\"delivery\",outcome=\"skipped\"}",
            1.0
        )
        .await
    );
    let got = rx.expect_n(1, WAIT, |_| true, "the delivery to /kept").await;
    assert_eq!(got.iter().map(|r| r.path.as_str()).collect::<Vec<_>>(), ["/kept"]);
    p.stop().await.unwrap();
}

/// A secret rotated while a retry is pending: the retry is signed with the new secret (the
/// record names the subscription; delivery signs with the secret it has at attempt time).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_after_a_secret_rotation_is_signed_with_the_new_secret() {
    // 23 Telecom's first retry after 10 s × 0.5.
    let mut p = TestPipeline::start_scaled("rot", "0.5").await.unwrap();
    let ws = format!("ws-{}", p.id);
    let key = p.create_key(&ws, &[R, W]).await.unwrap();
    let rx = Receiver::start().await;
    rx.fail_next(1, 500);
    let (s, _) = p
        .put_webhooks(
            &key,
            json!({"delivery_url": rx.url("/d"), "signing_secret": "old-secret"}),
        )
        .await
        .unwrap();
    assert_eq!(s, 200);
    p.send_accepted(&ws, "m-rot", "c-rot").await.unwrap();
    p.send_dlr("c-rot", "id:c-rot stat:DELIVRD").await.unwrap();
    let first = rx.expect_n(1, WAIT, |_| true, "the DLR of m-rot").await;
    assert_signed(&first[0], "old-secret");
    let (s, _) = p
        .put_webhooks(&key, json!({"signing_secret": "new-secret"}))
        .await
        .unwrap();
    assert_eq!(s, 200);
    let got = rx
        .expect_n(2, WAIT, |_| true, "the DLR of m-rot signed with the new secret")
        .await;
    assert!(
        got[1].at - first[0].at >= Duration::from_secs(4),
        "the retry was pending"
    );
    assert_eq!(got[1].header("x-webhook-attempt"), Some("2"));
    assert_eq!(got[1].header("x-webhook-id"), first[0].header("x-webhook-id"));
    assert_signed(&got[1], "new-secret");
    p.stop().await.unwrap();
}

/// A record in the format before (with the whole subscription, sealed secret included) is
/// still delivered, from the live config, and written to its retry tier without the snapshot.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_format_records_are_delivered_and_lose_their_snapshot() {
    let mut p = TestPipeline::start_scaled("old", "0.1").await.unwrap();
    let ws = format!("ws-{}", p.id);
    let rx = Receiver::start().await;
    rx.fail_next(1, 500);
    let sub = hookline_tests::subscription(&ws, "old", &rx.url("/old"));
    p.put_subscription(&sub).await.unwrap();
    let mut snapshot = sub.clone();
    snapshot.url = "https://stale.example.invalid/".into();
    snapshot.signing_secret = Some(hookline_model::SealedSecret("v1:b2xkLWZvcm1hdC1zZWNyZXQ=".into()));
    let mut old = serde_json::to_value(hookline_tests::dispatch_record(&sub, 1)).unwrap();
    old["subscription"] = serde_json::to_value(&snapshot).unwrap();
    p.producer
        .send_json(
            &p.kafka.topics.dispatch(),
            &sub.endpoint_key(),
            &old,
            &[("hookline-attempt", b"1")],
        )
        .await
        .unwrap();
    let got = rx
        .expect_n(2, WAIT, |_| true, "attempted at the live URL, then retried")
        .await;
    assert_eq!(
        got[1].header("x-webhook-signature"),
        None,
        "the live subscription has no secret"
    );
    let tier = p.kafka.topics.retry_tier(10);
    let retry = p.read_topic(&tier, WAIT, |rs| !rs.is_empty()).await.unwrap();
    let text = String::from_utf8_lossy(&retry[0].payload);
    assert!(
        !text.contains("subscription\"") && !text.contains("v1:") && !text.contains("stale"),
        "{text}"
    );
    p.stop().await.unwrap();
}

/// Without an operator key the api and delivery refuse to start, with a message naming the
/// fix; ingest and enrich (no secrets) do not care; `allow_plaintext_secrets` lets them run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_and_delivery_refuse_to_start_without_a_secret_key() {
    let id = hookline_tests::unique("nokey");
    let mut settings = hookline_tests::test_settings(&id, &[]);
    settings.security.secret_key = None;
    let mut kafka = hookline_kafka::KafkaSettings::new(hookline_tests::brokers(), &format!("{id}."));
    kafka.partitions = 1;
    for svc in [Service::Api, Service::Delivery] {
        let err = hookline::start(
            &[Service::Ingest, svc],
            &kafka,
            hookline_store::Store::memory(),
            &settings,
            tokio_util::sync::CancellationToken::new(),
        )
        .await
        .err()
        .expect("refused");
        let msg = format!("{err:#}");
        assert!(
            msg.contains("HOOKLINE_SECRET_KEY is not set") && msg.contains("--allow-plaintext-secrets"),
            "{msg}"
        );
    }
    assert!(hookline::sealer_for(&[Service::Ingest, Service::Enrich], &settings.security).is_ok());

    settings.security.allow_plaintext_secrets = true;
    let shutdown = tokio_util::sync::CancellationToken::new();
    let pipeline = hookline::start(
        &[Service::Api, Service::Delivery],
        &kafka,
        hookline_store::Store::memory(),
        &settings,
        shutdown.clone(),
    )
    .await
    .expect("allowed");
    let http = reqwest::Client::new();
    let ready = eventually(WAIT, || async {
        let r = http
            .get(format!("http://{}/readyz", pipeline.admin_addr))
            .send()
            .await
            .ok()?;
        r.status().is_success().then_some(())
    })
    .await;
    assert!(ready.is_some(), "runs with plaintext secrets allowed");
    shutdown.cancel();
    pipeline.wait().await.unwrap();
}
