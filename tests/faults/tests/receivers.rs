//! Fault 5 of the reliability campaign through the running pipeline: receivers that misbehave
//! at the TCP level (one never answers, one answers a byte a second, one sends a 1 GiB body,
//! one redirects to private addresses) next to a healthy one, the four services as separate
//! processes against Apache Kafka. Each misbehaving receiver costs only its own attempts: the
//! healthy workspace gets every event while they are still being retried, every attempt ends
//! at its timeout or at once, at most 1 KiB of a body is read and logged, no redirect is
//! followed, and delivery's memory stays bounded. `services/delivery/tests/misbehaving_receivers.rs`
//! shows the same per attempt, in-process.

use hookline_faults::check;
use hookline_faults::deployment::Deployment;
use hookline_faults::kafka::KafkaCluster;
use hookline_faults::load;
use hookline_faults::raw_receivers::{Behaviour, RawReceiver, HUGE_BODY};
use hookline_model::{AttemptOutcome, AttemptRecord, DeadLetter, Subscription, WorkspaceConfig};
use hookline_tests::Receiver;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Events, over the five workspaces in turn (event `i` to workspace `i % 5`).
const N: u64 = 5_000;
/// DLRs per second.
const RATE: u64 = 250;
/// The timeout of the silent and the drip receivers' subscriptions.
const SHORT_TIMEOUT_MS: u64 = 300;
/// The timeout of the 1 GiB and the redirecting receivers' subscriptions: they answer at
/// once, so their attempts end long before it (it only keeps a moment without CPU on this
/// two-core machine from turning a 1 KiB read into a timeout).
const PROMPT_TIMEOUT_MS: u64 = 2_000;
/// How far past its timeout an attempt may end on a loaded two-core machine: the timer fires
/// at the timeout, the rest is scheduling.
const TIMEOUT_SLACK_MS: u64 = 2_700;
/// The attempt log keeps this much of a response body (README, "Delivery": "only the first
/// 1 KiB of a response body is read (and logged)").
const BODY_CAP: usize = 1024;
/// Delivery's peak resident memory must stay below this (see the test's docs for why).
const RSS_BOUND_MIB: u64 = 128;
/// Wall-clock bound on each wait.
const DRAIN: Duration = Duration::from_secs(300);

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
enum Kind {
    Silent,
    Drip,
    Huge,
    Redirect,
    Healthy,
}

const KINDS: [Kind; 5] = [Kind::Silent, Kind::Drip, Kind::Huge, Kind::Redirect, Kind::Healthy];

impl Kind {
    fn workspace(self) -> String {
        format!("ws-{self:?}").to_lowercase()
    }

    fn of(i: u64) -> Kind {
        KINDS[(i % KINDS.len() as u64) as usize]
    }

    /// Whether every attempt to it fails, so its events end dead-lettered after the three
    /// attempts of the 23 Telecom policy.
    fn fails(self) -> bool {
        matches!(self, Kind::Silent | Kind::Drip | Kind::Redirect)
    }
}

