//! One delivery attempt: render, sign, POST, classify, record.

use crate::credentials::{CredentialError, Credentials};
use crate::memo::Memo;
use chrono::Utc;
use hookline_model::{render, AttemptOutcome, AttemptRecord, Dispatch, PayloadSchema, Subscription};
use hookline_security::{Sealer, UrlPolicy};
use std::sync::Arc;
use std::time::{Duration, Instant};

mod probe;

/// The longest timeout a subscription may have.
pub const MAX_TIMEOUT_MS: u64 = 30_000;

/// Longest response body kept in the attempt log.
const RESPONSE_BODY_LIMIT: usize = 1024;

/// Request headers Hookline sets on every webhook.
pub mod header {
    /// Unix seconds; part of the signed string.
    pub const TIMESTAMP: &str = "X-Webhook-Timestamp";
    /// `sha256=<hex HMAC-SHA256(secret, timestamp + "." + body)>`.
    pub const SIGNATURE: &str = "X-Webhook-Signature";
    /// The same for every attempt of one event to one subscription: receivers dedupe on it.
    pub const ID: &str = "X-Webhook-Id";
    /// Event type (`delivery`, `click`, ...).
    pub const EVENT: &str = "X-Webhook-Event";
    /// 1-based attempt number (a batch: the highest of its events').
    pub const ATTEMPT: &str = "X-Webhook-Attempt";
    /// The number of events in a batch request (`{"events": [...]}`); absent otherwise.
    pub const BATCH_SIZE: &str = "X-Webhook-Batch-Size";
    /// `true` on a replayed event (its webhook id is the original one); absent otherwise.
    pub const REPLAY: &str = "X-Webhook-Replay";
    /// Standard Webhooks (named subscriptions only, next to the headers above): the same value
    /// as [`ID`].
    pub const STANDARD_ID: &str = "webhook-id";
    /// Standard Webhooks: the same Unix seconds as [`TIMESTAMP`].
    pub const STANDARD_TIMESTAMP: &str = "webhook-timestamp";
    /// Standard Webhooks: `v1,<base64 HMAC-SHA256(key, id + "." + timestamp + "." + body)>`, the
    /// current secret's, then the rotated-out secret's during an overlap, space-separated.
    pub const STANDARD_SIGNATURE: &str = "webhook-signature";
}

/// One request, besides what the subscription sets (URL, secrets, timeout).
pub(crate) struct Outgoing<'a> {
    /// `X-Webhook-Id` (and `webhook-id`): the webhook id, or a batch's id.
    pub id: &'a str,
    /// `X-Webhook-Event`.
    pub event_type: &'a str,
    /// `X-Webhook-Attempt`.
    pub attempt: u32,
    /// Sends `X-Webhook-Replay: true`.
    pub replay: bool,
    pub rendered: render::Rendered,
    /// Headers sent after the `X-Webhook-*` ones (a batch's size).
    pub extra: Vec<(String, String)>,
}

impl<'a> Outgoing<'a> {
    /// The request of attempt `attempt` of `d` alone, rendered for `sub`.
    pub fn of(d: &'a Dispatch, sub: &Subscription, attempt: u32) -> Self {
        Self {
            id: &d.dispatch_id,
            event_type: sub.event_type_name(&d.event),
            attempt,
            replay: d.replay,
            rendered: render::render(&d.event, sub),
            extra: vec![],
        }
    }
}

/// An attempt's record, and how long the receiver asked us to wait (429/503 `Retry-After`).
#[derive(Clone)]
pub struct Attempted {
    pub record: AttemptRecord,
    pub retry_after: Option<Duration>,
}

/// How the error of a timed-out attempt starts.
const TIMEOUT_ERROR: &str = "timeout after ";

impl Attempted {
    /// The receiver said it is over capacity: 429 or 503.
    ///
    /// A 429 always; a 503 only with a `Retry-After` (a receiver saying when to come back). A
    /// bare 503 is how a receiver that is down usually answers (a load balancer with no
    /// backend), so it uses an attempt like a 500 and reaches the dead-letter topic on the
    /// policy's schedule, while still lowering the endpoint's rate.
    pub fn throttled_response(&self) -> bool {
        match self.record.response_code {
            Some(429) => true,
            Some(503) => self.retry_after.is_some(),
            _ => false,
        }
    }

