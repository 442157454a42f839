//! Issue 28, finding 6, against the real services: the bearer scheme is matched in any case
//! (RFC 9110 §11.1) by the admin API and by ingest, and wrong admin tokens are throttled per
//! client address (`429 TOO_MANY_ATTEMPTS` with `Retry-After`) without locking out other
//! addresses.

use hookline::Service;
use hookline_tests::{unique, TestPipeline, ADMIN_TOKEN};
use serde_json::Value;

/// A client whose requests come from the loopback address `from` (all of 127.0.0.0/8 is
/// loopback): another client, as the API counts them.
fn client_from(from: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(Some(from.parse().unwrap()))
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bearer_scheme_is_case_insensitive_for_admin_and_ingest() {
    let mut p = TestPipeline::start_with(&unique("bearer"), &[Service::Api, Service::Ingest], &[])
        .await
        .unwrap();
    for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
        let r = p
            .http
            .get(p.api("/admin/v1/api-keys"))
            .header("Authorization", format!("{scheme} {ADMIN_TOKEN}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "admin, {scheme}");
        let r = p
            .http
            .post(p.ingest("/v1/messages"))
            .header("Authorization", format!("{scheme} {}", p.ingest_key))
            .json(&TestPipeline::accepted(
                "w",
                &format!("m-{scheme}"),
                &format!("c-{scheme}"),
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202, "ingest, {scheme}");
    }
    // Another scheme is still no credential.
    let r = p
        .http
        .get(p.api("/admin/v1/api-keys"))
        .header("Authorization", format!("Basic {ADMIN_TOKEN}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    p.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_admin_tokens_are_throttled_per_client_address() {
    let mut p = TestPipeline::start_with(&unique("throttle"), &[Service::Api], &[])
        .await
        .unwrap();
    let keys = p.api("/admin/v1/api-keys");
    let guesser = client_from("127.0.0.3");
    let status = |c: &reqwest::Client, token: Option<&str>| {
        let mut req = c.get(&keys);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send()
    };
    // Requests without a token guess nothing and are not counted.
    for _ in 0..15 {
        assert_eq!(status(&guesser, None).await.unwrap().status(), 401);
    }
    for i in 0..10 {
        let r = status(&guesser, Some(&format!("guess-{i}"))).await.unwrap();
        assert_eq!(r.status(), 401, "wrong token {i}");
    }
    let r = status(&guesser, Some("guess-10")).await.unwrap();
    assert_eq!(r.status(), 429);
    let retry: u64 = r.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=10).contains(&retry), "Retry-After: {retry}");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error_code"], "TOO_MANY_ATTEMPTS", "{body}");
    // The right token is served even from that address (behind a load balancer every client
    // shares one: ten wrong tokens must not lock the operator out)...
    assert_eq!(status(&guesser, Some(ADMIN_TOKEN)).await.unwrap().status(), 200);
    assert_eq!(status(&guesser, Some("guess-11")).await.unwrap().status(), 429);
    // ...and so is another address.
    let operator = client_from("127.0.0.4");
    assert_eq!(status(&operator, Some(ADMIN_TOKEN)).await.unwrap().status(), 200);
    p.stop().await.unwrap();
}
