//! Fault tests against a real, durable Apache Kafka, each with its own broker (or three-node
//! cluster), its own topics and the four services as separate processes. Each prints its
//! figures (`--nocapture`); `scripts/faults.sh` runs them one at a time.

use hookline_faults::check::{self, Delivered};
use hookline_faults::deployment::{Deployment, ADMIN_TOKEN};
use hookline_faults::kafka::KafkaCluster;
use hookline_faults::load;
use hookline_faults::procs::Processes;
use hookline_model::WorkspaceConfig;
use hookline_tests::Receiver;
use std::collections::HashSet;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;

/// Wall-clock bound on waiting for a run's last event.
const DRAIN: Duration = Duration::from_secs(240);

/// A DLR load running through a deployment: `n` events over `workspaces` endpoints of one
/// receiver.
struct LoadRun {
    d: Deployment,
    procs: Processes,
    rx: Receiver,
    expected: HashSet<String>,
    n: u64,
    load: Option<JoinHandle<anyhow::Result<()>>>,
}

struct LoadSpec<'a> {
    tag: &'a str,
    brokers: String,
    partitions: i32,
    replication: i32,
    topic_configs: &'a [&'a str],
    workspaces: usize,
    rate_limit: u32,
    n: u64,
    rate: u64,
    /// Extra delivery processes (`delivery-2`, …) started with the first.
    extra_delivery: usize,
    /// Environment on top of the deployment's, for every service.
    env: &'a [(&'a str, &'a str)],
    /// Static group membership for every service process.
    static_membership: bool,
}

impl LoadSpec<'_> {
    fn new(tag: &str, brokers: String) -> LoadSpec<'_> {
        LoadSpec {
            tag,
            brokers,
            partitions: 3,
            replication: 1,
            topic_configs: &[],
            workspaces: 6,
            rate_limit: 10_000,
            n: 20_000,
            rate: 500,
            extra_delivery: 0,
            env: &[],
            static_membership: false,
        }
    }
}

impl LoadRun {
    /// Configures the workspaces, starts the services, loads every accepted message, then
    /// starts the DLR load in the background.
    async fn start(spec: LoadSpec<'_>) -> anyhow::Result<Self> {
        let d = Deployment::new(
            spec.tag,
            &spec.brokers,
            spec.partitions,
            spec.replication,
            spec.topic_configs,
            spec.topic_configs,
        )
        .await?;
        let rx = Receiver::start().await;
        let workspaces: Vec<String> = (0..spec.workspaces).map(|i| format!("ws{i}")).collect();
        let configs: Vec<WorkspaceConfig> = workspaces
            .iter()
            .map(|ws| {
                let mut c = WorkspaceConfig::new(ws.clone());
                c.subscriptions = vec![d.subscription(ws, "main", &rx.url(&format!("/{ws}")), spec.rate_limit)];
                c.version = 1;
                c
            })
            .collect();
        d.put_workspaces(&configs).await?;
        let mut procs = d.processes().with_env(spec.env);
        if spec.static_membership {
            procs = procs.with_static_membership();
        }
        procs.start_all();
        for i in 0..spec.extra_delivery {
            procs.start(&format!("delivery-{}", i + 2), "delivery", &[]);
        }
        procs.wait_all_ready(Duration::from_secs(120)).await?;
        let ws = workspaces.clone();
        load::accepted_messages(&d.kafka, &d.run, 0..spec.n, |i| {
            ws[(i % ws.len() as u64) as usize].clone()
        })
        .await?;
        let expected = (0..spec.n).map(|i| load::message_id(&d.run, i)).collect();
        let load = {
            let (kafka, run, n, rate) = (d.kafka.clone(), d.run.clone(), spec.n, spec.rate);
            let acked = Arc::new(AtomicU64::new(0));
            tokio::spawn(async move { load::dlrs(&kafka, &run, 0..n, rate, acked).await })
        };
        Ok(Self {
            d,
            procs,
            rx,
            expected,
            n: spec.n,
            load: Some(load),
        })
    }

