//! The pieces the route table is written with: the credentials and tags, [`op`] (an operation
//! with the statuses every route of its kind may answer, in its dialect's error shape), and the
//! example views and request schemas of the dialects.

use crate::named;
use axum::http::Method;
use hookline_model::NamedEventType;
use hookline_telemetry::openapi::{Auth, Operation};
use serde_json::{json, Value};

pub(super) const READ: Auth = Auth::ApiKey("webhooks.read");
pub(super) const WRITE: Auth = Auth::ApiKey("webhooks.write");
pub(super) const ADMIN: Auth = Auth::Admin;
pub(super) const JSON: &str = "application/json";
pub(super) const FORM: &str = "application/x-www-form-urlencoded";
pub(super) const T23: &str = "23 Telecom";
pub(super) const LOGS: &str = "Delivery logs";
pub(super) const NAMED: &str = "Named subscriptions";
pub(super) const SMSEDGE: &str = "SMSEdge";
pub(super) const OPERATORS: &str = "Operators";

pub(super) fn error(code: &str) -> Value {
    json!({"error_code": code, "description": "what was wrong, for humans"})
}

pub(super) fn smsedge_error(code: &str) -> Value {
    json!({"success": false, "error": {"code": code, "message": "what was wrong, for humans"}})
}

/// An error in the error shape of the dialect `tag` belongs to: SMSEdge's envelope for its
/// routes, `{"error_code", "description"}` for every other.
pub(super) fn error_of(tag: &str, code: &str) -> Value {
    if tag == SMSEDGE {
        smsedge_error(code)
    } else {
        error(code)
    }
}

/// An operation with the responses every route of its kind may give besides its own, in its
/// dialect's error shape: the credential's (`401`/`403` for an API key, `401`/`404` for the
/// admin token, and `429` once one address has sent too many wrong ones) and the server's
/// (`408`, `413`). A route's own description of one of these statuses replaces the common one.
pub(super) fn op(
    method: Method,
    path: &'static str,
    tag: &'static str,
    summary: &'static str,
    auth: Auth,
) -> Operation {
    let mut o = Operation::new(method, path, tag, summary, auth);
    match auth {
        Auth::ApiKey(_) => {
            o = o
                .response(
                    401,
                    "UNAUTHORIZED: no X-API-Key, or an unknown or revoked one",
                    error_of(tag, "UNAUTHORIZED"),
                )
                .response(
                    403,
                    "FORBIDDEN: the key lacks the operation's permission (`x-permission`)",
                    error_of(tag, "FORBIDDEN"),
                )
        }
        Auth::Admin => {
            o = o
                .response(
                    401,
                    "UNAUTHORIZED: a missing or wrong admin token",
                    error("UNAUTHORIZED"),
                )
                .response(
                    404,
                    "NOT_FOUND: admin endpoints are off (no HOOKLINE_ADMIN_TOKEN configured)",
                    error("NOT_FOUND"),
                )
                .response(
                    429,
                    "TOO_MANY_ATTEMPTS: too many wrong admin tokens from this address (10, then one per 10 s); wait `Retry-After` seconds",
                    error("TOO_MANY_ATTEMPTS"),
                )
        }
        Auth::None | Auth::IngestKey(_) => {}
    }
    o.response(
        408,
        "REQUEST_TIMEOUT: the request took longer than HOOKLINE_HTTP_REQUEST_TIMEOUT_SECS (the connection is closed)",
        error_of(tag, "REQUEST_TIMEOUT"),
    )
    .response(
        413,
        "PAYLOAD_TOO_LARGE: the body is larger than HOOKLINE_HTTP_MAX_BODY_BYTES (the connection is closed)",
        error_of(tag, "PAYLOAD_TOO_LARGE"),
    )
}

/// `503 UNAVAILABLE`, for operations that write to Kafka or read the store.
pub(super) fn unavailable(o: Operation) -> Operation {
    let tag = o.tag;
    o.response(
        503,
        "UNAVAILABLE: Kafka or the store could not be reached; retry later",
        error_of(tag, "UNAVAILABLE"),
    )
}

/// `429 RATE_LIMITED` with `Retry-After`, for a route that spends its credential's budget of
/// `class` ([`crate::rate_limit`]).
pub(super) const READS: crate::rate_limit::Class = crate::rate_limit::Class::Read;
pub(super) const REPLAYS: crate::rate_limit::Class = crate::rate_limit::Class::Replay;

