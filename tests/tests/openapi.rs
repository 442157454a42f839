//! The OpenAPI documents at `/openapi.json` (api and ingest): every route is in them, and
//! everything in them is routed.

use hookline::Service;
use hookline_tests::TestPipeline;
use serde_json::Value;
use std::collections::BTreeSet;

/// `(method, path)` of every operation in a document.
fn operations(doc: &Value) -> BTreeSet<(String, String)> {
    doc["paths"]
        .as_object()
        .expect("paths")
        .iter()
        .flat_map(|(path, ops)| {
            ops.as_object()
                .expect("operations")
                .keys()
                .map(move |m| (m.clone(), path.clone()))
        })
        .collect()
}

/// Route paths written in the services' sources (their module folders included): any string
/// literal that looks like one.
fn route_literals() -> BTreeSet<String> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut found = BTreeSet::new();
    let mut files = vec![];
    let mut dirs = vec![root.join("services/api/src"), root.join("services/ingest/src")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                files.push(path);
            }
        }
    }
    for path in files {
        let text = std::fs::read_to_string(path).unwrap();
        for literal in text.split('"').skip(1).step_by(2) {
            let is_route = ["/api/", "/v1/", "/admin/", "/track"]
                .iter()
                .any(|p| literal.starts_with(p))
                && !literal.contains(char::is_whitespace);
            if is_route {
                found.insert(literal.to_string());
            }
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_is_documented_and_every_documented_route_is_served() {
    let mut p = TestPipeline::start_with(&hookline_tests::unique("oas"), &[Service::Api, Service::Ingest], &[])
        .await
        .unwrap();
    let mut documented = BTreeSet::new();
    for base in [p.api(""), p.ingest("")] {
        let doc: Value = hookline_tests::json_of(p.http.get(format!("{base}/openapi.json"))).await;
        assert_eq!(doc["openapi"], "3.0.3");
        assert!(doc["info"]["title"].as_str().is_some_and(|t| !t.is_empty()));
        let ops = operations(&doc);
        assert!(!ops.is_empty());
        for (method, path) in &ops {
            let op = &doc["paths"][path][method];
            assert!(op["summary"].as_str().is_some_and(|s| !s.is_empty()), "{method} {path}");
            assert!(
                op["responses"].as_object().is_some_and(|r| !r.is_empty()),
                "{method} {path} has responses"
            );
            // Served: the router answers something other than its own 404/405 (an empty
            // body); a handler's refusal (401, 400, 404 NOT_FOUND…) has a body.
            let url = format!("{base}{}", path.replace("{id}", "wh_missing"));
            let r = p
                .http
                .request(method.to_uppercase().parse().unwrap(), &url)
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            let body = r.bytes().await.unwrap();
            assert_ne!(status, 405, "{method} {path} is not routed");
            assert!(status != 404 || !body.is_empty(), "{method} {path} is not routed");
            documented.insert(path.clone());
        }
    }
    // A path the sources route but the documents lack fails here.
    let missing: Vec<String> = route_literals()
        .into_iter()
        .filter(|l| !documented.contains(l))
        .collect();
    assert!(missing.is_empty(), "routes missing from /openapi.json: {missing:?}");
    // And the check can fail: an unrouted path is the router's empty 404.
    let r = p.http.get(p.api("/api/v1/not-a-route")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    assert!(r.bytes().await.unwrap().is_empty());
    p.stop().await.unwrap();
}

/// The document's `requestBody.required` says what the server does (issue 28, item 12): every
/// API-key operation that takes a body is called without one, by a key with every
/// permission, on a subscription that exists; it answers 400 exactly when the document says
/// the body is required. (`/test` and `/rotate-secret` of a named subscription, and the
/// caller's dead-letter re-send, take no body and use their defaults.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_is_documented_required_exactly_when_the_server_requires_one() {
    use hookline_model::Permission::{WebhooksRead as R, WebhooksWrite as W};
    let mut p = TestPipeline::start().await.unwrap();
    let rx = hookline_tests::Receiver::start().await;
    let key = p.create_key(&format!("w-{}", p.id), &[R, W]).await.unwrap();
    let body = serde_json::json!({"name": "Any", "url": rx.url("/named"), "event_types": ["SMS_STATUS"]}).to_string();
    let (s, created) = p.call("POST", "/api/v1/webhooks", Some(&key), Some(&body)).await;
    assert_eq!(s, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_string();

    let doc: Value = hookline_tests::json_of(p.http.get(p.api("/openapi.json"))).await;
    let mut checked = vec![];
    for (method, path) in operations(&doc) {
        let op = &doc["paths"][&path][&method];
        let Some(required) = op["requestBody"]["required"].as_bool() else {
            continue;
        };
        if op["x-permission"].is_null() {
            continue; // admin and ingest operations: not this key's
        }
        let url = path.replace("{id}", &id);
        let (status, answer) = p.call(&method.to_uppercase(), &url, Some(&key), None).await;
        assert_eq!(
            status == 400,
            required,
            "{method} {path} without a body answered {status} {answer}, the document says required: {required}"
        );
        checked.push((method, path, required));
    }
    for optional in ["/api/v1/webhooks/{id}/test", "/api/v1/webhooks/{id}/rotate-secret"] {
        assert!(
            checked.iter().any(|(m, p, req)| m == "post" && p == optional && !req),
            "{optional} is documented with an optional body: {checked:?}"
        );
    }
    p.stop().await.unwrap();
}
