//! The ingest edge as an attacker on the network sees it (security issue 13, findings 1, 2, 8,
//! 9): nothing is accepted without an ingest credential, a credential sends only its kinds and
//! only for its workspace or carrier connection, message metadata cannot be taken over by
//! another workspace, lookups stay within the event's workspace, and credentials are listed
//! without their secrets and revoked on every replica.

use hookline::Service;
use hookline_model::IngestKind;
use hookline_model::Permission::{WebhooksRead as R, WebhooksWrite as W};
use hookline_tests::{eventually, unique, Receiver, TestPipeline};
use serde_json::{json, Value};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);
const ADMIN: &str = hookline_tests::ADMIN_TOKEN;
const HUMAN: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148 Safari/604.1";

/// A workspace with every 23 Telecom URL on `rx`, and named inbound subscriptions too.
async fn workspace(p: &TestPipeline, rx: &Receiver) -> (String, String) {
    let ws = unique("ws");
    let key = p.create_key(&ws, &[R, W]).await.unwrap();
    let (s, _) = p
        .put_webhooks(
            &key,
            json!({"delivery_url": rx.url("/delivery"), "click_url": rx.url("/click"),
                   "conversion_url": rx.url("/conversion"), "impression_url": rx.url("/impression")}),
        )
        .await
        .unwrap();
    assert_eq!(s, 200);
    let body = json!({"name": "Inbound", "url": rx.url("/inbound"), "event_types": ["SMS_INBOUND"]});
    let (s, _) = p
        .call("POST", "/api/v1/webhooks", Some(&key), Some(&body.to_string()))
        .await;
    assert_eq!(s, 201);
    (ws, key)
}

