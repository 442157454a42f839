//! `POST /api/v1/webhooks/{id}/rotate-secret`: a new signing secret without rejected requests.
//!
//! The new secret signs at once; the one it replaces keeps signing, as a second
//! `webhook-signature` entry, for `overlap_secs` (default `HOOKLINE_SECRET_ROTATION_OVERLAP_SECS`,
//! 24 h), so a receiver that still knows only the old secret keeps verifying while it is
//! updated. `X-Webhook-Signature` (one value, compared as a whole) carries the new secret's
//! signature only. Rotating again during an overlap makes the current secret the previous one
//! and drops the older one, as Svix does: at most two secrets ever sign.
//!
//! [`rotate`] is the rotation of any signed subscription; the operational URL's
//! (`POST /api/v1/operational-webhook/rotate-secret`, [`crate::operational`]) is the same.

use super::subscriptions::{named, not_found, rfc3339};
use crate::error::ApiError;
use crate::state::AppState;
use crate::validate::Field;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::Json;
use chrono::{DateTime, SubsecRound, Utc};
use hookline_model::{PreviousSecret, SealedSecret, Subscription, WorkspaceConfig};
use hookline_security::Sealer;
use serde::Deserialize;
use serde_json::{json, Value};

/// The longest overlap: a week.
pub const MAX_OVERLAP_SECS: u64 = 7 * 24 * 3600;

/// The body; absent, empty or `{}` takes the configured default.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Body {
    overlap_secs: Field<u64>,
}

pub async fn rotate_secret(
    State(st): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let default = st.cfg.secret_rotation_overlap_secs;
    let out = st
        .update_workspace(&headers, super::handlers::DIALECT, async |current| {
            apply_rotate(&current, &id, &body, default, &st.sealer, Utc::now())
        })
        .await?;
    Ok(Json(out))
}

/// Validates a rotation of `id` at `now` and returns the new config and the `200` body, the
/// only place the new secret is shown. `default_overlap_secs` applies when the body names none.
pub fn apply_rotate(
    current: &WorkspaceConfig,
    id: &str,
    body: &[u8],
    default_overlap_secs: u64,
    sealer: &Sealer,
    now: DateTime<Utc>,
) -> Result<(WorkspaceConfig, Value), ApiError> {
    let sub = named(current, id).ok_or_else(not_found)?.clone();
    let rotated = rotate(sub, body, default_overlap_secs, sealer, now)?;
    let out = json!({
        "id": rotated.subscription.id,
        "signing_secret": rotated.secret,
        "previous_secret_expires_at": rfc3339(rotated.previous_expires_at),
    });
    Ok((super::subscriptions::store_change(current, rotated.subscription), out))
}

/// A subscription with a new signing secret, and what its caller shows once.
pub struct Rotated {
    pub subscription: Subscription,
    /// The new secret, in clear text: for the response only.
    pub secret: String,
    /// Until when the replaced secret still signs (now, for no overlap).
    pub previous_expires_at: DateTime<Utc>,
}

/// Rotates `sub`'s signing secret at `now` with the overlap of the request `body` (absent,
/// empty or `{}`: `default_overlap_secs`), or the typed reason the body is refused.
pub fn rotate(
    mut sub: Subscription,
    body: &[u8],
    default_overlap_secs: u64,
    sealer: &Sealer,
    now: DateTime<Utc>,
) -> Result<Rotated, ApiError> {
    let overlap = overlap_secs(body)?.unwrap_or(default_overlap_secs);
    // Whole seconds, so the time shown is the time it stops signing.
    let expires_at = now.trunc_subsecs(0) + chrono::Duration::seconds(overlap as i64);
    let secret = hookline_security::standard_webhooks::generate_secret();
    let replaced = sub.signing_secret.replace(SealedSecret(sealer.seal(&secret)));
    sub.previous_secret = replaced
        .map(|secret| PreviousSecret { secret, expires_at })
        .filter(|p| p.live_at(now));
    Ok(Rotated {
        subscription: sub,
        secret,
        previous_expires_at: expires_at,
    })
}

