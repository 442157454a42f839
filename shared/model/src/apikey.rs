//! API keys: stored by hash, scoped to one workspace, with permissions.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Permission {
    #[serde(rename = "webhooks.read")]
    WebhooksRead,
    #[serde(rename = "webhooks.write")]
    WebhooksWrite,
}

impl Permission {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "webhooks.read" => Some(Self::WebhooksRead),
            "webhooks.write" => Some(Self::WebhooksWrite),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::WebhooksRead => "webhooks.read",
            Self::WebhooksWrite => "webhooks.write",
        }
    }
}

/// What the config topic keeps of a key: never the key itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKeyRecord {
    /// Public, non-secret id (`key_…`), shown in listings and logs.
    pub key_id: String,
    /// Hex SHA-256 of the full key. Keys are 256-bit random strings, so an unsalted fast hash
    /// is enough (the GitHub/Stripe token model); it makes lookup O(1).
    pub key_hash: String,
    pub workspace_id: String,
    pub permissions: Vec<Permission>,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

impl ApiKeyRecord {
    pub fn allows(&self, p: Permission) -> bool {
        self.permissions.contains(&p)
    }
}

/// The lookup hash of a presented key (API key, ingest credential, admin token).
pub fn hash_key(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// The token of an `Authorization: Bearer <token>` header value (admin token, ingest
/// credential). The scheme is matched case-insensitively (`bearer`, `BEARER`: RFC 9110
/// §11.1), one or more spaces may follow it, and the token is trimmed; `None` for another
/// scheme or an empty token.
pub fn bearer_token(authorization: &str) -> Option<&str> {
    let (scheme, token) = authorization.trim_start().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

#[cfg(test)]
#[test]
fn the_bearer_scheme_is_case_insensitive() {
    for v in ["Bearer t0k", "bearer t0k", "BEARER t0k", "bEaReR   t0k ", " Bearer t0k"] {
        assert_eq!(bearer_token(v), Some("t0k"), "{v:?}");
    }
    for v in ["Basic t0k", "Bearer", "Bearer ", "Bearert0k", "t0k", "", "Bearer\tt0k"] {
        assert_eq!(bearer_token(v), None, "{v:?}");
    }
}

/// `prefix` and 256 random bits in hex: a key nobody can guess, so an unsalted hash of it is
/// safe to store.
pub fn random_token(prefix: &str) -> String {
    use rand::RngCore;
    let mut raw = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut raw);
    format!("{prefix}{}", hex::encode(raw))
}

impl ApiKeyRecord {
    /// A new key (shown once) and the record stored for it.
    pub fn generate(workspace_id: &str, permissions: Vec<Permission>) -> (String, Self) {
        let key = random_token("hk_");
        let key_hash = hash_key(&key);
        let rec = Self {
            key_id: format!("key_{}", &key_hash[..12]),
            key_hash,
            workspace_id: workspace_id.to_string(),
            permissions,
            created_at: chrono::Utc::now(),
        };
        (key, rec)
    }
}
