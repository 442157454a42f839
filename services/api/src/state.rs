//! [`AppState`], shared by every handler, and the two ways a handler reaches the caller's
//! workspace: `AppState::caller_workspace` to read it, `AppState::update_workspace` to
//! change it.

use crate::config::ApiConfig;
use crate::error::ApiError;
use crate::metrics::Metrics;
use axum::http::HeaderMap;
use hookline_config::Topics;
use hookline_kafka::{ConfigHandle, ConfigWriter, Producer};
use hookline_model::{ApiKeyRecord, Permission, WorkspaceConfig};
use hookline_security::{Sealer, UrlPolicy};
use hookline_store::{KeyUsage, Store};
use std::sync::Arc;

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
    /// Serialises read-modify-write of workspace configs within this process. Across API
    /// replicas the last write wins.
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
        apply: impl AsyncFnOnce(WorkspaceConfig) -> Result<(WorkspaceConfig, T), ApiError>,
    ) -> Result<T, ApiError> {
        let key = self.authenticate(headers, Permission::WebhooksWrite)?;
        self.write_workspace(&key.workspace_id, dialect, apply).await
    }

    /// The write path of [`AppState::update_workspace`] without a caller: Hookline's own
    /// changes (auto-disable) go through the same lock, save and count (`dialect` names the
    /// writer).
    pub(crate) async fn write_workspace<T>(
        &self,
        workspace_id: &str,
        dialect: &'static str,
        apply: impl AsyncFnOnce(WorkspaceConfig) -> Result<(WorkspaceConfig, T), ApiError>,
    ) -> Result<T, ApiError> {
        let _guard = self.write_lock.lock().await;
        let (updated, out) = apply(self.workspace(workspace_id)).await?;
        self.save(&updated).await?;
        self.metrics.config_writes.with_label_values(&[dialect]).inc();
        Ok(out)
    }

    /// Writes a workspace config durably and applies it locally.
    async fn save(&self, ws: &WorkspaceConfig) -> Result<(), ApiError> {
        let (key, value) = self.writer.put_workspace(ws).await.map_err(ApiError::unavailable)?;
        self.config.apply_local(&key, Some(&value));
        Ok(())
    }
}
