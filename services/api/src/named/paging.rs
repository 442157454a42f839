//! `GET /api/v1/webhooks?limit=N&cursor=C`: the named subscriptions a page at a time, in
//! creation order, as `{"data": [...], "next_cursor": "…" | null}` (`null` on the last page).
//!
//! `limit` is 1 to [`MAX_PAGE`], default [`DEFAULT_PAGE`] (the default of
//! `HOOKLINE_MAX_SUBSCRIPTIONS_PER_WORKSPACE`, so a client that sends no parameters still gets
//! every subscription while the operator keeps that default); anything else, or `limit` given
//! twice, is `400 INVALID_LIMIT`. `cursor` is the `next_cursor` of the page before, opaque;
//! one this API did not make, or given twice, is `400 INVALID_CURSOR`.
//!
//! A walk sees each subscription at most once, and every one that exists throughout the
//! walk: the cursor names the last subscription shown and its creation time, creation times
//! are strictly increasing in creation order ([`hookline_model::Subscription::stamp_created`]),
//! so a page resumes right after that subscription or, when it was deleted meanwhile, at the
//! first one created after it. (Subscriptions created before `created_at` was recorded have
//! none; a deleted one of those resumes by position.) Subscriptions created during the walk
//! are on its last pages.

use super::subscriptions::view;
use crate::error::ApiError;
use crate::state::AppState;
use crate::validate::{single_param, QueryPairs};
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::Json;
use hookline_model::{Dialect, Permission, Subscription, WorkspaceConfig};
use serde_json::{json, Value};

pub const DEFAULT_PAGE: usize = 50;
pub const MAX_PAGE: usize = 250;

/// Where the page before ended.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Cursor {
    /// The position of the last subscription shown.
    index: usize,
    /// Its `created_at` in Unix milliseconds, if it has one.
    created_ms: Option<i64>,
    id: String,
}

impl Cursor {
    const VERSION: &str = "v1";

    fn after(index: usize, sub: &Subscription) -> Self {
        Self {
            index,
            created_ms: sub.created_at.map(|t| t.timestamp_millis()),
            id: sub.id.clone(),
        }
    }

    /// Hex of `v1|<index>|<created ms or ->|<id>`: opaque to clients, and only ASCII letters
    /// and digits, so it needs no escaping in a query string.
    fn encode(&self) -> String {
        let created = self.created_ms.map_or("-".to_string(), |t| t.to_string());
        hex::encode(format!("{}|{}|{created}|{}", Self::VERSION, self.index, self.id))
    }

    fn decode(raw: &str) -> Option<Self> {
        let text = String::from_utf8(hex::decode(raw).ok()?).ok()?;
        let mut parts = text.splitn(4, '|');
        if parts.next()? != Self::VERSION {
            return None;
        }
        let index = parts.next()?.parse().ok()?;
        let created_ms = match parts.next()? {
            "-" => None,
            t => Some(t.parse().ok()?),
        };
        let id = parts.next()?.to_string();
        Some(Self { index, created_ms, id })
    }

    /// Where the next page starts in `subs` (the named subscriptions, in creation order).
    fn resume(&self, subs: &[&Subscription]) -> usize {
        if let Some(p) = subs.iter().position(|s| s.id == self.id) {
            return p + 1;
        }
        match self.created_ms {
            Some(t) => subs
                .iter()
                .position(|s| s.created_at.is_some_and(|c| c.timestamp_millis() > t))
                .unwrap_or(subs.len()),
            None => self.index.min(subs.len()),
        }
    }
}

/// A page request, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    limit: usize,
    cursor: Option<Cursor>,
}

impl Default for Page {
    fn default() -> Self {
        Self {
            limit: DEFAULT_PAGE,
            cursor: None,
        }
    }
}

impl Page {
    pub fn parse(q: &[(String, String)]) -> Result<Self, ApiError> {
        let limit = match single_param(q, "limit", "INVALID_LIMIT")? {
            None => DEFAULT_PAGE,
            Some(raw) => raw
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=MAX_PAGE).contains(n))
                .ok_or_else(|| {
                    ApiError::bad_request(
                        "INVALID_LIMIT",
                        format!("limit must be an integer from 1 to {MAX_PAGE}"),
                    )
                })?,
        };
        let cursor = match single_param(q, "cursor", "INVALID_CURSOR")? {
            None => None,
            Some(raw) => Some(Cursor::decode(raw).ok_or_else(|| {
                ApiError::bad_request(
                    "INVALID_CURSOR",
                    "cursor must be the next_cursor of a page this API returned",
                )
            })?),
        };
        Ok(Self { limit, cursor })
    }
}

/// One page of `ws`'s named subscriptions.
pub fn page_view(ws: &WorkspaceConfig, page: &Page) -> Value {
    let subs: Vec<&Subscription> = ws.by_dialect(Dialect::Named).collect();
    let start = page.cursor.as_ref().map_or(0, |c| c.resume(&subs));
    let end = (start + page.limit).min(subs.len());
    let data: Vec<Value> = subs[start..end].iter().map(|s| view(s)).collect();
    let next = (end < subs.len()).then(|| Cursor::after(end - 1, subs[end - 1]).encode());
    json!({"data": data, "next_cursor": next})
}

