//! Test harness: a pipeline started in-process against the real broker and Redis the test
//! script provides, webhook receivers on loopback, and helpers to produce and read records.
//!
//! Every pipeline gets its own topic prefix, consumer groups and Redis key prefix, so tests
//! run in parallel on one broker without seeing each other.

pub mod receiver;

use anyhow::Context;
use clap::Parser;
use hookline::{Pipeline, Service, Settings};
use hookline_kafka::{ConfigWriter, KafkaSettings};
use hookline_model::Permission;
use hookline_store::Store;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::{Headers, Message};
use rdkafka::ClientConfig;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

pub use receiver::{Received, Receiver};

/// The admin token of every test pipeline: as long as the rule asks (at least 43 characters,
/// `hookline_api::admin::MIN_ADMIN_TOKEN_CHARS`).
pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789abcdefghijklmnopqrstuvwxyz";

/// The broker under test (`HOOKLINE_TEST_KAFKA`; default `127.0.0.1:19092`, the Apache Kafka
/// `scripts/test.sh` starts).
pub fn brokers() -> String {
    std::env::var("HOOKLINE_TEST_KAFKA").unwrap_or_else(|_| "127.0.0.1:19092".into())
}

/// The Redis under test (`HOOKLINE_TEST_REDIS`).
pub fn redis_url() -> String {
    std::env::var("HOOKLINE_TEST_REDIS").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// The Redis Cluster under test (`HOOKLINE_TEST_REDIS_CLUSTER`: seed URLs, comma-separated,
/// the six-node cluster `scripts/test.sh` starts). Panics when unset: a test that needs the
/// cluster fails without it, never skips.
pub fn redis_cluster_nodes() -> Vec<String> {
    std::env::var("HOOKLINE_TEST_REDIS_CLUSTER")
        .expect("HOOKLINE_TEST_REDIS_CLUSTER: the test Redis Cluster's seed URLs (scripts/test.sh starts one)")
        .split(',')
        .map(str::to_string)
        .collect()
}

/// Which Redis a test pipeline keeps its state in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreKind {
    /// The one Redis at [`redis_url`].
    Redis,
    /// The Redis Cluster at [`redis_cluster_nodes`].
    Cluster,
}

impl StoreKind {
    /// A store of this kind under key prefix `prefix`.
    pub async fn open(self, prefix: &str) -> anyhow::Result<Store> {
        Ok(match self {
            Self::Redis => Store::redis(&redis_url(), prefix).await.context("redis")?,
            Self::Cluster => Store::redis_cluster(&redis_cluster_nodes(), prefix)
                .await
                .context("redis cluster")?,
        })
    }
}

/// Held by a test that reads an adaptive limit off latencies or answer times, so the other
/// tests of its file wait: two cores shared by several pipelines with their receivers make
/// each other's latency. Seen on fresh CI machines: a slowing receiver's limit hovering at 16
/// beside a 50 ms receiver's burst, and a 100/s receiver's window reaching 104 beside a
/// handover test, each passing alone.
pub async fn alone() -> tokio::sync::MutexGuard<'static, ()> {
    static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    ONE_AT_A_TIME.lock().await
}

/// A fresh id for topic, group and key prefixes.
pub fn unique(tag: &str) -> String {
    format!("t{}-{tag}", hex::encode(rand::random::<[u8; 4]>()))
}

