//! The auto-disable policy: a named subscription is disabled when its receiver answers
//! `410 Gone` (once), or when every attempt to it has failed for
//! `HOOKLINE_AUTO_DISABLE_AFTER_SECS` (default 5 days).
//!
//! It runs in the api's attempt-log consumer, which sees every attempt record: the api owns
//! configuration writes, so the disable goes through the same write path as a customer's
//! `PATCH {"enabled": false}` ([`AppState::write_workspace`]) and reaches delivery and enrich
//! through the config topic like any change. The failing streak's start is kept in the store
//! (`failing:<endpoint>`, set by the first failed attempt, removed by a delivered one), so it
//! survives api restarts and is shared by api replicas.
//!
//! Only named subscriptions are auto-disabled: the 23 Telecom and SMSEdge references define
//! no disabled state their customers could see or undo, so those keep their documented retry
//! policies. Test sends never count.
//!
//! A disable is announced to the workspace's operational URL, when one is set, as a
//! `webhook.disabled` event ([`hookline_model::WebhookDisabledEvent`]) through the dispatch
//! topic, signed and retried like any webhook.

use crate::error::ApiError;
use crate::state::AppState;
use chrono::{DateTime, Utc};
use hookline_kafka::headers;
use hookline_model::subscription::OPERATIONAL_ID;
use hookline_model::{
    AttemptOutcome, AttemptRecord, Dialect, DisableReason, Disabled, Dispatch, Event, EventData, Subscription,
    WebhookDisabledEvent,
};
use std::collections::HashSet;
use std::sync::Mutex;
use std::time::Duration;

/// The `dialect` label of `hookline_api_config_writes_total` for Hookline's own writes.
const WRITER: &str = "auto_disable";

pub(crate) struct AutoDisable {
    st: AppState,
    /// `None`: the failing-streak rule is off.
    after: Option<Duration>,
    on_gone: bool,
    /// Endpoints whose stored streak may need removing on their next delivered attempt: those
    /// this process saw fail, and (once each) every endpoint, for streaks an earlier process
    /// started. Keeps a delivered attempt from costing a store write every time.
    maybe_failing: Mutex<HashSet<String>>,
    checked: Mutex<HashSet<String>>,
}

impl AutoDisable {
    pub fn new(st: AppState) -> Self {
        let after = (st.cfg.auto_disable_after_secs > 0).then(|| Duration::from_secs(st.cfg.auto_disable_after_secs));
        let on_gone = st.cfg.auto_disable_on_gone;
        Self {
            st,
            after,
            on_gone,
            maybe_failing: Mutex::default(),
            checked: Mutex::default(),
        }
    }

    /// Applies the policy to one attempt. An error is the store's or the config write's: the
    /// caller logs it, and the endpoint's next failed attempt applies the policy again.
    pub async fn observe(&self, rec: &AttemptRecord) -> Result<(), String> {
        if rec.test {
            return Ok(());
        }
        let Some(sub) = self
            .st
            .config
            .read(|c| c.subscription(&rec.workspace_id, &rec.subscription_id))
        else {
            return Ok(());
        };
        if sub.dialect != Dialect::Named || !sub.enabled {
            return Ok(());
        }
        let endpoint = sub.endpoint_key();
        match rec.outcome {
            AttemptOutcome::Skipped => Ok(()),
            AttemptOutcome::Delivered => {
                let stale = self.maybe_failing.lock().expect("lock").remove(&endpoint)
                    || self.checked.lock().expect("lock").insert(endpoint.clone());
                if stale {
                    self.st
                        .store
                        .clear_failing(&endpoint)
                        .await
                        .map_err(|e| e.to_string())?;
                }
                Ok(())
            }
            AttemptOutcome::Failed => {
                let detail = rec.error.clone();
                if self.on_gone && rec.response_code == Some(410) {
                    return self.disable(&sub, DisableReason::Gone, detail, None).await;
                }
                let Some(after) = self.after else { return Ok(()) };
                self.maybe_failing.lock().expect("lock").insert(endpoint.clone());
                // A streak must outlive the window it is measured in, and the quiet gaps
                // between retries (and between events) inside it.
                let keep = after + after.max(Duration::from_secs(24 * 3600));
                let since = self
                    .st
                    .store
                    .failing_since(&endpoint, rec.attempted_at, keep)
                    .await
                    .map_err(|e| e.to_string())?;
                if (rec.attempted_at - since).to_std().unwrap_or_default() >= after {
                    self.disable(&sub, DisableReason::Failing, detail, Some(since)).await?;
                }
                Ok(())
            }
        }
    }

    /// Disables `sub` (unless it already is) and announces it.
    async fn disable(
        &self,
        sub: &Subscription,
        reason: DisableReason,
        detail: Option<String>,
        failing_since: Option<DateTime<Utc>>,
    ) -> Result<(), String> {
        let at = Utc::now();
        let off = Disabled {
            reason,
            at,
            detail: detail.clone(),
        };
        let changed = self
            .st
            .write_workspace(&sub.workspace_id, WRITER, async |mut ws| {
                let Some(mut live) = ws.subscription(&sub.id).cloned().filter(|s| s.enabled) else {
                    // Deleted or already disabled meanwhile: write nothing new.
                    return Err(ApiError::bad_request("UNCHANGED", ""));
                };
                live.set_disabled(Some(off));
                live.touch(at);
                ws.upsert(live);
                ws.version += 1;
                Ok((ws, ()))
            })
            .await;
        match changed {
            Ok(()) => {}
            Err(e) if e.code == "UNCHANGED" => return Ok(()),
            Err(e) => return Err(format!("{}: {}", e.code, e.description)),
        }
        self.st
            .metrics
            .auto_disabled
            .with_label_values(&[reason.as_str()])
            .inc();
        tracing::warn!(
            workspace_id = %sub.workspace_id, subscription_id = %sub.id, reason = reason.as_str(),
            "endpoint auto-disabled"
        );
        let _ = self.st.store.clear_failing(&sub.endpoint_key()).await;
        let event = WebhookDisabledEvent {
            subscription_id: sub.id.clone(),
            name: sub.name.clone(),
            url: sub.url.clone(),
            reason,
            detail,
            failing_since,
        };
        self.announce(&sub.workspace_id, event, at).await
    }

    /// Sends `webhook.disabled` to the workspace's operational URL, if it has one.
    async fn announce(
        &self,
        workspace_id: &str,
        disabled: WebhookDisabledEvent,
        at: DateTime<Utc>,
    ) -> Result<(), String> {
        let Some(ws) = self.st.config.read(|c| c.workspace(workspace_id)) else {
            return Ok(());
        };
        let Some(op) = ws.subscription(OPERATIONAL_ID).filter(|s| s.enabled) else {
            return Ok(());
        };
        let event = Event {
            id: format!("wd_{}_{}", disabled.subscription_id, at.timestamp_millis()),
            workspace_id: workspace_id.to_string(),
            occurred_at: at,
            received_at: at,
            data: EventData::WebhookDisabled(disabled),
        };
        let d = Dispatch::new(event, op, ws.version);
        self.st
            .producer
            .send_json(
                &self.st.topics.dispatch(),
                &d.endpoint_key(),
                &d,
                &[(headers::ATTEMPT, b"1")],
            )
            .await
            .map_err(|e| e.to_string())
    }
}
