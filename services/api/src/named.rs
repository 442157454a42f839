//! The named-subscription dialect: `/api/v1/webhooks`.
//!
//! - `POST /api/v1/webhooks` creates one (`201`, with its generated `id` and `signing_secret`;
//!   the secret is shown in this response only),
//! - `GET /api/v1/webhooks` lists the workspace's named subscriptions (`{"data": [...]}`),
//! - `GET /api/v1/webhooks/{id}`, `PATCH /api/v1/webhooks/{id}` (only the fields sent change),
//!   `DELETE /api/v1/webhooks/{id}` (`204`).
//!
//! Each is a [`Subscription`] with `dialect: Named`, `schema: Named` (the envelope of
//! [`hookline_model::render::named`]), the 23 Telecom retry policy (3 attempts,
//! 10 s then 30 s apart), a 5 s timeout and its own sealed signing secret. Other dialects'
//! subscriptions are never shown or changed here: an id that is not a named subscription of
//! the caller's workspace is `404 NOT_FOUND`.
//!
//! Body fields: `name` (2–100 characters after trimming), `url` (the URL policy, SSRF check
//! included), `event_types` (array) and/or the deprecated `event_type` (string) — the two are
//! combined, duplicates dropped, at least one type in all —, `filter` (`sender`, `status`,
//! `message_ref`, `campaign_id`: arrays of strings, `null` or `[]` for none; `filter: null`
//! clears every list; a `filter` object replaces the stored filter as a whole; at most
//! [`MAX_FILTER_VALUES`] values of 1 to [`MAX_FILTER_VALUE_CHARS`] characters per list) and
//! `rate_limit` (0–10000 requests per second, 0 or `null` for the system default). Validation
//! runs in this order and the first failure is returned: `INVALID_BODY`, `INVALID_NAME`,
//! `INVALID_URL`, `INVALID_EVENT_TYPE`, `INVALID_FILTER`, `INVALID_RATE_LIMIT`. A rejected
//! request changes nothing. Unknown top-level keys are ignored; an unknown key inside
//! `filter` is refused (`INVALID_FILTER`), since a misspelt filter would otherwise silently
//! match every event. `status` filter values must be statuses events carry (`sent`, `failed`,
//! `soft_bounce`, `hard_bounce`, `delivered`, `undelivered`, any case).

use crate::auth;
use crate::error::ApiError;
use crate::AppState;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use hookline_model::event::MessageStatus;
use hookline_model::{Dialect, Filters, NamedEventType, Permission, SealedSecret, Subscription, WorkspaceConfig};
use hookline_security::{Sealer, UrlPolicy};
use rand::RngCore;
use serde_json::{json, Map, Value};

/// Response window of a named subscription's endpoint.
pub const TIMEOUT_MS: u64 = 5_000;
pub const NAME_MIN_CHARS: usize = 2;
pub const NAME_MAX_CHARS: usize = 100;
pub const MAX_RATE_LIMIT: u64 = 10_000;
/// Values per filter list, and characters per value.
pub const MAX_FILTER_VALUES: usize = 100;
pub const MAX_FILTER_VALUE_CHARS: usize = 256;

const FILTER_KEYS: [&str; 4] = ["sender", "status", "message_ref", "campaign_id"];
pub(crate) const STATUSES: [MessageStatus; 6] = [
    MessageStatus::Sent,
    MessageStatus::Failed,
    MessageStatus::SoftBounce,
    MessageStatus::HardBounce,
    MessageStatus::Delivered,
    MessageStatus::Undelivered,
];

fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
        "no webhook with this id in your workspace",
    )
}

/// The caller's named subscription `id`, if it is one.
fn named<'a>(ws: &'a WorkspaceConfig, id: &str) -> Option<&'a Subscription> {
    ws.by_dialect(Dialect::Named).find(|s| s.id == id)
}