async fn post(p: &TestPipeline, path: &str, token: Option<&str>, body: &Value) -> (u16, Value) {
    let mut req = p.http.post(p.ingest(path)).json(body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let r = req.send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

fn message(ws: &str, id: &str, carrier_id: &str, connection: Option<&str>) -> Value {
    let mut m = TestPipeline::accepted(ws, id, carrier_id);
    if let Some(c) = connection {
        m["carrier_message_id"] = json!(carrier_id);
        m["carrier_connection"] = json!(c);
    }
    m
}

fn paths(rx: &Receiver, path: &str) -> usize {
    rx.requests().iter().filter(|r| r.path == path).count()
}

/// Waits until enrich has stored `n` accepted messages in total (the metric), so a later
/// record's outcome does not depend on which consumer got there first.
async fn stored(p: &TestPipeline, n: usize) {
    let line = format!("hookline_enrich_records_total{{kind=\"message\",outcome=\"stored\"}} {n}");
    let seen = eventually(WAIT, || async { p.metrics().await.ok().filter(|m| m.contains(&line)) }).await;
    assert!(seen.is_some(), "enrich never stored {n} messages");
}

async fn quarantined(p: &TestPipeline, reason: &str, n: usize) -> Vec<hookline_tests::Record> {
    let rs = p
        .read_topic(&p.kafka.topics.quarantine(), WAIT, |rs| {
            rs.iter()
                .filter(|r| r.header("hookline-quarantine-reason") == Some(reason))
                .count()
                >= n
        })
        .await
        .unwrap();
    let rs: Vec<_> = rs
        .into_iter()
        .filter(|r| r.header("hookline-quarantine-reason") == Some(reason))
        .collect();
    assert!(rs.len() >= n, "expected {n} records quarantined as {reason}");
    rs
}

/// Finding 1: with no credential, or a forged one, every route answers 401 and produces
/// nothing, so no signed impression, delivery, click, conversion or inbound webhook follows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_edge_refuses_requests_without_a_valid_credential() {
    let p = TestPipeline::start().await.unwrap();
    let rx = Receiver::start().await;
    let (ws, _) = workspace(&p, &rx).await;
    // A real message of the workspace, from the gateway's Kafka stream: forged DLRs, clicks
    // and conversions would have something to join.
    p.send_accepted(&ws, "m-1", "c-1").await.unwrap();
    rx.expect_n(1, WAIT, |r| r.path == "/impression", "the genuine message's impression")
        .await;

    let forged = [
        (
            "/v1/messages",
            json!(TestPipeline::accepted(&ws, "m-forged", "c-forged")),
        ),
        ("/v1/dlr", json!({"carrier_message_id": "c-1", "status": "DELIVRD"})),
        (
            "/v1/clicks",
            json!({"short_url": "https://hkl.ink/x", "message_id": "m-1", "recipient": "+14155551234", "user_agent": HUMAN}),
        ),
        (
            "/v1/inbound",
            json!({"workspace_id": ws, "from": "+14155551234", "to": "+1555", "text": "hi"}),
        ),
        (
            "/v1/actions",
            json!({"message_id": "m-1", "event": "purchase", "transaction_id": "t-1"}),
        ),
        (
            "/track",
            json!({"message_id": "m-1", "value": "100000", "transaction_id": "t-2"}),
        ),
        (
            "/v1/revocations",
            json!({"workspace_id": ws, "message_id": "m-1", "source": "api"}),
        ),
    ];
    for (path, body) in &forged {
        for token in [
            None,
            Some("hki_0000000000000000000000000000000000000000000000000000000000000000"),
        ] {
            let (s, v) = post(&p, path, token, body).await;
            assert_eq!(
                (s, v["error_code"].as_str()),
                (401, Some("UNAUTHORIZED")),
                "{path} {token:?}"
            );
        }
    }
    // The postback URL's `token` parameter is checked the same way.
    let q = "token=hki_guess&message_id=m-1&value=100000&transaction_id=t-3";
    let r = p.http.get(p.ingest(&format!("/track?{q}"))).send().await.unwrap();
    assert_eq!(r.status(), 401);
    // An API key is not an ingest credential.
    let api_key = p.create_key(&ws, &[R, W]).await.unwrap();
    assert_eq!(post(&p, "/v1/dlr", Some(&api_key), &forged[1].1).await.0, 401);

    // The genuine DLR, from the carrier feed, is the one delivery webhook.
    p.send_dlr("c-1", "id:c-1 stat:DELIVRD err:000").await.unwrap();
    rx.expect_n(1, WAIT, |r| r.path == "/delivery", "a request to /delivery")
        .await;
    assert_eq!(
        (
            paths(&rx, "/delivery"),
            paths(&rx, "/click"),
            paths(&rx, "/conversion"),
            paths(&rx, "/impression"),
            paths(&rx, "/inbound")
        ),
        (1, 0, 0, 1, 0),
        "only the genuine message's webhooks"
    );
    let m = p.metrics().await.unwrap();
    assert!(
        !m.lines().any(|l| l.starts_with("hookline_ingest_records_total")
            && l.contains("outcome=\"accepted\"")
            && !l.contains("accepted_message")
            && !l.contains("carrier_dlr")),
        "no HTTP input was accepted: {m}"
    );
}

/// Findings 1 and 2: a credential sends only its kinds, for its workspace, and a carrier
/// connection's DLRs join only that connection's messages (two carriers may use the same id).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_are_bound_to_kinds_workspaces_and_carrier_connections() {
    let p = TestPipeline::start().await.unwrap();
    let (rx_a, rx_b) = (Receiver::start().await, Receiver::start().await);
    let ((alpha, _), (beta, _)) = (workspace(&p, &rx_a).await, workspace(&p, &rx_b).await);

    // The same carrier id on two carrier connections: two messages, no conflict.
    let gateway = p.ingest_key.clone();
    let m_a = message(&alpha, "m-a", "c-1", Some("telco-1"));
    let m_b = message(&beta, "m-b", "c-1", Some("telco-2"));
    assert_eq!(post(&p, "/v1/messages", Some(&gateway), &m_a).await.0, 202);
    assert_eq!(post(&p, "/v1/messages", Some(&gateway), &m_b).await.0, 202);
    stored(&p, 2).await;

    // A DLR credential of carrier connection telco-2.
    let telco2 = p
        .create_ingest_key(vec![IngestKind::Dlr], None, Some("telco-2"))
        .await
        .unwrap();
    let (s, v) = post(&p, "/v1/messages", Some(&telco2), &m_b).await;
    assert_eq!(
        (s, v["error_code"].as_str()),
        (403, Some("FORBIDDEN")),
        "a DLR credential sends DLRs only"
    );
    let other_connection = json!({"carrier_message_id": "c-1", "status": "DELIVRD", "carrier_connection": "telco-1"});
    assert_eq!(post(&p, "/v1/dlr", Some(&telco2), &other_connection).await.0, 403);
    let dlr = json!({"carrier_message_id": "c-1", "status": "DELIVRD"});
    assert_eq!(post(&p, "/v1/dlr", Some(&telco2), &dlr).await.0, 202);
    let got = rx_b
        .expect_n(1, WAIT, |r| r.path == "/delivery", "a request to /delivery")
        .await;
    assert_eq!(
        got[0].json()["message_id"],
        "m-b",
        "telco-2's DLR joined telco-2's message"
    );
    // An unbound DLR credential names the connection in the record.
    let carriers = p.create_ingest_key(vec![IngestKind::Dlr], None, None).await.unwrap();
    assert_eq!(post(&p, "/v1/dlr", Some(&carriers), &other_connection).await.0, 202);
    let got = rx_a
        .expect_n(1, WAIT, |r| r.path == "/delivery", "a request to /delivery")
        .await;
    assert_eq!(got[0].json()["message_id"], "m-a");

    // A messages credential of alpha cannot write beta's messages.
    let alpha_gateway = p
        .create_ingest_key(vec![IngestKind::Messages, IngestKind::Inbound], Some(&alpha), None)
        .await
        .unwrap();
    let (s, _) = post(
        &p,
        "/v1/messages",
        Some(&alpha_gateway),
        &message(&beta, "m-x", "c-x", None),
    )
    .await;
    assert_eq!(s, 403);
    let inbound = json!({"workspace_id": beta, "from": "+1", "to": "+2", "text": "hi"});
    assert_eq!(post(&p, "/v1/inbound", Some(&alpha_gateway), &inbound).await.0, 403);

    // Beta's tracking token, in the postback URL: a conversion of alpha's message joins
    // nothing (quarantined, no webhook to anyone); one of beta's own is delivered to beta.
    let beta_token = p
        .create_ingest_key(vec![IngestKind::Conversions], Some(&beta), None)
        .await
        .unwrap();
    let track = |q: String| p.http.get(p.ingest(&format!("/track?token={beta_token}&{q}"))).send();
    let r = track("message_id=m-a&event=purchase&value=100000&transaction_id=t-1".into())
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let q = quarantined(&p, "workspace_mismatch", 1).await;
    assert!(String::from_utf8_lossy(&q[0].payload).contains("m-a"));
    let r = track("message_id=m-b&event=purchase&value=5&transaction_id=t-2".into())
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let got = rx_b
        .expect_n(1, WAIT, |r| r.path == "/conversion", "a request to /conversion")
        .await;
    assert_eq!(got[0].json()["message_id"], "m-b");
    assert_eq!(
        paths(&rx_a, "/conversion"),
        0,
        "alpha never got beta's forged conversion"
    );
    assert_eq!(paths(&rx_b, "/conversion"), 1);
    // The tracking token grants conversions only.
    assert_eq!(post(&p, "/v1/dlr", Some(&beta_token), &dlr).await.0, 403);
}

