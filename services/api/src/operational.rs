//! The workspace's operational URL: `GET`/`PUT /api/v1/operational-webhook`.
//!
//! Hookline sends its own notices about the workspace's endpoints there (today
//! `webhook.disabled`, see [`crate::auto_disable`]), in the named envelope with the named
//! headers and signature, retried like any webhook. It is a subscription of the
//! `operational` dialect (id `operational`) that no pipeline event matches, so it never shows
//! in the named listing and never receives message events.
//!
//! `PUT {"url": "https://…"}` sets it (the URL policy applies) and answers with its signing
//! secret when this call created it, the only time the secret is shown; changing the URL keeps
//! the secret. `PUT {"url": null}` removes it. Errors: `INVALID_BODY`, `INVALID_URL`.

use crate::error::ApiError;
use crate::named::subscriptions::new_signing_secret;
use crate::state::AppState;
use crate::validate::Field;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::Json;
use hookline_model::subscription::OPERATIONAL_ID;
use hookline_model::{Dialect, EventKind, Permission, SealedSecret, Subscription, WorkspaceConfig};
use serde::Deserialize;
use serde_json::{json, Value};

/// The `dialect` label of `hookline_api_config_writes_total`.
const DIALECT: &str = "operational";

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Body {
    url: Field<String>,
}

fn view(ws: &WorkspaceConfig) -> Value {
    json!({"url": ws.subscription(OPERATIONAL_ID).map(|s| s.url.clone())})
}

pub async fn get(State(st): State<AppState>, headers: HeaderMap) -> Result<Json<Value>, ApiError> {
    Ok(Json(view(&st.caller_workspace(&headers, Permission::WebhooksRead)?)))
}

pub async fn put(State(st): State<AppState>, headers: HeaderMap, body: Bytes) -> Result<Json<Value>, ApiError> {
    let out = st
        .update_workspace(&headers, DIALECT, async |current| {
            let b: Body = crate::validate::body(crate::validate::json_object(&body)?)?;
            let url = match &b.url {
                Field::Valid(s) => Some(crate::validate::url(&st.policy, "url", s).await?),
                Field::Null => None,
                Field::Absent | Field::Invalid => {
                    return Err(ApiError::bad_request("INVALID_URL", "url must be a string or null"))
                }
            };
            let mut ws = current.clone();
            let mut secret = None;
            match (url, ws.subscription(OPERATIONAL_ID).cloned()) {
                (None, _) => ws.remove(OPERATIONAL_ID),
                (Some(url), Some(existing)) => ws.upsert(Subscription { url, ..existing }),
                (Some(url), None) => {
                    let s = new_signing_secret();
                    ws.upsert(Subscription {
                        event_kinds: vec![EventKind::WebhookDisabled],
                        signing_secret: Some(SealedSecret(st.sealer.seal(&s))),
                        timeout_ms: crate::named::TIMEOUT_MS,
                        ..Subscription::new(Dialect::Operational, &ws.workspace_id, OPERATIONAL_ID, url)
                    });
                    secret = Some(s);
                }
            }
            ws.version += 1;
            let mut out = view(&ws);
            if let Some(s) = secret {
                out["signing_secret"] = json!(s);
            }
            Ok((ws, out))
        })
        .await?;
    Ok(Json(out))
}
