//! Every route of the API with its OpenAPI description, in one table: the router and the
//! document at `/openapi.json` are built from it, so neither can have a route the other lacks.

use crate::{admin, dead_letters, logs, named, test_send, AppState};
use axum::http::Method;
use axum::routing::{delete, get, patch, post, put};
use axum::Router;
use hookline_telemetry::openapi::{Auth, DocumentedRouter, Operation};
use serde_json::{json, Value};

const READ: Auth = Auth::ApiKey("webhooks.read");
const WRITE: Auth = Auth::ApiKey("webhooks.write");
const JSON: &str = "application/json";
const FORM: &str = "application/x-www-form-urlencoded";

fn error(code: &str) -> Value {
    json!({"error_code": code, "description": "what was wrong, for humans"})
}

fn smsedge_error(code: &str) -> Value {
    json!({"success": false, "error": {"code": code, "message": "what was wrong, for humans"}})
}

fn t23_view() -> Value {
    json!({"delivery_url": "https://example.com/dlr", "click_url": null, "conversion_url": null,
           "impression_url": null, "signing_secret_set": true, "unique_clicks_only": false,
           "delivery_fields": ["message_id", "recipient", "sender_id", "status", "status_code", "num_parts", "cost", "timestamp"],
           "click_fields": ["message_id", "broadcast_id", "recipient", "url", "timestamp"],
           "conversion_fields": ["message_id", "broadcast_id", "recipient", "event", "value", "currency", "transaction_id", "timestamp"],
           "impression_fields": ["message_id", "recipient", "sender_id", "num_parts", "cost", "timestamp"]})
}

fn smsedge_view() -> Value {
    json!({"success": true, "data": {"dlr_url": "https://example.com/dlr", "click_url": "https://example.com/click",
           "inbound_url": null, "revoke_click_url": "https://example.com/revoke", "auth": true}})
}

