//! The bare minimum a webhook sender does per event, on the same broker and receiver: consume
//! a record, sign its body, POST it, commit. No join, no fan-out, no retries, no log: the
//! ceiling the pipeline's rate is compared with.

use futures::stream::{FuturesUnordered, StreamExt};
use hookline_config::TopicSpec;
use hookline_kafka::admin::ensure_topics;
use hookline_kafka::KafkaSettings;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use std::time::{Duration, Instant};

/// Returns the events/s the bare minimum achieved for `records` records.
pub async fn run(kafka: &KafkaSettings, url: &str, secret: &str, records: u64) -> anyhow::Result<f64> {
    let topic = format!("{}baseline", kafka.topics.prefix);
    ensure_topics(
        kafka,
        &[TopicSpec {
            name: topic.clone(),
            partitions: Some(kafka.partitions),
            compacted: false,
        }],
    )
    .await?;
    let producer: FutureProducer = kafka
        .client(&[("linger.ms", "5"), ("compression.type", "lz4")])
        .create()?;
    let mut sends = FuturesUnordered::new();
    for i in 0..records {
        let body = format!(r#"{{"message_id":"b{i}","status":"DELIVRD","status_code":"000"}}"#);
        let key = format!("k{}", i % 64);
        sends.push(
            producer
                .send_result(FutureRecord::to(&topic).key(&key).payload(&body))
                .map_err(|(e, _)| e)?,
        );
        if sends.len() >= 10_000 {
            sends.next().await;
        }
    }
    while sends.next().await.is_some() {}

    let consumer: StreamConsumer = kafka
        .client(&[
            ("group.id", &format!("{topic}-group")),
            ("auto.offset.reset", "earliest"),
            ("enable.auto.commit", "true"),
            ("enable.auto.offset.store", "true"),
        ])
        .create()?;
    consumer.subscribe(&[&topic])?;
    let http = reqwest::Client::new();
    let secret = secret.as_bytes().to_vec();
    let mut in_flight = FuturesUnordered::new();
    let mut done = 0u64;
    let mut started = None;
    while done < records {
        tokio::select! {
            Some(r) = in_flight.next(), if !in_flight.is_empty() => {
                let _: Result<reqwest::Response, reqwest::Error> = r;
                done += 1;
            }
            m = consumer.recv(), if in_flight.len() < 512 => {
                let m = m?;
                started.get_or_insert_with(Instant::now);
                let body = m.payload().unwrap_or_default().to_vec();
                let ts = chrono::Utc::now().timestamp().to_string();
                let sig = hookline_security::sign(&secret, &ts, &body);
                in_flight.push(
                    http.post(url)
                        .header("content-type", "application/json")
                        .header("x-webhook-timestamp", ts)
                        .header("x-webhook-signature", sig)
                        .body(body)
                        .timeout(Duration::from_secs(5))
                        .send(),
                );
            }
        }
    }
    consumer.commit_consumer_state(CommitMode::Sync)?;
    let secs = started.map(|s| s.elapsed().as_secs_f64()).unwrap_or(f64::NAN);
    Ok(records as f64 / secs)
}
