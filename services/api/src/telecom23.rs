//! The 23 Telecom dialect: `PUT`/`GET /api/v1/user/webhooks`.
//!
//! One URL per event kind, a shared signing secret, per-kind field lists and the
//! `unique_clicks_only` toggle. In the model each configured URL is one subscription with id
//! `t23-<kind>`; the secret, toggle and field choices live in [`Telecom23Settings`] so they
//! survive a channel being disabled and re-enabled.
//!
//! `PUT` only touches what it sends. Validation runs in a fixed order and the first failure
//! is returned: `INVALID_BODY`, `CONFLICTING_FIELDS`, `INVALID_URL`, `INVALID_SECRET`,
//! `INVALID_FIELDS`, `INVALID_TOGGLE`. A rejected `PUT` changes nothing. Unknown keys are
//! ignored (the reference defines no error for them).
//!
//! [`Telecom23Settings`]: hookline_model::Telecom23Settings

use crate::error::ApiError;
use crate::state::AppState;
use crate::validate::Field;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::Json;
use hookline_model::{fields, Dialect, EventKind, Permission, SealedSecret, Subscription, WorkspaceConfig};
use hookline_security::{Sealer, UrlPolicy};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// Longest signing secret, in characters.
pub const MAX_SECRET_CHARS: usize = 64;
/// 23 Telecom's response window.
pub const TIMEOUT_MS: u64 = 5_000;

pub fn subscription_id(kind: EventKind) -> String {
    format!("t23-{kind}")
}

/// The GET view. The secret itself is never returned.
pub fn view(ws: &WorkspaceConfig) -> Value {
    let mut out = Map::new();
    for kind in EventKind::TELECOM23 {
        let url = ws.subscription(&subscription_id(kind)).map(|s| s.url.clone());
        out.insert(format!("{kind}_url"), json!(url));
    }
    out.insert(
        "signing_secret_set".into(),
        json!(ws.telecom23.signing_secret.is_some()),
    );
    out.insert("unique_clicks_only".into(), json!(ws.telecom23.unique_clicks_only));
    for kind in EventKind::TELECOM23 {
        out.insert(format!("{kind}_fields"), json!(chosen_fields(ws, kind)));
    }
    Value::Object(out)
}

fn chosen_fields(ws: &WorkspaceConfig, kind: EventKind) -> Vec<String> {
    ws.telecom23
        .fields
        .get(&kind)
        .cloned()
        .unwrap_or_else(|| fields::defaults(kind).iter().map(|f| f.to_string()).collect())
}

/// A `PUT` body as sent; unknown keys are ignored.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct PutBody {
    delivery_url: Field<String>,
    click_url: Field<String>,
    conversion_url: Field<String>,
    impression_url: Field<String>,
    signing_secret: Field<String>,
    clear_signing_secret: Field<bool>,
    delivery_fields: Field<Vec<Value>>,
    click_fields: Field<Vec<Value>>,
    conversion_fields: Field<Vec<Value>>,
    impression_fields: Field<Vec<Value>>,
    unique_clicks_only: Field<bool>,
}

/// One channel's members of a [`PutBody`]: `(kind, <kind>_url, <kind>_fields)`.
type ChannelFields<'a> = (EventKind, &'a Field<String>, &'a Field<Vec<Value>>);

impl PutBody {
    /// Each channel's members, in the order of [`EventKind::TELECOM23`].
    fn channels(&self) -> [ChannelFields<'_>; 4] {
        [
            (EventKind::Delivery, &self.delivery_url, &self.delivery_fields),
            (EventKind::Click, &self.click_url, &self.click_fields),
            (EventKind::Conversion, &self.conversion_url, &self.conversion_fields),
            (EventKind::Impression, &self.impression_url, &self.impression_fields),
        ]
    }
}

/// What a valid PUT body asks for, before it is applied.
#[derive(Debug, Default)]
struct Changes {
    /// `Some(None)`: disable the channel.
    urls: BTreeMap<EventKind, Option<String>>,
    secret: Option<String>,
    clear_secret: bool,
    fields: BTreeMap<EventKind, Vec<String>>,
    unique_clicks_only: Option<bool>,
}

/// Validates `body` against the current config and returns the new config (version bumped).
pub async fn apply_put(
    current: &WorkspaceConfig,
    body: &[u8],
    policy: &UrlPolicy,
    sealer: &Sealer,
) -> Result<WorkspaceConfig, ApiError> {
    let changes = validate(body, policy).await?;
    let mut ws = current.clone();
    let t = &mut ws.telecom23;
    if changes.clear_secret {
        t.signing_secret = None;
    }
    if let Some(secret) = &changes.secret {
        t.signing_secret = Some(SealedSecret(sealer.seal(secret)));
    }
    if let Some(u) = changes.unique_clicks_only {
        t.unique_clicks_only = u;
    }
    for (kind, list) in changes.fields {
        t.fields.insert(kind, list);
    }
    for kind in EventKind::TELECOM23 {
        ws.apply_channel(&subscription_id(kind), changes.urls.get(&kind).cloned(), |ws, url| {
            subscription(ws, kind, url)
        });
    }
    ws.version += 1;
    Ok(ws)
}

