//! The HTTP edge: the inputs of the Kafka topics, for sources that push over HTTP (carrier
//! DLR callbacks, trackers' postbacks, or a newcomer trying Hookline without a Kafka client).
//!
//! `POST /v1/messages` takes an accepted-message JSON object; `POST /v1/dlr` a DLR as JSON or
//! SMPP receipt text; `POST /v1/clicks` a click; `POST /v1/inbound` an inbound SMS;
//! `POST /v1/revocations` a revoked click; `GET`/`POST /track` and `POST /v1/actions` a
//! conversion. Every route needs an ingest credential granting its kind
//! ([`crate::credentials`]): `401` without a live one, `403` when it does not grant the kind
//! or is bound to another workspace or carrier connection. `202` once the record is on its
//! topic; `400` with `{"error_code": "INVALID_RECORD", "reason": ...}` when it does not
//! validate (every field is bounded: see [`crate::normalise`]); `413 PAYLOAD_TOO_LARGE` for a
//! body over `HOOKLINE_HTTP_MAX_BODY_BYTES` (answered by the shared server); `503` when Kafka
//! cannot take it (the caller should retry).

use crate::{credentials, IngestFailure, Ingestor, InputKind};
use axum::body::Bytes;
use axum::extract::Query;
use axum::extract::State;
use axum::http::StatusCode;
use axum::http::{HeaderMap, Method};
use axum::routing::{get, post};
use axum::{Json, Router};
use hookline_model::IngestKind;
use hookline_telemetry::openapi::{Auth, DocumentedRouter, Operation};
use hookline_telemetry::{error_code_shape, serve_http, HttpServer, Runtime};
use serde_json::Map;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::net::SocketAddr;

/// Serves the edge on the shared server with the runtime's limits; a body over the limit gets
/// `413 {"error_code": "PAYLOAD_TOO_LARGE", ...}`.
pub async fn serve(addr: SocketAddr, ingestor: Ingestor, rt: &Runtime) -> std::io::Result<HttpServer> {
    serve_http(
        "ingest",
        addr,
        documented().0.with_state(ingestor),
        error_code_shape,
        rt,
    )
    .await
}

