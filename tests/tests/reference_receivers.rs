//! The Flask, Express and PHP receivers from the 23 Telecom delivery-webhook page, run
//! unmodified as real servers: they must accept Hookline's signed DLR webhooks (200) and
//! reject them when Hookline signs with another secret (401).

use hookline_model::Permission::{WebhooksRead as R, WebhooksWrite as W};
use hookline_tests::{eventually, TestPipeline};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::process::{Child, Command};

/// The secret the reference examples are written with.
const PAGE_SECRET: &str = "your_webhook_signing_secret";

fn receivers_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("receivers")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Copies a receiver to a scratch directory (so nothing is written into the repo) and starts
/// it on `port`.
async fn spawn(kind: &str, port: u16) -> Child {
    let dir = std::env::temp_dir().join(hookline_tests::unique(kind));
    std::fs::create_dir_all(&dir).unwrap();
    let (file, mut cmd) = match kind {
        "flask" => {
            let mut c = Command::new("python3");
            c.args([
                "-m",
                "flask",
                "--app",
                "flask_delivery",
                "run",
                "--host",
                "127.0.0.1",
                "--port",
                &port.to_string(),
            ]);
            ("flask_delivery.py", c)
        }
        "express" => {
            let mut c = Command::new("node");
            c.arg("express_delivery.js");
            let node_path = std::env::var("HOOKLINE_TEST_NODE_PATH").unwrap_or_else(|_| {
                format!(
                    "{}/.cache/hookline/node/node_modules",
                    std::env::var("HOME").unwrap_or_default()
                )
            });
            c.env("NODE_PATH", node_path);
            ("express_delivery.js", c)
        }
        "php" => {
            let mut c = Command::new("php");
            c.args(["-S", &format!("127.0.0.1:{port}"), "php_delivery.php"]);
            ("php_delivery.php", c)
        }
        _ => unreachable!(),
    };
    let source = std::fs::read_to_string(receivers_dir().join(file)).unwrap();
    // The one edit: Express listens on a fixed port in the example.
    let source = if kind == "express" {
        source.replace("app.listen(3000)", &format!("app.listen({port})"))
    } else {
        source
    };
    std::fs::write(dir.join(file), source).unwrap();
    let child = cmd
        .current_dir(&dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("starting the {kind} receiver (is it installed? scripts/test.sh installs it): {e}"));
    let up = eventually(Duration::from_secs(30), || async move {
        tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .ok()
            .map(|_| ())
    })
    .await;
    assert!(up.is_some(), "{kind} receiver did not start listening on {port}");
    child
}

/// Sends a message and its DLR, and returns the HTTP status the receiver answered.
async fn deliver(p: &TestPipeline, key: &str, ws: &str, n: &str) -> u64 {
    let (message_id, carrier_id) = (format!("m-{n}"), format!("c-{n}"));
    p.send_accepted(ws, &message_id, &carrier_id).await.unwrap();
    p.send_dlr(&carrier_id, &format!("id:{carrier_id} sub:001 dlvrd:001 submit date:2602131029 done date:2602131030 stat:DELIVRD err:000 text:hi"))
        .await
        .unwrap();
    let found = eventually(Duration::from_secs(30), || async {
        let r = p
            .http
            .get(p.api("/api/v1/user/webhooks/logs?limit=50"))
            .header("X-API-Key", key)
            .send()
            .await
            .ok()?;
        let v: Value = r.json().await.ok()?;
        v["logs"]
            .as_array()?
            .iter()
            .find(|l| {
                l["payload"]
                    .as_str()
                    .is_some_and(|p| p.contains(&format!("\"{message_id}\"")))
            })
            .cloned()
    })
    .await
    .unwrap_or_else(|| panic!("no attempt logged for {message_id}"));
    found["response_code"]
        .as_u64()
        .unwrap_or_else(|| panic!("no response code: {found}"))
}

async fn check(kind: &str) {
    let port = free_port();
    let _receiver = spawn(kind, port).await;
    let mut p = TestPipeline::start().await.unwrap();
    let ws = format!("ws-{}", p.id);
    let key = p.create_key(&ws, &[R, W]).await.unwrap();
    let url = format!("http://127.0.0.1:{port}/webhook/delivery");
    let (s, v) = p
        .put_webhooks(&key, json!({"delivery_url": url, "signing_secret": PAGE_SECRET}))
        .await
        .unwrap();
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        deliver(&p, &key, &ws, "right").await,
        200,
        "{kind} accepts the correctly signed DLR"
    );

    let version = p.workspace_version(&ws).unwrap();
    let (s, _) = p
        .put_webhooks(&key, json!({"signing_secret": "not-the-receivers-secret"}))
        .await
        .unwrap();
    assert_eq!(s, 200);
    p.wait_workspace_version(&ws, version + 1, Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(
        deliver(&p, &key, &ws, "wrong").await,
        401,
        "{kind} rejects a DLR signed with another secret"
    );
    p.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flask_receiver_from_the_reference_page() {
    check("flask").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn express_receiver_from_the_reference_page() {
    check("express").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn php_receiver_from_the_reference_page() {
    check("php").await;
}
