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
    assert_eq!(rx.wait_for(20, Duration::from_secs(30), |_| true).await.len(), 20);

    // Redis goes away; the next 20 events are accepted by ingest but wait in enrich.
    redis.start_kill().unwrap();
    redis.wait().await.unwrap();
    batch(&p, &ws, 20, 40).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(rx.requests().len(), 20, "nothing is joined while Redis is down");
    let metrics = p.metrics().await.unwrap();
    assert!(
        metrics.contains("hookline_enrich_store_errors_total"),
        "store errors counted"
    );

    // Redis returns (empty: it keeps nothing on disk): processing catches up.
    let _redis = redis_server(port);
    wait_port(port).await;
    let got = rx.wait_for(40, Duration::from_secs(60), |_| true).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let ids: HashSet<String> = got
        .iter()
        .map(|r| r.json()["message_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), 40, "every event delivered");
    assert_eq!(rx.requests().len(), 40, "and none twice");
    p.stop().await.unwrap();
}
