//! Named subscriptions in the workspace config: their views, and the changes a valid create,
//! patch or delete makes.

use super::body;
use super::TIMEOUT_MS;
use crate::error::ApiError;
use axum::http::StatusCode;
use chrono::{DateTime, SecondsFormat, Utc};
use hookline_model::{Dialect, DisableReason, Disabled, NamedEventType, SealedSecret, Subscription, WorkspaceConfig};
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

/// The view of one named subscription. No secret is ever in it; `previous_secret_expires_at`
/// says until when a rotated-out secret still signs (`null` when none does).
pub fn view(sub: &Subscription) -> Value {
    let f = &sub.filters;
    let previous = sub.previous_secret.as_ref().filter(|p| p.live_at(Utc::now()));
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
        "enabled": sub.enabled,
        "disabled": disabled_view(sub),
        "previous_secret_expires_at": previous.map(|p| rfc3339(p.expires_at)),
        "created_at": sub.created_at.as_ref().map(timestamp),
        "updated_at": sub.updated_at.as_ref().map(timestamp),
        "failover_url": sub.failover_url,
        "failover_after": sub.failover_threshold(),
        "batch": sub.batch,
    })
}

/// Why a subscription is disabled and since when: `null` while enabled. A subscription
/// disabled before reasons were recorded shows `manual`.
pub(crate) fn disabled_view(sub: &Subscription) -> Value {
    match (&sub.disabled, sub.enabled) {
        (_, true) => Value::Null,
        (Some(d), false) => json!({
            "reason": d.reason,
            "at": hookline_model::format_timestamp(&d.at),
            "detail": d.detail,
        }),
        (None, false) => json!({"reason": "manual", "at": null, "detail": null}),
    }
}

/// `enabled` as sent: `true` clears any reason (a re-enabled endpoint starts afresh),
/// `false` disables it by hand unless it is already disabled (its reason is kept).
fn apply_enabled(sub: &mut Subscription, enabled: Option<bool>) {
    match enabled {
        Some(true) => sub.set_disabled(None),
        Some(false) if sub.enabled => sub.set_disabled(Some(Disabled {
            reason: DisableReason::Manual,
            at: chrono::Utc::now(),
            detail: None,
        })),
        _ => {}
    }
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
    let secret = new_signing_secret();
    let event_types = c.event_types.unwrap_or_default();
    let mut sub = Subscription {
        name: c.name,
        event_kinds: kinds(&event_types),
        event_types,
        filters: c.filter.unwrap_or_default(),
        signing_secret: Some(SealedSecret(sealer.seal(&secret))),
        rate_limit_per_sec: c.rate_limit.unwrap_or(0),
        timeout_ms: TIMEOUT_MS,
        failover_url: c.failover_url.flatten(),
        failover_after: c.failover_after.unwrap_or(0),
        batch: c.batch.flatten(),
        ..Subscription::new(Dialect::Named, &ws.workspace_id, id, c.url.unwrap_or_default())
    };
    body::check_failover(&sub)?;
    apply_enabled(&mut sub, c.enabled);
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
    if let Some(failover) = c.failover_url {
        sub.failover_url = failover;
    }
    if let Some(after) = c.failover_after {
        sub.failover_after = after;
    }
    if let Some(batch) = c.batch {
        sub.batch = batch;
    }
    body::check_failover(&sub)?;
    apply_enabled(&mut sub, c.enabled);
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

/// A new `whsec_` signing secret (Standard Webhooks: base64 of random bytes), shown once by
/// the response that creates it.
pub(crate) fn new_signing_secret() -> String {
    hookline_security::standard_webhooks::generate_secret()
}

/// A time as the views show it: RFC 3339, UTC, whole seconds.
pub(crate) fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn random_hex(bytes: usize) -> String {
    let mut raw = vec![0u8; bytes];
    rand::thread_rng().fill_bytes(&mut raw);
    hex::encode(raw)
}
