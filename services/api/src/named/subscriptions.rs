//! Named subscriptions in the workspace config: their views, and the changes a valid create,
//! patch or delete makes.

use super::body;
use super::TIMEOUT_MS;
use crate::error::ApiError;
use axum::http::StatusCode;
use hookline_model::{Dialect, DisableReason, Disabled, NamedEventType, SealedSecret, Subscription, WorkspaceConfig};
use hookline_security::{Sealer, UrlPolicy};
use rand::RngCore;
use serde_json::{json, Value};

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
        "enabled": sub.enabled,
        "disabled": disabled_view(sub),
        "failover_url": sub.failover_url,
        "failover_after": sub.failover_threshold(),
    })
}

/// Why a subscription is disabled and since when: `null` while enabled. A subscription
/// disabled before reasons were recorded shows `manual`.
fn disabled_view(sub: &Subscription) -> Value {
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

/// `GET /api/v1/webhooks`: the workspace's named subscriptions, in creation order.
pub fn list_view(ws: &WorkspaceConfig) -> Value {
    json!({"data": ws.by_dialect(Dialect::Named).map(view).collect::<Vec<_>>()})
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
    let sub = Subscription {
        name: c.name,
        event_kinds: kinds(&event_types),
        event_types,
        filters: c.filter.unwrap_or_default(),
        signing_secret: Some(SealedSecret(sealer.seal(&secret))),
        rate_limit_per_sec: c.rate_limit.unwrap_or(0),
        timeout_ms: TIMEOUT_MS,
        failover_url: c.failover_url.flatten(),
        failover_after: c.failover_after.unwrap_or(0),
        ..Subscription::new(Dialect::Named, &ws.workspace_id, id, c.url.unwrap_or_default())
    };
    body::check_failover(&sub)?;
    let mut sub = sub;
    apply_enabled(&mut sub, c.enabled);
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
    body::check_failover(&sub)?;
    apply_enabled(&mut sub, c.enabled);
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

/// A new `whsec_` signing secret, shown once by the response that creates it.
pub(crate) fn new_signing_secret() -> String {
    format!("whsec_{}", random_hex(24))
}

fn random_hex(bytes: usize) -> String {
    let mut raw = vec![0u8; bytes];
    rand::thread_rng().fill_bytes(&mut raw);
    hex::encode(raw)
}
