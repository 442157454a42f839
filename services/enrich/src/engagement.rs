//! Clicks, conversions and impressions.
//!
//! - A click from a bot or link previewer is dropped ([`crate::bots`]). A human click is joined
//!   with its message (by message id) and remembered for conversions. With the workspace's
//!   `unique_clicks_only` on, only the first human click per (broadcast, recipient) on a
//!   broadcast link fires; API links always fire. "First" is decided by an atomic claim in the
//!   store, so it holds across enrich replicas; the claimant is the record's topic, partition
//!   and offset, so a record reprocessed after a crash is not a duplicate of itself.
//! - A conversion is joined with its message (by message id, or through its click) and fires
//!   once per transaction id, decided by the same kind of claim. One that joins nothing is
//!   quarantined as `conversion_not_joined`.
//! - An impression fires for a message accepted on the API single-send path.
//! - A visit to an opt-out link (a click with `opt_out`) fires the opt-out webhook instead.
//! - An inbound SMS fires the inbound webhook; one whose text is an opt-out keyword
//!   ([`OPT_OUT_KEYWORDS`]) also fires the opt-out webhook.

use crate::{fanout, Enricher};
use hookline_kafka::{Handled, Message, OwnedMessage, QuarantineReason};
use hookline_model::{
    AcceptedMessage, CarrierDlr, ClickInput, ConversionInput, Dialect, Event, EventData, InboundInput, LinkType,
    SendPath,
};
use hookline_store::{retry_until_ok, ClaimKey, FinalStatus, Ownership};
use prometheus::IntCounterVec;
use std::time::{Duration, Instant};

impl Enricher {
    /// A DLR joined with its message: the delivery webhook for the message's first final
    /// status, and a status event for every status, flagged `after_final` when the message
    /// already had a final one (decided by an atomic claim on the message's final status).
    ///
    /// One delivery webhook per message, as the 23 Telecom and SMSEdge payloads (one per
    /// `message_id`, with `num_parts`/`parts`) promise: a multi-part message has one carrier id,
    /// and the carrier's per-part reports cannot be told apart, so the first final report
    /// stands for the message and the others are `after_final` status events only.
    pub(crate) async fn joined_dlr(&self, msg: &OwnedMessage, dlr: &CarrierDlr, meta: &AcceptedMessage) -> Handled {
        let mut status = Event::dlr_status(dlr, meta);
        let after_final = if dlr.status.is_final() {
            self.metrics.join.with_label_values(&["joined"]).inc();
            // The claim keeps the status: SMSEdge click payloads show the message's
            // `dlr_status`, read back from it.
            let claim = FinalStatus {
                claimant: claimant(msg),
                status: dlr.status,
            };
            // Kept as long as the message's metadata: a DLR or click of the message can only
            // be joined (and so read the claim) while that lives. Kept for the dedup TTL
            // (30 days) it held one entry per message ten times as long for nothing.
            let ttl = Duration::from_secs(self.cfg.metadata_ttl_secs);
            let claimed = self
                .timed_claim(|| {
                    self.store
                        .claim_final_status(&meta.workspace_id, &meta.message_id, &claim, ttl)
                })
                .await;
            match claimed {
                None => return Handled::store_unavailable(),
                Some(first_final) => !first_final,
            }
        } else {
            self.metrics.join.with_label_values(&["intermediate"]).inc();
            match retry_until_ok(
                &self.shutdown,
                "claimed",
                || self.store_error("claimed"),
                || self.store.has_final_status(&meta.workspace_id, &meta.message_id),
            )
            .await
            {
                None => return Handled::store_unavailable(),
                Some(had_final) => had_final,
            }
        };
        if after_final {
            self.metrics.late_statuses.inc();
        }
        if let EventData::Status(s) = &mut status.data {
            s.after_final = after_final;
        }
        if dlr.status.is_final() && !after_final {
            if let stop @ Handled::Abort(_) = fanout::fan_out(self, &Event::delivery(dlr, meta)).await {
                return stop;
            }
        }
        fanout::fan_out(self, &status).await
    }

    /// Fires the impression of an API single-send message.
    pub(crate) async fn impression(&self, msg: &AcceptedMessage) -> Handled {
        if msg.send_path() != SendPath::ApiSingle {
            return Handled::Done;
        }
        fanout::fan_out(self, &Event::impression(msg, chrono::Utc::now())).await
    }

