//! The SMSEdge dialect: `POST /v1/user/set-webhook`, `GET /v1/user/get-webhook`,
//! `POST /v1/user/test-webhook`, with the same `X-API-Key` keys as every other dialect.
//!
//! Four channels, each one subscription in the model with id `se-<channel>`: `dlr`
//! (delivery reports), `click`, `inbound`, `revoke_click` (revoke-click batches). DLR, click and
//! inbound are POSTed form-encoded as `sms=<json>` in SMSEdge's field names
//! ([`hookline_model::render::smsedge`]); revoke batches as raw JSON. All use SMSEdge's delivery rules:
//! 3 attempts 6 h apart, a 10 s timeout, at most 3 requests in flight per endpoint. HTTP Basic
//! auth (`auth`, `user:pass`, at most 32 characters) goes on the DLR webhook only; it is kept in
//! [`SmsEdgeSettings`] so it survives the DLR URL being cleared and set again.
//!
//! `set-webhook` takes form-encoded or JSON parameters; only those given change, `""` clears.
//! Responses use SMSEdge's envelope: `{"success": true, "data": {...}}`, and on error
//! `{"success": false, "error": {"code", "message"}}` with the HTTP status of the failure
//! (codes `INVALID_BODY`, `INVALID_URL`, `INVALID_AUTH`, `UNAUTHORIZED`, `FORBIDDEN`,
//! `UNAVAILABLE`). A rejected request changes nothing.
//!
//! [`SmsEdgeSettings`]: hookline_model::SmsEdgeSettings

use crate::error::ApiError;
use crate::state::AppState;
use crate::validate::Field;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::Json;
use hookline_model::{
    AttemptOutcome, BodyFormat, Dialect, EventKind, Permission, SealedSecret, Subscription, WorkspaceConfig,
};
use hookline_security::{Sealer, UrlPolicy};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// Longest `auth` value, in characters.
pub const MAX_AUTH_CHARS: usize = 32;
/// SMSEdge's per-request timeout.
pub const TIMEOUT_MS: u64 = 10_000;
/// SMSEdge's parallel requests per endpoint.
pub const CONCURRENCY: u32 = 3;

/// One SMSEdge webhook: its parameter prefix (`<name>_url`) and the event kind it carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Channel {
    pub name: &'static str,
    pub kind: EventKind,
}

/// In the order SMSEdge's page lists them.
pub const CHANNELS: [Channel; 4] = [
    Channel {
        name: "dlr",
        kind: EventKind::Delivery,
    },
    Channel {
        name: "click",
        kind: EventKind::Click,
    },
    Channel {
        name: "inbound",
        kind: EventKind::Inbound,
    },
    Channel {
        name: "revoke_click",
        kind: EventKind::ClicksRevoked,
    },
];

pub fn subscription_id(channel: Channel) -> String {
    format!("se-{}", channel.name)
}

/// An error in SMSEdge's envelope.
#[derive(Debug)]
pub struct SmsEdgeError(pub ApiError);

impl From<ApiError> for SmsEdgeError {
    fn from(e: ApiError) -> Self {
        Self(e)
    }
}

impl IntoResponse for SmsEdgeError {
    fn into_response(self) -> Response {
        let retry_after = self.0.retry_after();
        let ApiError {
            status,
            code,
            description,
            ..
        } = self.0;
        let mut r = (
            status,
            Json(json!({"success": false, "error": {"code": code, "message": description}})),
        )
            .into_response();
        if let Some((name, value)) = retry_after {
            r.headers_mut().insert(name, value);
        }
        r
    }
}

/// `{"success": true, "data": data}`.
pub fn success(data: Value) -> Json<Value> {
    Json(json!({"success": true, "data": data}))
}

/// The `get-webhook` view: every URL (`null` when unset) and whether Basic auth is set.
pub fn view(ws: &WorkspaceConfig) -> Value {
    let mut out = Map::new();
    for ch in CHANNELS {
        let url = ws.subscription(&subscription_id(ch)).map(|s| s.url.clone());
        out.insert(format!("{}_url", ch.name), json!(url));
    }
    out.insert("auth".into(), json!(ws.smsedge.basic_auth.is_some()));
    Value::Object(out)
}

