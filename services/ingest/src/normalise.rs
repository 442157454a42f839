//! Turning raw input bytes into validated records, with a typed reason for every refusal.

use crate::smpp;
use chrono::{DateTime, Utc};
use hookline_kafka::QuarantineReason;
use hookline_model::{
    AcceptedMessage, CarrierDlr, ClickInput, ConversionInput, DlrStatus, InboundInput, LinkType, RevokedClickInput,
};
use serde::Deserialize;
use serde_json::{Map, Value};

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
    #[error("the normalised record is {size} bytes, more than the {limit} a record may have")]
    TooLarge { size: usize, limit: usize },
}

impl InputError {
    pub fn reason(&self) -> QuarantineReason {
        match self {
            Self::Empty => QuarantineReason::EmptyRecord,
            Self::NotUtf8 => QuarantineReason::InvalidUtf8,
            Self::Json(_) => QuarantineReason::InvalidJson,
            Self::MissingField(_) => QuarantineReason::MissingField,
            Self::InvalidField { .. } => QuarantineReason::InvalidField,
            Self::UnknownStatus(_) => QuarantineReason::UnknownStatus,
            Self::Smpp(_) => QuarantineReason::InvalidSmppReceipt,
            Self::TooLarge { .. } => QuarantineReason::RecordTooLarge,
        }
    }
}

/// Longest identifier-like value (message, carrier, click and inbound ids, phone numbers,
/// sender ids, status codes, event names, ...), in characters.
pub const MAX_ID_CHARS: usize = 256;
/// Longest message text: a concatenated SMS is at most 1,600 characters in practice, a
/// WhatsApp message 4,096 (inbound records carry any channel).
pub const MAX_TEXT_CHARS: usize = 4096;
/// Longest URL (short link, original link).
pub const MAX_URL_CHARS: usize = 2048;
/// Longest user agent.
pub const MAX_USER_AGENT_CHARS: usize = 1024;
/// Largest normalised record ingest produces: far below Kafka's default `message.max.bytes`
/// (1 MB), so a record that validated is never refused by the broker for its size (which the
/// HTTP edge could only answer `503 try again`, forever).
pub const MAX_RECORD_BYTES: usize = 256 * 1024;

/// `value` of `field` if it has at most `max` characters, else `invalid_field` naming both.
/// Lengths are checked before anything else looks at a value, so no error message, log line
/// or derived id ever carries an oversized one.
fn bounded(field: &'static str, value: &str, max: usize) -> Result<(), InputError> {
    // A value of more than 4 * max bytes has more than max characters; no need to count them.
    if value.len() > max && (value.len() > 4 * max || value.chars().count() > max) {
        return Err(InputError::InvalidField {
            field,
            why: format!("longer than {max} characters"),
        });
    }
    Ok(())
}

fn bounded_opt(field: &'static str, value: Option<&str>, max: usize) -> Result<(), InputError> {
    value.map_or(Ok(()), |v| bounded(field, v, max))
}

/// The workspace-id rule the API applies to keys: 1–64 of `[A-Za-z0-9_.-]`.
fn workspace_id(value: &str) -> Result<(), InputError> {
    if hookline_model::ids::valid_workspace_id(value) {
        return Ok(());
    }
    Err(InputError::InvalidField {
        field: "workspace_id",
        why: "must be 1-64 characters of A-Z, a-z, 0-9, `_`, `.` and `-`".into(),
    })
}

/// The whole-record bound ([`MAX_RECORD_BYTES`]) on the serialised record about to be
/// produced.
pub fn check_record_size(value: &[u8]) -> Result<(), InputError> {
    if value.len() > MAX_RECORD_BYTES {
        return Err(InputError::TooLarge {
            size: value.len(),
            limit: MAX_RECORD_BYTES,
        });
    }
    Ok(())
}

