//! Wiring: which services run in this process, on which Kafka and store. Used by the binary
//! and by the integration tests, so both start the pipeline the same way.

pub mod admin;
pub mod cli;
pub mod embedded;

use anyhow::Context;
use hookline_config::{AdminArgs, HttpArgs, SecurityArgs, ShutdownArgs};
use hookline_kafka::{ConfigHandle, KafkaSettings};
use hookline_security::{Sealer, UrlPolicy};
use hookline_store::Store;
use hookline_telemetry::{serve_admin, HttpLimits, Readiness, Runtime};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// One of the four services.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Service {
    Ingest,
    Enrich,
    Delivery,
    Api,
}

impl Service {
    pub const ALL: [Service; 4] = [Service::Ingest, Service::Enrich, Service::Delivery, Service::Api];
}

/// Every setting a process may need; each service reads its own part.
#[derive(Debug, Clone, clap::Args)]
pub struct Settings {
    #[command(flatten)]
    pub security: SecurityArgs,
    #[command(flatten)]
    pub admin: AdminArgs,
    #[command(flatten)]
    pub shutdown: ShutdownArgs,
    #[command(flatten)]
    pub http: HttpArgs,
    #[command(flatten)]
    pub ingest: hookline_ingest::IngestConfig,
    #[command(flatten)]
    pub enrich: hookline_enrich::EnrichConfig,
    #[command(flatten)]
    pub delivery: hookline_delivery::DeliveryConfig,
    #[command(flatten)]
    pub api: hookline_api::ApiConfig,
}

/// The services running in this process.
pub struct Pipeline {
    pub api_addr: Option<SocketAddr>,
    pub ingest_addr: Option<SocketAddr>,
    pub admin_addr: SocketAddr,
    pub readiness: Readiness,
    pub shutdown: CancellationToken,
    /// The configuration every service in this process reads (tests wait on it for a config
    /// write to arrive instead of sleeping).
    pub config: ConfigHandle,
    tasks: Vec<(Service, JoinHandle<anyhow::Result<()>>)>,
    admin_task: JoinHandle<()>,
}

impl Pipeline {
    /// Waits until every service has stopped (after `shutdown`, or when one fails: then the
    /// others are told to stop too, and the first error is returned).
    pub async fn wait(self) -> anyhow::Result<()> {
        let mut first_err = None;
        let mut pending: futures::stream::FuturesUnordered<_> = self
            .tasks
            .into_iter()
            .map(|(svc, t)| async move { (svc, t.await) })
            .collect();
        use futures::StreamExt;
        while let Some((svc, joined)) = pending.next().await {
            let result = joined.map_err(anyhow::Error::from).and_then(|r| r);
            if let Err(e) = result {
                tracing::error!(service = ?svc, error = %e, "service stopped with an error");
                self.shutdown.cancel();
                first_err.get_or_insert(e.context(format!("{svc:?}")));
            }
        }
        self.shutdown.cancel();
        let _ = self.admin_task.await;
        first_err.map_or(Ok(()), Err)
    }
}

/// The start-up refusal of a process that would store or use secrets without the operator key.
pub const PLAINTEXT_SECRETS_REFUSED: &str = "HOOKLINE_SECRET_KEY is not set: the api and delivery services would \
     store and read webhook signing secrets and Basic-auth credentials in clear text in the config topic. \
     Set HOOKLINE_SECRET_KEY (--secret-key) to 64 hex characters (e.g. `openssl rand -hex 32`), or, for a \
     throwaway setup only, pass --allow-plaintext-secrets (HOOKLINE_ALLOW_PLAINTEXT_SECRETS=true)";

/// The store `redis` names: a Redis Cluster when `--redis-cluster-nodes` is set, else the one
/// Redis at `--redis-url`.
pub async fn open_store(redis: &hookline_config::RedisArgs) -> anyhow::Result<hookline_store::Store> {
    Ok(if redis.cluster_nodes.is_empty() {
        hookline_store::Store::redis(&redis.url, &redis.key_prefix).await?
    } else {
        hookline_store::Store::redis_cluster(&redis.cluster_nodes, &redis.key_prefix).await?
    })
}

/// The sealer for `services`. The api writes secrets and delivery opens them: without an
/// operator key they would sit in clear text in the config topic (and whatever copies it), so
/// either refuses to start unless plaintext secrets are explicitly allowed. Ingest and enrich
/// never touch a secret and start either way.
pub fn sealer_for(services: &[Service], security: &SecurityArgs) -> anyhow::Result<Sealer> {
    let sealer = Sealer::new(security.secret_key.as_deref()).context("HOOKLINE_SECRET_KEY")?;
    let handles_secrets = services.iter().any(|s| matches!(s, Service::Api | Service::Delivery));
    if handles_secrets && !sealer.encrypts() {
        anyhow::ensure!(security.allow_plaintext_secrets, PLAINTEXT_SECRETS_REFUSED);
        tracing::warn!("HOOKLINE_SECRET_KEY is not set and plaintext secrets are allowed: signing secrets and Basic-auth credentials are stored in clear text in the config topic");
    }
    Ok(sealer)
}

