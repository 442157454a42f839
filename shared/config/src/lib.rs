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
    /// `security.protocol=SASL_SSL,sasl.mechanism=SCRAM-SHA-512`). Its value is not shown by
    /// `--help`: it may hold `sasl.password` or `ssl.key.password`.
    #[arg(
        long = "kafka-option",
        id = "kafka_option",
        env = "HOOKLINE_KAFKA_OPTIONS",
        value_delimiter = ',',
        hide_env_values = true
    )]
    pub options: Vec<String>,
    /// `security.protocol`: plaintext, ssl, sasl_plaintext or sasl_ssl (MSK, Confluent Cloud
    /// and Strimzi listeners with authentication use sasl_ssl or ssl).
    #[arg(
        long = "kafka-security-protocol",
        id = "kafka_security_protocol",
        env = "HOOKLINE_KAFKA_SECURITY_PROTOCOL"
    )]
    pub security_protocol: Option<String>,
    /// `sasl.mechanism`: PLAIN (Confluent Cloud API keys), SCRAM-SHA-256 or SCRAM-SHA-512 (MSK,
    /// Strimzi `scram-sha-512` users).
    #[arg(
        long = "kafka-sasl-mechanism",
        id = "kafka_sasl_mechanism",
        env = "HOOKLINE_KAFKA_SASL_MECHANISM"
    )]
    pub sasl_mechanism: Option<String>,
    /// `sasl.username`.
    #[arg(
        long = "kafka-sasl-username",
        id = "kafka_sasl_username",
        env = "HOOKLINE_KAFKA_SASL_USERNAME"
    )]
    pub sasl_username: Option<String>,
    /// `sasl.password` (give it from a Secret; never logged).
    #[arg(
        long = "kafka-sasl-password",
        id = "kafka_sasl_password",
        env = "HOOKLINE_KAFKA_SASL_PASSWORD",
        hide_env_values = true
    )]
    pub sasl_password: Option<String>,
    /// `ssl.ca.location`: PEM file of the CA that signed the brokers' certificates (Strimzi's
    /// cluster CA). Unset: the system trust store, right for MSK and Confluent Cloud.
    #[arg(
        long = "kafka-ssl-ca-location",
        id = "kafka_ssl_ca_location",
        env = "HOOKLINE_KAFKA_SSL_CA_LOCATION"
    )]
    pub ssl_ca_location: Option<String>,
    /// `ssl.certificate.location`: client certificate (PEM) for mutual TLS (Strimzi `tls` users).
    #[arg(
        long = "kafka-ssl-certificate-location",
        id = "kafka_ssl_certificate_location",
        env = "HOOKLINE_KAFKA_SSL_CERTIFICATE_LOCATION"
    )]
    pub ssl_certificate_location: Option<String>,
    /// `ssl.key.location`: the client certificate's private key (PEM).
    #[arg(
        long = "kafka-ssl-key-location",
        id = "kafka_ssl_key_location",
        env = "HOOKLINE_KAFKA_SSL_KEY_LOCATION"
    )]
    pub ssl_key_location: Option<String>,
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
    /// Topic-level configs for the (non-compacted) topics Hookline creates, `key=value`
    /// comma separated: e.g. `retention.ms=604800000,min.insync.replicas=2`.
    #[arg(
        long = "topic-configs",
        id = "topic_configs",
        env = "HOOKLINE_TOPIC_CONFIGS",
        value_delimiter = ','
    )]
    pub topic_configs: Vec<String>,
    /// Topic-level configs for the compacted config topic (`cleanup.policy=compact` is always
    /// set), e.g. `min.insync.replicas=2,min.compaction.lag.ms=3600000`.
    #[arg(
        long = "compacted-topic-configs",
        id = "compacted_topic_configs",
        env = "HOOKLINE_COMPACTED_TOPIC_CONFIGS",
        value_delimiter = ','
    )]
    pub compacted_topic_configs: Vec<String>,
    /// Static group membership (`group.instance.id`), e.g. the pod name of a StatefulSet: a
    /// restarted process takes its partitions back at once instead of waiting for the old
    /// member's session to expire.
    #[arg(long, env = "HOOKLINE_GROUP_INSTANCE_ID")]
    pub group_instance_id: Option<String>,
    #[command(flatten)]
    pub topics: Topics,
}

