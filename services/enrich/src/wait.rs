//! Waiting for the metadata of a DLR that arrived before its message.
//!
//! A carrier or gateway that publishes a message and its DLR at the same moment makes the DLR
//! overtake its message about half the time: the metadata is then stored milliseconds later.
//! So a DLR first looks again in process, soon and then less soon ([`Soon`]: 50, 100, 200,
//! 400 ms after the previous look, 750 ms in all, each step below
//! `HOOKLINE_DLR_WAIT_RECHECK_MS`), holding its consumer slot meanwhile. Only a DLR still
//! without metadata after that is parked on the wait topic, the delay queue for the slow case,
//! and looked at every `HOOKLINE_DLR_WAIT_RECHECK_MS` until `HOOKLINE_DLR_WAIT_MAX_SECS` have
//! passed since it was first seen; then it is quarantined as `metadata_not_found`.
//!
//! The slow case stays cheap: at most [`SOON_SLOTS`] DLRs wait in process at once (beyond that
//! a DLR is parked at once, as before), each makes at most four more store reads, and every
//! in-process look is counted (`hookline_enrich_dlr_join_total{outcome="rechecked"}`). On
//! shutdown a waiting DLR is parked at once (the wait topic is durable; a sleeping handler is
//! not).
//!
//! Every wait-topic record carries its due time and when the DLR was first seen in headers.
//! The pump holds a record until its due time (pausing only its partition); all records are
//! written with the same recheck delay, so within a partition due times only grow.

use crate::{now_ms, Enricher};
use hookline_kafka::{headers, Handled, Message, OwnedMessage, QuarantineReason};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

/// DLRs waiting in process at once, at most (of the main consumer's
/// `HOOKLINE_ENRICH_MAX_IN_FLIGHT`, 512 by default).
pub(crate) const SOON_SLOTS: usize = 128;

/// The first in-process look again, after this long; each next one waits twice as long.
pub(crate) const FIRST_RECHECK: Duration = Duration::from_millis(50);

/// In-process looks again per DLR, at most.
pub(crate) const MAX_SOON: u32 = 4;

/// How a DLR came to be looked up in the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sighting {
    /// Fresh from the DLR topic.
    New,
    /// In-process look again number `n` (1-based) of a DLR first seen at `first_seen_ms`.
    Soon { n: u32, first_seen_ms: i64 },
    /// Back from the wait topic.
    Waited,
}

impl Sighting {
    /// When the DLR was first seen (Unix ms): now, or as carried.
    pub fn first_seen_ms(self, msg: &OwnedMessage) -> i64 {
        match self {
            Sighting::New => now_ms(),
            Sighting::Soon { first_seen_ms, .. } => first_seen_ms,
            Sighting::Waited => headers::get_i64(msg.headers(), headers::FIRST_SEEN_MS).unwrap_or_else(now_ms),
        }
    }
}

/// The in-process looks again of one enrich process: the schedule and its slots.
#[derive(Clone)]
pub(crate) struct Soon {
    slots: Arc<Semaphore>,
    /// The wait topic's recheck interval: every in-process step is shorter.
    recheck: Duration,
}

impl Soon {
    pub fn new(recheck_ms: u64) -> Self {
        Self {
            slots: Arc::new(Semaphore::new(SOON_SLOTS)),
            recheck: Duration::from_millis(recheck_ms),
        }
    }

    /// How long to wait before look again number `n + 1`, after `n` of them (none once they
    /// are used up or a step would be as long as the wait topic's own recheck).
    pub fn delay_after(&self, sighting: Sighting) -> Option<Duration> {
        let n = match sighting {
            Sighting::New => 0,
            Sighting::Soon { n, .. } => n,
            Sighting::Waited => return None,
        };
        let delay = FIRST_RECHECK * 2u32.pow(n);
        (n < MAX_SOON && delay < self.recheck).then_some(delay)
    }
}

/// A DLR found no metadata: look again soon in process ([`Soon`]), or park it on the wait
/// topic, or quarantine it once it has waited `dlr_wait_max_secs`.
pub(crate) fn not_found<'a>(
    e: &'a Enricher,
    msg: &'a OwnedMessage,
    sighting: Sighting,
) -> Pin<Box<dyn Future<Output = Handled> + Send + 'a>> {
    Box::pin(async move {
        let first_seen_ms = sighting.first_seen_ms(msg);
        if let Some(delay) = e.soon.delay_after(sighting) {
            if let Ok(slot) = e.soon.slots.clone().try_acquire_owned() {
                let n = match sighting {
                    Sighting::Soon { n, .. } => n + 1,
                    _ => 1,
                };
                let slept = tokio::select! {
                    _ = tokio::time::sleep(delay) => true,
                    _ = e.shutdown.cancelled() => false,
                };
                // Held while sleeping only: the next look takes a slot of its own.
                drop(slot);
                if slept {
                    e.metrics.join.with_label_values(&["rechecked"]).inc();
                    return e.handle_dlr(msg.clone(), Sighting::Soon { n, first_seen_ms }).await;
                }
            }
        }
        park(e, msg, first_seen_ms).await
    })
}

/// Parks a DLR for another look later, or quarantines it when it has waited long enough.
async fn park(e: &Enricher, msg: &OwnedMessage, first_seen_ms: i64) -> Handled {
    let now = now_ms();
    let waited_ms = now - first_seen_ms;
    if waited_ms >= (e.cfg.dlr_wait_max_secs * 1000) as i64 {
        e.metrics.join.with_label_values(&["not_found"]).inc();
        let detail = format!(
            "no accepted message with this carrier id within {} s",
            e.cfg.dlr_wait_max_secs
        );
        return e
            .quarantine_with(msg, QuarantineReason::MetadataNotFound, &detail)
            .await;
    }
    let due = (now + e.cfg.dlr_wait_recheck_ms as i64).to_string();
    let first = first_seen_ms.to_string();
    let hdrs: [(&str, &[u8]); 2] = [
        (headers::DUE_AT_MS, due.as_bytes()),
        (headers::FIRST_SEEN_MS, first.as_bytes()),
    ];
    let sent = e.producer.send(&e.wait_topic, msg.key(), msg.payload(), &hdrs).await;
    if sent.is_ok() {
        e.metrics.join.with_label_values(&["waiting"]).inc();
    }
    sent.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule(recheck_ms: u64) -> Vec<u64> {
        let soon = Soon::new(recheck_ms);
        let mut out = vec![];
        let mut s = Sighting::New;
        while let Some(d) = soon.delay_after(s) {
            out.push(d.as_millis() as u64);
            let n = out.len() as u32;
            s = Sighting::Soon { n, first_seen_ms: 0 };
        }
        out
    }

    #[test]
    fn in_process_looks_back_off_and_stay_below_the_wait_topics_recheck() {
        assert_eq!(
            schedule(2000),
            vec![50, 100, 200, 400],
            "the default: 750 ms in process"
        );
        assert_eq!(schedule(300), vec![50, 100, 200]);
        assert_eq!(schedule(50), Vec::<u64>::new(), "no step as long as the recheck itself");
        assert_eq!(
            Soon::new(2000).delay_after(Sighting::Waited),
            None,
            "a DLR back from the wait topic is parked again"
        );
    }
}