/// A `set-webhook` request as sent (form-encoded or JSON); unknown parameters are ignored.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct SetBody {
    dlr_url: Field<String>,
    click_url: Field<String>,
    inbound_url: Field<String>,
    revoke_click_url: Field<String>,
    auth: Field<String>,
}

impl SetBody {
    /// Each channel's `<name>_url`, in the order of [`CHANNELS`].
    fn urls(&self) -> [(Channel, &Field<String>); 4] {
        let [dlr, click, inbound, revoke_click] = CHANNELS;
        [
            (dlr, &self.dlr_url),
            (click, &self.click_url),
            (inbound, &self.inbound_url),
            (revoke_click, &self.revoke_click_url),
        ]
    }
}

/// What a valid `set-webhook` asks for. `Some(None)` clears.
#[derive(Debug, Default)]
struct Changes {
    urls: BTreeMap<Channel, Option<String>>,
    auth: Option<Option<String>>,
}

/// The request's parameters, from a JSON object or a form-encoded body.
fn params(headers: &HeaderMap, body: &[u8]) -> Result<SetBody, ApiError> {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.to_ascii_lowercase().contains("json"));
    let obj = if is_json {
        crate::validate::json_object(body)?
    } else {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body)
            .map_err(|e| ApiError::bad_request("INVALID_BODY", format!("the body is not form-encoded: {e}")))?;
        pairs.into_iter().map(|(k, v)| (k, Value::String(v))).collect()
    };
    crate::validate::body(obj)
}

async fn validate(params: &SetBody, policy: &UrlPolicy) -> Result<Changes, ApiError> {
    let mut c = Changes::default();
    for (ch, v) in params.urls() {
        let key = format!("{}_url", ch.name);
        let url = match v {
            Field::Absent => continue,
            Field::Valid(s) if s.is_empty() => None,
            Field::Valid(s) => Some(crate::validate::url(policy, &key, s).await?),
            Field::Null | Field::Invalid => {
                return Err(ApiError::bad_request("INVALID_URL", format!("{key} must be a string")))
            }
        };
        c.urls.insert(ch, url);
    }
    let invalid = |why: &str| ApiError::bad_request("INVALID_AUTH", format!("auth {why}"));
    c.auth = match &params.auth {
        Field::Absent => None,
        Field::Valid(s) if s.is_empty() => Some(None),
        Field::Valid(s) => {
            let Some((user, _pass)) = s.split_once(':') else {
                return Err(invalid("must be user:pass"));
            };
            if user.is_empty() {
                return Err(invalid("must be user:pass with a non-empty user"));
            }
            if s.chars().count() > MAX_AUTH_CHARS {
                return Err(invalid("must be at most 32 characters"));
            }
            if s.chars().any(char::is_control) {
                return Err(invalid("must not contain control characters"));
            }
            Some(Some(s.clone()))
        }
        Field::Null | Field::Invalid => return Err(invalid("must be a string")),
    };
    Ok(c)
}

/// Validates a `set-webhook` request against the current config and returns the new config
/// (version bumped).
pub async fn apply_set(
    current: &WorkspaceConfig,
    headers: &HeaderMap,
    body: &[u8],
    policy: &UrlPolicy,
    sealer: &Sealer,
) -> Result<WorkspaceConfig, ApiError> {
    let changes = validate(&params(headers, body)?, policy).await?;
    let mut ws = current.clone();
    if let Some(auth) = &changes.auth {
        ws.smsedge.basic_auth = auth.as_ref().map(|a| SealedSecret(sealer.seal(a)));
    }
    for ch in CHANNELS {
        ws.apply_channel(&subscription_id(ch), changes.urls.get(&ch).cloned(), |ws, url| {
            subscription(ws, ch, url)
        });
    }
    ws.version += 1;
    Ok(ws)
}

