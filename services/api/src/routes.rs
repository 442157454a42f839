//! Every route of the API with its OpenAPI description, in one table: the router and the
//! document at `/openapi.json` are built from it, so neither can have a route the other lacks.

use crate::state::AppState;
use crate::{admin, dead_letters, logs, named, smsedge, telecom23, test_send};
use axum::http::Method;
use axum::routing::{delete, get, patch, post, put};
use axum::Router;
use hookline_model::{EventKind, IngestKind, NamedEventType, Permission};
use hookline_telemetry::openapi::{Auth, DocumentedRouter, Operation};
use serde_json::{json, Value};

const READ: Auth = Auth::ApiKey("webhooks.read");
const WRITE: Auth = Auth::ApiKey("webhooks.write");
const ADMIN: Auth = Auth::Admin;
const JSON: &str = "application/json";
const FORM: &str = "application/x-www-form-urlencoded";
const T23: &str = "23 Telecom";
const LOGS: &str = "Delivery logs";
const NAMED: &str = "Named subscriptions";
const SMSEDGE: &str = "SMSEdge";
const OPERATORS: &str = "Operators";

fn error(code: &str) -> Value {
    json!({"error_code": code, "description": "what was wrong, for humans"})
}

fn smsedge_error(code: &str) -> Value {
    json!({"success": false, "error": {"code": code, "message": "what was wrong, for humans"}})
}

/// An error in the error shape of the dialect `tag` belongs to: SMSEdge's envelope for its
/// routes, `{"error_code", "description"}` for every other.
fn error_of(tag: &str, code: &str) -> Value {
    if tag == SMSEDGE {
        smsedge_error(code)
    } else {
        error(code)
    }
}

/// An operation with the responses every route of its kind may give besides its own, in its
/// dialect's error shape: the credential's (`401`/`403` for an API key, `401`/`404` for the
/// admin token) and the server's (`408`, `413`). A route's own description of one of these
/// statuses replaces the common one.
fn op(method: Method, path: &'static str, tag: &'static str, summary: &'static str, auth: Auth) -> Operation {
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
fn unavailable(o: Operation) -> Operation {
    let tag = o.tag;
    o.response(
        503,
        "UNAVAILABLE: Kafka or the store could not be reached; retry later",
        error_of(tag, "UNAVAILABLE"),
    )
}

const LIMIT: &str = "how many (default 50, at most 1000); anything but a positive integer is 400 INVALID_LIMIT";

fn limit() -> Value {
    json!({"type": "integer", "minimum": 1})
}

fn t23_view() -> Value {
    json!({"delivery_url": "https://example.com/dlr", "click_url": null, "conversion_url": null,
           "impression_url": null, "signing_secret_set": true, "unique_clicks_only": false,
           "delivery_fields": ["message_id", "recipient", "sender_id", "status", "status_code", "num_parts", "cost", "timestamp"],
           "click_fields": ["message_id", "broadcast_id", "recipient", "url", "timestamp"],
           "conversion_fields": ["message_id", "broadcast_id", "recipient", "event", "value", "currency", "transaction_id", "timestamp"],
           "impression_fields": ["message_id", "recipient", "sender_id", "num_parts", "cost", "timestamp"]})
}

/// The URLs of [`t23_view`]: `null` when the channel is off.
const T23_VIEW_NULLABLE: [&str; 4] = [
    "delivery_url",
    "click_url:string",
    "conversion_url:string",
    "impression_url:string",
];

fn smsedge_view() -> Value {
    json!({"success": true, "data": {"dlr_url": "https://example.com/dlr", "click_url": "https://example.com/click",
           "inbound_url": null, "revoke_click_url": "https://example.com/revoke", "auth": true}})
}

/// The URLs of [`smsedge_view`]: `null` when unset (SMSEdge's own get-webhook example shows one).
const SMSEDGE_VIEW_NULLABLE: [&str; 4] = [
    "data.dlr_url",
    "data.click_url",
    "data.inbound_url:string",
    "data.revoke_click_url",
];

/// SMSEdge's test-webhook result: each channel is `{"status": "ok"|"failed", "http_code",
/// "time"}`, `{"status": "error", "http_code": null, "time": null, "error"}` when no response
/// came, or `{"status": "skipped", "reason"}`, so one schema covers every member.
fn smsedge_test_schema() -> Value {
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

fn named_view() -> Value {
    json!({"id": "wh_3f2a9c", "name": "Delivered SMS", "url": "https://example.com/hooks",
           "event_types": ["SMS_STATUS"], "filter": {"sender": ["MyApp"], "status": ["delivered"],
           "message_ref": ["api_42"], "campaign_id": ["b-17"]}, "rate_limit": 50})
}

fn ingest_key_view(with_secret: bool) -> Value {
    let mut v = json!({"key_id": "ing_0123456789ab", "name": "acme-telco DLR callbacks", "kinds": ["dlr"],
                       "workspace_id": null, "carrier_connection": "acme-telco", "created_at": "2026-02-13T10:30:00Z",
                       "last_used_at": null});
    if with_secret {
        v["ingest_key"] = json!("hki_…");
    }
    v
}

/// The optional members of [`ingest_key_view`], relative to `prefix` (`""` or `"data[]."`).
fn ingest_key_nullable(prefix: &str) -> Vec<&'static str> {
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
fn names(all: impl IntoIterator<Item = &'static str>) -> Value {
    json!({"type": "string", "enum": all.into_iter().collect::<Vec<_>>()})
}

/// A workspace id or carrier connection: 1–64 of `[A-Za-z0-9_.-]`.
fn id_schema() -> Value {
    json!({"type": "string", "pattern": "^[A-Za-z0-9_.-]{1,64}$"})
}

/// The body of the named-subscription create (`create`: `name` and `url` required) and patch.
fn named_body_schema(create: bool) -> Value {
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
        "rate_limit": {"type": "integer", "minimum": 0, "maximum": named::MAX_RATE_LIMIT, "nullable": true}}});
    if create {
        schema["required"] = json!(["name", "url"]);
    }
    schema
}

