//! Carrier delivery statuses and how every spelling a carrier uses maps onto the five final
//! statuses of the delivery webhook.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Status of a delivery report after normalisation.
///
/// The first five are the final statuses the 23 Telecom delivery webhook documents. `Enroute`
/// and `Accepted` are intermediate: the carrier has the message but has not reached a final
/// state. They are kept in the model (status events need them) but never fire the delivery
/// webhook, whose receivers expect one final report per message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DlrStatus {
    #[serde(rename = "DELIVRD")]
    Delivered,
    #[serde(rename = "UNDELIV")]
    Undeliverable,
    #[serde(rename = "REJECTD")]
    Rejected,
    #[serde(rename = "EXPIRED")]
    Expired,
    #[serde(rename = "UNKNOWN")]
    Unknown,
    #[serde(rename = "ENROUTE")]
    Enroute,
    #[serde(rename = "ACCEPTD")]
    Accepted,
}

impl DlrStatus {
    /// Parses a carrier's status, case-insensitively. Accepts the SMPP 3.4 short forms
    /// (`DELIVRD`, `UNDELIV`, ...), their long forms, and the numeric `message_state` values.
    ///
    /// `DELETED` (the SMSC deleted the message; it will not be delivered) maps to `UNDELIV`;
    /// `FAILED`/`UNDELIVERED` too. `SCHEDULED`/`SKIPPED`/`BUFFERED` are intermediate (`ENROUTE`).
    pub fn parse(raw: &str) -> Option<Self> {
        let s = raw.trim().to_ascii_uppercase();
        Some(match s.as_str() {
            "DELIVRD" | "DELIVERED" | "2" => Self::Delivered,
            "UNDELIV" | "UNDELIVERABLE" | "UNDELIVERED" | "FAILED" | "DELETED" | "5" | "4" => Self::Undeliverable,
            "REJECTD" | "REJECTED" | "8" => Self::Rejected,
            "EXPIRED" | "3" => Self::Expired,
            "UNKNOWN" | "7" => Self::Unknown,
            "ENROUTE" | "SCHEDULED" | "BUFFERED" | "SKIPPED" | "1" => Self::Enroute,
            "ACCEPTD" | "ACCEPTED" | "6" => Self::Accepted,
            _ => return None,
        })
    }

    /// The wire spelling, as in the webhook payload.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Delivered => "DELIVRD",
            Self::Undeliverable => "UNDELIV",
            Self::Rejected => "REJECTD",
            Self::Expired => "EXPIRED",
            Self::Unknown => "UNKNOWN",
            Self::Enroute => "ENROUTE",
            Self::Accepted => "ACCEPTD",
        }
    }

    /// Whether the message has reached a final state; only final reports fire the delivery
    /// webhook.
    pub fn is_final(self) -> bool {
        !matches!(self, Self::Enroute | Self::Accepted)
    }
}

impl fmt::Display for DlrStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_every_documented_spelling() {
        for (raw, want) in [
            ("DELIVRD", DlrStatus::Delivered),
            ("delivered", DlrStatus::Delivered),
            ("UNDELIV", DlrStatus::Undeliverable),
            ("DELETED", DlrStatus::Undeliverable),
            ("REJECTD", DlrStatus::Rejected),
            ("EXPIRED", DlrStatus::Expired),
            ("UNKNOWN", DlrStatus::Unknown),
            ("ENROUTE", DlrStatus::Enroute),
            ("ACCEPTD", DlrStatus::Accepted),
            ("2", DlrStatus::Delivered),
            ("8", DlrStatus::Rejected),
        ] {
            assert_eq!(DlrStatus::parse(raw), Some(want), "{raw}");
        }
        assert_eq!(DlrStatus::parse("BOGUS"), None);
        assert!(!DlrStatus::Enroute.is_final());
        assert!(DlrStatus::Expired.is_final());
    }

    #[test]
    fn serde_uses_wire_spelling() {
        assert_eq!(serde_json::to_string(&DlrStatus::Rejected).unwrap(), "\"REJECTD\"");
        let s: DlrStatus = serde_json::from_str("\"UNDELIV\"").unwrap();
        assert_eq!(s, DlrStatus::Undeliverable);
    }
}