    /// Waits until `count` requests have arrived.
    async fn wait_requests(&self, count: usize, timeout: Duration) -> anyhow::Result<()> {
        let got = self.rx.wait_for(count, timeout, |_| true).await.len();
        anyhow::ensure!(got >= count, "only {got} of {count} requests arrived");
        Ok(())
    }

    /// Waits for the load to be acknowledged and every event to arrive, then checks them.
    async fn finish(&mut self) -> anyhow::Result<(Delivered, Duration)> {
        if let Some(load) = self.load.take() {
            load.await??;
        }
        let waited = check::wait_all(&self.rx, &self.expected, DRAIN).await;
        let delivered = check::by_message_id(&self.rx.requests(), &self.expected)?;
        let exited = self.procs.exited();
        anyhow::ensure!(exited.is_empty(), "services exited by themselves: {exited:?}");
        let quarantined = check::topic_records(&self.d.kafka.brokers, &self.d.kafka.topics.quarantine())?;
        anyhow::ensure!(quarantined == 0, "{quarantined} records quarantined");
        Ok((delivered, waited))
    }

    /// Time until the next request arrives after now.
    async fn next_arrival(&self, timeout: Duration) -> anyhow::Result<Duration> {
        let before = self.rx.requests().len();
        let started = Instant::now();
        while self.rx.requests().len() == before {
            anyhow::ensure!(started.elapsed() < timeout, "nothing arrived within {timeout:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(started.elapsed())
    }
}

/// Fault 1: the single broker killed with SIGKILL midway through 20,000 events and restarted
/// on the same log directory. The services are not restarted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_kill_9_and_restart_loses_nothing() {
    broker_restart(false).await;
}

async fn broker_restart(static_membership: bool) {
    let dir = hookline_faults::run_dir(&hookline_tests::unique("broker"));
    let mut kafka = KafkaCluster::start(&dir, 1, &[]).unwrap();
    let spec = LoadSpec {
        static_membership,
        ..LoadSpec::new("brk", kafka.brokers())
    };
    let mut run = LoadRun::start(spec).await.unwrap();
    run.wait_requests(run.n as usize / 3, Duration::from_secs(120))
        .await
        .unwrap();
    let at_kill = run.rx.requests().len();
    kafka.nodes[0].kill9();
    let killed = Instant::now();
    tokio::time::sleep(Duration::from_secs(5)).await;
    kafka.nodes[0].start().unwrap();
    let down = killed.elapsed();
    let resumed = run.next_arrival(Duration::from_secs(120)).await.unwrap();
    let (delivered, waited) = run.finish().await.unwrap();
    for s in ["ingest", "enrich", "delivery", "api"] {
        assert_eq!(run.procs.starts(s), 1, "{s} recovered without a restart");
    }
    println!(
        "FIGURES broker kill -9 ({} membership): {} events, killed at {at_kill} received; broker down {:.1} s \
         (kill to listening); first delivery {:.1} s after it listened again; all delivered {:.1} s later; \
         {} requests, {} duplicates (same X-Webhook-Id); 0 quarantined",
        if static_membership { "static" } else { "dynamic" },
        run.n,
        down.as_secs_f64(),
        resumed.as_secs_f64(),
        waited.as_secs_f64(),
        delivered.requests,
        delivered.duplicates()
    );
}

/// Fault 2: a three-node cluster, every topic replicated three times with
/// `min.insync.replicas=2`; one node killed with SIGKILL midway and started again later.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leader_failover_in_a_three_node_cluster_loses_nothing() {
    let dir = hookline_faults::run_dir(&hookline_tests::unique("failover"));
    let mut kafka = KafkaCluster::start(&dir, 3, &[]).unwrap();
    let spec = LoadSpec {
        replication: 3,
        topic_configs: &["min.insync.replicas=2"],
        ..LoadSpec::new("fo", kafka.brokers())
    };
    let mut run = LoadRun::start(spec).await.unwrap();
    run.wait_requests(run.n as usize / 3, Duration::from_secs(120))
        .await
        .unwrap();
    let at_kill = run.rx.requests().len();
    // Node 1 leads a third of the partitions and is a voter of the controller quorum.
    kafka.nodes[0].kill9();
    let killed = Instant::now();
    let gap = run.next_arrival(Duration::from_secs(120)).await.unwrap();
    run.wait_requests(run.n as usize * 2 / 3, Duration::from_secs(180))
        .await
        .unwrap();
    let down = killed.elapsed();
    kafka.nodes[0].start().unwrap();
    let (delivered, waited) = run.finish().await.unwrap();
    kafka.wait_brokers(3, Duration::from_secs(60)).unwrap();
    println!(
        "FIGURES leader failover: {} events over 3 brokers (RF 3, min.insync.replicas 2); node 1 killed at {at_kill} \
         received, next delivery {:.2} s after the kill, node down {:.1} s; all delivered {:.1} s after it \
         restarted; {} requests, {} duplicates (same X-Webhook-Id)",
        run.n,
        gap.as_secs_f64(),
        down.as_secs_f64(),
        waited.as_secs_f64(),
        delivered.requests,
        delivered.duplicates()
    );
}