/// The API's router (state still to be given) and its OpenAPI document.
pub fn documented() -> (Router<AppState>, Value) {
    let r = DocumentedRouter::default()
        .route(
            op(Method::GET, "/api/v1/user/webhooks", T23, "Read the webhook settings", READ)
                .response(200, "the settings (the signing secret is never returned); a URL is null when its channel is off", t23_view())
                .nullable(&T23_VIEW_NULLABLE),
            get(telecom23::get),
        )
        .route(
            unavailable(op(
                Method::PUT,
                "/api/v1/user/webhooks",
                T23,
                "Change the webhook settings (only the fields sent change)",
                WRITE,
            ))
            .body(JSON, json!({"delivery_url": "https://example.com/dlr", "signing_secret": "s3cret",
                               "unique_clicks_only": true, "delivery_fields": ["message_id", "status"]}))
            .response(400, "INVALID_BODY, CONFLICTING_FIELDS, INVALID_URL, INVALID_SECRET, INVALID_FIELDS or INVALID_TOGGLE", error("INVALID_URL"))
            .response(200, "the new settings", t23_view())
            .nullable(&T23_VIEW_NULLABLE),
            put(telecom23::put),
        )
        .route(
            unavailable(op(Method::POST, "/api/v1/user/webhooks/test", T23, "Send a sample event", WRITE))
                .body(JSON, json!({"type": "delivery"}))
                .body_schema(json!({"type": "object", "required": ["type"], "properties": {
                    "type": names(EventKind::TELECOM23.iter().map(|k| k.as_str()))}}))
                .response(400, "INVALID_BODY, INVALID_TYPE or WEBHOOK_NOT_CONFIGURED", error("WEBHOOK_NOT_CONFIGURED"))
                .response(504, "TEST_TIMEOUT: no attempt recorded in time", error("TEST_TIMEOUT"))
                .response(200, "the attempt's outcome; `response_code` is null when no response came (then `error` says why)", json!({"type": "delivery", "webhook_id": "wh_1", "url": "https://example.com/dlr",
                    "success": true, "status": "ok", "response_code": 200, "response_time_ms": 84, "error": null, "payload": "{…}"}))
                .nullable(&["response_code", "error:string"]),
            post(test_send::handle),
        )
        .route(
            unavailable(op(Method::GET, "/api/v1/user/webhooks/logs", LOGS, "Latest attempts, newest first (`?limit=`, default 50, at most 1000)", READ))
                .query("limit", LIMIT, limit())
                .response(400, "INVALID_LIMIT", error("INVALID_LIMIT"))
                .response(200, "attempts; `response_code` and `response_body` are null when no response came (then `error` says why)", json!({"count": 1, "logs": [{
                    "attempt_id": "wh_1-1", "webhook_id": "wh_1", "event_id": "dlr_0f3a", "type": "delivery",
                    "url": "https://example.com/dlr", "attempt": 1, "test": false, "outcome": "failed",
                    "request_headers": {"Content-Type": "application/json", "X-Webhook-Id": "wh_1", "X-Webhook-Attempt": "1"},
                    "payload": "{\"message_id\":\"api_42_1\",\"status\":\"DELIVRD\"}", "response_code": 500, "response_time_ms": 84,
                    "response_body": "oops", "error": null, "attempted_at": "2026-02-13T10:30:05Z",
                    "next_attempt_at": "2026-02-13T10:30:15Z", "dead_lettered": false}]}))
                .nullable(&["logs[].response_code", "logs[].response_body", "logs[].error:string", "logs[].next_attempt_at"]),
            get(logs::handle),
        )
        .route(
            unavailable(op(Method::GET, "/api/v1/user/webhooks/dead-letters", LOGS, "Dead-lettered events, newest first (`?limit=`, default 50, at most 1000)", READ))
                .query("limit", LIMIT, limit())
                .response(400, "INVALID_LIMIT", error("INVALID_LIMIT"))
                .response(200, "dead letters; `url` is where the last attempt went (null for an old letter whose subscription is gone)", json!({"count": 1, "dead_letters": [{
                    "webhook_id": "wh_1", "event_id": "dlr_0f3a", "type": "delivery", "subscription_id": "t23-delivery",
                    "url": "https://example.com/dlr", "attempts": 3, "last_error": "HTTP 500", "dead_at": "2026-02-13T10:31:00Z"}]}))
                .nullable(&["dead_letters[].url"]),
            get(dead_letters::list),
        )
        .route(
            op(Method::GET, "/api/v1/webhooks", NAMED, "List the workspace's named subscriptions", READ)
                .response(200, "subscriptions, in creation order", json!({"data": [named_view()]})),
            get(named::list),
        )
        .route(
            unavailable(op(Method::POST, "/api/v1/webhooks", NAMED, "Create a named subscription", WRITE))
                .body(JSON, json!({"name": "Delivered SMS", "url": "https://example.com/hooks", "event_types": ["SMS_STATUS"],
                                   "filter": {"status": ["delivered"]}, "rate_limit": 50}))
                .body_schema(named_body_schema(true))
                .response(201, "created; `signing_secret` is shown in this response only", {
                    let mut v = named_view();
                    v["signing_secret"] = json!("whsec_…");
                    v
                })
                .response(400, "SUBSCRIPTION_LIMIT (the workspace has HOOKLINE_MAX_SUBSCRIPTIONS_PER_WORKSPACE already), INVALID_BODY, INVALID_NAME, INVALID_URL, INVALID_EVENT_TYPE, INVALID_FILTER or INVALID_RATE_LIMIT", error("INVALID_EVENT_TYPE")),
            post(named::create),
        )
        .route(
            op(Method::GET, "/api/v1/webhooks/{id}", NAMED, "Read one named subscription", READ)
                .response(200, "the subscription", named_view())
                .response(404, "NOT_FOUND", error("NOT_FOUND")),
            get(named::get),
        )
        .route(
            unavailable(op(Method::PATCH, "/api/v1/webhooks/{id}", NAMED, "Change a named subscription (only the fields sent change)", WRITE))
                .body(JSON, json!({"rate_limit": 100}))
                .body_schema(named_body_schema(false))
                .response(200, "the subscription", named_view())
                .response(400, "a validation error, as for create", error("INVALID_RATE_LIMIT"))
                .response(404, "NOT_FOUND", error("NOT_FOUND")),
            patch(named::patch),
        )
        .route(
            unavailable(op(Method::DELETE, "/api/v1/webhooks/{id}", NAMED, "Delete a named subscription", WRITE))
                .response(204, "deleted", Value::Null)
                .response(404, "NOT_FOUND", error("NOT_FOUND")),
            delete(named::delete),
        )
        .route(
            unavailable(op(Method::POST, "/v1/user/set-webhook", SMSEDGE, "Set or clear webhook URLs and DLR Basic auth (only the parameters sent change; \"\" clears)", WRITE))
                .body(FORM, json!({"dlr_url": "https://example.com/dlr", "click_url": "https://example.com/click",
                                   "inbound_url": "", "revoke_click_url": "https://example.com/revoke", "auth": "myuser:mypass"}))
                .body(JSON, json!({"dlr_url": "https://example.com/dlr", "auth": "myuser:mypass"}))
                .response(400, "INVALID_BODY, INVALID_URL or INVALID_AUTH", smsedge_error("INVALID_AUTH"))
                .response(200, "the configuration; a URL is null when unset", smsedge_view())
                .nullable(&SMSEDGE_VIEW_NULLABLE),
            post(smsedge::set),
        )
        .route(
            op(Method::GET, "/v1/user/get-webhook", SMSEDGE, "Read the webhook configuration (`auth` says whether credentials are set)", READ)
                .response(200, "the configuration; a URL is null when unset", smsedge_view())
                .nullable(&SMSEDGE_VIEW_NULLABLE),
            get(smsedge::get),
        )
        .route(
            unavailable(op(Method::POST, "/v1/user/test-webhook", SMSEDGE, "Fire a demo event to every configured URL", WRITE))
                .response(200, "per webhook: ok (HTTP 200), failed (other status), error (no response: `http_code` null) or skipped", json!({"success": true, "data": {
                    "dlr": {"status": "ok", "http_code": 200, "time": 0.245},
                    "click": {"status": "error", "http_code": null, "time": 0.012, "error": "connection refused"},
                    "inbound": {"status": "skipped", "reason": "not configured"},
                    "revoke_click": {"status": "failed", "http_code": 500, "time": 0.132}}}))
                .schema(smsedge_test_schema()),
            post(smsedge::test),
        )
        .route(
            unavailable(op(Method::POST, "/admin/v1/api-keys", OPERATORS, "Create an API key for a workspace (shown once)", ADMIN))
                .body(JSON, json!({"workspace_id": "acme", "permissions": ["webhooks.read", "webhooks.write"]}))
                .body_schema(json!({"type": "object", "required": ["workspace_id", "permissions"], "properties": {
                    "workspace_id": id_schema(),
                    "permissions": {"type": "array", "minItems": 1, "items": names(
                        [Permission::WebhooksRead, Permission::WebhooksWrite].map(Permission::as_str))}}}))
                .response(201, "the key", json!({"api_key": "hk_…", "key_id": "key_0123456789ab", "workspace_id": "acme",
                    "permissions": ["webhooks.read", "webhooks.write"]}))
                .response(400, "INVALID_BODY, INVALID_WORKSPACE or INVALID_PERMISSIONS", error("INVALID_PERMISSIONS")),
            post(admin::create_key),
        )
        .route(
            op(Method::GET, "/admin/v1/api-keys", OPERATORS, "List API keys (`?workspace_id=` for one workspace): ids, permissions, creation and last use, never a key", ADMIN)
                .query("workspace_id", "only this workspace's keys", json!({"type": "string"}))
                .response(200, "the keys, oldest first; `last_used_at` is null for a key not used yet", json!({"data": [{"key_id": "key_0123456789ab", "workspace_id": "acme",
                    "permissions": ["webhooks.read"], "created_at": "2026-02-13T10:30:00Z", "last_used_at": "2026-02-14T08:00:00Z"}]}))
                .nullable(&["data[].last_used_at"]),
            get(admin::list_keys),
        )
        .route(
            unavailable(op(Method::POST, "/admin/v1/ingest-keys", OPERATORS, "Create an ingest credential: the input kinds it may send, optionally bound to one workspace or carrier connection (shown once)", ADMIN))
                .body(JSON, json!({"name": "acme-telco DLR callbacks", "kinds": ["dlr"], "carrier_connection": "acme-telco"}))
                .body_schema(json!({"type": "object", "required": ["kinds"], "properties": {
                    "kinds": {"type": "array", "minItems": 1, "items": names(IngestKind::ALL.map(IngestKind::as_str))},
                    "workspace_id": id_schema(),
                    "carrier_connection": id_schema(),
                    "name": {"type": "string", "maxLength": 100}}}))
                .response(400, "INVALID_BODY, INVALID_KINDS, INVALID_WORKSPACE, INVALID_CARRIER_CONNECTION or INVALID_NAME", error("INVALID_KINDS"))
                .response(201, "the credential; `name`, `workspace_id`, `carrier_connection` are null when not given", ingest_key_view(true))
                .nullable(&ingest_key_nullable("")),
            post(admin::create_ingest_key),
        )
        .route(
            op(Method::GET, "/admin/v1/ingest-keys", OPERATORS, "List ingest credentials: ids, kinds, bindings, creation and last use, never a credential", ADMIN)
                .response(200, "the credentials, oldest first; optional members are null when not set", json!({"data": [ingest_key_view(false)]}))
                .nullable(&ingest_key_nullable("data[].")),
            get(admin::list_ingest_keys),
        )
        .route(
            unavailable(op(Method::DELETE, "/admin/v1/ingest-keys/{key_id}", OPERATORS, "Revoke an ingest credential (a tombstone in the config topic: every ingest replica stops accepting it)", ADMIN))
                .response(204, "revoked", Value::Null)
                .response(404, "KEY_NOT_FOUND, or NOT_FOUND: admin endpoints are off", error("KEY_NOT_FOUND")),
            delete(admin::revoke_ingest_key),
        )
        .route(
            unavailable(op(Method::DELETE, "/admin/v1/api-keys/{key_id}", OPERATORS, "Revoke an API key (a tombstone in the config topic: every replica stops accepting it)", ADMIN))
                .response(204, "revoked", Value::Null)
                .response(404, "KEY_NOT_FOUND, or NOT_FOUND: admin endpoints are off", error("KEY_NOT_FOUND")),
            delete(admin::revoke_key),
        )
        .route(
            unavailable(op(Method::POST, "/admin/v1/dead-letters/resend", OPERATORS, "Re-send dead-lettered events of a workspace (optionally one subscription, a `dead_at` range)", ADMIN))
                .body(JSON, json!({"workspace_id": "acme", "subscription_id": "t23-delivery",
                                   "from": "2026-02-13T00:00:00Z", "to": "2026-02-14T00:00:00Z"}))
                .body_schema(json!({"type": "object", "required": ["workspace_id"], "properties": {
                    "workspace_id": {"type": "string"}, "subscription_id": {"type": "string"},
                    "from": {"type": "string", "format": "date-time"}, "to": {"type": "string", "format": "date-time"}}}))
                .response(200, "how many were put back on the dispatch topic", json!({"resent": 3}))
                .response(400, "INVALID_BODY: not {workspace_id, subscription_id?, from?, to?} (times in RFC 3339)", error("INVALID_BODY")),
            post(dead_letters::resend_handler),
        );
    r.finish(
        "Hookline API",
        "Webhook configuration in three dialects (23 Telecom, SMSEdge, named subscriptions), test sends, delivery logs and operator endpoints. \
         Every operation lists every status it answers, in its dialect's error shape (SMSEdge's envelope under /v1/user/, \
         {\"error_code\", \"description\"} elsewhere): its credential's (401, 403; 401, 404 for the admin token), the server's \
         (413 PAYLOAD_TOO_LARGE for a body over HOOKLINE_HTTP_MAX_BODY_BYTES, 408 REQUEST_TIMEOUT) and 503 UNAVAILABLE where it \
         needs Kafka or the store. Beyond HOOKLINE_HTTP_MAX_CONNECTIONS a new connection gets a bodyless 503 before any request is read.",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use hookline_model::{AttemptOutcome, AttemptRecord, IngestKeyRecord, WorkspaceConfig};

    fn doc() -> Value {
        documented().1
    }

    /// `(method, path, operation)` of every operation.
    fn operations(doc: &Value) -> Vec<(String, String, Value)> {
        let mut out = vec![];
        for (path, ops) in doc["paths"].as_object().unwrap() {
            for (method, o) in ops.as_object().unwrap() {
                out.push((method.clone(), path.clone(), o.clone()));
            }
        }
        out
    }

    fn schema<'a>(doc: &'a Value, method: &str, path: &str, status: u16) -> &'a Value {
        &doc["paths"][path][method]["responses"][status.to_string()]["content"]["application/json"]["schema"]
    }

    /// What `value` breaks of `schema` (the subset the documents use: type, nullable, enum,
    /// properties, required, items), one line per violation.
    fn violations(schema: &Value, value: &Value, at: &str) -> Vec<String> {
        if value.is_null() {
            return if schema["nullable"] == true {
                vec![]
            } else {
                vec![format!("{at}: null, but not nullable in the document")]
            };
        }
        let ok = match schema["type"].as_str() {
            Some("string") => value.is_string(),
            Some("integer") => value.is_i64() || value.is_u64(),
            Some("number") => value.is_number(),
            Some("boolean") => value.is_boolean(),
            Some("array") => value.is_array(),
            Some("object") => value.is_object(),
            _ => true,
        };
        if !ok {
            return vec![format!("{at}: {value} is not of type {}", schema["type"])];
        }
        let mut out = vec![];
        if let Some(allowed) = schema["enum"].as_array() {
            if !allowed.contains(value) {
                out.push(format!("{at}: {value} is not one of {allowed:?}"));
            }
        }
        if let (Some(props), Some(obj)) = (schema["properties"].as_object(), value.as_object()) {
            for (k, v) in obj {
                if let Some(s) = props.get(k) {
                    out.extend(violations(s, v, &format!("{at}.{k}")));
                }
            }
        }
        for req in schema["required"].as_array().into_iter().flatten() {
            if value.get(req.as_str().unwrap()).is_none() {
                out.push(format!("{at}: {req} is missing"));
            }
        }
        if let (Some(items), Some(arr)) = (schema.get("items"), value.as_array()) {
            for (i, v) in arr.iter().enumerate() {
                out.extend(violations(items, v, &format!("{at}[{i}]")));
            }
        }
        out
    }

    fn assert_conforms(schema: &Value, value: &Value, what: &str) {
        assert!(schema.is_object(), "{what}: no schema");
        let v = violations(schema, value, what);
        assert!(v.is_empty(), "{v:#?}");
    }

    /// Every operation that takes a credential lists the statuses that credential answers
    /// with, in its dialect's error shape, and every one lists the server's own 408 and 413:
    /// schemathesis found 401 undocumented on 12 operations.
    #[test]
    fn every_operation_documents_its_credentials_and_the_servers_statuses() {
        let doc = doc();
        let ops = operations(&doc);
        assert_eq!(ops.len(), 20);
        for (method, path, o) in &ops {
            let responses = o["responses"].as_object().unwrap();
            let smsedge = o["tags"][0] == SMSEDGE;
            let mut needed = vec!["408", "413"];
            match o["security"][0]
                .as_object()
                .and_then(|s| s.keys().next())
                .map(String::as_str)
            {
                Some("apiKey") => needed.extend(["401", "403"]),
                Some("adminToken") => needed.extend(["401", "404"]),
                other => panic!("{method} {path}: security {other:?}"),
            }
            for status in needed {
                let r = responses
                    .get(status)
                    .unwrap_or_else(|| panic!("{method} {path} does not document {status}"));
                let example = &r["content"]["application/json"]["example"];
                if smsedge {
                    assert_eq!(
                        example["success"], false,
                        "{method} {path} {status}: SMSEdge's envelope"
                    );
                    assert!(example["error"]["code"].is_string(), "{method} {path} {status}");
                } else {
                    assert!(example["error_code"].is_string(), "{method} {path} {status}");
                }
            }
        }
        // Operations that write to Kafka or read the store may be 503; pure reads of the
        // in-memory config may not.
        for (method, path) in [
            ("put", "/api/v1/user/webhooks"),
            ("get", "/api/v1/user/webhooks/logs"),
            ("post", "/v1/user/set-webhook"),
            ("post", "/admin/v1/dead-letters/resend"),
        ] {
            assert!(
                doc["paths"][path][method]["responses"]["503"].is_object(),
                "{method} {path}"
            );
        }
        assert!(doc["paths"]["/v1/user/get-webhook"]["get"]["responses"]["503"].is_null());
        assert!(doc["paths"]["/admin/v1/dead-letters/resend"]["post"]["responses"]["400"].is_object());
        assert_eq!(
            doc["paths"]["/api/v1/user/webhooks/logs"]["get"]["parameters"][0]["name"],
            "limit"
        );
    }

    /// Real responses with their optional members unset conform to the documents (they came
    /// back `null` where the documents said string or integer).
    #[test]
    fn responses_with_unset_members_conform_to_the_documents() {
        let doc = doc();
        let empty = WorkspaceConfig::new("w");
        let t23 = crate::telecom23::view(&empty);
        assert!(t23["delivery_url"].is_null());
        for method in ["get", "put"] {
            assert_conforms(schema(&doc, method, "/api/v1/user/webhooks", 200), &t23, method);
        }
        let se = crate::smsedge::success(crate::smsedge::view(&empty)).0;
        assert!(se["data"]["dlr_url"].is_null());
        assert_conforms(schema(&doc, "get", "/v1/user/get-webhook", 200), &se, "get-webhook");
        assert_conforms(schema(&doc, "post", "/v1/user/set-webhook", 200), &se, "set-webhook");

        // An attempt that got no response: no code, no body, an error.
        let rec = AttemptRecord {
            attempt_id: "a".into(),
            webhook_id: "wh".into(),
            event_id: "e".into(),
            event_type: EventKind::Delivery,
            workspace_id: "w".into(),
            subscription_id: "t23-delivery".into(),
            url: "https://example.com/".into(),
            attempt: 1,
            test: true,
            outcome: AttemptOutcome::Failed,
            request_headers: vec![("Content-Type".into(), "application/json".into())],
            payload: "{}".into(),
            response_code: None,
            response_time_ms: 3,
            response_body: None,
            error: Some("connection refused".into()),
            attempted_at: chrono::Utc::now(),
            next_attempt_at: None,
            dead_lettered: false,
        };
        let logs = json!({"count": 1, "logs": [crate::logs::entry(&rec)]});
        assert!(logs["logs"][0]["response_code"].is_null());
        assert_conforms(schema(&doc, "get", "/api/v1/user/webhooks/logs", 200), &logs, "logs");
        let test = json!({"type": "delivery", "webhook_id": rec.webhook_id, "url": rec.url, "success": false,
                          "status": "failed", "response_code": rec.response_code, "response_time_ms": 3,
                          "error": rec.error, "payload": rec.payload});
        assert_conforms(schema(&doc, "post", "/api/v1/user/webhooks/test", 200), &test, "test");

        // SMSEdge's test-webhook: each shape of a channel's result, including no response.
        let results = json!({"success": true, "data": {
            "dlr": {"status": "error", "http_code": null, "time": null, "error": "no attempt recorded in time"},
            "click": {"status": "error", "http_code": null, "time": 0.004},
            "inbound": {"status": "skipped", "reason": "not configured"},
            "revoke_click": {"status": "ok", "http_code": 200, "time": 0.1}}});
        assert_conforms(
            schema(&doc, "post", "/v1/user/test-webhook", 200),
            &results,
            "test-webhook",
        );
        let bad = json!({"success": true, "data": {"dlr": {"status": "maybe"}}});
        assert!(!violations(schema(&doc, "post", "/v1/user/test-webhook", 200), &bad, "").is_empty());

        // Operators' listings: a key never used, a credential without name or bindings.
        let (_, key) = crate::auth::new_key("w", vec![hookline_model::Permission::WebhooksRead]);
        let keys = json!({"data": [crate::admin::api_key_view(&key, None)]});
        assert_conforms(schema(&doc, "get", "/admin/v1/api-keys", 200), &keys, "api-keys");
        let (_, ing) = IngestKeyRecord::generate(None, vec![IngestKind::Dlr], None, None);
        let view = crate::admin::ingest_key_view(&ing, None);
        assert!(view["name"].is_null() && view["carrier_connection"].is_null());
        assert_conforms(schema(&doc, "post", "/admin/v1/ingest-keys", 201), &view, "create");
        let list = json!({"data": [view]});
        assert_conforms(schema(&doc, "get", "/admin/v1/ingest-keys", 200), &list, "ingest-keys");
    }

    /// The examples conform to their own schemas.
    #[test]
    fn every_example_conforms_to_its_schema() {
        let doc = doc();
        for (method, path, o) in operations(&doc) {
            for (ct, c) in o["requestBody"]["content"].as_object().into_iter().flatten() {
                assert_conforms(&c["schema"], &c["example"], &format!("{method} {path} {ct} body"));
            }
            for (status, r) in o["responses"].as_object().unwrap() {
                let Some(c) = r["content"]["application/json"].as_object() else {
                    continue;
                };
                assert_conforms(&c["schema"], &c["example"], &format!("{method} {path} {status}"));
            }
        }
    }
}