/// Builds the subscription of one channel from the dialect settings.
fn subscription(ws: &WorkspaceConfig, kind: EventKind, url: String) -> Subscription {
    let mut chosen = BTreeMap::new();
    if let Some(f) = ws.telecom23.fields.get(&kind) {
        chosen.insert(kind, f.clone());
    }
    Subscription {
        event_kinds: vec![kind],
        fields: chosen,
        signing_secret: ws.telecom23.signing_secret.clone(),
        timeout_ms: TIMEOUT_MS,
        ..Subscription::new(Dialect::Telecom23, &ws.workspace_id, subscription_id(kind), url)
    }
}

async fn validate(body: &[u8], policy: &UrlPolicy) -> Result<Changes, ApiError> {
    let body: PutBody = crate::validate::body(crate::validate::json_object(body)?)?;
    let mut c = Changes::default();

    if !body.signing_secret.is_absent() && body.clear_signing_secret == Field::Valid(true) {
        return Err(ApiError::bad_request(
            "CONFLICTING_FIELDS",
            "signing_secret and clear_signing_secret: true cannot be sent together",
        ));
    }

    for (kind, url, _) in body.channels() {
        let key = format!("{kind}_url");
        let url = match url {
            Field::Absent => continue,
            Field::Null => None,
            Field::Valid(s) if s.is_empty() => None,
            Field::Valid(s) => Some(crate::validate::url(policy, &key, s).await?),
            Field::Invalid => {
                return Err(ApiError::bad_request(
                    "INVALID_URL",
                    format!("{key} must be a string or null"),
                ))
            }
        };
        c.urls.insert(kind, url);
    }

    match &body.signing_secret {
        Field::Absent => {}
        Field::Valid(s) if !s.is_empty() && s.chars().count() <= MAX_SECRET_CHARS => c.secret = Some(s.clone()),
        _ => {
            return Err(ApiError::bad_request(
                "INVALID_SECRET",
                format!("signing_secret must be a string of 1 to {MAX_SECRET_CHARS} characters"),
            ))
        }
    }
    match body.clear_signing_secret {
        Field::Absent => {}
        Field::Valid(b) => c.clear_secret = b,
        _ => {
            return Err(ApiError::bad_request(
                "INVALID_SECRET",
                "clear_signing_secret must be a boolean",
            ))
        }
    }

    for (kind, _, list) in body.channels() {
        let key = format!("{kind}_fields");
        let invalid = |why: String| ApiError::bad_request("INVALID_FIELDS", format!("{key}: {why}"));
        let items = match list {
            Field::Absent => continue,
            Field::Valid(items) => items,
            _ => return Err(invalid("must be a non-empty array of field names".into())),
        };
        let names: Vec<String> = items
            .iter()
            .map(|i| i.as_str().map(str::to_string))
            .collect::<Option<_>>()
            .ok_or_else(|| invalid("field names must be strings".into()))?;
        let list = fields::normalise(kind, &names).map_err(|e| invalid(e.to_string()))?;
        c.fields.insert(kind, list);
    }

    match body.unique_clicks_only {
        Field::Absent => {}
        Field::Valid(b) => c.unique_clicks_only = Some(b),
        _ => {
            return Err(ApiError::bad_request(
                "INVALID_TOGGLE",
                "unique_clicks_only must be a boolean",
            ))
        }
    }
    Ok(c)
}

// Handlers.

/// `GET /api/v1/user/webhooks`.
pub async fn get(State(st): State<AppState>, headers: HeaderMap) -> Result<Json<Value>, ApiError> {
    Ok(Json(view(&st.caller_workspace(&headers, Permission::WebhooksRead)?)))
}

