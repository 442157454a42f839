//! Records between enrich and delivery, and the attempt log.

use crate::config_log::ConfigState;
use crate::event::{Event, EventKind};
use crate::subscription::Subscription;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One event for one subscription: a record of the dispatch topic (and of the retry tiers),
/// keyed by the subscription's endpoint key.
///
/// It names the subscription (`subscription_id`) and the workspace config version the
/// producer saw (`config_version`), never a copy of the subscription: its URL, signing secret
/// and Basic-auth credentials live only in the config topic (sealed) and in delivery's memory,
/// so the dispatch, retry and dead-letter topics and the Redis dead-letter list hold no secret.
/// Delivery renders and signs at attempt time from its live config, so a field or secret
/// change applies to queued events and pending retries too.
///
/// Records written before this format carried the whole subscription in a `subscription`
/// field; serde ignores it on decode, and delivery re-encodes a record (without it) whenever
/// it writes one to a retry tier or the dead-letter topic.
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
    /// A replay (`POST /api/v1/webhooks/{id}/replay`): an event already dispatched, sent again
    /// with its webhook id and `X-Webhook-Replay: true`. Replays are never replayed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub replay: bool,
    /// The version of the workspace config the producer matched the subscription in. A
    /// delivery replica whose config is older waits for this version instead of taking a
    /// subscription created a moment ago for a deleted one (see [`Dispatch::resolve`]).
    #[serde(default)]
    pub config_version: u64,
}

/// What a delivery process's live config says about a record's subscription.
#[derive(Debug, Clone, PartialEq)]
pub enum Resolved {
    /// The live config is at least as new as the record: here is the subscription.
    Found(Box<Subscription>),
    /// The live config is at least as new as the record and the subscription is not in it
    /// (deleted since, or its workspace was deleted).
    Gone,
    /// The live config of the workspace (`live`, 0 when it has none yet) is older than the
    /// record's `config_version`: the subscription may simply not have arrived yet.
    Behind { live: u64 },
}

impl Dispatch {
    /// The record that sends `event` to `sub`, matched in workspace config version
    /// `config_version`; its id is the same for every attempt and every re-send.
    pub fn new(event: Event, sub: &Subscription, config_version: u64) -> Self {
        Self {
            dispatch_id: crate::ids::dispatch_id(&event.id, &sub.id),
            workspace_id: sub.workspace_id.clone(),
            subscription_id: sub.id.clone(),
            event,
            test: false,
            replay: false,
            config_version,
        }
    }

    /// The Kafka key of the record: its subscription's [`Subscription::endpoint_key`].
    pub fn endpoint_key(&self) -> String {
        crate::subscription::endpoint_key(&self.workspace_id, &self.subscription_id)
    }

    /// The subscription to deliver with, from the live config.
    pub fn resolve(&self, live: &ConfigState) -> Resolved {
        match live.workspace_version(&self.workspace_id) {
            Some(v) if v >= self.config_version => live
                .subscription(&self.workspace_id, &self.subscription_id)
                .map_or(Resolved::Gone, |s| Resolved::Found(Box::new(s))),
            Some(v) => Resolved::Behind { live: v },
            None => Resolved::Gone,
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
    /// The rate (requests per second) delivery was holding this endpoint to when it made the
    /// attempt, when it was throttling it below the configured limit; shown by the stats
    /// endpoint as the subscription's current state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub throttled_rate_per_sec: Option<u32>,
    /// Which of its subscription's URLs `url` is, `"primary"` or `"failover"`
    /// ([`URL_KIND_PRIMARY`], [`URL_KIND_FAILOVER`]): set on every attempt of a subscription
    /// that has a failover URL, `None` otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url_kind: Option<String>,
    /// The batch request this event went in (its `X-Webhook-Id`), for a subscription with
    /// batching; `None` for an event sent alone. Every event of a batch shares its response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_id: Option<String>,
    /// The number of events in that batch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_size: Option<u32>,
}

/// [`AttemptRecord::url_kind`] of an attempt to the subscription's `url`.
pub const URL_KIND_PRIMARY: &str = "primary";
/// [`AttemptRecord::url_kind`] of an attempt to the subscription's `failover_url`.
pub const URL_KIND_FAILOVER: &str = "failover";

impl AttemptRecord {
    /// The record of attempt `attempt` (1-based) of `d` to `url`, made now, with `outcome`:
    /// no request headers, payload, response or error yet; the caller fills in what happened.
    pub fn new(d: &Dispatch, attempt: u32, url: String, outcome: AttemptOutcome) -> Self {
        Self {
            attempt_id: format!("{}.{attempt}", d.dispatch_id),
            webhook_id: d.dispatch_id.clone(),
            event_id: d.event.id.clone(),
            event_type: d.event.kind(),
            workspace_id: d.workspace_id.clone(),
            subscription_id: d.subscription_id.clone(),
            url,
            attempt,
            test: d.test,
            outcome,
            request_headers: vec![],
            payload: String::new(),
            response_code: None,
            response_time_ms: 0,
            response_body: None,
            error: None,
            attempted_at: Utc::now(),
            next_attempt_at: None,
            dead_lettered: false,
            throttled_rate_per_sec: None,
            url_kind: None,
            batch_id: None,
            batch_size: None,
        }
    }
}

/// Why an event is in the dead-letter topic.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeadLetterReason {
    /// Its retry policy is exhausted (every letter written before reasons were recorded).
    #[default]
    Exhausted,
    /// Its endpoint is disabled ([`crate::endpoint_state`]): kept instead of sent, with no
    /// attempt made.
    EndpointDisabled,
    /// The workspace config version it was matched in never reached delivery.
    ConfigMissing,
}

impl DeadLetterReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Exhausted => "exhausted",
            Self::EndpointDisabled => "endpoint_disabled",
            Self::ConfigMissing => "config_missing",
        }
    }
}

