//! The document's own checks: every operation's statuses, real responses and the examples
//! against the schemas.

use super::*;
use hookline_model::{AttemptOutcome, AttemptRecord, Dialect, IngestKeyRecord, Subscription, WorkspaceConfig};

fn doc() -> Value {
    documented().1
}

/// `(method, path, operation)` of every operation.
fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut out = vec![];
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for (method, o) in ops.as_object().unwrap() {
            out.push((method.clone(), path.clone(), o.clone()));
        }
    }
    out
}

fn schema<'a>(doc: &'a Value, method: &str, path: &str, status: u16) -> &'a Value {
    &doc["paths"][path][method]["responses"][status.to_string()]["content"]["application/json"]["schema"]
}

/// What `value` breaks of `schema` (the subset the documents use: type, nullable, enum,
/// properties, required, items), one line per violation.
fn violations(schema: &Value, value: &Value, at: &str) -> Vec<String> {
    if value.is_null() {
        return if schema["nullable"] == true {
            vec![]
        } else {
            vec![format!("{at}: null, but not nullable in the document")]
        };
    }
    let ok = match schema["type"].as_str() {
        Some("string") => value.is_string(),
        Some("integer") => value.is_i64() || value.is_u64(),
        Some("number") => value.is_number(),
        Some("boolean") => value.is_boolean(),
        Some("array") => value.is_array(),
        Some("object") => value.is_object(),
        _ => true,
    };
    if !ok {
        return vec![format!("{at}: {value} is not of type {}", schema["type"])];
    }
    let mut out = vec![];
    if let Some(allowed) = schema["enum"].as_array() {
        if !allowed.contains(value) {
            out.push(format!("{at}: {value} is not one of {allowed:?}"));
        }
    }
    if let (Some(props), Some(obj)) = (schema["properties"].as_object(), value.as_object()) {
        for (k, v) in obj {
            if let Some(s) = props.get(k) {
                out.extend(violations(s, v, &format!("{at}.{k}")));
            }
        }
    }
    for req in schema["required"].as_array().into_iter().flatten() {
        if value.get(req.as_str().unwrap()).is_none() {
            out.push(format!("{at}: {req} is missing"));
        }
    }
    if let (Some(items), Some(arr)) = (schema.get("items"), value.as_array()) {
        for (i, v) in arr.iter().enumerate() {
            out.extend(violations(items, v, &format!("{at}[{i}]")));
        }
    }
    out
}

fn assert_conforms(schema: &Value, value: &Value, what: &str) {
    assert!(schema.is_object(), "{what}: no schema");
    let v = violations(schema, value, what);
    assert!(v.is_empty(), "{v:#?}");
}

/// Every operation that takes a credential lists the statuses that credential answers
/// with, in its dialect's error shape, and every one lists the server's own 408 and 413:
/// schemathesis found 401 undocumented on 12 operations.
#[test]
fn every_operation_documents_its_credentials_and_the_servers_statuses() {
    let doc = doc();
    let ops = operations(&doc);
    assert_eq!(ops.len(), 33);
    for (method, path, o) in &ops {
        let responses = o["responses"].as_object().unwrap();
        let smsedge = o["tags"][0] == SMSEDGE;
        let mut needed = vec!["408", "413"];
        match o["security"][0]
            .as_object()
            .and_then(|s| s.keys().next())
            .map(String::as_str)
        {
            Some("apiKey") => needed.extend(["401", "403"]),
            Some("adminToken") => needed.extend(["401", "404", "429"]),
            other => panic!("{method} {path}: security {other:?}"),
        }
        for status in needed {
            let r = responses
                .get(status)
                .unwrap_or_else(|| panic!("{method} {path} does not document {status}"));
            let example = &r["content"]["application/json"]["example"];
            if smsedge {
                assert_eq!(
                    example["success"], false,
                    "{method} {path} {status}: SMSEdge's envelope"
                );
                assert!(example["error"]["code"].is_string(), "{method} {path} {status}");
            } else {
                assert!(example["error_code"].is_string(), "{method} {path} {status}");
            }
        }
    }
    // Operations that write to Kafka or read the store may be 503; pure reads of the
    // in-memory config may not.
    for (method, path) in [
        ("put", "/api/v1/user/webhooks"),
        ("get", "/api/v1/user/webhooks/logs"),
        ("post", "/v1/user/set-webhook"),
        ("post", "/admin/v1/dead-letters/resend"),
        ("post", "/api/v1/webhooks/{id}/test"),
        ("get", "/api/v1/webhooks/{id}/stats"),
    ] {
        assert!(
            doc["paths"][path][method]["responses"]["503"].is_object(),
            "{method} {path}"
        );
    }
    assert!(doc["paths"]["/v1/user/get-webhook"]["get"]["responses"]["503"].is_null());
    assert!(doc["paths"]["/admin/v1/dead-letters/resend"]["post"]["responses"]["400"].is_object());
    assert_eq!(
        doc["paths"]["/api/v1/user/webhooks/logs"]["get"]["parameters"][0]["name"],
        "limit"
    );
}

