//! Stable identifiers.
//!
//! Ids are derived from content rather than drawn at random wherever an input can be
//! processed twice (a redelivered Kafka record, a retried HTTP call): the second pass then
//! yields the same event id and the same webhook id, which is what lets a receiver drop the
//! duplicate (the Standard Webhooks `webhook-id` contract).

use sha2::{Digest, Sha256};

/// Workspace ids (and carrier connection ids, the same rule): 1–64 of `[A-Za-z0-9_.-]`, so
/// they are safe in store keys (no `:`), topic keys and logs. The API checks it when a key or
/// credential is created, ingest on every record that names a workspace or connection.
pub fn valid_workspace_id(id: &str) -> bool {
    (1..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
}

/// `<prefix>_<24 hex chars>` from a SHA-256 over the parts, separated so that `("ab","c")`
/// and `("a","bc")` differ.
pub fn stable_id(prefix: &str, parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_be_bytes());
        h.update(p.as_bytes());
    }
    let digest = h.finalize();
    format!("{prefix}_{}", hex::encode(&digest[..12]))
}

/// The webhook id: one per (event, subscription), the same on every attempt.
pub fn dispatch_id(event_id: &str, subscription_id: &str) -> String {
    stable_id("wh", &[event_id, subscription_id])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stable_and_unambiguous() {
        assert_eq!(stable_id("x", &["a", "b"]), stable_id("x", &["a", "b"]));
        assert_ne!(stable_id("x", &["ab", "c"]), stable_id("x", &["a", "bc"]));
        let id = dispatch_id("dlr_1", "sub");
        assert!(id.starts_with("wh_") && id.len() == 27, "{id}");
    }
}