/// Validates a record of the accepted-message stream.
pub fn accepted_message(raw: &[u8]) -> Result<AcceptedMessage, InputError> {
    if raw.iter().all(u8::is_ascii_whitespace) {
        return Err(InputError::Empty);
    }
    let mut msg: AcceptedMessage = serde_json::from_slice(raw)?;
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
    workspace_id(&msg.workspace_id)?;
    for (name, value) in [
        ("message_id", &msg.message_id),
        ("carrier_message_id", &msg.carrier_message_id),
        ("recipient", &msg.recipient),
        ("sender_id", &msg.sender_id),
    ] {
        bounded(name, value, MAX_ID_CHARS)?;
    }
    bounded_opt("broadcast_id", msg.broadcast_id.as_deref(), MAX_ID_CHARS)?;
    if let Some(d) = &msg.details {
        bounded_opt("details.text", d.text.as_deref(), MAX_TEXT_CHARS)?;
        bounded_opt("details.original_url", d.original_url.as_deref(), MAX_URL_CHARS)?;
        bounded_opt("details.shortened_url", d.shortened_url.as_deref(), MAX_URL_CHARS)?;
        for (name, value) in [
            ("details.reference", &d.reference),
            ("details.country_name", &d.country_name),
            ("details.country_iso", &d.country_iso),
            ("details.delay_time", &d.delay_time),
        ] {
            bounded_opt(name, value.as_deref(), MAX_ID_CHARS)?;
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
    let carrier_connection = connection_id(msg.carrier_connection.take())?;
    msg.carrier_connection = carrier_connection;
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
    #[serde(default)]
    carrier_connection: Option<String>,
}

/// Validates a carrier DLR: a JSON object, or SMPP receipt text.
pub fn carrier_dlr(raw: &[u8], received_at: DateTime<Utc>) -> Result<CarrierDlr, InputError> {
    let text = std::str::from_utf8(raw).map_err(|_| InputError::NotUtf8)?.trim();
    if text.is_empty() {
        return Err(InputError::Empty);
    }
    let (id, status, code, done_at, cost, carrier, connection) = if text.starts_with('{') {
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
        (
            id,
            status,
            j.status_code,
            j.done_at,
            j.cost,
            j.carrier,
            j.carrier_connection,
        )
    } else {
        let r = smpp::parse(text)?;
        (r.id, r.stat, r.err, r.done_date, None, None, None)
    };
    bounded("carrier_message_id", &id, MAX_ID_CHARS)?;
    bounded("status", &status, MAX_ID_CHARS)?;
    bounded_opt("status_code", code.as_deref(), MAX_ID_CHARS)?;
    bounded_opt("carrier", carrier.as_deref(), MAX_ID_CHARS)?;
    let carrier_connection = connection_id(connection)?;
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
        carrier_connection,
        workspace_id: None,
        received_at,
    })
}

/// Validates a revoked click (`POST /v1/revocations`): the workspace-id rule and the id
/// bound every other input has, so an oversized or malformed id is a `400 invalid_field`
/// rather than a record Kafka refuses (`503`, retried forever) or one no workspace can match.
pub fn revocation(raw: &[u8]) -> Result<RevokedClickInput, InputError> {
    if raw.iter().all(u8::is_ascii_whitespace) {
        return Err(InputError::Empty);
    }
    let r: RevokedClickInput = serde_json::from_slice(raw)?;
    for (field, value) in [("workspace_id", &r.workspace_id), ("message_id", &r.message_id)] {
        if value.trim().is_empty() {
            return Err(InputError::MissingField(field));
        }
    }
    workspace_id(&r.workspace_id)?;
    bounded("message_id", &r.message_id, MAX_ID_CHARS)?;
    Ok(r)
}

/// A carrier connection id, when given: 1–64 of `[A-Za-z0-9_.-]` (it becomes part of a store
/// key, so it may not contain the key separator).
pub fn connection_id(raw: Option<String>) -> Result<Option<String>, InputError> {
    let Some(c) = raw.map(|c| c.trim().to_string()).filter(|c| !c.is_empty()) else {
        return Ok(None);
    };
    if !hookline_model::ids::valid_workspace_id(&c) {
        return Err(InputError::InvalidField {
            field: "carrier_connection",
            why: "must be 1-64 of A-Z a-z 0-9 _ . -".into(),
        });
    }
    Ok(Some(c))
}

#[derive(Deserialize)]
struct RawInbound {
    #[serde(default)]
    inbound_id: Option<String>,
    workspace_id: Option<String>,
    from: Option<String>,
    to: Option<String>,
    #[serde(default, alias = "message")]
    text: String,
    #[serde(default)]
    last_message_id: Option<String>,
    #[serde(default, alias = "received")]
    received_at: Option<DateTime<Utc>>,
    #[serde(default)]
    channel: hookline_model::Channel,
}

/// Validates an inbound SMS: `workspace_id`, `from` and `to` are required; the text may be
/// empty.
pub fn inbound(raw: &[u8], ingested_at: DateTime<Utc>) -> Result<InboundInput, InputError> {
    if raw.iter().all(u8::is_ascii_whitespace) {
        return Err(InputError::Empty);
    }
    let r: RawInbound = serde_json::from_slice(raw)?;
    let workspace = required(r.workspace_id, "workspace_id")?;
    workspace_id(&workspace)?;
    let workspace_id = workspace;
    let from = required(r.from, "from")?;
    let to = required(r.to, "to")?;
    bounded("from", &from, MAX_ID_CHARS)?;
    bounded("to", &to, MAX_ID_CHARS)?;
    bounded("text", &r.text, MAX_TEXT_CHARS)?;
    bounded_opt("inbound_id", r.inbound_id.as_deref(), MAX_ID_CHARS)?;
    bounded_opt("last_message_id", r.last_message_id.as_deref(), MAX_ID_CHARS)?;
    let received_at = r.received_at.unwrap_or(ingested_at);
    let inbound_id = r.inbound_id.filter(|s| !s.trim().is_empty()).unwrap_or_else(|| {
        hookline_model::ids::stable_id("in", &[&workspace_id, &from, &to, &r.text, &received_at.to_rfc3339()])
    });
    Ok(InboundInput {
        inbound_id,
        workspace_id,
        from,
        to,
        text: r.text,
        last_message_id: r.last_message_id.filter(|s| !s.trim().is_empty()),
        received_at,
        ingested_at,
        channel: r.channel,
    })
}

