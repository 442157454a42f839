//! Named subscriptions in the workspace config: their views, and the changes a valid create,
//! patch or delete makes.

use super::body;
use super::TIMEOUT_MS;
use crate::error::ApiError;
use axum::http::StatusCode;
use chrono::{DateTime, SecondsFormat, Utc};
use hookline_model::{Dialect, NamedEventType, SealedSecret, Subscription, WorkspaceConfig};
use hookline_security::{Sealer, UrlPolicy};
use rand::RngCore;
use serde_json::{json, Value};

pub(crate) fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
        "no webhook with this id in your workspace",
    )
}

/// The caller's named subscription `id`, if it is one.
pub(crate) fn named<'a>(ws: &'a WorkspaceConfig, id: &str) -> Option<&'a Subscription> {
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
        "created_at": sub.created_at.as_ref().map(timestamp),
        "updated_at": sub.updated_at.as_ref().map(timestamp),
    })
}

/// RFC 3339 in UTC to the millisecond (`2026-02-13T10:30:00.123Z`), the precision the stamps
/// are kept in.
pub fn timestamp(at: &DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Validates a create body and returns the new config (version bumped) and the `201` body,
/// the only place the generated signing secret is shown.
pub async fn apply_create(
    current: &WorkspaceConfig,
    body: &[u8],
    policy: &UrlPolicy,
    sealer: &Sealer,
) -> Result<(WorkspaceConfig, Value), ApiError> {
    let c = body::validate(body, policy, true).await?;
    let mut ws = current.clone();
    let id = loop {
        let id = format!("wh_{}", random_hex(12));
        if ws.subscription(&id).is_none() {
            break id;
        }
    };
    let secret = format!("whsec_{}", random_hex(24));
    let event_types = c.event_types.unwrap_or_default();
    let mut sub = Subscription {
        name: c.name,
        event_kinds: kinds(&event_types),
        event_types,
        filters: c.filter.unwrap_or_default(),
        signing_secret: Some(SealedSecret(sealer.seal(&secret))),
        rate_limit_per_sec: c.rate_limit.unwrap_or(0),
        timeout_ms: TIMEOUT_MS,
        ..Subscription::new(Dialect::Named, &ws.workspace_id, id, c.url.unwrap_or_default())
    };
    sub.stamp_created(Utc::now(), ws.subscriptions.iter().filter_map(|s| s.created_at).max());
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
    let c = body::validate(body, policy, false).await?;
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
    let ws = store_change(current, sub);
    let out = get_view(&ws, id)?;
    Ok((ws, out))
}

/// The config with `sub`, a changed version of one of its named subscriptions, in place of
/// the current one, and its version bumped. Every change to an existing named subscription
/// goes through here, so `updated_at` moves with each (and only when a setting changed).
pub fn store_change(current: &WorkspaceConfig, mut sub: Subscription) -> WorkspaceConfig {
    if current.subscription(&sub.id) != Some(&sub) {
        sub.touch(Utc::now());
    }
    let mut ws = current.clone();
    ws.upsert(sub);
    ws.version += 1;
    ws
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