/// Findings 2 and 8: first writer wins on message and click ids, and an inbound SMS's last
/// message is looked up within its own workspace.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_workspace_cannot_take_over_another_workspaces_metadata() {
    let p = TestPipeline::start().await.unwrap();
    let (rx_a, rx_b) = (Receiver::start().await, Receiver::start().await);
    let ((alpha, _), (beta, _)) = (workspace(&p, &rx_a).await, workspace(&p, &rx_b).await);
    let gateway = p.ingest_key.clone();

    let mut m1 = message(&alpha, "m-1", "c-1", None);
    m1["broadcast_id"] = json!("campaign-alpha");
    m1["send_path"] = json!("api_single");
    assert_eq!(post(&p, "/v1/messages", Some(&gateway), &m1).await.0, 202);
    stored(&p, 1).await;
    // Beta re-announces alpha's ids: refused, quarantined, alpha's metadata untouched.
    assert_eq!(
        post(&p, "/v1/messages", Some(&gateway), &message(&beta, "m-1", "c-1", None))
            .await
            .0,
        202
    );
    let q = quarantined(&p, "metadata_conflict", 1).await;
    assert!(String::from_utf8_lossy(&q[0].payload).contains(&beta));
    // The same message again (a re-read, a resubmit) is not a conflict.
    assert_eq!(post(&p, "/v1/messages", Some(&gateway), &m1).await.0, 202);
    stored(&p, 2).await;

    // Alpha's next DLR goes to alpha only.
    let dlr = json!({"carrier_message_id": "c-1", "status": "DELIVRD"});
    assert_eq!(post(&p, "/v1/dlr", Some(&gateway), &dlr).await.0, 202);
    let got = rx_a
        .expect_n(1, WAIT, |r| r.path == "/delivery", "a request to /delivery")
        .await;
    assert_eq!(got[0].json()["message_id"], "m-1");

    // A click id first seen for alpha's message cannot be re-pointed at beta's.
    assert_eq!(
        post(&p, "/v1/messages", Some(&gateway), &message(&beta, "m-2", "c-2", None))
            .await
            .0,
        202
    );
    stored(&p, 3).await;
    let click = |m: &str| json!({"click_id": "k-1", "short_url": "https://hkl.ink/x", "message_id": m, "recipient": "+14155551234", "user_agent": HUMAN});
    assert_eq!(post(&p, "/v1/clicks", Some(&gateway), &click("m-1")).await.0, 202);
    rx_a.expect_n(1, WAIT, |r| r.path == "/click", "a request to /click")
        .await;
    assert_eq!(post(&p, "/v1/clicks", Some(&gateway), &click("m-2")).await.0, 202);
    quarantined(&p, "metadata_conflict", 2).await;

    // Beta's inbound naming alpha's message as the last one sent: beta's webhook does not
    // carry alpha's campaign (only the id the gateway sent).
    let inbound = json!({"workspace_id": beta, "from": "+14155551234", "to": "+15550000", "text": "hello", "last_message_id": "m-1"});
    assert_eq!(post(&p, "/v1/inbound", Some(&gateway), &inbound).await.0, 202);
    let got = rx_b
        .expect_n(1, WAIT, |r| r.path == "/inbound", "a request to /inbound")
        .await;
    let body = got[0].json();
    assert!(
        !body.to_string().contains("campaign-alpha") && body["data"]["last_message"]["campaign_id"].is_null(),
        "{body}"
    );

    assert_eq!(
        (paths(&rx_b, "/delivery"), paths(&rx_b, "/click")),
        (0, 0),
        "beta got none of alpha's events"
    );
    assert_eq!(paths(&rx_a, "/delivery"), 1);
}

