//! The realistic scenario (`--real`, `benchmarks/run.sh real`): the population of
//! `population.rs` (1,000 workspaces over the three dialects, Zipf traffic, an optional whale)
//! configured through the config topic, every endpoint its own receiver (`hosts.rs`), the
//! messages loaded first, then an open-loop load of the production-like input mix
//! ([`population::MIX`]), and tables per endpoint class.
//!
//! The inputs go where the gateway, carriers and shortener put them (the raw topics ingest
//! reads), except conversions: ingest takes those over HTTP only (an authenticated tracker
//! postback), so the harness writes them to the conversions topic ingest would have written.

use crate::hosts::{self, Auth, HostSpec, Hosts};
use crate::load::{dlr_json, recipient, wait_consumed};
use crate::population::{self, Class, Kind, Planned, Population, Shape};
use crate::{procs, Args, SECRET};
use futures::stream::{FuturesUnordered, StreamExt};
use hookline_kafka::{ConfigWriter, KafkaSettings};
use hookline_model::*;
use rdkafka::producer::FutureRecord;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// SMSEdge's subscription settings as its API sets them (`services/api/src/smsedge.rs`): 3
/// requests in flight, a 10 s timeout.
const SMSEDGE_CONCURRENCY: u32 = 3;
const SMSEDGE_TIMEOUT_MS: u64 = 10_000;
/// Named subscriptions that batch: up to 50 events or 200 ms.
const NAMED_BATCH: BatchPolicy = BatchPolicy {
    max_events: 50,
    max_wait_ms: 200,
};

