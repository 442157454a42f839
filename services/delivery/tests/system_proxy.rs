//! Issue 13: the system proxy variables must not route webhook requests past the connect-time
//! URL policy. Environment variables are process-wide, so this binary holds this one test and
//! nothing else runs beside it.

mod support;

use hookline_delivery::attempt::Attempter;
use hookline_delivery::client;
use hookline_model::*;
use hookline_security::{Sealer, UrlPolicy};
use support::{dispatch, loopback_policy, Recorder};

#[tokio::test]
async fn system_proxy_variables_are_ignored() {
    let proxy = Recorder::start("via proxy").await;
    let receiver = Recorder::start("direct").await;
    for k in ["NO_PROXY", "no_proxy", "REQUEST_METHOD"] {
        std::env::remove_var(k);
    }
    for k in [
        "HTTP_PROXY",
        "http_proxy",
        "HTTPS_PROXY",
        "https_proxy",
        "ALL_PROXY",
        "all_proxy",
    ] {
        std::env::set_var(k, proxy.url(""));
    }

    // The variables are in effect: reqwest's default client sends through the proxy.
    let body = reqwest::Client::new()
        .post(receiver.url("/control"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(body, "via proxy");
    assert_eq!(
        proxy.request_lines(),
        vec![format!("POST {} HTTP/1.1", receiver.url("/control"))]
    );

    // Hookline's client, without HOOKLINE_EGRESS_PROXY, goes direct.
    let sealer = Sealer::new(None).unwrap();
    let attempter = |policy: UrlPolicy| {
        Attempter::new(
            client::build(&policy, None, 64).unwrap(),
            policy,
            sealer.clone(),
            "Hookline-Webhooks/test".into(),
        )
    };
    let a = attempter(loopback_policy());
    let sub = Subscription::new(Dialect::Telecom23, "w", "s", receiver.url("/hook"));
    let rec = a.attempt(&dispatch(&sub), &sub, 1).await.record;
    assert_eq!(
        (rec.outcome, rec.response_body.as_deref()),
        (AttemptOutcome::Delivered, Some("direct")),
        "{:?}",
        rec.error
    );
    assert_eq!(receiver.request_lines(), vec!["POST /hook HTTP/1.1"]);

    // A host the policy forbids is refused, not handed to the proxy to resolve: by name (the
    // resolver's check) and as an IP literal.
    let strict = attempter(UrlPolicy::new(true, vec![]));
    let port = receiver.addr.port();
    for (url, why) in [
        (
            format!("http://localhost:{port}/hook"),
            "resolves only to forbidden addresses",
        ),
        (format!("http://127.0.0.1:{port}/hook"), "forbidden address"),
        (
            "http://169.254.169.254/latest/meta-data".to_string(),
            "forbidden address",
        ),
    ] {
        let sub = Subscription::new(Dialect::Telecom23, "w", "s", url.as_str());
        let rec = strict.attempt(&dispatch(&sub), &sub, 1).await.record;
        assert_eq!(rec.outcome, AttemptOutcome::Failed, "{url}");
        let error = rec.error.unwrap_or_default();
        assert!(error.contains(why), "{url}: {error}");
    }
    assert_eq!(
        proxy.request_lines().len(),
        1,
        "only the control request reached the proxy"
    );
    assert_eq!(receiver.request_lines().len(), 1);
}