/// Review finding 28.1 (HIGH): a workspace-bound `messages` credential (the workspace's own
/// feed) announces another workspace's message id and carrier id before the gateway does,
/// with a bare carrier id and within carrier connection `telco-a`. The gateway's real
/// messages are stored all the same (none quarantined), the carrier's DLRs and the
/// shortener's click reach their owner, and the squatter gets none of them; its own feed
/// still joins its own records.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workspace_feed_cannot_squat_another_workspaces_ids() {
    let p = TestPipeline::start().await.unwrap();
    let (rx_demo, rx_evil) = (Receiver::start().await, Receiver::start().await);
    let ((demo, _), (evil, _)) = (workspace(&p, &rx_demo).await, workspace(&p, &rx_evil).await);
    let gateway = p.ingest_key.clone();
    let evil_feed = p
        .create_ingest_key(vec![IngestKind::Messages, IngestKind::Dlr], Some(&evil), None)
        .await
        .unwrap();
    let ids = [("demo_m2", "c-101", None), ("demo_m3", "c-102", Some("telco-a"))];
    for (id, carrier_id, connection) in ids {
        let squat = message(&evil, id, carrier_id, connection);
        assert_eq!(post(&p, "/v1/messages", Some(&evil_feed), &squat).await.0, 202);
    }
    stored(&p, 2).await;
    for (id, carrier_id, connection) in ids {
        let real = message(&demo, id, carrier_id, connection);
        assert_eq!(post(&p, "/v1/messages", Some(&gateway), &real).await.0, 202);
    }
    // All four stored: the gateway's two are no `metadata_conflict`.
    stored(&p, 4).await;
    // A carrier connection's credential announces no messages: message ids are not per
    // connection, so it could claim any workspace's.
    let telco_a = p
        .create_ingest_key(vec![IngestKind::Messages, IngestKind::Dlr], None, Some("telco-a"))
        .await
        .unwrap();
    let (s, v) = post(
        &p,
        "/v1/messages",
        Some(&telco_a),
        &message(&evil, "demo_m4", "c-104", None),
    )
    .await;
    assert_eq!((s, v["error_code"].as_str()), (403, Some("FORBIDDEN")), "{v}");

    // The carriers' DLRs (an unbound DLR credential) and the shortener's click.
    let carriers = p.create_ingest_key(vec![IngestKind::Dlr], None, None).await.unwrap();
    for dlr in [
        json!({"carrier_message_id": "c-101", "status": "DELIVRD"}),
        json!({"carrier_message_id": "c-102", "status": "DELIVRD", "carrier_connection": "telco-a"}),
    ] {
        assert_eq!(post(&p, "/v1/dlr", Some(&carriers), &dlr).await.0, 202);
    }
    let click = json!({"click_id": "k-squat", "short_url": "https://hkl.ink/x", "message_id": "demo_m2",
                       "recipient": "+14155551234", "user_agent": HUMAN, "ip": "203.0.113.9"});
    assert_eq!(post(&p, "/v1/clicks", Some(&gateway), &click).await.0, 202);
    let got = rx_demo
        .expect_n(2, WAIT, |r| r.path == "/delivery", "demo's two DLR webhooks")
        .await;
    let mut ids: Vec<String> = got
        .iter()
        .map(|r| r.json()["message_id"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    assert_eq!(ids, ["demo_m2", "demo_m3"]);
    let got = rx_demo.expect_n(1, WAIT, |r| r.path == "/click", "demo's click").await;
    assert_eq!(got[0].json()["message_id"], "demo_m2");
    assert_eq!(
        (paths(&rx_evil, "/delivery"), paths(&rx_evil, "/click")),
        (0, 0),
        "the squatter got none of demo's DLRs or clicks"
    );

    // Evil's own feed joins evil's own record, never demo's.
    let own = json!({"carrier_message_id": "c-101", "status": "UNDELIV"});
    assert_eq!(post(&p, "/v1/dlr", Some(&evil_feed), &own).await.0, 202);
    let got = rx_evil
        .expect_n(1, WAIT, |r| r.path == "/delivery", "evil's own DLR webhook")
        .await;
    assert_eq!(
        got[0].json()["message_id"],
        "demo_m2",
        "evil's own announcement of that id"
    );
    assert_eq!(paths(&rx_demo, "/delivery"), 2, "demo got nothing of evil's feed");
}

/// Finding 9: ingest credentials and API keys are listed (never the secret) and revoked
/// through the admin API, and a revoked credential is refused by every ingest replica.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_are_listed_without_secrets_and_revoked_on_every_replica() {
    let p = TestPipeline::start().await.unwrap();
    let admin = |method: &str, path: &str, body: Option<Value>| {
        let mut req = p.http.request(method.parse().unwrap(), p.api(path)).bearer_auth(ADMIN);
        if let Some(b) = body {
            req = req.json(&b);
        }
        req.send()
    };
    let r = admin("POST", "/admin/v1/ingest-keys", Some(json!({"kinds": ["everything"]})))
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["error_code"], "INVALID_KINDS");
    let r = p
        .http
        .get(p.api("/admin/v1/ingest-keys"))
        .bearer_auth("wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    let ws = unique("ws");
    let r = admin(
        "POST",
        "/admin/v1/ingest-keys",
        Some(json!({"name": "telco DLRs", "kinds": ["dlr"], "carrier_connection": "telco-9"})),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 201);
    let created: Value = r.json().await.unwrap();
    let token = created["ingest_key"].as_str().unwrap().to_string();
    let key_id = created["key_id"].as_str().unwrap().to_string();
    assert!(token.starts_with("hki_") && key_id.starts_with("ing_"));

    // A second ingest replica, in its own process state, following the same config topic.
    let replica = TestPipeline::start_with(&p.id, &[Service::Ingest], &[]).await.unwrap();
    let dlr = json!({"carrier_message_id": "c-9", "status": "DELIVRD"});
    for ingest in [&p, &replica] {
        let ok = eventually(WAIT, || async {
            (post(ingest, "/v1/dlr", Some(&token), &dlr).await.0 == 202).then_some(())
        })
        .await;
        assert!(ok.is_some(), "the credential works on every replica");
    }

    // Listed with its use, never with the credential or its hash.
    let api_key = p.create_key(&ws, &[R]).await.unwrap();
    let listed = eventually(WAIT, || async {
        let v: Value = admin("GET", "/admin/v1/ingest-keys", None)
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        let k = v["data"]
            .as_array()?
            .iter()
            .find(|k| k["key_id"] == key_id.as_str())?
            .clone();
        (!k["last_used_at"].is_null()).then_some((v, k))
    })
    .await;
    let (all, k) = listed.expect("listed with a last use");
    assert_eq!(
        (&k["kinds"], &k["carrier_connection"], &k["name"]),
        (&json!(["dlr"]), &json!("telco-9"), &json!("telco DLRs"))
    );
    let text = all.to_string();
    let hash = hookline_model::apikey::hash_key(&token);
    assert!(!text.contains(&token) && !text.contains(&hash), "{text}");
    let keys = eventually(WAIT, || async {
        let v: Value = admin("GET", &format!("/admin/v1/api-keys?workspace_id={ws}"), None)
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        let k = v["data"].as_array()?.first()?.clone();
        (!k["last_used_at"].is_null()).then_some(v)
    })
    .await
    .expect("the API key is listed with its last use");
    assert_eq!(keys["data"].as_array().unwrap().len(), 1);
    assert_eq!(keys["data"][0]["permissions"], json!(["webhooks.read"]));
    let text = keys.to_string();
    assert!(!text.contains(&api_key) && !text.contains(&hookline_model::apikey::hash_key(&api_key)));

    // Revoked: refused by both replicas within seconds; an unknown id is 404.
    let r = admin("DELETE", &format!("/admin/v1/ingest-keys/{key_id}"), None)
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    for ingest in [&p, &replica] {
        let refused = eventually(Duration::from_secs(10), || async {
            (post(ingest, "/v1/dlr", Some(&token), &dlr).await.0 == 401).then_some(())
        })
        .await;
        assert!(refused.is_some(), "a revoked credential is refused by every replica");
    }
    let r = admin("DELETE", &format!("/admin/v1/ingest-keys/{key_id}"), None)
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let listed: Value = admin("GET", "/admin/v1/ingest-keys", None)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(!listed.to_string().contains(&key_id));
}

