//! The per-record handler of the dispatch consumer.

use crate::attempt::Attempter;
use crate::metrics::Metrics;
use chrono::Utc;
use hookline_kafka::{headers, ConfigHandle, Handled, Message, OwnedMessage, Producer, Quarantine};
use hookline_model::{AttemptOutcome, AttemptRecord, Dispatch};
use std::sync::Arc;

#[derive(Clone)]
pub(crate) struct Worker {
    pub config: ConfigHandle,
    pub attempter: Attempter,
    pub producer: Producer,
    pub quarantine: Quarantine,
    pub attempts_topic: String,
    pub metrics: Arc<Metrics>,
}

impl Worker {
    pub async fn handle(&self, msg: OwnedMessage) -> Handled {
        let raw = msg.payload().unwrap_or_default();
        let d: Dispatch = match serde_json::from_slice(raw) {
            Ok(d) => d,
            Err(e) => {
                return self
                    .quarantine
                    .put_record("invalid_dispatch_record", &e.to_string(), &msg)
                    .await
                    .into()
            }
        };
        let attempt = headers::get_i64(msg.headers(), headers::ATTEMPT).unwrap_or(1).max(1) as u32;
        let record = match self.config.read(|c| d.effective_subscription(c)) {
            Some(sub) if sub.enabled => {
                let _in_flight = self.metrics.in_flight_guard();
                self.attempter.attempt(&d, &sub, attempt).await
            }
            Some(sub) => skipped(&d, attempt, &sub.url, "subscription is disabled"),
            None => skipped(&d, attempt, "", "subscription no longer exists"),
        };
        self.metrics.observe(&record, &d);
        self.producer
            .send_json(&self.attempts_topic, &record.workspace_id, &record, &[])
            .await
            .into()
    }
}

fn skipped(d: &Dispatch, attempt: u32, url: &str, why: &str) -> AttemptRecord {
    AttemptRecord {
        attempt_id: format!("{}.{attempt}", d.dispatch_id),
        webhook_id: d.dispatch_id.clone(),
        event_id: d.event.id.clone(),
        event_type: d.event.kind(),
        workspace_id: d.workspace_id.clone(),
        subscription_id: d.subscription_id.clone(),
        url: url.to_string(),
        attempt,
        test: d.test,
        outcome: AttemptOutcome::Skipped,
        request_headers: vec![],
        payload: String::new(),
        response_code: None,
        response_time_ms: 0,
        response_body: None,
        error: Some(why.to_string()),
        attempted_at: Utc::now(),
    }
}
