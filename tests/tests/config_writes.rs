//! Review finding 28.7: an acknowledged configuration write is a stored one, on every broker.
//! The API answers a write only once its own config follower has read it back in the config
//! topic's order, where workspace records apply with a version check; a write that lost a race
//! with another replica is made again on the newer config. So sequential and parallel bursts of
//! creates, through one API or two, in the embedded mode (librdkafka's mock cluster) and on
//! Apache Kafka: every `201` is readable at once, the named-subscription limit is never
//! acknowledged past, and (Kafka) all of it survives a restart.

use hookline::Service;
use hookline_model::Permission::{WebhooksRead as R, WebhooksWrite as W};
use hookline_tests::{test_settings, unique, TestPipeline};
use serde_json::{json, Value};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

const HOOKS: &str = "/api/v1/webhooks";
/// The default `HOOKLINE_MAX_SUBSCRIPTIONS_PER_WORKSPACE`.
const LIMIT: usize = 50;

/// An API to write through: its base URL and the workspace key.
#[derive(Clone)]
struct Api {
    base: String,
    key: String,
    http: reqwest::Client,
}

impl Api {
    async fn create(&self, n: usize) -> (u16, Value) {
        let body =
            json!({"name": format!("burst {n}"), "url": "http://127.0.0.1:9/hook", "event_types": ["SMS_STATUS"]});
        let r = self
            .http
            .post(format!("{}{HOOKS}", self.base))
            .header("X-API-Key", &self.key)
            .json(&body)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .header("X-API-Key", &self.key)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
    }

    /// Every named subscription id the API lists.
    async fn listed(&self) -> Vec<String> {
        let (s, v) = self.get(&format!("{HOOKS}?limit=250")).await;
        assert_eq!(s, 200, "{v}");
        assert!(v["next_cursor"].is_null(), "one page holds them all");
        let mut ids: Vec<String> = v["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["id"].as_str().unwrap().to_string())
            .collect();
        ids.sort();
        ids
    }
}

/// What a burst's answers were: the created ids, and how many were refused at the limit.
#[derive(Default)]
struct Outcome {
    created: Vec<String>,
    at_limit: usize,
}

impl Outcome {
    fn take(&mut self, (status, body): (u16, Value)) {
        match status {
            201 => self.created.push(body["id"].as_str().unwrap().to_string()),
            400 if body["error_code"] == "SUBSCRIPTION_LIMIT" => self.at_limit += 1,
            other => panic!("a create answered {other}: {body}"),
        }
    }
}

/// `sequential` creates one after the other through `apis[0]`, then `parallel` at once spread
/// over `apis`; then every created id is readable through every API, the listing is exactly the
/// created ids, and no more than [`LIMIT`] were acknowledged.
async fn burst(apis: &[Api], sequential: usize, parallel: usize) -> Vec<String> {
    let mut out = Outcome::default();
    for n in 0..sequential {
        out.take(apis[0].create(n).await);
    }
    let calls: Vec<_> = (0..parallel)
        .map(|n| {
            let api = apis[n % apis.len()].clone();
            tokio::spawn(async move { api.create(sequential + n).await })
        })
        .collect();
    for c in calls {
        out.take(c.await.unwrap());
    }
    let total = sequential + parallel;
    assert_eq!(
        out.created.len(),
        total.min(LIMIT),
        "{} created, {} refused at the limit, of {total}",
        out.created.len(),
        out.at_limit
    );
    assert_eq!(out.at_limit, total.saturating_sub(LIMIT));
    out.created.sort();
    for api in apis {
        for id in &out.created {
            let (s, v) = api.get(&format!("{HOOKS}/{id}")).await;
            assert_eq!(
                s, 200,
                "a created subscription is readable at once through {}: {v}",
                api.base
            );
        }
        assert_eq!(api.listed().await, out.created, "through {}", api.base);
    }
    out.created
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_mode_stores_every_acknowledged_write_and_holds_the_limit() {
    let shutdown = CancellationToken::new();
    let settings = test_settings(&unique("cfgw"), &[]);
    let emb = hookline::embedded::start(settings, shutdown.clone()).await.unwrap();
    emb.pipeline.config.wait_caught_up().await;
    let api = Api {
        base: format!("http://{}", emb.pipeline.api_addr.unwrap()),
        key: emb.api_key.clone(),
        http: reqwest::Client::new(),
    };
    // The review's bursts: 40 sequential (31 were stored), then 60 parallel against the
    // limit of 50 (59-60 acknowledged, 44-50 stored).
    burst(std::slice::from_ref(&api), 40, 60).await;
    shutdown.cancel();
    emb.pipeline.wait().await.unwrap();
}

/// Two API replicas on Apache Kafka, writing one workspace at once: the topic's order decides,
/// the loser of each race writes again, and a third API started afterwards (a restart) replays
/// exactly what was acknowledged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_api_replicas_on_kafka_store_every_acknowledged_write_and_hold_the_limit() {
    let id = unique("cfgw");
    let mut one = TestPipeline::start_with(&id, &[Service::Api], &[]).await.unwrap();
    let mut two = TestPipeline::start_with(&id, &[Service::Api], &[]).await.unwrap();
    let ws = unique("ws");
    let key = one.create_key(&ws, &[R, W]).await.unwrap();
    let http = reqwest::Client::new();
    let api = |p: &TestPipeline| Api {
        base: p.api(""),
        key: key.clone(),
        http: http.clone(),
    };
    // The key is in the topic; the second replica has read it once it answers with it.
    let second = api(&two);
    let seen = hookline_tests::eventually(Duration::from_secs(30), || async {
        (second.get(HOOKS).await.0 == 200).then_some(())
    })
    .await;
    assert!(seen.is_some(), "the second replica never knew the key");

    let created = burst(&[api(&one), api(&two)], 20, 60).await;
    let mut counts = [0.0; 3];
    for p in [&one, &two] {
        for (i, (name, labels)) in [
            ("hookline_api_config_writes_total", &[("dialect", "named")][..]),
            ("hookline_api_config_write_conflicts_total", &[("dialect", "named")][..]),
            ("hookline_api_config_reasserts_total", &[][..]),
        ]
        .into_iter()
        .enumerate()
        {
            counts[i] += p.metric(name, labels).await.unwrap_or(0.0);
        }
    }
    let [in_force, stale, reasserted] = counts;
    println!(
        "two replicas: {} created; {in_force} writes in force, {stale} stale ones made again, {reasserted} reasserted",
        created.len()
    );

    // Compaction keeps each key's last record, in force or not: the workspace's must be the
    // one in force (the highest version), or a replay of the compacted topic would bring a
    // stale write back.
    let key = format!("workspace:{ws}");
    let written = (in_force + stale + reasserted) as usize;
    let records = one
        .read_topic(&one.kafka.topics.config(), Duration::from_secs(30), |rs| {
            rs.iter().filter(|r| r.key == key.as_bytes()).count() >= written
        })
        .await
        .unwrap();
    let versions: Vec<u64> = records
        .iter()
        .filter(|r| r.key == key.as_bytes())
        .map(|r| {
            serde_json::from_slice::<Value>(&r.payload).unwrap()["version"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(versions.len(), written, "every write is a record");
    assert_eq!(
        versions.last(),
        versions.iter().max(),
        "the workspace's last record is the one in force: {versions:?}"
    );

    one.stop().await.unwrap();
    two.stop().await.unwrap();
    let restarted = TestPipeline::start_with(&id, &[Service::Api], &[]).await.unwrap();
    assert_eq!(
        api(&restarted).listed().await,
        created,
        "a restarted API replays exactly what was acknowledged"
    );
}
