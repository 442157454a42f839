//! The config topic's record format and the in-memory state every service folds it into.
//!
//! The topic is compacted and keyed: `workspace:<id>` holds a [`WorkspaceConfig`],
//! `api_key:<sha256>` an [`ApiKeyRecord`], `ingest_key:<sha256>` an [`IngestKeyRecord`]. A record with no value (tombstone) deletes the key.
//! Replaying the topic from the beginning rebuilds the state exactly, which is what makes the
//! configuration survive a restart of every Hookline process.

use crate::apikey::ApiKeyRecord;
use crate::event::Event;
use crate::ingest_key::IngestKeyRecord;
use crate::subscription::Subscription;
use crate::workspace::WorkspaceConfig;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// A config topic key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigKey {
    Workspace(String),
    ApiKey(String),
    IngestKey(String),
}

impl ConfigKey {
    pub fn parse(raw: &str) -> Option<Self> {
        if let Some(id) = raw.strip_prefix("workspace:") {
            Some(Self::Workspace(id.to_string()))
        } else if let Some(h) = raw.strip_prefix("api_key:") {
            Some(Self::ApiKey(h.to_string()))
        } else {
            raw.strip_prefix("ingest_key:").map(|h| Self::IngestKey(h.to_string()))
        }
    }

    pub fn render(&self) -> String {
        match self {
            Self::Workspace(id) => format!("workspace:{id}"),
            Self::ApiKey(h) => format!("api_key:{h}"),
            Self::IngestKey(h) => format!("ingest_key:{h}"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigRecordError {
    #[error("config record key `{0}` is not `workspace:<id>`, `api_key:<hash>` or `ingest_key:<hash>`")]
    BadKey(String),
    #[error("config record `{key}` does not decode: {source}")]
    BadValue { key: String, source: serde_json::Error },
}

/// Everything the config topic says, indexed for the lookups the services make.
#[derive(Debug, Default, Clone)]
pub struct ConfigState {
    workspaces: HashMap<String, Arc<WorkspaceConfig>>,
    /// Workspaces deleted by a tombstone and not written since.
    deleted: HashSet<String>,
    api_keys: HashMap<String, ApiKeyRecord>,
    ingest_keys: HashMap<String, IngestKeyRecord>,
}

/// What [`ConfigState::apply`] did with a record that decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// The record is now in force for its key.
    InForce,
    /// A workspace record whose `version` is not above the one in force: it was written from
    /// a config that another write had already changed (two API replicas, or two requests,
    /// read the same version), so it is ignored everywhere. The API sees this for its own
    /// write and does the write again on the newer config, so no acknowledged change is lost.
    Stale,
}

impl ConfigState {
    /// Applies one record. A record that does not decode is an error for the caller to log
    /// and skip; it leaves the state unchanged.
    ///
    /// Workspace records are applied in topic order with a version check: a record must carry
    /// a higher `version` than the config in force (any version after a tombstone, or for a
    /// workspace not seen yet), else it is [`Applied::Stale`]. Every follower reads the same
    /// topic order, so every process ignores the same records and holds the same config.
    pub fn apply(&mut self, key: &str, value: Option<&[u8]>) -> Result<Applied, ConfigRecordError> {
        let parsed = ConfigKey::parse(key).ok_or_else(|| ConfigRecordError::BadKey(key.to_string()))?;
        let bad = |source| ConfigRecordError::BadValue {
            key: key.to_string(),
            source,
        };
        match (parsed, value) {
            (ConfigKey::Workspace(id), None) => {
                self.workspaces.remove(&id);
                self.deleted.insert(id);
            }
            (ConfigKey::Workspace(id), Some(v)) => {
                let ws: WorkspaceConfig = serde_json::from_slice(v).map_err(bad)?;
                if self.workspaces.get(&id).is_some_and(|cur| ws.version <= cur.version) {
                    return Ok(Applied::Stale);
                }
                self.deleted.remove(&id);
                self.workspaces.insert(id, Arc::new(ws));
            }
            (ConfigKey::ApiKey(h), None) => {
                self.api_keys.remove(&h);
            }
            (ConfigKey::ApiKey(h), Some(v)) => {
                let rec: ApiKeyRecord = serde_json::from_slice(v).map_err(bad)?;
                self.api_keys.insert(h, rec);
            }
            (ConfigKey::IngestKey(h), None) => {
                self.ingest_keys.remove(&h);
            }
            (ConfigKey::IngestKey(h), Some(v)) => {
                let rec: IngestKeyRecord = serde_json::from_slice(v).map_err(bad)?;
                self.ingest_keys.insert(h, rec);
            }
        }
        Ok(Applied::InForce)
    }

    pub fn workspace(&self, id: &str) -> Option<Arc<WorkspaceConfig>> {
        self.workspaces.get(id).cloned()
    }

    /// Every workspace with a config, by id.
    pub fn workspaces(&self) -> Vec<Arc<WorkspaceConfig>> {
        let mut all: Vec<_> = self.workspaces.values().cloned().collect();
        all.sort_by(|a, b| a.workspace_id.cmp(&b.workspace_id));
        all
    }

    /// The version of a workspace's config here: `Some(0)` before its first record arrived,
    /// `None` after a tombstone deleted it (then every record about it is older than the
    /// deletion). Delivery compares it with a dispatch record's `config_version`.
    pub fn workspace_version(&self, id: &str) -> Option<u64> {
        match self.workspaces.get(id) {
            Some(ws) => Some(ws.version),
            None if self.deleted.contains(id) => None,
            None => Some(0),
        }
    }

    /// The key with public id `key_id` (what an operator revokes by).
    pub fn api_key_by_id(&self, key_id: &str) -> Option<&ApiKeyRecord> {
        self.api_keys.values().find(|k| k.key_id == key_id)
    }

    pub fn api_key(&self, hash: &str) -> Option<&ApiKeyRecord> {
        self.api_keys.get(hash)
    }

    /// Every live API key, oldest first (for listings: records, never keys).
    pub fn api_keys(&self) -> Vec<&ApiKeyRecord> {
        let mut v: Vec<_> = self.api_keys.values().collect();
        v.sort_by(|a, b| (a.created_at, &a.key_id).cmp(&(b.created_at, &b.key_id)));
        v
    }

    pub fn ingest_key(&self, hash: &str) -> Option<&IngestKeyRecord> {
        self.ingest_keys.get(hash)
    }

    pub fn ingest_key_by_id(&self, key_id: &str) -> Option<&IngestKeyRecord> {
        self.ingest_keys.values().find(|k| k.key_id == key_id)
    }

    /// Every live ingest credential, oldest first.
    pub fn ingest_keys(&self) -> Vec<&IngestKeyRecord> {
        let mut v: Vec<_> = self.ingest_keys.values().collect();
        v.sort_by(|a, b| (a.created_at, &a.key_id).cmp(&(b.created_at, &b.key_id)));
        v
    }

    pub fn subscription(&self, workspace_id: &str, subscription_id: &str) -> Option<Subscription> {
        self.workspaces
            .get(workspace_id)?
            .subscription(subscription_id)
            .cloned()
    }

    /// Subscriptions that want this event (kind, filters; disabled ones too, see
    /// [`Subscription::wants`]), and the version of the
    /// workspace config they come from.
    pub fn matching(&self, event: &Event) -> (u64, Vec<Subscription>) {
        self.workspaces
            .get(&event.workspace_id)
            .map(|ws| {
                (
                    ws.version,
                    ws.subscriptions.iter().filter(|s| s.wants(event)).cloned().collect(),
                )
            })
            .unwrap_or_default()
    }

    pub fn workspace_count(&self) -> usize {
        self.workspaces.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replay_and_tombstone() {
        let mut st = ConfigState::default();
        let ws = WorkspaceConfig::new("w1");
        st.apply("workspace:w1", Some(&serde_json::to_vec(&ws).unwrap()))
            .unwrap();
        assert!(st.workspace("w1").is_some());
        assert_eq!(st.workspace_version("w1"), Some(0));
        st.apply("workspace:w1", None).unwrap();
        assert!(st.workspace("w1").is_none());
        assert_eq!(st.workspace_version("w1"), None, "deleted");
        assert_eq!(st.workspace_version("never"), Some(0), "not written yet");
        assert!(matches!(st.apply("nope", None), Err(ConfigRecordError::BadKey(_))));
        assert!(matches!(
            st.apply("workspace:w2", Some(b"{not json")),
            Err(ConfigRecordError::BadValue { .. })
        ));
        assert_eq!(st.workspace_count(), 0);
    }

    fn version(v: u64) -> Vec<u8> {
        let mut ws = WorkspaceConfig::new("w1");
        ws.version = v;
        serde_json::to_vec(&ws).unwrap()
    }

    /// Two writers read version 1 and both wrote version 2: the first in topic order is in
    /// force, the second is stale, and an older record read late changes nothing.
    #[test]
    fn workspace_records_apply_in_version_order() {
        let mut st = ConfigState::default();
        assert_eq!(st.apply("workspace:w1", Some(&version(1))).unwrap(), Applied::InForce);
        assert_eq!(st.apply("workspace:w1", Some(&version(2))).unwrap(), Applied::InForce);
        assert_eq!(st.apply("workspace:w1", Some(&version(2))).unwrap(), Applied::Stale);
        assert_eq!(st.apply("workspace:w1", Some(&version(1))).unwrap(), Applied::Stale);
        assert_eq!(st.workspace_version("w1"), Some(2));
        // After a tombstone, the workspace starts again from any version.
        st.apply("workspace:w1", None).unwrap();
        assert_eq!(st.apply("workspace:w1", Some(&version(1))).unwrap(), Applied::InForce);
        assert_eq!(st.workspace_version("w1"), Some(1));
    }
}
