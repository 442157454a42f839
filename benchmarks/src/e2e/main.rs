//! End-to-end benchmark: the four services as separate processes against the Apache Kafka
//! broker and Redis on this machine, an open-loop load of carrier DLRs and link clicks (each
//! on an accepted message loaded before the timed phase), and a receiver that verifies every
//! signature. Latency is timed from each event's *scheduled* send time, so a pipeline that
//! falls behind cannot hide its queueing. The same run measures the bare
//! minimum (consume, sign, POST, commit) against the same broker and receiver, the limit the
//! pipeline's rate is compared with.
//!
//! `cargo build --release --bins && target/release/e2e --rate 2000 --seconds 20`
//! (the broker on 127.0.0.1:19092 and Redis on 127.0.0.1:6379, as `scripts/test.sh` starts them;
//! `benchmarks/run.sh` starts a fresh broker per scenario instead). The CPU/RSS table includes
//! the broker when it is an Apache Kafka on this machine listening on `--brokers`.

mod baseline;
mod floor;
mod hosts;
mod load;
mod population;
mod procs;
mod real;
mod receiver;

use clap::Parser;
use futures::stream::{FuturesUnordered, StreamExt};
use hookline_kafka::admin::ensure_topics;
use hookline_kafka::{ConfigWriter, KafkaSettings};
use hookline_model::*;
use load::{click_json, dlr_json, is_slow, park, send_dlr, send_messages, wait_consumed};
use rdkafka::producer::{FutureProducer, FutureRecord};
use std::time::{Duration, Instant};

#[derive(Parser, Debug)]
struct Args {
    /// Events (DLRs and clicks) per second, open loop.
    #[arg(long, default_value_t = 2000)]
    rate: u64,
    /// Percent of the events that are link clicks (human, broadcast links, each the first
    /// click of its recipient, so each one fires under `unique_clicks_only`); the rest are DLRs.
    #[arg(long, default_value_t = 20)]
    clicks_percent: u64,
    /// Length of the timed phase.
    #[arg(long, default_value_t = 20)]
    seconds: u64,
    /// Workspaces, one endpoint each (endpoints spread over the dispatch partitions).
    #[arg(long, default_value_t = 16)]
    endpoints: usize,
    #[arg(long, default_value_t = 6)]
    partitions: i32,
    #[arg(long, default_value = "127.0.0.1:19092")]
    brokers: String,
    #[arg(long, default_value = "redis://127.0.0.1:6379")]
    redis: String,
    /// Subscriptions per workspace (scenario d: fan-out of each event).
    #[arg(long, default_value_t = 1)]
    fanout: usize,
    /// Every subscription's URL on a port of its own (a host of its own to delivery, with its
    /// own connection pool), instead of all of them on one receiving port.
    #[arg(long)]
    own_hosts: bool,
    /// Named subscriptions (`SMS_STATUS` and `LINK_HIT`, the named envelope) instead of 23
    /// Telecom ones: the baseline of `--batch`.
    #[arg(long)]
    named: bool,
    /// Named subscriptions with batching: `MAX_EVENTS:MAX_WAIT_MS` (implies `--named`).
    #[arg(long, value_parser = parse_batch)]
    batch: Option<BatchPolicy>,
    /// Send every 10th event to an extra endpoint that answers after its timeout (scenario b);
    /// latency is then reported for the healthy endpoints only.
    #[arg(long)]
    slow_neighbour: bool,
    /// Events parked in the 1 h retry tier, due after the run (scenario c).
    #[arg(long, default_value_t = 0)]
    parked: u64,
    /// Extra librdkafka settings for every service (`HOOKLINE_KAFKA_OPTIONS`, `key=value,…`),
    /// to measure a tuning without a rebuild; the floor stages take them too.
    #[arg(long, default_value = "")]
    kafka_options: String,
    /// Records delivery handles at once (`HOOKLINE_DELIVERY_MAX_IN_FLIGHT`; 0: its default,
    /// 1,024). Records waiting for a batch count, so batching at a high event rate over many
    /// endpoints needs more.
    #[arg(long, default_value_t = 0)]
    delivery_max_in_flight: usize,
    /// Tokio worker threads of each service (`TOKIO_WORKER_THREADS`; 0: tokio's default, one
    /// per core).
    #[arg(long, default_value_t = 0)]
    worker_threads: usize,
    /// `linger.ms` of the load generator's own producer, the carrier gateway's hop in front
    /// of ingest: part of every event's latency (at a low rate a whole linger per event, since
    /// a partition's batch rarely holds a second record). 5 unless told.
    #[arg(long, default_value_t = 5)]
    load_linger_ms: u64,
    /// Start of the run's name (its topics' and Redis keys' prefix, then 8 random hex digits):
    /// `run.sh` gives each broker port its own, so that it deletes only its own runs' Redis
    /// keys when two benchmarks share one Redis.
    #[arg(long, default_value = "bench")]
    run_prefix: String,
    /// Records for the bare-minimum run (0: skip it).
    #[arg(long, default_value_t = 100_000)]
    baseline_records: u64,
    /// Run the topology floor (`floor.rs`) in place of the four services: the same hops,
    /// consume loop and clients, none of Hookline's work.
    #[arg(long)]
    floor: bool,
    /// Processes of each service (scenario `replicas`: 2); the timed phase starts once every
    /// consumer group has them all.
    #[arg(long, default_value_t = 1)]
    replicas: usize,
    /// The realistic scenario (`real.rs`): `--workspaces` over the three dialects with Zipf
    /// traffic and an optional whale, every endpoint its own host with its own latency, some
    /// slow or down, a production-like input mix; tables per endpoint class.
    #[arg(long)]
    real: bool,
    /// `--real`: workspaces besides the whale.
    #[arg(long, default_value_t = 1000)]
    workspaces: usize,
    /// `--real`: the Zipf exponent of the workspaces' traffic shares.
    #[arg(long, default_value_t = 1.1)]
    zipf_s: f64,
    /// `--real`: percent of all events for the whale workspace (one 23 Telecom endpoint);
    /// 0: no whale.
    #[arg(long, default_value_t = 40.0)]
    whale_percent: f64,
    /// `--real`: the whale's receiver's answer time.
    #[arg(long, default_value_t = 50)]
    whale_latency_ms: u64,
    /// `--real`: the whale subscription's own rate limit (requests/s; 0: the system default,
    /// `HOOKLINE_DEFAULT_RATE_LIMIT`, 1,000). Every other endpoint keeps the default.
    #[arg(long, default_value_t = 10_000)]
    whale_rate_limit: u32,
    /// `--real`: the seed of the population, the plan of events and the receivers' 500s.
    #[arg(long, default_value_t = 29)]
    seed: u64,
    /// Internal: run one floor stage (started by `--floor`).
    #[arg(long, hide = true)]
    floor_stage: Option<String>,
    /// Internal: the floor stages' topic prefix.
    #[arg(long, hide = true, default_value = "")]
    floor_prefix: String,
    /// Internal: the receiver's base URL for the floor's delivery stage.
    #[arg(long, hide = true, default_value = "")]
    floor_target: String,
}