pub(super) fn limited(o: Operation, class: crate::rate_limit::Class) -> Operation {
    let tag = o.tag;
    let description = match class {
        crate::rate_limit::Class::Read => "RATE_LIMITED: this credential's budget of expensive reads (HOOKLINE_API_EXPENSIVE_READS_PER_MIN, bursts of HOOKLINE_API_EXPENSIVE_READS_BURST) is used up; the `Retry-After` header says in how many seconds to come back",
        crate::rate_limit::Class::Replay => "RATE_LIMITED: this credential's budget of replays and re-sends (HOOKLINE_API_REPLAYS_PER_MIN, bursts of HOOKLINE_API_REPLAYS_BURST) is used up; the `Retry-After` header says in how many seconds to come back",
    };
    o.response(429, description, error_of(tag, "RATE_LIMITED"))
}

pub(super) const LIMIT: &str =
    "how many (default 50, at most 1000); anything but a positive integer is 400 INVALID_LIMIT";

pub(super) fn limit() -> Value {
    json!({"type": "integer", "minimum": 1})
}

pub(super) fn t23_view() -> Value {
    json!({"delivery_url": "https://example.com/dlr", "click_url": null, "conversion_url": null,
           "impression_url": null, "signing_secret_set": true, "unique_clicks_only": false,
           "delivery_fields": ["message_id", "recipient", "sender_id", "status", "status_code", "num_parts", "cost", "timestamp"],
           "click_fields": ["message_id", "broadcast_id", "recipient", "url", "timestamp"],
           "conversion_fields": ["message_id", "broadcast_id", "recipient", "event", "value", "currency", "transaction_id", "timestamp"],
           "impression_fields": ["message_id", "recipient", "sender_id", "num_parts", "cost", "timestamp"]})
}

/// The URLs of [`t23_view`]: `null` when the channel is off.
pub(super) const T23_VIEW_NULLABLE: [&str; 4] = [
    "delivery_url",
    "click_url:string",
    "conversion_url:string",
    "impression_url:string",
];

pub(super) fn smsedge_view() -> Value {
    json!({"success": true, "data": {"dlr_url": "https://example.com/dlr", "click_url": "https://example.com/click",
           "inbound_url": null, "revoke_click_url": "https://example.com/revoke", "auth": true}})
}

/// The URLs of [`smsedge_view`]: `null` when unset (SMSEdge's own get-webhook example shows one).
pub(super) const SMSEDGE_VIEW_NULLABLE: [&str; 4] = [
    "data.dlr_url",
    "data.click_url",
    "data.inbound_url:string",
    "data.revoke_click_url",
];

/// SMSEdge's test-webhook result: each channel is `{"status": "ok"|"failed", "http_code",
/// "time"}`, `{"status": "error", "http_code": null, "time": null, "error"}` when no response
/// came, or `{"status": "skipped", "reason"}`, so one schema covers every member.
pub(super) fn smsedge_test_schema() -> Value {
    let result = json!({"type": "object", "required": ["status"], "properties": {
        "status": {"type": "string", "enum": ["ok", "failed", "error", "skipped"]},
        "http_code": {"type": "integer", "nullable": true, "description": "the webhook's HTTP status; null when no response came (`error`)"},
        "time": {"type": "number", "nullable": true, "description": "seconds; null when no attempt was recorded in time"},
        "error": {"type": "string", "description": "why there is no response (`error` only)"},
        "reason": {"type": "string", "description": "why it was skipped (`skipped` only)"}}});
    json!({"type": "object", "properties": {
        "success": {"type": "boolean"},
        "data": {"type": "object", "properties": {
            "dlr": result, "click": result, "inbound": result, "revoke_click": result}}}})
}

