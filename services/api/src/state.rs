//! [`AppState`], shared by every handler, and the two ways a handler reaches the caller's
//! workspace: `AppState::caller_workspace` to read it, `AppState::update_workspace` to
//! change it.

use crate::config::ApiConfig;
use crate::error::ApiError;
use crate::metrics::Metrics;
use axum::http::HeaderMap;
use hookline_config::Topics;
use hookline_kafka::config_log::Position;
use hookline_kafka::{ConfigHandle, ConfigWriter, Producer};
use hookline_model::{ApiKeyRecord, Applied, Permission, WorkspaceConfig};
use hookline_security::{Sealer, UrlPolicy};
use hookline_store::{KeyUsage, Store};
use std::sync::Arc;
use std::time::Duration;

/// Shared by every handler.
#[derive(Clone)]
pub struct AppState {
    pub config: ConfigHandle,
    pub(crate) writer: ConfigWriter,
    pub(crate) producer: Producer,
    pub(crate) topics: Topics,
    /// For clients besides the shared producer (the replay's history scan).
    pub(crate) kafka: hookline_kafka::KafkaSettings,
    pub(crate) store: Store,
    /// Last use of API keys and ingest credentials, for the operators' listings.
    pub(crate) usage: KeyUsage,
    pub(crate) sealer: Sealer,
    pub(crate) policy: UrlPolicy,
    /// Serialises read-modify-write of workspace configs within this process, so its own
    /// writes never conflict. Across API replicas the topic's order decides, and a write
    /// found stale there is made again ([`AppState::write_workspace`]).
    pub(crate) write_lock: Arc<tokio::sync::Mutex<()>>,
    pub(crate) cfg: ApiConfig,
    pub(crate) metrics: Arc<Metrics>,
    /// Per-credential budgets of the expensive routes.
    pub(crate) limits: Arc<crate::rate_limit::Limits>,
}

impl AppState {
    /// The caller's API key, once it is shown to have `needs` ([`crate::auth`]).
    pub(crate) fn authenticate(&self, headers: &HeaderMap, needs: Permission) -> Result<ApiKeyRecord, ApiError> {
        crate::auth::authenticate(&self.config, &self.usage, headers, needs)
    }

    /// The workspace config `id`, or an empty one.
    pub(crate) fn workspace(&self, id: &str) -> WorkspaceConfig {
        self.config
            .read(|c| c.workspace(id))
            .map(|w| (*w).clone())
            .unwrap_or_else(|| WorkspaceConfig::new(id))
    }

    /// The caller's workspace config, once its key is shown to have `needs`.
    pub(crate) fn caller_workspace(&self, headers: &HeaderMap, needs: Permission) -> Result<WorkspaceConfig, ApiError> {
        let key = self.authenticate(headers, needs)?;
        Ok(self.workspace(&key.workspace_id))
    }

    /// Every configuration write of every dialect: authenticates the caller for
    /// `webhooks.write`, takes the write lock, reads the caller's workspace, `apply`s the
    /// request to it (a refusal changes nothing), saves the result and counts it in
    /// `hookline_api_config_writes_total{dialect}`. Returns what `apply` made besides the
    /// config (the response body).
    pub(crate) async fn update_workspace<T>(
        &self,
        headers: &HeaderMap,
        dialect: &'static str,
        apply: impl AsyncFnOnce(WorkspaceConfig) -> Result<(WorkspaceConfig, T), ApiError> + Clone,
    ) -> Result<T, ApiError> {
        let key = self.authenticate(headers, Permission::WebhooksWrite)?;
        self.write_workspace(&key.workspace_id, dialect, apply).await
    }

    /// The write path of [`AppState::update_workspace`] without a caller: Hookline's own
    /// changes (auto-disable) go through the same lock, save and count (`dialect` names the
    /// writer).
    ///
    /// `apply` validates against the config in force (limits such as the 50 subscriptions
    /// included) and returns the next version. The write is acknowledged only once it is in
    /// force in the topic's order ([`ConfigHandle::wait_applied`]); if another API replica's
    /// write got there first, ours is stale, and `apply` runs again on the newer config (which
    /// may now refuse it) — at most [`WRITE_ATTEMPTS`] times, then `503`.
    ///
    /// [`ConfigHandle::wait_applied`]: hookline_kafka::ConfigHandle::wait_applied
    pub(crate) async fn write_workspace<T>(
        &self,
        workspace_id: &str,
        dialect: &'static str,
        apply: impl AsyncFnOnce(WorkspaceConfig) -> Result<(WorkspaceConfig, T), ApiError> + Clone,
    ) -> Result<T, ApiError> {
        let _guard = self.write_lock.lock().await;
        for _ in 0..WRITE_ATTEMPTS {
            let (updated, out) = apply.clone()(self.workspace(workspace_id)).await?;
            let at = self
                .writer
                .put_workspace(&updated)
                .await
                .map_err(ApiError::unavailable)?;
            match self.applied(at).await? {
                Applied::InForce => {
                    self.metrics.config_writes.with_label_values(&[dialect]).inc();
                    return Ok(out);
                }
                Applied::Stale => {
                    self.metrics.config_write_conflicts.with_label_values(&[dialect]).inc();
                    tracing::info!(workspace_id, "config write raced another replica's; writing again");
                    // A random pause, so two replicas that keep racing stop meeting in step.
                    let pause = rand::random::<u64>() % (CONFLICT_JITTER_MS + 1);
                    tokio::time::sleep(Duration::from_millis(pause)).await;
                }
            }
        }
        Err(ApiError::unavailable(
            "the workspace's configuration kept changing under this write; try again",
        ))
    }

    /// Waits until this process's config follower has read the record written at `at`: a
    /// write is answered only once what it changed is readable here, in the topic's order.
    pub(crate) async fn applied(&self, at: Position) -> Result<Applied, ApiError> {
        self.config
            .wait_applied(at, APPLY_TIMEOUT)
            .await
            .ok_or_else(|| ApiError::unavailable("the configuration write is not readable back yet; try again"))
    }
}

/// How often one write is made again when other replicas' writes keep getting there first:
/// each race is about even, so losing this many in a row does not happen in practice.
pub(crate) const WRITE_ATTEMPTS: usize = 32;

/// The most a write waits after losing a race before it is made again.
const CONFLICT_JITTER_MS: u64 = 10;

/// How long a write waits to be read back before answering `503`.
const APPLY_TIMEOUT: Duration = Duration::from_secs(30);
