//! The handlers of `/api/v1/webhooks[/{id}]`: reads of the caller's workspace, and writes
//! through `AppState::update_workspace`.

use super::{apply_create, apply_delete, apply_patch, get_view};
use crate::error::ApiError;
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use hookline_model::{Dialect, Permission};
use serde_json::Value;

/// The `dialect` label of `hookline_api_config_writes_total`.
pub(super) const DIALECT: &str = "named";

pub async fn get(
    State(st): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(get_view(
        &st.caller_workspace(&headers, Permission::WebhooksRead)?,
        &id,
    )?))
}

pub async fn create(
    State(st): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let out = st
        .update_workspace(&headers, DIALECT, async |current| {
            let max = st.cfg.max_subscriptions_per_workspace;
            if current.by_dialect(Dialect::Named).count() >= max {
                return Err(ApiError::bad_request(
                    "SUBSCRIPTION_LIMIT",
                    format!("this workspace has the most named subscriptions allowed ({max}); delete one first"),
                ));
            }
            apply_create(&current, &body, &st.policy, &st.sealer).await
        })
        .await?;
    Ok((StatusCode::CREATED, Json(out)))
}

pub async fn patch(
    State(st): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let out = st
        .update_workspace(&headers, DIALECT, async |current| {
            apply_patch(&current, &id, &body, &st.policy).await
        })
        .await?;
    Ok(Json(out))
}

pub async fn delete(
    State(st): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    st.update_workspace(&headers, DIALECT, async |current| {
        Ok((apply_delete(&current, &id)?, StatusCode::NO_CONTENT))
    })
    .await
}
