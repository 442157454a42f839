//! A webhook subscription: the one model that every configuration dialect is a view of.

use crate::channel::Channel;
use crate::endpoint_state::Disabled;
use crate::event::{Event, EventKind};
use crate::named::NamedEventType;
use crate::retry::RetryPolicy;
use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Which API manages a subscription. A change through one dialect never touches the
/// subscriptions of another; each dialect's GET shows only its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Dialect {
    /// `PUT /api/v1/user/webhooks`: one subscription per event kind.
    Telecom23,
    /// `POST /v1/user/set-webhook`.
    SmsEdge,
    /// `POST /api/v1/webhooks`: named subscriptions with filters.
    Named,
    /// `PUT /api/v1/operational-webhook`: the workspace's operational URL, which gets
    /// Hookline's own notices (`webhook.disabled`) in the named envelope, signed like a named
    /// subscription. At most one per workspace, id [`OPERATIONAL_ID`]; no event from the
    /// pipeline ever matches it.
    Operational,
}

/// The subscription id of a workspace's operational URL.
pub const OPERATIONAL_ID: &str = "operational";

/// Field names and value shapes of a payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PayloadSchema {
    /// A flat object of the chosen fields (23 Telecom).
    Telecom23,
    /// The named-subscription envelope `{"id", "type", "timestamp", "data"}`
    /// ([`crate::render::named`]).
    Named,
    /// SMSEdge's message record (DLR, click), inbound record and revoke batch, with its field
    /// names and value types ([`crate::render::smsedge`]).
    SmsEdge,
}

/// How the payload is put in the request body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BodyFormat {
    /// `application/json`, the payload object as the body.
    Json,
    /// `application/x-www-form-urlencoded`, the payload object as JSON in the `sms` field
    /// (SMSEdge).
    FormSms,
}

/// A secret as stored in the config topic: sealed with the operator key when one is
/// configured (see `hookline-security`), never in a response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SealedSecret(pub String);

/// The signing secret a rotation replaced, still signing until `expires_at` so that receivers
/// can move to the new one without rejecting requests (named subscriptions: the
/// `webhook-signature` header then carries both signatures).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreviousSecret {
    pub secret: SealedSecret,
    pub expires_at: DateTime<Utc>,
}

impl PreviousSecret {
    /// Whether it still signs at `now`.
    pub fn live_at(&self, now: DateTime<Utc>) -> bool {
        now < self.expires_at
    }
}

/// Subscription filters: OR inside a list, AND across lists; an empty list matches all.
/// Values compare case-insensitively.
///
/// What each list is compared with depends on the event kind (the named-subscription
/// reference):
///
/// | kind | `sender` | `status` | `message_ref` | `campaign_id` |
/// | --- | --- | --- | --- | --- |
/// | status (every channel) | the message's sender | its status | its id | its campaign |
/// | click (`LINK_HIT`), opt-out | the source message's sender | not applied | the source message's id | not applied |
/// | inbound (every channel) | the recipient (`to`, the address that received it) | not applied | the last message's id | the last message's campaign |
/// | delivery, conversion, impression | the message's sender | delivery status (delivery only) | the message id | the campaign |
///
/// "Not applied" means the list is ignored for that kind: a subscription to `SMS_STATUS` and
/// `LINK_HIT` with a `status` filter still gets every link hit that passes its other lists.
/// A field the event does not have (no last message on an inbound, no campaign) never
/// matches a non-empty list.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Filters {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sender: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub status: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub message_ref: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub campaign_id: Vec<String>,
}

/// One filter list's view of an event: `None` = the list does not apply to this kind,
/// `Some(None)` = it applies but the event has no such value.
type Target<'a> = Option<Option<&'a str>>;

impl Filters {
    pub fn is_empty(&self) -> bool {
        self.sender.is_empty() && self.status.is_empty() && self.message_ref.is_empty() && self.campaign_id.is_empty()
    }

    /// Whether `event` passes every non-empty list that applies to its kind (see the table
    /// above).
    pub fn matches(&self, event: &Event) -> bool {
        use crate::event::EventData;
        let sender: Target = Some(event.sender_id());
        let (status, message_ref, campaign): (Target, Target, Target) = match &event.data {
            EventData::Delivery(d) => (
                Some(Some(d.status.as_str())),
                Some(Some(d.message_id.as_str())),
                Some(d.broadcast_id.as_deref()),
            ),
            EventData::Conversion(c) => (None, Some(Some(c.message_id.as_str())), Some(c.broadcast_id.as_deref())),
            EventData::Impression(i) => (None, Some(Some(i.message_id.as_str())), Some(i.broadcast_id.as_deref())),
            EventData::Click(c) => (None, Some(Some(c.message_id.as_str())), None),
            EventData::OptOut(o) => (None, Some(o.message_id.as_deref()), None),
            EventData::Inbound(i) => (
                None,
                Some(i.last_message_id.as_deref()),
                // Only a known last message has a campaign.
                Some(i.last_message_id.as_ref().and(i.last_campaign_id.as_deref())),
            ),
            EventData::Status(s) => (
                Some(Some(s.status.as_str())),
                Some(Some(s.message_id.as_str())),
                Some(s.broadcast_id.as_deref()),
            ),
            // A batch, not about one message: a non-empty list never matches it.
            EventData::ClicksRevoked(_) | EventData::WebhookDisabled(_) => (Some(None), Some(None), Some(None)),
        };
        any_of(&self.sender, sender)
            && any_of(&self.status, status)
            && any_of(&self.message_ref, message_ref)
            && any_of(&self.campaign_id, campaign)
    }
}