/// The subscription of one channel.
fn subscription(ws: &WorkspaceConfig, ch: Channel, url: String) -> Subscription {
    Subscription {
        event_kinds: vec![ch.kind],
        format: if ch.kind == EventKind::ClicksRevoked {
            BodyFormat::Json
        } else {
            BodyFormat::FormSms
        },
        basic_auth: if ch.kind == EventKind::Delivery {
            ws.smsedge.basic_auth.clone()
        } else {
            None
        },
        max_concurrency: CONCURRENCY,
        timeout_ms: TIMEOUT_MS,
        ..Subscription::new(Dialect::SmsEdge, &ws.workspace_id, subscription_id(ch), url)
    }
}

/// `test-webhook`: a demo event to every configured URL at once, through the real delivery
/// path, and per webhook `{"status": "ok"|"failed"|"error", "http_code", "time"}` (`ok` is HTTP
/// 200, `failed` any other response, `error` no response: connection, TLS or timeout) or
/// `{"status": "skipped", "reason": "not configured"}`. `time` is seconds.
pub async fn test_all(st: &AppState, ws: &WorkspaceConfig) -> Result<Value, ApiError> {
    let sends = CHANNELS.map(|ch| async move {
        let Some(sub) = ws.subscription(&subscription_id(ch)) else {
            return Ok((ch, json!({"status": "skipped", "reason": "not configured"})));
        };
        let event = crate::test_send::sample(ch.kind, &ws.workspace_id);
        let result = match crate::test_send::send_and_wait(st, ws, sub, event).await? {
            None => json!({"status": "error", "http_code": null, "time": null, "error": "no attempt recorded in time"}),
            Some(rec) => {
                let status = match rec.response_code {
                    Some(200) if rec.outcome == AttemptOutcome::Delivered => "ok",
                    Some(_) => "failed",
                    None => "error",
                };
                json!({
                    "status": status,
                    "http_code": rec.response_code,
                    "time": rec.response_time_ms as f64 / 1000.0,
                })
            }
        };
        Ok::<_, ApiError>((ch, result))
    });
    let mut out = Map::new();
    for r in futures::future::join_all(sends).await {
        let (ch, v) = r?;
        out.insert(ch.name.to_string(), v);
    }
    Ok(Value::Object(out))
}

// Handlers, in SMSEdge's envelope.

/// `GET /v1/user/get-webhook`.
pub async fn get(State(st): State<AppState>, headers: HeaderMap) -> Result<Json<Value>, SmsEdgeError> {
    Ok(success(view(&st.caller_workspace(&headers, Permission::WebhooksRead)?)))
}

/// `POST /v1/user/set-webhook`.
pub async fn set(State(st): State<AppState>, headers: HeaderMap, body: Bytes) -> Result<Json<Value>, SmsEdgeError> {
    let out = st
        .update_workspace(&headers, "smsedge", async |current| {
            let updated = apply_set(&current, &headers, &body, &st.policy, &st.sealer).await?;
            let out = view(&updated);
            Ok((updated, out))
        })
        .await?;
    Ok(success(out))
}