/// A process serving the API refuses an admin token that could be guessed (see
/// `hookline_api::admin::check_admin_token`); the message names the rule, never the token.
pub fn admin_token_check(services: &[Service], settings: &Settings) -> anyhow::Result<()> {
    match settings.api.admin_token.as_deref() {
        Some(token) if services.contains(&Service::Api) => {
            hookline_api::admin::check_admin_token(token).map_err(anyhow::Error::msg)
        }
        _ => Ok(()),
    }
}

/// `HOOKLINE_HTTP_*` as the servers take them (clap has checked every value is at least 1).
fn http_limits(a: &HttpArgs) -> HttpLimits {
    HttpLimits {
        header_read_timeout: Duration::from_secs(a.header_read_timeout_secs),
        request_timeout: Duration::from_secs(a.request_timeout_secs),
        idle_timeout: Duration::from_secs(a.idle_timeout_secs),
        max_connections: usize::try_from(a.max_connections).unwrap_or(usize::MAX),
        max_connections_per_client: match a.max_connections_per_client {
            Some(n) => usize::try_from(n).unwrap_or(usize::MAX),
            None => usize::try_from(a.max_connections / hookline_telemetry::PER_CLIENT_SHARE as u64)
                .unwrap_or(usize::MAX)
                .max(1),
        },
        max_body_bytes: usize::try_from(a.max_body_bytes).unwrap_or(usize::MAX),
    }
}

/// Starts `services` in this process.
pub async fn start(
    services: &[Service],
    kafka: &KafkaSettings,
    store: Store,
    settings: &Settings,
    shutdown: CancellationToken,
) -> anyhow::Result<Pipeline> {
    let sealer = sealer_for(services, &settings.security)?;
    admin_token_check(services, settings)?;
    let policy = UrlPolicy::new(settings.security.allow_http_urls, settings.security.allow_cidrs.clone())
        .resolving_at_config(settings.security.url_resolve_at_config);
    if kafka.create_topics {
        hookline_kafka::admin::ensure_topics(kafka, &kafka.topics.specs())
            .await
            .context("creating topics")?;
    }
    let base = Runtime::new(
        shutdown.clone(),
        Duration::from_secs(settings.shutdown.drain_timeout_secs),
    )
    .with_http_limits(http_limits(&settings.http));
    let config_ready = base.readiness.component("config");
    let config = ConfigHandle::follow(kafka, shutdown.clone())
        .await
        .context("reading the config topic")?;
    {
        let config = config.clone();
        tokio::spawn(async move {
            config.wait_caught_up().await;
            config_ready.store(true, std::sync::atomic::Ordering::Relaxed);
        });
    }

    let mut registries = vec![base.registry.clone()];
    let mut tasks: Vec<(Service, JoinHandle<anyhow::Result<()>>)> = vec![];
    let (mut api_addr, mut ingest_addr) = (None, None);
    for &svc in services {
        let rt = base.sibling();
        registries.push(rt.registry.clone());
        match svc {
            Service::Ingest => {
                let r = hookline_ingest::start(kafka, store.clone(), config.clone(), &settings.ingest, &rt).await?;
                ingest_addr = Some(r.http_addr);
                tasks.push((svc, tokio::spawn(async move { Ok(r.task.await??) })));
            }
            Service::Enrich => {
                let r = hookline_enrich::start(kafka, store.clone(), config.clone(), &settings.enrich, &rt).await?;
                tasks.push((svc, tokio::spawn(async move { Ok(r.task.await??) })));
            }
            Service::Delivery => {
                let r = hookline_delivery::start(
                    kafka,
                    store.clone(),
                    config.clone(),
                    policy.clone(),
                    sealer.clone(),
                    &settings.delivery,
                    &rt,
                )
                .await?;
                tasks.push((svc, tokio::spawn(async move { Ok(r.task.await??) })));
            }
            Service::Api => {
                let r = hookline_api::start(
                    kafka,
                    store.clone(),
                    config.clone(),
                    policy.clone(),
                    sealer.clone(),
                    &settings.api,
                    &rt,
                )
                .await?;
                api_addr = Some(r.addr);
                tasks.push((svc, tokio::spawn(async move { Ok(r.task.await??) })));
            }
        }
    }
    let admin = serve_admin(settings.admin.addr, registries, &base)
        .await
        .context("binding the admin port")?;
    Ok(Pipeline {
        api_addr,
        ingest_addr,
        admin_addr: admin.addr,
        readiness: base.readiness,
        shutdown,
        config,
        tasks,
        admin_task: admin.task,
    })
}