/// A record of the dead-letter topic (and of the Redis list the API shows): an event whose
/// retry policy is exhausted or whose endpoint is disabled, with what happened to it.
/// Re-sending replays `dispatch` from attempt 1 with the same webhook id, to the subscription
/// as it is configured then.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeadLetter {
    pub dispatch: Dispatch,
    /// The URL the last attempt went to (the subscription may have changed since); never a
    /// credential. Empty in letters written before it was recorded.
    #[serde(default)]
    pub url: String,
    pub attempts: u32,
    pub last_error: String,
    pub dead_at: DateTime<Utc>,
    #[serde(default)]
    pub reason: DeadLetterReason,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::subscription::{Dialect, SealedSecret};
    use crate::workspace::WorkspaceConfig;

    fn event() -> Event {
        Event::sample(crate::EventKind::Delivery, "ws")
    }

    fn state(version: u64, subs: Vec<Subscription>) -> ConfigState {
        let ws = WorkspaceConfig {
            subscriptions: subs,
            version,
            ..WorkspaceConfig::new("ws")
        };
        let mut st = ConfigState::default();
        st.apply("workspace:ws", Some(&serde_json::to_vec(&ws).unwrap()))
            .unwrap();
        st
    }

    #[test]
    fn resolves_from_the_live_config_only() {
        let sub = Subscription::new(Dialect::Named, "ws", "s1", "https://example.com/h");
        let d = Dispatch::new(event(), &sub, 3);
        assert_eq!(d.endpoint_key(), sub.endpoint_key());
        assert_eq!(
            d.resolve(&state(3, vec![sub.clone()])),
            Resolved::Found(Box::new(sub.clone()))
        );
        assert_eq!(
            d.resolve(&state(4, vec![sub.clone()])),
            Resolved::Found(Box::new(sub.clone()))
        );
        // Newer config without it: deleted.
        assert_eq!(d.resolve(&state(4, vec![])), Resolved::Gone);
        // Older config: not there yet, whatever it holds.
        assert_eq!(d.resolve(&state(2, vec![])), Resolved::Behind { live: 2 });
        assert_eq!(d.resolve(&ConfigState::default()), Resolved::Behind { live: 0 });
        // A deleted workspace is newer than every record about it.
        let mut st = state(3, vec![sub]);
        st.apply("workspace:ws", None).unwrap();
        assert_eq!(d.resolve(&st), Resolved::Gone);
    }

    #[test]
    fn records_carry_no_subscription_and_old_ones_still_decode() {
        let mut sub = Subscription::new(Dialect::Named, "ws", "s1", "https://receiver.example.net/h");
        sub.signing_secret = Some(SealedSecret("v1:c2VhbGVk".into()));
        sub.basic_auth = Some(SealedSecret("plain:user:pass".into()));
        let d = Dispatch::new(event(), &sub, 7);
        let json = serde_json::to_string(&d).unwrap();
        for leak in ["v1:c2VhbGVk", "user:pass", "receiver.example.net", "\"subscription\""] {
            assert!(!json.contains(leak), "{leak} in {json}");
        }
        // The format before: the whole subscription in `subscription`.
        let mut old = serde_json::to_value(&d).unwrap();
        old["subscription"] = serde_json::to_value(&sub).unwrap();
        let back: Dispatch = serde_json::from_value(old).unwrap();
        assert_eq!(back, d);
        let dead: DeadLetter = serde_json::from_value(serde_json::json!({
            "dispatch": serde_json::to_value(&d).unwrap(),
            "attempts": 3, "last_error": "HTTP 500", "dead_at": "2026-02-13T10:30:00Z",
        }))
        .unwrap();
        assert_eq!((dead.url.as_str(), dead.dispatch.config_version), ("", 7));
        assert_eq!(dead.reason, DeadLetterReason::Exhausted);
    }
}
