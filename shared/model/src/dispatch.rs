//! Records between enrich and delivery, and the attempt log.

use crate::config_log::ConfigState;
use crate::event::{Event, EventKind};
use crate::subscription::Subscription;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One event for one subscription: a record of the dispatch topic, keyed by the
/// subscription's endpoint key. The payload is rendered at delivery time from the
/// subscription's current config, so a field or secret change applies to queued events too.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dispatch {
    /// The webhook id, the same for every attempt ([`crate::ids::dispatch_id`]).
    pub dispatch_id: String,
    pub workspace_id: String,
    pub subscription_id: String,
    pub event: Event,
    /// A test send from the API: one attempt, never retried.
    #[serde(default)]
    pub test: bool,
    /// The subscription as the producer saw it, and the workspace config version it came
    /// from. Delivery uses its live config when that is at least as new, and this snapshot
    /// otherwise, so a subscription created a moment ago is not mistaken for a deleted one
    /// by a delivery replica whose config is a few hundred milliseconds behind.
    pub subscription: Subscription,
    pub config_version: u64,
}

impl Dispatch {
    /// The record that sends `event` to `sub`, with the subscription as of config version
    /// `config_version`; its id is the same for every attempt and every re-send.
    pub fn new(event: Event, sub: &Subscription, config_version: u64) -> Self {
        Self {
            dispatch_id: crate::ids::dispatch_id(&event.id, &sub.id),
            workspace_id: sub.workspace_id.clone(),
            subscription_id: sub.id.clone(),
            event,
            test: false,
            subscription: sub.clone(),
            config_version,
        }
    }

    /// The subscription to deliver with: the live one when the live config is at least as
    /// new as the snapshot (`None` if it was deleted since), else the snapshot.
    pub fn effective_subscription(&self, live: &ConfigState) -> Option<Subscription> {
        match live.workspace(&self.workspace_id) {
            Some(ws) if ws.version >= self.config_version => ws.subscription(&self.subscription_id).cloned(),
            _ => Some(self.subscription.clone()),
        }
    }
}

/// How an attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttemptOutcome {
    /// 2xx within the timeout.
    Delivered,
    /// Anything else: non-2xx, 3xx (never followed), timeout, connection or TLS error.
    Failed,
    /// Not sent: the subscription was removed or disabled, or its URL is now forbidden.
    Skipped,
}

impl AttemptOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Delivered => "delivered",
            Self::Failed => "failed",
            Self::Skipped => "skipped",
        }
    }
}

/// One record of the attempt log (the attempts topic, and what the logs endpoint returns).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttemptRecord {
    pub attempt_id: String,
    pub webhook_id: String,
    pub event_id: String,
    pub event_type: EventKind,
    pub workspace_id: String,
    pub subscription_id: String,
    pub url: String,
    /// 1-based.
    pub attempt: u32,
    pub test: bool,
    pub outcome: AttemptOutcome,
    /// Request headers as sent, minus credentials (`Authorization` is redacted).
    pub request_headers: Vec<(String, String)>,
    pub payload: String,
    #[serde(default)]
    pub response_code: Option<u16>,
    pub response_time_ms: u64,
    /// The start of the response body (at most 1 KiB), for debugging a receiver.
    #[serde(default)]
    pub response_body: Option<String>,
    #[serde(default)]
    pub error: Option<String>,
    pub attempted_at: DateTime<Utc>,
    /// When the next attempt is due, if this one failed and the policy allows another.
    #[serde(default)]
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// This failed attempt was the last the policy allows: the event is in the dead-letter
    /// topic.
    #[serde(default)]
    pub dead_lettered: bool,
}

/// A record of the dead-letter topic: an event whose retry policy is exhausted, with what
/// happened to it. Re-sending replays `dispatch` from attempt 1 with the same webhook id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeadLetter {
    pub dispatch: Dispatch,
    pub attempts: u32,
    pub last_error: String,
    pub dead_at: DateTime<Utc>,
}