fn named_view() -> Value {
    json!({"id": "wh_3f2a9c", "name": "Delivered SMS", "url": "https://example.com/hooks",
           "event_types": ["SMS_STATUS"], "filter": {"sender": ["MyApp"], "status": ["delivered"],
           "message_ref": [], "campaign_id": []}, "rate_limit": 50})
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

/// The API's router (state still to be given) and its OpenAPI document.
pub fn documented() -> (Router<AppState>, Value) {
    let unauthorized = (401, "missing or invalid X-API-Key", error("UNAUTHORIZED"));
    let forbidden = (403, "the key lacks the permission", error("FORBIDDEN"));
    let admin_unauthorized = (401, "wrong admin token", error("UNAUTHORIZED"));
    let admin_off = (
        404,
        "admin endpoints are off (no admin token configured)",
        error("NOT_FOUND"),
    );
    let r = DocumentedRouter::default()
        .route(
            Operation::new(Method::GET, "/api/v1/user/webhooks", "23 Telecom", "Read the webhook settings", READ)
                .response(200, "the settings (the signing secret is never returned)", t23_view())
                .response(unauthorized.0, unauthorized.1, unauthorized.2.clone()),
            get(crate::telecom23_get),
        )
        .route(
            Operation::new(
                Method::PUT,
                "/api/v1/user/webhooks",
                "23 Telecom",
                "Change the webhook settings (only the fields sent change)",
                WRITE,
            )
            .body(JSON, json!({"delivery_url": "https://example.com/dlr", "signing_secret": "s3cret",
                               "unique_clicks_only": true, "delivery_fields": ["message_id", "status"]}))
            .response(200, "the new settings", t23_view())
            .response(400, "INVALID_BODY, CONFLICTING_FIELDS, INVALID_URL, INVALID_SECRET, INVALID_FIELDS or INVALID_TOGGLE", error("INVALID_URL"))
            .response(forbidden.0, forbidden.1, forbidden.2.clone()),
            put(crate::telecom23_put),
        )
        .route(
            Operation::new(Method::POST, "/api/v1/user/webhooks/test", "23 Telecom", "Send a sample event", WRITE)
                .body(JSON, json!({"type": "delivery"}))
                .response(200, "the attempt's outcome", json!({"type": "delivery", "webhook_id": "wh_1", "url": "https://example.com/dlr",
                    "success": true, "status": "ok", "response_code": 200, "response_time_ms": 84, "error": null, "payload": "{…}"}))
                .response(400, "INVALID_BODY, INVALID_TYPE or WEBHOOK_NOT_CONFIGURED", error("WEBHOOK_NOT_CONFIGURED"))
                .response(504, "TEST_TIMEOUT: no attempt recorded in time", error("TEST_TIMEOUT")),
            post(test_send::handle),
        )
        .route(
            Operation::new(Method::GET, "/api/v1/user/webhooks/logs", "Delivery logs", "Latest attempts, newest first (`?limit=`, default 50, at most 1000)", READ)
                .response(200, "attempts", json!({"count": 1, "logs": [{"webhook_id": "wh_1", "attempt": 1, "url": "https://example.com/dlr",
                    "response_code": 200, "response_time_ms": 84, "error": null, "next_attempt_at": null, "dead_lettered": false}]}))
                .response(400, "INVALID_LIMIT", error("INVALID_LIMIT")),
            get(logs::handle),
        )
        .route(
            Operation::new(Method::GET, "/api/v1/user/webhooks/dead-letters", "Delivery logs", "Dead-lettered events, newest first (`?limit=`)", READ)
                .response(200, "dead letters", json!({"count": 1, "dead_letters": [{"webhook_id": "wh_1", "attempts": 3,
                    "last_error": "HTTP 500", "dead_at": "2026-02-13T10:31:00Z"}]})),
            get(dead_letters::list),
        )
        .route(
            Operation::new(Method::GET, "/api/v1/webhooks", "Named subscriptions", "List the workspace's named subscriptions", READ)
                .response(200, "subscriptions, in creation order", json!({"data": [named_view()]})),
            get(named::list),
        )
        .route(
            Operation::new(Method::POST, "/api/v1/webhooks", "Named subscriptions", "Create a named subscription", WRITE)
                .body(JSON, json!({"name": "Delivered SMS", "url": "https://example.com/hooks", "event_types": ["SMS_STATUS"],
                                   "filter": {"status": ["delivered"]}, "rate_limit": 50}))
                .response(201, "created; `signing_secret` is shown in this response only", {
                    let mut v = named_view();
                    v["signing_secret"] = json!("whsec_…");
                    v
                })
                .response(400, "SUBSCRIPTION_LIMIT (the workspace has HOOKLINE_MAX_SUBSCRIPTIONS_PER_WORKSPACE already), INVALID_BODY, INVALID_NAME, INVALID_URL, INVALID_EVENT_TYPE, INVALID_FILTER or INVALID_RATE_LIMIT", error("INVALID_EVENT_TYPE")),
            post(named::create),
        )
        .route(
            Operation::new(Method::GET, "/api/v1/webhooks/{id}", "Named subscriptions", "Read one named subscription", READ)
                .response(200, "the subscription", named_view())
                .response(404, "NOT_FOUND", error("NOT_FOUND")),
            get(named::get),
        )
        .route(
            Operation::new(Method::PATCH, "/api/v1/webhooks/{id}", "Named subscriptions", "Change a named subscription (only the fields sent change)", WRITE)
                .body(JSON, json!({"rate_limit": 100}))
                .response(200, "the subscription", named_view())
                .response(400, "a validation error, as for create", error("INVALID_RATE_LIMIT"))
                .response(404, "NOT_FOUND", error("NOT_FOUND")),
            patch(named::patch),
        )
        .route(
            Operation::new(Method::DELETE, "/api/v1/webhooks/{id}", "Named subscriptions", "Delete a named subscription", WRITE)
                .response(204, "deleted", Value::Null)
                .response(404, "NOT_FOUND", error("NOT_FOUND")),
            delete(named::delete),
        )
        .route(
            Operation::new(Method::POST, "/v1/user/set-webhook", "SMSEdge", "Set or clear webhook URLs and DLR Basic auth (only the parameters sent change; \"\" clears)", WRITE)
                .body(FORM, json!({"dlr_url": "https://example.com/dlr", "click_url": "https://example.com/click",
                                   "inbound_url": "", "revoke_click_url": "https://example.com/revoke", "auth": "myuser:mypass"}))
                .body(JSON, json!({"dlr_url": "https://example.com/dlr", "auth": "myuser:mypass"}))
                .response(200, "the configuration", smsedge_view())
                .response(400, "INVALID_BODY, INVALID_URL or INVALID_AUTH", smsedge_error("INVALID_AUTH"))
                .response(401, "UNAUTHORIZED", smsedge_error("UNAUTHORIZED")),
            post(crate::smsedge_set),
        )
        .route(
            Operation::new(Method::GET, "/v1/user/get-webhook", "SMSEdge", "Read the webhook configuration (`auth` says whether credentials are set)", READ)
                .response(200, "the configuration", smsedge_view())
                .response(401, "UNAUTHORIZED", smsedge_error("UNAUTHORIZED")),
            get(crate::smsedge_get),
        )
        .route(
            Operation::new(Method::POST, "/v1/user/test-webhook", "SMSEdge", "Fire a demo event to every configured URL", WRITE)
                .response(200, "per webhook: ok (HTTP 200), failed (other status), error (no response) or skipped", json!({"success": true, "data": {
                    "dlr": {"status": "ok", "http_code": 200, "time": 0.245},
                    "click": {"status": "ok", "http_code": 200, "time": 0.156},
                    "inbound": {"status": "skipped", "reason": "not configured"},
                    "revoke_click": {"status": "failed", "http_code": 500, "time": 0.132}}})),
            post(crate::smsedge_test),
        )
        .route(
            Operation::new(Method::POST, "/admin/v1/api-keys", "Operators", "Create an API key for a workspace (shown once)", Auth::Admin)
                .body(JSON, json!({"workspace_id": "acme", "permissions": ["webhooks.read", "webhooks.write"]}))
                .response(201, "the key", json!({"api_key": "hk_…", "key_id": "key_0123456789ab", "workspace_id": "acme",
                    "permissions": ["webhooks.read", "webhooks.write"]}))
                .response(400, "INVALID_BODY, INVALID_WORKSPACE or INVALID_PERMISSIONS", error("INVALID_PERMISSIONS"))
                .response(admin_unauthorized.0, admin_unauthorized.1, admin_unauthorized.2.clone())
                .response(admin_off.0, admin_off.1, admin_off.2.clone()),
            post(admin::create_key),
        )
        .route(
            Operation::new(Method::GET, "/admin/v1/api-keys", "Operators", "List API keys (`?workspace_id=` for one workspace): ids, permissions, creation and last use, never a key", Auth::Admin)
                .response(200, "the keys, oldest first", json!({"data": [{"key_id": "key_0123456789ab", "workspace_id": "acme",
                    "permissions": ["webhooks.read"], "created_at": "2026-02-13T10:30:00Z", "last_used_at": "2026-02-14T08:00:00Z"}]}))
                .response(admin_unauthorized.0, admin_unauthorized.1, admin_unauthorized.2.clone())
                .response(admin_off.0, admin_off.1, admin_off.2.clone()),
            get(admin::list_keys),
        )
        .route(
            Operation::new(Method::POST, "/admin/v1/ingest-keys", "Operators", "Create an ingest credential: the input kinds it may send, optionally bound to one workspace or carrier connection (shown once)", Auth::Admin)
                .body(JSON, json!({"name": "acme-telco DLR callbacks", "kinds": ["dlr"], "carrier_connection": "acme-telco"}))
                .response(201, "the credential", ingest_key_view(true))
                .response(400, "INVALID_BODY, INVALID_KINDS, INVALID_WORKSPACE, INVALID_CARRIER_CONNECTION or INVALID_NAME", error("INVALID_KINDS"))
                .response(admin_unauthorized.0, admin_unauthorized.1, admin_unauthorized.2.clone())
                .response(admin_off.0, admin_off.1, admin_off.2.clone()),
            post(admin::create_ingest_key),
        )
        .route(
            Operation::new(Method::GET, "/admin/v1/ingest-keys", "Operators", "List ingest credentials: ids, kinds, bindings, creation and last use, never a credential", Auth::Admin)
                .response(200, "the credentials, oldest first", json!({"data": [ingest_key_view(false)]}))
                .response(admin_unauthorized.0, admin_unauthorized.1, admin_unauthorized.2.clone())
                .response(admin_off.0, admin_off.1, admin_off.2.clone()),
            get(admin::list_ingest_keys),
        )
        .route(
            Operation::new(Method::DELETE, "/admin/v1/ingest-keys/{key_id}", "Operators", "Revoke an ingest credential (a tombstone in the config topic: every ingest replica stops accepting it)", Auth::Admin)
                .response(204, "revoked", Value::Null)
                .response(404, "KEY_NOT_FOUND, or admin endpoints are off", error("KEY_NOT_FOUND"))
                .response(admin_unauthorized.0, admin_unauthorized.1, admin_unauthorized.2.clone()),
            delete(admin::revoke_ingest_key),
        )
        .route(
            Operation::new(Method::DELETE, "/admin/v1/api-keys/{key_id}", "Operators", "Revoke an API key (a tombstone in the config topic: every replica stops accepting it)", Auth::Admin)
                .response(204, "revoked", Value::Null)
                .response(404, "KEY_NOT_FOUND, or admin endpoints are off", error("KEY_NOT_FOUND"))
                .response(admin_unauthorized.0, admin_unauthorized.1, admin_unauthorized.2.clone()),
            delete(admin::revoke_key),
        )
        .route(
            Operation::new(Method::POST, "/admin/v1/dead-letters/resend", "Operators", "Re-send dead-lettered events of a workspace (optionally one subscription, a `dead_at` range)", Auth::Admin)
                .body(JSON, json!({"workspace_id": "acme", "subscription_id": "t23-delivery",
                                   "from": "2026-02-13T00:00:00Z", "to": "2026-02-14T00:00:00Z"}))
                .response(200, "how many were put back on the dispatch topic", json!({"resent": 3}))
                .response(admin_unauthorized.0, admin_unauthorized.1, admin_unauthorized.2.clone())
                .response(admin_off.0, admin_off.1, admin_off.2.clone()),
            post(dead_letters::resend_handler),
        );
    r.finish(
        "Hookline API",
        "Webhook configuration in three dialects (23 Telecom, SMSEdge, named subscriptions), test sends, delivery logs and operator endpoints. \
         Every route may also answer 413 PAYLOAD_TOO_LARGE (a body over HOOKLINE_HTTP_MAX_BODY_BYTES) and 408 REQUEST_TIMEOUT, \
         in the dialect's error shape (SMSEdge's envelope under /v1/user/).",
    )
}
