//! The named-subscription dialect (`/api/v1/webhooks`) against the running pipeline: every
//! field's validation errors, the create/list/get/patch/delete round trip, workspace
//! isolation, and filtered status events (SMS and MMS) and WhatsApp inbound events delivered
//! end to end next to a 23 Telecom subscription that neither dialect's writes disturb.

use hookline_model::Permission::{WebhooksRead as R, WebhooksWrite as W};
use hookline_tests::{Receiver, TestPipeline};
use serde_json::{json, Value};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);
const HOOKS: &str = "/api/v1/webhooks";

fn hook(id: &str) -> String {
    format!("{HOOKS}/{id}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validation_round_trip_and_isolation() {
    let mut p = TestPipeline::start().await.unwrap();
    let ws_a = format!("a-{}", p.id);
    let a = p.create_key(&ws_a, &[R, W]).await.unwrap();
    let b = p.create_key(&format!("b-{}", p.id), &[R, W]).await.unwrap();
    let read_only = p.create_key(&ws_a, &[R]).await.unwrap();
    let body = r#"{"name":"Delivered only","url":"HTTP://127.0.0.1:9/x/../named","event_types":["SMS_STATUS","MMS_INBOUND"],
        "filter":{"sender":["MyApp"],"status":["delivered"]},"rate_limit":25,"whatever":1}"#;

    // Auth.
    for (method, path) in [
        ("GET", HOOKS.to_string()),
        ("POST", HOOKS.into()),
        ("GET", hook("wh_x")),
    ] {
        let (s, v) = p.call(method, &path, None, Some(body)).await;
        assert_eq!(
            (s, v["error_code"].as_str()),
            (401, Some("UNAUTHORIZED")),
            "{method} {path}"
        );
    }
    let (s, v) = p.call("POST", HOOKS, Some(&read_only), Some(body)).await;
    assert_eq!((s, v["error_code"].as_str()), (403, Some("FORBIDDEN")));

    // Create.
    let (s, created) = p.call("POST", HOOKS, Some(&a), Some(body)).await;
    assert_eq!(s, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("wh_"));
    assert!(created["signing_secret"].as_str().unwrap().starts_with("whsec_"));
    assert_eq!(created["name"], "Delivered only");
    assert_eq!(
        created["url"], "http://127.0.0.1:9/named",
        "stored normalised (issue 13)"
    );
    assert_eq!(created["event_types"], json!(["SMS_STATUS", "MMS_INBOUND"]));
    assert_eq!(
        created["filter"],
        json!({"sender": ["MyApp"], "status": ["delivered"], "message_ref": [], "campaign_id": []})
    );
    assert_eq!(created["rate_limit"], 25);
    let mut shown = created.clone();
    shown.as_object_mut().unwrap().remove("signing_secret");

    // Get and list never show the secret.
    let (s, got) = p.call("GET", &hook(&id), Some(&read_only), None).await;
    assert_eq!((s, &got), (200, &shown));
    let (s, list) = p.call("GET", HOOKS, Some(&a), None).await;
    assert_eq!(
        (s, &list),
        (200, &json!({"data": [shown.clone()], "next_cursor": null}))
    );

    // Every field's errors, in the documented order; a rejected request changes nothing.
    let long_name = format!(r#"{{"name":"{}"}}"#, "n".repeat(101));
    for (body, code) in [
        ("{nope", "INVALID_BODY"),
        ("[1,2]", "INVALID_BODY"),
        (r#"{"name":"x"}"#, "INVALID_NAME"),
        (long_name.as_str(), "INVALID_NAME"),
        (r#"{"name":7}"#, "INVALID_NAME"),
        (r#"{"name":"ok","url":"ftp://example.com/x"}"#, "INVALID_URL"),
        (r#"{"url":"http://169.254.169.254/latest"}"#, "INVALID_URL"),
        (r#"{"url":"http://[::ffff:10.0.0.1]/"}"#, "INVALID_URL"),
        (r#"{"url":null}"#, "INVALID_URL"),
        // Issue 13: no credentials in a URL, no control characters (literal or encoded).
        (r#"{"url":"http://user:pass@127.0.0.1:9/named"}"#, "INVALID_URL"),
        (r#"{"url":"http://127.0.0.1:9/named\nX-Injected: 1"}"#, "INVALID_URL"),
        (r#"{"url":"http://127.0.0.1:9/named\u007f"}"#, "INVALID_URL"),
        (r#"{"url":"http://127.0.0.1:9/named%09"}"#, "INVALID_URL"),
        (r#"{"event_types":[]}"#, "INVALID_EVENT_TYPE"),
        (r#"{"event_types":["SMS_STATUS","EMAIL"]}"#, "INVALID_EVENT_TYPE"),
        (r#"{"event_type":"sms_status"}"#, "INVALID_EVENT_TYPE"),
        (r#"{"filter":{"sender":"MyApp"}}"#, "INVALID_FILTER"),
        (r#"{"filter":{"status":["DELIVRD"]}}"#, "INVALID_FILTER"),
        (r#"{"filter":{"campaign":["c1"]}}"#, "INVALID_FILTER"),
        (r#"{"filter":true}"#, "INVALID_FILTER"),
        (r#"{"rate_limit":10001}"#, "INVALID_RATE_LIMIT"),
        (r#"{"rate_limit":-1}"#, "INVALID_RATE_LIMIT"),
        (r#"{"rate_limit":"10"}"#, "INVALID_RATE_LIMIT"),
        // Valid parts of a rejected request are not applied either.
        (r#"{"name":"Changed","rate_limit":2.5}"#, "INVALID_RATE_LIMIT"),
    ] {
        let (s, v) = p.call("PATCH", &hook(&id), Some(&a), Some(body)).await;
        assert_eq!((s, v["error_code"].as_str()), (400, Some(code)), "PATCH {body}: {v}");
        assert!(v["description"].is_string());
    }
    for (body, code) in [
        (
            r#"{"url":"http://127.0.0.1:9/x","event_types":["SMS_STATUS"]}"#,
            "INVALID_NAME",
        ),
        (r#"{"name":"ok","event_types":["SMS_STATUS"]}"#, "INVALID_URL"),
        (r#"{"name":"ok","url":"http://127.0.0.1:9/x"}"#, "INVALID_EVENT_TYPE"),
        (
            r#"{"name":"ok","url":"http://127.0.0.1:9/x","event_type":"LINK_HIT","filter":{"sender":[""]}}"#,
            "INVALID_FILTER",
        ),
        (
            r#"{"name":"ok","url":"http://127.0.0.1:9/x","event_type":"LINK_HIT","rate_limit":true}"#,
            "INVALID_RATE_LIMIT",
        ),
    ] {
        let (s, v) = p.call("POST", HOOKS, Some(&a), Some(body)).await;
        assert_eq!((s, v["error_code"].as_str()), (400, Some(code)), "POST {body}: {v}");
    }
    assert_eq!(p.call("GET", HOOKS, Some(&a), None).await.1, list, "nothing changed");

    // Partial update: only the fields sent change.
    let (s, patched) = p
        .call(
            "PATCH",
            &hook(&id),
            Some(&a),
            Some(r#"{"name":"Renamed","event_type":"OPT_OUT","filter":{"message_ref":["m-1"]}}"#),
        )
        .await;
    assert_eq!(s, 200, "{patched}");
    assert_eq!(patched["name"], "Renamed");
    assert_eq!(patched["url"], shown["url"]);
    assert_eq!(patched["event_types"], json!(["OPT_OUT"]));
    assert_eq!(patched["filter"]["message_ref"], json!(["m-1"]));
    assert_eq!(patched["filter"]["sender"], json!([]));
    assert_eq!(patched["rate_limit"], 25);
    assert_eq!(p.call("GET", &hook(&id), Some(&a), None).await.1, patched);

    // Workspace B sees and touches none of it.
    assert_eq!(
        p.call("GET", HOOKS, Some(&b), None).await.1,
        json!({"data": [], "next_cursor": null})
    );
    for (method, body) in [
        ("GET", None),
        ("PATCH", Some(r#"{"name":"Mine now"}"#)),
        ("DELETE", None),
    ] {
        let (s, v) = p.call(method, &hook(&id), Some(&b), body).await;
        assert_eq!((s, v["error_code"].as_str()), (404, Some("NOT_FOUND")), "{method}");
    }
    assert_eq!(p.call("GET", &hook(&id), Some(&a), None).await.1, patched);

    // Delete.
    let (s, _) = p.call("DELETE", &hook(&id), Some(&read_only), None).await;
    assert_eq!(s, 403);
    let (s, v) = p.call("DELETE", &hook(&id), Some(&a), None).await;
    assert_eq!((s, v), (204, Value::Null));
    assert_eq!(p.call("GET", &hook(&id), Some(&a), None).await.0, 404);
    assert_eq!(p.call("DELETE", &hook(&id), Some(&a), None).await.0, 404);
    assert_eq!(
        p.call("GET", HOOKS, Some(&a), None).await.1,
        json!({"data": [], "next_cursor": null})
    );
    assert_eq!(p.call("GET", &hook("wh_unknown"), Some(&a), None).await.0, 404);
    assert!(p
        .metrics()
        .await
        .unwrap()
        .contains(r#"hookline_api_config_writes_total{dialect="named"} 3"#));
    p.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filtered_events_end_to_end_next_to_telecom23() {
    let mut p = TestPipeline::start().await.unwrap();
    let ws = format!("ws-{}", p.id);
    let key = p.create_key(&ws, &[R, W]).await.unwrap();
    let t23 = Receiver::start().await;
    let named = Receiver::start().await;
    let mms = Receiver::start().await;
    let whatsapp = Receiver::start().await;

    // A 23 Telecom delivery webhook first.
    let (s, _) = p
        .put_webhooks(
            &key,
            json!({"delivery_url": t23.url("/t23"), "signing_secret": "t23-secret", "delivery_fields": ["message_id", "status"]}),
        )
        .await
        .unwrap();
    assert_eq!(s, 200);
    let t23_view = p.call("GET", "/api/v1/user/webhooks", Some(&key), None).await.1;

    // Named subscriptions: SMS statuses filtered to "delivered", every MMS status, and
    // WhatsApp inbound messages received on one number.
    let create = |body: Value| {
        let (p, key) = (&p, &key);
        async move {
            let (s, v) = p.call("POST", HOOKS, Some(key), Some(&body.to_string())).await;
            assert_eq!(s, 201, "{v}");
            v
        }
    };
    let delivered = create(json!({"name": "Delivered SMS", "url": named.url("/named"),
        "event_types": ["SMS_STATUS"], "filter": {"status": ["delivered"]}}))
    .await;
    let secret = delivered["signing_secret"].as_str().unwrap().to_string();
    create(json!({"name": "MMS statuses", "url": mms.url("/mms"), "event_type": "MMS_STATUS"})).await;
    create(
        json!({"name": "WhatsApp in", "url": whatsapp.url("/wa"), "event_types": ["WHATSAPP_INBOUND"],
        "filter": {"sender": ["+15550001"]}}),
    )
    .await;
    // A throwaway one, patched and deleted: named writes leave 23 Telecom alone.
    let temp = create(json!({"name": "Temp", "url": named.url("/temp"), "event_types": ["LINK_HIT"]})).await;
    let temp_id = temp["id"].as_str().unwrap();
    assert_eq!(
        p.call("PATCH", &hook(temp_id), Some(&key), Some(r#"{"rate_limit":3}"#))
            .await
            .0,
        200
    );
    assert_eq!(p.call("DELETE", &hook(temp_id), Some(&key), None).await.0, 204);
    assert_eq!(
        p.call("GET", "/api/v1/user/webhooks", Some(&key), None).await.1,
        t23_view,
        "named writes did not alter 23 Telecom"
    );

    // ...and a 23 Telecom write leaves the named ones alone.
    let named_before = p.call("GET", HOOKS, Some(&key), None).await.1;
    assert_eq!(named_before["data"].as_array().unwrap().len(), 3);
    let version = p.workspace_version(&ws).unwrap();
    let (s, _) = p
        .put_webhooks(&key, json!({"delivery_fields": ["message_id", "status", "recipient"]}))
        .await
        .unwrap();
    assert_eq!(s, 200);
    assert_eq!(p.call("GET", HOOKS, Some(&key), None).await.1, named_before);
    // Enrich reads the config this process follows.
    p.wait_workspace_version(&ws, version + 1, WAIT).await.unwrap();

    // Two SMS (one delivered, one not) and one MMS, delivered.
    p.send_accepted(&ws, "m-ok", "c-ok").await.unwrap();
    p.send_accepted(&ws, "m-bad", "c-bad").await.unwrap();
    let mut mms_msg = TestPipeline::accepted(&ws, "m-mms", "c-mms");
    mms_msg["channel"] = json!("mms");
    p.produce(&p.kafka.topics.accepted(), "c-mms", mms_msg.to_string().as_bytes())
        .await
        .unwrap();
    p.send_dlr("c-ok", "id:c-ok stat:DELIVRD err:000").await.unwrap();
    p.send_dlr("c-bad", "id:c-bad stat:UNDELIV err:0B1").await.unwrap();
    p.send_dlr("c-mms", "id:c-mms stat:DELIVRD err:000").await.unwrap();
    // WhatsApp inbound on the filtered number and on another one, and an SMS inbound.
    for (to, channel) in [
        ("+15550001", "whatsapp"),
        ("+15550002", "whatsapp"),
        ("+15550001", "sms"),
    ] {
        let r = p
            .ingest_post("/v1/inbound")
            .json(&json!({"workspace_id": ws, "from": "+14155551234", "to": to, "text": "hi", "channel": channel}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202);
    }

    // 23 Telecom got both SMS delivery reports, with its own fields and secret.
    let got = t23
        .expect_n(
            2,
            WAIT,
            |r| r.json()["message_id"] != "m-mms",
            "both SMS delivery reports",
        )
        .await;
    for r in &got {
        assert_eq!(r.header("x-webhook-event"), Some("delivery"));
        let ts = r.header("x-webhook-timestamp").unwrap();
        assert_eq!(
            r.header("x-webhook-signature").unwrap(),
            hookline_tests::reference_signature("t23-secret", ts, &r.body)
        );
        assert_eq!(r.json().as_object().unwrap().len(), 3);
    }

    // The named SMS subscription got only the delivered status, in the envelope, signed with
    // its own secret.
    named.expect_n(1, WAIT, |_| true, "the delivered SMS status").await;
    let mms_got = mms.expect_n(2, WAIT, |_| true, "the MMS statuses").await;
    let wa_got = whatsapp
        .expect_n(1, WAIT, |_| true, "the filtered WhatsApp inbound")
        .await;
    // Every record sent has been handled to its end: anything extra would have arrived.
    p.wait_settled(WAIT, "the SMS, MMS and inbound records").await.unwrap();
    assert_eq!(named.requests().len(), 1, "only the delivered SMS status");
    let r = &named.requests()[0];
    assert_eq!(r.path, "/named");
    assert_eq!(r.header("x-webhook-event"), Some("SMS_STATUS"));
    let ts = r.header("x-webhook-timestamp").unwrap();
    assert_eq!(
        r.header("x-webhook-signature").unwrap(),
        hookline_tests::reference_signature(&secret, ts, &r.body)
    );
    let v = r.json();
    assert_eq!(v["type"], "SMS_STATUS");
    assert!(v["id"].as_str().unwrap().starts_with("st_"));
    assert!(v["timestamp"].as_str().unwrap().ends_with('Z'));
    assert_eq!(v["data"]["status"], "delivered");
    assert_eq!(v["data"]["message_ref"], "m-ok");
    assert_eq!(v["data"]["sender"], "MyApp");
    assert_eq!(v["data"]["recipient"], "+14155551234");

    // The MMS subscription got the MMS message's statuses (sent, delivered), nothing else.
    assert_eq!(mms.requests().len(), 2);
    let mut statuses: Vec<String> = mms_got
        .iter()
        .map(|r| {
            let v = r.json();
            assert_eq!(
                (v["type"].as_str(), v["data"]["message_ref"].as_str()),
                (Some("MMS_STATUS"), Some("m-mms"))
            );
            v["data"]["status"].as_str().unwrap().to_string()
        })
        .collect();
    statuses.sort();
    assert_eq!(statuses, ["delivered", "sent"]);

    // WhatsApp: only the inbound on the filtered number, SMS inbound not at all.
    assert_eq!(whatsapp.requests().len(), 1);
    let v = wa_got[0].json();
    assert_eq!(v["type"], "WHATSAPP_INBOUND");
    assert_eq!(v["data"]["recipient"], "+15550001");
    assert_eq!(v["data"]["from"], "+14155551234");
    assert!(v["data"].get("last_message").is_none());
    p.stop().await.unwrap();
}
