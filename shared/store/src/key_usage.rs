//! When each API key and ingest credential was last used, for the operators' key listings
//! (a key unused for months is a key to revoke).
//!
//! Authentication happens on every request, so the write is throttled: each process records a
//! key at most once per [`KeyUsage::RESOLUTION`], in the background, and a store error only
//! costs the listing its precision, never the request.

use crate::Store;
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Records and reads last-use times; cheap to clone.
#[derive(Clone)]
pub struct KeyUsage {
    store: Store,
    recorded: Arc<Mutex<HashMap<String, Instant>>>,
}

impl KeyUsage {
    /// How stale a listed "last used" may be.
    pub const RESOLUTION: Duration = Duration::from_secs(60);
    /// How long a last-use time is kept after the last use.
    const KEEP: Duration = Duration::from_secs(400 * 24 * 3600);

    pub fn new(store: Store) -> Self {
        Self {
            store,
            recorded: Arc::default(),
        }
    }

    /// Notes that `key_id` was used now (at most once per [`Self::RESOLUTION`] per process).
    pub fn touch(&self, key_id: &str) {
        {
            let mut recorded = self.recorded.lock().expect("key usage lock");
            let now = Instant::now();
            if recorded
                .get(key_id)
                .is_some_and(|at| now.duration_since(*at) < Self::RESOLUTION)
            {
                return;
            }
            recorded.insert(key_id.to_string(), now);
        }
        let store = self.store.clone();
        let key = crate::keys::key_used(key_id);
        tokio::spawn(async move {
            let now = Utc::now().to_rfc3339();
            if let Err(e) = store.set_ex(&key, now.as_bytes(), Self::KEEP).await {
                tracing::debug!(error = %e, "could not record a key's last use");
            }
        });
    }

    /// When `key_id` was last used, as far as the store knows.
    pub async fn last_used(&self, key_id: &str) -> Option<DateTime<Utc>> {
        let raw = self.store.get(&crate::keys::key_used(key_id)).await.ok()??;
        DateTime::parse_from_rfc3339(&String::from_utf8_lossy(&raw))
            .ok()
            .map(|t| t.with_timezone(&Utc))
    }
}