/// Five workspaces, four of them pointing at a misbehaving receiver and one at a healthy one;
/// 5,000 DLRs at 250/s spread over them, retry delays scaled by 0.05 (the 23 Telecom policy's
/// 10 s and 30 s become 0.5 s and 1.5 s), the services as separate processes.
///
/// The memory bound, 128 MiB of delivery's VmHWM over the whole run: delivery at rest takes
/// some tens of MiB (21 MiB in the debug build these tests run; librdkafka's queues, the
/// config, the runtime), and every record of this run together is under 20 MiB, so that is
/// all librdkafka could prefetch. What the misbehaving receivers can add is bounded by design:
/// per attempt one request and at most 1 KiB of a body plus hyper's read buffer, times 16
/// requests in flight per endpoint. A client that kept an eighth of the 1 GiB body, or 8 MiB
/// of it per request in flight to that endpoint, would be above the bound (the run measured
/// 37 MiB).
///
/// What the 1 GiB receiver wrote: its send buffer is fixed at 64 KiB (128 KiB once Linux
/// doubles it, see `raw_receivers`), so one connection's share is that buffer plus the
/// client's receive window, about 0.2 MiB, until delivery closes it after the first 1 KiB;
/// its 1,000 attempts come to about 190 MiB, under half of one body in all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn misbehaving_receivers_cost_only_their_own_attempts_through_the_pipeline() {
    let dir = hookline_faults::run_dir(&hookline_tests::unique("receivers"));
    let kafka = KafkaCluster::start(&dir, 1, &[]).unwrap();
    let d = Deployment::new("rcv", &kafka.brokers(), 3, 1, &[], &[]).await.unwrap();

    // The trap is where the redirects point: on loopback, which this deployment allows, so a
    // client that followed a redirect would reach it.
    let trap = RawReceiver::start("127.0.0.2", Behaviour::Trap).await;
    let silent = RawReceiver::start("127.0.0.1", Behaviour::Silent).await;
    let drip = RawReceiver::start("127.0.0.1", Behaviour::Drip).await;
    let huge = RawReceiver::start("127.0.0.1", Behaviour::Huge).await;
    let redirect = RawReceiver::start(
        "127.0.0.1",
        Behaviour::Redirect(vec![
            trap.url("/trap"),
            "http://169.254.169.254/latest/meta-data/".into(),
            "http://10.0.0.1/hook".into(),
        ]),
    )
    .await;
    let healthy = Receiver::start().await;
    let url = |k: Kind| match k {
        Kind::Silent => silent.url("/hook"),
        Kind::Drip => drip.url("/hook"),
        Kind::Huge => huge.url("/hook"),
        Kind::Redirect => redirect.url("/hook"),
        Kind::Healthy => healthy.url("/hook"),
    };
    let configs: Vec<WorkspaceConfig> = KINDS
        .iter()
        .map(|&k| {
            let ws = k.workspace();
            let mut c = WorkspaceConfig::new(ws.clone());
            let sub = d.subscription(&ws, "main", &url(k), 10_000);
            let timeout_ms = match k {
                Kind::Silent | Kind::Drip => SHORT_TIMEOUT_MS,
                Kind::Huge | Kind::Redirect => PROMPT_TIMEOUT_MS,
                Kind::Healthy => sub.timeout_ms,
            };
            c.subscriptions = vec![Subscription { timeout_ms, ..sub }];
            c.version = 1;
            c
        })
        .collect();
    d.put_workspaces(&configs).await.unwrap();
    let mut procs = d.processes().with_env(&[("HOOKLINE_RETRY_DELAY_SCALE", "0.05")]);
    procs.start_all();
    procs.wait_all_ready(Duration::from_secs(120)).await.unwrap();
    let delivery_pid = procs.pid("delivery").expect("delivery runs");
    let hwm_at_rest = vm_hwm_kib(delivery_pid);

    load::accepted_messages(&d.kafka, &d.run, 0..N, |i| Kind::of(i).workspace())
        .await
        .unwrap();
    let per_kind: BTreeMap<Kind, u64> = KINDS
        .iter()
        .map(|&k| (k, (0..N).filter(|&i| Kind::of(i) == k).count() as u64))
        .collect();
    let kind_of_message: HashMap<String, Kind> = (0..N).map(|i| (load::message_id(&d.run, i), Kind::of(i))).collect();
    let expected_healthy: HashSet<String> = (0..N)
        .filter(|&i| Kind::of(i) == Kind::Healthy)
        .map(|i| load::message_id(&d.run, i))
        .collect();
    let failing_events: u64 = KINDS.iter().filter(|k| k.fails()).map(|k| per_kind[k]).sum();
    let started = Instant::now();
    let loading = {
        let (kafka, run) = (d.kafka.clone(), d.run.clone());
        tokio::spawn(async move { load::dlrs(&kafka, &run, 0..N, RATE, Arc::new(AtomicU64::new(0))).await })
    };

    // The healthy workspace gets every event, while the misbehaving ones are still being
    // attempted: it is not held up behind them.
    let once: HashMap<String, usize> = expected_healthy.iter().map(|m| (m.clone(), 1)).collect();
    check::wait_events(|| healthy.requests(), &once, DRAIN).await;
    let healthy_done = started.elapsed();
    let text = procs.metrics("delivery").await.unwrap();
    let dead_at_healthy_done = check::sum(&text, "hookline_delivery_dead_lettered_total", &[]) as u64;
    let delivered = check::by_message_id(&healthy.requests(), &expected_healthy).unwrap();
    assert_eq!(delivered.events as u64, per_kind[&Kind::Healthy]);
    assert!(
        dead_at_healthy_done < failing_events,
        "the healthy workspace finished only after every failing event was dead-lettered \
         ({dead_at_healthy_done} of {failing_events})"
    );
    loading.await.unwrap().unwrap();

    // Every event to a failing receiver ends dead-lettered, every one to the 1 GiB receiver
    // delivered (a 200 whose body is cut at 1 KiB): delivery has nothing left to attempt.
    let expected_delivered = per_kind[&Kind::Healthy] + per_kind[&Kind::Huge];
    let waited = Instant::now();
    let attempts_total = loop {
        let text = procs.metrics("delivery").await.unwrap();
        let dead = check::sum(&text, "hookline_delivery_dead_lettered_total", &[]) as u64;
        let ok = check::sum(&text, "hookline_delivery_attempts_total", &[("outcome", "delivered")]) as u64;
        if dead >= failing_events && ok >= expected_delivered {
            break check::sum(&text, "hookline_delivery_attempts_total", &[]) as u64;
        }
        assert!(
            waited.elapsed() < DRAIN,
            "after {DRAIN:?}: {dead} of {failing_events} dead-lettered, {ok} of {expected_delivered} delivered"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let all_done = started.elapsed();
    // The raw receivers see their connections close (the 1 GiB one's writes fail), so their
    // counts are final.
    let waited = Instant::now();
    while [&silent, &drip, &huge, &redirect].iter().any(|r| r.open() > 0) {
        assert!(
            waited.elapsed() < Duration::from_secs(90),
            "connections still open: silent {}, drip {}, huge {}, redirect {}",
            silent.open(),
            drip.open(),
            huge.open(),
            redirect.open()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let hwm = vm_hwm_kib(delivery_pid);

    // The attempt log, every record of it.
    let waited = Instant::now();
    let attempts: Vec<AttemptRecord> = loop {
        let recs = check::read_all(&d.kafka.brokers, &d.kafka.topics.attempts()).unwrap();
        if recs.len() as u64 >= attempts_total {
            break recs
                .iter()
                .map(|r| serde_json::from_slice(r.payload.as_deref().unwrap_or_default()).expect("an attempt record"))
                .collect();
        }
        assert!(
            waited.elapsed() < Duration::from_secs(60),
            "{} attempt records of {attempts_total}",
            recs.len()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let by_ws: HashMap<String, Kind> = KINDS.iter().map(|&k| (k.workspace(), k)).collect();
    let mut per_event: HashMap<Kind, HashMap<String, Vec<&AttemptRecord>>> = HashMap::new();
    let mut max_ms: HashMap<Kind, u64> = HashMap::new();
    let mut longest_body = 0;
    for a in &attempts {
        let k = by_ws[&a.workspace_id];
        assert!(!a.test, "{a:?}");
        let body = a.response_body.as_deref().unwrap_or_default();
        longest_body = longest_body.max(body.len());
        assert!(body.len() <= BODY_CAP, "a logged body of {} bytes: {a:?}", body.len());
        let m = max_ms.entry(k).or_default();
        *m = (*m).max(a.response_time_ms);
        let what = format!("{k:?}: {} {:?} {:?}", a.attempt_id, a.response_code, a.error);
        match k {
            Kind::Silent | Kind::Drip => {
                assert_eq!(a.outcome, AttemptOutcome::Failed, "{what}");
                assert_eq!(
                    a.error.as_deref(),
                    Some(format!("timeout after {SHORT_TIMEOUT_MS} ms").as_str()),
                    "{what}"
                );
                assert_eq!(a.response_code, None, "{what}");
                assert!(
                    (SHORT_TIMEOUT_MS..SHORT_TIMEOUT_MS + TIMEOUT_SLACK_MS).contains(&a.response_time_ms),
                    "{what}: ended {} ms after it started, not at its timeout",
                    a.response_time_ms
                );
            }
            Kind::Huge => {
                assert_eq!(
                    (a.outcome, a.response_code),
                    (AttemptOutcome::Delivered, Some(200)),
                    "{what}"
                );
                assert_eq!(body.len(), BODY_CAP, "{what}: the logged body is the first 1 KiB");
                assert!(body.bytes().all(|b| b == b'a'), "{what}");
                assert!(a.response_time_ms < PROMPT_TIMEOUT_MS, "{what}");
            }
            Kind::Redirect => {
                assert_eq!(
                    (a.outcome, a.response_code),
                    (AttemptOutcome::Failed, Some(301)),
                    "{what}"
                );
                assert_eq!(
                    a.error.as_deref(),
                    Some("HTTP 301: redirects are not followed"),
                    "{what}"
                );
            }
            Kind::Healthy => assert_eq!(a.outcome, AttemptOutcome::Delivered, "{what}"),
        }
        per_event
            .entry(k)
            .or_default()
            .entry(a.webhook_id.clone())
            .or_default()
            .push(a);
    }
    let mut attempts_of = BTreeMap::new();
    for k in KINDS {
        let events = per_event.remove(&k).unwrap_or_default();
        assert_eq!(events.len() as u64, per_kind[&k], "{k:?}: events with attempts");
        let tries = if k.fails() { 3 } else { 1 };
        for (webhook_id, recs) in &events {
            let mut numbers: Vec<u32> = recs.iter().map(|a| a.attempt).collect();
            numbers.sort();
            assert_eq!(
                numbers,
                (1..=tries).collect::<Vec<u32>>(),
                "{k:?} {webhook_id}: one attempt of each number"
            );
            assert!(
                recs.iter().all(|a| a.dead_lettered == (k.fails() && a.attempt == 3)),
                "{k:?} {webhook_id}: dead-lettered after its last attempt only"
            );
        }
        attempts_of.insert(k, events.values().map(Vec::len).sum::<usize>() as u64);
    }
    assert_eq!(attempts.len() as u64, attempts_total, "one record per attempt counted");

    // The dead letters: exactly the failing receivers' events, each once, with its reason.
    let dead = check::read_all(&d.kafka.brokers, &d.kafka.topics.dead()).unwrap();
    let mut dead_of: BTreeMap<Kind, HashSet<String>> = BTreeMap::new();
    for r in &dead {
        let l: DeadLetter = serde_json::from_slice(r.payload.as_deref().unwrap_or_default()).expect("a dead letter");
        let k = by_ws[&l.dispatch.workspace_id];
        assert!(k.fails(), "{k:?} dead-lettered: {l:?}");
        let reason = match k {
            Kind::Redirect => "HTTP 301: redirects are not followed".to_string(),
            _ => format!("timeout after {SHORT_TIMEOUT_MS} ms"),
        };
        assert_eq!((l.attempts, l.last_error.as_str()), (3, reason.as_str()), "{k:?}");
        let message = match &l.dispatch.event.data {
            hookline_model::EventData::Delivery(e) => e.message_id.clone(),
            other => panic!("a dead letter of another kind: {other:?}"),
        };
        assert_eq!(kind_of_message.get(&message), Some(&k), "{message}");
        assert!(
            dead_of.entry(k).or_default().insert(message.clone()),
            "{message} dead-lettered twice"
        );
    }
    for k in KINDS.iter().filter(|k| k.fails()) {
        assert_eq!(
            dead_of.get(k).map_or(0, HashSet::len) as u64,
            per_kind[k],
            "{k:?}: every event dead-lettered, none lost"
        );
    }

    // What the receivers saw and sent.
    assert_eq!(trap.connections(), 0, "a redirect was followed");
    for (k, r) in [
        (Kind::Silent, &silent),
        (Kind::Drip, &drip),
        (Kind::Huge, &huge),
        (Kind::Redirect, &redirect),
    ] {
        assert!(
            r.requests() > 0 && r.requests() <= attempts_of[&k],
            "{k:?}: {} requests for {} attempts",
            r.requests(),
            attempts_of[&k]
        );
    }
    let huge_written = huge.body_written();
    assert!(
        huge_written < HUGE_BODY / 2,
        "the 1 GiB receiver wrote {huge_written} bytes over {} attempts (at most {} on one connection): \
         half a body or more",
        attempts_of[&Kind::Huge],
        huge.max_body_per_connection()
    );
    assert!(
        huge.max_body_per_connection() < 1 << 20,
        "one connection took {} bytes of the 1 GiB body",
        huge.max_body_per_connection()
    );
    assert!(
        drip.body_written() <= 3 * drip.connections(),
        "the drip's bodies were read on"
    );
    assert!(
        hwm < RSS_BOUND_MIB * 1024,
        "delivery's peak RSS {} MiB (at rest {} MiB) is above {RSS_BOUND_MIB} MiB",
        hwm / 1024,
        hwm_at_rest / 1024
    );
    let quarantined = check::topic_records(&d.kafka.brokers, &d.kafka.topics.quarantine()).unwrap();
    assert_eq!(quarantined, 0, "records quarantined");
    let exited = procs.exited();
    assert!(exited.is_empty(), "services exited by themselves: {exited:?}");

    let timeouts = attempts_of[&Kind::Silent] + attempts_of[&Kind::Drip];
    println!(
        "FIGURES misbehaving receivers: {N} events at {RATE}/s, {} per receiver (silent, 1 byte/s, 1 GiB body, \
         301 to private addresses, healthy); healthy: {} of {} delivered {:.1} s after the load started, when \
         {} of {failing_events} failing events were still being retried (all settled at {:.1} s); attempts: \
         silent {}, 1 byte/s {}, 1 GiB {}, 301 {}, healthy {}; {timeouts} timeouts at {SHORT_TIMEOUT_MS} ms \
         (slowest {} ms silent, {} ms 1 byte/s); 1 GiB receiver wrote {:.1} MiB in all ({:.2} MiB on its \
         busiest connection, {} connections), logged bodies at most {longest_body} B; delivery VmHWM {} MiB \
         (at rest {} MiB, bound {RSS_BOUND_MIB}); trap connections {}; dead-lettered: silent {}, 1 byte/s {}, \
         301 {}",
        per_kind[&Kind::Healthy],
        delivered.events,
        per_kind[&Kind::Healthy],
        healthy_done.as_secs_f64(),
        failing_events - dead_at_healthy_done,
        all_done.as_secs_f64(),
        attempts_of[&Kind::Silent],
        attempts_of[&Kind::Drip],
        attempts_of[&Kind::Huge],
        attempts_of[&Kind::Redirect],
        attempts_of[&Kind::Healthy],
        max_ms.get(&Kind::Silent).copied().unwrap_or_default(),
        max_ms.get(&Kind::Drip).copied().unwrap_or_default(),
        huge_written as f64 / (1 << 20) as f64,
        huge.max_body_per_connection() as f64 / (1 << 20) as f64,
        huge.connections(),
        hwm / 1024,
        hwm_at_rest / 1024,
        trap.connections(),
        dead_of.get(&Kind::Silent).map_or(0, HashSet::len),
        dead_of.get(&Kind::Drip).map_or(0, HashSet::len),
        dead_of.get(&Kind::Redirect).map_or(0, HashSet::len),
    );
}

/// `VmHWM` (peak resident set size, KiB) of process `pid`.
fn vm_hwm_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc/<pid>/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/<pid>/status")
}
