//! The dashboard and the alert rules only query metrics that Hookline exports, and what it
//! exports passes `promtool check metrics`.
//!
//! Labelled metrics (the prometheus crate's vectors) appear in a scrape only once one of their
//! series exists, so the test first drives the traffic that creates every series the
//! dashboard and the alerts look at: a DLR end to end (with a DLR that waits for its message
//! and one that never finds it), a click, rate-limited and failing endpoints (waits,
//! deferrals, retries, a dead letter) and undecodable records (quarantine in each service).
//! Then it polls `/metrics` until every queried name is there, and fails naming the missing
//! ones.

use hookline_model::{Permission, RetryPolicy};
use hookline_tests::{subscription, workspace, Receiver, TestPipeline};
use serde_json::json;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

const DASHBOARD: &str = "deploy/grafana/dashboards/hookline.json";
const RULES: &str = "deploy/prometheus/alerts.yml";

fn repo_file(path: &str) -> String {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Every `hookline_…` identifier in `text` (a PromQL expression or a whole rules file).
fn metric_names(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while let Some(pos) = text[i..].find("hookline_") {
        let start = i + pos;
        let boundary = start == 0 || !(bytes[start - 1].is_ascii_alphanumeric() || bytes[start - 1] == b'_');
        let mut end = start;
        while end < bytes.len() && (bytes[end].is_ascii_alphanumeric() || bytes[end] == b'_') {
            end += 1;
        }
        if boundary {
            out.insert(text[start..end].to_string());
        }
        i = end.max(start + 1);
    }
    out
}

/// Names the dashboard's queries use.
fn dashboard_names() -> BTreeSet<String> {
    let dash: serde_json::Value = serde_json::from_str(&repo_file(DASHBOARD)).expect("dashboard JSON");
    let mut names = BTreeSet::new();
    let panels = dash["panels"].as_array().expect("panels");
    for panel in panels {
        for t in panel["targets"].as_array().into_iter().flatten() {
            names.extend(metric_names(t["expr"].as_str().expect("expr")));
        }
    }
    names
}

/// Metric families in a scrape, by name, with their type; histogram samples count under the
/// family name.
fn exported(scrape: &str) -> std::collections::BTreeMap<String, String> {
    scrape
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_once(' '))
        .map(|(n, t)| (n.to_string(), t.trim().to_string()))
        .collect()
}

/// Whether `name` (as a query writes it) is in the scrape: a family, or a histogram's
/// `_bucket`/`_sum`/`_count` series.
fn is_exported(name: &str, families: &std::collections::BTreeMap<String, String>) -> bool {
    if families.contains_key(name) {
        return true;
    }
    ["_bucket", "_sum", "_count"].iter().any(|suffix| {
        name.strip_suffix(suffix)
            .is_some_and(|base| families.get(base).is_some_and(|t| t == "histogram"))
    })
}

