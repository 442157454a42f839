//! The customer portal: a small single-page app under `/portal`, its files compiled into the
//! binary ([`ASSETS`]), so it works offline and needs nothing at build time (no Node: the
//! files in `services/api/portal/` are what is served; edit them and rebuild).
//!
//! Every answer carries a strict Content-Security-Policy: scripts, styles, images and API
//! calls from this origin only, no inline script or style, no plugins, no `<base>`; framing
//! only by the origins in `HOOKLINE_PORTAL_FRAME_ANCESTORS` (default `'self'`), so a platform
//! can embed it in an iframe of its own console. Browsers too old for `frame-ancestors` get
//! `X-Frame-Options` ([`x_frame_options`]): `DENY` when framing is `'none'`, else
//! `SAMEORIGIN` (XFO cannot name another origin, so those browsers refuse a cross-origin
//! frame: the safe side; every current browser follows the CSP and ignores XFO when both are
//! sent). The app keeps the API key in the tab's
//! `sessionStorage` and sends it as `X-API-Key`: never in a URL, never in a cookie.

use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;

/// `(path, content type, the file's bytes)`: a file of `services/api/portal/`.
macro_rules! asset {
    ($path:literal, $type:expr) => {
        ($path, $type, include_bytes!(concat!("../portal/", $path)))
    };
}

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

/// Every file of the app: `(path under /portal/, content type, bytes)`. A new file of
/// `services/api/portal/` needs its row here.
pub const ASSETS: &[(&str, &str, &[u8])] = &[
    asset!("index.html", HTML),
    asset!("app.js", JS),
    asset!("lib.js", JS),
    asset!("style.css", CSS),
    asset!("pages/overview.js", JS),
    asset!("pages/telecom23.js", JS),
    asset!("pages/smsedge.js", JS),
    asset!("pages/named.js", JS),
    asset!("pages/logs.js", JS),
    asset!("pages/dead_letters.js", JS),
    asset!("pages/test_send.js", JS),
    asset!("pages/operator.js", JS),
];

/// The portal's routes (outside the OpenAPI document: they are pages, not API).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/portal", get(|| async { Redirect::permanent("/portal/") }))
        .route(
            "/portal/",
            get(|State(st): State<AppState>| async move { asset(&st, "index.html") }),
        )
        .route(
            "/portal/{*path}",
            get(|State(st): State<AppState>, Path(path): Path<String>| async move { asset(&st, &path) }),
        )
}

/// The Content-Security-Policy of every portal answer.
pub fn content_security_policy(frame_ancestors: &str) -> String {
    format!(
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
         connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; \
         form-action 'self'; frame-ancestors {frame_ancestors}"
    )
}

/// The `X-Frame-Options` of every portal answer: the nearest XFO can come to the CSP's
/// `frame-ancestors` (see the module docs).
pub fn x_frame_options(frame_ancestors: &str) -> &'static str {
    if frame_ancestors.trim() == "'none'" {
        "DENY"
    } else {
        "SAMEORIGIN"
    }
}

fn asset(st: &AppState, path: &str) -> Response {
    let Some((_, content_type, bytes)) = ASSETS.iter().find(|(p, _, _)| *p == path) else {
        return (StatusCode::NOT_FOUND, "not found").into_response();
    };
    let mut resp = (*bytes).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    let csp = content_security_policy(&st.cfg.portal_frame_ancestors);
    if let Ok(v) = HeaderValue::from_str(&csp) {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    h.insert(
        header::X_FRAME_OPTIONS,
        HeaderValue::from_static(x_frame_options(&st.cfg.portal_frame_ancestors)),
    );
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    // Always revalidated: a new binary serves new files at the same paths.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_asset_has_a_content_type_and_the_policy_forbids_inline_code() {
        assert!(ASSETS.iter().any(|(p, _, _)| *p == "index.html"));
        for (path, ty, bytes) in ASSETS {
            assert!(!bytes.is_empty(), "{path}");
            let want = match path.rsplit('.').next() {
                Some("html") => "text/html",
                Some("js") | Some("mjs") => "text/javascript",
                Some("css") => "text/css",
                Some("png") => "image/png",
                Some("svg") => "image/svg+xml",
                _ => panic!("{path}: an asset type the table does not know"),
            };
            assert!(ty.starts_with(want), "{path}: {ty}");
        }
        // Every file of the app's directory is served (a file added without its row would
        // be a 404 in the browser only).
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("portal");
        let mut files = Vec::new();
        let mut dirs = vec![dir.clone()];
        while let Some(d) = dirs.pop() {
            for entry in std::fs::read_dir(&d).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    dirs.push(path);
                } else {
                    files.push(path.strip_prefix(&dir).unwrap().to_string_lossy().replace('\\', "/"));
                }
            }
        }
        files.sort();
        let mut listed: Vec<String> = ASSETS.iter().map(|(p, _, _)| p.to_string()).collect();
        listed.sort();
        assert_eq!(files, listed, "services/api/portal/ and ASSETS differ");
        assert_eq!(x_frame_options("'self'"), "SAMEORIGIN");
        assert_eq!(x_frame_options("'self' https://console.example.com"), "SAMEORIGIN");
        assert_eq!(x_frame_options("'none'"), "DENY");
        let csp = content_security_policy("'self'");
        assert!(csp.contains("script-src 'self';") && !csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"));
    }
}
