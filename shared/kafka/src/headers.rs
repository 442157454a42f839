//! Record header names Hookline writes, and helpers to read them.

use rdkafka::message::{Headers, OwnedHeaders};

/// Quarantine: stable reason code (`invalid_json`, `missing_field`, ...).
pub const QUARANTINE_REASON: &str = "hookline-quarantine-reason";
/// Quarantine: human-readable detail.
pub const QUARANTINE_DETAIL: &str = "hookline-quarantine-detail";
/// Quarantine: the original record's size in bytes, when only its first
/// [`crate::quarantine::PAYLOAD_MAX`] bytes are kept.
pub const QUARANTINE_TRUNCATED: &str = "hookline-quarantine-truncated-from";
/// Quarantine: where the record came from.
pub const SOURCE_TOPIC: &str = "hookline-source-topic";
pub const SOURCE_PARTITION: &str = "hookline-source-partition";
pub const SOURCE_OFFSET: &str = "hookline-source-offset";
/// Delayed topics: the earliest time (Unix ms) the record may be processed.
pub const DUE_AT_MS: &str = "hookline-due-at-ms";
/// Delayed topics: when the record was first seen (Unix ms); bounds the total wait.
pub const FIRST_SEEN_MS: &str = "hookline-first-seen-ms";
/// Dispatch and retry topics: 1-based attempt number of the next attempt.
pub const ATTEMPT: &str = "hookline-attempt";
/// Retry topics: why the previous attempt failed.
pub const LAST_ERROR: &str = "hookline-last-error";

/// The value of header `name` as UTF-8, if present.
pub fn get<'a>(headers: Option<&'a OwnedHeaders>, name: &str) -> Option<&'a str> {
    let h = headers?;
    h.iter()
        .find(|h| h.key == name)
        .and_then(|h| h.value)
        .and_then(|v| std::str::from_utf8(v).ok())
}

/// The value of header `name` parsed as an integer.
pub fn get_i64(headers: Option<&OwnedHeaders>, name: &str) -> Option<i64> {
    get(headers, name)?.parse().ok()
}