/// `POST /v1/user/test-webhook`.
pub async fn test(State(st): State<AppState>, headers: HeaderMap) -> Result<Json<Value>, SmsEdgeError> {
    let ws = st.caller_workspace(&headers, Permission::WebhooksWrite)?;
    Ok(success(test_all(&st, &ws).await?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn form() -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-www-form-urlencoded"),
        );
        h
    }

    async fn code(headers: &HeaderMap, body: &str) -> &'static str {
        let policy = UrlPolicy::new(false, vec![]);
        let sealer = Sealer::new(None).unwrap();
        apply_set(&WorkspaceConfig::new("w"), headers, body.as_bytes(), &policy, &sealer)
            .await
            .unwrap_err()
            .code
    }

    #[tokio::test]
    async fn every_error_code() {
        let mut json = HeaderMap::new();
        json.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        assert_eq!(code(&json, "[1]").await, "INVALID_BODY");
        assert_eq!(code(&json, r#"{"dlr_url": 5}"#).await, "INVALID_URL");
        assert_eq!(code(&json, r#"{"auth": true}"#).await, "INVALID_AUTH");
        assert_eq!(
            code(&form(), "dlr_url=http%3A%2F%2Fexample.com%2Fx").await,
            "INVALID_URL"
        );
        assert_eq!(
            code(&form(), "click_url=https%3A%2F%2F10.0.0.1%2F").await,
            "INVALID_URL"
        );
        assert_eq!(code(&form(), "auth=nocolon").await, "INVALID_AUTH");
        assert_eq!(code(&form(), "auth=%3Apass").await, "INVALID_AUTH");
        let long = format!("auth=user%3A{}", "p".repeat(28));
        assert_eq!(code(&form(), &long).await, "INVALID_AUTH");
        assert_eq!(code(&form(), "auth=a%3Ab%0A").await, "INVALID_AUTH");
    }

    /// Issue 13: credentials belong in `auth`, never in a URL (they would be sent as Basic
    /// auth on every channel and shown by get-webhook); control characters are refused; an
    /// accepted URL is stored as it will be requested.
    #[tokio::test]
    async fn credentials_and_control_characters_refused_urls_stored_normalised() {
        for body in [
            "dlr_url=https%3A%2F%2Fuser%3Apass%40example.com%2Fdlr",
            "click_url=https%3A%2F%2Fuser%40example.com%2Fc",
            "inbound_url=https%3A%2F%2Fexample.com%2Fi%0D%0AX-Injected%3A%201",
            "revoke_click_url=https%3A%2F%2Fexample.com%2Fr%09",
            "dlr_url=https%3A%2F%2Fexample.com%2Fd%250a",
        ] {
            assert_eq!(code(&form(), body).await, "INVALID_URL", "{body}");
        }
        let policy = UrlPolicy::new(false, vec![]);
        let sealer = Sealer::new(None).unwrap();
        let body = b"dlr_url=HTTPS%3A%2F%2FExample.COM%3A443%2Fx%2F..%2Fdlr&auth=u%3Ap";
        let ws = apply_set(&WorkspaceConfig::new("w"), &form(), body, &policy, &sealer)
            .await
            .unwrap();
        assert_eq!(view(&ws)["dlr_url"], "https://example.com/dlr");
        assert_eq!(ws.subscription("se-dlr").unwrap().url, "https://example.com/dlr");
    }

    #[tokio::test]
    async fn only_given_params_change_and_empty_clears() {
        let policy = UrlPolicy::new(false, vec![]);
        let sealer = Sealer::new(None).unwrap();
        let ws = WorkspaceConfig::new("w");
        let body = "dlr_url=https%3A%2F%2Fexample.com%2Fdlr&click_url=https%3A%2F%2Fexample.com%2Fc&auth=u%3Ap";
        let ws = apply_set(&ws, &form(), body.as_bytes(), &policy, &sealer)
            .await
            .unwrap();
        let v = view(&ws);
        assert_eq!(v["dlr_url"], "https://example.com/dlr");
        assert_eq!(v["inbound_url"], Value::Null);
        assert_eq!(v["auth"], true);
        let dlr = ws.subscription("se-dlr").unwrap();
        assert!(dlr.basic_auth.is_some());
        assert!(
            ws.subscription("se-click").unwrap().basic_auth.is_none(),
            "Basic auth is DLR only"
        );
        assert_eq!(dlr.format, BodyFormat::FormSms);
        assert_eq!((dlr.timeout_ms, dlr.max_concurrency), (10_000, 3));

        let ws = apply_set(&ws, &form(), b"click_url=", &policy, &sealer).await.unwrap();
        let v = view(&ws);
        assert_eq!(v["click_url"], Value::Null);
        assert_eq!(v["dlr_url"], "https://example.com/dlr", "untouched");
        assert_eq!(v["auth"], true, "untouched");

        let ws = apply_set(&ws, &form(), b"dlr_url=", &policy, &sealer).await.unwrap();
        assert_eq!(view(&ws)["auth"], true, "credentials survive a cleared DLR URL");
        let ws = apply_set(&ws, &form(), b"auth=", &policy, &sealer).await.unwrap();
        assert_eq!(view(&ws)["auth"], false);
    }
}