/// Settings as a test wants them: ephemeral ports, loopback receivers allowed, short waits.
pub fn test_settings(id: &str, extra: &[&str]) -> Settings {
    #[derive(Parser)]
    struct Wrapper {
        #[command(flatten)]
        settings: Settings,
    }
    let ingest_group = format!("{id}-ingest");
    let enrich_group = format!("{id}-enrich");
    let delivery_group = format!("{id}-delivery");
    let api_group = format!("{id}-api");
    let key = hookline_security::Sealer::random_key_hex();
    let mut args = vec![
        "test",
        "--admin-addr=127.0.0.1:0",
        "--ingest-http-addr=127.0.0.1:0",
        "--api-http-addr=127.0.0.1:0",
        "--allow-http-urls=true",
        "--allow-cidrs=127.0.0.0/8",
        "--dlr-wait-recheck-ms=300",
        "--dlr-wait-max-secs=3",
        "--drain-timeout-secs=5",
        "--test-send-grace-secs=15",
        // Tests poll the logs and replay in bursts; the per-credential limits of the
        // expensive routes are tested where they are the subject (`portal_api.rs`).
        "--expensive-reads-per-min=0",
        "--replays-per-min=0",
    ];
    let owned = [
        format!("--admin-token={ADMIN_TOKEN}"),
        format!("--ingest-group={ingest_group}"),
        format!("--enrich-group={enrich_group}"),
        format!("--delivery-group={delivery_group}"),
        format!("--api-attempts-group={api_group}"),
        format!("--secret-key={key}"),
    ];
    args.extend(owned.iter().map(String::as_str));
    // A flag given in `extra` replaces the default above.
    let flag = |a: &str| a.split('=').next().unwrap_or_default().to_string();
    let overridden: Vec<String> = extra.iter().map(|a| flag(a)).collect();
    args.retain(|a| !overridden.contains(&flag(a)));
    args.extend_from_slice(extra);
    Wrapper::parse_from(args).settings
}

/// A pipeline under test, with everything a test needs to drive it.
pub struct TestPipeline {
    pub id: String,
    pub kafka: KafkaSettings,
    pub settings: Settings,
    pub pipeline: Option<Pipeline>,
    pub http: reqwest::Client,
    /// One producer for everything the test writes (creating one per record is slow).
    pub producer: hookline_kafka::Producer,
    /// An unbound ingest credential granting every input kind (the gateway's), live once the
    /// pipeline is started with ingest; [`ingest_post`](Self::ingest_post) sends it.
    pub ingest_key: String,
    /// The services this pipeline runs.
    pub services: Vec<Service>,
    shutdown: CancellationToken,
}

impl TestPipeline {
    /// Starts all four services with a fresh prefix.
    pub async fn start() -> anyhow::Result<Self> {
        Self::start_with(&unique("p"), &Service::ALL, &[]).await
    }

    /// Starts `services` for prefix `id` (reuse an id to restart on the same topics).
    pub async fn start_with(id: &str, services: &[Service], extra: &[&str]) -> anyhow::Result<Self> {
        Self::start_partitioned(id, services, extra, 2).await
    }

    /// All four services for a fresh prefix from `tag`, retry delays scaled by `scale`
    /// (`--retry-delay-scale`).
    pub async fn start_scaled(tag: &str, scale: &str) -> anyhow::Result<Self> {
        let flag = format!("--retry-delay-scale={scale}");
        Self::start_with(&unique(tag), &Service::ALL, &[&flag]).await
    }

    /// Like [`start_with`](Self::start_with), with `partitions` per topic.
    pub async fn start_partitioned(
        id: &str,
        services: &[Service],
        extra: &[&str],
        partitions: i32,
    ) -> anyhow::Result<Self> {
        Self::start_full(id, services, extra, partitions, &redis_url()).await
    }

    /// Everything chosen: also which Redis.
    pub async fn start_full(
        id: &str,
        services: &[Service],
        extra: &[&str],
        partitions: i32,
        redis: &str,
    ) -> anyhow::Result<Self> {
        let store = Store::redis(redis, &format!("{id}:")).await.context("redis")?;
        Self::start_on(id, services, extra, partitions, store).await
    }

    /// Like [`start_with`](Self::start_with), keeping state in a store of `kind`.
    pub async fn start_with_store(
        id: &str,
        services: &[Service],
        extra: &[&str],
        kind: StoreKind,
    ) -> anyhow::Result<Self> {
        let store = kind.open(&format!("{id}:")).await?;
        Self::start_on(id, services, extra, 2, store).await
    }