/// Finding 4: named subscriptions per workspace are capped (a typed error), and one event
/// never fans out to more than the per-event cap, however many subscriptions match.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fan_out_is_bounded_per_workspace_and_per_event() {
    let p = TestPipeline::start_with(
        &unique("p"),
        &Service::ALL,
        &["--max-subscriptions-per-workspace=3", "--max-deliveries-per-event=2"],
    )
    .await
    .unwrap();
    let rx = Receiver::start().await;
    let ws = unique("ws");
    let key = p.create_key(&ws, &[R, W]).await.unwrap();
    for i in 0..4 {
        let body =
            json!({"name": format!("Status {i}"), "url": rx.url(&format!("/s{i}")), "event_types": ["SMS_STATUS"]});
        let (s, v) = p
            .call("POST", "/api/v1/webhooks", Some(&key), Some(&body.to_string()))
            .await;
        if i < 3 {
            assert_eq!(s, 201, "{v}");
        } else {
            assert_eq!((s, v["error_code"].as_str()), (400, Some("SUBSCRIPTION_LIMIT")));
        }
    }
    // Three subscriptions match the `sent` status; the per-event cap sends it to two.
    p.send_accepted(&ws, "m-1", "c-1").await.unwrap();
    let capped = eventually(WAIT, || async {
        p.metrics()
            .await
            .ok()
            .filter(|m| m.contains("hookline_enrich_fanout_capped_total{event_type=\"status\"} 1"))
    })
    .await;
    assert!(capped.is_some(), "the third delivery was counted as capped");
    rx.expect_n(2, WAIT, |_| true, "the two deliveries within the cap")
        .await;
    let dispatched = p
        .metrics()
        .await
        .unwrap()
        .contains("hookline_enrich_dispatched_total{event_type=\"status\"} 2");
    assert!(dispatched, "two dispatch records, not three");
}

