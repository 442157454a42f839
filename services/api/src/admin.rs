//! Operator endpoints, authenticated with `Authorization: Bearer $HOOKLINE_ADMIN_TOKEN` (the
//! scheme in any case; 404 when no token is configured, 401 with a wrong one, 429 after too
//! many wrong ones from one address: [`crate::admin_throttle`]). The token must have at least
//! [`MIN_ADMIN_TOKEN_CHARS`] characters ([`check_admin_token`]; a process refuses to start
//! with a shorter one).
//!
//! `POST /admin/v1/api-keys` `{"workspace_id": "...", "permissions": ["webhooks.read",
//! "webhooks.write"]}` → `201 {"api_key", "key_id", "workspace_id", "permissions"}`. The key
//! is shown once; only its SHA-256 is stored.
//!
//! `DELETE /admin/v1/api-keys/{key_id}` → `204`: the key stops working at once in this
//! process and, through the config topic's tombstone, in every other (404 `KEY_NOT_FOUND`
//! for an unknown id). `GET /admin/v1/api-keys[?workspace_id=]` lists them: ids,
//! permissions, creation and last use, never a key.
//!
//! Ingest credentials (`/admin/v1/ingest-keys`, the same three operations): who may push
//! which inputs through ingest's HTTP edge, optionally bound to one workspace or carrier
//! connection (see `hookline_ingest::credentials`).

use crate::auth::new_key;
use crate::error::ApiError;
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use hookline_model::config_log::ConfigKey;
use hookline_model::{ApiKeyRecord, IngestKeyRecord, IngestKind, Permission};
use serde::Deserialize;
use serde_json::{json, Value};

/// What an operator asks for when creating an API key (admin API and CLI).
#[derive(Debug, Clone, Deserialize)]
pub struct NewApiKey {
    pub workspace_id: String,
    pub permissions: Vec<String>,
}

impl NewApiKey {
    /// The key (shown once) and its record, or the typed reason it cannot be made.
    pub fn generate(self) -> Result<(String, ApiKeyRecord), ApiError> {
        if !valid_workspace_id(&self.workspace_id) {
            return Err(invalid_workspace());
        }
        let permissions = one_or_more(
            &self.permissions,
            Permission::parse,
            "INVALID_PERMISSIONS",
            "permissions: one or more of webhooks.read, webhooks.write",
        )?;
        Ok(new_key(&self.workspace_id, permissions))
    }
}

/// Every name in `raw` parsed, at least one, or `code`.
fn one_or_more<T>(
    raw: &[String],
    parse: impl Fn(&str) -> Option<T>,
    code: &'static str,
    what: &'static str,
) -> Result<Vec<T>, ApiError> {
    raw.iter()
        .map(|r| parse(r))
        .collect::<Option<Vec<T>>>()
        .filter(|v| !v.is_empty())
        .ok_or_else(|| ApiError::bad_request(code, what))
}

fn invalid_workspace() -> ApiError {
    ApiError::bad_request("INVALID_WORKSPACE", "workspace_id must be 1-64 of A-Z a-z 0-9 _ . -")
}

/// The workspace-id rule, shared with ingest (its home is the model).
pub use hookline_model::ids::valid_workspace_id;

/// What an operator asks for when creating an ingest credential (admin API and CLI).
#[derive(Debug, Clone, Deserialize)]
pub struct NewIngestKey {
    #[serde(default)]
    pub name: Option<String>,
    pub kinds: Vec<String>,
    #[serde(default)]
    pub workspace_id: Option<String>,
    #[serde(default)]
    pub carrier_connection: Option<String>,
}

impl NewIngestKey {
    /// The credential (shown once) and its record, or the typed reason it cannot be made.
    pub fn generate(self) -> Result<(String, IngestKeyRecord), ApiError> {
        let kinds = one_or_more(
            &self.kinds,
            IngestKind::parse,
            "INVALID_KINDS",
            "kinds: one or more of messages, dlr, clicks, conversions, inbound, revocations",
        )?;
        if self.workspace_id.as_deref().is_some_and(|w| !valid_workspace_id(w)) {
            return Err(invalid_workspace());
        }
        if self
            .carrier_connection
            .as_deref()
            .is_some_and(|c| !valid_workspace_id(c))
        {
            return Err(ApiError::bad_request(
                "INVALID_CARRIER_CONNECTION",
                "carrier_connection must be 1-64 of A-Z a-z 0-9 _ . -",
            ));
        }
        if self
            .name
            .as_deref()
            .is_some_and(|n| n.chars().count() > 100 || n.chars().any(char::is_control))
        {
            return Err(ApiError::bad_request(
                "INVALID_NAME",
                "name: at most 100 characters, no control characters",
            ));
        }
        Ok(IngestKeyRecord::generate(
            self.name,
            kinds,
            self.workspace_id,
            self.carrier_connection,
        ))
    }
}

/// The listing of an API key: everything but the key (and its hash).
pub fn api_key_view(k: &ApiKeyRecord, last_used: Option<chrono::DateTime<chrono::Utc>>) -> Value {
    json!({
        "key_id": k.key_id,
        "workspace_id": k.workspace_id,
        "permissions": k.permissions,
        "created_at": k.created_at,
        "last_used_at": last_used,
    })
}