impl KafkaArgs {
    /// The librdkafka settings to apply on top of Hookline's defaults: the typed security
    /// settings first, then `HOOKLINE_KAFKA_OPTIONS` (which wins on a repeated key). An
    /// option without `=` is a start-up error.
    pub fn parsed_options(&self) -> Result<Vec<(String, String)>, String> {
        let typed = [
            ("security.protocol", &self.security_protocol),
            ("sasl.mechanism", &self.sasl_mechanism),
            ("sasl.username", &self.sasl_username),
            ("sasl.password", &self.sasl_password),
            ("ssl.ca.location", &self.ssl_ca_location),
            ("ssl.certificate.location", &self.ssl_certificate_location),
            ("ssl.key.location", &self.ssl_key_location),
        ];
        let mut out: Vec<(String, String)> = typed
            .into_iter()
            .filter_map(|(k, v)| {
                v.as_deref()
                    .filter(|v| !v.trim().is_empty())
                    .map(|v| (k.to_string(), v.trim().to_string()))
            })
            .collect();
        out.extend(self.extra_options()?);
        Ok(out)
    }

    fn extra_options(&self) -> Result<Vec<(String, String)>, String> {
        key_values(&self.options, "kafka option")
    }

    /// `HOOKLINE_TOPIC_CONFIGS`, parsed.
    pub fn parsed_topic_configs(&self) -> Result<Vec<(String, String)>, String> {
        key_values(&self.topic_configs, "topic config")
    }

    /// `HOOKLINE_COMPACTED_TOPIC_CONFIGS`, parsed.
    pub fn parsed_compacted_topic_configs(&self) -> Result<Vec<(String, String)>, String> {
        key_values(&self.compacted_topic_configs, "topic config")
    }
}

/// `key=value` entries (blank ones skipped); an entry without `=` is an error naming `what`.
fn key_values(entries: &[String], what: &str) -> Result<Vec<(String, String)>, String> {
    entries
        .iter()
        .filter(|o| !o.trim().is_empty())
        .map(|o| {
            o.split_once('=')
                .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                .ok_or_else(|| format!("{what} `{o}` is not key=value"))
        })
        .collect()
}

/// How to reach Redis (message metadata for the DLR join, attempt logs).
#[derive(Debug, Clone, Args)]
pub struct RedisArgs {
    /// `redis://[:password@]host:port[/db]`. Its value is not shown by `--help`: the Helm
    /// chart puts the password in it.
    #[arg(
        long = "redis-url",
        id = "redis_url",
        env = "HOOKLINE_REDIS_URL",
        default_value = "redis://127.0.0.1:6379",
        hide_env_values = true
    )]
    pub url: String,
    /// A Redis Cluster's seed nodes instead (`redis://[:password@]host:port`, comma-separated;
    /// one reachable node is enough, the rest are learned from it). When set, `--redis-url` is
    /// not used.
    #[arg(
        long = "redis-cluster-nodes",
        id = "redis_cluster_nodes",
        env = "HOOKLINE_REDIS_CLUSTER_NODES",
        value_delimiter = ',',
        hide_env_values = true
    )]
    pub cluster_nodes: Vec<String>,
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
    /// 64 hex chars. The api and delivery services refuse to start without it unless
    /// `--allow-plaintext-secrets` is given.
    #[arg(
        long = "secret-key",
        id = "secret_key",
        env = "HOOKLINE_SECRET_KEY",
        hide_env_values = true
    )]
    pub secret_key: Option<String>,
    /// Let the api and delivery services run without `--secret-key`, storing signing secrets
    /// and Basic-auth credentials in clear text in the config topic (a warning is logged).
    /// For throwaway setups only.
    #[arg(
        long,
        env = "HOOKLINE_ALLOW_PLAINTEXT_SECRETS",
        default_value_t = false,
        action = clap::ArgAction::Set,
        num_args = 0..=1,
        default_missing_value = "true"
    )]
    pub allow_plaintext_secrets: bool,
    /// Accept `http://` webhook URLs (default: https only).
    #[arg(long, env = "HOOKLINE_ALLOW_HTTP_URLS", default_value_t = false, action = clap::ArgAction::Set)]
    pub allow_http_urls: bool,
    /// CIDRs webhook URLs may target even though they are private or loopback (for example
    /// `127.0.0.0/8` for receivers on the same host in tests), comma separated.
    #[arg(long, env = "HOOKLINE_ALLOW_CIDRS", value_delimiter = ',')]
    pub allow_cidrs: Vec<ipnet::IpNet>,
    /// Resolve a webhook URL's host name when it is configured, through the system resolver,
    /// and refuse it at once if it points at a forbidden address. `false` for air-gapped
    /// deployments (no resolver for customer hosts, or none that may see them): names are
    /// then judged only at connect time, where every resolved address is checked anyway.
    #[arg(long, env = "HOOKLINE_URL_RESOLVE_AT_CONFIG", default_value_t = true, action = clap::ArgAction::Set)]
    pub url_resolve_at_config: bool,
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