fn any_of(list: &[String], target: Target) -> bool {
    match target {
        None => true,
        Some(value) => list.is_empty() || value.is_some_and(|v| list.iter().any(|l| l.eq_ignore_ascii_case(v))),
    }
}

/// One endpoint that receives some event kinds of one workspace.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Subscription {
    /// Unique inside the workspace. Dispatch records are keyed by
    /// `<workspace_id>/<id>`, so one delivery consumer owns one endpoint.
    pub id: String,
    pub workspace_id: String,
    pub dialect: Dialect,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub url: String,
    pub event_kinds: Vec<EventKind>,
    /// Named subscriptions: the exact (kind, channel) pairs wanted; `event_kinds` then holds
    /// their kinds. Empty for the other dialects, whose `event_kinds` mean SMS events only.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub event_types: Vec<NamedEventType>,
    #[serde(default, skip_serializing_if = "Filters::is_empty")]
    pub filters: Filters,
    pub schema: PayloadSchema,
    pub format: BodyFormat,
    /// Chosen payload fields per kind, canonical (see [`crate::fields::normalise`]); a kind
    /// not in the map sends its defaults.
    #[serde(default)]
    pub fields: BTreeMap<EventKind, Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signing_secret: Option<SealedSecret>,
    /// The secret before the last rotation, while it still signs (absent in records written
    /// before rotation existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_secret: Option<PreviousSecret>,
    /// `user:pass` for HTTP Basic auth, sealed like the signing secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub basic_auth: Option<SealedSecret>,
    /// Requests per second; 0 means the system default.
    #[serde(default)]
    pub rate_limit_per_sec: u32,
    /// Requests in flight at once; 0 means the system default (SMSEdge: 3).
    #[serde(default)]
    pub max_concurrency: u32,
    pub retry: RetryPolicy,
    pub timeout_ms: u64,
    pub enabled: bool,
    /// Why it is not enabled, and since when ([`crate::endpoint_state`]); `None` while enabled
    /// (and for subscriptions disabled before reasons were recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled: Option<Disabled>,
    /// When it was created (named subscriptions), to the millisecond; `None` in records
    /// written before it was recorded. Strictly increasing in creation order within a
    /// workspace (see [`Subscription::stamp_created`]), which the listing's cursor relies on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<DateTime<Utc>>,
    /// When it last changed (named subscriptions): set on create and moved by
    /// [`Subscription::touch`] on every change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<DateTime<Utc>>,
    /// Where attempts go while the primary `url` is failing (named subscriptions): after
    /// [`Subscription::failover_threshold`] consecutive failed attempts to `url`, delivery sends
    /// to this URL and probes `url` until it answers. Passes the same URL policy as `url`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failover_url: Option<String>,
    /// Consecutive failed attempts to `url` that switch to `failover_url`; 0 means
    /// [`DEFAULT_FAILOVER_AFTER`].
    #[serde(default, skip_serializing_if = "is_zero")]
    pub failover_after: u32,
    /// Opt-in batching (named subscriptions): several events in one POST
    /// `{"events": [...]}` ([`crate::batch`]); `None` (the default) sends one event per request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch: Option<crate::batch::BatchPolicy>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// Consecutive failed attempts to the primary URL before a subscription's failover URL takes
/// over, when the subscription chooses none: one failure is often a blip (a deploy, a timeout),
/// three in a row rarely are.
pub const DEFAULT_FAILOVER_AFTER: u32 = 3;

/// The Kafka key of subscription `id`'s dispatch, retry and dead-letter records,
/// `<workspace_id>/<id>`: one key per endpoint, so one delivery consumer owns each endpoint.
pub fn endpoint_key(workspace_id: &str, id: &str) -> String {
    format!("{workspace_id}/{id}")
}

/// `now` truncated to the millisecond, or 1 ms past `floor` when that is not later.
fn after(now: DateTime<Utc>, floor: Option<DateTime<Utc>>) -> DateTime<Utc> {
    let ms = TimeDelta::milliseconds(1);
    let now = now.duration_trunc(ms).unwrap_or(now);
    match floor {
        Some(f) if f >= now => f + ms,
        _ => now,
    }
}