/// The shortener's click record.
#[derive(Deserialize)]
struct RawClick {
    #[serde(default)]
    click_id: Option<String>,
    #[serde(alias = "short_url")]
    url: Option<String>,
    message_id: Option<String>,
    #[serde(default)]
    broadcast_id: Option<String>,
    recipient: Option<String>,
    #[serde(default)]
    link_type: Option<LinkType>,
    #[serde(default)]
    user_agent: String,
    #[serde(default)]
    ip: String,
    #[serde(default)]
    bot: bool,
    #[serde(default)]
    opt_out: bool,
    #[serde(default)]
    clicked_at: Option<DateTime<Utc>>,
}

fn required(v: Option<String>, name: &'static str) -> Result<String, InputError> {
    v.map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .ok_or(InputError::MissingField(name))
}

/// Validates a click. `link_type` defaults to `broadcast` when the click names a broadcast,
/// else `api`; `click_id` defaults to an id derived from the content.
pub fn click(raw: &[u8], received_at: DateTime<Utc>) -> Result<ClickInput, InputError> {
    if raw.iter().all(u8::is_ascii_whitespace) {
        return Err(InputError::Empty);
    }
    let c: RawClick = serde_json::from_slice(raw)?;
    let url = required(c.url, "url")?;
    let message_id = required(c.message_id, "message_id")?;
    let recipient = required(c.recipient, "recipient")?;
    bounded("url", &url, MAX_URL_CHARS)?;
    bounded("message_id", &message_id, MAX_ID_CHARS)?;
    bounded("recipient", &recipient, MAX_ID_CHARS)?;
    bounded_opt("click_id", c.click_id.as_deref(), MAX_ID_CHARS)?;
    bounded_opt("broadcast_id", c.broadcast_id.as_deref(), MAX_ID_CHARS)?;
    bounded("user_agent", &c.user_agent, MAX_USER_AGENT_CHARS)?;
    bounded("ip", &c.ip, MAX_ID_CHARS)?;
    let broadcast_id = c.broadcast_id.filter(|b| !b.trim().is_empty());
    let clicked_at = c.clicked_at.unwrap_or(received_at);
    let link_type = c.link_type.unwrap_or(if broadcast_id.is_some() {
        LinkType::Broadcast
    } else {
        LinkType::Api
    });
    let click_id = c.click_id.filter(|s| !s.trim().is_empty()).unwrap_or_else(|| {
        hookline_model::ids::stable_id("clk", &[&url, &message_id, &recipient, &c.ip, &clicked_at.to_rfc3339()])
    });
    Ok(ClickInput {
        click_id,
        url,
        message_id,
        broadcast_id,
        recipient,
        link_type,
        user_agent: c.user_agent,
        ip: c.ip,
        bot: c.bot,
        opt_out: c.opt_out,
        workspace_id: None,
        clicked_at,
        received_at,
    })
}

/// Validates a conversion from a tracker postback (query string or form) or an API call
/// (JSON). Values may be strings or numbers. A value still holding its `{placeholder}` (the
/// tracker did not fill it) counts as absent. At least one of `click_id` and `message_id`.
pub fn conversion(fields: &Map<String, Value>, received_at: DateTime<Utc>) -> Result<ConversionInput, InputError> {
    let text = |name: &str| -> Option<String> {
        let v = match fields.get(name)? {
            Value::String(s) => s.trim().to_string(),
            Value::Number(n) => n.to_string(),
            _ => return None,
        };
        let unfilled_placeholder = v.starts_with('{') && v.ends_with('}');
        (!v.is_empty() && !unfilled_placeholder).then_some(v)
    };
    for name in [
        "click_id",
        "message_id",
        "event",
        "value",
        "currency",
        "transaction_id",
        "occurred_at",
    ] {
        if let Some(Value::String(v)) = fields.get(name) {
            bounded(name, v, MAX_ID_CHARS)?;
        }
    }
    let click_id = text("click_id");
    let message_id = text("message_id");
    if click_id.is_none() && message_id.is_none() {
        return Err(InputError::MissingField("click_id or message_id"));
    }
    let value = text("value")
        .map(|v| v.parse::<f64>().ok().filter(|f| f.is_finite()))
        .map(|v| {
            v.ok_or(InputError::InvalidField {
                field: "value",
                why: "must be a number".into(),
            })
        })
        .transpose()?;
    let occurred_at = text("occurred_at")
        .map(|t| {
            DateTime::parse_from_rfc3339(&t)
                .map(|d| d.with_timezone(&Utc))
                .map_err(|_| InputError::InvalidField {
                    field: "occurred_at",
                    why: "must be RFC 3339".into(),
                })
        })
        .transpose()?
        .unwrap_or(received_at);
    Ok(ConversionInput {
        click_id,
        message_id,
        event: text("event").unwrap_or_else(|| "conversion".to_string()),
        value,
        currency: text("currency").map(|c| c.to_ascii_uppercase()),
        transaction_id: text("transaction_id"),
        workspace_id: None,
        occurred_at,
        received_at,
    })
}

#[cfg(test)]
mod tests;
