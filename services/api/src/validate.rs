//! Request checks every dialect makes the same way: a JSON object body, and a webhook URL the
//! URL policy accepts (syntax, scheme, no credentials or control characters, and the SSRF
//! check of every address it resolves to).

use crate::error::ApiError;
use hookline_security::UrlPolicy;
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
