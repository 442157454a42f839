//! Kafka plumbing shared by the services.
//!
//! - [`client`]: librdkafka settings from [`hookline_config::KafkaArgs`], producer and consumer
//!   construction with the settings at-least-once delivery depends on.
//! - [`pump`]: the consume loop every service runs: bounded concurrency, a partition's offset
//!   stored only up to its lowest record whose outcome is not durable yet, records held until
//!   their due time, drain and commit on shutdown.
//! - [`admin`]: topic creation. [`embedded`]: the in-process broker of the no-dependency mode.
//! - [`config_log`]: the compacted config topic, read into memory and written by the API.
//! - [`quarantine`]: where records that cannot be processed go, with the reason.
//! - [`history`]: a topic read back between two times (replay), outside any consumer group.

pub mod admin;
pub mod client;
pub mod config_log;
pub mod context;
pub mod embedded;
pub mod headers;
pub mod history;
mod metrics;
pub mod pump;
pub mod quarantine;

pub use client::{KafkaSettings, Producer};
pub use config_log::{ConfigHandle, ConfigWriter};
pub use context::{BrokerWatch, HooklineConsumer};
pub use metrics::KafkaMetrics;
pub use pump::{Handled, Pump};
pub use quarantine::{Quarantine, QuarantineReason, SourcePosition};
pub use rdkafka::message::{Headers, Message, OwnedMessage};

/// Errors of this crate.
#[derive(Debug, thiserror::Error)]
pub enum KafkaError {
    #[error("kafka: {0}")]
    Client(#[from] rdkafka::error::KafkaError),
    #[error("invalid kafka setting: {0}")]
    Settings(String),
    #[error("creating topic {topic}: {reason}")]
    CreateTopic { topic: String, reason: String },
    #[error("encoding record: {0}")]
    Encode(#[from] serde_json::Error),
    #[error("{0}")]
    Other(String),
}
