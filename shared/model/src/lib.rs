//! The Hookline data model, shared by every service.
//!
//! One place for each concept: the records that cross Kafka topics ([`input`], [`event`],
//! [`dispatch`]), the webhook configuration every API dialect maps onto ([`subscription`],
//! [`workspace`]), the payload field table ([`fields`]) and how a payload is rendered
//! ([`render`], one module per dialect). Nothing in here does I/O, so all of it is unit-testable.

pub mod apikey;
pub mod batch;
pub mod channel;
pub mod config_log;
pub mod dispatch;
pub mod endpoint_state;
pub mod event;
pub mod fields;
pub mod ids;
pub mod ingest_key;
pub mod input;
mod join;
pub mod named;
pub mod render;
pub mod retry;
pub mod sample;
pub mod status;
pub mod subscription;
pub mod workspace;

pub use apikey::{ApiKeyRecord, Permission};
pub use batch::BatchPolicy;
pub use channel::Channel;
pub use config_log::{Applied, ConfigKey, ConfigState};
pub use dispatch::{
    AttemptOutcome, AttemptRecord, DeadLetter, DeadLetterReason, Dispatch, Resolved, URL_KIND_FAILOVER,
    URL_KIND_PRIMARY,
};
pub use endpoint_state::{DisableReason, Disabled, WebhookDisabledEvent};
pub use event::{Event, EventData, EventKind};
pub use ingest_key::{IngestKeyRecord, IngestKind};
pub use input::{
    AcceptedMessage, CarrierDlr, ClickInput, ConversionInput, InboundInput, LinkType, MessageDetails,
    RevokedClickInput, RevokedSource, SendPath,
};
pub use named::NamedEventType;
pub use retry::RetryPolicy;
pub use status::DlrStatus;
pub use subscription::{BodyFormat, Dialect, Filters, PayloadSchema, PreviousSecret, SealedSecret, Subscription};
pub use workspace::{SmsEdgeSettings, Telecom23Settings, WorkspaceConfig};

/// Timestamps on the wire are RFC 3339 UTC with second precision (`2026-02-13T10:30:04Z`),
/// the format the 23 Telecom reference payload uses.
pub fn format_timestamp(ts: &chrono::DateTime<chrono::Utc>) -> String {
    ts.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}