/// The dynamic-membership default: of two delivery replicas without `group.instance.id`, one
/// is killed with SIGKILL and never comes back; its partitions go to the survivor once the
/// dead member's session expires (`session.timeout.ms`, 10 s), and nothing is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_replicas_partitions_go_to_the_survivor() {
    let dir = hookline_faults::run_dir(&hookline_tests::unique("member"));
    let kafka = KafkaCluster::start(&dir, 1, &[]).unwrap();
    let spec = LoadSpec {
        partitions: 4,
        n: 6_000,
        rate: 300,
        extra_delivery: 1,
        ..LoadSpec::new("dm", kafka.brokers())
    };
    let mut run = LoadRun::start(spec).await.unwrap();
    run.wait_requests(run.n as usize / 3, Duration::from_secs(120))
        .await
        .unwrap();
    let at_kill = run.rx.requests().len();
    run.procs.kill9("delivery-2");
    let killed = Instant::now();
    let (delivered, _) = run.finish().await.unwrap();
    // The longest silence of any workspace's endpoint after the kill: the killed replica's
    // endpoints wait for the session to expire and the group to rebalance.
    let requests = run.rx.requests();
    let mut longest = Duration::ZERO;
    for ws in 0..6 {
        let path = format!("/ws{ws}");
        let mut at: Vec<Instant> = requests.iter().filter(|r| r.path == path).map(|r| r.at).collect();
        at.sort();
        for w in at.windows(2) {
            if w[1] > killed {
                longest = longest.max(w[1] - w[0].max(killed));
            }
        }
    }
    println!(
        "FIGURES dynamic membership: {} events, delivery-2 killed at {at_kill} received and not restarted; \
         longest silence of an endpoint after the kill {:.1} s (session timeout 10 s); all delivered {:.1} s \
         after the kill; {} requests, {} duplicates (same X-Webhook-Id)",
        run.n,
        longest.as_secs_f64(),
        killed.elapsed().as_secs_f64(),
        delivered.requests,
        delivered.duplicates()
    );
}

