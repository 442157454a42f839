//! Turning raw input bytes into validated records, with a typed reason for every refusal.

use crate::smpp;
use chrono::{DateTime, Utc};
use hookline_model::{AcceptedMessage, CarrierDlr, DlrStatus};
use serde::Deserialize;

/// Why an input record was refused. [`InputError::reason`] is the stable code written to the
/// quarantine header and returned by the HTTP edge.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("record is empty")]
    Empty,
    #[error("record is not valid UTF-8")]
    NotUtf8,
    #[error("record is not valid JSON for this topic: {0}")]
    Json(#[from] serde_json::Error),
    #[error("field `{0}` is missing or empty")]
    MissingField(&'static str),
    #[error("field `{field}` is invalid: {why}")]
    InvalidField { field: &'static str, why: String },
    #[error("status `{0}` is not a known delivery status")]
    UnknownStatus(String),
    #[error("SMPP receipt: {0}")]
    Smpp(#[from] smpp::ReceiptError),
}

impl InputError {
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Empty => "empty_record",
            Self::NotUtf8 => "invalid_utf8",
            Self::Json(_) => "invalid_json",
            Self::MissingField(_) => "missing_field",
            Self::InvalidField { .. } => "invalid_field",
            Self::UnknownStatus(_) => "unknown_status",
            Self::Smpp(_) => "invalid_smpp_receipt",
        }
    }
}

/// Validates a record of the accepted-message stream.
pub fn accepted_message(raw: &[u8]) -> Result<AcceptedMessage, InputError> {
    if raw.iter().all(u8::is_ascii_whitespace) {
        return Err(InputError::Empty);
    }
    let msg: AcceptedMessage = serde_json::from_slice(raw)?;
    for (name, value) in [
        ("message_id", &msg.message_id),
        ("carrier_message_id", &msg.carrier_message_id),
        ("workspace_id", &msg.workspace_id),
        ("recipient", &msg.recipient),
        ("sender_id", &msg.sender_id),
    ] {
        if value.trim().is_empty() {
            return Err(InputError::MissingField(name));
        }
    }
    if msg.num_parts == 0 {
        return Err(InputError::InvalidField {
            field: "num_parts",
            why: "must be at least 1".into(),
        });
    }
    if !msg.cost.is_finite() || msg.cost < 0.0 {
        return Err(InputError::InvalidField {
            field: "cost",
            why: "must be a non-negative number".into(),
        });
    }
    Ok(msg)
}

/// The JSON form of a carrier DLR. Aliases accept the SMPP names, so a carrier bridge can
/// forward receipt fields as they are.
#[derive(Deserialize)]
struct JsonDlr {
    #[serde(alias = "id")]
    carrier_message_id: Option<String>,
    #[serde(alias = "stat")]
    status: Option<String>,
    #[serde(default, alias = "err", alias = "error_code")]
    status_code: Option<String>,
    #[serde(default, alias = "done_date")]
    done_at: Option<DateTime<Utc>>,
    #[serde(default)]
    cost: Option<f64>,
    #[serde(default)]
    carrier: Option<String>,
}

/// Validates a carrier DLR: a JSON object, or SMPP receipt text.
pub fn carrier_dlr(raw: &[u8], received_at: DateTime<Utc>) -> Result<CarrierDlr, InputError> {
    let text = std::str::from_utf8(raw).map_err(|_| InputError::NotUtf8)?.trim();
    if text.is_empty() {
        return Err(InputError::Empty);
    }
    let (id, status, code, done_at, cost, carrier) = if text.starts_with('{') {
        let j: JsonDlr = serde_json::from_str(text)?;
        let id = j
            .carrier_message_id
            .filter(|s| !s.trim().is_empty())
            .ok_or(InputError::MissingField("carrier_message_id"))?;
        let status = j
            .status
            .filter(|s| !s.trim().is_empty())
            .ok_or(InputError::MissingField("status"))?;
        if let Some(c) = j.cost {
            if !c.is_finite() || c < 0.0 {
                return Err(InputError::InvalidField {
                    field: "cost",
                    why: "must be a non-negative number".into(),
                });
            }
        }
        (id, status, j.status_code, j.done_at, j.cost, j.carrier)
    } else {
        let r = smpp::parse(text)?;
        (r.id, r.stat, r.err, r.done_date, None, None)
    };
    let status = DlrStatus::parse(&status).ok_or(InputError::UnknownStatus(status))?;
    Ok(CarrierDlr {
        carrier_message_id: id.trim().to_string(),
        status,
        status_code: code
            .filter(|c| !c.trim().is_empty())
            .unwrap_or_else(|| "000".to_string()),
        done_at: done_at.unwrap_or(received_at),
        cost,
        carrier,
        received_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepted_message_validation() {
        let ok = br#"{"message_id":"m1","carrier_message_id":"c1","workspace_id":"w","recipient":"+1","sender_id":"S","num_parts":2,"cost":0.01,"accepted_at":"2026-02-13T10:30:00Z","extra":"ignored"}"#;
        assert_eq!(accepted_message(ok).unwrap().num_parts, 2);
        let missing = br#"{"message_id":"","carrier_message_id":"c1","workspace_id":"w","recipient":"+1","sender_id":"S","accepted_at":"2026-02-13T10:30:00Z"}"#;
        assert_eq!(accepted_message(missing).unwrap_err().reason(), "missing_field");
        assert_eq!(accepted_message(b"{").unwrap_err().reason(), "invalid_json");
        assert_eq!(accepted_message(b"  ").unwrap_err().reason(), "empty_record");
        let neg = br#"{"message_id":"m","carrier_message_id":"c1","workspace_id":"w","recipient":"+1","sender_id":"S","cost":-1,"accepted_at":"2026-02-13T10:30:00Z"}"#;
        assert_eq!(accepted_message(neg).unwrap_err().reason(), "invalid_field");
    }

    #[test]
    fn dlr_json_and_smpp() {
        let now = Utc::now();
        let j = carrier_dlr(
            br#"{"carrier_message_id":"c1","status":"delivered","err":"000","done_at":"2026-02-13T10:30:04Z"}"#,
            now,
        )
        .unwrap();
        assert_eq!(j.status, DlrStatus::Delivered);
        assert_eq!(j.status_code, "000");
        let s = carrier_dlr(
            b"id:c2 sub:001 dlvrd:000 submit date:2602131029 done date:2602131030 stat:REJECTD err:0B text:x",
            now,
        )
        .unwrap();
        assert_eq!(
            (s.carrier_message_id.as_str(), s.status, s.status_code.as_str()),
            ("c2", DlrStatus::Rejected, "0B")
        );
        let no_code = carrier_dlr(br#"{"id":"c3","stat":"EXPIRED"}"#, now).unwrap();
        assert_eq!((no_code.status_code.as_str(), no_code.done_at), ("000", now));
        assert_eq!(
            carrier_dlr(br#"{"id":"c3","stat":"WHAT"}"#, now).unwrap_err().reason(),
            "unknown_status"
        );
        assert_eq!(
            carrier_dlr(br#"{"stat":"DELIVRD"}"#, now).unwrap_err().reason(),
            "missing_field"
        );
        assert_eq!(carrier_dlr(b"hello", now).unwrap_err().reason(), "invalid_smpp_receipt");
        assert_eq!(carrier_dlr(&[0xff, 0xfe], now).unwrap_err().reason(), "invalid_utf8");
    }
}