    /// `services` on `store`.
    pub async fn start_on(
        id: &str,
        services: &[Service],
        extra: &[&str],
        partitions: i32,
        store: Store,
    ) -> anyhow::Result<Self> {
        let mut kafka = KafkaSettings::new(brokers(), &format!("{id}."));
        kafka.partitions = partitions;
        let settings = test_settings(id, extra);
        let shutdown = CancellationToken::new();
        let pipeline = hookline::start(services, &kafka, store, &settings, shutdown.clone()).await?;
        let producer = kafka.producer()?;
        let mut me = Self {
            id: id.to_string(),
            kafka,
            settings,
            pipeline: Some(pipeline),
            http: reqwest::Client::new(),
            producer,
            ingest_key: String::new(),
            services: services.to_vec(),
            shutdown,
        };
        me.wait_ready(Duration::from_secs(60)).await?;
        if services.contains(&Service::Ingest) {
            me.ingest_key = me
                .create_ingest_key(hookline_model::IngestKind::ALL.to_vec(), None, None)
                .await?;
        }
        Ok(me)
    }

    /// Creates an ingest credential straight in the config topic (as `hookline admin
    /// create-ingest-key`) and waits until ingest accepts it.
    pub async fn create_ingest_key(
        &self,
        kinds: Vec<hookline_model::IngestKind>,
        workspace: Option<&str>,
        carrier_connection: Option<&str>,
    ) -> anyhow::Result<String> {
        let (token, rec) = hookline_model::IngestKeyRecord::generate(
            None,
            kinds.clone(),
            workspace.map(String::from),
            carrier_connection.map(String::from),
        );
        ConfigWriter::new(self.producer.clone(), self.kafka.topics.config())
            .put_ingest_key(&rec)
            .await?;
        // Known once a request of a kind it grants is not refused as unauthenticated (an empty
        // body: 400, nothing produced).
        let path = match kinds[0] {
            hookline_model::IngestKind::Messages => "/v1/messages",
            hookline_model::IngestKind::Dlr => "/v1/dlr",
            hookline_model::IngestKind::Clicks => "/v1/clicks",
            hookline_model::IngestKind::Conversions => "/v1/actions",
            hookline_model::IngestKind::Inbound => "/v1/inbound",
            hookline_model::IngestKind::Revocations => "/v1/revocations",
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let r = self.http.post(self.ingest(path)).bearer_auth(&token).send().await?;
            if r.status() != 401 && r.status() != 503 {
                return Ok(token);
            }
            anyhow::ensure!(Instant::now() < deadline, "ingest credential never became valid");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// `POST` to ingest's `path` with the pipeline's ingest credential.
    pub fn ingest_post(&self, path: &str) -> reqwest::RequestBuilder {
        self.http.post(self.ingest(path)).bearer_auth(&self.ingest_key)
    }

    /// `GET` on ingest's `path` with the pipeline's ingest credential.
    pub fn ingest_get(&self, path: &str) -> reqwest::RequestBuilder {
        self.http.get(self.ingest(path)).bearer_auth(&self.ingest_key)
    }

    fn pipeline(&self) -> &Pipeline {
        self.pipeline.as_ref().expect("running")
    }

    async fn wait_ready(&self, timeout: Duration) -> anyhow::Result<()> {
        let url = format!("http://{}/readyz", self.pipeline().admin_addr);
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(r) = self.http.get(&url).send().await {
                if r.status().is_success() {
                    return Ok(());
                }
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "pipeline not ready: {:?}",
                self.pipeline().readiness.pending()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn api(&self, path: &str) -> String {
        format!("http://{}{path}", self.pipeline().api_addr.expect("api runs"))
    }

    pub fn ingest(&self, path: &str) -> String {
        format!("http://{}{path}", self.pipeline().ingest_addr.expect("ingest runs"))
    }

    pub fn admin(&self, path: &str) -> String {
        format!("http://{}{path}", self.pipeline().admin_addr)
    }

    /// Creates an API key straight in the config topic (as `hookline admin create-key`).
    pub async fn create_key(&self, workspace: &str, perms: &[Permission]) -> anyhow::Result<String> {
        let (key, rec) = hookline_api::auth::new_key(workspace, perms.to_vec());
        ConfigWriter::new(self.producer.clone(), self.kafka.topics.config())
            .put_api_key(&rec)
            .await?;
        // Wait until the API knows it.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let r = self
                .http
                .get(self.api("/api/v1/user/webhooks"))
                .header("X-API-Key", &key)
                .send()
                .await?;
            if r.status() != 401 {
                return Ok(key);
            }
            anyhow::ensure!(Instant::now() < deadline, "key never became valid");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// `PUT /api/v1/user/webhooks`, returning status and body.
    pub async fn put_webhooks(&self, key: &str, body: serde_json::Value) -> anyhow::Result<(u16, serde_json::Value)> {
        let r = self
            .http
            .put(self.api("/api/v1/user/webhooks"))
            .header("X-API-Key", key)
            .json(&body)
            .send()
            .await?;
        Ok((r.status().as_u16(), r.json().await.unwrap_or_default()))
    }

    /// Writes a workspace config straight to the config topic (for settings no dialect exposes
    /// yet: custom retry policies, rate limits, timeouts) and waits until this process has it.
    pub async fn put_workspace(&self, ws: &hookline_model::WorkspaceConfig) -> anyhow::Result<()> {
        ConfigWriter::new(self.producer.clone(), self.kafka.topics.config())
            .put_workspace(ws)
            .await?;
        self.wait_workspace(ws, Duration::from_secs(15)).await
    }

    /// `GET` of an API path with the API key `key`: its JSON body, whatever the status.
    pub async fn user_get(&self, key: &str, path: &str) -> anyhow::Result<serde_json::Value> {
        let r = self.http.get(self.api(path)).header("X-API-Key", key).send().await?;
        Ok(r.json().await?)
    }

    /// [`put_workspace`](Self::put_workspace) of `sub`'s workspace holding only `sub`.
    pub async fn put_subscription(&self, sub: &hookline_model::Subscription) -> anyhow::Result<()> {
        self.put_workspace(&workspace(&sub.workspace_id, vec![sub.clone()]))
            .await
    }

    /// Waits until this process's config (what every service in it reads) holds exactly `ws`.
    pub async fn wait_workspace(&self, ws: &hookline_model::WorkspaceConfig, timeout: Duration) -> anyhow::Result<()> {
        let config = &self.pipeline().config;
        let has = || config.read(|c| c.workspace(&ws.workspace_id).as_deref() == Some(ws));
        let arrived = eventually(timeout, || async { has().then_some(()) }).await;
        anyhow::ensure!(
            arrived.is_some(),
            "workspace {} (version {}) did not reach the pipeline's config within {timeout:?}",
            ws.workspace_id,
            ws.version
        );
        Ok(())
    }

    /// Waits until the config of `workspace_id` reaches `version` (or the workspace is deleted)
    /// in this process: a write made through the API has then reached every service in it.
    pub async fn wait_workspace_version(
        &self,
        workspace_id: &str,
        version: u64,
        timeout: Duration,
    ) -> anyhow::Result<()> {
        let reached = self
            .pipeline()
            .config
            .wait_for_workspace_version(workspace_id, version, timeout)
            .await;
        anyhow::ensure!(
            reached,
            "workspace {workspace_id} config version {version} did not reach the pipeline within {timeout:?}"
        );
        Ok(())
    }

    /// The current config version of `workspace_id` in this process (0: never configured).
    pub fn workspace_version(&self, workspace_id: &str) -> Option<u64> {
        self.pipeline().config.read(|c| c.workspace_version(workspace_id))
    }

    /// Produces a dispatch record for `sub` directly (what enrich does for a matching event),
    /// returning its webhook id.
    pub async fn dispatch(&self, sub: &hookline_model::Subscription, n: usize) -> anyhow::Result<String> {
        let d = dispatch_record(sub, n);
        self.producer
            .send_json(
                &self.kafka.topics.dispatch(),
                &sub.endpoint_key(),
                &d,
                &[("hookline-attempt", b"1")],
            )
            .await?;
        Ok(d.dispatch_id)
    }

    /// An API request: `method` on `path`, with `X-API-Key: key` and a JSON `body` when given;
    /// the status and the JSON answer (`null` when there is none).
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        key: Option<&str>,
        body: Option<&str>,
    ) -> (u16, serde_json::Value) {
        let mut req = self.http.request(method.parse().unwrap(), self.api(path));
        if let Some(k) = key {
            req = req.header("X-API-Key", k);
        }
        if let Some(b) = body {
            req = req.header("Content-Type", "application/json").body(b.to_string());
        }
        let r = req.send().await.unwrap();
        (r.status().as_u16(), r.json().await.unwrap_or(serde_json::Value::Null))
    }

    /// Produces a raw record (bytes as given) to a topic.
    pub async fn produce(&self, topic: &str, key: &str, payload: &[u8]) -> anyhow::Result<()> {
        self.kafka
            .producer()?
            .send(topic, Some(key.as_bytes()), Some(payload), &[])
            .await?;
        Ok(())
    }

    /// An accepted-message record for the gateway stream.
    pub fn accepted(workspace: &str, message_id: &str, carrier_id: &str) -> serde_json::Value {
        serde_json::json!({
            "message_id": message_id,
            "carrier_message_id": carrier_id,
            "workspace_id": workspace,
            "recipient": "+14155551234",
            "sender_id": "MyApp",
            "num_parts": 2,
            "cost": 0.0085,
            "accepted_at": "2026-02-13T10:30:00Z",
        })
    }

    /// Produces an accepted message to the gateway topic.
    pub async fn send_accepted(&self, workspace: &str, message_id: &str, carrier_id: &str) -> anyhow::Result<()> {
        let v = serde_json::to_vec(&Self::accepted(workspace, message_id, carrier_id))?;
        self.produce(&self.kafka.topics.accepted(), carrier_id, &v).await
    }

    /// Produces a carrier DLR (JSON or SMPP text) to the carrier feed topic.
    pub async fn send_dlr(&self, carrier_id: &str, raw: &str) -> anyhow::Result<()> {
        self.produce(&self.kafka.topics.carrier_dlr(), carrier_id, raw.as_bytes())
            .await
    }

    /// Message `message_id` of `workspace` accepted (carrier id `c-<message_id>`) and reported
    /// `DELIVRD` by its carrier: a `sent` and a `delivered` status, and one final DLR.
    pub async fn send_delivered(&self, workspace: &str, message_id: &str) -> anyhow::Result<()> {
        let carrier = format!("c-{message_id}");
        self.send_accepted(workspace, message_id, &carrier).await?;
        self.send_dlr(&carrier, &format!("id:{carrier} stat:DELIVRD err:000"))
            .await
    }

    /// Reads `topic` from the beginning until `done` says enough or `timeout` passes.
    pub async fn read_topic(
        &self,
        topic: &str,
        timeout: Duration,
        done: impl FnMut(&[Record]) -> bool,
    ) -> anyhow::Result<Vec<Record>> {
        self.read_topics(&[topic], timeout, done).await
    }

    /// Reads `topics` from the beginning, interleaved, until `done` says enough or `timeout`
    /// passes.
    pub async fn read_topics(
        &self,
        topics: &[&str],
        timeout: Duration,
        mut done: impl FnMut(&[Record]) -> bool,
    ) -> anyhow::Result<Vec<Record>> {
        let consumer: StreamConsumer = ClientConfig::new()
            .set("bootstrap.servers", brokers())
            .set("group.id", unique("reader"))
            .set("auto.offset.reset", "earliest")
            .set("enable.auto.commit", "false")
            .create()?;
        consumer.subscribe(topics)?;
        let mut out = vec![];
        let deadline = Instant::now() + timeout;
        while !done(&out) && Instant::now() < deadline {
            if let Ok(Ok(m)) = tokio::time::timeout(Duration::from_millis(500), consumer.recv()).await {
                let headers = m
                    .headers()
                    .map(|h| {
                        h.iter()
                            .map(|h| {
                                (
                                    h.key.to_string(),
                                    String::from_utf8_lossy(h.value.unwrap_or_default()).into_owned(),
                                )
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                out.push(Record {
                    topic: m.topic().to_string(),
                    key: m.key().unwrap_or_default().to_vec(),
                    payload: m.payload().unwrap_or_default().to_vec(),
                    headers,
                });
            }
        }
        Ok(out)
    }

    /// Metrics text from the admin port.
    pub async fn metrics(&self) -> anyhow::Result<String> {
        Ok(self.http.get(self.admin("/metrics")).send().await?.text().await?)
    }

    /// The value of sample `name` whose labels include every `labels` pair (summed over the
    /// samples that match; 0 when there is none), from one scrape.
    pub async fn metric(&self, name: &str, labels: &[(&str, &str)]) -> anyhow::Result<f64> {
        Ok(metric_value(&self.metrics().await?, name, labels))
    }

    /// Produces `n` dispatch records for `sub` (numbered from `from`, see [`dispatch_record`])
    /// straight to the dispatch topic, as attempt 1; returns their webhook ids.
    pub async fn produce_dispatches(
        &self,
        sub: &hookline_model::Subscription,
        from: usize,
        n: usize,
    ) -> std::collections::HashSet<String> {
        let mut sends = tokio::task::JoinSet::new();
        let mut ids = std::collections::HashSet::new();
        for i in from..from + n {
            let d = dispatch_record(sub, i);
            ids.insert(d.dispatch_id.clone());
            let (producer, topic, key) = (self.producer.clone(), self.kafka.topics.dispatch(), sub.endpoint_key());
            sends.spawn(async move {
                producer
                    .send_json(&topic, &key, &d, &[("hookline-attempt", b"1")])
                    .await
            });
        }
        while let Some(sent) = sends.join_next().await {
            sent.expect("produce task").expect("dispatch record produced");
        }
        ids
    }

    /// Waits until the value of metric `name` (labels as in [`metric`](Self::metric)) satisfies
    /// `pred`; returns it. Fails naming `what` and the last value seen when `timeout` passes.
    pub async fn wait_metric(
        &self,
        name: &str,
        labels: &[(&str, &str)],
        pred: impl Fn(f64) -> bool,
        timeout: Duration,
        what: &str,
    ) -> anyhow::Result<f64> {
        let deadline = Instant::now() + timeout;
        loop {
            let v = self.metric(name, labels).await?;
            if pred(v) {
                return Ok(v);
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "{what}: {name}{labels:?} is {v} after {timeout:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until this pipeline has handled every record produced so far to its input topics
    /// (see [`wait_settled`]).
    pub async fn wait_settled(&self, timeout: Duration, what: &str) -> anyhow::Result<()> {
        wait_settled(&[self], timeout, what).await
    }

    /// This pipeline's consumer groups with the topics each reads, in pipeline order.
    fn stages(&self) -> Vec<(u8, String, Vec<String>)> {
        let t = &self.kafka.topics;
        let mut stages = vec![];
        if self.services.contains(&Service::Ingest) {
            let inputs = vec![t.accepted(), t.carrier_dlr(), t.link_clicks(), t.sms_inbound()];
            stages.push((0, self.settings.ingest.group.clone(), inputs));
        }
        if self.services.contains(&Service::Enrich) {
            let inputs = vec![t.messages(), t.dlr(), t.clicks(), t.conversions(), t.inbound()];
            stages.push((1, self.settings.enrich.group.clone(), inputs));
            // A DLR parked for its message is a record of the wait topic until handled.
            stages.push((2, format!("{}-wait", self.settings.enrich.group), vec![t.dlr_wait()]));
            // Revocations are committed with the batch that carries them.
            let revocations = format!("{}-revocations", self.settings.enrich.group);
            stages.push((2, revocations, vec![t.clicks_revoked()]));
        }
        if self.services.contains(&Service::Delivery) {
            stages.push((3, self.settings.delivery.group.clone(), vec![t.dispatch()]));
        }
        stages
    }

    /// Stops the pipeline and waits for it (graceful: drain, commit).
    pub async fn stop(&mut self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        if let Some(p) = self.pipeline.take() {
            p.wait().await?;
        }
        Ok(())
    }
}

impl Drop for TestPipeline {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// The dispatch record enrich would produce for event `m-<n>` and `sub`, matched in config
/// version 1 (what [`workspace`] writes): delivery waits for that version if it has not read
/// it yet.
pub fn dispatch_record(sub: &hookline_model::Subscription, n: usize) -> hookline_model::Dispatch {
    let event = delivery_event(&sub.workspace_id, &format!("m-{n}"));
    hookline_model::Dispatch::new(event, sub, 1)
}

/// The sample delivery event ([`hookline_model::Event::sample_of`]) of `message_id`, now.
pub fn delivery_event(workspace: &str, message_id: &str) -> hookline_model::Event {
    let sample = hookline_model::sample::Sample {
        message_id,
        at: chrono::Utc::now(),
        ..Default::default()
    };
    hookline_model::Event::sample_of(hookline_model::EventKind::Delivery, workspace, sample)
}

/// A subscription as the tests configure it directly: JSON, no secret, delivery events.
pub fn subscription(workspace: &str, id: &str, url: &str) -> hookline_model::Subscription {
    use hookline_model::*;
    Subscription {
        name: Some(id.to_string()),
        event_kinds: vec![EventKind::Delivery],
        schema: PayloadSchema::Telecom23,
        ..Subscription::new(Dialect::Named, workspace, id, url)
    }
}

/// A workspace config holding `subs`.
pub fn workspace(id: &str, subs: Vec<hookline_model::Subscription>) -> hookline_model::WorkspaceConfig {
    hookline_model::WorkspaceConfig {
        workspace_id: id.to_string(),
        subscriptions: subs,
        version: 1,
        ..Default::default()
    }
}

/// Sends `req` and reads its JSON body (panics on a transport error or a body that is not JSON).
pub async fn json_of(req: reqwest::RequestBuilder) -> serde_json::Value {
    req.send().await.unwrap().json().await.unwrap()
}

/// A record read back from a topic.
#[derive(Debug, Clone)]
pub struct Record {
    pub topic: String,
    pub key: Vec<u8>,
    pub payload: Vec<u8>,
    pub headers: Vec<(String, String)>,
}

impl Record {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// The 23 Telecom reference algorithm, written out independently of Hookline's signer:
/// `"sha256=" + hex(HMAC-SHA256(secret, ts + "." + body))`.
pub fn reference_signature(secret: &str, ts: &str, body: &[u8]) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    let mut signed = format!("{ts}.").into_bytes();
    signed.extend_from_slice(body);
    mac.update(&signed);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// The value of sample `name` in Prometheus text `metrics` whose labels include every `labels`
/// pair, summed over the matching samples (0 when none matches). `name` is the sample's full
/// name (`..._count`, `..._sum`, `..._bucket` for a histogram's parts).
pub fn metric_value(metrics: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    metrics
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            let (sample, label_text) = match series.split_once('{') {
                Some((n, rest)) => (n, rest.trim_end_matches('}')),
                None => (series, ""),
            };
            if sample != name {
                return None;
            }
            let all = labels.iter().all(|(k, v)| {
                let want = format!("{k}=\"{v}\"");
                label_text.split(',').any(|pair| pair == want)
            });
            all.then(|| value.parse::<f64>().ok()).flatten()
        })
        .sum()
}

/// Waits until `pipelines` (one pipeline, or the replicas of one, sharing topics) have handled
/// every record produced so far to their input topics: ingest's, then enrich's (DLRs parked in
/// the wait topic and revocations not batched yet included), then delivery's consumer group has committed every record of its
/// inputs, in that order in one pass, so what one stage produced before its commit is counted
/// by the next. After it a "nothing more arrived" check is final: every webhook those records
/// made has been attempted (or deferred to a retry tier). Fails naming `what` and the group
/// still behind.
pub async fn wait_settled(pipelines: &[&TestPipeline], timeout: Duration, what: &str) -> anyhow::Result<()> {
    let mut stages: Vec<(u8, String, Vec<String>)> = pipelines.iter().flat_map(|p| p.stages()).collect();
    stages.sort();
    stages.dedup();
    let kafka = &pipelines.first().context("no pipeline")?.kafka;
    let deadline = Instant::now() + timeout;
    'pass: loop {
        for (_, group, topics) in &stages {
            for topic in topics {
                let lag = backlog(kafka, group, topic).await?;
                if lag > 0 {
                    anyhow::ensure!(
                        Instant::now() < deadline,
                        "{what}: consumer group {group} still has {lag} record(s) of {topic} to handle after {timeout:?}"
                    );
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue 'pass;
                }
            }
        }
        return Ok(());
    }
}

/// How many records of `topic` consumer group `group` has still to handle: like
/// [`hookline_kafka::admin::group_lag`], but a partition whose uncommitted tail holds no
/// committed data record (only the markers a transactional producer writes, or aborted
/// records: offsets a consumer never hands out) counts 0.
async fn backlog(kafka: &KafkaSettings, group: &str, topic: &str) -> anyhow::Result<i64> {
    use rdkafka::consumer::BaseConsumer;
    if hookline_kafka::admin::group_lag(kafka, group, topic).await? == 0 {
        return Ok(0);
    }
    let (group, topic) = (group.to_string(), topic.to_string());
    let client = kafka.client(&[
        ("group.id", group.as_str()),
        ("enable.auto.commit", "false"),
        ("isolation.level", "read_committed"),
        ("enable.partition.eof", "true"),
    ]);
    tokio::task::spawn_blocking(move || -> anyhow::Result<i64> {
        let consumer: BaseConsumer = client.create()?;
        let t = Duration::from_secs(10);
        let mut behind = 0;
        for pos in hookline_kafka::admin::group_positions(&consumer, &topic, t)? {
            let (p, at, high) = (pos.partition, pos.committed, pos.high);
            if high <= at {
                continue;
            }
            // Read the tail as the group's consumer would: data records up to the end.
            let mut tpl = rdkafka::TopicPartitionList::new();
            tpl.add_partition_offset(&topic, p, rdkafka::Offset::Offset(at))?;
            consumer.assign(&tpl)?;
            let deadline = Instant::now() + Duration::from_secs(5);
            let mut data = 0;
            loop {
                match consumer.poll(Duration::from_millis(100)) {
                    Some(Ok(_)) => data += 1,
                    Some(Err(rdkafka::error::KafkaError::PartitionEOF(_))) => break,
                    Some(Err(e)) => return Err(e.into()),
                    None if Instant::now() >= deadline => {
                        data = data.max(high - at);
                        break;
                    }
                    None => {}
                }
            }
            behind += data;
        }
        Ok(behind)
    })
    .await?
}

/// Waits until consumer group `group` is `Stable` with `members` members (a rebalance after a
/// member joined or left is over); fails naming the group's last state.
pub async fn wait_group_stable(group: &str, members: usize, timeout: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        let state = hookline_kafka::admin::group_state(&brokers(), group).await?;
        if state.0 == "Stable" && state.1 == members {
            return Ok(());
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "consumer group {group} not Stable with {members} members after {timeout:?}: {} with {}",
            state.0,
            state.1
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A directory of its own for this run (log files of spawned processes), under the system
/// temporary folder: two runs, or two tests, never write the same file.
pub fn run_dir(tag: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("hookline-{}", unique(tag)));
    std::fs::create_dir_all(&dir).expect("create the run's temporary directory");
    dir
}

/// Polls `f` until it returns `Some` or `timeout` passes.
pub async fn eventually<T, F, Fut>(timeout: Duration, mut f: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f().await {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
