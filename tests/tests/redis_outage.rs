//! Redis stopped and restarted mid-run (a private redis-server, so other tests are not
//! affected): nothing is dropped or duplicated; processing waits and catches up.

use hookline::Service;
use hookline_model::Permission::{WebhooksRead as R, WebhooksWrite as W};
use hookline_tests::{Receiver, TestPipeline};
use serde_json::json;
use std::collections::HashSet;
use std::time::Duration;

fn redis_server(port: u16) -> tokio::process::Child {
    tokio::process::Command::new("redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .stdout(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("redis-server")
}

async fn wait_port(port: u16) {
    let up = hookline_tests::eventually(Duration::from_secs(10), || async move {
        tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .ok()
            .map(|_| ())
    })
    .await;
    assert!(up.is_some(), "redis on {port}");
}

async fn batch(p: &TestPipeline, ws: &str, from: usize, to: usize) {
    for n in from..to {
        p.send_accepted(ws, &format!("m-{n}"), &format!("c-{n}")).await.unwrap();
        p.send_dlr(&format!("c-{n}"), &format!("id:c-{n} stat:DELIVRD"))
            .await
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_outage_pauses_processing_and_loses_nothing() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut redis = redis_server(port);
    wait_port(port).await;
    let id = hookline_tests::unique("redis");
    // A DLR may wait for its message up to 60 s here: the outage must not quarantine it.
    let mut p = TestPipeline::start_full(
        &id,
        &Service::ALL,
        &["--dlr-wait-max-secs=60"],
        2,
        &format!("redis://127.0.0.1:{port}"),
    )
    .await
    .unwrap();
    let ws = format!("ws-{id}");
    let key = p.create_key(&ws, &[R, W]).await.unwrap();
    let rx = Receiver::start().await;
    let (s, _) = p
        .put_webhooks(&key, json!({"delivery_url": rx.url("/d")}))
        .await
        .unwrap();
    assert_eq!(s, 200);

    batch(&p, &ws, 0, 20).await;
    rx.expect_n(20, Duration::from_secs(30), |_| true, "the first 20 DLRs, Redis up")
        .await;

    // Redis goes away; the next 20 events are accepted by ingest but wait in enrich.
    redis.start_kill().unwrap();
    redis.wait().await.unwrap();
    batch(&p, &ws, 20, 40).await;
    // Enrich has the new records and met the outage (store errors counted) before the check.
    p.wait_metric(
        "hookline_enrich_store_errors_total",
        &[],
        |v| v > 0.0,
        Duration::from_secs(30),
        "store errors counted while Redis is down",
    )
    .await
    .unwrap();
    assert_eq!(rx.requests().len(), 20, "nothing is joined while Redis is down");

    // Redis returns (empty: it keeps nothing on disk): processing catches up.
    let _redis = redis_server(port);
    wait_port(port).await;
    let got = rx
        .expect_n(
            40,
            Duration::from_secs(60),
            |_| true,
            "all 40 DLRs after Redis returned",
        )
        .await;
    // Everything sent has been handled: a duplicate would have arrived.
    p.wait_settled(Duration::from_secs(60), "the 40 DLRs").await.unwrap();
    let ids: HashSet<String> = got
        .iter()
        .map(|r| r.json()["message_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), 40, "every event delivered");
    assert_eq!(rx.requests().len(), 40, "and none twice");
    p.stop().await.unwrap();
}
