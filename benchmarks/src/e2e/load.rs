//! The load the benchmark sends: accepted messages, DLRs and clicks for them, and the
//! records parked in the 1 h retry tier (scenario c).

use futures::stream::{FuturesUnordered, StreamExt};
use hookline_kafka::KafkaSettings;
use hookline_model::*;
use rdkafka::producer::{FutureProducer, FutureRecord};
use std::time::{Duration, Instant};

pub(crate) async fn send_messages(
    producer: &FutureProducer,
    kafka: &KafkaSettings,
    workspaces: &[String],
    ids: &[u64],
    carrier_id: &impl Fn(u64) -> String,
    message_id: &impl Fn(u64) -> String,
) {
    let topic = kafka.topics.accepted();
    let mut pending = FuturesUnordered::new();
    let slow = workspaces.iter().any(|w| w == "slow");
    let healthy = if slow {
        &workspaces[..workspaces.len() - 1]
    } else {
        workspaces
    };
    for &i in ids {
        let ws = if slow && is_slow(i) {
            "slow"
        } else {
            healthy[(i % healthy.len() as u64) as usize].as_str()
        };
        let m = serde_json::json!({
            "message_id": message_id(i), "carrier_message_id": carrier_id(i), "workspace_id": ws,
            "recipient": recipient(i), "sender_id": "Bench", "num_parts": 1, "cost": 0.0085,
            "broadcast_id": "b-1", "accepted_at": chrono::Utc::now(),
        })
        .to_string();
        let key = carrier_id(i);
        let record = FutureRecord::to(&topic).key(&key).payload(&m);
        pending.push(producer.send_result(record).map_err(|(e, _)| e).expect("enqueue"));
        if pending.len() >= 10_000 {
            pending.next().await;
        }
    }
    while pending.next().await.is_some() {}
}

/// Waits (at most two minutes) until `group` has committed the end of every partition of
/// `topic`.
pub(crate) async fn wait_consumed(kafka: &KafkaSettings, group: &str, topic: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let behind = hookline_kafka::admin::group_lag(kafka, group, topic).await?;
        if behind == 0 {
            return Ok(());
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "{topic}: {behind} records not consumed after 2 min"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

pub(crate) async fn send_dlr(producer: &FutureProducer, kafka: &KafkaSettings, carrier_id: &str) {
    let payload = dlr_json(carrier_id);
    let topic = kafka.topics.carrier_dlr();
    let record = FutureRecord::to(&topic).key(carrier_id).payload(&payload);
    let _ = producer.send(record, Duration::from_secs(10)).await;
}

pub(crate) fn dlr_json(carrier_id: &str) -> String {
    format!(r#"{{"carrier_message_id":"{carrier_id}","status":"DELIVRD","status_code":"000"}}"#)
}

/// A human click on message `i`'s broadcast link.
pub(crate) fn click_json(run: &str, i: u64, message_id: &str) -> String {
    serde_json::json!({
        "click_id": format!("{run}-k{i}"), "short_url": "https://hkl.ink/b1", "message_id": message_id,
        "broadcast_id": "b-1", "recipient": recipient(i), "link_type": "broadcast",
        "user_agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X)", "ip": "203.0.113.7",
    })
    .to_string()
}

/// Each message its own recipient, so each click is its recipient's first.
pub(crate) fn recipient(i: u64) -> String {
    format!("+1415{:07}", i % 10_000_000)
}

/// Scenario (b): every 10th event goes to the slow endpoint.
pub(crate) fn is_slow(i: u64) -> bool {
    i % 10 == 5
}

/// Scenario (c): `n` events waiting in the 1 h retry tier (attempt 2, due in an hour), spread
/// over the endpoints; delivery must hold at most a bounded number of them in memory.
pub(crate) async fn park(
    producer: &FutureProducer,
    kafka: &KafkaSettings,
    subs: &[Subscription],
    n: u64,
) -> anyhow::Result<()> {
    let started = Instant::now();
    let topic = kafka.topics.retry_tier(3600);
    let due = (chrono::Utc::now() + chrono::Duration::hours(1))
        .timestamp_millis()
        .to_string();
    let mut pending = FuturesUnordered::new();
    for i in 0..n {
        let sub = &subs[(i % subs.len() as u64) as usize];
        let message_id = format!("parked-{i}");
        let sample = hookline_model::sample::Sample {
            message_id: &message_id,
            sender_id: "Bench",
            at: chrono::Utc::now(),
            ..Default::default()
        };
        let event = Event::sample_of(EventKind::Delivery, &sub.workspace_id, sample);
        let d = Dispatch::new(event, sub, 1);
        let payload = serde_json::to_vec(&d)?;
        let key = sub.endpoint_key();
        let headers = rdkafka::message::OwnedHeaders::new()
            .insert(rdkafka::message::Header {
                key: "hookline-attempt",
                value: Some(b"2".as_slice()),
            })
            .insert(rdkafka::message::Header {
                key: "hookline-due-at-ms",
                value: Some(due.as_bytes()),
            });
        let record = FutureRecord::to(&topic).key(&key).payload(&payload).headers(headers);
        pending.push(producer.send_result(record).map_err(|(e, _)| e)?);
        if pending.len() >= 10_000 {
            pending.next().await;
        }
    }
    while pending.next().await.is_some() {}
    eprintln!("parked {n} events in {topic} in {:?}", started.elapsed());
    Ok(())
}
