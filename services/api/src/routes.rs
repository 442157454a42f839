//! Every route of the API with its OpenAPI description, in one table: the router and the
//! document at `/openapi.json` are built from it, so neither can have a route the other lacks.

use crate::state::AppState;
use crate::{admin, dead_letters, logs, named, operational, replay, smsedge, telecom23, test_send};
use axum::http::Method;
use axum::routing::{delete, get, patch, post, put};
use axum::Router;
use hookline_model::{EventKind, IngestKind, NamedEventType, Permission};
use hookline_telemetry::openapi::DocumentedRouter;
use serde_json::{json, Value};

mod docs;
mod portal_api;
#[cfg(test)]
mod tests;

use docs::*;

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
            .response(200, "the new settings. A new `signing_secret` signs every request from the next one on (the single `X-Webhook-Signature` has no overlap): to rotate, make the receiver accept both secrets, PUT the new one, then drop the old one", t23_view())
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
            limited(unavailable(op(Method::GET, "/api/v1/user/webhooks/logs", LOGS, "Latest attempts, newest first (`?limit=`, default 50, at most 1000), optionally only those passing every filter given", READ)), READS)
                .query("limit", LIMIT, limit())
                .query("event_type", "only this event type", names(EventKind::ALL.iter().map(|k| k.as_str())))
                .query("outcome", "only this outcome", names(["delivered", "failed", "skipped"]))
                .query("subscription_id", "only this subscription's attempts", json!({"type": "string"}))
                .query("from", "only attempts at or after this time", json!({"type": "string", "format": "date-time"}))
                .query("to", "only attempts at or before this time", json!({"type": "string", "format": "date-time"}))
                .response(400, "INVALID_LIMIT, or INVALID_FILTER (a filter given twice or with a value it cannot take)", error("INVALID_LIMIT"))
                .response(200, "attempts; `response_code` and `response_body` are null when no response came (then `error` says why); `url` is where the attempt went, `url_kind` says whether that is the subscription's `primary` or `failover` URL (absent for a subscription without a failover URL); `batch` (`id`, the batch request's X-Webhook-Id, and `size`, its events) is present only for an event sent in a batch, whose response every event of the batch shares", json!({"count": 1, "logs": [{
                    "attempt_id": "wh_1-1", "webhook_id": "wh_1", "event_id": "dlr_0f3a", "type": "delivery",
                    "url": "https://example.com/dlr", "attempt": 1, "test": false, "outcome": "failed",
                    "request_headers": {"Content-Type": "application/json", "X-Webhook-Id": "wh_1", "X-Webhook-Attempt": "1"},
                    "payload": "{\"message_id\":\"api_42_1\",\"status\":\"DELIVRD\"}", "response_code": 500, "response_time_ms": 84,
                    "response_body": "oops", "error": null, "attempted_at": "2026-02-13T10:30:05Z",
                    "next_attempt_at": "2026-02-13T10:30:15Z", "dead_lettered": false, "url_kind": "primary",
                    "batch": {"id": "whb_5d1e0c9a7b3f2e4d6c8a1b0f", "size": 10}}]}))
                .nullable(&["logs[].response_code", "logs[].response_body", "logs[].error:string", "logs[].next_attempt_at"]),
            get(logs::handle),
        )
        .route(
            limited(unavailable(op(Method::GET, "/api/v1/user/webhooks/dead-letters", LOGS, "Dead-lettered events, newest first (`?limit=`, default 50, at most 1000)", READ)), READS)
                .query("limit", LIMIT, limit())
                .response(400, "INVALID_LIMIT", error("INVALID_LIMIT"))
                .response(200, "dead letters; `url` is where the last attempt went (null for an old letter whose subscription is gone); `reason` is `exhausted` (retry policy used up), `endpoint_disabled` (kept, not sent, while its endpoint is disabled) or `config_missing`", json!({"count": 1, "dead_letters": [{
                    "webhook_id": "wh_1", "event_id": "dlr_0f3a", "type": "delivery", "subscription_id": "t23-delivery",
                    "url": "https://example.com/dlr", "attempts": 3, "last_error": "HTTP 500", "reason": "exhausted",
                    "dead_at": "2026-02-13T10:31:00Z"}]}))
                .nullable(&["dead_letters[].url"]),
            get(dead_letters::list),
        )
        .route(
            limited(unavailable(op(Method::POST, "/api/v1/user/webhooks/dead-letters/resend", LOGS, "Re-send the caller's dead letters (all, or those matching every filter given) with their original webhook ids", WRITE)), REPLAYS)
                .body(JSON, json!({"webhook_ids": ["wh_1"]}))
                .optional_body()
                .body_schema(json!({"type": "object", "additionalProperties": false, "properties": {
                    "webhook_ids": {"type": "array", "items": {"type": "string"}},
                    "subscription_id": {"type": "string"},
                    "from": {"type": "string", "format": "date-time"},
                    "to": {"type": "string", "format": "date-time"}}}))
                .response(400, "INVALID_BODY", error("INVALID_BODY"))
                .response(200, "how many were put back on the dispatch topic (and removed from the list)", json!({"resent": 1})),
            post(dead_letters::user_resend),
        )
        .route(
            op(Method::GET, "/api/v1/operational-webhook", NAMED, "Read the workspace's operational URL (Hookline's own notices: `webhook.disabled`)", READ)
                .response(200, "the URL, null when none is set", json!({"url": "https://example.com/ops"}))
                .nullable(&["url"]),
            get(operational::get),
        )
        .route(
            unavailable(op(Method::PUT, "/api/v1/operational-webhook", NAMED, "Set (or with null, remove) the workspace's operational URL", WRITE))
                .body(JSON, json!({"url": "https://example.com/ops"}))
                .body_schema(json!({"type": "object", "required": ["url"], "properties": {
                    "url": {"type": "string", "format": "uri", "nullable": true}}}))
                .response(200, "the URL; `signing_secret` only when this call created it (shown once)", json!({"url": "https://example.com/ops", "signing_secret": "whsec_…"}))
                .nullable(&["url"])
                .response(400, "INVALID_BODY or INVALID_URL", error("INVALID_URL")),
            put(operational::put),
        )
        .route(
            rotate_secret_op(
                "/api/v1/operational-webhook/rotate-secret",
                "Rotate the operational URL's signing secret, as a named subscription's: the new one signs at once, the old one too until `previous_secret_expires_at`",
                json!({"url": "https://example.com/ops"}),
            )
            .response(404, "NOT_FOUND: no operational URL is set", error("NOT_FOUND")),
            post(operational::rotate_secret),
        )
        .route(
            op(Method::GET, "/api/v1/webhooks", NAMED, "List the workspace's named subscriptions, a page at a time", READ)
                .query("limit", PAGE_LIMIT, json!({"type": "integer", "minimum": 1, "maximum": named::paging::MAX_PAGE}))
                .query("cursor", "the `next_cursor` of the page before (opaque); absent for the first page", json!({"type": "string"}))
                .response(200, "subscriptions, in creation order; `next_cursor` is null on the last page", json!({"data": [named_view()], "next_cursor": "76317c317c313737303937383630303030307c77685f336632613963"}))
                .nullable(&[named_view_nullable("data[]."), vec!["next_cursor"]].concat())
                .response(400, "INVALID_LIMIT (not an integer from 1 to 250, or given twice) or INVALID_CURSOR (not a cursor this API made, or given twice)", error("INVALID_CURSOR")),
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
                .nullable(&named_view_nullable(""))
                .response(400, "SUBSCRIPTION_LIMIT (the workspace has HOOKLINE_MAX_SUBSCRIPTIONS_PER_WORKSPACE already), INVALID_BODY, INVALID_NAME, INVALID_URL, INVALID_EVENT_TYPE, INVALID_FILTER, INVALID_RATE_LIMIT, INVALID_ENABLED, INVALID_FAILOVER_URL (refused by the URL policy, or the same as url), INVALID_FAILOVER_AFTER or INVALID_BATCH", error("INVALID_EVENT_TYPE")),
            post(named::create),
        )
        .route(
            op(Method::GET, "/api/v1/webhooks/{id}", NAMED, "Read one named subscription", READ)
                .response(200, "the subscription", named_view())
                .nullable(&named_view_nullable(""))
                .response(404, "NOT_FOUND", error("NOT_FOUND")),
            get(named::get),
        )
        .route(
            unavailable(op(Method::PATCH, "/api/v1/webhooks/{id}", NAMED, "Change a named subscription (only the fields sent change)", WRITE))
                .body(JSON, json!({"rate_limit": 100}))
                .body_schema(named_body_schema(false))
                .response(200, "the subscription; `updated_at` moved if a setting changed", named_view())
                .nullable(&named_view_nullable(""))
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
            limited(unavailable(op(Method::POST, "/api/v1/webhooks/{id}/replay", NAMED, "Re-send every event the subscription was sent in a time window (original order and webhook ids, `X-Webhook-Replay: true`), from the dispatch topic's history (its retention)", WRITE)), REPLAYS)
                .body(JSON, json!({"from": "2026-02-13T10:00:00Z", "to": "2026-02-13T11:00:00Z", "event_types": ["SMS_STATUS"]}))
                .body_schema(json!({"type": "object", "required": ["from"], "properties": {
                    "from": {"type": "string", "format": "date-time"},
                    "to": {"type": "string", "format": "date-time"},
                    "event_types": {"type": "array", "minItems": 1, "items": names(NamedEventType::ALL.iter().map(|t| t.as_str()))}}}))
                .response(200, "how many events were queued again; `complete` is false when HOOKLINE_REPLAY_MAX_EVENTS was reached, and `next_from` is where to continue", json!({
                    "replayed": 42, "from": "2026-02-13T10:00:00.000Z", "to": "2026-02-13T11:00:00.000Z", "complete": true, "next_from": null}))
                .nullable(&["next_from:string"])
                .response(400, "INVALID_BODY, INVALID_FROM, INVALID_TO or INVALID_EVENT_TYPE", error("INVALID_FROM"))
                .response(404, "NOT_FOUND", error("NOT_FOUND")),
            post(replay::handle),
        )
        .route(
            rotate_secret_op(
                "/api/v1/webhooks/{id}/rotate-secret",
                "Rotate the signing secret: the new one signs at once, the old one too until `previous_secret_expires_at` (a second `webhook-signature` entry)",
                json!({"id": "wh_3f2a9c"}),
            )
            .response(404, "NOT_FOUND", error("NOT_FOUND")),
            post(named::rotate_secret),
        )
        .route(
            unavailable(op(Method::POST, "/api/v1/webhooks/{id}/test", NAMED, "Send a sample event to this subscription only (body optional)", WRITE))
                .body(JSON, json!({"event_type": "SMS_STATUS"}))
                .optional_body()
                .body_schema(json!({"type": "object", "properties": {"event_type": names(NamedEventType::ALL.iter().map(|t| t.as_str()))}}))
                .response(200, "the attempt's outcome (as the 23 Telecom test send's; `type` is the event type); `response_code` is null when no response came (then `error` says why)",
                    json!({"type": "SMS_STATUS", "webhook_id": "wh_1", "url": "https://example.com/hooks", "success": true, "status": "ok",
                           "response_code": 200, "response_time_ms": 84, "error": null, "payload": "{…}"}))
                .nullable(&["response_code", "error:string"])
                .response(400, "INVALID_BODY (not a JSON object) or INVALID_EVENT_TYPE (not one of the subscription's event types; the default is its first)", error("INVALID_EVENT_TYPE"))
                .response(404, "NOT_FOUND", error("NOT_FOUND"))
                .response(504, "TEST_TIMEOUT: no attempt recorded in time", error("TEST_TIMEOUT")),
            post(named::test),
        )
        .route(
            limited(unavailable(op(Method::GET, "/api/v1/webhooks/{id}/stats", NAMED, "Delivery stats of the last hour and day, and the current state", READ)), READS)
                .response(200, "per window: attempts sent (skipped ones not counted), delivered, failed, success_ratio and latency percentiles \
                    (upper bound of the latency bucket, ms; null without attempts), the last error if in the window; state from the last attempt",
                    named_stats_view())
                .nullable(&NAMED_STATS_NULLABLE)
                .response(404, "NOT_FOUND", error("NOT_FOUND")),
            get(named::stats),
        )
        .route(
            unavailable(op(Method::POST, "/v1/user/set-webhook", SMSEDGE, "Set or clear webhook URLs and DLR Basic auth (only the parameters sent change; \"\" clears)", WRITE))
                .body(FORM, json!({"dlr_url": "https://example.com/dlr", "click_url": "https://example.com/click",
                                   "inbound_url": "", "revoke_click_url": "https://example.com/revoke", "auth": "myuser:mypass"}))
                .body(JSON, json!({"dlr_url": "https://example.com/dlr", "auth": "myuser:mypass"}))
                // Only the parameters sent change: none sent changes nothing and answers the
                // configuration.
                .optional_body()
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
    let r = portal_api::routes(r);
    r.finish(
        "Hookline API",
        "Webhook configuration in three dialects (23 Telecom, SMSEdge, named subscriptions), test sends, delivery logs and operator endpoints. \
         Every operation lists every status it answers, in its dialect's error shape (SMSEdge's envelope under /v1/user/, \
         {\"error_code\", \"description\"} elsewhere): its credential's (401, 403; 401, 404, 429 for the admin token), the server's \
         (413 PAYLOAD_TOO_LARGE for a body over HOOKLINE_HTTP_MAX_BODY_BYTES, 408 REQUEST_TIMEOUT) and 503 UNAVAILABLE where it \
         needs Kafka or the store. A new connection over HOOKLINE_HTTP_MAX_CONNECTIONS (or its client's \
         HOOKLINE_HTTP_MAX_CONNECTIONS_PER_CLIENT) with no idle connection to displace gets a bodyless 503 before any request is read.",
    )
}
