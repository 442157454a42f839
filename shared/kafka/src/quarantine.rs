//! The quarantine topic: records that cannot be processed are moved there with the reason,
//! so one bad record never stops a consumer and nothing is silently dropped.

use crate::headers;
use crate::{KafkaError, Producer};
use prometheus::IntCounterVec;
use rdkafka::message::{Message, OwnedMessage};

/// Why a record was quarantined. [`QuarantineReason::as_str`] is the stable code written to
/// the `hookline-quarantine-reason` header, the `reason` label of `hookline_quarantined_total`
/// and (for ingest) the `reason` of an HTTP `400`; codes never change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QuarantineReason {
    // ingest: the input does not validate.
    EmptyRecord,
    InvalidUtf8,
    InvalidJson,
    MissingField,
    InvalidField,
    UnknownStatus,
    InvalidSmppReceipt,
    RecordTooLarge,
    // enrich
    /// A DLR or click whose message is unknown (after the DLR wait, for a DLR).
    MetadataNotFound,
    /// A record on an internal topic that does not decode as Hookline's own format.
    InvalidInternalRecord,
    ConversionNotJoined,
    /// A message or click whose ids already belong to another one.
    MetadataConflict,
    /// A record from a workspace-bound credential that refers to another workspace's message.
    WorkspaceMismatch,
    InvalidRevocation,
    // delivery
    InvalidDispatchRecord,
}

impl QuarantineReason {
    /// Every reason, in declaration order.
    pub const ALL: [Self; 15] = [
        Self::EmptyRecord,
        Self::InvalidUtf8,
        Self::InvalidJson,
        Self::MissingField,
        Self::InvalidField,
        Self::UnknownStatus,
        Self::InvalidSmppReceipt,
        Self::RecordTooLarge,
        Self::MetadataNotFound,
        Self::InvalidInternalRecord,
        Self::ConversionNotJoined,
        Self::MetadataConflict,
        Self::WorkspaceMismatch,
        Self::InvalidRevocation,
        Self::InvalidDispatchRecord,
    ];

    /// The stable wire code.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::EmptyRecord => "empty_record",
            Self::InvalidUtf8 => "invalid_utf8",
            Self::InvalidJson => "invalid_json",
            Self::MissingField => "missing_field",
            Self::InvalidField => "invalid_field",
            Self::UnknownStatus => "unknown_status",
            Self::InvalidSmppReceipt => "invalid_smpp_receipt",
            Self::RecordTooLarge => "record_too_large",
            Self::MetadataNotFound => "metadata_not_found",
            Self::InvalidInternalRecord => "invalid_internal_record",
            Self::ConversionNotJoined => "conversion_not_joined",
            Self::MetadataConflict => "metadata_conflict",
            Self::WorkspaceMismatch => "workspace_mismatch",
            Self::InvalidRevocation => "invalid_revocation",
            Self::InvalidDispatchRecord => "invalid_dispatch_record",
        }
    }
}

impl std::fmt::Display for QuarantineReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

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

/// Writes quarantined records and counts them by service and reason.
#[derive(Clone)]
pub struct Quarantine {
    producer: Producer,
    topic: String,
    /// The owning service's name, the `service` label.
    service: &'static str,
    /// The process's `hookline_quarantined_total{service, reason}`
    /// ([`hookline_telemetry::Runtime::quarantined`]).
    counter: IntCounterVec,
}

impl Quarantine {
    /// Counts into `rt`'s `hookline_quarantined_total` with `service` as the service label.
    pub fn new(producer: Producer, topic: String, service: &'static str, rt: &hookline_telemetry::Runtime) -> Self {
        Self {
            producer,
            topic,
            service,
            counter: rt.quarantined.clone(),
        }
    }

    /// Quarantines `payload` (the original bytes, untouched up to [`PAYLOAD_MAX`]) with a
    /// stable `reason` code and a human-readable `detail`.
    pub async fn put(
        &self,
        reason: QuarantineReason,
        detail: &str,
        source: Option<&SourcePosition>,
        key: Option<&[u8]>,
        payload: &[u8],
    ) -> Result<(), KafkaError> {
        let (partition, offset) = source
            .map(|s| (s.partition.to_string(), s.offset.to_string()))
            .unwrap_or_default();
        let mut hdrs: Vec<(&str, &[u8])> = vec![
            (headers::QUARANTINE_REASON, reason.as_str().as_bytes()),
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
        tracing::warn!(
            service = self.service,
            reason = reason.as_str(),
            detail,
            "record quarantined"
        );
        self.counter.with_label_values(&[self.service, reason.as_str()]).inc();
        Ok(())
    }

    /// Quarantines a consumed record as it is, with its topic, partition and offset.
    pub async fn put_record(
        &self,
        reason: QuarantineReason,
        detail: &str,
        msg: &OwnedMessage,
    ) -> Result<(), KafkaError> {
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

#[cfg(test)]
mod tests {
    use super::QuarantineReason;

    #[test]
    fn reason_codes_are_distinct_snake_case() {
        let codes: std::collections::BTreeSet<_> = QuarantineReason::ALL.iter().map(|r| r.as_str()).collect();
        assert_eq!(codes.len(), QuarantineReason::ALL.len());
        assert!(codes.iter().all(|c| c
            .chars()
            .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '_')));
        assert_eq!(QuarantineReason::InvalidSmppReceipt.to_string(), "invalid_smpp_receipt");
    }
}
