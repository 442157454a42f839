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

/// `N requests, D duplicates (same X-Webhook-Id)`, as the `FIGURES` lines print it.
impl std::fmt::Display for Delivered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} requests, {} duplicates (same X-Webhook-Id)",
            self.requests,
            self.duplicates()
        )
    }
}

/// The body of a webhook as JSON: the body itself, or SMSEdge's form field `sms`.
pub fn body(r: &Received) -> Option<serde_json::Value> {
    if r.header("content-type")
        .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"))
    {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(&r.body).ok()?;
        let sms = pairs.into_iter().find(|(k, _)| k == "sms")?.1;
        serde_json::from_str(&sms).ok()
    } else {
        serde_json::from_slice(&r.body).ok()
    }
}

/// What a receiver path carries: its last segment (`dlr`, `clicks`, `conversions`, `inbound`,
/// `revoke` in a mixed load; a workspace's name for a plain DLR subscription).
pub fn path_kind(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or_default()
}

/// The first of `pointers` present in `v`, a string or a number as a string.
fn first(v: &serde_json::Value, pointers: &[&str]) -> Option<String> {
    pointers.iter().find_map(|p| match v.pointer(p)? {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    })
}

/// What one webhook request is about, by its path's kind and whatever its dialect: the
/// transaction id of a conversion, the inbound id of an inbound SMS, and otherwise the gateway
/// message id of a delivery, status or click webhook (23 Telecom `message_id`, SMSEdge `id`,
/// named `data.message_ref` or `data.source_message.message_ref`). Revoke batches carry many
/// ids: see [`revoked_ids`].
pub fn event_key(r: &Received) -> Option<String> {
    let v = body(r)?;
    // The named envelope is the only payload with a `data` object.
    let named = v.get("data").is_some_and(serde_json::Value::is_object);
    match (path_kind(&r.path), named) {
        ("conversions", _) => first(&v, &["/transaction_id"]),
        ("inbound", true) => first(&v, &["/data/inbound_id"]),
        ("inbound", false) => first(&v, &["/inbound_id", "/id"]),
        (_, true) => first(&v, &["/data/message_ref", "/data/source_message/message_ref"]),
        (_, false) => first(&v, &["/message_id", "/id"]),
    }
}

/// The message ids of an SMSEdge revoke batch (`api_sms_ids` and `campaign_sms_ids`).
pub fn revoked_ids(r: &Received) -> Vec<String> {
    let Some(v) = body(r) else { return vec![] };
    ["api_sms_ids", "campaign_sms_ids"]
        .iter()
        .flat_map(|f| v[*f].as_array().cloned().unwrap_or_default())
        .filter_map(|x| first(&serde_json::json!([x]), &["/0"]))
        .collect()
}

/// Checks `requests` against `expected` message ids: each arrived, only expected ones arrived,
/// and every redelivery of one carried its first delivery's `X-Webhook-Id`.
pub fn by_message_id(requests: &[Received], expected: &HashSet<String>) -> anyhow::Result<Delivered> {
    let once = expected.iter().map(|m| (m.clone(), 1)).collect();
    by_key(requests, &once)
}

/// Checks `requests` against `expected` event keys ([`event_key`]) and how many distinct
/// events each key makes (two clicks of one recipient are two events about one message): each
/// key arrived as exactly that many `X-Webhook-Id`s, and nothing else arrived. A request
/// repeating a webhook id is a redelivery.
pub fn by_key(requests: &[Received], expected: &HashMap<String, usize>) -> anyhow::Result<Delivered> {
    by_key_superseded(requests, expected, &HashMap::new())
}

/// [`by_key`], where the webhook ids in `superseded` (per key: statuses delivery's status
/// ordering rightly skipped, see [`crate::statuses`]) count towards their key's events
/// without arriving. A superseded id that arrived anyway, or any other shortfall, fails.
pub fn by_key_superseded(
    requests: &[Received],
    expected: &HashMap<String, usize>,
    superseded: &HashMap<String, HashSet<String>>,
) -> anyhow::Result<Delivered> {
    let ids = webhook_ids(requests)?;
    let unexpected: Vec<&String> = ids.keys().filter(|m| !expected.contains_key(*m)).take(5).collect();
    anyhow::ensure!(unexpected.is_empty(), "unexpected events, e.g. {unexpected:?}");
    let missing: Vec<&String> = expected.keys().filter(|m| !ids.contains_key(*m)).collect();
    anyhow::ensure!(
        missing.is_empty(),
        "{} of {} events never arrived, e.g. {:?}",
        missing.len(),
        expected.len(),
        missing.iter().take(5).collect::<Vec<_>>()
    );
    let none = HashSet::new();
    let wrong: Vec<(&String, &HashSet<String>, &HashSet<String>)> = ids
        .iter()
        .map(|(m, w)| (m, w, superseded.get(m).unwrap_or(&none)))
        .filter(|(m, w, s)| w.len() + s.len() != expected[*m] || !w.is_disjoint(s))
        .take(5)
        .collect();
    anyhow::ensure!(
        wrong.is_empty(),
        "events delivered under another number of webhook ids than expected \
         (key, expected, webhook ids arrived, webhook ids superseded): {:?}",
        wrong
            .iter()
            .map(|(m, w, s)| (m, expected[*m], w, s))
            .collect::<Vec<_>>()
    );
    Ok(Delivered {
        events: ids.values().map(HashSet::len).sum(),
        requests: requests.len(),
    })
}

/// Each event key's distinct `X-Webhook-Id`s among `requests`.
pub fn webhook_ids(requests: &[Received]) -> anyhow::Result<HashMap<String, HashSet<String>>> {
    let mut ids: HashMap<String, HashSet<String>> = HashMap::new();
    for r in requests {
        let m = event_key(r).ok_or_else(|| anyhow::anyhow!("a request without an event key: {r:?}"))?;
        let w = r
            .header("x-webhook-id")
            .ok_or_else(|| anyhow::anyhow!("a request without X-Webhook-Id"))?;
        ids.entry(m).or_default().insert(w.to_string());
    }
    Ok(ids)
}

/// The keys of `expected` that have not arrived under their number of webhook ids yet.
pub fn short_keys(requests: &[Received], expected: &HashMap<String, usize>) -> HashSet<String> {
    let ids = webhook_ids(requests).unwrap_or_default();
    expected
        .iter()
        .filter(|(k, n)| ids.get(*k).map_or(0, HashSet::len) < **n)
        .map(|(k, _)| k.clone())
        .collect()
}

/// Waits until `requests()` hold every expected event of `expected` (as [`by_key`] counts
/// them: each key under its number of distinct webhook ids), or `timeout`; the time waited.
pub async fn wait_events(
    requests: impl Fn() -> Vec<Received>,
    expected: &HashMap<String, usize>,
    timeout: Duration,
) -> Duration {
    let started = Instant::now();
    let want: usize = expected.values().sum();
    while started.elapsed() < timeout {
        let seen: HashSet<(String, String)> = requests()
            .iter()
            .filter_map(|r| Some((event_key(r)?, r.header("x-webhook-id")?.to_string())))
            .filter(|(k, _)| expected.contains_key(k))
            .collect();
        if seen.len() >= want {
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