/// The view of one named subscription. The signing secret is never in it.
pub fn view(sub: &Subscription) -> Value {
    let f = &sub.filters;
    json!({
        "id": sub.id,
        "name": sub.name,
        "url": sub.url,
        "event_types": sub.event_types,
        "filter": {
            "sender": f.sender,
            "status": f.status,
            "message_ref": f.message_ref,
            "campaign_id": f.campaign_id,
        },
        "rate_limit": sub.rate_limit_per_sec,
    })
}

/// `GET /api/v1/webhooks`: the workspace's named subscriptions, in creation order.
pub fn list_view(ws: &WorkspaceConfig) -> Value {
    json!({"data": ws.by_dialect(Dialect::Named).map(view).collect::<Vec<_>>()})
}

/// What a valid body asks for; `None` = not sent.
#[derive(Debug, Default)]
struct Changes {
    name: Option<String>,
    url: Option<String>,
    event_types: Option<Vec<NamedEventType>>,
    filter: Option<Filters>,
    rate_limit: Option<u32>,
}

/// Validates a create body and returns the new config (version bumped) and the `201` body,
/// the only place the generated signing secret is shown.
pub async fn apply_create(
    current: &WorkspaceConfig,
    body: &[u8],
    policy: &UrlPolicy,
    sealer: &Sealer,
) -> Result<(WorkspaceConfig, Value), ApiError> {
    let c = validate(body, policy, true).await?;
    let mut ws = current.clone();
    let id = loop {
        let id = format!("wh_{}", random_hex(12));
        if ws.subscription(&id).is_none() {
            break id;
        }
    };
    let secret = format!("whsec_{}", random_hex(24));
    let event_types = c.event_types.unwrap_or_default();
    let sub = Subscription {
        name: c.name,
        event_kinds: kinds(&event_types),
        event_types,
        filters: c.filter.unwrap_or_default(),
        signing_secret: Some(SealedSecret(sealer.seal(&secret))),
        rate_limit_per_sec: c.rate_limit.unwrap_or(0),
        timeout_ms: TIMEOUT_MS,
        ..Subscription::new(Dialect::Named, &ws.workspace_id, id, c.url.unwrap_or_default())
    };
    let mut out = view(&sub);
    out["signing_secret"] = json!(secret);
    ws.upsert(sub);
    ws.version += 1;
    Ok((ws, out))
}

/// Validates a partial update of `id` and returns the new config and the updated view.
pub async fn apply_patch(
    current: &WorkspaceConfig,
    id: &str,
    body: &[u8],
    policy: &UrlPolicy,
) -> Result<(WorkspaceConfig, Value), ApiError> {
    let mut sub = named(current, id).ok_or_else(not_found)?.clone();
    let c = validate(body, policy, false).await?;
    if let Some(name) = c.name {
        sub.name = Some(name);
    }
    if let Some(url) = c.url {
        sub.url = url;
    }
    if let Some(types) = c.event_types {
        sub.event_kinds = kinds(&types);
        sub.event_types = types;
    }
    if let Some(filter) = c.filter {
        sub.filters = filter;
    }
    if let Some(limit) = c.rate_limit {
        sub.rate_limit_per_sec = limit;
    }
    let out = view(&sub);
    let mut ws = current.clone();
    ws.upsert(sub);
    ws.version += 1;
    Ok((ws, out))
}

/// Removes `id` and returns the new config.
pub fn apply_delete(current: &WorkspaceConfig, id: &str) -> Result<WorkspaceConfig, ApiError> {
    named(current, id).ok_or_else(not_found)?;
    let mut ws = current.clone();
    ws.remove(id);
    ws.version += 1;
    Ok(ws)
}

pub fn get_view(ws: &WorkspaceConfig, id: &str) -> Result<Value, ApiError> {
    named(ws, id).map(view).ok_or_else(not_found)
}

fn kinds(types: &[NamedEventType]) -> Vec<hookline_model::EventKind> {
    let mut k: Vec<_> = types.iter().map(|t| t.kind()).collect();
    k.sort();
    k.dedup();
    k
}

fn random_hex(bytes: usize) -> String {
    let mut raw = vec![0u8; bytes];
    rand::thread_rng().fill_bytes(&mut raw);
    hex::encode(raw)
}

