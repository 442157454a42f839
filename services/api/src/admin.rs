//! Operator endpoints, authenticated with `Authorization: Bearer $HOOKLINE_ADMIN_TOKEN`
//! (404 when no token is configured, 401 with a wrong one).
//!
//! `POST /admin/v1/api-keys` `{"workspace_id": "...", "permissions": ["webhooks.read",
//! "webhooks.write"]}` → `201 {"api_key", "key_id", "workspace_id", "permissions"}`. The key
//! is shown once; only its SHA-256 is stored.
//!
//! `DELETE /admin/v1/api-keys/{key_id}` → `204`: the key stops working at once in this
//! process and, through the config topic's tombstone, in every other (404 `KEY_NOT_FOUND`
//! for an unknown id).

use crate::auth::new_key;
use crate::error::ApiError;
use crate::AppState;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use hookline_model::Permission;
use serde::Deserialize;
use serde_json::{json, Value};

#[derive(Deserialize)]
struct CreateKey {
    workspace_id: String,
    permissions: Vec<String>,
}

/// The workspace-id rule, shared with ingest (its home is the model).
pub use hookline_model::ids::valid_workspace_id;

pub(crate) fn check_admin(st: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(token) = &st.cfg.admin_token else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            "admin endpoints are disabled",
        ));
    };
    let presented = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    // Compare hashes so the comparison time does not depend on the token's prefix.
    let same =
        presented.is_some_and(|p| hookline_model::apikey::hash_key(p) == hookline_model::apikey::hash_key(token));
    if same {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "UNAUTHORIZED",
            "invalid admin token",
        ))
    }
}

pub async fn create_key(
    State(st): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    check_admin(&st, &headers)?;
    let req: CreateKey = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request("INVALID_BODY", format!("expected {{workspace_id, permissions}}: {e}")))?;
    if !valid_workspace_id(&req.workspace_id) {
        return Err(ApiError::bad_request(
            "INVALID_WORKSPACE",
            "workspace_id must be 1-64 of A-Z a-z 0-9 _ . -",
        ));
    }
    let permissions: Vec<Permission> = req
        .permissions
        .iter()
        .map(|p| Permission::parse(p))
        .collect::<Option<_>>()
        .filter(|v: &Vec<Permission>| !v.is_empty())
        .ok_or_else(|| {
            ApiError::bad_request(
                "INVALID_PERMISSIONS",
                "permissions: one or more of webhooks.read, webhooks.write",
            )
        })?;
    let (key, rec) = new_key(&req.workspace_id, permissions);
    let (k, v) = st.writer.put_api_key(&rec).await.map_err(ApiError::unavailable)?;
    st.config.apply_local(&k, Some(&v));
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "api_key": key,
            "key_id": rec.key_id,
            "workspace_id": rec.workspace_id,
            "permissions": rec.permissions,
        })),
    ))
}

pub async fn revoke_key(
    State(st): State<AppState>,
    Path(key_id): Path<String>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    check_admin(&st, &headers)?;
    let hash = st
        .config
        .read(|c| c.api_key_by_id(&key_id).map(|k| k.key_hash.clone()))
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "KEY_NOT_FOUND", "no API key with this key_id"))?;
    let k = st.writer.delete_api_key(&hash).await.map_err(ApiError::unavailable)?;
    st.config.apply_local(&k, None);
    Ok(StatusCode::NO_CONTENT)
}
