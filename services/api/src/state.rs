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
        let mut stale = false;
        let result = async {
            for _ in 0..WRITE_ATTEMPTS {
                let (updated, out) = apply.clone()(self.workspace(workspace_id)).await?;
                match self.put_and_read_back(&updated).await? {
                    Applied::InForce => {
                        self.metrics.config_writes.with_label_values(&[dialect]).inc();
                        return Ok(out);
                    }
                    Applied::Stale => {
                        stale = true;
                        self.metrics.config_write_conflicts.with_label_values(&[dialect]).inc();
                        tracing::info!(workspace_id, "config write raced another replica's; writing again");
                        conflict_pause().await;
                    }
                }
            }
            Err(ApiError::unavailable(
                "the workspace's configuration kept changing under this write; try again",
            ))
        }
        .await;
        if stale && result.is_err() {
            self.reassert(workspace_id, dialect).await;
        }
        result
    }

    /// Writes `ws` and waits until this process has read it back: in force, or stale.
    async fn put_and_read_back(&self, ws: &WorkspaceConfig) -> Result<Applied, ApiError> {
        let at = self.writer.put_workspace(ws).await.map_err(ApiError::unavailable)?;
        self.applied(at).await
    }

    /// After a stale record of ours, ends the workspace's history in the topic with a record
    /// in force: compaction keeps each key's *last* record, in force or not, so a stale one
    /// left last would come back as the workspace's config when a process next replays the
    /// compacted topic. The config in force, written again one version up, is that record
    /// (a no-op for every reader). Nothing to do once one of our own writes got in force after
    /// the stale one (then it is later); this runs when the write gave up instead (a refusal on
    /// the newer config, such as the subscription limit, or too many races).
    async fn reassert(&self, workspace_id: &str, dialect: &'static str) {
        for _ in 0..WRITE_ATTEMPTS {
            let mut ws = self.workspace(workspace_id);
            ws.version += 1;
            match self.put_and_read_back(&ws).await {
                Ok(Applied::InForce) => {
                    self.metrics.config_reasserts.with_label_values::<&str>(&[]).inc();
                    return;
                }
                Ok(Applied::Stale) => {
                    self.metrics.config_write_conflicts.with_label_values(&[dialect]).inc();
                    conflict_pause().await
                }
                Err(_) => break,
            }
        }
        tracing::error!(
            workspace_id,
            "could not write the config in force after a stale write; the next write of this workspace ends its history"
        );
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

/// A random pause after losing a race, so two replicas that keep racing stop meeting in step.
async fn conflict_pause() {
    let pause = rand::random::<u64>() % (CONFLICT_JITTER_MS + 1);
    tokio::time::sleep(Duration::from_millis(pause)).await;
}

/// How long a write waits to be read back before answering `503`: well under the request
/// timeout, so the caller gets this answer rather than a `408`. Either may come for a write
/// that still takes effect later (the broker had it): a client retrying a create should list
/// first.
const APPLY_TIMEOUT: Duration = Duration::from_secs(10);
