//! `hookline`: every service in one binary (`run`), the embedded pipeline (`embedded`), and
//! operator commands (`topics`, `admin`).

use clap::Parser;
use hookline::cli::{run_services, services_or_all, Cli, Command};
use hookline_kafka::KafkaSettings;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    hookline_telemetry::init_tracing();
    let cli = Cli::parse();
    match cli.command {
        Command::Run {
            services,
            kafka,
            redis,
            settings,
        } => run_services(&services_or_all(&services), &kafka, &redis, &settings).await,
        Command::Embedded { settings } => {
            hookline::embedded::run(*settings, hookline_telemetry::shutdown_on_signal()).await
        }
        Command::CreateTopics { kafka } => {
            let kafka = KafkaSettings::from_args(&kafka)?;
            hookline_kafka::admin::ensure_topics(&kafka, &kafka.topics.specs()).await?;
            println!("topics ready");
            Ok(())
        }
        Command::Admin { command } => hookline::admin::run(command).await,
    }
}
