//! One attempt against real HTTP servers on loopback: how every outcome is classified, that
//! redirects are not followed, and that the URL policy is applied at connect time.

use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::Router;
use chrono::Utc;
use hookline_delivery::attempt::Attempter;
use hookline_delivery::client;
use hookline_model::event::DeliveryEvent;
use hookline_model::*;
use hookline_security::{Sealer, UrlPolicy};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

fn loopback_policy() -> UrlPolicy {
    UrlPolicy::new(true, vec!["127.0.0.0/8".parse().unwrap()])
}

fn dispatch(sub: &Subscription) -> Dispatch {
    let event = Event {
        id: "dlr_1".into(),
        workspace_id: "w".into(),
        occurred_at: Utc::now(),
        received_at: Utc::now(),
        data: EventData::Delivery(DeliveryEvent {
            message_id: "m1".into(),
            telecom_message_id: "c1".into(),
            recipient: "+1".into(),
            sender_id: "S".into(),
            status: DlrStatus::Delivered,
            status_code: "000".into(),
            num_parts: 1,
            cost: 0.0,
            broadcast_id: None,
            message: None,
        }),
    };
    Dispatch::new(event, sub, 1)
}

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
        client::build(&policy).unwrap(),
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
