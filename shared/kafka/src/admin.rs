//! Topic creation.

use crate::{KafkaError, KafkaSettings};
use hookline_config::TopicSpec;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::types::RDKafkaErrorCode;
use std::time::Duration;

/// Creates the topics that do not exist yet, with `settings.topic_configs` (the compacted
/// config topic: `compacted_topic_configs`); existing ones are left as they are.
pub async fn ensure_topics(settings: &KafkaSettings, specs: &[TopicSpec]) -> Result<(), KafkaError> {
    let admin: AdminClient<DefaultClientContext> = settings.base().create()?;
    let topics: Vec<NewTopic<'_>> = specs
        .iter()
        .map(|s| {
            let t = NewTopic::new(
                &s.name,
                s.partitions.unwrap_or(settings.partitions),
                TopicReplication::Fixed(settings.replication),
            );
            let (t, configs) = if s.compacted {
                (t.set("cleanup.policy", "compact"), &settings.compacted_topic_configs)
            } else {
                (t, &settings.topic_configs)
            };
            configs.iter().fold(t, |t, (k, v)| t.set(k, v))
        })
        .collect();
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    for result in admin.create_topics(&topics, &opts).await? {
        match result {
            Ok(_) => {}
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, code)) => {
                return Err(KafkaError::CreateTopic {
                    topic,
                    reason: code.to_string(),
                })
            }
        }
    }
    Ok(())
}