/// A named subscription as shown. The example is a disabled one, so `disabled` has its shape;
/// it is `null` while the subscription is enabled. `failover_url` is `null` when none is set;
/// `failover_after` is always the threshold in force (3 unless chosen); `batch` is `null`
/// while batching is off.
pub(super) fn named_view() -> Value {
    json!({"id": "wh_3f2a9c", "name": "Delivered SMS", "url": "https://example.com/hooks",
           "event_types": ["SMS_STATUS"], "filter": {"sender": ["MyApp"], "status": ["delivered"],
           "message_ref": ["api_42"], "campaign_id": ["b-17"]}, "rate_limit": 50,
           "previous_secret_expires_at": "2026-02-14T10:30:00Z",
           "created_at": "2026-02-13T10:30:00.000Z", "updated_at": "2026-02-14T08:00:00.250Z",
           "enabled": false, "disabled": {"reason": "gone", "at": "2026-02-13T10:30:00Z", "detail": "HTTP 410"},
           "failover_url": "https://backup.example.com/hooks", "failover_after": 3,
           "batch": {"max_events": 100, "max_wait_ms": 500}})
}

/// The optional members of [`named_view`], relative to `prefix` (`""` or `"data[]."`).
pub(super) fn named_view_nullable(prefix: &'static str) -> Vec<&'static str> {
    let fields: [&'static str; 8] = if prefix.is_empty() {
        [
            "disabled",
            "disabled.at",
            "disabled.detail",
            "previous_secret_expires_at",
            "created_at",
            "updated_at",
            "failover_url",
            "batch",
        ]
    } else {
        [
            "data[].disabled",
            "data[].disabled.at",
            "data[].disabled.detail",
            "data[].previous_secret_expires_at",
            "data[].created_at",
            "data[].updated_at",
            "data[].failover_url",
            "data[].batch",
        ]
    };
    fields.to_vec()
}

/// `?limit=` of the named-subscription listing.
pub(super) const PAGE_LIMIT: &str =
    "subscriptions per page (default 50, at most 250); anything else is 400 INVALID_LIMIT";

pub(super) fn named_stats_view() -> Value {
    let window = |attempts: u64, delivered: u64| {
        json!({"attempts": attempts, "delivered": delivered, "failed": attempts - delivered,
               "success_ratio": delivered as f64 / attempts as f64, "latency_p50_ms": 100, "latency_p99_ms": 2500,
               "last_error": {"message": "HTTP 500", "at": "2026-02-13T10:29:31.000Z", "response_code": 500}})
    };
    json!({"id": "wh_3f2a9c", "windows": {"1h": window(40, 38), "24h": window(960, 950)},
           "state": {"enabled": true, "disabled": null, "throttled_rate_per_sec": 20, "url_kind": "primary",
                     "last_attempt_at": "2026-02-13T10:30:02.000Z"}})
}

/// What [`named_stats_view`] has `null` for: no attempt (in the window), no failure, no
/// throttling, one URL.
pub(super) const NAMED_STATS_NULLABLE: [&str; 14] = [
    "state.disabled:object",
    "windows.1h.success_ratio",
    "windows.1h.latency_p50_ms",
    "windows.1h.latency_p99_ms",
    "windows.1h.last_error",
    "windows.1h.last_error.response_code",
    "windows.24h.success_ratio",
    "windows.24h.latency_p50_ms",
    "windows.24h.latency_p99_ms",
    "windows.24h.last_error",
    "windows.24h.last_error.response_code",
    "state.throttled_rate_per_sec",
    "state.url_kind",
    "state.last_attempt_at",
];

pub(super) fn ingest_key_view(with_secret: bool) -> Value {
    let mut v = json!({"key_id": "ing_0123456789ab", "name": "acme-telco DLR callbacks", "kinds": ["dlr"],
                       "workspace_id": null, "carrier_connection": "acme-telco", "created_at": "2026-02-13T10:30:00Z",
                       "last_used_at": null});
    if with_secret {
        v["ingest_key"] = json!("hki_…");
    }
    v
}

/// The optional members of [`ingest_key_view`], relative to `prefix` (`""` or `"data[]."`).
pub(super) fn ingest_key_nullable(prefix: &str) -> Vec<&'static str> {
    let fields: &[&'static str] = if prefix.is_empty() {
        &[
            "name",
            "workspace_id:string",
            "carrier_connection",
            "last_used_at:string",
        ]
    } else {
        &[
            "data[].name",
            "data[].workspace_id:string",
            "data[].carrier_connection",
            "data[].last_used_at:string",
        ]
    };
    fields.to_vec()
}

/// The values of a closed set of names, as a JSON schema `enum`.
pub(super) fn names(all: impl IntoIterator<Item = &'static str>) -> Value {
    json!({"type": "string", "enum": all.into_iter().collect::<Vec<_>>()})
}