/// Fault 4: a second delivery replica joins mid-run and leaves with SIGTERM. Nothing is lost,
/// no retry arrives before its due time, and every endpoint's rate limit holds across both
/// handovers (busiest second at the receiver).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_joining_and_leaving_under_load_keeps_every_promise() {
    let dir = hookline_faults::run_dir(&hookline_tests::unique("rebalance"));
    let kafka = KafkaCluster::start(&dir, 1, &[]).unwrap();
    const LIMIT: u32 = 20;
    // The 23 Telecom policy (10 s, then 30 s) scaled to 3 s and 9 s.
    const SCALE: f64 = 0.3;
    let spec = LoadSpec {
        partitions: 4,
        n: 4_000,
        rate: 100,
        rate_limit: LIMIT,
        env: &[("HOOKLINE_RETRY_DELAY_SCALE", "0.3")],
        ..LoadSpec::new("rb", kafka.brokers())
    };
    let mut run = LoadRun::start(spec).await.unwrap();
    // Every 25th first attempt fails: retries are in flight during both handovers.
    run.rx.fail_every_nth_first_attempt(25, 500);
    run.wait_requests(run.n as usize / 4, Duration::from_secs(120))
        .await
        .unwrap();
    let joined_at = run.rx.requests().len();
    run.procs.start("delivery-2", "delivery", &[]);
    run.procs
        .wait_ready("delivery-2", Duration::from_secs(60))
        .await
        .unwrap();
    run.wait_requests(run.n as usize * 5 / 8, Duration::from_secs(120))
        .await
        .unwrap();
    let left_at = run.rx.requests().len();
    let status = run.procs.terminate("delivery-2", Duration::from_secs(20)).unwrap();
    assert!(status.success(), "delivery-2 drained and exited cleanly: {status}");
    let (delivered, _) = run.finish().await.unwrap();
    // Retries: none arrived before the due time delivery wrote on its retry record
    // (`hookline-due-at-ms`, set when the previous attempt failed: that attempt's end plus
    // the policy's delay).
    let requests = run.rx.requests();
    let mut due: std::collections::HashMap<String, i64> = Default::default();
    for (_, topic) in run.d.kafka.topics.retry_tiers() {
        for r in check::read_all(&run.d.kafka.brokers, &topic).unwrap() {
            if r.header("hookline-attempt") != Some("2") {
                continue;
            }
            let at: i64 = r
                .header("hookline-due-at-ms")
                .and_then(|v| v.parse().ok())
                .expect("due time");
            let d: serde_json::Value = serde_json::from_slice(r.payload.as_deref().unwrap_or_default()).unwrap();
            let id = d["dispatch_id"].as_str().expect("dispatch id").to_string();
            let e = due.entry(id).or_insert(at);
            *e = (*e).min(at);
        }
    }
    let mut retried = 0;
    let mut least_margin = i64::MAX;
    for (id, due_ms) in &due {
        let first_retry = requests
            .iter()
            .filter(|r| r.header("x-webhook-id") == Some(id.as_str()) && r.header("x-webhook-attempt") == Some("2"))
            .map(|r| r.wall_ms)
            .min();
        if let Some(arrived) = first_retry {
            retried += 1;
            least_margin = least_margin.min(arrived - due_ms);
            assert!(
                arrived >= *due_ms,
                "{id}: attempt 2 arrived {} ms before its due time",
                due_ms - arrived
            );
        }
    }
    assert!(retried > 0, "some first attempts failed and were retried");
    let retry_delay = 10.0 * SCALE;
    let mut busiest = 0;
    for ws in 0..6 {
        let path = format!("/ws{ws}");
        let at: Vec<Instant> = requests.iter().filter(|r| r.path == path).map(|r| r.at).collect();
        busiest = busiest.max(check::busiest_second(&at));
    }
    assert!(
        busiest <= LIMIT as usize,
        "an endpoint got {busiest} requests in one second (limit {LIMIT})"
    );
    println!(
        "FIGURES rebalance: {} events; delivery-2 joined at {joined_at} and left (SIGTERM, clean exit) at {left_at} \
         received; {retried} events retried ({:.1} s after failing), none early (least margin after the due time {least_margin} ms); \
         busiest second at one endpoint {busiest} (limit {LIMIT}); {} requests, {} duplicates (same X-Webhook-Id)",
        run.n,
        retry_delay,
        delivered.requests,
        delivered.duplicates()
    );
}

