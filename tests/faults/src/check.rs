//! What every fault test asserts about the receivers' requests: every expected event arrived
//! (by the gateway message id in its body), and an event that arrived more than once always
//! carried the same `X-Webhook-Id` (a redelivery, never a second event).

use hookline_tests::Received;
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

/// Counts over one run's requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivered {
    /// Distinct events received.
    pub events: usize,
    /// Requests received (events plus redeliveries).
    pub requests: usize,
}

impl Delivered {
    pub fn duplicates(&self) -> usize {
        self.requests - self.events
    }
}

/// The message id a 23 Telecom delivery webhook is about.
pub fn message_id(r: &Received) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(&r.body).ok()?;
    v.get("message_id")?.as_str().map(str::to_string)
}

/// Checks `requests` against `expected` message ids: each arrived, only expected ones arrived,
/// and every redelivery of one carried its first delivery's `X-Webhook-Id`.
pub fn by_message_id(requests: &[Received], expected: &HashSet<String>) -> anyhow::Result<Delivered> {
    let mut ids: HashMap<String, HashSet<String>> = HashMap::new();
    for r in requests {
        let m = message_id(r).ok_or_else(|| anyhow::anyhow!("a request without a message id: {r:?}"))?;
        let w = r
            .header("x-webhook-id")
            .ok_or_else(|| anyhow::anyhow!("a request without X-Webhook-Id"))?;
        ids.entry(m).or_default().insert(w.to_string());
    }
    let unexpected: Vec<&String> = ids.keys().filter(|m| !expected.contains(*m)).take(5).collect();
    anyhow::ensure!(unexpected.is_empty(), "unexpected events, e.g. {unexpected:?}");
    let missing: Vec<&String> = expected.iter().filter(|m| !ids.contains_key(*m)).collect();
    anyhow::ensure!(
        missing.is_empty(),
        "{} of {} events never arrived, e.g. {:?}",
        missing.len(),
        expected.len(),
        missing.iter().take(5).collect::<Vec<_>>()
    );
    let twice: Vec<(&String, &HashSet<String>)> = ids.iter().filter(|(_, w)| w.len() > 1).take(5).collect();
    anyhow::ensure!(twice.is_empty(), "events delivered under two webhook ids: {twice:?}");
    Ok(Delivered {
        events: ids.len(),
        requests: requests.len(),
    })
}

/// Waits until every expected message id has arrived at `rx` (or `timeout`).
pub async fn wait_all(rx: &hookline_tests::Receiver, expected: &HashSet<String>, timeout: Duration) -> Duration {
    let started = Instant::now();
    while started.elapsed() < timeout {
        let seen: HashSet<String> = rx.requests().iter().filter_map(message_id).collect();
        if expected.iter().all(|m| seen.contains(m)) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    started.elapsed()
}

/// The sum, in Prometheus text, of the series of metric `name` that carry every label pair
/// of `labels` (whatever their other labels and their order); 0 when none does.
pub fn sum(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let rest = l.strip_prefix(name)?;
            let (series, value) = rest.rsplit_once(' ')?;
            let series_labels = match series.strip_prefix('{') {
                Some(inner) => inner.strip_suffix('}')?,
                None if series.is_empty() => "",
                None => return None, // another metric whose name starts with `name`
            };
            let pairs: Vec<&str> = series_labels.split(',').collect();
            labels
                .iter()
                .all(|(k, v)| pairs.contains(&format!("{k}=\"{v}\"").as_str()))
                .then(|| value.parse::<f64>().ok())
                .flatten()
        })
        .sum()
}

/// Records in `topic` (sum of high minus low watermarks over its partitions).
pub fn topic_records(brokers: &str, topic: &str) -> anyhow::Result<i64> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let c: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()?;
    let md = c.fetch_metadata(Some(topic), Duration::from_secs(10))?;
    let t = md
        .topics()
        .iter()
        .find(|t| t.name() == topic)
        .ok_or_else(|| anyhow::anyhow!("no topic {topic}"))?;
    let mut n = 0;
    for p in t.partitions() {
        let (lo, hi) = c.fetch_watermarks(topic, p.id(), Duration::from_secs(10))?;
        n += hi - lo;
    }
    Ok(n)
}

/// The busiest one-second window of `times` (sorted or not): the most requests that fell
/// within any one second.
pub fn busiest_second(times: &[Instant]) -> usize {
    let mut t = times.to_vec();
    t.sort();
    let mut best = 0;
    let mut lo = 0;
    for hi in 0..t.len() {
        while t[hi].duration_since(t[lo]) >= Duration::from_secs(1) {
            lo += 1;
        }
        best = best.max(hi - lo + 1);
    }
    best
}

/// One record read back from a topic.
pub struct Record {
    pub headers: Vec<(String, Vec<u8>)>,
    pub payload: Option<Vec<u8>>,
}

impl Record {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .and_then(|(_, v)| std::str::from_utf8(v).ok())
    }
}

/// Every record of `topic`, all partitions, from the log start to the high watermark seen at
/// the call (committed records only).
pub fn read_all(brokers: &str, topic: &str) -> anyhow::Result<Vec<Record>> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::message::{Headers, Message};
    let c: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", hookline_tests::unique("reader"))
        .set("enable.auto.commit", "false")
        .set("isolation.level", "read_committed")
        .create()?;
    let md = c.fetch_metadata(Some(topic), Duration::from_secs(10))?;
    let parts: Vec<i32> = md
        .topics()
        .iter()
        .find(|t| t.name() == topic)
        .map(|t| t.partitions().iter().map(|p| p.id()).collect())
        .unwrap_or_default();
    let mut tpl = rdkafka::TopicPartitionList::new();
    let mut ends = HashMap::new();
    for p in parts {
        let (lo, hi) = c.fetch_watermarks(topic, p, Duration::from_secs(10))?;
        if hi > lo {
            tpl.add_partition_offset(topic, p, rdkafka::Offset::Offset(lo))?;
            ends.insert(p, hi);
        }
    }
    c.assign(&tpl)?;
    let mut out = vec![];
    let deadline = Instant::now() + Duration::from_secs(60);
    // Transaction markers take offsets but are never returned: a partition is done once the
    // consumer's position reaches its end.
    while !ends.is_empty() {
        anyhow::ensure!(Instant::now() < deadline, "{topic} not read to its end");
        if let Some(m) = c.poll(Duration::from_millis(100)) {
            let m = m?;
            out.push(Record {
                headers: m
                    .headers()
                    .map(|h| {
                        h.iter()
                            .map(|h| (h.key.to_string(), h.value.unwrap_or_default().to_vec()))
                            .collect()
                    })
                    .unwrap_or_default(),
                payload: m.payload().map(<[u8]>::to_vec),
            });
        }
        let positions = c.position()?;
        ends.retain(|p, end| {
            positions
                .find_partition(topic, *p)
                .and_then(|e| match e.offset() {
                    rdkafka::Offset::Offset(o) => Some(o < *end),
                    _ => None,
                })
                .unwrap_or(true)
        });
    }
    Ok(out)
}