    pub(crate) async fn handle_click(&self, msg: OwnedMessage) -> Handled {
        let Some(click) = self.decode::<ClickInput>(&msg) else {
            return self.quarantined(&msg, QuarantineReason::InvalidInternalRecord).await;
        };
        if crate::bots::is_bot(click.bot, &click.user_agent) {
            self.metrics.clicks.with_label_values(&["bot"]).inc();
            return Handled::Done;
        }
        let Some(meta) = self.message(click.workspace_id.as_deref(), &click.message_id).await else {
            return Handled::store_unavailable();
        };
        let Some(meta) = meta else {
            self.metrics.clicks.with_label_values(&["no_message"]).inc();
            let detail = format!("no accepted message {}", click.message_id);
            return self
                .quarantine_with(&msg, QuarantineReason::MetadataNotFound, &detail)
                .await;
        };
        if !crate::in_scope(click.workspace_id.as_deref(), &meta) {
            return self.out_of_scope(&msg, &meta, "click").await;
        }
        if click.opt_out {
            self.metrics.opt_outs.with_label_values(&["link"]).inc();
            return fanout::fan_out(self, &Event::link_opt_out(&click, &meta)).await;
        }
        let ttl = self.click_ttl();
        let remembered = retry_until_ok(
            &self.shutdown,
            "put_click",
            || self.store_error("put_click"),
            || {
                self.store
                    .put_click(click.workspace_id.as_deref(), &click.click_id, &click.message_id, ttl)
            },
        )
        .await;
        match remembered {
            None => return Handled::store_unavailable(),
            Some(Ownership::Taken(key)) => {
                self.metrics.clicks.with_label_values(&["conflict"]).inc();
                let detail = format!("{key} already belongs to another message than {}", click.message_id);
                return self
                    .quarantine_with(&msg, QuarantineReason::MetadataConflict, &detail)
                    .await;
            }
            Some(Ownership::Stored) => {}
        }
        // Each dialect's click rule decides for its own subscriptions; named LINK_HIT
        // subscriptions get every human click.
        let mut event = Event::click(&click, &meta);
        let (version, mut subs, unique_only) = self.config.read(|c| {
            let (version, subs) = c.matching(&event);
            let unique_only = c
                .workspace(&meta.workspace_id)
                .is_some_and(|w| w.telecom23.unique_clicks_only);
            (version, subs, unique_only)
        });
        let matched = !subs.is_empty();
        let broadcast = click.broadcast_id.clone().or_else(|| meta.broadcast_id.clone());
        let has_telecom23 = subs.iter().any(|s| s.dialect == Dialect::Telecom23);
        if let (true, true, LinkType::Broadcast, Some(b)) = (has_telecom23, unique_only, click.link_type, broadcast) {
            // 23 Telecom `unique_clicks_only`: the first human click per (broadcast, recipient).
            let key = ClaimKey::unique_click(&meta.workspace_id, &b, &click.recipient);
            match self.claim(&key, &msg).await {
                None => return Handled::store_unavailable(),
                Some(false) => subs.retain(|s| s.dialect != Dialect::Telecom23),
                Some(true) => {}
            }
        }
        if subs.iter().any(|s| s.dialect == Dialect::SmsEdge) {
            // SMSEdge: the first human click per message, as the message record with
            // `clicked: true` and its current `dlr_status`.
            let key = ClaimKey::first_click(&meta.workspace_id, &click.message_id);
            match self.claim(&key, &msg).await {
                None => return Handled::store_unavailable(),
                Some(false) => subs.retain(|s| s.dialect != Dialect::SmsEdge),
                Some(true) => {
                    let Some(status) = retry_until_ok(
                        &self.shutdown,
                        "claimant",
                        || self.store_error("claimant"),
                        || self.store.final_status(&meta.workspace_id, &meta.message_id),
                    )
                    .await
                    else {
                        return Handled::store_unavailable();
                    };
                    if let EventData::Click(c) = &mut event.data {
                        if let Some(m) = &mut c.message {
                            m.dlr_status = status;
                        }
                    }
                }
            }
        }
        if matched && subs.is_empty() {
            self.metrics.clicks.with_label_values(&["duplicate"]).inc();
            return Handled::Done;
        }
        self.metrics.clicks.with_label_values(&["delivered"]).inc();
        fanout::fan_out_to(&self.out(), &event, version, subs).await
    }

    pub(crate) async fn handle_conversion(&self, msg: OwnedMessage) -> Handled {
        let Some(conv) = self.decode::<ConversionInput>(&msg) else {
            return self.quarantined(&msg, QuarantineReason::InvalidInternalRecord).await;
        };
        let click_message = match &conv.click_id {
            Some(click_id) => {
                match retry_until_ok(
                    &self.shutdown,
                    "get_click",
                    || self.store_error("get_click"),
                    || self.store.message_of_click(conv.workspace_id.as_deref(), click_id),
                )
                .await
                {
                    None => return Handled::store_unavailable(),
                    Some(m) => m,
                }
            }
            None => None,
        };
        let Some(message_id) = conv.message_id.clone().or(click_message) else {
            return self.unjoined(&msg, "neither the click nor a message id is known").await;
        };
        let Some(meta) = self.message(conv.workspace_id.as_deref(), &message_id).await else {
            return Handled::store_unavailable();
        };
        let Some(meta) = meta else {
            return self.unjoined(&msg, &format!("no accepted message {message_id}")).await;
        };
        if !crate::in_scope(conv.workspace_id.as_deref(), &meta) {
            return self.out_of_scope(&msg, &meta, "conversion").await;
        }
        if let Some(tx) = &conv.transaction_id {
            let key = ClaimKey::conversion(&meta.workspace_id, tx);
            if let Some(stop) = self.claim_first(&key, &msg, &self.metrics.conversions).await {
                return stop;
            }
        }
        self.metrics.conversions.with_label_values(&["joined"]).inc();
        fanout::fan_out(self, &Event::conversion(&conv, &meta, conv.click_id.as_deref())).await
    }