pub async fn list(
    State(st): State<AppState>,
    headers: HeaderMap,
    Query(q): QueryPairs,
) -> Result<Json<Value>, ApiError> {
    let ws = st.caller_workspace(&headers, Permission::WebhooksRead)?;
    Ok(Json(page_view(&ws, &Page::parse(&q)?)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    fn ws(n: usize) -> WorkspaceConfig {
        let mut ws = WorkspaceConfig::new("w");
        for i in 0..n {
            let mut s = Subscription::new(Dialect::Named, "w", format!("wh_{i}"), "https://example.com");
            // The first two predate the timestamps.
            if i >= 2 {
                s.stamp_created(Utc.timestamp_opt(1_000 + i as i64, 0).unwrap(), None);
            }
            ws.upsert(s);
        }
        // Another dialect's subscription is never listed.
        ws.upsert(Subscription::new(
            Dialect::Telecom23,
            "w",
            "t23-delivery",
            "https://example.com",
        ));
        ws
    }

    fn parse(query: &str) -> Result<Page, &'static str> {
        let uri: axum::http::Uri = format!("/x?{query}").parse().unwrap();
        let Query(q): QueryPairs = Query::try_from_uri(&uri).unwrap();
        Page::parse(&q).map_err(|e| e.code)
    }

    fn ids(v: &Value) -> Vec<String> {
        v["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["id"].as_str().unwrap().to_string())
            .collect()
    }

    fn next(ws: &WorkspaceConfig, query: &str) -> (Vec<String>, Option<String>) {
        let v = page_view(ws, &parse(query).unwrap());
        (ids(&v), v["next_cursor"].as_str().map(String::from))
    }

    #[test]
    fn parameters_are_checked() {
        assert_eq!(parse(""), Ok(Page::default()));
        assert_eq!(parse("limit=250&x=%ZZ").unwrap().limit, 250);
        for bad in [
            "limit=0",
            "limit=251",
            "limit=-1",
            "limit=",
            "limit=1.5",
            "limit=1&limit=1",
        ] {
            assert_eq!(parse(bad), Err("INVALID_LIMIT"), "{bad}");
        }
        let good = Cursor::after(3, &Subscription::new(Dialect::Named, "w", "wh_x|y", "https://e.com")).encode();
        assert!(good.chars().all(|c| c.is_ascii_alphanumeric()));
        assert_eq!(parse(&format!("cursor={good}")).unwrap().cursor.unwrap().id, "wh_x|y");
        for bad in [
            "cursor=",
            "cursor=zz",
            "cursor=7631",
            &format!("cursor={}", hex::encode("v2|1|-|a")),
            &format!("cursor={}", hex::encode("v1|x|-|a")),
            &format!("cursor={good}&cursor={good}"),
        ] {
            assert_eq!(parse(bad), Err("INVALID_CURSOR"), "{bad}");
        }
    }

    #[test]
    fn a_walk_sees_each_once_in_creation_order() {
        let ws = ws(5);
        let all = next(&ws, "");
        assert_eq!(all, ((0..5).map(|i| format!("wh_{i}")).collect(), None));
        let (p1, c1) = next(&ws, "limit=2");
        let (p2, c2) = next(&ws, &format!("limit=2&cursor={}", c1.unwrap()));
        let (p3, c3) = next(&ws, &format!("limit=2&cursor={}", c2.unwrap()));
        assert_eq!([p1, p2, p3].concat(), all.0);
        assert_eq!(c3, None, "the last page says so");
        let (p, c) = next(&ws, "limit=5");
        assert_eq!((p.len(), c), (5, None), "an exact fit has no next page");
    }

    #[test]
    fn a_deleted_cursor_subscription_resumes_after_its_place() {
        let full = ws(6);
        // Stamped (wh_3) and unstamped (wh_1) cursors, with earlier ones deleted too.
        for (limit, gone) in [(4, vec!["wh_3", "wh_0"]), (2, vec!["wh_1"])] {
            let (_, cursor) = next(&full, &format!("limit={limit}"));
            let mut ws = full.clone();
            for id in &gone {
                ws.remove(id);
            }
            let (rest, _) = next(&ws, &format!("limit=10&cursor={}", cursor.unwrap()));
            let expected: Vec<String> = (limit..6).map(|i| format!("wh_{i}")).collect();
            assert_eq!(rest, expected, "{gone:?}");
        }
        // Created during the walk: on a later page.
        let (_, cursor) = next(&full, "limit=6");
        assert_eq!(cursor, None);
        let (_, cursor) = next(&full, "limit=5");
        let mut ws = full.clone();
        ws.upsert(Subscription::new(Dialect::Named, "w", "wh_new", "https://example.com"));
        let (rest, _) = next(&ws, &format!("cursor={}", cursor.unwrap()));
        assert_eq!(rest, ["wh_5", "wh_new"]);
    }
}
