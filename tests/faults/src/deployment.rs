//! One fault run's deployment: its own topics (under a fresh prefix), consumer groups, Redis
//! key prefix, sealing key, API and ingest ports, and the environment every service process
//! gets, so that runs never see each other's records.

use hookline_kafka::admin::ensure_topics;
use hookline_kafka::{ConfigWriter, KafkaSettings};
use hookline_model::{Dialect, EventKind, SealedSecret, Subscription, WorkspaceConfig};
use std::path::PathBuf;

/// The signing secret of every subscription a deployment configures.
pub const SECRET: &str = "fault-signing-secret";
/// The operator token of the api process.
pub const ADMIN_TOKEN: &str = "fault-admin-token-0123456789abcdefghijklmnopqrstuvwxyz";

pub struct Deployment {
    pub run: String,
    pub dir: PathBuf,
    pub kafka: KafkaSettings,
    pub api_port: u16,
    pub ingest_port: u16,
    secret_key: String,
    extra_env: Vec<(String, String)>,
}

impl Deployment {
    /// A deployment on `brokers` whose topics have `partitions` and `replication`, with
    /// topic-level `topic_configs` (every topic) and `compacted_configs` (the config topic);
    /// creates its topics.
    pub async fn new(
        tag: &str,
        brokers: &str,
        partitions: i32,
        replication: i32,
        topic_configs: &[&str],
        compacted_configs: &[&str],
    ) -> anyhow::Result<Self> {
        let run = hookline_tests::unique(tag);
        let dir = crate::run_dir(&run);
        let mut kafka = KafkaSettings::new(brokers, &format!("{run}."));
        kafka.partitions = partitions;
        kafka.replication = replication;
        let pairs = |v: &[&str]| -> Vec<(String, String)> {
            v.iter()
                .map(|kv| {
                    let (k, v) = kv.split_once('=').expect("key=value");
                    (k.to_string(), v.to_string())
                })
                .collect()
        };
        kafka.topic_configs = pairs(topic_configs);
        kafka.compacted_topic_configs = pairs(compacted_configs);
        ensure_topics(&kafka, &kafka.topics.specs()).await?;
        let ports = crate::free_ports(2);
        let mut extra_env = vec![];
        if !topic_configs.is_empty() {
            extra_env.push(("HOOKLINE_TOPIC_CONFIGS".into(), topic_configs.join(",")));
        }
        if !compacted_configs.is_empty() {
            extra_env.push(("HOOKLINE_COMPACTED_TOPIC_CONFIGS".into(), compacted_configs.join(",")));
        }
        Ok(Self {
            run,
            dir,
            kafka,
            api_port: ports[0],
            ingest_port: ports[1],
            secret_key: hookline_security::Sealer::random_key_hex(),
            extra_env,
        })
    }

    /// The environment of every service process.
    pub fn env(&self) -> Vec<(String, String)> {
        let run = &self.run;
        let mut env: Vec<(String, String)> = [
            ("HOOKLINE_KAFKA_BROKERS", self.kafka.brokers.clone()),
            ("HOOKLINE_TOPIC_PREFIX", format!("{run}.")),
            ("HOOKLINE_TOPIC_PARTITIONS", self.kafka.partitions.to_string()),
            ("HOOKLINE_TOPIC_REPLICATION", self.kafka.replication.to_string()),
            ("HOOKLINE_REDIS_URL", hookline_tests::redis_url()),
            ("HOOKLINE_REDIS_KEY_PREFIX", format!("{run}:")),
            ("HOOKLINE_SECRET_KEY", self.secret_key.clone()),
            ("HOOKLINE_ADMIN_TOKEN", ADMIN_TOKEN.into()),
            ("HOOKLINE_ALLOW_HTTP_URLS", "true".into()),
            ("HOOKLINE_ALLOW_CIDRS", "127.0.0.0/8".into()),
            ("HOOKLINE_API_HTTP_ADDR", format!("127.0.0.1:{}", self.api_port)),
            ("HOOKLINE_INGEST_HTTP_ADDR", format!("127.0.0.1:{}", self.ingest_port)),
            ("HOOKLINE_INGEST_GROUP", format!("{run}-ingest")),
            ("HOOKLINE_ENRICH_GROUP", format!("{run}-enrich")),
            ("HOOKLINE_DELIVERY_GROUP", format!("{run}-delivery")),
            ("HOOKLINE_API_ATTEMPTS_GROUP", format!("{run}-api")),
            ("HOOKLINE_DLR_WAIT_RECHECK_MS", "300".into()),
            ("HOOKLINE_DRAIN_TIMEOUT_SECS", "10".into()),
            ("RUST_LOG", "warn".into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        env.extend(self.extra_env.iter().cloned());
        env
    }

    /// The service processes of this deployment (none started yet).
    pub fn processes(&self) -> crate::procs::Processes {
        crate::procs::Processes::new(&self.dir, self.env())
    }

    /// A signed 23 Telecom subscription to delivery events (and clicks) at `url`.
    pub fn subscription(&self, workspace: &str, name: &str, url: &str, rate_limit_per_sec: u32) -> Subscription {
        let sealer = hookline_security::Sealer::new(Some(&self.secret_key)).expect("sealing key");
        Subscription {
            event_kinds: vec![EventKind::Delivery, EventKind::Click],
            signing_secret: Some(SealedSecret(sealer.seal(SECRET))),
            rate_limit_per_sec,
            ..Subscription::new(Dialect::Telecom23, workspace, name, url)
        }
    }

    /// Writes workspace configs straight to the config topic (as an operator's tooling would).
    pub async fn put_workspaces(&self, configs: &[WorkspaceConfig]) -> anyhow::Result<()> {
        let writer = ConfigWriter::new(self.kafka.producer()?, self.kafka.topics.config());
        for c in configs {
            writer.put_workspace(c).await?;
        }
        Ok(())
    }

    /// `http://127.0.0.1:<api port><path>`.
    pub fn api(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.api_port)
    }

    /// `http://127.0.0.1:<ingest port><path>`.
    pub fn ingest(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.ingest_port)
    }
}

/// One API request with an `auth` header (name, value) and an optional JSON body: its status
/// and JSON answer (`null` when the answer is not JSON).
pub async fn call(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    auth: (&str, &str),
    body: Option<serde_json::Value>,
) -> (u16, serde_json::Value) {
    let mut req = http.request(method, url).header(auth.0, auth.1);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.expect("api request");
    (r.status().as_u16(), r.json().await.unwrap_or(serde_json::Value::Null))
}

/// Creates an API key for `ws` through the operator endpoint: (key, key id).
pub async fn create_key(http: &reqwest::Client, d: &Deployment, ws: &str) -> (String, String) {
    let bearer = format!("Bearer {ADMIN_TOKEN}");
    let (s, v) = call(
        http,
        reqwest::Method::POST,
        &d.api("/admin/v1/api-keys"),
        ("Authorization", &bearer),
        Some(serde_json::json!({"workspace_id": ws, "permissions": ["webhooks.read", "webhooks.write"]})),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    (
        v["api_key"].as_str().unwrap().to_string(),
        v["key_id"].as_str().unwrap().to_string(),
    )
}