    async fn unjoined(&self, msg: &OwnedMessage, detail: &str) -> Handled {
        self.metrics.conversions.with_label_values(&["unjoined"]).inc();
        self.quarantine_with(msg, QuarantineReason::ConversionNotJoined, detail)
            .await
    }

    /// The accepted message by id, as a record whose sender is bound to `scope` finds it;
    /// the outer `None` means shutdown during a store outage.
    async fn message(&self, scope: Option<&str>, message_id: &str) -> Option<Option<AcceptedMessage>> {
        retry_until_ok(
            &self.shutdown,
            "get_message",
            || self.store_error("get_message"),
            || self.store.message_by_id(scope, message_id),
        )
        .await
    }

    /// Claims `key` for this record. `None`: it is the first, go on; otherwise how to stop
    /// (a duplicate, counted as `duplicate` in `outcomes`, or shutdown during a store outage).
    async fn claim_first(&self, key: &ClaimKey, msg: &OwnedMessage, outcomes: &IntCounterVec) -> Option<Handled> {
        match self.claim(key, msg).await {
            None => Some(Handled::store_unavailable()),
            Some(false) => {
                outcomes.with_label_values(&["duplicate"]).inc();
                Some(Handled::Done)
            }
            Some(true) => None,
        }
    }

    /// Claims `key` for this record; `None` means shutdown during a store outage.
    async fn claim(&self, key: &ClaimKey, msg: &OwnedMessage) -> Option<bool> {
        let (claimant, ttl) = (claimant(msg), self.click_ttl());
        self.timed_claim(|| self.store.claim(key, &claimant, ttl)).await
    }

    /// Runs a claim until the store answers, timed as `dedup_duration`.
    async fn timed_claim<F, Fut>(&self, claim: F) -> Option<bool>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<bool, hookline_store::StoreError>>,
    {
        let started = Instant::now();
        let won = retry_until_ok(&self.shutdown, "claim", || self.store_error("claim"), claim).await;
        self.metrics.dedup_duration.observe(started.elapsed().as_secs_f64());
        won
    }

    fn click_ttl(&self) -> Duration {
        Duration::from_secs(self.cfg.dedup_ttl_secs)
    }
}

/// Inbound keywords that opt the sender out, as carriers and the CTIA guidelines use them.
pub const OPT_OUT_KEYWORDS: &[&str] = &[
    "STOP",
    "STOPALL",
    "UNSUBSCRIBE",
    "CANCEL",
    "END",
    "QUIT",
    "OPTOUT",
    "OPT-OUT",
    "REVOKE",
];

/// The opt-out keyword an inbound text is, if it is one: the whole message, trimmed, any
/// case, trailing punctuation ignored ("Stop.", " stop! ").
pub fn opt_out_keyword(text: &str) -> Option<&'static str> {
    let word = text
        .trim()
        .trim_end_matches(|c: char| c.is_ascii_punctuation())
        .trim()
        .to_ascii_uppercase();
    OPT_OUT_KEYWORDS.iter().copied().find(|k| *k == word)
}

impl Enricher {
    /// Fires the inbound webhook and, for a STOP keyword, the opt-out webhook.
    pub(crate) async fn handle_inbound(&self, msg: OwnedMessage) -> Handled {
        let Some(input) = self.decode::<InboundInput>(&msg) else {
            return self.quarantined(&msg, QuarantineReason::InvalidInternalRecord).await;
        };
        // The last message sent to the sender, looked up within the inbound's own workspace:
        // another workspace's message of the same id is not this conversation's.
        let last = match &input.last_message_id {
            Some(id) => match self.message(Some(&input.workspace_id), id).await {
                None => return Handled::store_unavailable(),
                Some(m) => m.filter(|m| m.workspace_id == input.workspace_id),
            },
            None => None,
        };
        let handled = fanout::fan_out(self, &Event::inbound(&input, last.as_ref())).await;
        let (Handled::Done, Some(keyword)) = (&handled, opt_out_keyword(&input.text)) else {
            return handled;
        };
        self.metrics.opt_outs.with_label_values(&["keyword"]).inc();
        fanout::fan_out(self, &Event::keyword_opt_out(&input, keyword, last.as_ref())).await
    }
}

/// A record claims as its topic, partition and offset: reprocessed after a crash, it wins its
/// own claim again instead of being taken for a duplicate.
fn claimant(msg: &OwnedMessage) -> String {
    format!("{}:{}:{}", msg.topic(), msg.partition(), msg.offset())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_keywords() {
        for t in ["STOP", "stop", " Stop. ", "unsubscribe!", "STOPALL", "opt-out"] {
            assert!(opt_out_keyword(t).is_some(), "{t}");
        }
        for t in ["please stop texting me", "STOPPED", "", "hello"] {
            assert!(opt_out_keyword(t).is_none(), "{t}");
        }
    }
}
