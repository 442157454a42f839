//! Issue 17, items 9 and 10, for named subscriptions against the running pipeline: paging
//! the listing, `created_at`/`updated_at`, `POST /api/v1/webhooks/{id}/test` and
//! `GET /api/v1/webhooks/{id}/stats`.

use hookline_model::Permission::{WebhooksRead as R, WebhooksWrite as W};
use hookline_tests::{Receiver, TestPipeline};
use serde_json::{json, Value};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);
const HOOKS: &str = "/api/v1/webhooks";

fn hook(id: &str) -> String {
    format!("{HOOKS}/{id}")
}

async fn create(p: &TestPipeline, key: &str, body: Value) -> Value {
    let (s, v) = p.call("POST", HOOKS, Some(key), Some(&body.to_string())).await;
    assert_eq!(s, 201, "{v}");
    v
}

fn ids(page: &Value) -> Vec<String> {
    page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect()
}

fn time(v: &Value) -> chrono::DateTime<chrono::FixedOffset> {
    chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap_or_else(|| panic!("not a time: {v}"))).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paging_and_timestamps() {
    let mut p = TestPipeline::start().await.unwrap();
    let ws = format!("ws-{}", p.id);
    let key = p.create_key(&ws, &[R, W]).await.unwrap();
    let other = p.create_key(&format!("other-{}", p.id), &[R, W]).await.unwrap();
    let mut created = vec![];
    for i in 0..5 {
        let body = json!({"name": format!("Hook {i}"), "url": "http://127.0.0.1:9/h", "event_types": ["SMS_STATUS"]});
        created.push(create(&p, &key, body).await);
    }
    let all_ids: Vec<String> = created.iter().map(|c| c["id"].as_str().unwrap().to_string()).collect();
    // Set on create, to the millisecond, strictly increasing in creation order.
    for pair in created.windows(2) {
        assert!(time(&pair[0]["created_at"]) < time(&pair[1]["created_at"]), "{pair:?}");
    }
    for c in &created {
        assert_eq!(c["updated_at"], c["created_at"]);
        assert!(c["created_at"].as_str().unwrap().ends_with('Z'));
    }

    // No parameters: everything (the default page holds the default maximum), last page.
    let (s, all) = p.call("GET", HOOKS, Some(&key), None).await;
    assert_eq!(
        (s, ids(&all), &all["next_cursor"]),
        (200, all_ids.clone(), &Value::Null)
    );

    // Three pages of two: each subscription once, in creation order.
    let mut seen = vec![];
    let mut cursor: Option<String> = None;
    for page in 1..=3 {
        let path = match &cursor {
            None => format!("{HOOKS}?limit=2"),
            Some(c) => format!("{HOOKS}?limit=2&cursor={c}"),
        };
        let (s, v) = p.call("GET", &path, Some(&key), None).await;
        assert_eq!(s, 200, "{v}");
        assert_eq!(ids(&v).len(), if page < 3 { 2 } else { 1 });
        seen.extend(ids(&v));
        cursor = v["next_cursor"].as_str().map(String::from);
        assert_eq!(cursor.is_none(), page == 3, "page {page}: {v}");
    }
    assert_eq!(seen, all_ids);

    // The cursor's own subscription deleted between pages: the walk goes on after it.
    let (_, first) = p.call("GET", &format!("{HOOKS}?limit=2"), Some(&key), None).await;
    let c = first["next_cursor"].as_str().unwrap();
    assert_eq!(p.call("DELETE", &hook(&all_ids[1]), Some(&key), None).await.0, 204);
    let (s, rest) = p.call("GET", &format!("{HOOKS}?cursor={c}"), Some(&key), None).await;
    assert_eq!((s, ids(&rest)), (200, all_ids[2..].to_vec()));

    // Bad parameters are typed 400s; another workspace pages through nothing.
    for (query, code) in [
        ("limit=0", "INVALID_LIMIT"),
        ("limit=251", "INVALID_LIMIT"),
        ("limit=ten", "INVALID_LIMIT"),
        ("limit=2&limit=3", "INVALID_LIMIT"),
        ("cursor=", "INVALID_CURSOR"),
        ("cursor=not-a-cursor", "INVALID_CURSOR"),
    ] {
        let (s, v) = p.call("GET", &format!("{HOOKS}?{query}"), Some(&key), None).await;
        assert_eq!((s, v["error_code"].as_str()), (400, Some(code)), "{query}");
    }
    let (s, v) = p.call("GET", &format!("{HOOKS}?cursor={c}"), Some(&other), None).await;
    assert_eq!((s, v), (200, json!({"data": [], "next_cursor": null})));
    assert_eq!(p.call("GET", &format!("{HOOKS}?limit=2"), None, None).await.0, 401);

    // updated_at moves on a change, created_at never; a patch that changes nothing keeps both.
    let id = &all_ids[0];
    let before = &created[0];
    let (s, patched) = p
        .call("PATCH", &hook(id), Some(&key), Some(r#"{"rate_limit":7}"#))
        .await;
    assert_eq!(s, 200, "{patched}");
    assert_eq!(patched["created_at"], before["created_at"]);
    assert!(time(&patched["updated_at"]) > time(&before["updated_at"]), "{patched}");
    let (_, same) = p
        .call("PATCH", &hook(id), Some(&key), Some(r#"{"rate_limit":7}"#))
        .await;
    assert_eq!(same, patched, "nothing changed");
    let (_, got) = p.call("GET", &hook(id), Some(&key), None).await;
    assert_eq!(got, patched);
    let (_, listed) = p.call("GET", HOOKS, Some(&key), None).await;
    assert_eq!(listed["data"][0], patched);
    p.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_send_reaches_only_its_subscription() {
    let mut p = TestPipeline::start().await.unwrap();
    let ws = format!("ws-{}", p.id);
    let key = p.create_key(&ws, &[R, W]).await.unwrap();
    let read_only = p.create_key(&ws, &[R]).await.unwrap();
    let other = p.create_key(&format!("other-{}", p.id), &[R, W]).await.unwrap();
    let (target, bystander) = (Receiver::start().await, Receiver::start().await);
    let sub = create(
        &p,
        &key,
        json!({"name": "Target", "url": target.url("/t"),
        "event_types": ["WHATSAPP_INBOUND", "SMS_STATUS"], "filter": {"sender": ["nobody"]}}),
    )
    .await;
    let id = sub["id"].as_str().unwrap();
    let secret = sub["signing_secret"].as_str().unwrap();
    create(
        &p,
        &key,
        json!({"name": "Bystander", "url": bystander.url("/b"),
        "event_types": ["WHATSAPP_INBOUND", "SMS_STATUS"]}),
    )
    .await;
    let test = format!("{}/test", hook(id));

    // Refusals first: they send nothing.
    for (who, body, status, code) in [
        (None, None, 401, "UNAUTHORIZED"),
        (Some(&read_only), None, 403, "FORBIDDEN"),
        (Some(&key), Some("{"), 400, "INVALID_BODY"),
        (
            Some(&key),
            Some(r#"{"event_type":"RCS_STATUS"}"#),
            400,
            "INVALID_EVENT_TYPE",
        ),
        (Some(&key), Some(r#"{"event_type":"BOGUS"}"#), 400, "INVALID_EVENT_TYPE"),
        (Some(&other), None, 404, "NOT_FOUND"),
    ] {
        let (s, v) = p.call("POST", &test, who.map(String::as_str), body).await;
        assert_eq!((s, v["error_code"].as_str()), (status, Some(code)), "{body:?}: {v}");
    }
    let (s, v) = p
        .call("POST", &format!("{HOOKS}/wh_unknown/test"), Some(&key), None)
        .await;
    assert_eq!((s, v["error_code"].as_str()), (404, Some("NOT_FOUND")));

    // No body: the first event type, delivered (filters do not apply to a test), signed.
    let (s, out) = p.call("POST", &test, Some(&key), None).await;
    assert_eq!(s, 200, "{out}");
    assert_eq!(
        (&out["type"], &out["success"], &out["status"], &out["response_code"]),
        (&json!("WHATSAPP_INBOUND"), &json!(true), &json!("ok"), &json!(200))
    );
    let got = target.expect_n(1, WAIT, |_| true, "the test event").await;
    let r = &got[0];
    assert_eq!(
        (r.path.as_str(), r.header("x-webhook-event")),
        ("/t", Some("WHATSAPP_INBOUND"))
    );
    assert_eq!(r.json()["type"], "WHATSAPP_INBOUND");
    assert_eq!(r.header("x-webhook-id"), out["webhook_id"].as_str());
    let ts = r.header("x-webhook-timestamp").unwrap();
    assert_eq!(
        r.header("x-webhook-signature").unwrap(),
        hookline_tests::reference_signature(secret, ts, &r.body)
    );

    // A chosen type; a failing receiver is reported, not an error.
    target.respond_with(500);
    let (s, out2) = p
        .call("POST", &test, Some(&key), Some(r#"{"event_type":"SMS_STATUS"}"#))
        .await;
    assert_eq!(s, 200, "{out2}");
    assert_eq!(
        (
            &out2["type"],
            &out2["success"],
            &out2["status"],
            &out2["response_code"],
            &out2["error"]
        ),
        (
            &json!("SMS_STATUS"),
            &json!(false),
            &json!("failed"),
            &json!(500),
            &json!("HTTP 500")
        )
    );

    // Both are in the attempt log, as tests, once each; the other subscription got nothing.
    let (_, logs) = p.call("GET", "/api/v1/user/webhooks/logs", Some(&key), None).await;
    for o in [&out, &out2] {
        let mine: Vec<&Value> = logs["logs"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|l| l["webhook_id"] == o["webhook_id"])
            .collect();
        assert_eq!(mine.len(), 1, "{logs}");
        assert_eq!(mine[0]["test"], true);
    }
    p.wait_settled(WAIT, "the test sends").await.unwrap();
    assert_eq!(target.requests().len(), 2);
    assert!(bystander.requests().is_empty(), "only the tested subscription");
    p.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_count_deliveries_and_failures() {
    let mut p = TestPipeline::start().await.unwrap();
    let ws = format!("ws-{}", p.id);
    let key = p.create_key(&ws, &[R, W]).await.unwrap();
    let write_only = p.create_key(&ws, &[W]).await.unwrap();
    let other = p.create_key(&format!("other-{}", p.id), &[R, W]).await.unwrap();
    let (rx, quiet_rx) = (Receiver::start().await, Receiver::start().await);
    let sub = create(
        &p,
        &key,
        json!({"name": "Counted", "url": rx.url("/s"),
        "event_types": ["SMS_STATUS"], "filter": {"status": ["delivered"]}}),
    )
    .await;
    let id = sub["id"].as_str().unwrap();
    let quiet = create(
        &p,
        &key,
        json!({"name": "Quiet", "url": quiet_rx.url("/q"), "event_types": ["LINK_HIT"]}),
    )
    .await;
    let stats = |id: &str| format!("{}/stats", hook(id));
    p.wait_workspace_version(&ws, p.workspace_version(&ws).unwrap(), WAIT)
        .await
        .unwrap();

    // Two real events delivered, one test send delivered, then two test sends failed.
    for m in ["m1", "m2"] {
        p.send_accepted(&ws, m, &format!("c-{m}")).await.unwrap();
        p.send_dlr(&format!("c-{m}"), &format!("id:c-{m} stat:DELIVRD err:000"))
            .await
            .unwrap();
    }
    rx.expect_n(2, WAIT, |_| true, "the delivered statuses").await;
    let test = format!("{}/test", hook(id));
    assert_eq!(p.call("POST", &test, Some(&key), None).await.1["success"], true);
    rx.respond_with(500);
    for _ in 0..2 {
        assert_eq!(p.call("POST", &test, Some(&key), None).await.1["response_code"], 500);
    }
    p.wait_settled(WAIT, "the deliveries").await.unwrap();

    let (s, v) = p.call("GET", &stats(id), Some(&key), None).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["id"], id);
    for window in ["1h", "24h"] {
        let w = &v["windows"][window];
        assert_eq!(
            (&w["attempts"], &w["delivered"], &w["failed"], &w["success_ratio"]),
            (&json!(5), &json!(3), &json!(2), &json!(0.6)),
            "{window}: {v}"
        );
        let (p50, p99) = (
            w["latency_p50_ms"].as_u64().unwrap(),
            w["latency_p99_ms"].as_u64().unwrap(),
        );
        assert!(
            p50 <= p99 && hookline_store::attempt_stats::LATENCY_BOUNDS_MS.contains(&p99),
            "{w}"
        );
        let e = &w["last_error"];
        assert_eq!(
            (&e["message"], &e["response_code"]),
            (&json!("HTTP 500"), &json!(500)),
            "{w}"
        );
        let age = chrono::Utc::now().signed_duration_since(time(&e["at"]));
        assert!(age < chrono::Duration::minutes(5), "{e}");
    }
    assert_eq!(v["state"]["enabled"], true);
    assert!(v["state"]["throttled_rate_per_sec"].is_null() && v["state"]["url_kind"].is_null());
    assert!(time(&v["state"]["last_attempt_at"]) >= time(&v["windows"]["1h"]["last_error"]["at"]));

    // A subscription without attempts; unknown ids and other workspaces; credentials.
    let (s, q) = p
        .call("GET", &stats(quiet["id"].as_str().unwrap()), Some(&key), None)
        .await;
    assert_eq!(s, 200);
    assert_eq!(
        q["windows"]["24h"],
        json!({"attempts": 0, "delivered": 0, "failed": 0, "success_ratio": null,
               "latency_p50_ms": null, "latency_p99_ms": null, "last_error": null})
    );
    assert!(q["state"]["last_attempt_at"].is_null());
    for (who, path, status, code) in [
        (Some(&key), stats("wh_unknown"), 404, "NOT_FOUND"),
        (Some(&other), stats(id), 404, "NOT_FOUND"),
        (None, stats(id), 401, "UNAUTHORIZED"),
        (Some(&write_only), stats(id), 403, "FORBIDDEN"),
    ] {
        let (s, v) = p.call("GET", &path, who.map(String::as_str), None).await;
        assert_eq!((s, v["error_code"].as_str()), (status, Some(code)), "{path}: {v}");
    }
    p.stop().await.unwrap();
}

/// The per-endpoint metrics: every endpoint delivery sent to has one series of each.
const PER_ENDPOINT: [&str; 2] = [
    "hookline_delivery_endpoint_rate_limit{",
    "hookline_delivery_endpoint_concurrency_limit{",
];

/// The series of the per-endpoint metrics in one scrape (all of them together), and whether
/// `subscription_id` has one of each.
fn rate_series(metrics: &str, subscription_id: &str) -> (usize, bool) {
    let needle = format!("subscription_id=\"{subscription_id}\"");
    let family = |prefix: &str| -> Vec<&str> { metrics.lines().filter(|l| l.starts_with(prefix)).collect() };
    let has = PER_ENDPOINT
        .iter()
        .all(|prefix| family(prefix).iter().any(|l| l.contains(&needle)));
    let count = PER_ENDPOINT.iter().map(|prefix| family(prefix).len()).sum();
    (count, has)
}

/// Per-endpoint metric series go with their endpoint (issue 28, item 5): five cycles of
/// creating a named subscription, delivering to it (which gives it a series of
/// `hookline_delivery_endpoint_rate_limit` and of `hookline_delivery_endpoint_concurrency_limit`)
/// and deleting it leave the series count where it started (it used to grow by one per cycle).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_delete_cycles_leave_no_endpoint_series_behind() {
    let mut p = TestPipeline::start().await.unwrap();
    let ws = format!("ws-{}", p.id);
    let key = p.create_key(&ws, &[R, W]).await.unwrap();
    let rx = Receiver::start().await;
    // A subscription that stays, so the count is of a live pipeline, not an empty one.
    let body = json!({"name": "stays", "url": rx.url("/stays"), "event_types": ["SMS_STATUS"]});
    let (s, v) = p.call("POST", HOOKS, Some(&key), Some(&body.to_string())).await;
    assert_eq!(s, 201, "{v}");
    let stays = v["id"].as_str().unwrap().to_string();
    p.send_delivered(&ws, "m-stays").await.unwrap();
    rx.expect_n(1, WAIT, |r| r.path == "/stays", "the first delivery").await;
    let until = |pred: Box<dyn Fn(&str) -> bool>| {
        let p = &p;
        async move {
            hookline_tests::eventually(WAIT, || async {
                let m = p.metrics().await.ok()?;
                pred(&m).then_some(m)
            })
            .await
            .expect("the metrics never got there")
        }
    };
    let stays2 = stays.clone();
    let start = until(Box::new(move |m| rate_series(m, &stays2).1)).await;
    let (baseline, _) = rate_series(&start, &stays);

    for cycle in 0..5 {
        let path = format!("/cycle-{cycle}");
        let body = json!({"name": format!("cycle {cycle}"), "url": rx.url(&path), "event_types": ["SMS_STATUS"]});
        let (s, v) = p.call("POST", HOOKS, Some(&key), Some(&body.to_string())).await;
        assert_eq!(s, 201, "{v}");
        let id = v["id"].as_str().unwrap().to_string();
        p.send_delivered(&ws, &format!("m-{cycle}")).await.unwrap();
        let path2 = path.clone();
        rx.expect_n(1, WAIT, move |r| r.path == path2, "the cycle's delivery")
            .await;
        let id2 = id.clone();
        let m = until(Box::new(move |m| rate_series(m, &id2).1)).await;
        assert_eq!(
            rate_series(&m, &id).0,
            baseline + PER_ENDPOINT.len(),
            "cycle {cycle}: its series is there"
        );

        let (s, _) = p.call("DELETE", &hook(&id), Some(&key), None).await;
        assert_eq!(s, 204);
        let id2 = id.clone();
        let m = until(Box::new(move |m| !rate_series(m, &id2).1)).await;
        assert_eq!(
            rate_series(&m, &stays),
            (baseline, true),
            "cycle {cycle}: the deleted endpoint's series went, the live one's stayed"
        );
    }
    p.stop().await.unwrap();
}
