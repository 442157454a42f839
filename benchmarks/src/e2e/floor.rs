//! The topology floor: the pipeline's four hops with none of Hookline's work in them.
//!
//! `e2e --floor` runs the same load, receiver, timing and CPU accounting as a pipeline run,
//! but in place of the four services it starts four *floor stages* (this binary with
//! `--floor-stage NAME`), each one process with Hookline's own consume loop ([`Pump`]),
//! consumer and producer settings, reading and writing the same topics:
//!
//! | stage | consumes | does | produces |
//! | --- | --- | --- | --- |
//! | ingest | carrier DLRs, link clicks | nothing | `dlr`, `clicks` (the same bytes) |
//! | enrich | `dlr`, `clicks` | reads the id (a DLR's message id is derived from its carrier id, no Redis) | `dispatch`, one small JSON per event |
//! | delivery | `dispatch` | signs and POSTs it (the same HTTP client settings) | `attempts`, the body and the status |
//! | api | `attempts` | nothing (no Redis) | — |
//!
//! What it costs and how fast it keeps up is what the broker, the clients and the harness
//! cost on this machine for this topology: a bound below which no service code can bring the
//! pipeline, measured with the same definition of "kept up".

use hookline_kafka::{Handled, KafkaMetrics, KafkaSettings, Pump};
use hookline_telemetry::Runtime;
use rdkafka::message::{Message, OwnedMessage};
use std::sync::Arc;
use std::time::Duration;

/// Runs floor stage `name` until killed.
pub async fn run_stage(
    name: &str,
    brokers: &str,
    prefix: &str,
    partitions: i32,
    target: &str,
    kafka_options: &str,
    secret: &str,
) -> anyhow::Result<()> {
    let mut kafka = KafkaSettings::new(brokers, prefix);
    kafka.partitions = partitions;
    // `--kafka-options`, as a service takes `HOOKLINE_KAFKA_OPTIONS`: a tuning is measured on
    // the floor with the same settings as on the pipeline.
    kafka.options = kafka_options
        .split(',')
        .filter(|o| !o.trim().is_empty())
        .map(|o| {
            o.split_once('=')
                .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                .ok_or_else(|| anyhow::anyhow!("kafka option `{o}` is not key=value"))
        })
        .collect::<anyhow::Result<_>>()?;
    let rt = Runtime::new(tokio_util::sync::CancellationToken::new(), Duration::from_secs(5));
    let metrics = KafkaMetrics::new(&rt.registry, name);
    let producer = kafka.producer()?.instrumented(&metrics);
    let t = &kafka.topics;
    let group = format!("{prefix}floor-{name}");
    match name {
        "ingest" => {
            let (dlr_in, clicks_in) = (t.carrier_dlr(), t.link_clicks());
            let (dlr, clicks) = (Arc::new(t.dlr()), Arc::new(t.clicks()));
            let consumer = kafka.consumer(&group, &[&dlr_in, &clicks_in], &metrics)?;
            Pump::new(name, 2048, &rt, &metrics)
                .run(&consumer, |m: OwnedMessage| {
                    let out = if m.topic() == dlr_in {
                        dlr.clone()
                    } else {
                        clicks.clone()
                    };
                    let producer = producer.clone();
                    async move { producer.send(&out, m.key(), m.payload(), &[]).await.into() }
                })
                .await?;
        }
        "enrich" => {
            let dispatch = Arc::new(t.dispatch());
            let consumer = kafka.consumer(&group, &[&t.dlr(), &t.clicks()], &metrics)?;
            Pump::new(name, 2048, &rt, &metrics)
                .run(&consumer, |m: OwnedMessage| {
                    let (dispatch, producer) = (dispatch.clone(), producer.clone());
                    async move {
                        let Some(id) = event_id(m.payload().unwrap_or_default()) else {
                            return Handled::Done;
                        };
                        // One endpoint per message, as the pipeline's workspaces spread them.
                        let endpoint = id.bytes().map(u64::from).sum::<u64>() % 16;
                        let body = format!(r#"{{"message_id":"{id}","status":"DELIVRD","endpoint":"ws{endpoint}"}}"#);
                        let key = format!("ws{endpoint}");
                        producer
                            .send(&dispatch, Some(key.as_bytes()), Some(body.as_bytes()), &[])
                            .await
                            .into()
                    }
                })
                .await?;
        }
        "delivery" => {
            let attempts = Arc::new(t.attempts());
            let consumer = kafka.consumer(&group, &[&t.dispatch()], &metrics)?;
            let http = reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .pool_idle_timeout(Duration::from_secs(60))
                .pool_max_idle_per_host(256)
                .tcp_nodelay(true)
                .no_proxy()
                .build()?;
            let (target, secret) = (Arc::new(target.to_string()), Arc::new(secret.as_bytes().to_vec()));
            // As many requests in flight as the pool keeps idle connections (the pipeline's
            // 16 endpoints × 16 concurrent requests), so the floor does not pay for connections
            // the pipeline would not open.
            Pump::new(name, 256, &rt, &metrics)
                .run(&consumer, |m: OwnedMessage| {
                    let (attempts, producer, http) = (attempts.clone(), producer.clone(), http.clone());
                    let (target, secret) = (target.clone(), secret.clone());
                    async move {
                        let body = m.payload().unwrap_or_default().to_vec();
                        let endpoint = m.key().map(String::from_utf8_lossy).unwrap_or_default().into_owned();
                        let ts = chrono::Utc::now().timestamp().to_string();
                        let sig = hookline_security::sign(&secret, &ts, &body);
                        let status = http
                            .post(format!("{target}/{endpoint}/0"))
                            .header("content-type", "application/json")
                            .header("x-webhook-timestamp", ts)
                            .header("x-webhook-signature", sig)
                            .body(body.clone())
                            .timeout(Duration::from_secs(5))
                            .send()
                            .await
                            .map(|r| r.status().as_u16())
                            .unwrap_or(0);
                        let record = format!(
                            r#"{{"status":{status},"body":{}}}"#,
                            serde_json::Value::String(String::from_utf8_lossy(&body).into_owned())
                        );
                        producer
                            .send(&attempts, m.key(), Some(record.as_bytes()), &[])
                            .await
                            .into()
                    }
                })
                .await?;
        }
        "api" => {
            let consumer = kafka.consumer(&group, &[&t.attempts()], &metrics)?;
            Pump::new(name, 512, &rt, &metrics)
                .run(&consumer, |_m: OwnedMessage| async { Handled::Done })
                .await?;
        }
        other => anyhow::bail!("no floor stage {other}"),
    }
    Ok(())
}

/// The message id a DLR or click refers to: a click carries it; a DLR carries the carrier's
/// id `<run>-c<i>`, whose message is `<run>-m<i>` (the join enrich does in Redis).
fn event_id(payload: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(payload).ok()?;
    if let Some(id) = v["message_id"].as_str() {
        return Some(id.to_string());
    }
    let carrier = v["carrier_message_id"].as_str()?;
    let (run, i) = carrier.rsplit_once("-c")?;
    Some(format!("{run}-m{i}"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_dlr_maps_to_its_message_and_a_click_keeps_its_own() {
        assert_eq!(
            super::event_id(br#"{"carrier_message_id":"bench1-c42"}"#).as_deref(),
            Some("bench1-m42")
        );
        assert_eq!(
            super::event_id(br#"{"message_id":"bench1-m7","click_id":"x"}"#).as_deref(),
            Some("bench1-m7")
        );
        assert_eq!(super::event_id(b"not json"), None);
    }
}
