//! The control plane: webhook configuration in three dialects, API keys, test sends and
//! attempt logs.
//!
//! # Endpoints
//!
//! - `PUT`/`GET /api/v1/user/webhooks`: the 23 Telecom dialect ([`telecom23`]).
//! - `POST /api/v1/user/webhooks/test`: a sample event through the real delivery path
//!   ([`test_send`]).
//! - `GET /api/v1/user/webhooks/logs`: the caller's latest attempts ([`logs`]);
//!   `GET /api/v1/user/webhooks/dead-letters` and the operators' re-send ([`dead_letters`]).
//! - `/api/v1/webhooks[/{id}]`: the named-subscription dialect ([`named`]).
//! - `POST /v1/user/set-webhook`, `GET /v1/user/get-webhook`, `POST /v1/user/test-webhook`:
//!   the SMSEdge dialect ([`smsedge`]).
//! - `/admin/v1/api-keys`, `/admin/v1/ingest-keys`: operator-only creation, listing and
//!   revocation of API keys and ingest credentials ([`admin`]).
//!
//! # Where the code is
//!
//! - [`server`]: [`start`] (the HTTP server and the attempt-log consumer) and [`router`].
//! - [`routes`]: every route with its OpenAPI description, in one table.
//! - [`state`]: [`AppState`], and the one sequence every configuration write goes through
//!   (authenticate, lock, read the workspace, apply, save, count).
//! - One module per dialect ([`telecom23`], [`smsedge`], [`named`]): its handlers, its
//!   request validation (in the documented error order) and its views.
//! - Shared by the dialects: [`auth`] (`X-API-Key`), [`error`] (the error body), `validate`
//!   (JSON bodies, URLs, `?limit=`).
//! - `attempt_log`: the consumer that copies attempts and dead letters into the store, and
//!   applies `auto_disable` (the endpoint auto-disable policy) to each attempt.
//! - [`operational`]: the workspace's operational URL (Hookline's own notices).
//! - [`replay`]: a named subscription's events of a time window, sent again from the dispatch
//!   topic's history.
//! - [`config`]: the settings ([`ApiConfig`]); `metrics`: the API's Prometheus metrics.
//! - [`rate_limit`]: per-credential budgets of the expensive routes (`429 RATE_LIMITED`).
//!
//! Configuration is written to the compacted config topic and applied locally at once, so a
//! `GET` after a `PUT` sees the change; enrich and delivery follow the topic within a second.
//! The API also consumes the attempts topic into the store, which backs the logs endpoint.

pub mod account;
pub mod admin;
pub mod admin_throttle;
mod attempt_log;
pub mod auth;
mod auto_disable;
pub mod config;
pub mod dead_letters;
pub mod error;
pub mod logs;
mod metrics;
pub mod named;
pub mod operational;
pub mod operator;
pub mod portal;
pub mod rate_limit;
pub mod replay;
pub mod routes;
pub mod server;
pub mod smsedge;
pub mod state;
pub mod telecom23;
pub mod test_send;
mod validate;

pub use config::ApiConfig;
pub use server::{router, start, ApiStartError, Running};
pub use state::AppState;
