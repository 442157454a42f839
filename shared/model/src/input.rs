//! Records that arrive from outside Hookline, after ingest has validated them.
//!
//! These are also the JSON contracts of the raw input topics: the gateway writes
//! [`AcceptedMessage`] records; carriers write [`CarrierDlr`] records (or SMPP receipt text,
//! which ingest turns into a `CarrierDlr`).

use crate::channel::Channel;
use crate::status::DlrStatus;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One SMS the gateway accepted, with the metadata a delivery report is later joined with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AcceptedMessage {
    /// The id the customer got back from the send call.
    pub message_id: String,
    /// The id the carrier assigned on submit; carrier DLRs refer to it.
    pub carrier_message_id: String,
    /// The carrier connection the message was submitted through (1–64 of `[A-Za-z0-9_.-]`).
    /// Carrier ids are unique only per connection: when set, only DLRs that name the same
    /// connection (or come with a credential bound to it) join this message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub carrier_connection: Option<String>,
    pub workspace_id: String,
    /// Set by ingest when the message came with a credential bound to its workspace (the
    /// workspace's own feed, not the gateway): its message and carrier ids are then that
    /// workspace's alone, joined only by events from credentials bound to the same workspace,
    /// so a workspace can never claim ids the gateway later announces for another.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub workspace_feed: bool,
    pub recipient: String,
    pub sender_id: String,
    #[serde(default = "one")]
    pub num_parts: u32,
    #[serde(default)]
    pub cost: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub broadcast_id: Option<String>,
    /// Which send path accepted it; when absent, `broadcast` if `broadcast_id` is set, else
    /// `api_single`. Impressions fire for `api_single` only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub send_path: Option<SendPath>,
    /// When the gateway accepted the message.
    pub accepted_at: DateTime<Utc>,
    /// `sms` (the default), `mms`, `whatsapp` or `rcs`: the channel of the message's status
    /// events.
    #[serde(default, skip_serializing_if = "Channel::is_sms")]
    pub channel: Channel,
    /// Gateway fields that only some payloads carry (the SMSEdge message record).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<MessageDetails>,
}

/// What the gateway knows about a message beyond the fields every dialect uses: the rest of
/// the SMSEdge message record. Every field is optional; SMSEdge payloads render an absent one
/// as `null` (flags as `0`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MessageDetails {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// The customer's own reference for the send.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub list_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country_iso: Option<String>,
    /// The link before shortening, and the short link that replaced it in the text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shortened_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify_local: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shorten_url: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transactional: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preferred_route_id: Option<i64>,
    /// A scheduled send's delay, as the gateway writes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_time: Option<String>,
}

/// The gateway path a message was sent through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SendPath {
    /// One message through the send API.
    ApiSingle,
    /// A batch through the send API.
    ApiBatch,
    /// Part of a broadcast (campaign).
    Broadcast,
}

impl AcceptedMessage {
    pub fn send_path(&self) -> SendPath {
        self.send_path.unwrap_or(if self.broadcast_id.is_some() {
            SendPath::Broadcast
        } else {
            SendPath::ApiSingle
        })
    }
}

/// An SMS received on one of a workspace's numbers (the gateway's inbound stream).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InboundInput {
    /// The gateway's id; derived from the content when it sends none.
    pub inbound_id: String,
    pub workspace_id: String,
    pub from: String,
    pub to: String,
    pub text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_message_id: Option<String>,
    /// When the SMS was received.
    pub received_at: DateTime<Utc>,
    /// When Hookline got it.
    pub ingested_at: DateTime<Utc>,
    /// `sms` (the default), `mms`, `whatsapp` or `rcs`.
    #[serde(default, skip_serializing_if = "Channel::is_sms")]
    pub channel: Channel,
}

/// Whose short link was clicked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkType {
    /// Shortened automatically by the send API: every human click is delivered.
    Api,
    /// A broadcast's link: `unique_clicks_only` applies.
    Broadcast,
}

/// A click on a short link, from the link shortener (validated by ingest).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClickInput {
    /// The shortener's id for this click; derived from the content when it sends none.
    pub click_id: String,
    /// The short link that was clicked.
    pub url: String,
    pub message_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub broadcast_id: Option<String>,
    pub recipient: String,
    pub link_type: LinkType,
    #[serde(default)]
    pub user_agent: String,
    #[serde(default)]
    pub ip: String,
    /// Set upstream when the shortener already knows the click is automated.
    #[serde(default)]
    pub bot: bool,
    /// The link was the message's opt-out link: the visit fires `opt_out`, not `click`.
    #[serde(default)]
    pub opt_out: bool,
    /// Set when the sender's credential is bound to one workspace: the click joins only that
    /// workspace's messages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace_id: Option<String>,
    pub clicked_at: DateTime<Utc>,
    pub received_at: DateTime<Utc>,
}

/// A click that bot detection revoked after the fact (the `link.clicks.revoked` topic, keyed
/// by workspace).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevokedClickInput {
    pub workspace_id: String,
    /// The message whose click was revoked.
    pub message_id: String,
    /// How the message was sent: `api` or `campaign`.
    pub source: RevokedSource,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RevokedSource {
    Api,
    Campaign,
}

/// A conversion (tracker postback or API action), validated by ingest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConversionInput {
    /// At least one of `click_id` and `message_id` identifies what converted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub click_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    /// The tracker's event name (`purchase`, `signup`, ...).
    pub event: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    /// A repeated postback with the same transaction id fires once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transaction_id: Option<String>,
    /// The workspace of the credential (tracking token) it came with: the conversion joins
    /// only that workspace's clicks and messages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace_id: Option<String>,
    pub occurred_at: DateTime<Utc>,
    pub received_at: DateTime<Utc>,
}

fn one() -> u32 {
    1
}

/// A carrier delivery report, normalised.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CarrierDlr {
    /// Matches [`AcceptedMessage::carrier_message_id`].
    pub carrier_message_id: String,
    pub status: DlrStatus,
    /// The carrier's own error/status code (SMPP `err:`), `"000"` when it sent none.
    pub status_code: String,
    /// When the carrier reached this status (SMPP `done date`); ingest time when absent.
    pub done_at: DateTime<Utc>,
    /// Actual cost reported by the carrier, when it reports one; otherwise the cost known at
    /// submit is used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost: Option<f64>,
    /// Free-form carrier name, for logs only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub carrier: Option<String>,
    /// The carrier connection the report came through ([`AcceptedMessage::carrier_connection`]):
    /// from the record, or forced by the ingest credential bound to a connection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub carrier_connection: Option<String>,
    /// Set when the sender's credential is bound to one workspace: the report joins only that
    /// workspace's messages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace_id: Option<String>,
    /// When Hookline first saw the report; end-to-end latency is measured from here.
    pub received_at: DateTime<Utc>,
}