/// Faults 1 and 6 of the reliability campaign: every service killed with SIGKILL in turn
/// (ingest, enrich, api, delivery; each restarted a few seconds later), then every service
/// stopped with SIGTERM in turn (each must exit cleanly within its drain timeout, and is
/// started again), all during one 50,000-event load. Every event arrives, a redelivery always
/// carries its first delivery's `X-Webhook-Id`, nothing is quarantined, and no service exits
/// by itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_service_killed_then_stopped_in_turn_loses_nothing() {
    let dir = hookline_faults::run_dir(&hookline_tests::unique("every"));
    let kafka = KafkaCluster::start(&dir, 1, &[]).unwrap();
    let spec = LoadSpec {
        n: 50_000,
        rate: 600,
        ..LoadSpec::new("ev", kafka.brokers())
    };
    let mut run = LoadRun::start(spec).await.unwrap();
    const ORDER: [&str; 4] = ["ingest", "enrich", "api", "delivery"];
    // A fault at each ninth of the arrivals: four kills, then four stops.
    let mut faults = vec![];
    for (step, (signal, service)) in ORDER
        .iter()
        .map(|s| ("KILL", *s))
        .chain(ORDER.iter().map(|s| ("TERM", *s)))
        .enumerate()
    {
        run.wait_requests(run.n as usize * (step + 1) / 9, Duration::from_secs(180))
            .await
            .unwrap();
        let at = run.rx.requests().len();
        let started = Instant::now();
        if signal == "KILL" {
            run.procs.kill9(service);
        } else {
            let status = run.procs.terminate(service, Duration::from_secs(25)).unwrap();
            assert!(
                status.success(),
                "{service} drained and exited cleanly after SIGTERM: {status}"
            );
        }
        let exited_in = started.elapsed();
        tokio::time::sleep(Duration::from_secs(3)).await;
        run.procs.restart(service);
        let ready = run.procs.wait_ready(service, Duration::from_secs(120)).await.unwrap();
        faults.push(format!(
            "{service} SIG{signal} at {at} (exit {:.1} s, ready {:.1} s after restart)",
            exited_in.as_secs_f64(),
            ready.as_secs_f64()
        ));
    }
    let (delivered, waited) = run.finish().await.unwrap();
    for s in ORDER {
        assert_eq!(
            run.procs.starts(s),
            3,
            "{s}: started, restarted after the kill and after the stop"
        );
    }
    println!(
        "FIGURES every service killed then stopped: {} events at 600/s; {}; all delivered {:.1} s after \
         the load ended; {} requests, {} duplicates (same X-Webhook-Id); 0 quarantined",
        run.n,
        faults.join("; "),
        waited.as_secs_f64(),
        delivered.requests,
        delivered.duplicates()
    );
}

async fn call(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    auth: (&str, &str),
    body: Option<serde_json::Value>,
) -> (u16, serde_json::Value) {
    let mut req = http.request(method, url).header(auth.0, auth.1);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.expect("api request");
    (r.status().as_u16(), r.json().await.unwrap_or(serde_json::Value::Null))
}