/// A subscription's timeout when nothing else is chosen.
pub const DEFAULT_TIMEOUT_MS: u64 = 5_000;

impl Subscription {
    /// A subscription of `dialect` with that dialect's payload schema and retry policy, JSON
    /// bodies, no event kinds yet, and every optional setting at its default: no filters,
    /// chosen fields or credentials, the system's rate limit and concurrency, a 5 s timeout,
    /// enabled. The dialects' APIs and the tests start from it and set what differs.
    pub fn new(
        dialect: Dialect,
        workspace_id: impl Into<String>,
        id: impl Into<String>,
        url: impl Into<String>,
    ) -> Self {
        let schema = match dialect {
            Dialect::Telecom23 => PayloadSchema::Telecom23,
            Dialect::SmsEdge => PayloadSchema::SmsEdge,
            Dialect::Named | Dialect::Operational => PayloadSchema::Named,
        };
        Self {
            id: id.into(),
            workspace_id: workspace_id.into(),
            dialect,
            name: None,
            url: url.into(),
            event_kinds: vec![],
            event_types: vec![],
            filters: Filters::default(),
            schema,
            format: BodyFormat::Json,
            fields: BTreeMap::new(),
            signing_secret: None,
            previous_secret: None,
            basic_auth: None,
            rate_limit_per_sec: 0,
            max_concurrency: 0,
            retry: RetryPolicy::of(dialect),
            timeout_ms: DEFAULT_TIMEOUT_MS,
            enabled: true,
            disabled: None,
            created_at: None,
            updated_at: None,
            failover_url: None,
            failover_after: 0,
            batch: None,
        }
    }

    /// Consecutive failed attempts to `url` after which `failover_url` takes over.
    pub fn failover_threshold(&self) -> u32 {
        match self.failover_after {
            0 => DEFAULT_FAILOVER_AFTER,
            n => n,
        }
    }

    /// Stamps a new subscription created at `now`: `created_at` and `updated_at` are `now` to
    /// the millisecond, moved 1 ms past `newest_created` (the latest `created_at` in its
    /// workspace) when a clock behind that one says otherwise, so creation times stay
    /// strictly increasing in creation order.
    pub fn stamp_created(&mut self, now: DateTime<Utc>, newest_created: Option<DateTime<Utc>>) {
        let at = after(now, newest_created);
        self.created_at = Some(at);
        self.updated_at = Some(at);
    }

    /// Records a change made at `now`: `updated_at` becomes `now` to the millisecond, and at
    /// least 1 ms past its previous value, so a client comparing the two always sees it move.
    /// The one place every change to a subscription's settings stamps it.
    pub fn touch(&mut self, now: DateTime<Utc>) {
        self.updated_at = Some(after(now, self.updated_at));
    }

    /// The Kafka key of its dispatch records.
    pub fn endpoint_key(&self) -> String {
        endpoint_key(&self.workspace_id, &self.id)
    }

    /// Whether an event should be dispatched to this subscription: same workspace, its
    /// (kind, channel) wanted, and it passes the filters. A disabled subscription still wants
    /// its events: delivery keeps each as an `endpoint_disabled` dead letter rather than
    /// sending it, so nothing is dropped silently ([`crate::endpoint_state`]).
    pub fn wants(&self, event: &Event) -> bool {
        event.workspace_id == self.workspace_id && self.wants_type(event) && self.filters.matches(event)
    }

    /// Turns the subscription on (`None`) or off with a reason.
    pub fn set_disabled(&mut self, disabled: Option<Disabled>) {
        self.enabled = disabled.is_none();
        self.disabled = disabled;
    }

    fn wants_type(&self, event: &Event) -> bool {
        let (kind, channel) = (event.kind(), event.channel());
        if self.event_types.is_empty() {
            channel == Channel::Sms && self.event_kinds.contains(&kind)
        } else {
            self.event_types
                .iter()
                .any(|t| t.kind() == kind && t.channel() == channel)
        }
    }

    /// The event type name sent with an event (`X-Webhook-Event`): the named dialect's
    /// (`SMS_STATUS`, ...) for named subscriptions, the kind (`delivery`, ...) otherwise.
    pub fn event_type_name(&self, event: &Event) -> &'static str {
        match self.schema {
            PayloadSchema::Named => crate::render::named::type_name(event),
            _ => event.kind().as_str(),
        }
    }

    /// The fields to render for `kind`.
    pub fn fields_for(&self, kind: EventKind) -> Vec<&str> {
        match self.fields.get(&kind) {
            Some(chosen) => chosen.iter().map(String::as_str).collect(),
            None => crate::fields::defaults(kind),
        }
    }
}

#[cfg(test)]
#[path = "subscription_tests.rs"]
mod tests;