/// A workspace id or carrier connection: 1–64 of `[A-Za-z0-9_.-]`.
pub(super) fn id_schema() -> Value {
    json!({"type": "string", "pattern": "^[A-Za-z0-9_.-]{1,64}$"})
}

/// The body of the named-subscription create (`create`: `name` and `url` required) and patch.
pub(super) fn named_body_schema(create: bool) -> Value {
    let types = names(NamedEventType::ALL.iter().map(|t| t.as_str()));
    let values = json!({"type": "array", "maxItems": named::MAX_FILTER_VALUES,
                        "items": {"type": "string", "minLength": 1, "maxLength": named::MAX_FILTER_VALUE_CHARS}});
    let statuses = json!({"type": "array", "maxItems": named::MAX_FILTER_VALUES,
                          "items": names(named::STATUSES.iter().map(|s| s.as_str()))});
    let mut schema = json!({"type": "object", "properties": {
        "name": {"type": "string", "minLength": named::NAME_MIN_CHARS, "maxLength": named::NAME_MAX_CHARS},
        "url": {"type": "string", "format": "uri", "description": "https (http too with HOOKLINE_ALLOW_HTTP_URLS), refused by the URL policy for private and loopback hosts"},
        "event_types": {"type": "array", "minItems": 1, "items": types.clone()},
        "event_type": {"allOf": [types], "deprecated": true, "description": "one event type, added to event_types"},
        "filter": {"type": "object", "nullable": true, "additionalProperties": false, "properties": {
            "sender": values, "status": statuses, "message_ref": values, "campaign_id": values}},
        "rate_limit": {"type": "integer", "minimum": 0, "maximum": named::MAX_RATE_LIMIT, "nullable": true},
        "enabled": {"type": "boolean", "description": "false disables it (reason `manual`); true re-enables it and clears any reason, auto-disable included"},
        "failover_url": {"type": "string", "format": "uri", "nullable": true, "description": "where attempts go after failover_after consecutive failed attempts to url, until a signed ping to url answers 2xx; the URL policy of url applies, and it must differ from url; null removes it"},
        "failover_after": {"type": "integer", "minimum": 1, "maximum": named::MAX_FAILOVER_AFTER, "nullable": true, "description": "consecutive failed attempts to url before the failover URL takes over; null for the default, 3"},
        "batch": {"type": "object", "nullable": true, "additionalProperties": false, "required": ["max_events", "max_wait_ms"],
            "description": "opt-in batching: up to max_events events, or those that came within max_wait_ms of the first, in one POST {\"events\": [...]} signed as one body; null (the default) sends one event per request",
            "properties": {
                "max_events": {"type": "integer", "minimum": hookline_model::batch::MIN_BATCH_EVENTS, "maximum": hookline_model::batch::MAX_BATCH_EVENTS},
                "max_wait_ms": {"type": "integer", "minimum": 1, "maximum": hookline_model::batch::MAX_BATCH_WAIT_MS}}}}});
    if create {
        schema["required"] = json!(["name", "url"]);
    }
    schema
}

/// A `rotate-secret` operation (a named subscription's, the operational URL's): one body and
/// one answer, `owner` being the fields that name what rotated (`{"id"}` or `{"url"}`).
pub(super) fn rotate_secret_op(path: &'static str, summary: &'static str, owner: Value) -> Operation {
    let mut answer = owner;
    answer["signing_secret"] = json!("whsec_…");
    answer["previous_secret_expires_at"] = json!("2026-02-14T10:30:00Z");
    unavailable(op(Method::POST, path, NAMED, summary, WRITE))
        .body(JSON, json!({"overlap_secs": 86400}))
        .optional_body()
        .body_schema(json!({"type": "object", "description": "`{}` (or an empty body) for the default overlap, HOOKLINE_SECRET_ROTATION_OVERLAP_SECS (24 h)", "properties": {
            "overlap_secs": {"type": "integer", "minimum": 0, "maximum": named::rotation::MAX_OVERLAP_SECS, "nullable": true,
                "description": "seconds the replaced secret keeps signing (0: it stops at once); rotating again during an overlap replaces the previous secret with the current one"}}}))
        .response(200, "the new secret, shown in this response only, and until when the replaced one still signs", answer)
        .response(400, "INVALID_BODY or INVALID_OVERLAP (overlap_secs not an integer from 0 to 604800)", error("INVALID_OVERLAP"))
}
