//! `X-API-Key` authentication: `401 UNAUTHORIZED` without a known key, `403 FORBIDDEN` when
//! the key lacks the permission. A key belongs to one workspace, and every handler works on
//! the caller's workspace only, so workspaces cannot see each other.

use crate::error::ApiError;
use axum::http::{HeaderMap, StatusCode};
use hookline_kafka::ConfigHandle;
use hookline_model::apikey::hash_key;
use hookline_model::{ApiKeyRecord, Permission};
use hookline_store::KeyUsage;

pub const API_KEY_HEADER: &str = "x-api-key";

/// The key record of the request's `X-API-Key` in `config`, once it is shown to have `needs`;
/// its use is noted in `usage`. Handlers call it through `AppState::authenticate`.
pub fn authenticate(
    config: &ConfigHandle,
    usage: &KeyUsage,
    headers: &HeaderMap,
    needs: Permission,
) -> Result<ApiKeyRecord, ApiError> {
    let unauthorized = || ApiError::new(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", "missing or invalid X-API-Key");
    let key = headers
        .get(API_KEY_HEADER)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(unauthorized)?;
    let rec = config
        .read(|c| c.api_key(&hash_key(key.trim())).cloned())
        .ok_or_else(unauthorized)?;
    usage.touch(&rec.key_id);
    if !rec.allows(needs) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "FORBIDDEN",
            format!("this API key lacks the {} permission", needs.as_str()),
        ));
    }
    Ok(rec)
}

/// A new key (shown once) and the record stored for it.
pub fn new_key(workspace_id: &str, permissions: Vec<Permission>) -> (String, ApiKeyRecord) {
    ApiKeyRecord::generate(workspace_id, permissions)
}