/// `overlap_secs` from the body, `None` when not given (an empty body gives none).
fn overlap_secs(body: &[u8]) -> Result<Option<u64>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let b: Body = crate::validate::body(crate::validate::json_object(body)?)?;
    match b.overlap_secs {
        Field::Absent | Field::Null => Ok(None),
        Field::Valid(n) if n <= MAX_OVERLAP_SECS => Ok(Some(n)),
        _ => Err(ApiError::bad_request(
            "INVALID_OVERLAP",
            format!("overlap_secs must be an integer from 0 to {MAX_OVERLAP_SECS} (7 days)"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::named::{apply_create, get_view};
    use hookline_security::{StandardSigner, UrlPolicy};

    const DAY: u64 = 86_400;

    async fn workspace() -> (WorkspaceConfig, String, String, Sealer) {
        let sealer = Sealer::new(Some(&Sealer::random_key_hex())).unwrap();
        let body = br#"{"name":"Hook","url":"https://example.com/h","event_types":["SMS_STATUS"]}"#;
        let (ws, out) = apply_create(
            &WorkspaceConfig::new("w"),
            body,
            &UrlPolicy::new(false, vec![]),
            &sealer,
        )
        .await
        .unwrap();
        let id = out["id"].as_str().unwrap().to_string();
        let secret = out["signing_secret"].as_str().unwrap().to_string();
        (ws, id, secret, sealer)
    }

    fn opened(sealer: &Sealer, s: &SealedSecret) -> String {
        sealer.open(&s.0).unwrap()
    }

    #[tokio::test]
    async fn rotation_keeps_the_old_secret_for_the_overlap_then_replaces_it() {
        let (ws, id, first, sealer) = workspace().await;
        assert!(
            StandardSigner::new(&first).is_ok(),
            "created secrets are Standard Webhooks secrets"
        );
        assert_eq!(get_view(&ws, &id).unwrap()["previous_secret_expires_at"], Value::Null);
        let now: DateTime<Utc> = "2099-02-13T10:30:00.250Z".parse().unwrap();

        // The default overlap; the body may be absent or `{}`.
        for body in [&b""[..], b"  ", b"{}", br#"{"overlap_secs":null}"#] {
            let (_, out) = apply_rotate(&ws, &id, body, DAY, &sealer, now).unwrap();
            assert_eq!(out["previous_secret_expires_at"], "2099-02-14T10:30:00Z");
        }
        let (ws2, out) = apply_rotate(&ws, &id, br#"{"overlap_secs":60}"#, DAY, &sealer, now).unwrap();
        let second = out["signing_secret"].as_str().unwrap().to_string();
        assert!(second.starts_with("whsec_") && second != first);
        assert_eq!(out["id"], id.as_str());
        assert_eq!(out["previous_secret_expires_at"], "2099-02-13T10:31:00Z");
        assert_eq!(ws2.version, ws.version + 1);
        let sub = ws2.subscription(&id).unwrap();
        assert_eq!(opened(&sealer, sub.signing_secret.as_ref().unwrap()), second);
        let prev = sub.previous_secret.as_ref().unwrap();
        assert_eq!(opened(&sealer, &prev.secret), first);
        assert_eq!(
            prev.expires_at,
            "2099-02-13T10:31:00Z".parse::<DateTime<Utc>>().unwrap()
        );
        // The view shows when, never a secret.
        let view = get_view(&ws2, &id).unwrap();
        assert_eq!(view["previous_secret_expires_at"], "2099-02-13T10:31:00Z");
        assert!(!view.to_string().contains(&first) && !view.to_string().contains(&second));

        // Rotating during the overlap: the current secret becomes the previous one.
        let (ws3, out) = apply_rotate(&ws2, &id, br#"{"overlap_secs":604800}"#, DAY, &sealer, now).unwrap();
        let third = out["signing_secret"].as_str().unwrap();
        let sub = ws3.subscription(&id).unwrap();
        assert_eq!(opened(&sealer, sub.signing_secret.as_ref().unwrap()), third);
        assert_eq!(opened(&sealer, &sub.previous_secret.as_ref().unwrap().secret), second);
        assert_eq!(out["previous_secret_expires_at"], "2099-02-20T10:30:00Z");

        // No overlap: the old secret stops signing at once, nothing is kept.
        let (ws4, out) = apply_rotate(&ws3, &id, br#"{"overlap_secs":0}"#, DAY, &sealer, now).unwrap();
        assert_eq!(out["previous_secret_expires_at"], "2099-02-13T10:30:00Z");
        assert_eq!(ws4.subscription(&id).unwrap().previous_secret, None);
        assert_eq!(get_view(&ws4, &id).unwrap()["previous_secret_expires_at"], Value::Null);
    }

    #[tokio::test]
    async fn bad_bodies_and_unknown_ids_change_nothing() {
        let (mut ws, id, _, sealer) = workspace().await;
        let now = Utc::now();
        for (body, code) in [
            ("{", "INVALID_BODY"),
            ("[]", "INVALID_BODY"),
            ("7", "INVALID_BODY"),
            (r#"{"overlap_secs":-1}"#, "INVALID_OVERLAP"),
            (r#"{"overlap_secs":604801}"#, "INVALID_OVERLAP"),
            (r#"{"overlap_secs":1.5}"#, "INVALID_OVERLAP"),
            (r#"{"overlap_secs":"60"}"#, "INVALID_OVERLAP"),
            (r#"{"overlap_secs":true}"#, "INVALID_OVERLAP"),
        ] {
            let e = apply_rotate(&ws, &id, body.as_bytes(), DAY, &sealer, now).unwrap_err();
            assert_eq!((e.status.as_u16(), e.code), (400, code), "{body}");
        }
        let e = apply_rotate(&ws, "wh_nope", b"{}", DAY, &sealer, now).unwrap_err();
        assert_eq!((e.status.as_u16(), e.code), (404, "NOT_FOUND"));
        // Other dialects' subscriptions are not named ones.
        ws = crate::telecom23::apply_put(
            &ws,
            br#"{"delivery_url":"https://example.com/d","signing_secret":"t23"}"#,
            &UrlPolicy::new(false, vec![]),
            &sealer,
        )
        .await
        .unwrap();
        let e = apply_rotate(&ws, "t23-delivery", b"{}", DAY, &sealer, now).unwrap_err();
        assert_eq!(e.code, "NOT_FOUND");
    }
}
