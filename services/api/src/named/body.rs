//! Validation of create and patch bodies, in the documented order (the first failure wins):
//! `INVALID_BODY`, `INVALID_NAME`, `INVALID_URL`, `INVALID_EVENT_TYPE`, `INVALID_FILTER`,
//! `INVALID_RATE_LIMIT`, `INVALID_ENABLED`, `INVALID_FAILOVER_URL`, `INVALID_FAILOVER_AFTER`,
//! `INVALID_BATCH`.

use super::{
    MAX_FAILOVER_AFTER, MAX_FILTER_VALUES, MAX_FILTER_VALUE_CHARS, MAX_RATE_LIMIT, NAME_MAX_CHARS, NAME_MIN_CHARS,
    STATUSES,
};
use crate::error::ApiError;
use crate::validate::Field;
use hookline_model::batch::{MAX_BATCH_EVENTS, MAX_BATCH_WAIT_MS, MIN_BATCH_EVENTS};
use hookline_model::{BatchPolicy, Filters, NamedEventType};
use hookline_security::UrlPolicy;
use serde::Deserialize;
use serde_json::{Map, Value};

const FILTER_KEYS: [&str; 4] = ["sender", "status", "message_ref", "campaign_id"];

/// A create or patch body as sent; unknown keys are ignored.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Body {
    name: Field<String>,
    url: Field<String>,
    event_types: Field<Vec<Value>>,
    /// Deprecated: one type, added to `event_types`.
    event_type: Field<String>,
    filter: Field<Map<String, Value>>,
    rate_limit: Field<u64>,
    enabled: Field<bool>,
    failover_url: Field<String>,
    failover_after: Field<u32>,
    batch: Field<Map<String, Value>>,
}

/// A `filter` object as sent, once its keys are known to be [`FILTER_KEYS`].
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct FilterBody {
    sender: Field<Vec<Value>>,
    status: Field<Vec<Value>>,
    message_ref: Field<Vec<Value>>,
    campaign_id: Field<Vec<Value>>,
}

/// What a valid body asks for; `None` = not sent.
#[derive(Debug)]
pub(super) struct Changes {
    pub name: Option<String>,
    pub url: Option<String>,
    pub event_types: Option<Vec<NamedEventType>>,
    pub filter: Option<Filters>,
    pub rate_limit: Option<u32>,
    pub enabled: Option<bool>,
    /// `Some(None)`: `null`, remove the failover URL.
    pub failover_url: Option<Option<String>>,
    /// `Some(0)`: `null`, back to the default.
    pub failover_after: Option<u32>,
    /// `Some(None)`: `null`, batching off.
    pub batch: Option<Option<BatchPolicy>>,
}