/// Every subscription's signing secret: a Standard Webhooks secret (`whsec_` + base64), which
/// named subscriptions need; `X-Webhook-Signature` uses its bytes as they are.
const SECRET: &str = "whsec_YmVuY2gtc2lnbmluZy1zZWNyZXQ=";

/// The services' environment: the run's topics, groups, Redis key prefix and secret key,
/// loopback URLs allowed, and the flags that tune them.
fn service_env(args: &Args, run: &str, prefix: &str, key: &str) -> Vec<(String, String)> {
    [
        ("HOOKLINE_KAFKA_BROKERS", args.brokers.clone()),
        ("HOOKLINE_TOPIC_PREFIX", prefix.to_string()),
        ("HOOKLINE_TOPIC_PARTITIONS", args.partitions.to_string()),
        ("HOOKLINE_REDIS_URL", args.redis.clone()),
        ("HOOKLINE_REDIS_KEY_PREFIX", format!("{run}:")),
        ("HOOKLINE_SECRET_KEY", key.to_string()),
        ("HOOKLINE_ALLOW_HTTP_URLS", "true".into()),
        ("HOOKLINE_ALLOW_CIDRS", "127.0.0.0/8".into()),
        ("HOOKLINE_ADMIN_ADDR", "127.0.0.1:0".into()),
        ("HOOKLINE_INGEST_HTTP_ADDR", "127.0.0.1:0".into()),
        ("HOOKLINE_API_HTTP_ADDR", "127.0.0.1:0".into()),
        ("HOOKLINE_INGEST_GROUP", format!("{run}-ingest")),
        ("HOOKLINE_ENRICH_GROUP", format!("{run}-enrich")),
        ("HOOKLINE_DELIVERY_GROUP", format!("{run}-delivery")),
        ("HOOKLINE_API_ATTEMPTS_GROUP", format!("{run}-api")),
        ("HOOKLINE_KAFKA_OPTIONS", args.kafka_options.clone()),
        (
            "HOOKLINE_DELIVERY_MAX_IN_FLIGHT",
            if args.delivery_max_in_flight > 0 {
                args.delivery_max_in_flight.to_string()
            } else {
                String::new()
            },
        ),
        (
            "TOKIO_WORKER_THREADS",
            if args.worker_threads > 0 {
                args.worker_threads.to_string()
            } else {
                String::new()
            },
        ),
    ]
    .into_iter()
    .filter(|(_, v)| !v.is_empty())
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// Waits (2 minutes at most) until consumer group `group` is stable with `members` members.
async fn wait_group_members(brokers: &str, group: &str, members: usize) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let state = hookline_kafka::admin::group_state(brokers, group).await?;
        if state.0 == "Stable" && state.1 == members {
            return Ok(());
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "group {group}: {state:?}, not Stable with {members}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The load generator's producer (`linger_ms`: `--load-linger-ms`).
fn bench_producer(kafka: &KafkaSettings, linger_ms: u64) -> anyhow::Result<FutureProducer> {
    Ok(kafka
        .client(&[
            ("linger.ms", &linger_ms.to_string()),
            ("compression.type", "lz4"),
            ("queue.buffering.max.messages", "1000000"),
        ])
        .create()?)
}

fn parse_batch(s: &str) -> Result<BatchPolicy, String> {
    let (n, t) = s.split_once(':').ok_or("MAX_EVENTS:MAX_WAIT_MS")?;
    let policy = BatchPolicy {
        max_events: n.parse().map_err(|e| format!("max events: {e}"))?,
        max_wait_ms: t.parse().map_err(|e| format!("max wait: {e}"))?,
    };
    policy
        .valid()
        .then_some(policy)
        .ok_or_else(|| "out of range (2..=1000, 1..=10000)".into())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if let Some(stage) = &args.floor_stage {
        return floor::run_stage(
            stage,
            &args.brokers,
            &args.floor_prefix,
            args.partitions,
            &args.floor_target,
            &args.kafka_options,
            SECRET,
        )
        .await;
    }
    let run = format!("{}{:08x}", args.run_prefix, rand::random::<u32>());
    let prefix = format!("{run}.");
    let mut kafka = KafkaSettings::new(args.brokers.clone(), &prefix);
    kafka.partitions = args.partitions;
    ensure_topics(&kafka, &kafka.topics.specs()).await?;
    if args.real {
        return real::run(&args, &kafka, &run, &prefix).await;
    }
    let hosts = if args.own_hosts {
        (args.endpoints + usize::from(args.slow_neighbour)) * args.fanout
    } else {
        1
    };
    let (addrs, arrivals) = receiver::start_hosts(SECRET, hosts).await;
    let addr = addrs[0];

    // Configuration: one workspace per endpoint, a signed JSON delivery webhook each.
    let key = hookline_security::Sealer::random_key_hex();
    let sealer = hookline_security::Sealer::new(Some(&key))?;
    let writer = ConfigWriter::new(kafka.producer()?, kafka.topics.config());
    let mut workspaces: Vec<String> = (0..args.endpoints).map(|i| format!("ws{i}")).collect();
    if args.slow_neighbour {
        // The receiver answers `/slow/…` after 6 s; the subscription times out after 5 s.
        workspaces.push("slow".into());
    }
    let mut first_subs = Vec::new();
    for (w, ws) in workspaces.iter().enumerate() {
        let named = args.named || args.batch.is_some();
        let sub = |n: usize| {
            let addr = addrs[(w * args.fanout + n) % addrs.len()];
            let dialect = if named { Dialect::Named } else { Dialect::Telecom23 };
            let mut sub = Subscription {
                event_kinds: vec![EventKind::Delivery, EventKind::Click],
                signing_secret: Some(SealedSecret(sealer.seal(SECRET))),
                rate_limit_per_sec: 10_000,
                ..Subscription::new(dialect, ws, format!("sub{n}"), format!("http://{addr}/{ws}/{n}"))
            };
            if named {
                // A DLR's `delivered` status and the click: one webhook per event, as the 23
                // Telecom subscription's delivery (final DLRs, which these are) and click.
                sub.event_types = vec![NamedEventType::SmsStatus, NamedEventType::LinkHit];
                sub.event_kinds = vec![EventKind::Status, EventKind::Click];
                // Not the `sent` status of each message loaded before the timed phase.
                sub.filters.status = vec!["delivered".into()];
                sub.batch = args.batch;
            }
            sub
        };
        let mut config = WorkspaceConfig::new(ws.clone());
        // Every click is a first click (its own recipient), so each one still claims in Redis.
        config.telecom23.unique_clicks_only = true;
        config.subscriptions = (0..args.fanout).map(sub).collect();
        config.version = 1;
        first_subs.push(config.subscriptions[0].clone());
        writer.put_workspace(&config).await?;
    }

    let env = service_env(&args, &run, &prefix, &key);
    let names = ["ingest", "enrich", "delivery", "api"];
    let services: Vec<procs::Service> = std::iter::repeat_n(names, args.replicas.max(1))
        .flatten()
        .map(|name| {
            if args.floor {
                procs::spawn_floor_stage(
                    name,
                    &args.brokers,
                    &prefix,
                    args.partitions,
                    &format!("http://{addr}"),
                    &args.kafka_options,
                )
            } else {
                procs::spawn(name, &env)
            }
        })
        .collect();

    let producer = bench_producer(&kafka, args.load_linger_ms)?;
    let total = args.rate * args.seconds;
    let carrier_id = |i: u64| format!("{run}-c{i}");
    let message_id = |i: u64| format!("{run}-m{i}");

    // Warm-up: one event end to end, so every service has joined its group.
    let warm = Instant::now();
    // An id outside the timed range, on a healthy endpoint.
    let warm_id = u64::MAX - 5;
    send_messages(&producer, &kafka, &workspaces, &[warm_id], &carrier_id, &message_id).await;
    send_dlr(&producer, &kafka, &carrier_id(warm_id)).await;
    while arrivals.delivered() == 0 {
        anyhow::ensure!(warm.elapsed() < Duration::from_secs(60), "warm-up event never arrived");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!("warm-up delivered after {:?}", warm.elapsed());

    if args.parked > 0 {
        park(&producer, &kafka, &first_subs, args.parked).await?;
    }

    // The messages the DLRs refer to, before the timed phase (not timed). The floor derives
    // them instead.
    if !args.floor {
        let ids: Vec<u64> = (0..total).collect();
        send_messages(&producer, &kafka, &workspaces, &ids, &carrier_id, &message_id).await;
        // Until ingest and enrich have taken them all (their groups' committed offsets at the
        // end of the topics), the first DLRs of the timed phase would wait for their metadata:
        // a start-up transient, not the steady state this measures.
        let started = Instant::now();
        wait_consumed(&kafka, &format!("{run}-ingest"), &kafka.topics.accepted()).await?;
        wait_consumed(&kafka, &format!("{run}-enrich"), &kafka.topics.messages()).await?;
        eprintln!("messages loaded and consumed in {:?}", started.elapsed());
    }

    if args.replicas > 1 {
        for group in ["ingest", "enrich", "delivery", "api"] {
            wait_group_members(&args.brokers, &format!("{run}-{group}"), args.replicas).await?;
        }
        eprintln!("every group has its {} members", args.replicas);
    }

    let cost = procs::Cost::start(&services, &args.brokers, &args.redis);
    let connections_before = arrivals.connections();

    // Timed phase: DLR i is due at t0 + i / rate.
    let dlr_topic = kafka.topics.carrier_dlr();
    let click_topic = kafka.topics.link_clicks();
    let is_click = |i: u64| i % 100 < args.clicks_percent;
    let t0 = tokio::time::Instant::now() + Duration::from_millis(200);
    let mut pending = FuturesUnordered::new();
    for i in 0..total {
        let due = t0 + Duration::from_nanos(i * 1_000_000_000 / args.rate);
        tokio::time::sleep_until(due).await;
        let (topic, key, payload) = if is_click(i) {
            (&click_topic, format!("{run}-k{i}"), click_json(&run, i, &message_id(i)))
        } else {
            (&dlr_topic, carrier_id(i), dlr_json(&carrier_id(i)))
        };
        let record = FutureRecord::to(topic).key(&key).payload(&payload);
        match producer.send_result(record) {
            Ok(f) => pending.push(f),
            Err((e, _)) => anyhow::bail!("produce: {e}"),
        }
        while let Some(Some(_)) = futures::FutureExt::now_or_never(pending.next()) {}
    }
    while pending.next().await.is_some() {}
    let produced_at = t0.elapsed();
    let deadline = Instant::now() + Duration::from_secs(args.seconds * 3 + 30);
    while (arrivals.delivered() as u64) < total + 1 && Instant::now() < deadline {
        if args.slow_neighbour && arrivals.delivered() as u64 > total / 10 * 9 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let spent = cost.finish();
    let connections = arrivals.connections() - connections_before;

    let (first, requests, bad) = arrivals.snapshot();
    let t0_std = t0.into_std();
    let mut latencies: Vec<f64> = Vec::with_capacity(total as usize);
    let mut last = t0_std;
    let healthy = |i: u64| !(args.slow_neighbour && is_slow(i));
    let total_healthy = (0..total).filter(|i| healthy(*i)).count() as u64;
    for i in (0..total).filter(|i| healthy(*i)) {
        if let Some(at) = first.get(&message_id(i)) {
            let due = t0_std + Duration::from_nanos(i * 1_000_000_000 / args.rate);
            latencies.push(at.saturating_duration_since(due).as_secs_f64() * 1000.0);
            last = last.max(*at);
        }
    }
    // Lag not growing: the run's last tenth of events waited at most twice as long as its
    // first tenth (median of each, in send order, plus 50 ms of slack for noise).
    let tenth = latencies.len() / 10;
    let median = |v: &[f64]| {
        let mut v = v.to_vec();
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
    };
    let (first_tenth, last_tenth) = (
        median(&latencies[..tenth]),
        median(&latencies[latencies.len() - tenth..]),
    );
    // p99 of each tenth of the run in send order: a start-up transient and a steady state
    // differ here where the run's p99 mixes them.
    let p99_tenths: Vec<String> = latencies
        .chunks(tenth.max(1))
        .take(10)
        .map(|c| {
            let mut c = c.to_vec();
            c.sort_by(f64::total_cmp);
            format!("{:.0}", c[(c.len() * 99 / 100).min(c.len() - 1)])
        })
        .collect();
    latencies.sort_by(f64::total_cmp);
    let pct = |q: f64| {
        latencies
            .get(((latencies.len() as f64 * q) as usize).min(latencies.len().saturating_sub(1)))
            .copied()
            .unwrap_or(f64::NAN)
    };
    let span = last.saturating_duration_since(t0_std).as_secs_f64();
    let delivered = latencies.len() as u64;
    // Kept up (the rate is sustained): every event arrived, the lag did not grow, and the
    // backlog never got deep (a pipeline already far behind in its first tenth has a flat
    // but useless lag).
    let kept_up = delivered == total_healthy
        && span <= produced_at.as_secs_f64() + 2.0
        && last_tenth <= 2.0 * first_tenth + 50.0
        && pct(0.99) <= 500.0;
    drop(services);

    println!(
        "\n## {}, {} events/s offered for {} s ({} events, {} % clicks, the rest DLRs; {} endpoints, fan-out {}, {} partitions{}{})\n",
        if args.floor {
            "Topology floor (the four hops, none of Hookline's work)"
        } else {
            "Pipeline"
        },
        args.rate,
        args.seconds,
        total,
        args.clicks_percent,
        args.endpoints,
        args.fanout,
        args.partitions,
        if args.slow_neighbour {
            "; every 10th event to an endpoint that times out, latency of the others"
        } else {
            ""
        },
        match (args.batch, args.named) {
            (Some(b), _) => format!("; named subscriptions, batches of up to {} events or {} ms", b.max_events, b.max_wait_ms),
            (None, true) => "; named subscriptions".to_string(),
            (None, false) => String::new(),
        }
    );
    println!(
        "| delivered | achieved events/s | kept up | p50 ms, first / last tenth | p50 ms | p99 ms | p99.9 ms | requests | bad signatures |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    println!(
        "| {delivered}/{total_healthy} | {:.0} | {} | {first_tenth:.0} / {last_tenth:.0} | {:.1} | {:.1} | {:.1} | {requests} | {bad} |",
        delivered as f64 / span.max(0.001),
        if kept_up { "yes" } else { "no" },
        pct(0.50),
        pct(0.99),
        pct(0.999)
    );
    println!(
        "\np99 ms of each tenth of the run, in send order: {}",
        p99_tenths.join(" / ")
    );
    spent.print(total);
    println!(
        "\n| Redis commands per event (`total_commands_processed`; a pipeline counts each) | receiver connections opened per 1,000 requests |"
    );
    println!("| --- | --- |");
    println!(
        "| {} | {:.2} |",
        spent
            .redis_commands
            .map(|c| format!("{:.2}", c as f64 / total as f64))
            .unwrap_or_else(|| "–".into()),
        connections as f64 * 1000.0 / requests.max(1) as f64
    );

    if args.baseline_records > 0 {
        let rate = baseline::run(
            &kafka,
            &format!("http://{addr}/baseline"),
            SECRET,
            args.baseline_records,
        )
        .await?;
        println!(
            "\n## Bare minimum (consume, sign, POST, commit), {} records\n",
            args.baseline_records
        );
        println!("| events/s | this run's offered rate as a fraction of it |");
        println!("| --- | --- |");
        println!("| {rate:.0} | {:.1} % |", 100.0 * args.rate as f64 / rate);
    }
    Ok(())
}
