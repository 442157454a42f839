//! The named-subscription dialect: `/api/v1/webhooks`.
//!
//! - `POST /api/v1/webhooks` creates one (`201`, with its generated `id` and `signing_secret`;
//!   the secret is shown in this response only),
//! - `GET /api/v1/webhooks` lists the workspace's named subscriptions a page at a time
//!   (`{"data": [...], "next_cursor"}`, [`paging`]),
//! - `GET /api/v1/webhooks/{id}`, `PATCH /api/v1/webhooks/{id}` (only the fields sent change),
//!   `DELETE /api/v1/webhooks/{id}` (`204`),
//! - `POST /api/v1/webhooks/{id}/rotate-secret`: a new signing secret, the old one still
//!   signing for an overlap ([`rotation`]).
//! - `POST /api/v1/webhooks/{id}/test` sends it a sample event ([`test_send`]),
//! - `GET /api/v1/webhooks/{id}/stats`: its delivery stats and state ([`stats`]).
//!
//! Each view has `created_at` and `updated_at` (RFC 3339, milliseconds; `null` for a
//! subscription created before they were recorded): `updated_at` moves on every change of a
//! setting ([`subscriptions::store_change`]).
//!
//! Each is a [`Subscription`](hookline_model::Subscription) with `dialect: Named`, `schema:
//! Named` (the envelope of [`hookline_model::render::named`]), the 23 Telecom retry policy (3 attempts,
//! 10 s then 30 s apart), a 5 s timeout and its own sealed signing secret. Other dialects'
//! subscriptions are never shown or changed here: an id that is not a named subscription of
//! the caller's workspace is `404 NOT_FOUND`. Deliveries carry the Standard Webhooks headers
//! (`webhook-id`, `webhook-timestamp`, `webhook-signature`,
//! [`hookline_security::standard_webhooks`]) next to the `X-Webhook-*` ones, so receivers can
//! verify with the official libraries; the generated secrets are Standard Webhooks secrets.
//!
//! Body fields: `name` (2–100 characters after trimming), `url` (the URL policy, SSRF check
//! included), `event_types` (array) and/or the deprecated `event_type` (string) — the two are
//! combined, duplicates dropped, at least one type in all —, `filter` (`sender`, `status`,
//! `message_ref`, `campaign_id`: arrays of strings, `null` or `[]` for none; `filter: null`
//! clears every list; a `filter` object replaces the stored filter as a whole; at most
//! [`MAX_FILTER_VALUES`] values of 1 to [`MAX_FILTER_VALUE_CHARS`] characters per list) and
//! `rate_limit` (0–10000 requests per second, 0 or `null` for the system default), `enabled`,
//! `failover_url` (the URL policy like `url`, different from it; `null` removes it) and
//! `failover_after` (1–100 consecutive failed attempts to `url` before attempts go to the
//! failover URL, `null` for the default 3; see `hookline_delivery::failover`) and `batch`
//! (`{"max_events": 2–1000, "max_wait_ms": 1–10000}`, both required, or `null`: off, the
//! default; see `hookline_delivery::batch`). Validation
//! runs in this order and the first failure is returned: `INVALID_BODY`, `INVALID_NAME`,
//! `INVALID_URL`, `INVALID_EVENT_TYPE`, `INVALID_FILTER`, `INVALID_RATE_LIMIT`,
//! `INVALID_ENABLED`, `INVALID_FAILOVER_URL`, `INVALID_FAILOVER_AFTER`, `INVALID_BATCH`. A rejected
//! request changes nothing. Unknown top-level keys are ignored; an unknown key inside
//! `filter` is refused (`INVALID_FILTER`), since a misspelt filter would otherwise silently
//! match every event. `status` filter values must be statuses events carry (`sent`, `failed`,
//! `soft_bounce`, `hard_bounce`, `delivered`, `undelivered`, any case).
//!
//! The code: [`handlers`] (authentication, the write path), `body` (validation of create and
//! patch bodies), [`subscriptions`] (views, and what each write changes).

mod body;
pub mod handlers;
pub mod paging;
pub mod rotation;
pub mod stats;
pub mod subscriptions;
pub mod test_send;

pub use handlers::{create, delete, get, patch};
pub use paging::list;
pub use rotation::{apply_rotate, rotate, rotate_secret, Rotated};
pub use stats::stats;
pub use subscriptions::{apply_create, apply_delete, apply_patch, get_view, view};
pub use test_send::test;

use hookline_model::event::MessageStatus;