/// The changes a create (`create`: `name`, `url` and an event type required) or patch body
/// asks for.
pub(super) async fn validate(body: &[u8], policy: &UrlPolicy, create: bool) -> Result<Changes, ApiError> {
    let b: Body = crate::validate::body(crate::validate::json_object(body)?)?;
    let name = match b.name {
        Field::Absent if create => return Err(ApiError::bad_request("INVALID_NAME", "name is required")),
        Field::Absent => None,
        Field::Valid(name) if (NAME_MIN_CHARS..=NAME_MAX_CHARS).contains(&name.trim().chars().count()) => {
            Some(name.trim().to_string())
        }
        _ => {
            return Err(ApiError::bad_request(
                "INVALID_NAME",
                format!("name must be a string of {NAME_MIN_CHARS} to {NAME_MAX_CHARS} characters"),
            ))
        }
    };

    let url = match &b.url {
        Field::Absent if create => return Err(ApiError::bad_request("INVALID_URL", "url is required")),
        Field::Absent => None,
        Field::Valid(s) => Some(crate::validate::url(policy, "url", s).await?),
        Field::Null | Field::Invalid => return Err(ApiError::bad_request("INVALID_URL", "url must be a string")),
    };

    let event_types = event_types(&b.event_types, &b.event_type)?;
    if create && event_types.is_none() {
        return Err(ApiError::bad_request(
            "INVALID_EVENT_TYPE",
            "event_types (or event_type) is required",
        ));
    }

    let filter = match b.filter {
        Field::Absent => None,
        Field::Null => Some(Filters::default()),
        Field::Valid(f) => Some(filter(f)?),
        Field::Invalid => return Err(ApiError::bad_request("INVALID_FILTER", "filter must be an object")),
    };

    let rate_limit = match b.rate_limit {
        Field::Absent => None,
        Field::Null => Some(0),
        Field::Valid(n) if n <= MAX_RATE_LIMIT => Some(n as u32),
        _ => {
            return Err(ApiError::bad_request(
                "INVALID_RATE_LIMIT",
                format!("rate_limit must be an integer from 0 to {MAX_RATE_LIMIT}"),
            ))
        }
    };
    let enabled = match b.enabled {
        Field::Absent => None,
        Field::Valid(on) => Some(on),
        Field::Null | Field::Invalid => {
            return Err(ApiError::bad_request(
                "INVALID_ENABLED",
                "enabled must be true or false",
            ))
        }
    };
    let failover_url = match &b.failover_url {
        Field::Absent => None,
        Field::Null => Some(None),
        Field::Valid(s) => Some(Some(crate::validate::url(policy, "failover_url", s).await.map_err(
            |e| ApiError {
                code: "INVALID_FAILOVER_URL",
                ..e
            },
        )?)),
        Field::Invalid => {
            return Err(ApiError::bad_request(
                "INVALID_FAILOVER_URL",
                "failover_url must be a string or null",
            ))
        }
    };
    if let (Some(u), Some(Some(f))) = (&url, &failover_url) {
        // In the documented order when the body sends both; [`check_failover`] covers a patch
        // that changes one.
        check_failover_pair(u, f)?;
    }
    let failover_after = match b.failover_after {
        Field::Absent => None,
        Field::Null => Some(0),
        Field::Valid(n) if (1..=MAX_FAILOVER_AFTER).contains(&n) => Some(n),
        _ => {
            return Err(ApiError::bad_request(
                "INVALID_FAILOVER_AFTER",
                format!("failover_after must be an integer from 1 to {MAX_FAILOVER_AFTER}, or null for the default"),
            ))
        }
    };
    let batch = match b.batch {
        Field::Absent => None,
        Field::Null => Some(None),
        Field::Valid(obj) => Some(Some(batch(&obj)?)),
        Field::Invalid => return Err(invalid_batch()),
    };
    Ok(Changes {
        name,
        url,
        event_types,
        filter,
        rate_limit,
        enabled,
        failover_url,
        failover_after,
        batch,
    })
}

fn invalid_batch() -> ApiError {
    ApiError::bad_request(
        "INVALID_BATCH",
        format!(
            "batch must be null or {{\"max_events\": {MIN_BATCH_EVENTS}..{MAX_BATCH_EVENTS}, \"max_wait_ms\": 1..{MAX_BATCH_WAIT_MS}}}, both required, no other keys"
        ),
    )
}

/// A `batch` object: exactly `max_events` and `max_wait_ms`, integers in range.
fn batch(obj: &Map<String, Value>) -> Result<BatchPolicy, ApiError> {
    if obj.len() != 2 {
        return Err(invalid_batch());
    }
    let int = |key: &str| obj.get(key).and_then(Value::as_u64);
    let (Some(max_events), Some(max_wait_ms)) = (int("max_events"), int("max_wait_ms")) else {
        return Err(invalid_batch());
    };
    let policy = BatchPolicy {
        max_events: u32::try_from(max_events).unwrap_or(u32::MAX),
        max_wait_ms,
    };
    if !policy.valid() {
        return Err(invalid_batch());
    }
    Ok(policy)
}

/// `INVALID_FAILOVER_URL` when `sub`, as changed, fails over to its own URL: the failover
/// would then send every attempt where the failing ones went. Checked after the body's
/// checks, because a patch may change either URL alone.
pub(super) fn check_failover(sub: &hookline_model::Subscription) -> Result<(), ApiError> {
    match &sub.failover_url {
        Some(f) => check_failover_pair(&sub.url, f),
        None => Ok(()),
    }
}

