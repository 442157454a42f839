//! The probe of a failing primary URL ([`crate::failover`]): a lightweight signed ping.
//!
//! `POST` to the subscription's `url` with `{"type": "ping", "timestamp": "<RFC 3339>"}`, the
//! headers of an event (`X-Webhook-Event: ping`, a fresh `X-Webhook-Id` per probe, no
//! `X-Webhook-Attempt`), signed with the subscription's secret and with its Basic auth, so a
//! receiver that checks signatures answers it like an event. It is not an event: it is never
//! retried, never in the dispatch topics or the attempt log, and only a 2xx counts as an
//! answer (redirects are not followed, like an attempt's). The URL policy applies as for an
//! attempt: the syntax check here, the address check at connect time in the client.

use super::{header, Attempter, MAX_TIMEOUT_MS};
use chrono::Utc;
use hookline_model::Subscription;
use std::time::Duration;

/// The body of a probe at `now`.
pub fn ping_body(now: chrono::DateTime<Utc>) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "type": "ping",
        "timestamp": hookline_model::format_timestamp(&now),
    }))
    .expect("a JSON object")
}

impl Attempter {
    /// Pings `sub`'s primary URL: `Ok` with the status it answered, or why there was none.
    pub async fn probe(&self, sub: &Subscription) -> Result<u16, String> {
        let now = Utc::now();
        let body = ping_body(now);
        let timestamp = now.timestamp().to_string();
        let url = self
            .urls
            .get_or_try(&sub.url, || self.policy.check_syntax(&sub.url))
            .map_err(|e| format!("URL refused: {e}"))?;
        let mut req = self
            .client
            .post(url)
            .timeout(Duration::from_millis(sub.timeout_ms.clamp(1, MAX_TIMEOUT_MS)))
            .header("Content-Type", "application/json")
            .header("User-Agent", &self.user_agent)
            .header(header::ID, format!("ping_{}", now.timestamp_micros()))
            .header(header::EVENT, "ping")
            .header(header::TIMESTAMP, &timestamp);
        if let Some(secret) = &sub.signing_secret {
            let signer = self.credentials.signer(secret).map_err(|e| e.to_string())?;
            req = req.header(header::SIGNATURE, signer.sign(&timestamp, &body));
        }
        if let Some(basic) = &sub.basic_auth {
            let auth = self.credentials.basic_authorization(basic).map_err(|e| e.to_string())?;
            req = req.header("Authorization", &*auth);
        }
        let resp = req.body(body).send().await.map_err(|e| e.to_string())?;
        Ok(resp.status().as_u16())
    }
}
