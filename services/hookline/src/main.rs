//! `hookline`: every service in one binary (`run`), the embedded pipeline (`embedded`), and
//! operator commands (`topics`, `admin`).

use clap::Parser;
use hookline::cli::{run_services, services_or_all, AdminCommand, Cli, Command};
use hookline_kafka::{ConfigWriter, KafkaSettings};
use hookline_model::Permission;

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
        Command::Admin {
            command:
                AdminCommand::CreateKey {
                    workspace,
                    permissions,
                    kafka,
                },
        } => {
            anyhow::ensure!(
                hookline_api::admin::valid_workspace_id(&workspace),
                "invalid workspace id"
            );
            let perms = permissions
                .iter()
                .map(|p| Permission::parse(p).ok_or_else(|| anyhow::anyhow!("unknown permission {p}")))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let kafka = KafkaSettings::from_args(&kafka)?;
            let (key, rec) = hookline_api::auth::new_key(&workspace, perms);
            ConfigWriter::new(kafka.producer()?, kafka.topics.config())
                .put_api_key(&rec)
                .await?;
            println!("{key}");
            eprintln!("key id {} for workspace {workspace}; it is shown only once", rec.key_id);
            Ok(())
        }
        Command::Admin {
            command:
                AdminCommand::ResendDeadLetters {
                    workspace,
                    subscription,
                    from,
                    to,
                    kafka,
                    redis,
                },
        } => {
            let kafka = KafkaSettings::from_args(&kafka)?;
            let store = hookline_store::Store::redis(&redis.url, &redis.key_prefix).await?;
            let filter = hookline_api::dead_letters::ResendFilter {
                workspace_id: workspace,
                subscription_id: subscription,
                from,
                to,
            };
            let n = hookline_api::dead_letters::resend(&store, &kafka.producer()?, &kafka.topics, &filter).await?;
            println!("re-sent {n} dead letters");
            Ok(())
        }
    }
}