async fn validate(body: &[u8], policy: &UrlPolicy, create: bool) -> Result<Changes, ApiError> {
    let obj = crate::validate::json_object(body)?;
    let mut c = Changes::default();

    match obj.get("name") {
        None if create => return Err(ApiError::bad_request("INVALID_NAME", "name is required")),
        None => {}
        Some(v) => {
            let name = v.as_str().map(str::trim).unwrap_or_default();
            let n = name.chars().count();
            if !v.is_string() || !(NAME_MIN_CHARS..=NAME_MAX_CHARS).contains(&n) {
                return Err(ApiError::bad_request(
                    "INVALID_NAME",
                    format!("name must be a string of {NAME_MIN_CHARS} to {NAME_MAX_CHARS} characters"),
                ));
            }
            c.name = Some(name.to_string());
        }
    }

    match obj.get("url") {
        None if create => return Err(ApiError::bad_request("INVALID_URL", "url is required")),
        None => {}
        Some(Value::String(s)) => c.url = Some(crate::validate::url(policy, "url", s).await?),
        Some(_) => return Err(ApiError::bad_request("INVALID_URL", "url must be a string")),
    }

    c.event_types = event_types(&obj)?;
    if create && c.event_types.is_none() {
        return Err(ApiError::bad_request(
            "INVALID_EVENT_TYPE",
            "event_types (or event_type) is required",
        ));
    }

    c.filter = match obj.get("filter") {
        None => None,
        Some(Value::Null) => Some(Filters::default()),
        Some(Value::Object(f)) => Some(filter(f)?),
        Some(_) => return Err(ApiError::bad_request("INVALID_FILTER", "filter must be an object")),
    };

    c.rate_limit = match obj.get("rate_limit") {
        None => None,
        Some(Value::Null) => Some(0),
        Some(v) => match v.as_u64() {
            Some(n) if n <= MAX_RATE_LIMIT => Some(n as u32),
            _ => {
                return Err(ApiError::bad_request(
                    "INVALID_RATE_LIMIT",
                    format!("rate_limit must be an integer from 0 to {MAX_RATE_LIMIT}"),
                ))
            }
        },
    };
    Ok(c)
}