/// Real responses with their optional members unset conform to the documents (they came
/// back `null` where the documents said string or integer).
#[test]
fn responses_with_unset_members_conform_to_the_documents() {
    let doc = doc();
    let empty = WorkspaceConfig::new("w");
    let t23 = crate::telecom23::view(&empty);
    assert!(t23["delivery_url"].is_null());
    for method in ["get", "put"] {
        assert_conforms(schema(&doc, method, "/api/v1/user/webhooks", 200), &t23, method);
    }
    let se = crate::smsedge::success(crate::smsedge::view(&empty)).0;
    assert!(se["data"]["dlr_url"].is_null());
    assert_conforms(schema(&doc, "get", "/v1/user/get-webhook", 200), &se, "get-webhook");
    assert_conforms(schema(&doc, "post", "/v1/user/set-webhook", 200), &se, "set-webhook");

    // A named subscription no rotation left a live previous secret to.
    let mut sub = Subscription::new(Dialect::Named, "w", "wh_1", "https://example.com/h");
    sub.name = Some("Hook".into());
    let named = crate::named::view(&sub);
    assert!(named["previous_secret_expires_at"].is_null());
    for (method, path) in [("get", "/api/v1/webhooks/{id}"), ("patch", "/api/v1/webhooks/{id}")] {
        assert_conforms(schema(&doc, method, path, 200), &named, path);
    }
    let list = json!({"data": [named]});
    assert_conforms(schema(&doc, "get", "/api/v1/webhooks", 200), &list, "named list");

    // An attempt that got no response: no code, no body, an error.
    let rec = AttemptRecord {
        attempt_id: "a".into(),
        webhook_id: "wh".into(),
        event_id: "e".into(),
        event_type: EventKind::Delivery,
        workspace_id: "w".into(),
        subscription_id: "t23-delivery".into(),
        url: "https://example.com/".into(),
        attempt: 1,
        test: true,
        outcome: AttemptOutcome::Failed,
        request_headers: vec![("Content-Type".into(), "application/json".into())],
        payload: "{}".into(),
        response_code: None,
        response_time_ms: 3,
        response_body: None,
        error: Some("connection refused".into()),
        attempted_at: chrono::Utc::now(),
        next_attempt_at: None,
        dead_lettered: false,
        throttled_rate_per_sec: None,
        url_kind: None,
        batch_id: None,
        batch_size: None,
    };
    let logs = json!({"count": 1, "logs": [crate::logs::entry(&rec)]});
    assert!(logs["logs"][0]["response_code"].is_null());
    assert_conforms(schema(&doc, "get", "/api/v1/user/webhooks/logs", 200), &logs, "logs");
    // Only an attempt of a subscription with a failover URL has `url_kind`.
    assert!(logs["logs"][0].get("url_kind").is_none());
    let failover = AttemptRecord {
        url_kind: Some(hookline_model::URL_KIND_FAILOVER.into()),
        ..rec.clone()
    };
    let logs = json!({"count": 1, "logs": [crate::logs::entry(&failover)]});
    assert_eq!(logs["logs"][0]["url_kind"], "failover");
    assert_conforms(schema(&doc, "get", "/api/v1/user/webhooks/logs", 200), &logs, "logs");
    let test = json!({"type": "delivery", "webhook_id": rec.webhook_id, "url": rec.url, "success": false,
                      "status": "failed", "response_code": rec.response_code, "response_time_ms": 3,
                      "error": rec.error, "payload": rec.payload});
    assert_conforms(schema(&doc, "post", "/api/v1/user/webhooks/test", 200), &test, "test");

    // Named subscriptions created before the timestamps, on the last page; stats of a
    // subscription without attempts.
    let mut old = WorkspaceConfig::new("w");
    old.upsert(hookline_model::Subscription {
        name: Some("Old".into()),
        ..hookline_model::Subscription::new(hookline_model::Dialect::Named, "w", "wh_old", "https://example.com/")
    });
    let page = crate::named::paging::page_view(&old, &Default::default());
    assert!(page["next_cursor"].is_null() && page["data"][0]["created_at"].is_null());
    assert_conforms(schema(&doc, "get", "/api/v1/webhooks", 200), &page, "named list");
    let one = crate::named::get_view(&old, "wh_old").unwrap();
    assert_conforms(schema(&doc, "get", "/api/v1/webhooks/{id}", 200), &one, "named get");
    let none = hookline_store::attempt_stats::ReadPlan::new(chrono::Utc::now())
        .summarize(&[])
        .0;
    let stats = crate::named::stats::view(&old.subscriptions[0], &none);
    assert!(stats["windows"]["1h"]["success_ratio"].is_null());
    assert_conforms(schema(&doc, "get", "/api/v1/webhooks/{id}/stats", 200), &stats, "stats");
    let named_test = json!({"type": "SMS_STATUS", "webhook_id": rec.webhook_id, "url": rec.url, "success": false,
                            "status": "failed", "response_code": null, "response_time_ms": 3,
                            "error": rec.error, "payload": rec.payload});
    assert_conforms(
        schema(&doc, "post", "/api/v1/webhooks/{id}/test", 200),
        &named_test,
        "named test",
    );

    // SMSEdge's test-webhook: each shape of a channel's result, including no response.
    let results = json!({"success": true, "data": {
        "dlr": {"status": "error", "http_code": null, "time": null, "error": "no attempt recorded in time"},
        "click": {"status": "error", "http_code": null, "time": 0.004},
        "inbound": {"status": "skipped", "reason": "not configured"},
        "revoke_click": {"status": "ok", "http_code": 200, "time": 0.1}}});
    assert_conforms(
        schema(&doc, "post", "/v1/user/test-webhook", 200),
        &results,
        "test-webhook",
    );
    let bad = json!({"success": true, "data": {"dlr": {"status": "maybe"}}});
    assert!(!violations(schema(&doc, "post", "/v1/user/test-webhook", 200), &bad, "").is_empty());

    // Operators' listings: a key never used, a credential without name or bindings.
    let (_, key) = crate::auth::new_key("w", vec![hookline_model::Permission::WebhooksRead]);
    let keys = json!({"data": [crate::admin::api_key_view(&key, None)]});
    assert_conforms(schema(&doc, "get", "/admin/v1/api-keys", 200), &keys, "api-keys");
    let (_, ing) = IngestKeyRecord::generate(None, vec![IngestKind::Dlr], None, None);
    let view = crate::admin::ingest_key_view(&ing, None);
    assert!(view["name"].is_null() && view["carrier_connection"].is_null());
    assert_conforms(schema(&doc, "post", "/admin/v1/ingest-keys", 201), &view, "create");
    let list = json!({"data": [view]});
    assert_conforms(schema(&doc, "get", "/admin/v1/ingest-keys", 200), &list, "ingest-keys");
}

/// The examples conform to their own schemas.
#[test]
fn every_example_conforms_to_its_schema() {
    let doc = doc();
    for (method, path, o) in operations(&doc) {
        for (ct, c) in o["requestBody"]["content"].as_object().into_iter().flatten() {
            assert_conforms(&c["schema"], &c["example"], &format!("{method} {path} {ct} body"));
        }
        for (status, r) in o["responses"].as_object().unwrap() {
            let Some(c) = r["content"]["application/json"].as_object() else {
                continue;
            };
            assert_conforms(&c["schema"], &c["example"], &format!("{method} {path} {status}"));
        }
    }
}
