//! An endpoint's adaptive rate and concurrency limit, kept in the store so that they outlive
//! their owner.
//!
//! One delivery consumer owns an endpoint (its partition), and its [`crate::aimd`] rate and
//! [`crate::concurrency`] limit live in that process. When the partition moves — a
//! rebalance, a restart, a replica added or removed — the new owner would start at the
//! configured limit and meet the receiver's 429s all over again, and at the starting
//! concurrency of a new endpoint however much more the receiver had shown it takes. So the
//! owner publishes the rate whenever it changes while it is below the limit (`aimd:<endpoint>`,
//! kept [`KEEP`]; removed once back at the limit) and the concurrency limit whenever it moved
//! by a tenth (`aimdc:<endpoint>`, kept [`KEEP`]), and a process creating an endpoint's gate
//! starts from what it finds there.
//!
//! Best effort on both sides: the write is fire-and-forget and a read waits at most
//! [`RECALL_TIMEOUT`], so a store outage costs only what it cost before (a start at the limit),
//! never delivery.

use crate::gate::{Gate, Start};
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

    /// The rate and concurrency limit a previous owner of `endpoint` left, if any.
    pub async fn recall(&self, endpoint: &str) -> Start {
        let read = async {
            tokio::join!(
                self.store.adaptive_rate(endpoint),
                self.store.adaptive_concurrency(endpoint)
            )
        };
        match tokio::time::timeout(RECALL_TIMEOUT, read).await {
            Ok((rate, concurrency)) => {
                let ok = |r: Result<Option<u32>, hookline_store::StoreError>| {
                    r.inspect_err(|e| tracing::debug!(error = %e, endpoint, "adaptive state not read"))
                        .ok()
                        .flatten()
                };
                Start {
                    rate: ok(rate),
                    concurrency: ok(concurrency),
                }
            }
            Err(_) => Start::default(),
        }
    }

    /// Publishes `gate`'s rate if it changed since it was last published, and its
    /// concurrency limit if it moved enough ([`Gate::unpublished_concurrency`]).
    pub fn publish(&self, endpoint: &str, gate: &Gate) {
        if let Some(rate) = gate.unpublished_rate() {
            let kept = (rate < gate.limit()).then_some(rate);
            let (store, endpoint) = (self.store.clone(), endpoint.to_string());
            tokio::spawn(async move {
                if let Err(e) = store.put_adaptive_rate(&endpoint, kept, KEEP).await {
                    tracing::debug!(error = %e, endpoint, "adaptive rate not published");
                }
            });
        }
        if let Some(limit) = gate.unpublished_concurrency() {
            let limit = u32::try_from(limit).unwrap_or(u32::MAX);
            let (store, endpoint) = (self.store.clone(), endpoint.to_string());
            tokio::spawn(async move {
                if let Err(e) = store.put_adaptive_concurrency(&endpoint, limit, KEEP).await {
                    tracing::debug!(error = %e, endpoint, "concurrency limit not published");
                }
            });
        }
    }
}
