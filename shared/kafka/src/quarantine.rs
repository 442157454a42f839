//! The quarantine topic: records that cannot be processed are moved there with the reason,
//! so one bad record never stops a consumer and nothing is silently dropped.

use crate::headers;
use crate::{KafkaError, Producer};
use prometheus::IntCounterVec;
use rdkafka::message::{Message, OwnedMessage};

/// Where a record came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourcePosition {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
}

/// The most of a record's bytes a quarantine record keeps. An input record may be larger than
/// Hookline's producers can write (an input topic configured for 10 MB records, say): copied
/// whole, its quarantine record would be refused, the consumer could not commit past it and
/// would stop on it at every restart. Its first 512 KiB and its size (header
/// [`headers::QUARANTINE_TRUNCATED`]) are kept instead; its source position says where the
/// whole record is while the input topic retains it.
pub const PAYLOAD_MAX: usize = 512 * 1024;

/// Writes quarantined records and counts them by reason.
#[derive(Clone)]
pub struct Quarantine {
    producer: Producer,
    topic: String,
    /// The owning service's `..._quarantined_total{reason}`.
    counter: IntCounterVec,
}

impl Quarantine {
    /// `counter` is labelled by `reason`.
    pub fn new(producer: Producer, topic: String, counter: IntCounterVec) -> Self {
        Self {
            producer,
            topic,
            counter,
        }
    }

    /// Quarantines `payload` (the original bytes, untouched up to [`PAYLOAD_MAX`]) with a
    /// stable `reason` code and a human-readable `detail`.
    pub async fn put(
        &self,
        reason: &'static str,
        detail: &str,
        source: Option<&SourcePosition>,
        key: Option<&[u8]>,
        payload: &[u8],
    ) -> Result<(), KafkaError> {
        let (partition, offset) = source
            .map(|s| (s.partition.to_string(), s.offset.to_string()))
            .unwrap_or_default();
        let mut hdrs: Vec<(&str, &[u8])> = vec![
            (headers::QUARANTINE_REASON, reason.as_bytes()),
            (headers::QUARANTINE_DETAIL, detail.as_bytes()),
        ];
        if let Some(s) = source {
            hdrs.push((headers::SOURCE_TOPIC, s.topic.as_bytes()));
            hdrs.push((headers::SOURCE_PARTITION, partition.as_bytes()));
            hdrs.push((headers::SOURCE_OFFSET, offset.as_bytes()));
        }
        let original_len;
        let payload = if payload.len() > PAYLOAD_MAX {
            original_len = payload.len().to_string();
            hdrs.push((headers::QUARANTINE_TRUNCATED, original_len.as_bytes()));
            &payload[..PAYLOAD_MAX]
        } else {
            payload
        };
        self.producer.send(&self.topic, key, Some(payload), &hdrs).await?;
        tracing::warn!(reason, detail, "record quarantined");
        self.counter.with_label_values(&[reason]).inc();
        Ok(())
    }

    /// Quarantines a consumed record as it is, with its topic, partition and offset.
    pub async fn put_record(&self, reason: &'static str, detail: &str, msg: &OwnedMessage) -> Result<(), KafkaError> {
        let source = SourcePosition {
            topic: msg.topic().to_string(),
            partition: msg.partition(),
            offset: msg.offset(),
        };
        self.put(
            reason,
            detail,
            Some(&source),
            msg.key(),
            msg.payload().unwrap_or_default(),
        )
        .await
    }
}
