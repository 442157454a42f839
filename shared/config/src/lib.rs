//! Settings shared by every service, as `clap` argument groups: each is a flag with a
//! `HOOKLINE_*` environment variable, so the same binary is configured the same way from a
//! shell, a Compose file or a Kubernetes ConfigMap. Service-specific settings live in each
//! service crate and flatten these in.

mod topics;

pub use topics::{TopicSpec, Topics};

use clap::Args;
use std::net::SocketAddr;

/// How to reach Kafka.
#[derive(Debug, Clone, Args)]
pub struct KafkaArgs {
    /// Bootstrap servers, comma separated.
    #[arg(
        long = "kafka-brokers",
        id = "kafka_brokers",
        env = "HOOKLINE_KAFKA_BROKERS",
        default_value = "127.0.0.1:9092"
    )]
    pub brokers: String,
    /// Extra librdkafka settings as `key=value`, comma separated or repeated (for example
    /// `security.protocol=SASL_SSL,sasl.mechanism=SCRAM-SHA-512`).
    #[arg(
        long = "kafka-option",
        id = "kafka_option",
        env = "HOOKLINE_KAFKA_OPTIONS",
        value_delimiter = ','
    )]
    pub options: Vec<String>,
    /// Create missing topics at start-up (needs topic-create ACLs; turn off when topics are
    /// provisioned by the Helm hook or Terraform).
    #[arg(long, env = "HOOKLINE_CREATE_TOPICS", default_value_t = true, action = clap::ArgAction::Set)]
    pub create_topics: bool,
    /// Partitions of topics Hookline creates (dispatch and event topics).
    #[arg(long, env = "HOOKLINE_TOPIC_PARTITIONS", default_value_t = 6)]
    pub topic_partitions: i32,
    /// Replication factor of topics Hookline creates.
    #[arg(long, env = "HOOKLINE_TOPIC_REPLICATION", default_value_t = 1)]
    pub topic_replication: i32,
    /// Static group membership (`group.instance.id`), e.g. the pod name of a StatefulSet: a
    /// restarted process takes its partitions back at once instead of waiting for the old
    /// member's session to expire.
    #[arg(long, env = "HOOKLINE_GROUP_INSTANCE_ID")]
    pub group_instance_id: Option<String>,
    #[command(flatten)]
    pub topics: Topics,
}

impl KafkaArgs {
    /// Parsed `key=value` options; an entry without `=` is a start-up error.
    pub fn parsed_options(&self) -> Result<Vec<(String, String)>, String> {
        self.options
            .iter()
            .filter(|o| !o.trim().is_empty())
            .map(|o| {
                o.split_once('=')
                    .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                    .ok_or_else(|| format!("kafka option `{o}` is not key=value"))
            })
            .collect()
    }
}

/// How to reach Redis (message metadata for the DLR join, attempt logs).
#[derive(Debug, Clone, Args)]
pub struct RedisArgs {
    #[arg(
        long = "redis-url",
        id = "redis_url",
        env = "HOOKLINE_REDIS_URL",
        default_value = "redis://127.0.0.1:6379"
    )]
    pub url: String,
    /// Prefix of every key Hookline writes, so several deployments can share one Redis.
    #[arg(
        long = "redis-key-prefix",
        id = "redis_key_prefix",
        env = "HOOKLINE_REDIS_KEY_PREFIX",
        default_value = "hookline:"
    )]
    pub key_prefix: String,
}

/// Secrets at rest and which URLs may be called.
#[derive(Debug, Clone, Args)]
pub struct SecurityArgs {
    /// Operator key sealing signing secrets and Basic-auth credentials in the config topic:
    /// 64 hex chars. Without it they are stored in clear text (a warning is logged).
    #[arg(
        long = "secret-key",
        id = "secret_key",
        env = "HOOKLINE_SECRET_KEY",
        hide_env_values = true
    )]
    pub secret_key: Option<String>,
    /// Accept `http://` webhook URLs (default: https only).
    #[arg(long, env = "HOOKLINE_ALLOW_HTTP_URLS", default_value_t = false, action = clap::ArgAction::Set)]
    pub allow_http_urls: bool,
    /// CIDRs webhook URLs may target even though they are private or loopback (for example
    /// `127.0.0.0/8` for receivers on the same host in tests), comma separated.
    #[arg(long, env = "HOOKLINE_ALLOW_CIDRS", value_delimiter = ',')]
    pub allow_cidrs: Vec<ipnet::IpNet>,
}

/// The admin HTTP port: `/metrics`, `/healthz`, `/readyz`.
#[derive(Debug, Clone, Args)]
pub struct AdminArgs {
    #[arg(
        long = "admin-addr",
        id = "admin_addr",
        env = "HOOKLINE_ADMIN_ADDR",
        default_value = "0.0.0.0:9100"
    )]
    pub addr: SocketAddr,
}

/// Shutdown behaviour.
#[derive(Debug, Clone, Args)]
pub struct ShutdownArgs {
    /// How long in-flight work may take to finish after SIGTERM before the process exits
    /// anyway. Keep it below the pod's `terminationGracePeriodSeconds`.
    #[arg(long, env = "HOOKLINE_DRAIN_TIMEOUT_SECS", default_value_t = 20)]
    pub drain_timeout_secs: u64,
}
