//! The customer portal in a real browser: `tests/browser/portal.mjs` drives Debian's Chromium
//! (`/usr/bin/chromium`) with npm `playwright-core` (under `~/.cache/hookline/node`; both
//! installed by `scripts/test.sh`) against the four services on Kafka and two real receivers,
//! one answering 200 and one failing until the script asks for it to be fixed. The script
//! does every step a customer does in the portal and fails on any Content-Security-Policy
//! violation or script error; this side answers its requests and checks what the receivers
//! got: the test send, the dead letter re-sent from the page, the named subscription's test.
//! Screenshots of every page at 1280 and 390 px go to `$SCREENSHOT_DIR` (default
//! `~/.cache/hookline/portal-screenshots`).

use hookline::Service;
use hookline_model::Permission::{WebhooksRead as R, WebhooksWrite as W};
use hookline_tests::{unique, Receiver, TestPipeline};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

const CHROMIUM: &str = "/usr/bin/chromium";
const WAIT: Duration = Duration::from_secs(30);

fn home_cache(rest: &str) -> String {
    format!("{}/.cache/hookline/{rest}", std::env::var("HOME").unwrap_or_default())
}

fn node_path() -> String {
    std::env::var("HOOKLINE_TEST_NODE_PATH").unwrap_or_else(|_| home_cache("node/node_modules"))
}

/// Fails (never skips) when Node, playwright-core or Chromium is missing.
fn require_tools() {
    let found = Command::new("node")
        .args(["-e", "require('playwright-core')"])
        .env("NODE_PATH", node_path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    assert!(
        found.is_ok_and(|s| s.success()),
        "node or npm playwright-core is missing (NODE_PATH={}): run scripts/test.sh, which installs \
         Node.js and playwright-core under ~/.cache/hookline/node",
        node_path()
    );
    assert!(
        Path::new(CHROMIUM).exists(),
        "{CHROMIUM} is missing: run scripts/test.sh, which installs Debian's chromium package"
    );
}

fn screenshot_dir() -> PathBuf {
    std::env::var("SCREENSHOT_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(home_cache("portal-screenshots")))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_does_everything_in_the_portal_in_a_real_browser() {
    require_tools();
    let p = TestPipeline::start_with(&unique("pbrowser"), &Service::ALL, &["--retry-delay-scale=0.01"])
        .await
        .unwrap();
    let ws = format!("ws-{}", p.id);
    let key = p.create_key(&ws, &[R, W]).await.unwrap();
    let read_only = p.create_key(&ws, &[R]).await.unwrap();
    let ok = Receiver::start().await;
    let failing = Arc::new(Receiver::start().await);
    failing.respond_with(500);
    let shots = screenshot_dir();

    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("browser/portal.mjs");
    let mut child = Command::new("node")
        .arg(&script)
        .env("NODE_PATH", node_path())
        .env("PORTAL_URL", p.api("/portal/"))
        .env("API_KEY", &key)
        .env("READONLY_KEY", &read_only)
        .env("ADMIN_TOKEN", hookline_tests::ADMIN_TOKEN)
        .env("WORKSPACE", &ws)
        .env("INGEST_URL", p.ingest(""))
        .env("INGEST_KEY", &p.ingest_key)
        .env("RECEIVER_OK_URL", ok.url("/hooks/ok"))
        .env("RECEIVER_FAIL_URL", failing.url("/hooks/failing"))
        .env("SCREENSHOT_DIR", &shots)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("starting node");
    let mut stdin = child.stdin.take().unwrap();
    let stdout = child.stdout.take().unwrap();

    // The script's output, answered line by line on a thread of its own (it blocks on reads).
    let fix = failing.clone();
    let reader = std::thread::spawn(move || {
        let mut dead_letter = None;
        let mut named_test = false;
        for line in BufReader::new(stdout).lines() {
            let line = line.expect("node output");
            println!("portal.mjs: {line}");
            if line == "@@fix-failing-receiver" {
                fix.respond_with(200);
                writeln!(stdin, "fixed").expect("answering node");
            } else if let Some(id) = line.strip_prefix("@@dead-letter ") {
                dead_letter = Some(id.to_string());
            } else if line == "@@named-test" {
                named_test = true;
            }
        }
        (dead_letter, named_test)
    });
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    let (dead_letter, named_test) = reader.join().unwrap();
    assert!(
        status.success(),
        "the browser test failed (its output is above): {status}"
    );

    // The 23 Telecom test send reached the 200 receiver, signed with the secret set in the page.
    let tests = ok
        .wait_for(1, WAIT, |r| {
            r.path == "/hooks/ok"
                && r.header("x-webhook-event") == Some("delivery")
                && r.header("x-webhook-signature").is_some()
        })
        .await;
    assert!(!tests.is_empty(), "the test send never reached the receiver");
    // The dead letter: three failed attempts, then the re-send from the page answered 200.
    let id = dead_letter.expect("the script named its dead letter");
    let got = failing
        .wait_for(4, WAIT, |r| r.header("x-webhook-id") == Some(id.as_str()))
        .await;
    let statuses: Vec<u16> = got.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [500, 500, 500, 200], "attempts of {id}");
    assert!(
        String::from_utf8_lossy(&got[3].body).contains("<script>window.__xss=1</script>"),
        "the re-sent event is the inbound SMS"
    );
    assert!(named_test, "the named subscription's test send ran");
    let named = ok
        .wait_for(1, WAIT, |r| r.header("x-webhook-event") == Some("SMS_STATUS"))
        .await;
    assert!(
        !named.is_empty(),
        "the named subscription's test never reached the receiver"
    );
    for width in [1280, 390] {
        for page in [
            "overview",
            "telecom23",
            "smsedge",
            "named",
            "logs",
            "dead-letters",
            "test",
            "operator",
        ] {
            let f = shots.join(format!("{page}-{width}.png"));
            assert!(f.metadata().is_ok_and(|m| m.len() > 1000), "screenshot {}", f.display());
        }
    }
}
