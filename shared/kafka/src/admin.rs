//! Topic creation, and a consumer group's lag (what it has not committed yet) and state.

use crate::{KafkaError, KafkaSettings};
use hookline_config::TopicSpec;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::types::RDKafkaErrorCode;
use std::time::Duration;

/// Creates the topics that do not exist yet, with `settings.topic_configs` (the compacted
/// config topic: `compacted_topic_configs`); existing ones are left as they are.
pub async fn ensure_topics(settings: &KafkaSettings, specs: &[TopicSpec]) -> Result<(), KafkaError> {
    let admin: AdminClient<DefaultClientContext> = settings.client(&[]).create()?;
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
    // Kafka answers a CreateTopics request once the controller has the topics; the brokers'
    // metadata and the partitions' leaders follow a moment later. Until they do, a consumer
    // or producer of a new topic sees "unknown topic" or "not leader": wait here, once, so
    // that every caller after ensure_topics finds its topics ready.
    let names: Vec<String> = specs.iter().map(|s| s.name.clone()).collect();
    tokio::task::spawn_blocking(move || wait_for_leaders(&admin, &names, Duration::from_secs(60)))
        .await
        .map_err(|e| KafkaError::Other(e.to_string()))?
}

/// Waits until every topic in `names` is in the metadata with a leader for each partition.
fn wait_for_leaders(
    admin: &AdminClient<DefaultClientContext>,
    names: &[String],
    timeout: Duration,
) -> Result<(), KafkaError> {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        let md = admin.inner().fetch_metadata(None, Duration::from_secs(10))?;
        let missing: Vec<&String> = names
            .iter()
            .filter(|n| !md.topics().iter().any(|t| t.name() == n.as_str() && has_leaders(t)))
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        if std::time::Instant::now() >= deadline {
            return Err(KafkaError::Other(format!(
                "topics without a leader after {timeout:?}: {missing:?}"
            )));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Whether a topic in a metadata answer is usable: known, with partitions, each with a leader.
pub(crate) fn has_leaders(t: &rdkafka::metadata::MetadataTopic) -> bool {
    t.error().is_none() && !t.partitions().is_empty() && t.partitions().iter().all(|p| p.leader() >= 0)
}

/// How many records of `topic` consumer group `group` has not committed yet (the sum over the
/// topic's partitions of the high watermark minus the committed offset; a partition the group
/// never committed counts from 0). Tests and benchmarks wait on it reaching 0 to know that a
/// service has handled everything produced so far, instead of sleeping.
pub async fn group_lag(settings: &KafkaSettings, group: &str, topic: &str) -> Result<i64, KafkaError> {
    use rdkafka::consumer::BaseConsumer;
    let consumer: BaseConsumer = settings.client(&[("group.id", group)]).create()?;
    let topic = topic.to_string();
    tokio::task::spawn_blocking(move || -> Result<i64, KafkaError> {
        let positions = group_positions(&consumer, &topic, Duration::from_secs(10))?;
        Ok(positions.iter().map(|p| (p.high - p.committed).max(0)).sum())
    })
    .await
    .map_err(|e| KafkaError::Other(format!("group lag task: {e}")))?
}

/// Consumer group `group`'s state (`Stable`, `PreparingRebalance`, …; empty when the broker
/// does not know it) and its number of members, as the brokers at `brokers` report it. Tests
/// and benchmarks wait on `Stable` with the members they started, instead of sleeping.
pub async fn group_state(brokers: &str, group: &str) -> Result<(String, usize), KafkaError> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let (brokers, group) = (brokers.to_string(), group.to_string());
    tokio::task::spawn_blocking(move || -> Result<(String, usize), KafkaError> {
        let probe: BaseConsumer = rdkafka::ClientConfig::new()
            .set("bootstrap.servers", &brokers)
            .create()?;
        let list = probe.fetch_group_list(Some(&group), Duration::from_secs(5))?;
        Ok(list
            .groups()
            .iter()
            .find(|x| x.name() == group)
            .map(|x| (x.state().to_string(), x.members().len()))
            .unwrap_or_default())
    })
    .await
    .map_err(|e| KafkaError::Other(format!("group state task: {e}")))?
}

/// Where `consumer`'s group stands on one partition of a topic.
#[derive(Debug, Clone, Copy)]
pub struct GroupPosition {
    pub partition: i32,
    /// The group's committed offset (0 when it never committed).
    pub committed: i64,
    /// The partition's high watermark.
    pub high: i64,
}

/// The committed offset of `consumer`'s group and the high watermark of every partition of
/// `topic` (blocking calls: run it off the async runtime).
pub fn group_positions<C: rdkafka::consumer::Consumer<X>, X: rdkafka::consumer::ConsumerContext>(
    consumer: &C,
    topic: &str,
    timeout: Duration,
) -> Result<Vec<GroupPosition>, KafkaError> {
    let md = consumer.fetch_metadata(Some(topic), timeout)?;
    let partitions: Vec<i32> = md
        .topics()
        .iter()
        .filter(|t| t.name() == topic)
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect();
    let mut tpl = rdkafka::TopicPartitionList::new();
    for p in &partitions {
        tpl.add_partition(topic, *p);
    }
    let committed = consumer.committed_offsets(tpl, timeout)?;
    partitions
        .into_iter()
        .map(|partition| {
            let (_, high) = consumer.fetch_watermarks(topic, partition, timeout)?;
            let committed = match committed.find_partition(topic, partition).map(|e| e.offset()) {
                Some(rdkafka::Offset::Offset(o)) => o,
                _ => 0,
            };
            Ok(GroupPosition {
                partition,
                committed,
                high,
            })
        })
        .collect()
}
