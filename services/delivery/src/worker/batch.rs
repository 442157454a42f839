//! The batch path of [`Worker`] ([`crate::batch`] says what a batch is and promises): a
//! prepared record joins its endpoint's batch and waits for the batch's outcome; the record
//! that opened the batch collects it, admits it once, sends it once and tells every member how
//! it went; each member then settles its own record.

use super::{Prepared, Worker};
use crate::attempt::{header, Attempted, Outgoing};
use crate::batch::Batcher;
use crate::ordering::Turn;
use hookline_kafka::context::Lease;
use hookline_kafka::Handled;
use hookline_model::render::{self, Rendered};
use hookline_model::{batch as model, AttemptRecord, BatchPolicy, BodyFormat, PayloadSchema};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;

/// Every endpoint's open batch.
pub(crate) type Batches = Batcher<Member>;

/// A record waiting in a batch.
pub(crate) struct Member {
    p: Arc<Prepared>,
    lease: Lease,
    reply: oneshot::Sender<Outcome>,
}

/// What became of a member's batch.
enum Outcome {
    /// Sent: the member's own attempt record (the batch's response) and `Retry-After`.
    Sent(Box<Attempted>),
    /// Not admitted: put back, same attempt, due at `due_ms`.
    Deferred { due_ms: i64, reason: &'static str },
    /// Its partition was revoked before the batch went: left to the next owner.
    HandedOver,
}

/// The batch policy a prepared record is delivered under, if any: a named subscription with
/// `batch` set (JSON bodies only: the envelope is what a batch wraps); never a test send.
pub(super) fn policy(p: &Prepared) -> Option<BatchPolicy> {
    let batchable = !p.d.test && p.sub.schema == PayloadSchema::Named && p.sub.format == BodyFormat::Json;
    p.sub.batch.filter(|_| batchable).map(BatchPolicy::clamped)
}

impl Worker {
    /// Joins the record's endpoint batch (opening it, and then sending it, if there is none)
    /// and settles the record on the batch's outcome.
    /// `turn` is the record's place in its message's status order ([`crate::ordering`]),
    /// held until its batch's outcome is known.
    pub(super) async fn batched(
        &self,
        p: Prepared,
        turn: Turn<'_>,
        policy: BatchPolicy,
        lease: &Lease,
        deferred_since: Option<i64>,
    ) -> Handled {
        let p = Arc::new(p);
        // Replays go in batches of their own: a request is a replay or not.
        let mut key = p.sub.endpoint_key();
        if p.d.replay {
            key.push_str("#replay");
        }
        let (reply, outcome) = oneshot::channel();
        let member = Member {
            p: p.clone(),
            lease: lease.clone(),
            reply,
        };
        let wait = Duration::from_millis(policy.max_wait_ms);
        if let Some(pending) = self.batches.add(&key, policy.max_events as usize, wait, member) {
            self.send_batch(pending.ready().await).await;
        }
        let Ok(outcome) = outcome.await else {
            // The record that collected the batch was dropped (shutdown): not committed.
            return Handled::Abort("the batch this record was in was not sent".into());
        };
        match outcome {
            Outcome::Sent(attempted) => {
                turn.outcome(&attempted.record);
                match self.defer_throttled(&p, *attempted, deferred_since).await {
                    Ok(attempted) => self.settle(&p, attempted).await,
                    Err(done) => done,
                }
            }
            Outcome::Deferred { due_ms, reason } => self.defer(&p.d, p.attempt, due_ms, reason, deferred_since).await,
            Outcome::HandedOver => self.handed_over(),
        }
    }

    /// Admits the batch once, sends it as one request and tells each member its outcome.
    async fn send_batch(&self, members: Vec<Member>) {
        // The newest snapshot of the subscription among the members.
        let Some(sub) = members.last().map(|m| m.p.sub.clone()) else {
            return;
        };
        let admitted = match self.admission(&sub).await {
            Ok(admitted) => admitted,
            Err((due_ms, reason)) => {
                for m in members {
                    let _ = m.reply.send(Outcome::Deferred { due_ms, reason });
                }
                return;
            }
        };
        // As for one record: no attempt after the partition moved to another owner.
        let (members, gone): (Vec<Member>, Vec<Member>) = members.into_iter().partition(|m| m.lease.is_current());
        for m in gone {
            let _ = m.reply.send(Outcome::HandedOver);
        }
        let Some(first) = members.first().map(|m| m.p.clone()) else {
            return;
        };
        let envelopes: Vec<Vec<u8>> = members
            .iter()
            .map(|m| render::render(&m.p.d.event, &sub).body)
            .collect();
        let id = model::batch_id(members.iter().map(|m| m.p.d.dispatch_id.as_str()));
        let size = members.len() as u32;
        let out = Outgoing {
            id: &id,
            event_type: "batch",
            attempt: members.iter().map(|m| m.p.attempt).max().unwrap_or(1),
            replay: first.d.replay,
            rendered: Rendered {
                content_type: "application/json",
                body: model::body(envelopes.iter().map(Vec::as_slice)),
            },
            extra: vec![(header::BATCH_SIZE.into(), size.to_string())],
        };
        self.metrics.batch_size.observe(f64::from(size));
        let mut shared = self.request(&first.d, &sub, admitted, out).await;
        // Each member's record carries its own envelope, not the whole body.
        shared.record.payload = String::new();
        for (m, envelope) in members.into_iter().zip(envelopes) {
            let record = member_record(&shared.record, &m.p, envelope, &id, size);
            let _ = m.reply.send(Outcome::Sent(Box::new(Attempted {
                record,
                retry_after: shared.retry_after,
            })));
        }
    }
}

/// A member's attempt record: the batch's request and response, the member's identity,
/// attempt number and envelope, and the batch it went in.
fn member_record(shared: &AttemptRecord, p: &Prepared, envelope: Vec<u8>, batch_id: &str, size: u32) -> AttemptRecord {
    let own = AttemptRecord::new(&p.d, p.attempt, String::new(), shared.outcome);
    AttemptRecord {
        attempt_id: own.attempt_id,
        webhook_id: own.webhook_id,
        event_id: own.event_id,
        event_type: own.event_type,
        attempt: p.attempt,
        test: own.test,
        payload: String::from_utf8_lossy(&envelope).into_owned(),
        batch_id: Some(batch_id.to_string()),
        batch_size: Some(size),
        ..shared.clone()
    }
}