    /// The request timed out (a sign of an overloaded receiver, like a 429).
    pub fn timed_out(&self) -> bool {
        self.record.response_code.is_none()
            && self
                .record
                .error
                .as_deref()
                .is_some_and(|e| e.starts_with(TIMEOUT_ERROR))
    }
}

#[derive(Clone)]
pub struct Attempter {
    client: reqwest::Client,
    policy: UrlPolicy,
    credentials: Arc<Credentials>,
    /// Subscription URLs that passed [`UrlPolicy::check_syntax`], parsed (the check depends on
    /// the string and this process's policy only).
    urls: Arc<Memo<reqwest::Url>>,
    user_agent: String,
}

impl Attempter {
    pub fn new(client: reqwest::Client, policy: UrlPolicy, sealer: Sealer, user_agent: String) -> Self {
        Self {
            client,
            policy,
            credentials: Arc::new(Credentials::new(sealer)),
            urls: Arc::default(),
            user_agent,
        }
    }

    /// Makes attempt number `attempt` of `d` to `sub` and returns its record. Never fails:
    /// every way an attempt can go wrong is an outcome in the record.
    pub async fn attempt(&self, d: &Dispatch, sub: &Subscription, attempt: u32) -> Attempted {
        self.send(d, sub, Outgoing::of(d, sub, attempt)).await
    }

    /// Sends `out` to `sub` and returns the record of it, made for `d` (a batch's first event;
    /// see [`crate::batch`]). Never fails, like [`Attempter::attempt`].
    pub(crate) async fn send(&self, d: &Dispatch, sub: &Subscription, out: Outgoing<'_>) -> Attempted {
        let mut retry_after = None;
        let record = self.attempt_inner(d, sub, out, &mut retry_after).await;
        Attempted { record, retry_after }
    }