fn check_failover_pair(url: &str, failover: &str) -> Result<(), ApiError> {
    if url == failover {
        return Err(ApiError::bad_request(
            "INVALID_FAILOVER_URL",
            "failover_url must differ from url",
        ));
    }
    Ok(())
}

/// `event_types` and the deprecated `event_type`, combined in the order given without
/// duplicates; `None` when neither is sent.
fn event_types(many: &Field<Vec<Value>>, one: &Field<String>) -> Result<Option<Vec<NamedEventType>>, ApiError> {
    let invalid = |why: String| ApiError::bad_request("INVALID_EVENT_TYPE", why);
    let parse = |key: &str, s: Option<&str>| -> Result<NamedEventType, ApiError> {
        let s = s.ok_or_else(|| invalid(format!("{key}: event types are strings")))?;
        NamedEventType::parse(s).ok_or_else(|| {
            let allowed: Vec<_> = NamedEventType::ALL.iter().map(|t| t.as_str()).collect();
            invalid(format!(
                "{key}: unknown event type `{s}`; one of {}",
                allowed.join(", ")
            ))
        })
    };
    if many.is_absent() && one.is_absent() {
        return Ok(None);
    }
    let mut types = vec![];
    match many {
        Field::Absent => {}
        Field::Valid(items) => {
            for item in items {
                types.push(parse("event_types", item.as_str())?);
            }
        }
        Field::Null | Field::Invalid => {
            return Err(invalid("event_types must be an array of event types".into()));
        }
    }
    match one {
        Field::Absent => {}
        Field::Valid(s) => types.push(parse("event_type", Some(s))?),
        Field::Null | Field::Invalid => types.push(parse("event_type", None)?),
    }
    let mut seen = vec![];
    types.retain(|t| {
        let new = !seen.contains(t);
        seen.push(*t);
        new
    });
    if types.is_empty() {
        return Err(invalid("at least one event type is required".into()));
    }
    Ok(Some(types))
}

fn filter(obj: Map<String, Value>) -> Result<Filters, ApiError> {
    let invalid = |why: String| ApiError::bad_request("INVALID_FILTER", why);
    if let Some(unknown) = obj.keys().find(|k| !FILTER_KEYS.contains(&k.as_str())) {
        return Err(invalid(format!(
            "unknown filter `{unknown}`; filters are {}",
            FILTER_KEYS.join(", ")
        )));
    }
    let f: FilterBody = crate::validate::body(obj)?;
    let list = |key: &str, field: &Field<Vec<Value>>| -> Result<Vec<String>, ApiError> {
        let items = match field {
            Field::Absent | Field::Null => return Ok(vec![]),
            Field::Valid(items) => items,
            Field::Invalid => return Err(invalid(format!("filter.{key} must be an array of strings"))),
        };
        if items.len() > MAX_FILTER_VALUES {
            return Err(invalid(format!(
                "filter.{key} has more than {MAX_FILTER_VALUES} values"
            )));
        }
        let mut out: Vec<String> = vec![];
        for item in items {
            let s = item.as_str().map(str::trim).unwrap_or_default();
            if !item.is_string() || s.is_empty() || s.chars().count() > MAX_FILTER_VALUE_CHARS {
                return Err(invalid(format!(
                    "filter.{key} values must be strings of 1 to {MAX_FILTER_VALUE_CHARS} characters"
                )));
            }
            if !out.iter().any(|o| o.eq_ignore_ascii_case(s)) {
                out.push(s.to_string());
            }
        }
        Ok(out)
    };
    let mut status = list("status", &f.status)?;
    for s in &mut status {
        let Some(known) = STATUSES.iter().find(|k| k.as_str().eq_ignore_ascii_case(s)) else {
            let names: Vec<_> = STATUSES.iter().map(|k| k.as_str()).collect();
            return Err(invalid(format!(
                "filter.status: unknown status `{s}`; one of {}",
                names.join(", ")
            )));
        };
        *s = known.as_str().to_string();
    }
    status.dedup();
    Ok(Filters {
        sender: list("sender", &f.sender)?,
        status,
        message_ref: list("message_ref", &f.message_ref)?,
        campaign_id: list("campaign_id", &f.campaign_id)?,
    })
}