/// `PUT /api/v1/user/webhooks`.
pub async fn put(State(st): State<AppState>, headers: HeaderMap, body: Bytes) -> Result<Json<Value>, ApiError> {
    st.update_workspace(&headers, "telecom23", async |current| {
        let updated = apply_put(&current, &body, &st.policy, &st.sealer).await?;
        let out = view(&updated);
        Ok((updated, Json(out)))
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> UrlPolicy {
        UrlPolicy::new(false, vec![])
    }

    async fn put(ws: &WorkspaceConfig, body: &str) -> Result<WorkspaceConfig, ApiError> {
        apply_put(ws, body.as_bytes(), &policy(), &Sealer::new(None).unwrap()).await
    }

    async fn code(body: &str) -> &'static str {
        put(&WorkspaceConfig::new("w"), body).await.unwrap_err().code
    }

    #[tokio::test]
    async fn every_error_code_under_its_condition() {
        assert_eq!(code("{").await, "INVALID_BODY");
        assert_eq!(code("[1]").await, "INVALID_BODY");
        assert_eq!(
            code(r#"{"signing_secret":"a","clear_signing_secret":true}"#).await,
            "CONFLICTING_FIELDS"
        );
        assert_eq!(code(r#"{"delivery_url":5}"#).await, "INVALID_URL");
        assert_eq!(code(r#"{"click_url":"http://example.com/x"}"#).await, "INVALID_URL");
        assert_eq!(
            code(r#"{"delivery_url":"https://169.254.169.254/"}"#).await,
            "INVALID_URL"
        );
        assert_eq!(code(r#"{"signing_secret":""}"#).await, "INVALID_SECRET");
        assert_eq!(code(r#"{"signing_secret":null}"#).await, "INVALID_SECRET");
        assert_eq!(code(r#"{"signing_secret":12}"#).await, "INVALID_SECRET");
        let long = format!(r#"{{"signing_secret":"{}"}}"#, "é".repeat(65));
        assert_eq!(code(&long).await, "INVALID_SECRET");
        assert_eq!(code(r#"{"delivery_fields":null}"#).await, "INVALID_FIELDS");
        assert_eq!(code(r#"{"delivery_fields":[]}"#).await, "INVALID_FIELDS");
        assert_eq!(code(r#"{"delivery_fields":["nope"]}"#).await, "INVALID_FIELDS");
        assert_eq!(code(r#"{"click_fields":["status"]}"#).await, "INVALID_FIELDS");
        assert_eq!(code(r#"{"unique_clicks_only":"yes"}"#).await, "INVALID_TOGGLE");
        assert_eq!(code(r#"{"unique_clicks_only":null}"#).await, "INVALID_TOGGLE");
    }

    /// Issue 13: credentials in a URL (sent as Basic auth, shown by GET) and control characters
    /// (shown raw while the parser requests another URL) are `INVALID_URL`; an accepted URL is
    /// stored as it will be requested.
    #[tokio::test]
    async fn credentials_and_control_characters_refused_urls_stored_normalised() {
        for url in [
            "https://user:pass@example.com/d",
            "https://user@example.com/d",
            "https://example.com/d\r\nX-Injected: 1",
            "https://example.com/\td",
            "https://example.com/d%0d%0a",
            "https://example.com/d\u{7f}",
        ] {
            let body = json!({ "delivery_url": url }).to_string();
            let e = put(&WorkspaceConfig::new("w"), &body).await.unwrap_err();
            assert_eq!((e.status.as_u16(), e.code), (400, "INVALID_URL"), "{url:?}");
            assert!(e.description.starts_with("delivery_url: "), "{}", e.description);
        }
        let ws = put(
            &WorkspaceConfig::new("w"),
            r#"{"delivery_url":"HTTPS://Example.COM:443/a/./b/../d"}"#,
        )
        .await
        .unwrap();
        assert_eq!(view(&ws)["delivery_url"], "https://example.com/a/d");
        assert_eq!(ws.subscription("t23-delivery").unwrap().url, "https://example.com/a/d");
    }

    #[tokio::test]
    async fn valid_edges() {
        let max = format!(r#"{{"signing_secret":"{}"}}"#, "é".repeat(64));
        assert!(put(&WorkspaceConfig::new("w"), &max).await.is_ok());
        assert!(put(
            &WorkspaceConfig::new("w"),
            r#"{"signing_secret":"a","clear_signing_secret":false}"#
        )
        .await
        .is_ok());
        assert!(
            put(&WorkspaceConfig::new("w"), r#"{"delivery_url":null,"click_url":""}"#)
                .await
                .is_ok()
        );
    }

    #[tokio::test]
    async fn partial_updates_and_disable() {
        let ws = WorkspaceConfig::new("w");
        let ws = put(&ws, r#"{"delivery_url":"https://example.com/d","signing_secret":"s3cret","delivery_fields":["status","message_id","workspace_id"]}"#).await.unwrap();
        let v = view(&ws);
        assert_eq!(v["delivery_url"], "https://example.com/d");
        assert_eq!(v["click_url"], Value::Null);
        assert_eq!(v["signing_secret_set"], true);
        assert_eq!(v["delivery_fields"], json!(["message_id", "status", "workspace_id"]));
        assert_eq!(v["click_fields"], json!(fields::defaults(EventKind::Click)));
        assert!(!v.to_string().contains("s3cret"));

        // Only what is sent changes.
        let ws = put(&ws, r#"{"click_url":"https://example.com/c"}"#).await.unwrap();
        let v = view(&ws);
        assert_eq!(v["delivery_url"], "https://example.com/d");
        assert_eq!(v["click_url"], "https://example.com/c");
        assert_eq!(v["signing_secret_set"], true);
        assert_eq!(ws.subscriptions.len(), 2);
        assert_eq!(ws.version, 2);

        // Disabling keeps the field choice for later.
        let ws = put(&ws, r#"{"delivery_url":""}"#).await.unwrap();
        assert_eq!(view(&ws)["delivery_url"], Value::Null);
        assert!(ws.subscription("t23-delivery").is_none());
        let ws = put(
            &ws,
            r#"{"delivery_url":"https://example.com/d2","clear_signing_secret":true}"#,
        )
        .await
        .unwrap();
        let sub = ws.subscription("t23-delivery").unwrap();
        assert_eq!(
            sub.fields_for(EventKind::Delivery),
            vec!["message_id", "status", "workspace_id"]
        );
        assert!(sub.signing_secret.is_none());
        assert_eq!(view(&ws)["signing_secret_set"], false);
    }
}