pub async fn run(args: &Args, kafka: &KafkaSettings, run: &str, prefix: &str) -> anyhow::Result<()> {
    let pop = Population::new(population::Settings {
        workspaces: args.workspaces,
        zipf_s: args.zipf_s,
        whale_percent: args.whale_percent,
        whale_latency: Duration::from_millis(args.whale_latency_ms),
        seed: args.seed,
    });
    // Each endpoint checks what its dialect sends: SMSEdge's DLR webhook Basic credentials,
    // its other webhooks nothing, the other dialects a signature.
    let mut specs: Vec<HostSpec> = pop
        .endpoints
        .iter()
        .map(|e| HostSpec {
            class: e.class,
            latency: e.latency,
            auth: Auth::Signature,
        })
        .collect();
    for w in pop
        .workspaces
        .iter()
        .filter(|w| matches!(w.shape, Shape::SmsEdge { .. }))
    {
        for s in &w.subs {
            specs[s.endpoint].auth = if s.id == "se-dlr" { Auth::Basic } else { Auth::None };
        }
    }
    let hosts = Hosts::start(specs, SECRET, args.seed).await?;

    // Configuration, one record per workspace.
    let key = hookline_security::Sealer::random_key_hex();
    let sealer = hookline_security::Sealer::new(Some(&key))?;
    let writer = ConfigWriter::new(kafka.producer()?, kafka.topics.config());
    for i in 0..pop.workspaces.len() {
        let config = workspace_config(&pop, i, &hosts, &sealer, args.whale_rate_limit);
        writer.put_workspace(&config).await?;
    }

    // Each service its own admin port, so the harness can read its /metrics.
    let admin: Vec<String> = (0..4)
        .map(|_| {
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
            l.local_addr().expect("address").to_string()
        })
        .collect();
    let env = crate::service_env(args, run, prefix, &key);
    let names = ["ingest", "enrich", "delivery", "api"];
    let services: Vec<procs::Service> = names
        .iter()
        .zip(&admin)
        .map(|(name, addr)| {
            let mut env = env.clone();
            env.push(("HOOKLINE_ADMIN_ADDR".into(), addr.clone()));
            procs::spawn(name, &env)
        })
        .collect();

    let producer = crate::bench_producer(kafka, args.load_linger_ms)?;
    let total = args.rate * args.seconds;
    let message_id = |i: u64| format!("{run}-m{i}");
    let carrier_id = |i: u64| format!("{run}-c{i}");

    // Warm-up: one DLR end to end to a healthy 23 Telecom endpoint.
    let warm = Instant::now();
    let warm_ws = (0..pop.workspaces.len())
        .find(|w| {
            let ws = &pop.workspaces[*w];
            matches!(ws.shape, Shape::Telecom23 { .. })
                && ws
                    .subs
                    .iter()
                    .all(|s| pop.endpoints[s.endpoint].class == Class::Healthy)
        })
        .expect("a healthy 23 Telecom workspace");
    let warm_id = u64::MAX - 5;
    let accepted = kafka.topics.accepted();
    let payload = accepted_json(
        &message_id(warm_id),
        &carrier_id(warm_id),
        &pop.workspaces[warm_ws].id,
        warm_id,
    );
    producer
        .send(
            FutureRecord::to(&accepted).key(&carrier_id(warm_id)).payload(&payload),
            Duration::from_secs(10),
        )
        .await
        .map_err(|(e, _)| e)?;
    crate::load::send_dlr(&producer, kafka, &carrier_id(warm_id)).await;
    let warm_key = [hosts::key(population::tag::DELIVERY, &message_id(warm_id))];
    while hosts.arrived(&warm_key) == 0 {
        anyhow::ensure!(warm.elapsed() < Duration::from_secs(60), "warm-up event never arrived");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!("warm-up delivered after {:?}", warm.elapsed());

    // The plan, and the messages its events refer to (not timed). Named workspaces' loaded
    // messages fire their `sent` statuses now: waited for below, as far as delivery keeps up.
    let plan = pop.plan(total, args.rate, args.seed);
    let started = Instant::now();
    let mut pending = FuturesUnordered::new();
    for (i, e) in plan.iter().enumerate().filter(|(_, e)| e.kind.needs_message()) {
        let i = i as u64;
        let payload = accepted_json(&message_id(i), &carrier_id(i), &pop.workspaces[e.workspace].id, i);
        let key = carrier_id(i);
        let record = FutureRecord::to(&accepted).key(&key).payload(&payload);
        pending.push(producer.send_result(record).map_err(|(e, _)| e)?);
        if pending.len() >= 10_000 {
            pending.next().await;
        }
    }
    while pending.next().await.is_some() {}
    wait_consumed(kafka, &format!("{run}-ingest"), &kafka.topics.accepted()).await?;
    wait_consumed(kafka, &format!("{run}-enrich"), &kafka.topics.messages()).await?;
    let settle = Instant::now() + Duration::from_secs(60);
    loop {
        let behind =
            hookline_kafka::admin::group_lag(kafka, &format!("{run}-delivery"), &kafka.topics.dispatch()).await?;
        if behind == 0 || Instant::now() > settle {
            eprintln!(
                "messages loaded in {:?}; {behind} dispatch records (their `sent` statuses) still behind",
                started.elapsed()
            );
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let metrics_before = scrape(&admin, &names).await;
    let whale_ws = pop.whale.map(|w| pop.workspaces[w].id.clone());
    let samples = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sampler = tokio::spawn(sample_delivery(admin[2].clone(), whale_ws, samples.clone()));
    let cost = procs::Cost::start(&services, &args.brokers, &args.redis);
    let counts_before = hosts.counts();
    let connections_before = hosts.connections();
    let bad_before = hosts.bad_signatures();

    // Timed phase: event i is due at t0 + i / rate.
    let topics = Topics {
        accepted,
        dlr: kafka.topics.carrier_dlr(),
        clicks: kafka.topics.link_clicks(),
        inbound: kafka.topics.sms_inbound(),
        conversions: kafka.topics.conversions(),
    };
    let t0 = tokio::time::Instant::now() + Duration::from_millis(200);
    let mut pending = FuturesUnordered::new();
    for (i, e) in plan.iter().enumerate() {
        let i = i as u64;
        let due = t0 + Duration::from_nanos(i * 1_000_000_000 / args.rate);
        tokio::time::sleep_until(due).await;
        let (topic, key, payload) = record(run, &topics, &pop, i, e);
        let record = FutureRecord::to(topic).key(&key).payload(&payload);
        match producer.send_result(record) {
            Ok(f) => pending.push(f),
            Err((e, _)) => anyhow::bail!("produce: {e}"),
        }
        while let Some(Some(_)) = futures::FutureExt::now_or_never(pending.next()) {}
    }
    while pending.next().await.is_some() {}
    let produced_at = t0.elapsed();

    // The webhooks expected, by key: event index and class.
    let expected: HashMap<String, (u64, Class)> = plan
        .iter()
        .enumerate()
        .filter_map(|(i, e)| {
            let (tag, endpoint) = e.expect?;
            let id = match e.kind {
                Kind::Inbound => inbound_id(run, i as u64),
                _ => message_id(e.message),
            };
            Some((hosts::key(tag, &id), (i as u64, pop.endpoints[endpoint].class)))
        })
        .collect();
    let judged: Vec<String> = expected
        .iter()
        .filter(|(_, (_, c))| c.judged())
        .map(|(k, _)| k.clone())
        .collect();
    // Until every whale and healthy webhook arrived; those whose first answer was a 500 wait
    // for their retry (23 Telecom and named: 10 s, then 30 s; SMSEdge: 6 h, so never in a
    // run): at most 45 s more for them.
    let deadline = Instant::now() + Duration::from_secs(args.seconds * 3 + 30);
    let mut retries_due: Option<Instant> = None;
    while Instant::now() < deadline && retries_due.is_none_or(|t| Instant::now() < t) {
        let failed = hosts.failed();
        let first_tries: Vec<&String> = judged.iter().filter(|k| !failed.contains(*k)).collect();
        if hosts.arrived(judged.iter()) == judged.len() {
            break;
        }
        if retries_due.is_none() && hosts.arrived(first_tries.iter().copied()) == first_tries.len() {
            retries_due = Some(Instant::now() + Duration::from_secs(45));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let spent = cost.finish();
    sampler.abort();
    let samples: Vec<DeliverySample> = samples.lock().unwrap().clone();
    let metrics_after = scrape(&admin, &names).await;
    drop(services);

    let t0 = t0.into_std();
    let due = |i: u64| t0 + Duration::from_nanos(i * 1_000_000_000 / args.rate);
    let first = hosts.first();
    let counts = hosts.counts();
    let failed = hosts.failed();
    let mut per_class: HashMap<Class, Arrived> = HashMap::new();
    let mut missing: std::collections::BTreeMap<&str, u64> = Default::default();
    for (k, (i, class)) in &expected {
        let a = per_class.entry(*class).or_default();
        a.expected += 1;
        if let Some(at) = first.get(k) {
            let ms = at.saturating_duration_since(due(*i)).as_secs_f64() * 1000.0;
            let retried = failed.contains(k);
            a.latencies.push((*i, ms, retried));
            let since = at.saturating_duration_since(t0).as_secs_f64();
            a.last = a.last.max(since);
            if !retried {
                a.clean_first = a.clean_first.min(since);
                a.clean_last = a.clean_last.max(since);
            }
        } else if class.judged() {
            *missing.entry(k.split('|').next().unwrap_or_default()).or_insert(0u64) += 1;
        }
    }
    let mut judged_all = Arrived::default();
    for c in [Class::Whale, Class::Healthy] {
        if let Some(a) = per_class.get(&c) {
            judged_all.expected += a.expected;
            judged_all.latencies.extend(&a.latencies);
            judged_all.last = judged_all.last.max(a.last);
            judged_all.clean_last = judged_all.clean_last.max(a.clean_last);
        }
    }

    // Kept up, over the whale and healthy endpoints, as in the other scenarios (every webhook
    // arrived, the lag did not grow, the backlog never got deep), except that the count, the
    // span and the tenths are over the webhooks whose first answer was not one of the
    // receivers' 500s (those wait for their dialect's retry, 10 s to 6 h on).
    judged_all.latencies.sort_by_key(|(i, _, _)| *i);
    let clean: Vec<f64> = judged_all.latencies.iter().filter(|l| !l.2).map(|l| l.1).collect();
    let tenth = clean.len() / 10;
    let (first_tenth, last_tenth) = (median(&clean[..tenth]), median(&clean[clean.len() - tenth..]));
    let clean_span = judged_all
        .latencies
        .iter()
        .filter(|l| !l.2)
        .map(|(i, ms, _)| due(*i).saturating_duration_since(t0).as_secs_f64() + ms / 1000.0)
        .fold(0.0, f64::max);
    let all: Vec<f64> = judged_all.latencies.iter().map(|l| l.1).collect();
    let q = quantiles(&all);
    let delivered = all.len() as u64;
    let retried_judged = judged.iter().filter(|k| failed.contains(*k)).count() as u64;
    let kept_up = clean.len() as u64 == judged_all.expected - retried_judged
        && clean_span <= produced_at.as_secs_f64() + 2.0
        && last_tenth <= 2.0 * first_tenth + 50.0
        && q.p99 <= 500.0;

    let class_of = |endpoint: usize| pop.endpoints[endpoint].class;
    let mut requests: HashMap<Class, (u64, u64, usize)> = HashMap::new();
    for (endpoint, (after, before)) in counts.iter().zip(&counts_before).enumerate() {
        let r = requests.entry(class_of(endpoint)).or_default();
        r.0 += after.requests - before.requests;
        r.1 += after.errors - before.errors;
        r.2 += 1;
    }
    let requests_total: u64 = requests.values().map(|r| r.0).sum();
    let errors_total: u64 = requests.values().map(|r| r.1).sum();

    let mut kinds: Vec<(Kind, u64)> = population::MIX.iter().map(|(k, _)| (*k, 0)).collect();
    for e in &plan {
        if let Some(slot) = kinds.iter_mut().find(|(k, _)| *k == e.kind) {
            slot.1 += 1;
        }
    }
    let dialects = |f: fn(&Shape) -> bool| pop.workspaces.iter().filter(|w| f(&w.shape)).count();
    println!(
        "\n## Realistic load, {} events/s offered for {} s ({total} input records: {}; {} workspaces: {} 23 Telecom, {} SMSEdge, {} named, Zipf s = {}{}; {} endpoints, each its own 127.0.0.1 port; {} partitions)\n",
        args.rate,
        args.seconds,
        kinds
            .iter()
            .map(|(k, n)| format!("{} {:?}", n, k))
            .collect::<Vec<_>>()
            .join(", "),
        args.workspaces,
        dialects(|s| matches!(s, Shape::Telecom23 { .. })) - usize::from(pop.whale.is_some()),
        dialects(|s| matches!(s, Shape::SmsEdge { .. })),
        dialects(|s| matches!(s, Shape::Named { .. })),
        args.zipf_s,
        if pop.whale.is_some() {
            format!(
                ", the largest {:.0} % of the rest; a whale workspace with {} % of all events, its receiver answering in {} ms",
                100.0 * pop.workspaces[0].share / (1.0 - args.whale_percent / 100.0),
                args.whale_percent,
                args.whale_latency_ms
            )
        } else {
            format!(", the largest {:.0} %", 100.0 * pop.workspaces[0].share)
        },
        pop.endpoints.len(),
        args.partitions,
    );
    println!("Whale and healthy endpoints (latency from an event's scheduled send time to its webhook's arrival at the receiver, before the receiver's own answer time):\n");
    println!("| webhooks delivered | of which after a 500 (first answer) | achieved webhooks/s | kept up | p50 ms, first / last tenth | p50 ms | p99 ms | p99.9 ms | requests (all classes) | 500s answered | bad signatures |");
    println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    println!(
        "| {delivered}/{} | {}/{retried_judged} | {:.0} | {} | {first_tenth:.0} / {last_tenth:.0} | {:.1} | {:.1} | {:.1} | {requests_total} | {errors_total} | {} |",
        judged_all.expected,
        delivered - clean.len() as u64,
        // Over the time to the last arrival not retried, as the other scenarios' rate.
        delivered as f64 / judged_all.clean_last.max(0.001),
        if kept_up { "yes" } else { "no" },
        q.p50,
        q.p99,
        q.p999,
        hosts.bad_signatures() - bad_before,
    );
    println!("\n| class | endpoints | share of webhooks | delivered | p50 ms | p99 ms | deliveries/s (first to last not retried) | requests | 500s answered |");
    println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    let expected_total = expected.len().max(1) as f64;
    for c in Class::ALL {
        let (Some(a), Some(r)) = (per_class.get(&c), requests.get(&c)) else {
            continue;
        };
        let ms: Vec<f64> = a.latencies.iter().map(|l| l.1).collect();
        let q = quantiles(&ms);
        println!(
            "| {} | {} | {:.1} % | {}/{} | {:.1} | {:.1} | {:.0} | {} | {} |",
            c.name(),
            r.2,
            100.0 * a.expected as f64 / expected_total,
            ms.len(),
            a.expected,
            q.p50,
            q.p99,
            a.rate(),
            r.0,
            r.1,
        );
    }
    if !missing.is_empty() {
        let list: Vec<String> = missing.iter().map(|(tag, n)| format!("{n} {tag}")).collect();
        println!(
            "\nWhale and healthy webhooks that never arrived (SMSEdge retries a 500 after 6 h): {}.",
            list.join(", ")
        );
    }
    let delta = |name: &str| metrics_after.get(name).unwrap_or(&0.0) - metrics_before.get(name).unwrap_or(&0.0);
    println!("\n| delivery over the timed phase: attempts | retries scheduled | deferred (endpoint saturated, rate limited) | rate-limit waits | throttle decreases | dead-lettered |");
    println!("| --- | --- | --- | --- | --- | --- |");
    println!(
        "| {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} |",
        delta("hookline_delivery_attempts_total"),
        delta("hookline_delivery_retries_scheduled_total"),
        delta("hookline_delivery_deferred_total"),
        delta("hookline_delivery_rate_limit_waits_total"),
        delta("hookline_delivery_throttle_decreases_total"),
        delta("hookline_delivery_dead_lettered_total"),
    );
    spent.print(total);
    let per_poll = |svc: &str| {
        let d = |suffix: &str| {
            let name = format!("hookline_{svc}_poll_batch_records_{suffix}");
            metrics_after.get(&name).unwrap_or(&0.0) - metrics_before.get(&name).unwrap_or(&0.0)
        };
        let (sum, count) = (d("sum"), d("count"));
        if count > 0.0 {
            format!("{:.1}", sum / count)
        } else {
            "–".into()
        }
    };
    // Records per produce batch, all topics of a service together (librdkafka reports them
    // every 5 s, so the last seconds of the run are not in it).
    let per_batch = |svc: &str| {
        let d = |name: String| metrics_after.get(&name).unwrap_or(&0.0) - metrics_before.get(&name).unwrap_or(&0.0);
        let batches = d(format!("hookline_{svc}_produce_batches_total"));
        let records = d(format!("hookline_{svc}_produce_batch_records_total"));
        if batches > 0.0 {
            format!("{:.1}", records / batches)
        } else {
            "–".into()
        }
    };
    println!(
        "\n| Redis commands per event | receiver connections opened per 1,000 requests | records per poll: ingest / enrich / delivery / api | records per produce batch: ingest / enrich / delivery / api |"
    );
    println!("| --- | --- | --- | --- |");
    println!(
        "| {} | {:.2} | {} / {} / {} / {} | {} / {} / {} / {} |",
        spent
            .redis_commands
            .map(|c| format!("{:.2}", c as f64 / total as f64))
            .unwrap_or_else(|| "–".into()),
        (hosts.connections() - connections_before) as f64 * 1000.0 / requests_total.max(1) as f64,
        per_poll("ingest"),
        per_poll("enrich"),
        per_poll("delivery"),
        per_poll("api"),
        per_batch("ingest"),
        per_batch("enrich"),
        per_batch("delivery"),
        per_batch("api"),
    );
    print_delivery_samples(&samples);
    Ok(())
}

/// Delivery's state at one moment of the timed phase (and the wait for the last webhooks).
#[derive(Debug, Clone, Copy)]
struct DeliverySample {
    /// Seconds since the sampling started.
    at: f64,
    /// `hookline_delivery_scheduling_lag_seconds`, in ms.
    lag_ms: f64,
    /// The whale endpoint's `hookline_delivery_endpoint_concurrency_limit`, if it has one yet.
    whale_limit: Option<f64>,
}

/// Reads delivery's `/metrics` on `admin` every half second into `out`, until aborted.
async fn sample_delivery(
    admin: String,
    whale_ws: Option<String>,
    out: std::sync::Arc<std::sync::Mutex<Vec<DeliverySample>>>,
) {
    let client = reqwest::Client::new();
    let started = Instant::now();
    let whale = whale_ws.map(|w| format!("workspace_id=\"{w}\""));
    loop {
        if let Some(text) = metrics_text(&client, &admin).await {
            let mut sample = DeliverySample {
                at: started.elapsed().as_secs_f64(),
                lag_ms: 0.0,
                whale_limit: None,
            };
            for line in text.lines() {
                if line.starts_with("hookline_delivery_scheduling_lag_seconds ") {
                    sample.lag_ms = sample_value(line).unwrap_or(0.0) * 1000.0;
                } else if line.starts_with("hookline_delivery_endpoint_concurrency_limit{")
                    && whale.as_deref().is_some_and(|w| line.contains(w))
                {
                    sample.whale_limit = sample_value(line);
                }
            }
            out.lock().unwrap().push(sample);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Delivery's scheduling lag and the whale's concurrency limit over the run, per 2 s.
fn print_delivery_samples(samples: &[DeliverySample]) {
    if samples.is_empty() {
        return;
    }
    let mut lags: Vec<f64> = samples.iter().map(|s| s.lag_ms).collect();
    lags.sort_by(f64::total_cmp);
    println!(
        "\nDelivery's scheduling lag (`hookline_delivery_scheduling_lag_seconds`, {} samples every 0.5 s): p50 {:.1} ms, p90 {:.1} ms, max {:.1} ms; above 10 ms in {:.0} % of samples.",
        samples.len(),
        lags[lags.len() / 2],
        lags[lags.len() * 9 / 10],
        lags[lags.len() - 1],
        100.0 * lags.iter().filter(|l| **l > 10.0).count() as f64 / lags.len() as f64
    );
    let per_2s: Vec<String> = samples
        .chunk_by(|a, b| (a.at / 2.0) as u64 == (b.at / 2.0) as u64)
        .map(|c| {
            let limits: Vec<f64> = c.iter().filter_map(|s| s.whale_limit).collect();
            let lag = c.iter().map(|s| s.lag_ms).fold(0.0, f64::max);
            match limits.last() {
                Some(l) => format!("{l:.0} ({lag:.0})"),
                None => format!("– ({lag:.0})"),
            }
        })
        .collect();
    println!(
        "The whale's concurrency limit every 2 s (delivery's highest lag in ms in brackets): {}",
        per_2s.join(" · ")
    );
}

/// Latencies of one class: (event index, ms, whether its first answer was a 500).
struct Arrived {
    expected: u64,
    latencies: Vec<(u64, f64, bool)>,
    /// Seconds from t0 to the last arrival.
    last: f64,
    /// Seconds from t0 to the first and the last arrival of the webhooks not retried.
    clean_first: f64,
    clean_last: f64,
}

impl Default for Arrived {
    fn default() -> Self {
        Self {
            expected: 0,
            latencies: vec![],
            last: 0.0,
            clean_first: f64::INFINITY,
            clean_last: 0.0,
        }
    }
}

impl Arrived {
    /// Deliveries per second while it was delivering: the webhooks not retried over the time
    /// from the first to the last of them (a retried one arrives 10 s or more later).
    fn rate(&self) -> f64 {
        let n = self.latencies.iter().filter(|l| !l.2).count();
        n as f64 / (self.clean_last - self.clean_first).max(0.001)
    }
}

struct Quantiles {
    p50: f64,
    p99: f64,
    p999: f64,
}

fn quantiles(ms: &[f64]) -> Quantiles {
    let mut v = ms.to_vec();
    v.sort_by(f64::total_cmp);
    let pct = |q: f64| {
        v.get(((v.len() as f64 * q) as usize).min(v.len().saturating_sub(1)))
            .copied()
            .unwrap_or(f64::NAN)
    };
    Quantiles {
        p50: pct(0.5),
        p99: pct(0.99),
        p999: pct(0.999),
    }
}

fn median(v: &[f64]) -> f64 {
    quantiles(v).p50
}

struct Topics {
    accepted: String,
    dlr: String,
    clicks: String,
    inbound: String,
    conversions: String,
}

fn inbound_id(run: &str, i: u64) -> String {
    format!("{run}-i{i}")
}

/// Event `i`'s record: topic, key and payload.
fn record<'a>(run: &str, t: &'a Topics, pop: &Population, i: u64, e: &Planned) -> (&'a String, String, String) {
    let ws = &pop.workspaces[e.workspace].id;
    let (mid, cid) = (format!("{run}-m{}", e.message), format!("{run}-c{}", e.message));
    const HUMAN: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X)";
    let click = |ua: &str| {
        serde_json::json!({
            "click_id": format!("{run}-k{i}"), "short_url": "https://hkl.ink/b1", "message_id": mid,
            "broadcast_id": "b-1", "recipient": recipient(e.message), "link_type": "broadcast",
            "user_agent": ua, "ip": "203.0.113.7",
        })
        .to_string()
    };
    match e.kind {
        Kind::Dlr => (&t.dlr, cid.clone(), dlr_json(&cid)),
        Kind::Sent => (&t.accepted, cid.clone(), accepted_json(&mid, &cid, ws, i)),
        Kind::Click | Kind::RepeatClick => (&t.clicks, format!("{run}-k{i}"), click(HUMAN)),
        Kind::BotClick => (
            &t.clicks,
            format!("{run}-k{i}"),
            click("facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)"),
        ),
        Kind::Inbound => {
            let from = recipient(i);
            let payload = serde_json::json!({
                "inbound_id": inbound_id(run, i), "workspace_id": ws, "from": from,
                "to": "+15550100", "text": "YES", "last_message_id": mid,
            });
            (&t.inbound, from, payload.to_string())
        }
        Kind::Conversion => {
            let now = chrono::Utc::now();
            let conversion = ConversionInput {
                click_id: None,
                message_id: Some(mid.clone()),
                event: "purchase".into(),
                value: Some(9.99),
                currency: Some("USD".into()),
                transaction_id: Some(format!("{run}-t{i}")),
                workspace_id: None,
                occurred_at: now,
                received_at: now,
            };
            (
                &t.conversions,
                mid,
                serde_json::to_string(&conversion).expect("serialises"),
            )
        }
    }
}

/// An accepted broadcast message (so its clicks fall under `unique_clicks_only`), recipient
/// `recipient(n)`.
fn accepted_json(message_id: &str, carrier_id: &str, ws: &str, n: u64) -> String {
    serde_json::json!({
        "message_id": message_id, "carrier_message_id": carrier_id, "workspace_id": ws,
        "recipient": recipient(n), "sender_id": "Bench", "num_parts": 1, "cost": 0.0085,
        "broadcast_id": "b-1", "accepted_at": chrono::Utc::now(),
    })
    .to_string()
}

/// Workspace `i`'s configuration: its subscriptions as its dialect's API would write them,
/// each to its own endpoint.
fn workspace_config(
    pop: &Population,
    i: usize,
    hosts: &Hosts,
    sealer: &hookline_security::Sealer,
    whale_rate_limit: u32,
) -> WorkspaceConfig {
    let w = &pop.workspaces[i];
    let secret = || Some(SealedSecret(sealer.seal(SECRET)));
    let mut config = WorkspaceConfig::new(w.id.clone());
    for s in &w.subs {
        let url = format!("http://{}/{}/{}", hosts.addrs[s.endpoint], w.id, s.id);
        let sub = match w.shape {
            Shape::Telecom23 { conversions } => {
                config.telecom23.unique_clicks_only = true;
                let mut kinds = vec![EventKind::Delivery, EventKind::Click];
                if conversions {
                    kinds.push(EventKind::Conversion);
                }
                Subscription {
                    event_kinds: kinds,
                    signing_secret: secret(),
                    // The whale's own limit above the system default (1,000/s); every other
                    // endpoint keeps the default.
                    rate_limit_per_sec: if Some(i) == pop.whale { whale_rate_limit } else { 0 },
                    ..Subscription::new(Dialect::Telecom23, &w.id, s.id, url)
                }
            }
            Shape::SmsEdge { .. } => {
                let kind = match s.id {
                    "se-dlr" => EventKind::Delivery,
                    "se-click" => EventKind::Click,
                    _ => EventKind::Inbound,
                };
                let basic = SealedSecret(sealer.seal(hosts::BASIC_CREDENTIALS));
                config.smsedge.basic_auth = Some(basic.clone());
                Subscription {
                    event_kinds: vec![kind],
                    format: BodyFormat::FormSms,
                    basic_auth: (kind == EventKind::Delivery).then_some(basic),
                    max_concurrency: SMSEDGE_CONCURRENCY,
                    timeout_ms: SMSEDGE_TIMEOUT_MS,
                    ..Subscription::new(Dialect::SmsEdge, &w.id, s.id, url)
                }
            }
            Shape::Named { several, batch } => {
                let mut types = vec![NamedEventType::SmsStatus];
                if several {
                    types.extend([NamedEventType::LinkHit, NamedEventType::SmsInbound]);
                }
                Subscription {
                    event_kinds: types.iter().map(|t| t.kind()).collect(),
                    event_types: types,
                    signing_secret: secret(),
                    batch: batch.then_some(NAMED_BATCH),
                    ..Subscription::new(Dialect::Named, &w.id, s.id, url)
                }
            }
        };
        config.subscriptions.push(sub);
    }
    config.version = 1;
    config
}

/// Each service's metrics (`/metrics` on its admin port), summed over label sets per name.
async fn scrape(admin: &[String], names: &[&str]) -> HashMap<String, f64> {
    let client = reqwest::Client::new();
    let mut out = HashMap::new();
    for (addr, _) in admin.iter().zip(names) {
        let Some(text) = metrics_text(&client, addr).await else {
            continue;
        };
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let name = line.split(['{', ' ']).next().unwrap_or_default();
            if let Some(v) = sample_value(line) {
                *out.entry(name.to_string()).or_insert(0.0) += v;
            }
        }
    }
    out
}

/// A service's `/metrics` page on its admin address, if it answered.
async fn metrics_text(client: &reqwest::Client, addr: &str) -> Option<String> {
    client
        .get(format!("http://{addr}/metrics"))
        .send()
        .await
        .ok()?
        .text()
        .await
        .ok()
}

/// The value of one sample line of the text format (`name{labels} value`).
fn sample_value(line: &str) -> Option<f64> {
    line.rsplit(' ').next()?.parse().ok()
}
