//! The DLR wait topic: a delay queue for DLRs that arrived before their message's metadata.
//!
//! Every record carries its due time and when the DLR was first seen in headers. The pump
//! holds a record until its due time (pausing only its partition); all records are written
//! with the same recheck delay, so within a partition due times only grow.

use crate::{now_ms, Enricher};
use hookline_kafka::{headers, Handled, Message, OwnedMessage, QuarantineReason};

/// Parks a DLR for another look later, or quarantines it when it has waited long enough.
pub(crate) async fn park(e: &Enricher, msg: &OwnedMessage, first_seen_ms: i64) -> Handled {
    let now = now_ms();
    let waited_ms = now - first_seen_ms;
    if waited_ms >= (e.cfg.dlr_wait_max_secs * 1000) as i64 {
        e.metrics.join.with_label_values(&["not_found"]).inc();
        let detail = format!(
            "no accepted message with this carrier id within {} s",
            e.cfg.dlr_wait_max_secs
        );
        return e
            .quarantine_with(msg, QuarantineReason::MetadataNotFound, &detail)
            .await;
    }
    let due = (now + e.cfg.dlr_wait_recheck_ms as i64).to_string();
    let first = first_seen_ms.to_string();
    let hdrs: [(&str, &[u8]); 2] = [
        (headers::DUE_AT_MS, due.as_bytes()),
        (headers::FIRST_SEEN_MS, first.as_bytes()),
    ];
    let sent = e.producer.send(&e.wait_topic, msg.key(), msg.payload(), &hdrs).await;
    if sent.is_ok() {
        e.metrics.join.with_label_values(&["waiting"]).inc();
    }
    sent.into()
}
