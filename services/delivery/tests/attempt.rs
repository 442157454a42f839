//! One attempt against real HTTP servers on loopback: how every outcome is classified, that
//! redirects are not followed, that the URL policy is applied at connect time, that stored
//! credentials in a URL are never sent, and that an explicit egress proxy gets every request.

mod support;

use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::Router;
use hookline_delivery::attempt::Attempter;
use hookline_delivery::client;
use hookline_model::*;
use hookline_security::{Sealer, UrlPolicy};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use support::{dispatch, loopback_policy, Recorder};

fn subscription(url: String, sealer: &Sealer) -> Subscription {
    Subscription {
        event_kinds: vec![EventKind::Delivery],
        signing_secret: Some(SealedSecret(sealer.seal("k"))),
        basic_auth: Some(SealedSecret(sealer.seal("user:pass"))),
        timeout_ms: 300,
        ..Subscription::new(Dialect::Telecom23, "w", "s", url)
    }
}

/// A server with one route per behaviour; counts every request it gets.
async fn server() -> (String, Arc<AtomicUsize>, Arc<std::sync::Mutex<Option<HeaderMap>>>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let seen = Arc::new(std::sync::Mutex::new(None));
    let (h, s) = (hits.clone(), seen.clone());
    let app = Router::new()
        .route(
            "/ok",
            post(move |headers: HeaderMap| async move {
                *s.lock().unwrap() = Some(headers);
                "thanks"
            }),
        )
        .route(
            "/redirect",
            post(|| async { (StatusCode::FOUND, [("location", "/ok")], "") }),
        )
        .route("/error", post(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "boom") }))
        .route(
            "/slow",
            post(|| async {
                // A slow endpoint (the behaviour under test), not a wait.
                tokio::time::sleep(Duration::from_secs(3)).await;
                "late"
            }),
        )
        .route("/ok", get(|| async { "wrong method" }))
        .layer(axum::middleware::from_fn(move |req, next: axum::middleware::Next| {
            h.fetch_add(1, Ordering::SeqCst);
            async move { next.run(req).await }
        }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), hits, seen)
}

fn attempter(policy: UrlPolicy, sealer: &Sealer) -> Attempter {
    Attempter::new(
        client::build(&policy, None, 64).unwrap(),
        policy,
        sealer.clone(),
        "Hookline-Webhooks/test".into(),
    )
}

#[tokio::test]
async fn outcomes_are_classified() {
    let sealer = Sealer::new(Some(&Sealer::random_key_hex())).unwrap();
    let (base, hits, seen) = server().await;
    let a = attempter(loopback_policy(), &sealer);

    let sub = subscription(format!("{base}/ok"), &sealer);
    let rec = a.attempt(&dispatch(&sub), &sub, 1).await.record;
    assert_eq!(
        (rec.outcome, rec.response_code, rec.error.as_deref()),
        (AttemptOutcome::Delivered, Some(200), None)
    );
    assert_eq!(rec.response_body.as_deref(), Some("thanks"));
    let headers = seen.lock().unwrap().clone().unwrap();
    assert_eq!(headers["authorization"], "Basic dXNlcjpwYXNz");
    let ts = headers["x-webhook-timestamp"].to_str().unwrap();
    assert_eq!(
        headers["x-webhook-signature"].to_str().unwrap(),
        hookline_security::sign(b"k", ts, rec.payload.as_bytes())
    );
    for standard in ["webhook-id", "webhook-timestamp", "webhook-signature"] {
        assert!(headers.get(standard).is_none(), "{standard}: named subscriptions only");
    }
    assert!(rec
        .request_headers
        .iter()
        .any(|(k, v)| k == "Authorization" && v == "Basic [redacted]"));
    assert!(
        !format!("{:?}", rec.request_headers).contains("dXNlcjpwYXNz"),
        "credentials never logged"
    );

    let before = hits.load(Ordering::SeqCst);
    let sub = subscription(format!("{base}/redirect"), &sealer);
    let rec = a.attempt(&dispatch(&sub), &sub, 1).await.record;
    assert_eq!((rec.outcome, rec.response_code), (AttemptOutcome::Failed, Some(302)));
    assert!(rec.error.unwrap().contains("redirects are not followed"));
    assert_eq!(
        hits.load(Ordering::SeqCst),
        before + 1,
        "the redirect target was not requested"
    );

    let sub = subscription(format!("{base}/error"), &sealer);
    let rec = a.attempt(&dispatch(&sub), &sub, 2).await.record;
    assert_eq!(
        (rec.outcome, rec.response_code, rec.error.as_deref()),
        (AttemptOutcome::Failed, Some(500), Some("HTTP 500"))
    );
    assert_eq!(rec.attempt, 2);

    let sub = subscription(format!("{base}/slow"), &sealer);
    let rec = a.attempt(&dispatch(&sub), &sub, 1).await.record;
    assert_eq!(
        (rec.outcome, rec.error.as_deref()),
        (AttemptOutcome::Failed, Some("timeout after 300 ms"))
    );
    assert!(
        rec.response_time_ms >= 300 && rec.response_time_ms < 2000,
        "{}",
        rec.response_time_ms
    );

    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let sub = subscription(format!("http://{closed}/x"), &sealer);
    let rec = a.attempt(&dispatch(&sub), &sub, 1).await.record;
    assert_eq!(rec.outcome, AttemptOutcome::Failed);
    assert!(rec.error.unwrap().starts_with("request failed"));
}