/// The listing of an ingest credential: everything but the credential (and its hash).
pub fn ingest_key_view(k: &IngestKeyRecord, last_used: Option<chrono::DateTime<chrono::Utc>>) -> Value {
    json!({
        "key_id": k.key_id,
        "name": k.name,
        "kinds": k.kinds,
        "workspace_id": k.workspace_id,
        "carrier_connection": k.carrier_connection,
        "created_at": k.created_at,
        "last_used_at": last_used,
    })
}

/// Shortest admin token accepted: 32 random bytes written in base64url (43 characters), so a
/// token cannot be guessed even at the API port's full speed (`openssl rand -hex 32` gives 64
/// characters, `openssl rand -base64 32` 44). Length is what can be checked; that the
/// characters are random is the operator's part.
pub const MIN_ADMIN_TOKEN_CHARS: usize = 43;

/// Whether `token` may be the admin token: [`MIN_ADMIN_TOKEN_CHARS`] or more characters, none
/// of them whitespace or control characters (it could not be sent as a bearer token).
pub fn check_admin_token(token: &str) -> Result<(), String> {
    if token.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("HOOKLINE_ADMIN_TOKEN must not contain whitespace or control characters".into());
    }
    let n = token.chars().count();
    if n < MIN_ADMIN_TOKEN_CHARS {
        return Err(format!(
            "HOOKLINE_ADMIN_TOKEN has {n} characters; it needs at least {MIN_ADMIN_TOKEN_CHARS} \
             (32 random bytes: `openssl rand -hex 32` or `openssl rand -base64 32`)"
        ));
    }
    Ok(())
}

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
        .and_then(hookline_model::apikey::bearer_token);
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
    let req: NewApiKey = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request("INVALID_BODY", format!("expected {{workspace_id, permissions}}: {e}")))?;
    let (key, rec) = req.generate()?;
    let at = st.writer.put_api_key(&rec).await.map_err(ApiError::unavailable)?;
    st.applied(at).await?;
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
    let hash = st.config.read(|c| c.api_key_by_id(&key_id).map(|k| k.key_hash.clone()));
    revoke(&st, hash.map(ConfigKey::ApiKey), "no API key with this key_id").await
}

/// Writes the tombstone for the credential found (404 `KEY_NOT_FOUND` with `missing` when
/// none was), answered once this replica has read it back; the others follow the topic.
async fn revoke(st: &AppState, key: Option<ConfigKey>, missing: &'static str) -> Result<StatusCode, ApiError> {
    let key = key.ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "KEY_NOT_FOUND", missing))?;
    let at = st.writer.delete(key).await.map_err(ApiError::unavailable)?;
    st.applied(at).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `{"data": [...]}`: each credential's view with its last use.
async fn list_with_last_used<K>(
    st: &AppState,
    keys: &[K],
    key_id: impl Fn(&K) -> &str,
    view: impl Fn(&K, Option<chrono::DateTime<chrono::Utc>>) -> Value,
) -> Json<Value> {
    let mut data = Vec::with_capacity(keys.len());
    for k in keys {
        data.push(view(k, st.usage.last_used(key_id(k)).await));
    }
    Json(json!({"data": data}))
}

/// `?workspace_id=` (repeated: any of them).
pub async fn list_keys(
    State(st): State<AppState>,
    headers: HeaderMap,
    axum::extract::Query(q): crate::validate::QueryPairs,
) -> Result<Json<Value>, ApiError> {
    check_admin(&st, &headers)?;
    let workspaces: Vec<&str> = q
        .iter()
        .filter(|(k, _)| k == "workspace_id")
        .map(|(_, v)| v.as_str())
        .collect();
    let keys: Vec<ApiKeyRecord> = st.config.read(|c| {
        c.api_keys()
            .into_iter()
            .filter(|k| workspaces.is_empty() || workspaces.contains(&k.workspace_id.as_str()))
            .cloned()
            .collect()
    });
    Ok(list_with_last_used(&st, &keys, |k| &k.key_id, api_key_view).await)
}

pub async fn create_ingest_key(
    State(st): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    check_admin(&st, &headers)?;
    let req: NewIngestKey = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request(
            "INVALID_BODY",
            format!("expected {{kinds, workspace_id?, carrier_connection?, name?}}: {e}"),
        )
    })?;
    let (token, rec) = req.generate()?;
    let at = st.writer.put_ingest_key(&rec).await.map_err(ApiError::unavailable)?;
    st.applied(at).await?;
    let mut view = ingest_key_view(&rec, None);
    view["ingest_key"] = json!(token);
    Ok((StatusCode::CREATED, Json(view)))
}

pub async fn list_ingest_keys(State(st): State<AppState>, headers: HeaderMap) -> Result<Json<Value>, ApiError> {
    check_admin(&st, &headers)?;
    let keys: Vec<IngestKeyRecord> = st.config.read(|c| c.ingest_keys().into_iter().cloned().collect());
    Ok(list_with_last_used(&st, &keys, |k| &k.key_id, ingest_key_view).await)
}

pub async fn revoke_ingest_key(
    State(st): State<AppState>,
    Path(key_id): Path<String>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    check_admin(&st, &headers)?;
    let hash = st
        .config
        .read(|c| c.ingest_key_by_id(&key_id).map(|k| k.key_hash.clone()));
    revoke(
        &st,
        hash.map(ConfigKey::IngestKey),
        "no ingest credential with this key_id",
    )
    .await
}
