//! The mixed load of the reliability campaign: beside the DLRs and unique clicks of
//! [`crate::load`], workspaces of all three dialects, each configured through its own dialect's
//! API, and every other kind of input, so that a fault meets each path through the services.
//!
//! Workspace `wsI` speaks dialect [`dialect`]`(I)` (23 Telecom, SMSEdge, named, in turn) and
//! subscribes, at the receiver paths `/wsI/<path>`, to what its dialect offers:
//!
//! | dialect | `dlr` | `clicks` | `conversions` | `inbound` | `revoke` |
//! | --- | --- | --- | --- | --- | --- |
//! | 23 Telecom (`PUT /api/v1/user/webhooks`, `unique_clicks_only`) | delivery | click, first per recipient | conversion | — | — |
//! | SMSEdge (`POST /v1/user/set-webhook`) | DLR | first click per message | — | inbound | revoke batches |
//! | named (`POST /api/v1/webhooks`) | `SMS_STATUS` | `LINK_HIT` (every click) | — | `SMS_INBOUND` | — |
//!
//! [`SideLoad`] sends what the DLR load does not: inbound SMS and revoked clicks on their
//! Kafka input topics, and conversion postbacks through ingest's `/track`, each postback twice
//! (the second is a duplicate by transaction id) and retried, as a tracker does, until ingest
//! answers `202` — also while ingest is down.
//!
//! [`crate::check::event_key`] reads what a request is about, whatever its dialect's payload
//! shape.

use crate::deployment::{call, create_key, Deployment, SECRET};
use futures::stream::{FuturesUnordered, StreamExt};
use hookline_model::{Dialect, IngestKeyRecord, IngestKind};
use hookline_tests::Receiver;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// The dialect of workspace `i`.
pub fn dialect(i: u64) -> Dialect {
    [Dialect::Telecom23, Dialect::SmsEdge, Dialect::Named][(i % 3) as usize]
}

/// Workspace `i`'s index from its name (`wsI`).
pub fn index(workspace: &str) -> u64 {
    workspace
        .trim_start_matches("ws")
        .parse()
        .expect("a workspace named wsI")
}

/// Configures workspace `ws` through its dialect's API (an API key created by the operator
/// endpoint), with receiver `rx`'s paths `/<ws>/<kind>`.
pub async fn configure(d: &Deployment, rx: &Receiver, ws: &str) -> anyhow::Result<()> {
    let http = reqwest::Client::new();
    let (key, _) = create_key(&http, d, ws).await;
    let url = |kind: &str| rx.url(&format!("/{ws}/{kind}"));
    let auth = ("X-API-Key", key.as_str());
    let calls: Vec<(reqwest::Method, &str, Value)> = match dialect(index(ws)) {
        Dialect::Telecom23 => vec![(
            reqwest::Method::PUT,
            "/api/v1/user/webhooks",
            json!({"delivery_url": url("dlr"), "click_url": url("clicks"), "conversion_url": url("conversions"),
                   "signing_secret": SECRET, "unique_clicks_only": true}),
        )],
        Dialect::SmsEdge => vec![(
            reqwest::Method::POST,
            "/v1/user/set-webhook",
            json!({"dlr_url": url("dlr"), "click_url": url("clicks"), "inbound_url": url("inbound"),
                   "revoke_click_url": url("revoke")}),
        )],
        Dialect::Named => [
            ("dlr", "SMS_STATUS"),
            ("clicks", "LINK_HIT"),
            ("inbound", "SMS_INBOUND"),
        ]
        .into_iter()
        .map(|(kind, t)| {
            (
                reqwest::Method::POST,
                "/api/v1/webhooks",
                json!({"name": format!("{ws} {kind}"), "url": url(kind), "event_types": [t]}),
            )
        })
        .collect(),
        // Not a dialect of message events: `dialect` never picks it.
        Dialect::Operational => vec![],
    };
    for (method, path, body) in calls {
        let (status, v) = call(&http, method, &d.api(path), auth, Some(body)).await;
        anyhow::ensure!((200..300).contains(&status), "{ws}: {path} answered {status}: {v}");
    }
    Ok(())
}