/// `event_types` and the deprecated `event_type`, combined in the order given without
/// duplicates; `None` when neither is sent.
fn event_types(obj: &Map<String, Value>) -> Result<Option<Vec<NamedEventType>>, ApiError> {
    let allowed = || {
        NamedEventType::ALL
            .iter()
            .map(|t| t.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let invalid = |why: String| ApiError::bad_request("INVALID_EVENT_TYPE", why);
    let parse = |key: &str, v: &Value| -> Result<NamedEventType, ApiError> {
        let s = v
            .as_str()
            .ok_or_else(|| invalid(format!("{key}: event types are strings")))?;
        NamedEventType::parse(s)
            .ok_or_else(|| invalid(format!("{key}: unknown event type `{s}`; one of {}", allowed())))
    };
    let mut types = vec![];
    let many = obj.get("event_types");
    let one = obj.get("event_type");
    if many.is_none() && one.is_none() {
        return Ok(None);
    }
    if let Some(v) = many {
        let Value::Array(items) = v else {
            return Err(invalid("event_types must be an array of event types".into()));
        };
        for item in items {
            types.push(parse("event_types", item)?);
        }
    }
    if let Some(v) = one {
        types.push(parse("event_type", v)?);
    }
    let mut seen = vec![];
    types.retain(|t| {
        let new = !seen.contains(t);
        seen.push(*t);
        new
    });
    if types.is_empty() {
        return Err(invalid("at least one event type is required".into()));
    }
    Ok(Some(types))
}

fn filter(obj: &Map<String, Value>) -> Result<Filters, ApiError> {
    let invalid = |why: String| ApiError::bad_request("INVALID_FILTER", why);
    if let Some(unknown) = obj.keys().find(|k| !FILTER_KEYS.contains(&k.as_str())) {
        return Err(invalid(format!(
            "unknown filter `{unknown}`; filters are {}",
            FILTER_KEYS.join(", ")
        )));
    }
    let list = |key: &str| -> Result<Vec<String>, ApiError> {
        let items = match obj.get(key) {
            None | Some(Value::Null) => return Ok(vec![]),
            Some(Value::Array(items)) => items,
            Some(_) => return Err(invalid(format!("filter.{key} must be an array of strings"))),
        };
        if items.len() > MAX_FILTER_VALUES {
            return Err(invalid(format!(
                "filter.{key} has more than {MAX_FILTER_VALUES} values"
            )));
        }
        let mut out: Vec<String> = vec![];
        for item in items {
            let s = item.as_str().map(str::trim).unwrap_or_default();
            if !item.is_string() || s.is_empty() || s.chars().count() > MAX_FILTER_VALUE_CHARS {
                return Err(invalid(format!(
                    "filter.{key} values must be strings of 1 to {MAX_FILTER_VALUE_CHARS} characters"
                )));
            }
            if !out.iter().any(|o| o.eq_ignore_ascii_case(s)) {
                out.push(s.to_string());
            }
        }
        Ok(out)
    };
    let mut status = list("status")?;
    for s in &mut status {
        let Some(known) = STATUSES.iter().find(|k| k.as_str().eq_ignore_ascii_case(s)) else {
            let names: Vec<_> = STATUSES.iter().map(|k| k.as_str()).collect();
            return Err(invalid(format!(
                "filter.status: unknown status `{s}`; one of {}",
                names.join(", ")
            )));
        };
        *s = known.as_str().to_string();
    }
    status.dedup();
    Ok(Filters {
        sender: list("sender")?,
        status,
        message_ref: list("message_ref")?,
        campaign_id: list("campaign_id")?,
    })
}

// Handlers: authentication, the config write lock, save, metric.

pub async fn list(State(st): State<AppState>, headers: HeaderMap) -> Result<Json<Value>, ApiError> {
    let key = auth::authenticate(&st, &headers, Permission::WebhooksRead)?;
    Ok(Json(list_view(&st.workspace(&key.workspace_id))))
}

pub async fn get(
    State(st): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let key = auth::authenticate(&st, &headers, Permission::WebhooksRead)?;
    Ok(Json(get_view(&st.workspace(&key.workspace_id), &id)?))
}

pub async fn create(
    State(st): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let key = auth::authenticate(&st, &headers, Permission::WebhooksWrite)?;
    let _guard = st.write_lock.lock().await;
    let current = st.workspace(&key.workspace_id);
    let max = st.cfg.max_subscriptions_per_workspace;
    if current.by_dialect(Dialect::Named).count() >= max {
        return Err(ApiError::bad_request(
            "SUBSCRIPTION_LIMIT",
            format!("this workspace has the most named subscriptions allowed ({max}); delete one first"),
        ));
    }
    let (updated, out) = apply_create(&current, &body, &st.policy, &st.sealer).await?;
    st.save(&updated).await?;
    st.metrics.config_writes.with_label_values(&["named"]).inc();
    Ok((StatusCode::CREATED, Json(out)))
}

pub async fn patch(
    State(st): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let key = auth::authenticate(&st, &headers, Permission::WebhooksWrite)?;
    let _guard = st.write_lock.lock().await;
    let current = st.workspace(&key.workspace_id);
    let (updated, out) = apply_patch(&current, &id, &body, &st.policy).await?;
    st.save(&updated).await?;
    st.metrics.config_writes.with_label_values(&["named"]).inc();
    Ok(Json(out))
}

pub async fn delete(
    State(st): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    let key = auth::authenticate(&st, &headers, Permission::WebhooksWrite)?;
    let _guard = st.write_lock.lock().await;
    let current = st.workspace(&key.workspace_id);
    let updated = apply_delete(&current, &id)?;
    st.save(&updated).await?;
    st.metrics.config_writes.with_label_values(&["named"]).inc();
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hookline_model::{EventKind, PayloadSchema, RetryPolicy};

    fn policy() -> UrlPolicy {
        UrlPolicy::new(false, vec![])
    }

    fn sealer() -> Sealer {
        Sealer::new(None).unwrap()
    }

    async fn create(ws: &WorkspaceConfig, body: &str) -> Result<(WorkspaceConfig, Value), ApiError> {
        apply_create(ws, body.as_bytes(), &policy(), &sealer()).await
    }

    async fn code(body: &str) -> &'static str {
        create(&WorkspaceConfig::new("w"), body).await.unwrap_err().code
    }

    fn with(extra: &str) -> String {
        format!(r#"{{"name":"Status hook","url":"https://example.com/h","event_types":["SMS_STATUS"],{extra}}}"#)
    }

    #[tokio::test]
    async fn every_error_code_under_its_condition() {
        assert_eq!(code("{").await, "INVALID_BODY");
        assert_eq!(code("[]").await, "INVALID_BODY");
        assert_eq!(
            code(r#"{"url":"https://example.com/h","event_types":["SMS_STATUS"]}"#).await,
            "INVALID_NAME"
        );
        for name in [r#""x""#, r#"" x ""#, "null", "12", &format!(r#""{}""#, "é".repeat(101))] {
            assert_eq!(
                code(&with(&format!(r#""name":{name}"#))).await,
                "INVALID_NAME",
                "{name}"
            );
        }
        assert_eq!(
            code(r#"{"name":"ok","event_types":["SMS_STATUS"]}"#).await,
            "INVALID_URL"
        );
        for url in [
            "null",
            "5",
            r#""http://example.com/h""#,
            r#""ftp://example.com/h""#,
            r#""https://169.254.169.254/""#,
            r#""https://10.0.0.1/""#,
            r#""not a url""#,
        ] {
            assert_eq!(code(&with(&format!(r#""url":{url}"#))).await, "INVALID_URL", "{url}");
        }
        assert_eq!(
            code(r#"{"name":"ok","url":"https://example.com/h"}"#).await,
            "INVALID_EVENT_TYPE"
        );
        for t in [
            r#""event_types":[]"#,
            r#""event_types":null"#,
            r#""event_types":"SMS_STATUS""#,
            r#""event_types":["sms_status"]"#,
            r#""event_types":["SMS_STATUS",7]"#,
            r#""event_types":["DELIVERY"]"#,
            r#""event_type":"NOPE""#,
            r#""event_type":null"#,
        ] {
            let body = format!(r#"{{"name":"ok","url":"https://example.com/h",{t}}}"#);
            assert_eq!(code(&body).await, "INVALID_EVENT_TYPE", "{t}");
        }
        for f in [
            r#""filter":[]"#,
            r#""filter":"x""#,
            r#""filter":{"sender":"A"}"#,
            r#""filter":{"sender":[1]}"#,
            r#""filter":{"sender":[""]}"#,
            r#""filter":{"senders":["A"]}"#,
            r#""filter":{"status":["DELIVRD"]}"#,
            r#""filter":{"campaign_id":[null]}"#,
        ] {
            assert_eq!(code(&with(f)).await, "INVALID_FILTER", "{f}");
        }
        let too_many = format!(r#""filter":{{"sender":{}}}"#, json!(vec!["a"; 101]));
        assert_eq!(code(&with(&too_many)).await, "INVALID_FILTER");
        for r in ["-1", "10001", "1.5", r#""5""#, "true"] {
            assert_eq!(
                code(&with(&format!(r#""rate_limit":{r}"#))).await,
                "INVALID_RATE_LIMIT",
                "{r}"
            );
        }
        // The first failure in the documented order wins.
        assert_eq!(
            code(r#"{"name":"x","url":5,"event_types":[],"rate_limit":-1}"#).await,
            "INVALID_NAME"
        );
        assert_eq!(
            code(r#"{"name":"ok","url":5,"event_types":[],"rate_limit":-1}"#).await,
            "INVALID_URL"
        );
        assert_eq!(
            code(r#"{"name":"ok","url":"https://example.com","event_types":[],"filter":1}"#).await,
            "INVALID_EVENT_TYPE"
        );
        assert_eq!(code(&with(r#""filter":1,"rate_limit":-1"#)).await, "INVALID_FILTER");
    }

    #[tokio::test]
    async fn create_maps_types_and_fields() {
        let body = r#"{"name":"  All of it ","url":"https://example.com/h","event_types":["SMS_STATUS","WHATSAPP_INBOUND","SMS_STATUS"],
            "event_type":"LINK_HIT","filter":{"sender":["MyApp","myapp"],"status":["Delivered","delivered","sent"],"message_ref":null},
            "rate_limit":50,"unknown_key":true}"#;
        let ws = WorkspaceConfig::new("w");
        let (ws, out) = create(&ws, body).await.unwrap();
        let id = out["id"].as_str().unwrap();
        assert!(id.starts_with("wh_") && id.len() == 27, "{id}");
        let secret = out["signing_secret"].as_str().unwrap();
        assert!(secret.starts_with("whsec_") && secret.len() == 54);
        assert_eq!(out["name"], "All of it");
        assert_eq!(
            out["event_types"],
            json!(["SMS_STATUS", "WHATSAPP_INBOUND", "LINK_HIT"])
        );
        assert_eq!(
            out["filter"],
            json!({"sender":["MyApp"],"status":["delivered","sent"],"message_ref":[],"campaign_id":[]})
        );
        assert_eq!(out["rate_limit"], 50);
        let sub = ws.subscription(id).unwrap();
        assert_eq!(sub.dialect, Dialect::Named);
        assert_eq!(sub.schema, PayloadSchema::Named);
        assert_eq!(
            sub.event_kinds,
            vec![EventKind::Click, EventKind::Inbound, EventKind::Status]
        );
        assert_eq!(sub.rate_limit_per_sec, 50);
        assert_eq!(sub.timeout_ms, TIMEOUT_MS);
        assert_eq!(sub.retry, RetryPolicy::telecom23());
        assert_eq!(sealer().open(&sub.signing_secret.as_ref().unwrap().0).unwrap(), secret);
        assert_eq!(ws.version, 1);
        // The secret is only in the create response.
        assert!(!view(sub).to_string().contains(secret));
        assert_eq!(get_view(&ws, id).unwrap(), view(sub));
        // Deprecated single type alone, and edges.
        let name100 = "n".repeat(100);
        let body = format!(
            r#"{{"name":"{name100}","url":"https://example.com","event_type":"RCS_STATUS","rate_limit":10000,"filter":null}}"#
        );
        let (_, out) = create(&ws, &body).await.unwrap();
        assert_eq!(out["event_types"], json!(["RCS_STATUS"]));
        assert_eq!(out["rate_limit"], 10000);
        assert!(create(&ws, &with(r#""rate_limit":0,"name":"ab""#)).await.is_ok());
    }

    /// Issue 13: credentials in a URL (sent as Basic auth, shown by GET) and control characters
    /// (shown raw while another URL is requested) are `INVALID_URL` on create and patch; an
    /// accepted URL is stored, and shown, as it will be requested.
    #[tokio::test]
    async fn credentials_and_control_characters_refused_urls_stored_normalised() {
        let bad = [
            "https://user:pass@example.com/h",
            "https://:pass@example.com/h",
            "https://example.com/h\nX-Injected: 1",
            "https://example.com/h\u{0}",
            "https://example.com/h%0A",
        ];
        for url in bad {
            let body = with(&format!(r#""url":{}"#, json!(url)));
            assert_eq!(code(&body).await, "INVALID_URL", "{url:?}");
        }
        let (ws, out) = create(
            &WorkspaceConfig::new("w"),
            &with(r#""url":"HTTPS://Example.COM:443/a/../h""#),
        )
        .await
        .unwrap();
        assert_eq!(out["url"], "https://example.com/h");
        let id = out["id"].as_str().unwrap();
        assert_eq!(ws.subscription(id).unwrap().url, "https://example.com/h");
        for url in bad {
            let body = json!({ "url": url }).to_string();
            let e = apply_patch(&ws, id, body.as_bytes(), &policy()).await.unwrap_err();
            assert_eq!(e.code, "INVALID_URL", "{url:?}");
        }
        let (_, v) = apply_patch(&ws, id, br#"{"url":"https://EXAMPLE.com:443/./p"}"#, &policy())
            .await
            .unwrap();
        assert_eq!(v["url"], "https://example.com/p");
    }

    #[tokio::test]
    async fn patch_delete_and_isolation_from_other_dialects() {
        let mut ws = WorkspaceConfig::new("w");
        ws = crate::telecom23::apply_put(
            &ws,
            br#"{"delivery_url":"https://example.com/d","signing_secret":"t23"}"#,
            &policy(),
            &sealer(),
        )
        .await
        .unwrap();
        let t23 = ws.subscription("t23-delivery").unwrap().clone();
        let (ws, out) = create(&ws, &with(r#""filter":{"sender":["A"]},"rate_limit":5"#))
            .await
            .unwrap();
        let id = out["id"].as_str().unwrap().to_string();
        assert_eq!(
            list_view(&ws)["data"].as_array().unwrap().len(),
            1,
            "only named ones listed"
        );
        assert_eq!(get_view(&ws, "t23-delivery").unwrap_err().code, "NOT_FOUND");

        let patch = |ws: WorkspaceConfig, body: &'static str| {
            let id = id.clone();
            async move { apply_patch(&ws, &id, body.as_bytes(), &policy()).await }
        };
        let (ws, v) = patch(ws, r#"{"name":"Renamed"}"#).await.unwrap();
        assert_eq!(v["name"], "Renamed");
        assert_eq!(v["url"], "https://example.com/h");
        assert_eq!(v["filter"]["sender"], json!(["A"]));
        assert_eq!(v["rate_limit"], 5);
        let (ws, v) = patch(
            ws,
            r#"{"event_type":"OPT_OUT","filter":{"status":["failed"]},"rate_limit":null}"#,
        )
        .await
        .unwrap();
        assert_eq!(v["event_types"], json!(["OPT_OUT"]));
        assert_eq!(
            v["filter"],
            json!({"sender":[],"status":["failed"],"message_ref":[],"campaign_id":[]})
        );
        assert_eq!(v["rate_limit"], 0);
        assert_eq!(ws.subscription(&id).unwrap().event_kinds, vec![EventKind::OptOut]);
        // An empty patch changes nothing but is valid.
        let (ws2, v2) = patch(ws.clone(), "{}").await.unwrap();
        assert_eq!(v2, v);
        assert_eq!(ws2.subscription(&id), ws.subscription(&id));
        // Rejected patches change nothing (they return no config at all).
        for (body, code) in [
            (r#"{"name":null}"#, "INVALID_NAME"),
            (r#"{"url":""}"#, "INVALID_URL"),
            (r#"{"event_types":[]}"#, "INVALID_EVENT_TYPE"),
            (r#"{"name":"Good","filter":{"x":[]}}"#, "INVALID_FILTER"),
        ] {
            assert_eq!(patch(ws.clone(), body).await.unwrap_err().code, code, "{body}");
        }
        assert_eq!(
            apply_patch(&ws, "t23-delivery", b"{}", &policy())
                .await
                .unwrap_err()
                .code,
            "NOT_FOUND"
        );
        assert_eq!(
            apply_patch(&ws, "wh_nope", b"{", &policy()).await.unwrap_err().code,
            "NOT_FOUND"
        );
        assert_eq!(apply_delete(&ws, "t23-delivery").unwrap_err().code, "NOT_FOUND");
        assert_eq!(ws.subscription("t23-delivery"), Some(&t23), "23 Telecom untouched");

        let ws = apply_delete(&ws, &id).unwrap();
        assert!(ws.subscription(&id).is_none());
        assert_eq!(ws.subscription("t23-delivery"), Some(&t23));
        assert_eq!(apply_delete(&ws, &id).unwrap_err().code, "NOT_FOUND");
        assert_eq!(list_view(&ws), json!({"data": []}));
    }
}