/// Every route of the HTTP edge with its OpenAPI description: the router and the document at
/// `/openapi.json` are built from this one table.
pub fn documented() -> (Router<Ingestor>, Value) {
    let accepted = (202, "the record is on its topic", json!({"accepted": true}));
    let invalid = (
        400,
        "the record does not validate; `reason` is the quarantine code",
        json!({"error_code": "INVALID_RECORD", "reason": "missing_field", "description": "message_id is required"}),
    );
    let unavailable = (
        503,
        "Kafka could not take the record: retry",
        json!({"error_code": "UNAVAILABLE", "description": "try again"}),
    );
    let unauthorized = (
        401,
        "no ingest credential, or an unknown or revoked one",
        json!({"error_code": "UNAUTHORIZED", "description": "missing or invalid ingest credential"}),
    );
    let forbidden = (
        403,
        "the credential does not grant this input kind, or is bound to another workspace or carrier connection",
        json!({"error_code": "FORBIDDEN", "description": "this ingest credential may not send dlr"}),
    );
    let too_large = (
        413,
        "the body is larger than HOOKLINE_HTTP_MAX_BODY_BYTES",
        json!({"error_code": "PAYLOAD_TOO_LARGE", "description": "the request body is larger than 1048576 bytes"}),
    );
    let timeout = (
        408,
        "the request took longer than HOOKLINE_HTTP_REQUEST_TIMEOUT_SECS (the connection is closed)",
        json!({"error_code": "REQUEST_TIMEOUT", "description": "the request took too long"}),
    );
    let op = |method, path, summary, kind: IngestKind| {
        Operation::new(method, path, "Ingest", summary, Auth::IngestKey(kind.as_str()))
            .response(accepted.0, accepted.1, accepted.2.clone())
            .response(invalid.0, invalid.1, invalid.2.clone())
            .response(unauthorized.0, unauthorized.1, unauthorized.2.clone())
            .response(forbidden.0, forbidden.1, forbidden.2.clone())
            .response(timeout.0, timeout.1, timeout.2.clone())
            .response(too_large.0, too_large.1, too_large.2.clone())
            .response(unavailable.0, unavailable.1, unavailable.2.clone())
    };
    // The conversion fields, as `/track`'s query parameters (a `{placeholder}` left unfilled
    // by the tracker counts as absent).
    let track_query = |o: Operation| {
        [
            (
                "token",
                "the workspace's tracking token (`hki_…`), unless sent as a Bearer credential",
            ),
            ("click_id", "the click converted (this or message_id is required)"),
            ("message_id", "the message converted"),
            ("event", "default `conversion`"),
            ("value", "a decimal number"),
            ("currency", "ISO 4217"),
            ("transaction_id", "the conversion fires once per transaction id"),
            ("occurred_at", "RFC 3339"),
        ]
        .into_iter()
        .fold(o, |o, (name, description)| {
            o.query(name, description, json!({"type": "string"}))
        })
    };
    DocumentedRouter::default()
        .route(
            op(Method::POST, "/v1/messages", "An SMS the gateway accepted", IngestKind::Messages).body(
                "application/json",
                json!({"message_id": "api_42_1", "carrier_message_id": "0123456789", "workspace_id": "acme",
                       "recipient": "+14155551234", "sender_id": "MyApp", "num_parts": 1, "cost": 0.0085,
                       "accepted_at": "2026-02-13T10:30:00Z"}),
            ),
            post(messages),
        )
        .route(
            op(
                Method::POST,
                "/v1/dlr",
                "A carrier delivery report: JSON or SMPP receipt text",
                IngestKind::Dlr,
            )
                .body(
                    "application/json",
                    json!({"carrier_message_id": "0123456789", "status": "DELIVRD", "status_code": "000",
                           "done_at": "2026-02-13T10:30:04Z"}),
                )
                .body(
                    "text/plain",
                    json!("id:0123456789 sub:001 dlvrd:001 submit date:2602131029 done date:2602131030 stat:DELIVRD err:000"),
                ),
            post(dlr),
        )
        .route(
            op(Method::POST, "/v1/clicks", "A click on a short link", IngestKind::Clicks).body(
                "application/json",
                json!({"short_url": "https://hkl.ink/x1", "message_id": "api_42_1", "recipient": "+14155551234",
                       "user_agent": "Mozilla/5.0", "ip": "203.0.113.7"}),
            ),
            post(clicks),
        )
        .route(
            op(
                Method::POST,
                "/v1/inbound",
                "An SMS received on a workspace's number",
                IngestKind::Inbound,
            ).body(
                "application/json",
                json!({"workspace_id": "acme", "from": "+14155551234", "to": "+14155550000", "text": "STOP"}),
            ),
            post(inbound),
        )
        .route(
            track_query(op(
                Method::GET,
                "/track",
                "A tracker postback (conversion): token (the workspace's tracking token, unless sent as a Bearer credential), click_id, message_id, event, value, currency, transaction_id as query parameters",
                IngestKind::Conversions,
            )),
            get(track_get),
        )
        .route(
            op(
                Method::POST,
                "/track",
                "A tracker postback (conversion), form or JSON; `token` as for GET",
                IngestKind::Conversions,
            ).body(
                "application/x-www-form-urlencoded",
                json!({"token": "hki_…", "click_id": "k-81", "event": "purchase", "value": "19.99", "currency": "USD", "transaction_id": "tx-1"}),
            ),
            post(track_post),
        )
        .route(
            op(
                Method::POST,
                "/v1/actions",
                "Record a conversion through the API",
                IngestKind::Conversions,
            ).body(
                "application/json",
                json!({"message_id": "api_42_1", "event": "signup", "transaction_id": "tx-2"}),
            ),
            post(track_post),
        )
        .route(
            op(
                Method::POST,
                "/v1/revocations",
                "A click that bot detection revoked after the fact",
                IngestKind::Revocations,
            )
            .body(
                "application/json",
                json!({"workspace_id": "acme", "message_id": "api_42_1", "source": "api"}),
            ),
            post(revocations),
        )
        .finish("Hookline ingest", "The HTTP edge: the same inputs as the raw Kafka topics.")
}

async fn messages(State(i): State<Ingestor>, headers: HeaderMap, body: Bytes) -> (StatusCode, Json<Value>) {
    respond(record(&i, InputKind::AcceptedMessage, &headers, &body).await)
}

async fn dlr(State(i): State<Ingestor>, headers: HeaderMap, body: Bytes) -> (StatusCode, Json<Value>) {
    respond(record(&i, InputKind::CarrierDlr, &headers, &body).await)
}

async fn inbound(State(i): State<Ingestor>, headers: HeaderMap, body: Bytes) -> (StatusCode, Json<Value>) {
    respond(record(&i, InputKind::Inbound, &headers, &body).await)
}

async fn clicks(State(i): State<Ingestor>, headers: HeaderMap, body: Bytes) -> (StatusCode, Json<Value>) {
    respond(record(&i, InputKind::Click, &headers, &body).await)
}