/// Creates an API key through the operator endpoint: (key, key id).
async fn create_key(http: &reqwest::Client, d: &Deployment, ws: &str) -> (String, String) {
    let bearer = format!("Bearer {ADMIN_TOKEN}");
    let (s, v) = call(
        http,
        reqwest::Method::POST,
        &d.api("/admin/v1/api-keys"),
        ("Authorization", &bearer),
        Some(serde_json::json!({"workspace_id": ws, "permissions": ["webhooks.read", "webhooks.write"]})),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    (
        v["api_key"].as_str().unwrap().to_string(),
        v["key_id"].as_str().unwrap().to_string(),
    )
}

/// The config topic as it is now, from its start to its end: (records, tombstones).
fn read_config_topic(d: &Deployment) -> anyhow::Result<(usize, usize)> {
    let records = check::read_all(&d.kafka.brokers, &d.kafka.topics.config())?;
    let tombstones = records.iter().filter(|r| r.payload.is_none()).count();
    Ok((records.len(), tombstones))
}

/// Fault 3: the compacted config topic with aggressive cleaner settings; hundreds of writes
/// for a few workspaces (webhook URLs, API keys created and revoked, a named subscription
/// created and deleted), a compaction observed, every service restarted: the latest config
/// and every live key in force, revoked keys and the deleted subscription still gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_survives_compaction_and_a_restart_of_every_service() {
    let dir = hookline_faults::run_dir(&hookline_tests::unique("compact"));
    let kafka = KafkaCluster::start(&dir, 1, &["log.cleaner.backoff.ms=200"]).unwrap();
    let d = Deployment::new(
        "cmp",
        &kafka.brokers(),
        2,
        1,
        &[],
        // Segments roll every half second and are cleaned as soon as any part is dirty;
        // tombstones themselves are dropped one second after a cleaning.
        &[
            "segment.ms=500",
            "min.cleanable.dirty.ratio=0.01",
            "min.compaction.lag.ms=0",
            "delete.retention.ms=1000",
        ],
    )
    .await
    .unwrap();
    let rx = Receiver::start().await;
    let mut procs = d.processes();
    procs.start_all();
    procs.wait_all_ready(Duration::from_secs(120)).await.unwrap();
    let http = reqwest::Client::new();
    let workspaces = ["alpha", "beta", "gamma"];
    let mut live_keys = vec![];
    let mut revoked_keys = vec![];
    let mut deleted_named = vec![];
    let bearer = format!("Bearer {ADMIN_TOKEN}");
    let mut writes = 0;
    for ws in workspaces {
        let keys: Vec<(String, String)> = futures::future::join_all((0..3).map(|_| create_key(&http, &d, ws))).await;
        writes += 3;
        // A named subscription, created and deleted.
        let (s, v) = call(
            &http,
            reqwest::Method::POST,
            &d.api("/api/v1/webhooks"),
            ("X-API-Key", &keys[0].0),
            Some(serde_json::json!({"name": "gone", "url": rx.url(&format!("/{ws}/deleted")), "event_types": ["SMS_STATUS"]})),
        )
        .await;
        assert_eq!(s, 201, "{v}");
        let named = v["id"].as_str().unwrap().to_string();
        // A hundred changes of the delivery URL, the last one /<ws>/v99.
        for n in 0..100 {
            let (s, v) = call(
                &http,
                reqwest::Method::PUT,
                &d.api("/api/v1/user/webhooks"),
                ("X-API-Key", &keys[0].0),
                Some(serde_json::json!({"delivery_url": rx.url(&format!("/{ws}/v{n}")), "signing_secret": "s"})),
            )
            .await;
            assert_eq!(s, 200, "{v}");
            if n == 50 {
                let (s, _) = call(
                    &http,
                    reqwest::Method::DELETE,
                    &d.api(&format!("/api/v1/webhooks/{named}")),
                    ("X-API-Key", &keys[0].0),
                    None,
                )
                .await;
                assert_eq!(s, 204);
            }
        }
        writes += 102;
        // One key revoked (a tombstone in the config topic).
        let (s, v) = call(
            &http,
            reqwest::Method::DELETE,
            &d.api(&format!("/admin/v1/api-keys/{}", keys[2].1)),
            ("Authorization", &bearer),
            None,
        )
        .await;
        assert_eq!(s, 204, "{v}");
        writes += 1;
        revoked_keys.push(keys[2].0.clone());
        live_keys.push((ws, keys[0].0.clone()));
        live_keys.push((ws, keys[1].0.clone()));
        deleted_named.push((ws, keys[0].0.clone(), named));
    }
    // A compaction: fewer records readable than were written (the topic's offsets are kept).
    let started = Instant::now();
    let (records, tombstones) = loop {
        let (records, tombstones) = read_config_topic(&d).unwrap();
        if records < writes / 2 {
            break (records, tombstones);
        }
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "no compaction after 90 s: {records} of {writes} records still there"
        );
        // Segments roll only when a record arrives after `segment.ms`: a no-op write.
        let _ = create_key(&http, &d, "filler").await;
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    let compacted_after = started.elapsed();
    for s in ["ingest", "enrich", "delivery", "api"] {
        let status = procs.terminate(s, Duration::from_secs(30)).unwrap();
        assert!(status.success(), "{s} exited cleanly: {status}");
        procs.restart(s);
    }
    procs.wait_all_ready(Duration::from_secs(120)).await.unwrap();
    for (ws, key) in &live_keys {
        let (s, v) = call(
            &http,
            reqwest::Method::GET,
            &d.api("/api/v1/user/webhooks"),
            ("X-API-Key", key),
            None,
        )
        .await;
        assert_eq!(s, 200, "a live key of {ws} still works: {v}");
        assert_eq!(
            v["delivery_url"],
            rx.url(&format!("/{ws}/v99")),
            "{ws}'s latest config: {v}"
        );
    }
    for key in &revoked_keys {
        let (s, _) = call(
            &http,
            reqwest::Method::GET,
            &d.api("/api/v1/user/webhooks"),
            ("X-API-Key", key),
            None,
        )
        .await;
        assert_eq!(s, 401, "a revoked key stays revoked");
    }
    for (ws, key, named) in &deleted_named {
        let (s, _) = call(
            &http,
            reqwest::Method::GET,
            &d.api(&format!("/api/v1/webhooks/{named}")),
            ("X-API-Key", key),
            None,
        )
        .await;
        assert_eq!(s, 404, "{ws}'s deleted subscription stays deleted");
    }
    // And the pipeline acts on it: one DLR per workspace goes to the latest URL only.
    load::accepted_messages(&d.kafka, &d.run, 0..3, |i| workspaces[i as usize].to_string())
        .await
        .unwrap();
    load::dlrs(&d.kafka, &d.run, 0..3, 100, Arc::new(AtomicU64::new(0)))
        .await
        .unwrap();
    let got = rx.wait_for(3, Duration::from_secs(60), |_| true).await;
    let mut paths: Vec<String> = got.iter().map(|r| r.path.clone()).collect();
    paths.sort();
    paths.dedup();
    assert_eq!(paths, vec!["/alpha/v99", "/beta/v99", "/gamma/v99"]);
    println!(
        "FIGURES config compaction: {writes} config writes for 3 workspaces (300 URL changes, 9 keys, 3 revoked, \
         3 named subscriptions created and deleted); compaction seen after {:.1} s: {records} records left \
         ({tombstones} tombstones); after restarting all four services: 6 live keys work, 3 revoked keys 401, \
         3 deleted subscriptions 404, each workspace's latest URL in force and used",
        compacted_after.as_secs_f64()
    );
}