/// Held: JSON nested deeper than the parser's limit (128) is refused with the typed error of
/// each server, and the servers keep answering.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deeply_nested_json_is_a_typed_error() {
    let p = TestPipeline::start().await.unwrap();
    let ws = unique("ws");
    let key = p.create_key(&ws, &[R, W]).await.unwrap();
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let (s, v) = p.call("PUT", "/api/v1/user/webhooks", Some(&key), Some(&deep)).await;
    assert_eq!((s, v["error_code"].as_str()), (400, Some("INVALID_BODY")));
    let r = p.ingest_post("/v1/messages").body(deep.clone()).send().await.unwrap();
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        (v["error_code"].as_str(), v["reason"].as_str()),
        (Some("INVALID_RECORD"), Some("invalid_json"))
    );
    let (s, _) = p.call("GET", "/api/v1/user/webhooks", Some(&key), None).await;
    assert_eq!(s, 200);
}

/// The operator's CLI does what the admin API does: `hookline admin create-ingest-key` prints a
/// credential ingest accepts for its kind only, `list-ingest-keys` lists it without the
/// secret, `revoke-ingest-key` makes every replica refuse it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_cli_creates_lists_and_revokes_ingest_credentials() {
    let p = TestPipeline::start().await.unwrap();
    let exe = std::env::current_exe().unwrap();
    let bin = exe.parent().unwrap().parent().unwrap().join("hookline");
    assert!(
        bin.exists(),
        "{} is missing: build the workspace binaries first (scripts/test.sh does)",
        bin.display()
    );
    let cli = |args: &[&str]| {
        let out = std::process::Command::new(&bin)
            .arg("admin")
            .args(args)
            .env("HOOKLINE_KAFKA_BROKERS", hookline_tests::brokers())
            .env("HOOKLINE_TOPIC_PREFIX", format!("{}.", p.id))
            .env("HOOKLINE_REDIS_URL", hookline_tests::redis_url())
            .env("HOOKLINE_REDIS_KEY_PREFIX", format!("{}:", p.id))
            .env("RUST_LOG", "warn")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let token = cli(&[
        "create-ingest-key",
        "--kinds",
        "dlr",
        "--carrier-connection",
        "telco-cli",
        "--name",
        "cli",
    ])
    .trim()
    .to_string();
    assert!(token.starts_with("hki_"), "{token}");
    let dlr = json!({"carrier_message_id": "c-cli", "status": "DELIVRD"});
    let accepted = eventually(WAIT, || async {
        (post(&p, "/v1/dlr", Some(&token), &dlr).await.0 == 202).then_some(())
    })
    .await;
    assert!(accepted.is_some(), "ingest accepts the CLI's credential");
    assert_eq!(
        post(&p, "/v1/messages", Some(&token), &message("w", "m", "c", None))
            .await
            .0,
        403
    );
    let listed = cli(&["list-ingest-keys"]);
    let line: Value = listed
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|v| v["name"] == "cli")
        .expect("listed");
    assert_eq!(line["carrier_connection"], "telco-cli");
    assert!(!listed.contains(&token));
    let key_id = line["key_id"].as_str().unwrap().to_string();
    cli(&["revoke-ingest-key", &key_id]);
    let refused = eventually(WAIT, || async {
        (post(&p, "/v1/dlr", Some(&token), &dlr).await.0 == 401).then_some(())
    })
    .await;
    assert!(refused.is_some(), "revoked through the CLI");
}
