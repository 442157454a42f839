//! Who may push what through the HTTP edge: every request carries an ingest credential
//! (`Authorization: Bearer hki_…`; on `/track` also the `token` parameter of the postback URL,
//! since trackers can only fill in a URL), looked up by hash in the config every replica
//! follows, so a revocation reaches every replica within the config topic's propagation time.
//!
//! A credential grants input kinds, and may be bound to one workspace or carrier connection;
//! [`Scope`] applies that binding to the normalised record before it is produced:
//! - records that name their workspace (messages, inbound SMS, revocations) must name the
//!   credential's;
//! - records that are joined later (DLRs, clicks, conversions) are stamped with it, and enrich
//!   joins them only with that workspace's messages and clicks;
//! - a DLR of a carrier-bound credential is that carrier connection's: it joins only messages
//!   submitted through it.

use crate::IngestFailure;
use axum::http::HeaderMap;
use hookline_kafka::ConfigHandle;
use hookline_model::apikey::hash_key;
use hookline_model::RevokedClickInput;
use hookline_model::{
    AcceptedMessage, CarrierDlr, ClickInput, ConversionInput, InboundInput, IngestKeyRecord, IngestKind,
};

/// The credential a request presents: `Authorization: Bearer <token>` (the scheme in any
/// case), else `token` (the postback URL's parameter, where the route accepts one).
pub fn presented<'a>(headers: &'a HeaderMap, token_param: Option<&'a str>) -> Option<&'a str> {
    headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(hookline_model::apikey::bearer_token)
        .or(token_param)
        .filter(|t| !t.is_empty())
}

/// The credential's record if it is live and grants `kind`: `401` for none or an unknown
/// (or revoked) one, `403` for one without the kind.
pub fn authenticate(config: &ConfigHandle, token: Option<&str>, kind: IngestKind) -> Result<Scope, IngestFailure> {
    // Before the config is replayed every credential would look unknown: `503`, so callers
    // retry, rather than a `401` they would take as final.
    if !config.is_caught_up() {
        return Err(IngestFailure::NotReady);
    }
    let token = token.ok_or(IngestFailure::Unauthorized)?;
    let rec = config
        .read(|c| c.ingest_key(&hash_key(token)).cloned())
        .ok_or(IngestFailure::Unauthorized)?;
    if !rec.allows(kind) {
        return Err(IngestFailure::Forbidden(format!(
            "this ingest credential may not send {}",
            kind.as_str()
        )));
    }
    Ok(Scope(rec))
}

/// An authenticated caller's binding, applied to what it sends.
#[derive(Debug, Clone)]
pub struct Scope(pub IngestKeyRecord);

impl Scope {
    pub fn key_id(&self) -> &str {
        &self.0.key_id
    }

    fn own_workspace(&self, named: &str) -> Result<(), IngestFailure> {
        match &self.0.workspace_id {
            Some(w) if w != named => Err(IngestFailure::Forbidden(format!(
                "this ingest credential is bound to another workspace than `{named}`"
            ))),
            _ => Ok(()),
        }
    }

    fn own_connection(&self, named: &mut Option<String>) -> Result<(), IngestFailure> {
        let Some(bound) = &self.0.carrier_connection else {
            return Ok(());
        };
        match named {
            Some(n) if n != bound => Err(IngestFailure::Forbidden(format!(
                "this ingest credential is bound to another carrier connection than `{n}`"
            ))),
            _ => {
                *named = Some(bound.clone());
                Ok(())
            }
        }
    }

    /// A workspace-bound credential's messages are its workspace's own feed: their ids go in
    /// the workspace's id space (`hookline_store::IdSpace`), never the platform's, whatever
    /// the record says. Only unbound credentials (the gateway) announce ids every event can
    /// join: a credential bound to a carrier connection alone announces no messages (`403`),
    /// since message ids are not per connection and it could otherwise claim any workspace's.
    pub fn message(&self, m: &mut AcceptedMessage) -> Result<(), IngestFailure> {
        if self.0.carrier_connection.is_some() && self.0.workspace_id.is_none() {
            return Err(IngestFailure::Forbidden(
                "a credential bound to a carrier connection announces no messages (use the gateway's, or one bound to the workspace)"
                    .into(),
            ));
        }
        self.own_workspace(&m.workspace_id)?;
        m.workspace_feed |= self.0.workspace_id.is_some();
        self.own_connection(&mut m.carrier_connection)
    }

    pub fn dlr(&self, d: &mut CarrierDlr) -> Result<(), IngestFailure> {
        self.own_connection(&mut d.carrier_connection)?;
        d.workspace_id = self.0.workspace_id.clone();
        Ok(())
    }

    pub fn click(&self, c: &mut ClickInput) {
        c.workspace_id = self.0.workspace_id.clone();
    }

    pub fn conversion(&self, c: &mut ConversionInput) {
        c.workspace_id = self.0.workspace_id.clone();
    }

    pub fn inbound(&self, i: &InboundInput) -> Result<(), IngestFailure> {
        self.own_workspace(&i.workspace_id)
    }

    pub fn revocation(&self, r: &RevokedClickInput) -> Result<(), IngestFailure> {
        self.own_workspace(&r.workspace_id)
    }
}
