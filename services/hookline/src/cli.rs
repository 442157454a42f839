//! Command line.

use crate::{Service, Settings};
use clap::{Parser, Subcommand};
use hookline_config::{KafkaArgs, RedisArgs};

#[derive(Debug, Parser)]
#[command(name = "hookline", version, about = "Kafka-based webhook delivery for SMS platforms")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run services against real Kafka and Redis.
    Run {
        /// Services to run in this process (comma separated).
        #[arg(
            long,
            env = "HOOKLINE_SERVICES",
            value_delimiter = ',',
            default_value = "ingest,enrich,delivery,api"
        )]
        services: Vec<Service>,
        #[command(flatten)]
        kafka: KafkaArgs,
        #[command(flatten)]
        redis: RedisArgs,
        #[command(flatten)]
        settings: Box<Settings>,
    },
    /// Run the whole pipeline in this process with an in-process broker and an in-memory
    /// store. Nothing is durable: for trying Hookline out, never for production.
    Embedded {
        #[command(flatten)]
        settings: Box<Settings>,
    },
    /// Create Hookline's topics (what `--create-topics` does at start-up).
    ///
    /// (The variant is not called `Topics`: clap names a variant's argument group after it,
    /// which collided with the flattened `Topics` group and made `hookline topics` panic.)
    #[command(name = "topics")]
    CreateTopics {
        #[command(flatten)]
        kafka: KafkaArgs,
    },
    /// Operator commands that write to the config topic directly.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create an API key for a workspace and print it (shown once).
    CreateKey {
        #[arg(long)]
        workspace: String,
        /// Comma separated: webhooks.read, webhooks.write.
        #[arg(long, value_delimiter = ',', default_value = "webhooks.read,webhooks.write")]
        permissions: Vec<String>,
        #[command(flatten)]
        kafka: KafkaArgs,
    },
    /// List API keys (ids, permissions, creation, last use; never a key).
    ListKeys {
        /// Only this workspace's.
        #[arg(long)]
        workspace: Option<String>,
        #[command(flatten)]
        kafka: KafkaArgs,
        #[command(flatten)]
        redis: RedisArgs,
    },
    /// Revoke an API key by its key id (`key_…`): every replica stops accepting it.
    RevokeKey {
        key_id: String,
        #[command(flatten)]
        kafka: KafkaArgs,
    },
    /// Create an ingest credential and print it (shown once): who may push which inputs
    /// through ingest's HTTP edge.
    CreateIngestKey {
        /// Comma separated: messages, dlr, clicks, conversions, inbound, revocations.
        #[arg(long, value_delimiter = ',', required = true)]
        kinds: Vec<String>,
        /// Bind it to one workspace (a customer's conversion tracking token, for example).
        #[arg(long)]
        workspace: Option<String>,
        /// Bind it to one carrier connection (a carrier's DLR callbacks).
        #[arg(long)]
        carrier_connection: Option<String>,
        /// A label for listings.
        #[arg(long)]
        name: Option<String>,
        #[command(flatten)]
        kafka: KafkaArgs,
    },
    /// List ingest credentials (ids, kinds, bindings, creation, last use; never a credential).
    ListIngestKeys {
        #[command(flatten)]
        kafka: KafkaArgs,
        #[command(flatten)]
        redis: RedisArgs,
    },
    /// Revoke an ingest credential by its key id (`ing_…`).
    RevokeIngestKey {
        key_id: String,
        #[command(flatten)]
        kafka: KafkaArgs,
    },
    /// Put dead-lettered events of a workspace back on the dispatch topic (attempt 1, same
    /// webhook id) and remove them from the dead-letter list.
    ResendDeadLetters {
        #[arg(long)]
        workspace: String,
        /// Only this subscription's.
        #[arg(long)]
        subscription: Option<String>,
        /// Only those dead-lettered at or after this time (RFC 3339).
        #[arg(long)]
        from: Option<chrono::DateTime<chrono::Utc>>,
        /// Only those dead-lettered at or before this time (RFC 3339).
        #[arg(long)]
        to: Option<chrono::DateTime<chrono::Utc>>,
        #[command(flatten)]
        kafka: KafkaArgs,
        #[command(flatten)]
        redis: RedisArgs,
    },
}

/// The arguments of a single-service binary (`hookline-ingest`, ...).
#[derive(Debug, Parser)]
pub struct ServiceCli {
    #[command(flatten)]
    pub kafka: KafkaArgs,
    #[command(flatten)]
    pub redis: RedisArgs,
    #[command(flatten)]
    pub settings: Box<Settings>,
}

/// Runs `services` against real Kafka and Redis until SIGTERM/SIGINT.
pub async fn run_services(
    services: &[Service],
    kafka: &KafkaArgs,
    redis: &RedisArgs,
    settings: &Settings,
) -> anyhow::Result<()> {
    // Refused before anything connects, so a missing key fails at once with its message.
    crate::sealer_for(services, &settings.security)?;
    crate::admin_token_check(services, settings)?;
    let kafka = hookline_kafka::KafkaSettings::from_args(kafka)?;
    let store = crate::open_store(redis).await?;
    let shutdown = hookline_telemetry::shutdown_on_signal();
    let pipeline = crate::start(services, &kafka, store, settings, shutdown).await?;
    tracing::info!(?services, api = ?pipeline.api_addr, ingest = ?pipeline.ingest_addr, admin = %pipeline.admin_addr, "hookline started");
    pipeline.wait().await
}

/// `main` of a single-service binary.
pub async fn service_main(service: Service) -> anyhow::Result<()> {
    hookline_telemetry::init_tracing();
    let cli = ServiceCli::parse();
    run_services(&[service], &cli.kafka, &cli.redis, &cli.settings).await
}

/// Services for `run`, `ALL` when none are given.
pub fn services_or_all(s: &[Service]) -> Vec<Service> {
    if s.is_empty() {
        Service::ALL.to_vec()
    } else {
        s.to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// clap's own consistency checks over every subcommand (unique ids and groups, ...),
    /// which otherwise only fire when that subcommand is parsed in a debug build.
    #[test]
    fn the_command_line_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
        ServiceCli::command().debug_assert();
    }
}
