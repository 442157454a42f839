//! The HTTP edge: the same two inputs as the Kafka topics, for sources that push over HTTP
//! (carrier DLR callbacks, or a newcomer trying Hookline without a Kafka client).
//!
//! `POST /v1/messages` takes an accepted-message JSON object; `POST /v1/dlr` a DLR as JSON or
//! SMPP receipt text. `202` once the record is on its topic; `400` with
//! `{"error_code": "INVALID_RECORD", "reason": ...}` when it does not validate; `503` when
//! Kafka cannot take it (the caller should retry).

use crate::{IngestFailure, Ingestor, InputKind};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use hookline_telemetry::{serve_http, HttpServer};
use serde_json::{json, Value};
use std::net::SocketAddr;
use tokio_util::sync::CancellationToken;

pub async fn serve(addr: SocketAddr, ingestor: Ingestor, shutdown: CancellationToken) -> std::io::Result<HttpServer> {
    let app = Router::new()
        .route("/v1/messages", post(messages))
        .route("/v1/dlr", post(dlr))
        .with_state(ingestor);
    serve_http(addr, app, shutdown).await
}

async fn messages(State(i): State<Ingestor>, body: Bytes) -> (StatusCode, Json<Value>) {
    respond(i.ingest(InputKind::AcceptedMessage, &body).await)
}

async fn dlr(State(i): State<Ingestor>, body: Bytes) -> (StatusCode, Json<Value>) {
    respond(i.ingest(InputKind::CarrierDlr, &body).await)
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
