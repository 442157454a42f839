//! Records that arrive from outside Hookline, after ingest has validated them.
//!
//! These are also the JSON contracts of the raw input topics: the gateway writes
//! [`AcceptedMessage`] records; carriers write [`CarrierDlr`] records (or SMPP receipt text,
//! which ingest turns into a `CarrierDlr`).

use crate::status::DlrStatus;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One SMS the gateway accepted, with the metadata a delivery report is later joined with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AcceptedMessage {
    /// The id the customer got back from the send call.
    pub message_id: String,
    /// The id the carrier assigned on submit; carrier DLRs refer to it.
    pub carrier_message_id: String,
    pub workspace_id: String,
    pub recipient: String,
    pub sender_id: String,
    #[serde(default = "one")]
    pub num_parts: u32,
    #[serde(default)]
    pub cost: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub broadcast_id: Option<String>,
    /// When the gateway accepted the message.
    pub accepted_at: DateTime<Utc>,
}

fn one() -> u32 {
    1
}

/// A carrier delivery report, normalised.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CarrierDlr {
    /// Matches [`AcceptedMessage::carrier_message_id`].
    pub carrier_message_id: String,
    pub status: DlrStatus,
    /// The carrier's own error/status code (SMPP `err:`), `"000"` when it sent none.
    pub status_code: String,
    /// When the carrier reached this status (SMPP `done date`); ingest time when absent.
    pub done_at: DateTime<Utc>,
    /// Actual cost reported by the carrier, when it reports one; otherwise the cost known at
    /// submit is used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost: Option<f64>,
    /// Free-form carrier name, for logs only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub carrier: Option<String>,
    /// When Hookline first saw the report; end-to-end latency is measured from here.
    pub received_at: DateTime<Utc>,
}