/// Response window of a named subscription's endpoint.
pub const TIMEOUT_MS: u64 = 5_000;
pub const NAME_MIN_CHARS: usize = 2;
pub const NAME_MAX_CHARS: usize = 100;
pub const MAX_RATE_LIMIT: u64 = 10_000;
/// The most consecutive failed attempts a subscription may choose before its failover URL
/// takes over.
pub const MAX_FAILOVER_AFTER: u32 = 100;
/// Values per filter list, and characters per value.
pub const MAX_FILTER_VALUES: usize = 100;
pub const MAX_FILTER_VALUE_CHARS: usize = 256;

pub(crate) const STATUSES: [MessageStatus; 6] = [
    MessageStatus::Sent,
    MessageStatus::Failed,
    MessageStatus::SoftBounce,
    MessageStatus::HardBounce,
    MessageStatus::Delivered,
    MessageStatus::Undelivered,
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ApiError;
    use hookline_model::{Dialect, EventKind, PayloadSchema, RetryPolicy, WorkspaceConfig};
    use hookline_security::{Sealer, UrlPolicy};
    use serde_json::{json, Value};

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

    mod batch;

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
        // A Standard Webhooks secret: `whsec_` + base64 of 24 random bytes.
        assert!(secret.starts_with("whsec_") && secret.len() == 38, "{secret}");
        assert!(hookline_security::StandardSigner::new(secret).is_ok());
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
            paging::page_view(&ws, &Default::default())["data"]
                .as_array()
                .unwrap()
                .len(),
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
        assert_eq!(
            paging::page_view(&ws, &Default::default()),
            json!({"data": [], "next_cursor": null})
        );
    }

    /// Issue 17: a failover URL passes the URL policy like `url` (`INVALID_FAILOVER_URL`, after
    /// every other check but the threshold's), differs from `url`, is shown, and `null` clears it.
    #[tokio::test]
    async fn failover_url_is_checked_shown_and_cleared() {
        for (extra, code_) in [
            (r#""failover_url":"https://169.254.169.254/""#, "INVALID_FAILOVER_URL"),
            (
                r#""failover_url":"https://user:pw@example.org/h""#,
                "INVALID_FAILOVER_URL",
            ),
            (r#""failover_url":5"#, "INVALID_FAILOVER_URL"),
            (r#""failover_url":"https://example.com/h""#, "INVALID_FAILOVER_URL"),
            (r#""failover_after":0"#, "INVALID_FAILOVER_AFTER"),
            (r#""failover_after":101"#, "INVALID_FAILOVER_AFTER"),
            (r#""failover_after":"3""#, "INVALID_FAILOVER_AFTER"),
            // The documented order: the enabled check first, the threshold last.
            (r#""enabled":1,"failover_url":5"#, "INVALID_ENABLED"),
            (r#""failover_url":5,"failover_after":0"#, "INVALID_FAILOVER_URL"),
        ] {
            assert_eq!(code(&with(extra)).await, code_, "{extra}");
        }
        let (ws, out) = create(
            &WorkspaceConfig::new("w"),
            &with(r#""failover_url":"HTTPS://Backup.example.com/b""#),
        )
        .await
        .unwrap();
        assert_eq!(out["failover_url"], "https://backup.example.com/b");
        assert_eq!(out["failover_after"], 3, "the default");
        let id = out["id"].as_str().unwrap();
        let patch = |ws: WorkspaceConfig, body: &'static str| async move {
            apply_patch(&ws, id, body.as_bytes(), &policy()).await
        };
        // Either URL changed alone must still differ from the other.
        let same = patch(ws.clone(), r#"{"url":"https://backup.example.com/b"}"#).await;
        assert_eq!(same.unwrap_err().code, "INVALID_FAILOVER_URL");
        let same = patch(ws.clone(), r#"{"failover_url":"https://example.com/h"}"#).await;
        assert_eq!(same.unwrap_err().code, "INVALID_FAILOVER_URL");
        let (ws, v) = patch(ws, r#"{"failover_after":7}"#).await.unwrap();
        assert_eq!(
            (v["failover_url"].as_str(), v["failover_after"].as_u64()),
            (Some("https://backup.example.com/b"), Some(7))
        );
        let (ws, v) = patch(ws, r#"{"failover_url":null,"failover_after":null}"#)
            .await
            .unwrap();
        assert_eq!(
            (v["failover_url"].clone(), v["failover_after"].clone()),
            (Value::Null, json!(3))
        );
        let sub = ws.subscription(id).unwrap();
        assert_eq!((sub.failover_url.clone(), sub.failover_after), (None, 0));
    }
}
