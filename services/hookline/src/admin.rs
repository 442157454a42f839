//! `hookline admin …`: operator commands that work on the config topic (and the store)
//! directly, for when the api is not reachable or not yet deployed. Each does what the
//! matching `/admin/v1/*` endpoint does, through the same validation.

use crate::cli::AdminCommand;
use anyhow::Context;
use hookline_config::{KafkaArgs, RedisArgs};
use hookline_kafka::{ConfigHandle, ConfigWriter, KafkaSettings};
use hookline_model::config_log::ConfigKey;
use hookline_store::KeyUsage;
use tokio_util::sync::CancellationToken;

pub async fn run(command: AdminCommand) -> anyhow::Result<()> {
    match command {
        AdminCommand::CreateKey {
            workspace,
            permissions,
            kafka,
        } => {
            let req = hookline_api::admin::NewApiKey {
                workspace_id: workspace.clone(),
                permissions,
            };
            let (key, rec) = req.generate().map_err(refused)?;
            writer(&kafka)?.put_api_key(&rec).await?;
            println!("{key}");
            eprintln!("key id {} for workspace {workspace}; it is shown only once", rec.key_id);
            Ok(())
        }
        AdminCommand::ListKeys {
            workspace,
            kafka,
            redis,
        } => {
            let (config, usage) = (replayed(&kafka).await?, usage(&redis).await?);
            let keys: Vec<_> = config.read(|c| c.api_keys().into_iter().cloned().collect());
            for k in keys
                .iter()
                .filter(|k| workspace.as_ref().is_none_or(|w| *w == k.workspace_id))
            {
                let view = hookline_api::admin::api_key_view(k, usage.last_used(&k.key_id).await);
                println!("{view}");
            }
            Ok(())
        }
        AdminCommand::RevokeKey { key_id, kafka } => {
            let config = replayed(&kafka).await?;
            let hash = config
                .read(|c| c.api_key_by_id(&key_id).map(|k| k.key_hash.clone()))
                .with_context(|| format!("no API key {key_id}"))?;
            writer(&kafka)?.delete(ConfigKey::ApiKey(hash)).await?;
            println!("revoked {key_id}");
            Ok(())
        }
        AdminCommand::CreateIngestKey {
            kinds,
            workspace,
            carrier_connection,
            name,
            kafka,
        } => {
            let req = hookline_api::admin::NewIngestKey {
                name,
                kinds,
                workspace_id: workspace,
                carrier_connection,
            };
            let (token, rec) = req.generate().map_err(refused)?;
            writer(&kafka)?.put_ingest_key(&rec).await?;
            println!("{token}");
            eprintln!("ingest key id {}; it is shown only once", rec.key_id);
            Ok(())
        }
        AdminCommand::ListIngestKeys { kafka, redis } => {
            let (config, usage) = (replayed(&kafka).await?, usage(&redis).await?);
            let keys: Vec<_> = config.read(|c| c.ingest_keys().into_iter().cloned().collect());
            for k in &keys {
                let view = hookline_api::admin::ingest_key_view(k, usage.last_used(&k.key_id).await);
                println!("{view}");
            }
            Ok(())
        }
        AdminCommand::RevokeIngestKey { key_id, kafka } => {
            let config = replayed(&kafka).await?;
            let hash = config
                .read(|c| c.ingest_key_by_id(&key_id).map(|k| k.key_hash.clone()))
                .with_context(|| format!("no ingest credential {key_id}"))?;
            writer(&kafka)?.delete(ConfigKey::IngestKey(hash)).await?;
            println!("revoked {key_id}");
            Ok(())
        }
        AdminCommand::ResendDeadLetters {
            workspace,
            subscription,
            from,
            to,
            kafka,
            redis,
        } => {
            let kafka = KafkaSettings::from_args(&kafka)?;
            let store = crate::open_store(&redis).await?;
            let filter = hookline_api::dead_letters::ResendFilter {
                workspace_id: workspace,
                subscription_id: subscription,
                from,
                to,
                webhook_ids: None,
            };
            let n = hookline_api::dead_letters::resend(&store, &kafka.producer()?, &kafka.topics, &filter).await?;
            println!("re-sent {n} dead letters");
            Ok(())
        }
    }
}

/// The API's typed refusal, as a CLI error.
fn refused(e: hookline_api::error::ApiError) -> anyhow::Error {
    anyhow::anyhow!("{}: {}", e.code, e.description)
}

fn writer(kafka: &KafkaArgs) -> anyhow::Result<ConfigWriter> {
    let kafka = KafkaSettings::from_args(kafka)?;
    Ok(ConfigWriter::new(kafka.producer()?, kafka.topics.config()))
}

/// The whole config topic, replayed.
async fn replayed(kafka: &KafkaArgs) -> anyhow::Result<ConfigHandle> {
    let kafka = KafkaSettings::from_args(kafka)?;
    let config = ConfigHandle::follow(&kafka, CancellationToken::new()).await?;
    config.wait_caught_up().await;
    Ok(config)
}

async fn usage(redis: &RedisArgs) -> anyhow::Result<KeyUsage> {
    Ok(KeyUsage::new(crate::open_store(redis).await?))
}