/// Limits of every HTTP server (API, ingest's HTTP edge, admin port): see
/// `hookline_telemetry::serve_http` for what each one closes or answers.
#[derive(Debug, Clone, Args)]
pub struct HttpArgs {
    /// Seconds a client may take to send a complete request head (from accept, and from the
    /// first byte of each later request on a keep-alive connection); then it is closed.
    #[arg(long = "http-header-read-timeout-secs", id = "http_header_read_timeout_secs", env = "HOOKLINE_HTTP_HEADER_READ_TIMEOUT_SECS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    pub header_read_timeout_secs: u64,
    /// Seconds a request may take, body included; then the client gets `408`.
    #[arg(long = "http-request-timeout-secs", id = "http_request_timeout_secs", env = "HOOKLINE_HTTP_REQUEST_TIMEOUT_SECS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..))]
    pub request_timeout_secs: u64,
    /// Seconds a keep-alive connection may sit idle between requests; then it is closed.
    #[arg(long = "http-idle-timeout-secs", id = "http_idle_timeout_secs", env = "HOOKLINE_HTTP_IDLE_TIMEOUT_SECS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..))]
    pub idle_timeout_secs: u64,
    /// Connections open at once, per server. At the cap a new one displaces the connection
    /// idle longest (or stuck in a request head over a second); when every one is running a
    /// request, it is accepted and closed at once (`503`).
    #[arg(long = "http-max-connections", id = "http_max_connections", env = "HOOKLINE_HTTP_MAX_CONNECTIONS", default_value_t = 4096, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_connections: u64,
    /// Connections one client (source address; an IPv6 client is its /64) may have open at
    /// once, per server; default an eighth of `--http-max-connections`; 0 for no per-client
    /// cap (set it when every client comes through one proxy address). A client at its cap
    /// first displaces its own connection idle longest; beyond that it gets `503`.
    #[arg(
        long = "http-max-connections-per-client",
        id = "http_max_connections_per_client",
        env = "HOOKLINE_HTTP_MAX_CONNECTIONS_PER_CLIENT"
    )]
    pub max_connections_per_client: Option<u64>,
    /// Largest request body in bytes; larger ones get `413`.
    #[arg(long = "http-max-body-bytes", id = "http_max_body_bytes", env = "HOOKLINE_HTTP_MAX_BODY_BYTES", default_value_t = 1024 * 1024, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_body_bytes: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Only {
        #[command(flatten)]
        kafka: KafkaArgs,
    }

    #[derive(Parser)]
    struct Limits {
        #[command(flatten)]
        security: SecurityArgs,
        #[command(flatten)]
        http: HttpArgs,
    }

    /// The switches of issue 28: config-time URL resolution is on unless turned off, and the
    /// per-client connection cap is unset (derived from the cap) unless given, 0 included.
    #[test]
    fn url_resolution_and_per_client_connections_parse() {
        let d = Limits::parse_from(["t"]);
        assert!(d.security.url_resolve_at_config);
        assert_eq!(d.http.max_connections_per_client, None);
        let l = Limits::parse_from([
            "t",
            "--url-resolve-at-config=false",
            "--http-max-connections-per-client=0",
        ]);
        assert!(!l.security.url_resolve_at_config);
        assert_eq!(l.http.max_connections_per_client, Some(0));
    }

    #[test]
    fn typed_security_settings_come_first_and_options_win() {
        let args = Only::parse_from([
            "t",
            "--kafka-security-protocol=SASL_SSL",
            "--kafka-sasl-mechanism=SCRAM-SHA-512",
            "--kafka-sasl-username=hookline",
            "--kafka-sasl-password=s3cret",
            "--kafka-option=sasl.mechanism=PLAIN,socket.keepalive.enable=true",
        ])
        .kafka;
        let opts = args.parsed_options().unwrap();
        assert_eq!(
            opts,
            [
                ("security.protocol", "SASL_SSL"),
                ("sasl.mechanism", "SCRAM-SHA-512"),
                ("sasl.username", "hookline"),
                ("sasl.password", "s3cret"),
                ("sasl.mechanism", "PLAIN"),
                ("socket.keepalive.enable", "true"),
            ]
            .map(|(k, v)| (k.to_string(), v.to_string()))
        );
        let bad = Only::parse_from(["t", "--kafka-option=nonsense"]).kafka;
        assert!(bad.parsed_options().is_err());
    }
}
