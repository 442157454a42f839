//! The HTTP edge: the same two inputs as the Kafka topics, for sources that push over HTTP
//! (carrier DLR callbacks, or a newcomer trying Hookline without a Kafka client).
//!
//! `POST /v1/messages` takes an accepted-message JSON object; `POST /v1/dlr` a DLR as JSON or
//! SMPP receipt text; `POST /v1/clicks` a click; `GET`/`POST /track` and `POST /v1/actions` a
//! conversion. `202` once the record is on its topic; `400` with
//! `{"error_code": "INVALID_RECORD", "reason": ...}` when it does not validate; `503` when
//! Kafka cannot take it (the caller should retry).

use crate::{IngestFailure, Ingestor, InputKind};
use axum::body::Bytes;
use axum::extract::Query;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use hookline_telemetry::{serve_http, HttpServer};
use serde_json::Map;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::net::SocketAddr;
use tokio_util::sync::CancellationToken;

pub async fn serve(addr: SocketAddr, ingestor: Ingestor, shutdown: CancellationToken) -> std::io::Result<HttpServer> {
    let app = Router::new()
        .route("/v1/messages", post(messages))
        .route("/v1/dlr", post(dlr))
        .route("/v1/clicks", post(clicks))
        .route("/v1/inbound", post(inbound))
        .route("/track", get(track_get).post(track_post))
        .route("/v1/actions", post(track_post))
        .with_state(ingestor);
    serve_http(addr, app, shutdown).await
}

async fn messages(State(i): State<Ingestor>, body: Bytes) -> (StatusCode, Json<Value>) {
    respond(i.ingest(InputKind::AcceptedMessage, &body).await)
}

async fn dlr(State(i): State<Ingestor>, body: Bytes) -> (StatusCode, Json<Value>) {
    respond(i.ingest(InputKind::CarrierDlr, &body).await)
}

async fn inbound(State(i): State<Ingestor>, body: Bytes) -> (StatusCode, Json<Value>) {
    respond(i.ingest(InputKind::Inbound, &body).await)
}

async fn clicks(State(i): State<Ingestor>, body: Bytes) -> (StatusCode, Json<Value>) {
    respond(i.ingest(InputKind::Click, &body).await)
}

/// `GET /track?click_id=…&event=…&value=…&currency=…&transaction_id=…` (a tracker postback).
async fn track_get(State(i): State<Ingestor>, Query(q): Query<HashMap<String, String>>) -> (StatusCode, Json<Value>) {
    let fields: Map<String, Value> = q.into_iter().map(|(k, v)| (k, Value::String(v))).collect();
    respond(i.ingest_conversion(&fields).await)
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
        Ok(f) => respond(i.ingest_conversion(&f).await),
        Err(e) => (
            StatusCode::BAD_REQUEST,
            Json(json!({"error_code": "INVALID_RECORD", "reason": "invalid_body", "description": e})),
        ),
    }
}

fn respond(r: Result<(), IngestFailure>) -> (StatusCode, Json<Value>) {
    match r {
        Ok(()) => (StatusCode::ACCEPTED, Json(json!({"accepted": true}))),
        Err(IngestFailure::Invalid(e)) => (
            StatusCode::BAD_REQUEST,
            Json(json!({"error_code": "INVALID_RECORD", "reason": e.reason(), "description": e.to_string()})),
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
