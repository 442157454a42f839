//! Whether an endpoint (a subscription) is taking traffic, and why not.
//!
//! A subscription is either enabled or disabled; a disabled one says why ([`Disabled`]):
//! turned off through its API (`manual`), or turned off by Hookline's auto-disable policy
//! because every attempt failed for the policy's window (`failing`) or because the receiver
//! answered `410 Gone` (`gone`, as the Standard Webhooks spec recommends). Events for a
//! disabled endpoint are still dispatched and kept: delivery writes each to the dead-letter
//! topic with reason [`crate::DeadLetterReason::EndpointDisabled`] instead of sending it, so
//! they can be listed and re-sent once it is enabled again.
//!
//! Disabling is announced to the workspace's operational URL (if one is set) by a
//! [`WebhookDisabledEvent`] (`webhook.disabled` in the named envelope).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Why an endpoint is disabled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DisableReason {
    /// `"enabled": false` through the API.
    Manual,
    /// Every attempt failed for the auto-disable window (default 5 days).
    Failing,
    /// The receiver answered `410 Gone`.
    Gone,
}

impl DisableReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Manual => "manual",
            Self::Failing => "failing",
            Self::Gone => "gone",
        }
    }
}

/// A disabled endpoint's reason, since when, and (auto-disable) what it last saw.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Disabled {
    pub reason: DisableReason,
    pub at: DateTime<Utc>,
    /// The last error that led to it (`HTTP 410`, `timeout after 5000 ms`, ...), for the
    /// auto-disable reasons.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// `webhook.disabled`: an endpoint of the workspace was disabled by the auto-disable policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebhookDisabledEvent {
    pub subscription_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub url: String,
    pub reason: DisableReason,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// When every attempt started failing (`failing`), if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failing_since: Option<DateTime<Utc>>,
}
