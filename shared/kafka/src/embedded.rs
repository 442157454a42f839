//! The in-process broker behind `hookline embedded`: librdkafka's mock cluster. Nothing it
//! holds survives the process; it exists so the whole pipeline runs on a laptop with no Kafka.

use crate::KafkaError;
use hookline_config::TopicSpec;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::DefaultProducerContext;

/// A running mock cluster. Keep it alive as long as the services use it.
pub struct EmbeddedKafka {
    cluster: MockCluster<'static, DefaultProducerContext>,
}

impl EmbeddedKafka {
    /// Starts a one-broker cluster and creates `topics` with `partitions` each (the mock
    /// cluster does not serve admin requests, so topics are created through its own API).
    pub fn start(topics: &[TopicSpec], partitions: i32) -> Result<Self, KafkaError> {
        let cluster = MockCluster::new(1)?;
        for t in topics {
            cluster.create_topic(&t.name, t.partitions.unwrap_or(partitions), 1)?;
        }
        Ok(Self { cluster })
    }

    pub fn bootstrap_servers(&self) -> String {
        self.cluster.bootstrap_servers()
    }
}