/// How many distinct events the click webhooks of a recipient who clicked their message's
/// broadcast link twice make in workspace `i`: one with 23 Telecom's `unique_clicks_only`, one
/// at SMSEdge (its click webhook is the message record with `clicked: true`, sent for a
/// message's first click), one per click at a named `LINK_HIT` subscription.
pub fn click_events(i: u64) -> usize {
    match dialect(i) {
        Dialect::Telecom23 | Dialect::SmsEdge => 1,
        Dialect::Named => 2,
        Dialect::Operational => 0,
    }
}

/// The inputs of a [`SideLoad`]: ids are `<run>-in<i>` (inbound), `<run>-tx<i>` (conversions)
/// and `9<i>` (revoked messages, numeric as SMSEdge ids are).
pub struct SideSpec {
    /// Inbound SMS, to workspace `i % workspaces`.
    pub inbound: u64,
    /// Revoked clicks, spread over the SMSEdge workspaces.
    pub revocations: u64,
    /// The click ids converted (each postback sent twice) and their messages' workspaces.
    pub conversions: Vec<(String, String)>,
    pub workspaces: u64,
    /// How long the load is spread over.
    pub over: Duration,
}

/// What a side load expects the receivers to get: per kind, each key's count of distinct
/// events.
#[derive(Debug, Default)]
pub struct Expected {
    pub inbound: HashMap<String, usize>,
    pub conversions: HashMap<String, usize>,
    pub revoked: HashMap<String, usize>,
}

/// Counts of a side load's inputs that were retried (the edge refused or was down).
#[derive(Debug, Default)]
pub struct SideFigures {
    pub postbacks: u64,
    pub postback_retries: u64,
}

/// The side load: inbound SMS and revocations produced on their input topics and conversion
/// postbacks sent to ingest's `/track` with an ingest credential of its own, all spread
/// evenly over `spec.over`.
pub struct SideLoad {
    kafka: hookline_kafka::KafkaSettings,
    run: String,
    /// `http://127.0.0.1:<ingest port>`.
    ingest: String,
    token: String,
}

impl SideLoad {
    /// What `spec` will make the receivers get.
    pub fn expected(run: &str, spec: &SideSpec) -> Expected {
        let mut e = Expected::default();
        for i in 0..spec.inbound {
            if dialect(i % spec.workspaces) != Dialect::Telecom23 {
                e.inbound.insert(format!("{run}-in{i}"), 1);
            }
        }
        for (n, (_, ws)) in spec.conversions.iter().enumerate() {
            if dialect(index(ws)) == Dialect::Telecom23 {
                e.conversions.insert(format!("{run}-tx{n}"), 1);
            }
        }
        for i in 0..spec.revocations {
            e.revoked.insert(format!("9{i}"), 1);
        }
        e
    }