    async fn attempt_inner(
        &self,
        d: &Dispatch,
        sub: &Subscription,
        out: Outgoing<'_>,
        retry_after: &mut Option<Duration>,
    ) -> AttemptRecord {
        let Outgoing {
            id,
            event_type,
            attempt,
            replay,
            rendered,
            extra,
        } = out;
        let timestamp = Utc::now().timestamp().to_string();
        let attempt_number = attempt.to_string();
        // Also refuses URLs stored before the policy refused credentials and control
        // characters; what is requested is the parsed URL.
        let checked = self.urls.get_or_try(&sub.url, || self.policy.check_syntax(&sub.url));
        // A URL that passed the check has no credentials to hide.
        let url = match &checked {
            Ok(_) => sub.url.clone(),
            Err(_) => shown_url(&sub.url),
        };
        let mut record = AttemptRecord {
            payload: String::from_utf8_lossy(&rendered.body).into_owned(),
            ..AttemptRecord::new(d, attempt, url, AttemptOutcome::Failed)
        };
        // What the attempt log shows, in the order sent.
        let mut shown: Vec<(String, String)> = vec![
            ("Content-Type".into(), rendered.content_type.into()),
            ("User-Agent".into(), self.user_agent.clone()),
            (header::ID.into(), id.to_string()),
            (header::EVENT.into(), event_type.into()),
            (header::ATTEMPT.into(), attempt_number.clone()),
            (header::TIMESTAMP.into(), timestamp.clone()),
        ];
        if replay {
            shown.push((header::REPLAY.into(), "true".into()));
        }
        shown.extend(extra);

        // Only named subscriptions speak Standard Webhooks: the other dialects' requests stay
        // byte for byte what their receivers were written against.
        let standard = sub.schema == PayloadSchema::Named;
        let mut signature = None;
        let mut standard_signature = None;
        let mut authorization = None;
        let secrets = (|| -> Result<(), CredentialError> {
            if let Some(secret) = &sub.signing_secret {
                let signer = self.credentials.signer(secret)?;
                signature = Some(signer.sign(&timestamp, &rendered.body));
            }
            if standard {
                standard_signature =
                    self.credentials
                        .standard_signature(sub, id, &timestamp, &rendered.body, Utc::now())?;
            }
            if let Some(basic) = &sub.basic_auth {
                authorization = Some(self.credentials.basic_authorization(basic)?);
            }
            Ok(())
        })();
        if let Some(sig) = &signature {
            shown.push((header::SIGNATURE.into(), sig.clone()));
        }
        if standard {
            shown.push((header::STANDARD_ID.into(), id.to_string()));
            shown.push((header::STANDARD_TIMESTAMP.into(), timestamp.clone()));
            if let Some(sig) = standard_signature {
                shown.push((header::STANDARD_SIGNATURE.into(), sig));
            }
        }
        if let Err(e) = secrets {
            // Sending unsigned would be worse than not sending: the receiver would reject it
            // or, worse, accept it. This is an operator problem (key rotated without re-seal).
            record.outcome = AttemptOutcome::Skipped;
            record.error = Some(format!("credentials cannot be opened: {e}"));
            record.request_headers = shown;
            return record;
        }
        let url = match checked {
            Ok(url) => url,
            Err(e) => {
                record.error = Some(format!("URL refused: {e}"));
                record.request_headers = shown;
                if authorization.is_some() {
                    record.request_headers.push(redacted_authorization());
                }
                return record;
            }
        };

        // What is sent is what the log shows, plus the real `Authorization`.
        let mut req = self
            .client
            .post(url)
            .timeout(Duration::from_millis(sub.timeout_ms.clamp(1, MAX_TIMEOUT_MS)))
            .body(rendered.body);
        for (k, v) in &shown {
            req = req.header(k, v);
        }
        if let Some(a) = &authorization {
            req = req.header("Authorization", &**a);
            shown.push(redacted_authorization());
        }
        record.request_headers = shown;

        let started = Instant::now();
        let result = send_and_read(req).await;
        record.response_time_ms = started.elapsed().as_millis() as u64;
        match result {
            Ok((status, body, after)) => {
                *retry_after = after;
                record.response_code = Some(status);
                record.response_body = Some(body);
                if (200..300).contains(&status) {
                    record.outcome = AttemptOutcome::Delivered;
                } else if (300..400).contains(&status) {
                    record.error = Some(format!("HTTP {status}: redirects are not followed"));
                } else {
                    record.error = Some(format!("HTTP {status}"));
                }
            }
            Err(e) if e.is_timeout() => {
                record.error = Some(format!("{TIMEOUT_ERROR}{} ms", sub.timeout_ms));
            }
            Err(e) => {
                record.error = Some(format!("request failed: {}", error_chain(&e)));
            }
        }
        record
    }
}

/// How the attempt log shows the `Authorization` header.
fn redacted_authorization() -> (String, String) {
    ("Authorization".into(), "Basic [redacted]".into())
}

/// The URL as the attempt log shows it: a URL stored before credentials in URLs were refused
/// is refused now, and its credentials are not copied into the log.
fn shown_url(raw: &str) -> String {
    match reqwest::Url::parse(raw) {
        Ok(mut url) if !url.username().is_empty() || url.password().is_some() => {
            let _ = url.set_username("[redacted]");
            let _ = url.set_password(None);
            url.into()
        }
        _ => raw.to_string(),
    }
}

/// Status, the start of the body, and `Retry-After` on a 429 or 503.
async fn send_and_read(req: reqwest::RequestBuilder) -> Result<(u16, String, Option<Duration>), reqwest::Error> {
    let mut resp = req.send().await?;
    let status = resp.status().as_u16();
    let retry_after = match status {
        429 | 503 => resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| crate::retry::parse_retry_after(v, Utc::now())),
        _ => None,
    };
    let mut body = Vec::new();
    while body.len() < RESPONSE_BODY_LIMIT {
        match resp.chunk().await? {
            Some(chunk) => body.extend_from_slice(&chunk),
            None => break,
        }
    }
    body.truncate(RESPONSE_BODY_LIMIT);
    Ok((status, String::from_utf8_lossy(&body).into_owned(), retry_after))
}

/// The error and its causes on one line (reqwest's top-level message alone says little).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        out.push_str(": ");
        out.push_str(&c.to_string());
        cur = c.source();
    }
    out
}