async fn revocations(State(i): State<Ingestor>, headers: HeaderMap, body: Bytes) -> (StatusCode, Json<Value>) {
    let scope = match i.authenticate(credentials::presented(&headers, None), IngestKind::Revocations) {
        Ok(s) => s,
        Err(e) => return respond(Err(e)),
    };
    respond(i.ingest_revocation(&body, &scope).await)
}

/// Authenticates the caller for `kind`, then ingests the body with its scope.
async fn record(i: &Ingestor, kind: InputKind, headers: &HeaderMap, body: &[u8]) -> Result<(), IngestFailure> {
    let scope = i.authenticate(credentials::presented(headers, None), kind.grant())?;
    i.ingest(kind, body, chrono::Utc::now(), Some(&scope)).await
}

/// Authenticates a conversion's caller (Bearer, or the postback URL's `token`, which is not
/// a conversion field) and ingests it.
async fn conversion(i: &Ingestor, headers: &HeaderMap, mut fields: Map<String, Value>) -> Result<(), IngestFailure> {
    let token = match fields.remove("token") {
        Some(Value::String(t)) => Some(t),
        _ => None,
    };
    let scope = i.authenticate(
        credentials::presented(headers, token.as_deref()),
        IngestKind::Conversions,
    )?;
    i.ingest_conversion(&fields, &scope).await
}

/// `GET /track?token=…&click_id=…&event=…&value=…&currency=…&transaction_id=…` (a tracker
/// postback).
async fn track_get(
    State(i): State<Ingestor>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> (StatusCode, Json<Value>) {
    let fields: Map<String, Value> = q.into_iter().map(|(k, v)| (k, Value::String(v))).collect();
    respond(conversion(&i, &headers, fields).await)
}

/// `POST /track` (form or JSON) and `POST /v1/actions` (JSON).
async fn track_post(State(i): State<Ingestor>, headers: HeaderMap, body: Bytes) -> (StatusCode, Json<Value>) {
    let form = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    let fields: Result<Map<String, Value>, String> = if form {
        serde_urlencoded::from_bytes::<Vec<(String, String)>>(&body)
            .map(|pairs| pairs.into_iter().map(|(k, v)| (k, Value::String(v))).collect())
            .map_err(|e| e.to_string())
    } else {
        serde_json::from_slice(&body).map_err(|e| e.to_string())
    };
    match fields {
        Ok(f) => respond(conversion(&i, &headers, f).await),
        Err(e) => {
            // Authenticate first: an unauthenticated caller learns nothing about the body.
            if let Err(e) = i.authenticate(credentials::presented(&headers, None), IngestKind::Conversions) {
                return respond(Err(e));
            }
            (
                StatusCode::BAD_REQUEST,
                Json(json!({"error_code": "INVALID_RECORD", "reason": "invalid_body", "description": e})),
            )
        }
    }
}

fn respond(r: Result<(), IngestFailure>) -> (StatusCode, Json<Value>) {
    match r {
        Ok(()) => (StatusCode::ACCEPTED, Json(json!({"accepted": true}))),
        Err(IngestFailure::Invalid(e)) => (
            StatusCode::BAD_REQUEST,
            Json(json!({"error_code": "INVALID_RECORD", "reason": e.reason().as_str(), "description": e.to_string()})),
        ),
        Err(e @ IngestFailure::Unauthorized) => (
            StatusCode::UNAUTHORIZED,
            Json(json!({"error_code": "UNAUTHORIZED", "description": e.to_string()})),
        ),
        Err(IngestFailure::Forbidden(why)) => (
            StatusCode::FORBIDDEN,
            Json(json!({"error_code": "FORBIDDEN", "description": why})),
        ),
        Err(IngestFailure::NotReady) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"error_code": "UNAVAILABLE", "description": "starting up: try again"})),
        ),
        Err(IngestFailure::Produce(e)) => {
            tracing::error!(error = %e, "HTTP ingest could not produce");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({"error_code": "UNAVAILABLE", "description": "try again"})),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every route documents what its credential and the server may answer, and `GET /track`
    /// its query parameters (the conversion fields a tracker fills in).
    #[test]
    fn every_route_documents_every_status_it_answers() {
        let doc = documented().1;
        let mut n = 0;
        for (path, ops) in doc["paths"].as_object().unwrap() {
            for (method, o) in ops.as_object().unwrap() {
                n += 1;
                for status in ["202", "400", "401", "403", "408", "413", "503"] {
                    let example = &o["responses"][status]["content"]["application/json"]["example"];
                    assert!(
                        example["error_code"].is_string() || status == "202",
                        "{method} {path} {status}"
                    );
                }
            }
        }
        assert_eq!(n, 8);
        let params: Vec<&str> = doc["paths"]["/track"]["get"]["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        assert!(params.contains(&"token") && params.contains(&"click_id"), "{params:?}");
    }
}
