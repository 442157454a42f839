//! Request checks every dialect makes the same way: a JSON object body, a typed body whose
//! members keep their own error codes ([`Field`]), a webhook URL the URL policy accepts
//! (syntax, scheme, no credentials or control characters, and the SSRF check of every address
//! it resolves to), and the `?limit=` of the listings.

use crate::error::ApiError;
use axum::extract::Query;
use hookline_security::UrlPolicy;
use serde::de::{DeserializeOwned, Deserializer};
use serde::Deserialize;
use serde_json::{Map, Value};

/// The body as a JSON object, or `INVALID_BODY`.
pub fn json_object(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request("INVALID_BODY", format!("request body is not valid JSON: {e}")))?;
    match value {
        Value::Object(obj) => Ok(obj),
        _ => Err(ApiError::bad_request(
            "INVALID_BODY",
            "request body must be a JSON object",
        )),
    }
}

/// A JSON object body read into the typed request `T`, or `INVALID_BODY`. `T`'s members are
/// [`Field`]s (or `Option<Value>`), which accept any value, so only a body that is not a JSON
/// object fails here; each member's own code comes from its check, in the documented order.
pub fn body<T: DeserializeOwned>(obj: Map<String, Value>) -> Result<T, ApiError> {
    serde_json::from_value(Value::Object(obj))
        .map_err(|e| ApiError::bad_request("INVALID_BODY", format!("request body: {e}")))
}

/// One member of a typed request body, as sent: absent, `null`, a `T`, or something else.
/// Deserialising a `Field` never fails, so the dialect decides (and orders) the error of a
/// member of the wrong type. Use with `#[serde(default)]`.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Field<T> {
    #[default]
    Absent,
    Null,
    Valid(T),
    /// Present, but neither `null` nor a `T`.
    Invalid,
}

impl<T> Field<T> {
    pub fn is_absent(&self) -> bool {
        matches!(self, Field::Absent)
    }
}

impl<'de, T: DeserializeOwned> Deserialize<'de> for Field<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(match Value::deserialize(d)? {
            Value::Null => Field::Null,
            v => serde_json::from_value(v).map_or(Field::Invalid, Field::Valid),
        })
    }
}

/// `url` (the value of parameter `key`) normalised, if the policy accepts it, else
/// `INVALID_URL` naming the parameter. Dialects store the returned string, never their input:
/// it is exactly what delivery requests, so the API and the attempt logs show that URL and not
/// a spelling that differs from it.
pub async fn url(policy: &UrlPolicy, key: &str, url: &str) -> Result<String, ApiError> {
    let parsed = policy
        .check(url)
        .await
        .map_err(|e| ApiError::bad_request("INVALID_URL", format!("{key}: {e}")))?;
    Ok(parsed.into())
}

/// `?limit=` of the listings (logs, dead letters): the default, and the cap.
pub const DEFAULT_LIMIT: usize = 50;
pub const MAX_LIMIT: usize = 1000;

/// The query string as pairs: parsing it this way never fails, so a malformed or repeated
/// parameter gets the endpoint's own error, never the framework's plain-text rejection.
pub type QueryPairs = Query<Vec<(String, String)>>;

/// The `limit` parameter of a query string (see [`parse_limit`]); given twice it is
/// `INVALID_LIMIT` too.
pub fn limit_param(query: &[(String, String)]) -> Result<usize, ApiError> {
    parse_limit(single_param(query, "limit", "INVALID_LIMIT")?)
}

/// The value of query parameter `name`, if given; given more than once it is `code`.
pub fn single_param<'a>(
    query: &'a [(String, String)],
    name: &str,
    code: &'static str,
) -> Result<Option<&'a str>, ApiError> {
    let mut given = query.iter().filter(|(k, _)| k == name).map(|(_, v)| v.as_str());
    let first = given.next();
    if given.next().is_some() {
        return Err(ApiError::bad_request(code, format!("{name} must be given once")));
    }
    Ok(first)
}

/// `limit`: default 50, capped at 1000, `INVALID_LIMIT` unless a positive integer.
pub fn parse_limit(raw: Option<&str>) -> Result<usize, ApiError> {
    match raw {
        None => Ok(DEFAULT_LIMIT),
        Some(raw) => match raw.parse::<usize>() {
            Ok(n) if n > 0 => Ok(n.min(MAX_LIMIT)),
            _ => Err(ApiError::bad_request(
                "INVALID_LIMIT",
                "limit must be a positive integer",
            )),
        },
    }
}
