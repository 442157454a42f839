//! Telling a superseded status from a lost one, from the run's own records.
//!
//! A named `SMS_STATUS` subscription gets two status events per delivered message: `sent`
//! (fired when enrich stores the accepted message) and `delivered` (from its DLR). Delivery
//! keeps a message's statuses in order per endpoint (services/delivery/src/ordering.rs): a
//! `sent` that reaches the endpoint after the message's `delivered` was delivered there is not
//! sent but logged as a skipped attempt, "superseded by delivered …". That happens when the
//! `sent` was deferred to a retry tier (its endpoint saturated by a backlog after a restart)
//! and came back after the DLR's `delivered`: the receiver then never sees that `sent`, and
//! nothing was lost.
//!
//! [`trails`] reads every status dispatch of some messages from the dispatch topic and every
//! attempt at them from the attempts topic; [`superseded`] names the webhook ids a receiver
//! may rightly never see: a non-final status whose attempts include a skipped
//! "superseded by" record and no delivered one, of a message whose final status was
//! delivered. Anything else missing is lost, and [`crate::check::by_key_superseded`] fails on
//! it.

use crate::check;
use hookline_model::event::MessageStatus;
use hookline_model::{AttemptOutcome, AttemptRecord, Dispatch, EventData};
use std::collections::{HashMap, HashSet};

/// The prefix of a skipped attempt's error when status ordering dropped it.
pub const SUPERSEDED: &str = "superseded by ";

/// One status event of a message at one subscription, and every attempt logged for it.
#[derive(Debug, Clone)]
pub struct Trail {
    pub webhook_id: String,
    pub subscription_id: String,
    pub status: MessageStatus,
    /// Outcome and error of each attempt record, in the attempts topic's order (per
    /// workspace).
    pub attempts: Vec<(AttemptOutcome, Option<String>)>,
    /// Why it went to a retry tier, each time it did (`hookline-last-error` of its copies:
    /// `saturated`, `rate_limited`, an HTTP error, …).
    pub deferrals: Vec<String>,
}

impl Trail {
    fn delivered(&self) -> bool {
        self.attempts.iter().any(|(o, _)| *o == AttemptOutcome::Delivered)
    }

    fn skipped_as_superseded(&self) -> bool {
        self.attempts
            .iter()
            .any(|(o, e)| *o == AttemptOutcome::Skipped && e.as_deref().is_some_and(|e| e.starts_with(SUPERSEDED)))
    }
}

/// The status trails of `messages` (gateway message ids), by message id: from the dispatch
/// topic (every status dispatch, never re-written) and the attempts topic of `kafka`.
pub fn trails(
    kafka: &hookline_kafka::KafkaSettings,
    messages: &HashSet<String>,
) -> anyhow::Result<HashMap<String, Vec<Trail>>> {
    let mut by_webhook: HashMap<String, (String, Trail)> = HashMap::new();
    for r in check::read_all(&kafka.brokers, &kafka.topics.dispatch())? {
        let Ok(d) = serde_json::from_slice::<Dispatch>(r.payload.as_deref().unwrap_or_default()) else {
            continue;
        };
        let EventData::Status(s) = &d.event.data else { continue };
        if !messages.contains(&s.message_id) || d.test || d.replay {
            continue;
        }
        by_webhook.insert(
            d.dispatch_id.clone(),
            (
                s.message_id.clone(),
                Trail {
                    webhook_id: d.dispatch_id.clone(),
                    subscription_id: d.subscription_id.clone(),
                    status: s.status,
                    attempts: vec![],
                    deferrals: vec![],
                },
            ),
        );
    }
    for r in check::read_all(&kafka.brokers, &kafka.topics.attempts())? {
        let Ok(a) = serde_json::from_slice::<AttemptRecord>(r.payload.as_deref().unwrap_or_default()) else {
            continue;
        };
        if let Some((_, t)) = by_webhook.get_mut(&a.webhook_id) {
            t.attempts.push((a.outcome, a.error));
        }
    }
    for (_, tier) in kafka.topics.retry_tiers() {
        for r in check::read_all(&kafka.brokers, &tier)? {
            let Ok(d) = serde_json::from_slice::<Dispatch>(r.payload.as_deref().unwrap_or_default()) else {
                continue;
            };
            if let Some((_, t)) = by_webhook.get_mut(&d.dispatch_id) {
                t.deferrals.push(
                    r.header(hookline_kafka::headers::LAST_ERROR)
                        .unwrap_or_default()
                        .to_string(),
                );
            }
        }
    }
    let mut out: HashMap<String, Vec<Trail>> = HashMap::new();
    for (_, (m, t)) in by_webhook {
        out.entry(m).or_default().push(t);
    }
    Ok(out)
}

/// Per message, the webhook ids of its statuses that were rightly never sent: a non-final
/// status skipped as superseded (and never delivered) while a final status of the message
/// was delivered to the same subscription.
pub fn superseded(trails: &HashMap<String, Vec<Trail>>) -> HashMap<String, HashSet<String>> {
    let mut out: HashMap<String, HashSet<String>> = HashMap::new();
    for (m, ts) in trails {
        for t in ts {
            let final_delivered = ts
                .iter()
                .any(|f| f.subscription_id == t.subscription_id && f.status.is_final() && f.delivered());
            if !t.status.is_final() && t.skipped_as_superseded() && !t.delivered() && final_delivered {
                out.entry(m.clone()).or_default().insert(t.webhook_id.clone());
            }
        }
    }
    out
}

/// How the superseded statuses of `trails` had been deferred before they came back late: a
/// count per first deferral reason (`none` when a status never went to a retry tier).
pub fn deferral_reasons(trails: &HashMap<String, Vec<Trail>>) -> std::collections::BTreeMap<String, usize> {
    let superseded = superseded(trails);
    let mut out = std::collections::BTreeMap::new();
    for t in trails.values().flatten() {
        if superseded.values().any(|ids| ids.contains(&t.webhook_id)) {
            let reason = t.deferrals.first().cloned().unwrap_or_else(|| "none".to_string());
            *out.entry(reason).or_default() += 1;
        }
    }
    out
}