#[test]
fn the_name_extraction_finds_names_and_keeps_histogram_suffixes() {
    let n = metric_names(
        r#"histogram_quantile(0.99, sum by (le) (rate(hookline_delivery_event_latency_seconds_bucket{job=~"x"}[5m]))) / hookline_x_total"#,
    );
    assert_eq!(
        n.into_iter().collect::<Vec<_>>(),
        ["hookline_delivery_event_latency_seconds_bucket", "hookline_x_total"]
    );
    let fams = exported("# TYPE hookline_a_seconds histogram\n# TYPE hookline_b_total counter\n");
    assert!(is_exported("hookline_a_seconds_bucket", &fams));
    assert!(is_exported("hookline_b_total", &fams));
    assert!(!is_exported("hookline_b_total_count", &fams));
    assert!(!is_exported("hookline_c_total", &fams));
    // The rules file mentions runbook anchors and alert names, which are not metrics.
    assert!(metric_names(&repo_file(RULES))
        .iter()
        .all(|n| n.starts_with("hookline_")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_metric_the_dashboard_and_alerts_query_is_exported() {
    let mut wanted = dashboard_names();
    let rules = metric_names(&repo_file(RULES));
    assert!(rules.len() >= 10, "the rules use hookline metrics: {rules:?}");
    wanted.extend(rules);

    let p = TestPipeline::start_with(
        &hookline_tests::unique("metrics"),
        &hookline::Service::ALL,
        &["--rate-limit-max-wait-ms=300", "--overflow-delay-ms=200"],
    )
    .await
    .expect("pipeline");
    let (ok, failing) = Receiver::ok_and_failing().await;

    // A DLR end to end through the API-configured 23 Telecom webhook (api writes config,
    // ingest → enrich → delivery → attempt log), a DLR that arrives before its message (the
    // wait topic), one that never finds its message (quarantined by enrich after
    // --dlr-wait-max-secs), and a click.
    let ws = format!("ws-{}", p.id);
    let key = p
        .create_key(&ws, &[Permission::WebhooksRead, Permission::WebhooksWrite])
        .await
        .unwrap();
    let (status, view) = p
        .put_webhooks(
            &key,
            json!({"delivery_url": ok.url("/dlr"), "click_url": ok.url("/click")}),
        )
        .await
        .unwrap();
    assert_eq!(status, 200, "{view}");
    p.send_accepted(&ws, "m-1", "c-1").await.unwrap();
    p.send_dlr("c-2", "id:c-2 stat:DELIVRD").await.unwrap();
    p.send_dlr("c-1", "id:c-1 stat:DELIVRD").await.unwrap();
    p.send_dlr("c-never", "id:c-never stat:DELIVRD").await.unwrap();
    // c-2's message is sent once enrich has parked its DLR in the wait topic.
    let parked = |r: &hookline_tests::Record| String::from_utf8_lossy(&r.payload).contains("c-2");
    let waiting = p
        .read_topic(&p.kafka.topics.dlr_wait(), Duration::from_secs(30), |rs| {
            rs.iter().any(parked)
        })
        .await
        .unwrap();
    assert!(
        waiting.iter().any(parked),
        "the DLR of c-2 was not parked in the wait topic: {waiting:?}"
    );
    p.send_accepted(&ws, "m-2", "c-2").await.unwrap();
    let click = json!({"click_id": "k-1", "short_url": "https://hkl.ink/x1", "message_id": "m-1",
        "recipient": "+14155551234", "link_type": "api", "bot": true, "clicked_at": "2026-02-13T10:35:00Z"});
    p.produce(&p.kafka.topics.link_clicks(), "k-1", click.to_string().as_bytes())
        .await
        .unwrap();

    // A rate-limited endpoint (2/s, waits above 300 ms deferred) and a failing one (one retry
    // a second later, then the dead-letter topic), in a second workspace configured directly.
    let ws2 = format!("ws2-{}", p.id);
    let mut limited = subscription(&ws2, "limited", &ok.url("/limited"));
    limited.rate_limit_per_sec = 2;
    let mut broken = subscription(&ws2, "broken", &failing.url("/broken"));
    broken.retry = RetryPolicy { delays_secs: vec![1] };
    p.put_workspace(&workspace(&ws2, vec![limited.clone(), broken.clone()]))
        .await
        .unwrap();
    for n in 0..8 {
        p.dispatch(&limited, n).await.unwrap();
    }
    p.dispatch(&broken, 100).await.unwrap();

    // Records no service can decode.
    for topic in [p.kafka.topics.accepted(), p.kafka.topics.dispatch()] {
        p.produce(&topic, "junk", b"\x00 not json").await.unwrap();
    }

    let deadline = Instant::now() + Duration::from_secs(90);
    let (scrape, missing) = loop {
        let scrape = p.metrics().await.expect("scrape");
        let families = exported(&scrape);
        let missing: Vec<String> = wanted.iter().filter(|n| !is_exported(n, &families)).cloned().collect();
        if missing.is_empty() || Instant::now() > deadline {
            break (scrape, missing);
        }
        // A poll interval: the loop waits on the condition above.
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(
        missing.is_empty(),
        "queried by {DASHBOARD} or {RULES} but not exported after the traffic: {missing:?}"
    );
    eprintln!("{} metric names queried, all exported", wanted.len());

    // promtool's own validation of the exposition: required (scripts/test.sh installs it, from
    // Debian's `prometheus` package, through scripts/check-deploy.sh).
    use std::io::Write;
    let mut promtool = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "promtool is required for `promtool check metrics` and could not be run ({e}): \
                 install Debian's `prometheus` package (scripts/test.sh does, via scripts/check-deploy.sh)"
            )
        });
    promtool
        .stdin
        .take()
        .expect("promtool's stdin")
        .write_all(scrape.as_bytes())
        .unwrap();
    let out = promtool.wait_with_output().expect("promtool");
    assert!(
        out.status.success(),
        "promtool check metrics: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("promtool check metrics: ok");
}
