//! The customer portal: a small single-page app under `/portal`, its files compiled into the
//! binary ([`ASSETS`]), so it works offline and needs nothing at build time (no Node: the
//! files in `services/api/portal/` are what is served; edit them and rebuild).
//!
//! Every answer carries a strict Content-Security-Policy: scripts, styles, images and API
//! calls from this origin only, no inline script or style, no plugins, no `<base>`; framing
//! only by the origins in `HOOKLINE_PORTAL_FRAME_ANCESTORS` (default `'self'`), so a platform
//! can embed it in an iframe of its own console. The app keeps the API key in the tab's
//! `sessionStorage` and sends it as `X-API-Key`: never in a URL, never in a cookie.

use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;

/// Every file of the app: `(path under /portal/, content type, bytes)`.
pub const ASSETS: &[(&str, &str, &[u8])] = &[
    ("index.html", "text/html; charset=utf-8", include_bytes!("../portal/index.html")),
    ("app.js", "text/javascript; charset=utf-8", include_bytes!("../portal/app.js")),
    ("lib.js", "text/javascript; charset=utf-8", include_bytes!("../portal/lib.js")),
    ("style.css", "text/css; charset=utf-8", include_bytes!("../portal/style.css")),
    ("pages/overview.js", "text/javascript; charset=utf-8", include_bytes!("../portal/pages/overview.js")),
    ("pages/telecom23.js", "text/javascript; charset=utf-8", include_bytes!("../portal/pages/telecom23.js")),
    ("pages/smsedge.js", "text/javascript; charset=utf-8", include_bytes!("../portal/pages/smsedge.js")),
    ("pages/named.js", "text/javascript; charset=utf-8", include_bytes!("../portal/pages/named.js")),
    ("pages/logs.js", "text/javascript; charset=utf-8", include_bytes!("../portal/pages/logs.js")),
    ("pages/dead_letters.js", "text/javascript; charset=utf-8", include_bytes!("../portal/pages/dead_letters.js")),
    ("pages/test_send.js", "text/javascript; charset=utf-8", include_bytes!("../portal/pages/test_send.js")),
    ("pages/operator.js", "text/javascript; charset=utf-8", include_bytes!("../portal/pages/operator.js")),
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
        let csp = content_security_policy("'self'");
        assert!(csp.contains("script-src 'self';") && !csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"));
    }
}