#[tokio::test]
async fn forbidden_addresses_are_refused_at_connect_time() {
    let sealer = Sealer::new(None).unwrap();
    let (base, hits, _) = server().await;
    let strict = attempter(UrlPolicy::new(true, vec![]), &sealer);

    // An IP literal is checked before sending.
    let sub = subscription(format!("{base}/ok"), &sealer);
    let rec = strict.attempt(&dispatch(&sub), &sub, 1).await.record;
    assert_eq!(rec.outcome, AttemptOutcome::Failed);
    assert!(rec.error.unwrap().contains("forbidden address"));

    // A name is checked on every resolution, so it cannot be re-pointed after configuration.
    let port = base.rsplit(':').next().unwrap();
    let sub = subscription(format!("http://localhost:{port}/ok"), &sealer);
    let rec = strict.attempt(&dispatch(&sub), &sub, 1).await.record;
    assert_eq!(rec.outcome, AttemptOutcome::Failed);
    assert!(rec.error.unwrap().contains("resolves only to forbidden addresses"));
    assert_eq!(hits.load(Ordering::SeqCst), 0, "nothing reached the loopback server");
}

/// Issue 13: a URL with credentials stored before the API refused them (or written straight
/// to the config topic) is refused at send time: nothing reaches the receiver, no
/// `Authorization` is sent, and the attempt log does not copy the credentials.
#[tokio::test]
async fn credentials_in_a_stored_url_are_never_sent() {
    let sealer = Sealer::new(None).unwrap();
    let receiver = Recorder::start("thanks").await;
    let a = attempter(loopback_policy(), &sealer);
    let sub = Subscription::new(
        Dialect::Telecom23,
        "w",
        "s",
        format!("http://user:s3cr3t@{}/ok", receiver.addr),
    );
    let rec = a.attempt(&dispatch(&sub), &sub, 1).await.record;
    assert_eq!(rec.outcome, AttemptOutcome::Failed);
    let error = rec.error.unwrap();
    assert!(
        error.starts_with("URL refused") && error.contains("credentials"),
        "{error}"
    );
    assert_eq!(receiver.request_lines(), Vec::<String>::new(), "nothing was sent");
    assert!(!rec.url.contains("s3cr3t"), "{}", rec.url);
    assert!(!format!("{:?}", rec.request_headers).contains("Authorization"));
}

/// With `HOOKLINE_EGRESS_PROXY` every request goes to that proxy, which resolves the target
/// itself (a name that does not resolve here is delivered through it); IP literals the policy
/// forbids are still refused before anything is sent.
#[tokio::test]
async fn an_explicit_egress_proxy_gets_every_request() {
    let sealer = Sealer::new(None).unwrap();
    let proxy = Recorder::start("via proxy").await;
    let receiver = Recorder::start("direct").await;
    // Named by a host that resolves to loopback, which this policy forbids for targets: the
    // proxy is the operator's own and is resolved without the policy.
    let proxy_url = client::parse_egress_proxy(&format!("http://localhost:{}", proxy.addr.port())).unwrap();
    let strict = UrlPolicy::new(true, vec![]);
    let a = Attempter::new(
        client::build(&strict, Some(&proxy_url), 64).unwrap(),
        strict,
        sealer.clone(),
        "Hookline-Webhooks/test".into(),
    );

    let sub = Subscription::new(Dialect::Telecom23, "w", "s", "http://hooks.example.invalid/dlr");
    let rec = a.attempt(&dispatch(&sub), &sub, 1).await.record;
    assert_eq!(
        (rec.outcome, rec.response_body.as_deref()),
        (AttemptOutcome::Delivered, Some("via proxy")),
        "{:?}",
        rec.error
    );
    assert_eq!(
        proxy.request_lines(),
        vec!["POST http://hooks.example.invalid/dlr HTTP/1.1"]
    );

    // https goes through a CONNECT tunnel (this stand-in answers no TLS, so it then fails).
    let sub = Subscription::new(Dialect::Telecom23, "w", "s", "https://hooks.example.invalid/tls");
    let rec = a.attempt(&dispatch(&sub), &sub, 1).await.record;
    assert_eq!(rec.outcome, AttemptOutcome::Failed);
    assert_eq!(
        proxy.request_lines().last().map(String::as_str),
        Some("CONNECT hooks.example.invalid:443 HTTP/1.1")
    );

    // A forbidden IP literal is refused here, not left to the proxy.
    let before = proxy.request_lines().len();
    for url in [
        "http://169.254.169.254/latest/meta-data",
        "http://[::ffff:127.0.0.1]/x",
        format!("http://{}/ok", receiver.addr).as_str(),
    ] {
        let sub = Subscription::new(Dialect::Telecom23, "w", "s", url);
        let rec = a.attempt(&dispatch(&sub), &sub, 1).await.record;
        let error = rec.error.unwrap_or_default();
        assert!(error.contains("forbidden address"), "{url}: {error}");
    }
    assert_eq!(proxy.request_lines().len(), before, "the proxy got none of them");

    // With loopback allowed, a loopback receiver is also reached through the proxy only.
    let open = attempter_via(&proxy_url, &sealer);
    let sub = Subscription::new(Dialect::Telecom23, "w", "s", receiver.url("/ok"));
    let rec = open.attempt(&dispatch(&sub), &sub, 1).await.record;
    assert_eq!(rec.response_body.as_deref(), Some("via proxy"));
    assert_eq!(
        proxy.request_lines().last().cloned(),
        Some(format!("POST {} HTTP/1.1", receiver.url("/ok")))
    );
    assert_eq!(receiver.request_lines(), Vec::<String>::new(), "nothing went direct");
}

fn attempter_via(proxy: &reqwest::Url, sealer: &Sealer) -> Attempter {
    Attempter::new(
        client::build(&loopback_policy(), Some(proxy), 64).unwrap(),
        loopback_policy(),
        sealer.clone(),
        "Hookline-Webhooks/test".into(),
    )
}
