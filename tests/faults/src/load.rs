//! The load: accepted messages and their carrier DLRs, produced through the test's own
//! idempotent producer (`acks=all`, retried for up to two minutes), so a broker outage delays
//! the load without losing any of it.

use futures::stream::{FuturesUnordered, StreamExt};
use hookline_kafka::{KafkaSettings, Producer};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Message `i` of run `run`: its gateway id and its carrier id.
pub fn message_id(run: &str, i: u64) -> String {
    format!("{run}-m{i}")
}

pub fn carrier_id(run: &str, i: u64) -> String {
    format!("{run}-c{i}")
}

/// Produces the accepted message of every `i` in `ids` (workspace `workspace(i)`), as fast
/// as the producer takes them.
pub async fn accepted_messages(
    kafka: &KafkaSettings,
    run: &str,
    ids: std::ops::Range<u64>,
    workspace: impl Fn(u64) -> String,
) -> anyhow::Result<()> {
    let producer = kafka.producer()?;
    let topic = kafka.topics.accepted();
    let mut pending = FuturesUnordered::new();
    for i in ids {
        let m = serde_json::json!({
            "message_id": message_id(run, i), "carrier_message_id": carrier_id(run, i),
            "workspace_id": workspace(i), "recipient": recipient(i),
            "sender_id": "Faults", "num_parts": 1, "cost": 0.0085, "broadcast_id": "b-1",
            "accepted_at": chrono::Utc::now(),
        });
        pending.push(send(producer.clone(), topic.clone(), carrier_id(run, i), m.to_string()));
        if pending.len() >= 2_000 {
            pending.next().await.transpose()?;
        }
    }
    while let Some(r) = pending.next().await {
        r?;
    }
    Ok(())
}

/// Produces a DELIVRD carrier DLR for every `i` in `ids`, `rate` per second (open loop:
/// record `i` is due at `start + i / rate`), counting acknowledged records in `acked`.
pub async fn dlrs(
    kafka: &KafkaSettings,
    run: &str,
    ids: std::ops::Range<u64>,
    rate: u64,
    acked: Arc<AtomicU64>,
) -> anyhow::Result<()> {
    let producer = kafka.producer()?;
    let topic = kafka.topics.carrier_dlr();
    let start = tokio::time::Instant::now();
    let first = ids.start;
    let mut pending = FuturesUnordered::new();
    for i in ids {
        tokio::time::sleep_until(start + Duration::from_nanos((i - first) * 1_000_000_000 / rate)).await;
        let c = carrier_id(run, i);
        let dlr = format!(r#"{{"carrier_message_id":"{c}","status":"DELIVRD","status_code":"000"}}"#);
        pending.push(send(producer.clone(), topic.clone(), c, dlr));
        while let Some(Some(r)) = futures::FutureExt::now_or_never(pending.next()) {
            r?;
            acked.fetch_add(1, Ordering::Relaxed);
        }
    }
    while let Some(r) = pending.next().await {
        r?;
        acked.fetch_add(1, Ordering::Relaxed);
    }
    Ok(())
}

/// Produces a human click on the broadcast link of message `i` for every `i` in `ids`, with
/// click id `<run>-k<i><tag>`: clicks of one message with different tags are the same
/// recipient clicking the same broadcast again, which `unique_clicks_only` fires once.
pub async fn clicks(kafka: &KafkaSettings, run: &str, ids: std::ops::Range<u64>, tag: &str) -> anyhow::Result<()> {
    let producer = kafka.producer()?;
    let topic = kafka.topics.link_clicks();
    let mut pending = FuturesUnordered::new();
    for i in ids {
        let click_id = format!("{run}-k{i}{tag}");
        let c = serde_json::json!({
            "click_id": click_id, "short_url": "https://hkl.ink/b1", "message_id": message_id(run, i),
            "broadcast_id": "b-1", "recipient": recipient(i), "link_type": "broadcast",
            "user_agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X)", "ip": "203.0.113.7",
        });
        pending.push(send(producer.clone(), topic.clone(), click_id, c.to_string()));
    }
    while let Some(r) = pending.next().await {
        r?;
    }
    Ok(())
}

/// Message `i`'s recipient.
pub fn recipient(i: u64) -> String {
    format!("+1415{:07}", i % 10_000_000)
}

async fn send(producer: Producer, topic: String, key: String, payload: String) -> anyhow::Result<()> {
    producer
        .send(&topic, Some(key.as_bytes()), Some(payload.as_bytes()), &[])
        .await?;
    Ok(())
}