/// Fault 5: revoke-click batches through Kafka's transaction coordinator; enrich killed with
/// SIGKILL three times while revocations stream in (batches every second), restarted each time.
/// Every revoked message id arrives in exactly one batch request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoke_batches_are_sent_exactly_once_across_kill_9_of_enrich() {
    let dir = hookline_faults::run_dir(&hookline_tests::unique("revoke"));
    let kafka = KafkaCluster::start(&dir, 1, &[]).unwrap();
    let d = Deployment::new("rv", &kafka.brokers(), 2, 1, &[], &[]).await.unwrap();
    let rx = Receiver::start().await;
    let mut procs = d.processes().with_env(&[("HOOKLINE_REVOKE_BATCH_INTERVAL_MS", "1000")]);
    procs.start_all();
    procs.wait_all_ready(Duration::from_secs(120)).await.unwrap();
    let http = reqwest::Client::new();
    let (key, _) = create_key(&http, &d, "rvws").await;
    let (s, v) = call(
        &http,
        reqwest::Method::POST,
        &d.api("/v1/user/set-webhook"),
        ("X-API-Key", &key),
        Some(serde_json::json!({"revoke_click_url": rx.url("/revoke")})),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    // The api's write reaches enrich through the config topic: probe revocations (ids below
    // the load's) until one comes back as a batch, so the load starts once enrich has it.
    let probe =
        |k: u64| serde_json::json!({"workspace_id": "rvws", "message_id": (90_000 + k).to_string(), "source": "api"});
    let started = Instant::now();
    for k in 0.. {
        let p = probe(k).to_string();
        d.kafka
            .producer()
            .unwrap()
            .send(&d.kafka.topics.clicks_revoked(), Some(b"rvws"), Some(p.as_bytes()), &[])
            .await
            .unwrap();
        if !rx
            .wait_for(1, Duration::from_secs(2), |r| r.path == "/revoke")
            .await
            .is_empty()
        {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "enrich never batched a probe revocation"
        );
    }
    let total: u64 = 3_000;
    let producer = d.kafka.producer().unwrap();
    let topic = d.kafka.topics.clicks_revoked();
    let load = tokio::spawn(async move {
        let start = tokio::time::Instant::now();
        for i in 0..total {
            tokio::time::sleep_until(start + Duration::from_millis(i * 1000 / 150)).await;
            let source = if i % 3 == 0 { "campaign" } else { "api" };
            let r =
                serde_json::json!({"workspace_id": "rvws", "message_id": (100_000 + i).to_string(), "source": source});
            producer
                .send(&topic, Some(b"rvws"), Some(r.to_string().as_bytes()), &[])
                .await
                .unwrap();
        }
    });
    let mut kills = 0;
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_secs(5)).await;
        procs.kill9("enrich");
        kills += 1;
        tokio::time::sleep(Duration::from_secs(1)).await;
        procs.restart("enrich");
    }
    load.await.unwrap();
    // The load's revoked ids (the probes' are below 100,000).
    let ids_in = |r: &hookline_tests::Received| -> Vec<u64> {
        let v = r.json();
        ["api_sms_ids", "campaign_sms_ids"]
            .iter()
            .flat_map(|f| v[f].as_array().cloned().unwrap_or_default())
            .filter_map(|x| x.as_u64())
            .filter(|id| *id >= 100_000)
            .collect()
    };
    let started = Instant::now();
    loop {
        let n: usize = rx.requests().iter().map(|r| ids_in(r).len()).sum();
        if n >= total as usize || started.elapsed() > Duration::from_secs(120) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    // A duplicate batch would arrive after the last id: no condition can show its absence, so
    // watch for three more batch intervals before counting.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let requests = rx.requests();
    let mut seen: std::collections::HashMap<u64, usize> = Default::default();
    for r in &requests {
        for id in ids_in(r) {
            *seen.entry(id).or_default() += 1;
        }
    }
    let missing = (0..total).filter(|i| !seen.contains_key(&(100_000 + i))).count();
    let twice: Vec<(&u64, &usize)> = seen.iter().filter(|(_, n)| **n > 1).take(5).collect();
    assert_eq!(missing, 0, "revocations never batched");
    assert!(twice.is_empty(), "revocations batched more than once: {twice:?}");
    assert_eq!(seen.len(), total as usize);
    let aborted = check::topic_records(&d.kafka.brokers, &d.kafka.topics.dispatch()).unwrap();
    println!(
        "FIGURES revoke transactions: {total} revocations at 150/s, enrich killed with SIGKILL {kills} times; \
         {} batch requests, each revocation in exactly one; dispatch topic offsets used {aborted} \
         (batches, aborted batches and transaction markers)",
        requests.iter().filter(|r| !ids_in(r).is_empty()).count()
    );
}
