//! Ingest credentials: who may push which inputs through ingest's HTTP edge.
//!
//! The edge is how carriers, the gateway, link shorteners and conversion trackers that cannot
//! write to Kafka reach Hookline, and every event it accepts ends up as a signed webhook. So
//! nothing is accepted without a credential, and a credential says exactly what it may send:
//! the input kinds ([`IngestKind`]), and optionally the one workspace or carrier connection it
//! is bound to. Operators create and revoke them (admin API, `hookline admin`); like API keys
//! they live in the config topic by hash only, so every ingest replica follows revocations.

use serde::{Deserialize, Serialize};

/// An input kind, as a credential grants it. One per ingest route family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IngestKind {
    /// Accepted messages (`POST /v1/messages`): the gateway.
    Messages,
    /// Carrier delivery reports (`POST /v1/dlr`).
    Dlr,
    /// Short-link clicks (`POST /v1/clicks`): the link shortener.
    Clicks,
    /// Conversions (`/track`, `POST /v1/actions`): trackers and the customer's backend.
    Conversions,
    /// Inbound SMS (`POST /v1/inbound`): the gateway.
    Inbound,
    /// Revoked clicks (`POST /v1/revocations`): bot detection.
    Revocations,
}

impl IngestKind {
    pub const ALL: [IngestKind; 6] = [
        Self::Messages,
        Self::Dlr,
        Self::Clicks,
        Self::Conversions,
        Self::Inbound,
        Self::Revocations,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Messages => "messages",
            Self::Dlr => "dlr",
            Self::Clicks => "clicks",
            Self::Conversions => "conversions",
            Self::Inbound => "inbound",
            Self::Revocations => "revocations",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// What the config topic keeps of an ingest credential: never the credential itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IngestKeyRecord {
    /// Public, non-secret id (`ing_…`), shown in listings and logs.
    pub key_id: String,
    /// Hex SHA-256 of the full credential (see [`crate::apikey::hash_key`]).
    pub key_hash: String,
    /// The operator's label ("acme-telco DLR callbacks").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub kinds: Vec<IngestKind>,
    /// Bound to one workspace: its records must name that workspace, and what it sends only
    /// joins that workspace's messages and clicks. `None`: any workspace (the gateway).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace_id: Option<String>,
    /// Bound to one carrier connection: its DLRs are that carrier's, so they only join
    /// messages submitted through it. `None`: the DLR says which carrier, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub carrier_connection: Option<String>,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

impl IngestKeyRecord {
    /// A new credential (the token, shown once) and the record stored for it.
    pub fn generate(
        name: Option<String>,
        kinds: Vec<IngestKind>,
        workspace_id: Option<String>,
        carrier_connection: Option<String>,
    ) -> (String, Self) {
        let token = crate::apikey::random_token("hki_");
        let key_hash = crate::apikey::hash_key(&token);
        let rec = Self {
            key_id: format!("ing_{}", &key_hash[..12]),
            key_hash,
            name,
            kinds,
            workspace_id,
            carrier_connection,
            created_at: chrono::Utc::now(),
        };
        (token, rec)
    }

    pub fn allows(&self, kind: IngestKind) -> bool {
        self.kinds.contains(&kind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_and_tokens_are_unique() {
        for k in IngestKind::ALL {
            assert_eq!(IngestKind::parse(k.as_str()), Some(k));
            assert_eq!(serde_json::to_value(k).unwrap(), k.as_str());
        }
        assert_eq!(IngestKind::parse("everything"), None);
        let (t1, r1) = IngestKeyRecord::generate(None, vec![IngestKind::Dlr], None, Some("c1".into()));
        let (t2, r2) = IngestKeyRecord::generate(None, vec![IngestKind::Dlr], None, None);
        assert!(t1.starts_with("hki_") && t1.len() == 4 + 64);
        assert_ne!(t1, t2);
        assert_ne!(r1.key_id, r2.key_id);
        assert_eq!(r1.key_hash, crate::apikey::hash_key(&t1));
        assert!(r1.allows(IngestKind::Dlr) && !r1.allows(IngestKind::Messages));
    }
}
