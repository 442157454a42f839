//! API errors: an HTTP status and a stable `error_code` clients match on; the description is
//! for humans and never carries internals.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub description: String,
    /// Sent as `Retry-After` (seconds): when a throttled caller may come back.
    pub retry_after_secs: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, description: impl Into<String>) -> Self {
        Self {
            status,
            code,
            description: description.into(),
            retry_after_secs: None,
        }
    }

    /// `429 RATE_LIMITED` with `Retry-After: retry_after_secs` ([`crate::rate_limit`]).
    pub fn too_many_requests(retry_after_secs: u64, description: impl Into<String>) -> Self {
        Self {
            retry_after_secs: Some(retry_after_secs),
            ..Self::new(StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED", description)
        }
    }

    /// The `Retry-After` header this error carries, if any; every dialect's error shape sends
    /// it.
    pub fn retry_after(&self) -> Option<(header::HeaderName, HeaderValue)> {
        self.retry_after_secs
            .map(|s| (header::RETRY_AFTER, HeaderValue::from(s)))
    }

    pub fn bad_request(code: &'static str, description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, description)
    }

    /// A failure of Hookline's own dependencies; the cause is logged, not returned.
    pub fn unavailable(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "request failed on a dependency");
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "UNAVAILABLE",
            "temporarily unavailable, retry later",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut r = (
            self.status,
            Json(json!({"error_code": self.code, "description": self.description})),
        )
            .into_response();
        if let Some((name, value)) = self.retry_after() {
            r.headers_mut().insert(name, value);
        }
        r
    }
}
