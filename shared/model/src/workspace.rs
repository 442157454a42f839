//! A workspace's webhook configuration: its subscriptions, plus the dialect settings that are
//! not a subscription of their own.

use crate::event::EventKind;
use crate::subscription::{Dialect, SealedSecret, Subscription};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The whole configuration of one workspace; one record in the config topic.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WorkspaceConfig {
    pub workspace_id: String,
    #[serde(default)]
    pub subscriptions: Vec<Subscription>,
    #[serde(default)]
    pub telecom23: Telecom23Settings,
    #[serde(default)]
    pub smsedge: SmsEdgeSettings,
    /// Incremented on every write; lets a reader tell an old record from a new one.
    #[serde(default)]
    pub version: u64,
}

/// 23 Telecom settings that outlive a disabled channel: the signing secret, the click toggle
/// and the chosen fields are kept while a URL is `null`, as the reference's partial-update
/// semantics imply.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Telecom23Settings {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signing_secret: Option<SealedSecret>,
    #[serde(default)]
    pub unique_clicks_only: bool,
    /// Chosen fields per kind; kinds not present use the defaults.
    #[serde(default)]
    pub fields: BTreeMap<EventKind, Vec<String>>,
}

/// SMSEdge settings that outlive a cleared URL: the DLR webhook's Basic auth credentials.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SmsEdgeSettings {
    /// `user:pass`, sealed like a signing secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub basic_auth: Option<SealedSecret>,
}

impl WorkspaceConfig {
    pub fn new(workspace_id: impl Into<String>) -> Self {
        Self {
            workspace_id: workspace_id.into(),
            ..Default::default()
        }
    }

    pub fn subscription(&self, id: &str) -> Option<&Subscription> {
        self.subscriptions.iter().find(|s| s.id == id)
    }

    /// Subscriptions managed by one dialect.
    pub fn by_dialect(&self, dialect: Dialect) -> impl Iterator<Item = &Subscription> {
        self.subscriptions.iter().filter(move |s| s.dialect == dialect)
    }

    /// Inserts or replaces the subscription with the same id.
    pub fn upsert(&mut self, sub: Subscription) {
        match self.subscriptions.iter_mut().find(|s| s.id == sub.id) {
            Some(slot) => *slot = sub,
            None => self.subscriptions.push(sub),
        }
    }

    pub fn remove(&mut self, id: &str) {
        self.subscriptions.retain(|s| s.id != id);
    }

    /// Applies a dialect's change to one of its per-channel subscriptions (`id`): `Some(url)`
    /// sets the URL, `Some(None)` removes the subscription, `None` keeps the current URL. A
    /// kept or set subscription is rebuilt with `build`, so it reflects the dialect's current
    /// settings (secret, credentials, fields).
    pub fn apply_channel(
        &mut self,
        id: &str,
        change: Option<Option<String>>,
        build: impl FnOnce(&Self, String) -> Subscription,
    ) {
        let url = match change {
            Some(new) => new,
            None => self.subscription(id).map(|s| s.url.clone()),
        };
        match url {
            Some(url) => {
                let sub = build(self, url);
                self.upsert(sub);
            }
            None => self.remove(id),
        }
    }
}
