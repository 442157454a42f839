//! An endpoint's adaptive rate, kept in the store so that it outlives its owner.
//!
//! One delivery consumer owns an endpoint (its partition), and its [`crate::aimd`] rate lives
//! in that process. When the partition moves — a rebalance, a restart, a replica added or
//! removed — the new owner would start at the configured limit and meet the receiver's 429s
//! all over again. So the owner publishes the rate whenever it changes while it is below the
//! limit (`aimd:<endpoint>`, kept [`KEEP`]; removed once back at the limit), and a process
//! creating an endpoint's gate starts from what it finds there.
//!
//! Best effort on both sides: the write is fire-and-forget and a read waits at most
//! [`RECALL_TIMEOUT`], so a store outage costs only what it cost before (a start at the limit),
//! never delivery.

use crate::gate::Gate;
use hookline_store::Store;
use std::time::Duration;

/// How long a published rate is kept: a receiver that has not been sent to for this long is
/// met at its limit again.
pub const KEEP: Duration = Duration::from_secs(300);

/// The longest a new gate waits for the store.
pub const RECALL_TIMEOUT: Duration = Duration::from_millis(250);

pub struct SharedRates {
    store: Store,
}

impl SharedRates {
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    /// The rate a previous owner of `endpoint` left, if any.
    pub async fn recall(&self, endpoint: &str) -> Option<u32> {
        match tokio::time::timeout(RECALL_TIMEOUT, self.store.adaptive_rate(endpoint)).await {
            Ok(Ok(rate)) => rate,
            Ok(Err(e)) => {
                tracing::debug!(error = %e, endpoint, "adaptive rate not read");
                None
            }
            Err(_) => None,
        }
    }

    /// Publishes `gate`'s rate if it changed since it was last published.
    pub fn publish(&self, endpoint: &str, gate: &Gate) {
        let Some(rate) = gate.unpublished_rate() else {
            return;
        };
        let kept = (rate < gate.limit()).then_some(rate);
        let (store, endpoint) = (self.store.clone(), endpoint.to_string());
        tokio::spawn(async move {
            if let Err(e) = store.put_adaptive_rate(&endpoint, kept, KEEP).await {
                tracing::debug!(error = %e, endpoint, "adaptive rate not published");
            }
        });
    }
}
