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
//!
//! `POST /api/v1/operational-webhook/rotate-secret` `{"overlap_secs"?}` replaces the secret as
//! a named subscription's rotation does ([`crate::named::rotation`]): the new one signs at
//! once, the replaced one keeps signing as a second `webhook-signature` entry for the overlap
//! (default `HOOKLINE_SECRET_ROTATION_OVERLAP_SECS`); `404 NOT_FOUND` while no URL is set.

use crate::error::ApiError;
use crate::named::subscriptions::new_signing_secret;
use crate::named::subscriptions::{rfc3339, store_change};
use crate::state::AppState;
use crate::validate::Field;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use hookline_model::subscription::OPERATIONAL_ID;
use hookline_model::{Dialect, EventKind, Permission, SealedSecret, Subscription, WorkspaceConfig};
use hookline_security::Sealer;
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

pub async fn rotate_secret(
    State(st): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let default = st.cfg.secret_rotation_overlap_secs;
    let out = st
        .update_workspace(&headers, DIALECT, async |current| {
            apply_rotate(&current, &body, default, &st.sealer, Utc::now())
        })
        .await?;
    Ok(Json(out))
}

/// Validates a rotation of the operational URL's secret at `now`; the new config and the
/// `200` body (the URL, the new secret, shown only here, and until when the replaced one
/// still signs).
pub fn apply_rotate(
    current: &WorkspaceConfig,
    body: &[u8],
    default_overlap_secs: u64,
    sealer: &Sealer,
    now: DateTime<Utc>,
) -> Result<(WorkspaceConfig, Value), ApiError> {
    let sub = current
        .subscription(OPERATIONAL_ID)
        .cloned()
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "NOT_FOUND", "no operational URL is set"))?;
    let rotated = crate::named::rotate(sub, body, default_overlap_secs, sealer, now)?;
    let out = json!({
        "url": rotated.subscription.url,
        "signing_secret": rotated.secret,
        "previous_secret_expires_at": rfc3339(rotated.previous_expires_at),
    });
    Ok((store_change(current, rotated.subscription), out))
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: u64 = 86_400;

    fn with_url(sealer: &Sealer) -> (WorkspaceConfig, String) {
        let mut ws = WorkspaceConfig::new("w");
        let secret = hookline_security::standard_webhooks::generate_secret();
        ws.upsert(Subscription {
            event_kinds: vec![EventKind::WebhookDisabled],
            signing_secret: Some(SealedSecret(sealer.seal(&secret))),
            ..Subscription::new(Dialect::Operational, "w", OPERATIONAL_ID, "https://example.com/ops")
        });
        (ws, secret)
    }

    #[test]
    fn the_operational_secret_rotates_with_an_overlap_like_a_named_one() {
        let sealer = Sealer::new(Some(&Sealer::random_key_hex())).unwrap();
        let (ws, first) = with_url(&sealer);
        let now: DateTime<Utc> = "2099-02-13T10:30:00.250Z".parse().unwrap();
        let (ws2, out) = apply_rotate(&ws, br#"{"overlap_secs":60}"#, DAY, &sealer, now).unwrap();
        let second = out["signing_secret"].as_str().unwrap();
        assert!(second.starts_with("whsec_") && second != first);
        assert_eq!(out["url"], "https://example.com/ops");
        assert_eq!(out["previous_secret_expires_at"], "2099-02-13T10:31:00Z");
        assert_eq!(ws2.version, ws.version + 1);
        let sub = ws2.subscription(OPERATIONAL_ID).unwrap();
        assert_eq!(sealer.open(&sub.signing_secret.as_ref().unwrap().0).unwrap(), second);
        assert_eq!(
            sealer.open(&sub.previous_secret.as_ref().unwrap().secret.0).unwrap(),
            first
        );
        assert_eq!(
            sub.event_kinds,
            vec![EventKind::WebhookDisabled],
            "nothing else changes"
        );
        // The default overlap; the view still shows no secret.
        let (_, out) = apply_rotate(&ws, b"", DAY, &sealer, now).unwrap();
        assert_eq!(out["previous_secret_expires_at"], "2099-02-14T10:30:00Z");
        assert_eq!(view(&ws2), json!({"url": "https://example.com/ops"}));
    }

    #[test]
    fn no_url_is_404_and_bad_bodies_are_400() {
        let sealer = Sealer::new(Some(&Sealer::random_key_hex())).unwrap();
        let e = apply_rotate(&WorkspaceConfig::new("w"), b"{}", DAY, &sealer, Utc::now()).unwrap_err();
        assert_eq!((e.status.as_u16(), e.code), (404, "NOT_FOUND"));
        let (ws, _) = with_url(&sealer);
        for (body, code) in [
            ("[]", "INVALID_BODY"),
            (r#"{"overlap_secs":604801}"#, "INVALID_OVERLAP"),
        ] {
            let e = apply_rotate(&ws, body.as_bytes(), DAY, &sealer, Utc::now()).unwrap_err();
            assert_eq!((e.status.as_u16(), e.code), (400, code), "{body}");
        }
    }
}