    /// A side load for `d`: creates its ingest credential (as `hookline admin
    /// create-ingest-key` does) and waits until ingest knows it.
    pub async fn new(d: &Deployment) -> anyhow::Result<Self> {
        let (token, rec) = IngestKeyRecord::generate(None, vec![IngestKind::Conversions], None, None);
        hookline_kafka::ConfigWriter::new(d.kafka.producer()?, d.kafka.topics.config())
            .put_ingest_key(&rec)
            .await?;
        let http = reqwest::Client::new();
        let started = Instant::now();
        loop {
            let r = http.post(d.ingest("/v1/actions")).bearer_auth(&token).send().await;
            if r.is_ok_and(|r| r.status() != 401 && r.status() != 503) {
                return Ok(Self {
                    kafka: d.kafka.clone(),
                    run: d.run.clone(),
                    ingest: d.ingest(""),
                    token,
                });
            }
            anyhow::ensure!(
                started.elapsed() < Duration::from_secs(60),
                "ingest never took the credential"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Runs the load to its end.
    pub async fn run(self, spec: SideSpec) -> anyhow::Result<SideFigures> {
        let producer = self.kafka.producer()?;
        let run = &self.run;
        let smsedge: Vec<u64> = (0..spec.workspaces)
            .filter(|i| dialect(*i) == Dialect::SmsEdge)
            .collect();
        // Every input in one timeline: (due, what).
        enum Input {
            Inbound(u64),
            Revoked(u64),
            Postback(usize),
        }
        let mut timeline: Vec<(Duration, Input)> = vec![];
        let spread = |i: u64, n: u64| spec.over.mul_f64(i as f64 / n.max(1) as f64);
        timeline.extend((0..spec.inbound).map(|i| (spread(i, spec.inbound), Input::Inbound(i))));
        timeline.extend((0..spec.revocations).map(|i| (spread(i, spec.revocations), Input::Revoked(i))));
        let postbacks = spec.conversions.len() as u64 * 2;
        timeline.extend((0..postbacks).map(|p| (spread(p, postbacks), Input::Postback((p / 2) as usize))));
        timeline.sort_by_key(|(due, _)| *due);

        let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build()?;
        let start = tokio::time::Instant::now();
        let mut pending = FuturesUnordered::new();
        let mut figures = SideFigures::default();
        for (due, input) in timeline {
            tokio::time::sleep_until(start + due).await;
            let fut: std::pin::Pin<Box<dyn std::future::Future<Output = anyhow::Result<u64>> + Send>> = match input {
                Input::Inbound(i) => {
                    let ws = format!("ws{}", i % spec.workspaces);
                    let r = json!({"inbound_id": format!("{run}-in{i}"), "workspace_id": ws,
                                   "from": crate::load::recipient(i), "to": "+14155550000", "text": format!("hello {i}"),
                                   "received_at": chrono::Utc::now()});
                    let (producer, topic) = (producer.clone(), self.kafka.topics.sms_inbound());
                    Box::pin(async move {
                        producer
                            .send(&topic, Some(ws.as_bytes()), Some(r.to_string().as_bytes()), &[])
                            .await?;
                        Ok(0)
                    })
                }
                Input::Revoked(i) => {
                    let ws = format!("ws{}", smsedge[(i % smsedge.len() as u64) as usize]);
                    let source = if i % 3 == 0 { "campaign" } else { "api" };
                    let r = json!({"workspace_id": ws, "message_id": format!("9{i}"), "source": source});
                    let (producer, topic) = (producer.clone(), self.kafka.topics.clicks_revoked());
                    Box::pin(async move {
                        producer
                            .send(&topic, Some(ws.as_bytes()), Some(r.to_string().as_bytes()), &[])
                            .await?;
                        Ok(0)
                    })
                }
                Input::Postback(n) => {
                    let (click_id, _) = &spec.conversions[n];
                    let url = format!(
                        "{}/track?click_id={click_id}&event=purchase&value=19.99&currency=usd&transaction_id={run}-tx{n}",
                        self.ingest
                    );
                    Box::pin(postback(http.clone(), url, self.token.clone()))
                }
            };
            pending.push(fut);
            while let Some(Some(r)) = futures::FutureExt::now_or_never(pending.next()) {
                figures.postback_retries += r?;
            }
        }
        while let Some(r) = pending.next().await {
            figures.postback_retries += r?;
        }
        figures.postbacks = postbacks;
        Ok(figures)
    }
}

/// Sends one postback until ingest answers `202`, as a tracker retries a failed one (ingest
/// down, or Kafka unavailable); the number of retries. Anything else is an error.
async fn postback(http: reqwest::Client, url: String, token: String) -> anyhow::Result<u64> {
    let started = Instant::now();
    let mut retries = 0;
    loop {
        match http.get(&url).bearer_auth(&token).send().await {
            Ok(r) if r.status() == 202 => return Ok(retries),
            Ok(r) if r.status() != 503 => anyhow::bail!("{url}: {}", r.status()),
            _ => {}
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(180),
            "{url}: ingest never took it"
        );
        retries += 1;
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
