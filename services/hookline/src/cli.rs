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
    Topics {
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
}

/// Services for `run`, `ALL` when none are given.
pub fn services_or_all(s: &[Service]) -> Vec<Service> {
    if s.is_empty() {
        Service::ALL.to_vec()
    } else {
        s.to_vec()
    }
}
