//! Every key Hookline writes to the store, in one place. Each is written under the store's
//! configured prefix (`HOOKLINE_REDIS_KEY_PREFIX`); the formats below are what is stored today
//! and must not change while a deployment's data lives (message metadata and claims for days,
//! key usage for months).

use std::fmt;

/// Whose ids a message's (and a click's) lookup keys belong to.
///
/// Ids announced by the platform (the gateway's unbound credential, a carrier connection's
/// credential for that connection, a Kafka feed) live in one namespace every event can join.
/// Ids announced by a credential bound to a workspace (that workspace's own feed) live in the
/// workspace's namespace, which only events stamped with that workspace ever read: a
/// workspace cannot claim another's message or carrier ids, whatever it announces, and its
/// ids never collide with anyone else's. Workspace ids have no `:`, so the spaces never meet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdSpace<'a> {
    Platform,
    Workspace(&'a str),
}

impl<'a> IdSpace<'a> {
    /// The spaces an event reads, in order: a workspace-bound sender's own first, then the
    /// platform's (where the enricher still checks the message is that workspace's); an
    /// unbound sender's, the platform's only.
    pub fn read_by(scope: Option<&'a str>) -> impl Iterator<Item = IdSpace<'a>> {
        scope.map(IdSpace::Workspace).into_iter().chain([IdSpace::Platform])
    }

    /// Where a record announced under `scope` is written.
    pub fn written_by(scope: Option<&'a str>) -> Self {
        scope.map_or(IdSpace::Platform, IdSpace::Workspace)
    }
}

/// An accepted message by its carrier message id. Carrier ids are unique only within one
/// carrier connection, so a message that names its connection is found by both (a connection
/// id has no `:`, so `msgc:` and `msg:` keys never meet).
pub fn carrier_message(space: IdSpace<'_>, connection: Option<&str>, carrier_message_id: &str) -> String {
    match (space, connection) {
        (IdSpace::Platform, Some(c)) => format!("msgc:{c}:{carrier_message_id}"),
        (IdSpace::Platform, None) => format!("msg:{carrier_message_id}"),
        (IdSpace::Workspace(w), Some(c)) => format!("wmsgc:{w}:{c}:{carrier_message_id}"),
        (IdSpace::Workspace(w), None) => format!("wmsg:{w}:{carrier_message_id}"),
    }
}

/// An accepted message by its (customer-facing) message id.
pub fn message(space: IdSpace<'_>, message_id: &str) -> String {
    match space {
        IdSpace::Platform => format!("msgid:{message_id}"),
        IdSpace::Workspace(w) => format!("wmsgid:{w}:{message_id}"),
    }
}

/// The message a click belongs to.
pub fn click(space: IdSpace<'_>, click_id: &str) -> String {
    match space {
        IdSpace::Platform => format!("click:{click_id}"),
        IdSpace::Workspace(w) => format!("wclick:{w}:{click_id}"),
    }
}

/// A workspace's attempt log (a capped list).
pub fn attempts(workspace_id: &str) -> String {
    format!("attempts:{workspace_id}")
}

/// A workspace's dead letters (a capped list).
pub fn dead_letters(workspace_id: &str) -> String {
    format!("dead:{workspace_id}")
}

/// When every attempt to an endpoint (`<workspace_id>/<subscription_id>`) started failing:
/// the auto-disable policy's clock, removed by the endpoint's next delivered attempt.
pub fn failing_since(endpoint_key: &str) -> String {
    format!("failing:{endpoint_key}")
}

/// One minute of a subscription's attempt stats (a hash of counters; `minute` is Unix time
/// in minutes). See [`crate::attempt_stats`].
pub fn attempt_stats(workspace_id: &str, subscription_id: &str, minute: i64) -> String {
    format!("stats:{workspace_id}:{subscription_id}:{minute}")
}

/// One clock hour of a subscription's attempt stats: the roll-up of its minutes (the same
/// counters; `hour` is Unix time in hours). See [`crate::attempt_stats`].
pub fn attempt_stats_hour(workspace_id: &str, subscription_id: &str, hour: i64) -> String {
    format!("statsh:{workspace_id}:{subscription_id}:{hour}")
}

/// A subscription's last attempt and last failure (a hash). See [`crate::attempt_stats`].
pub fn attempt_stats_last(workspace_id: &str, subscription_id: &str) -> String {
    format!("statslast:{workspace_id}:{subscription_id}")
}

/// An endpoint's adaptive rate (requests per second) while delivery holds it below its limit,
/// so that the endpoint's next owner starts there (`services/delivery/src/shared_rate.rs`).
pub fn adaptive_rate(endpoint_key: &str) -> String {
    format!("aimd:{endpoint_key}")
}

/// An endpoint's adaptive concurrency limit, so that the endpoint's next owner starts there
/// (`services/delivery/src/shared_rate.rs`).
pub fn adaptive_concurrency(endpoint_key: &str) -> String {
    format!("aimdc:{endpoint_key}")
}

/// When an API key or ingest credential was last used.
pub fn key_used(key_id: &str) -> String {
    format!("keyused:{key_id}")
}

/// What a dedup claim is about: the first of its kind wins, across every process sharing the
/// store. Stored as `claim:<kind>:<scope>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimKey(String);

impl ClaimKey {
    /// 23 Telecom `unique_clicks_only`: the first human click per (broadcast, recipient).
    pub fn unique_click(workspace_id: &str, broadcast_id: &str, recipient: &str) -> Self {
        Self(format!("uclick:{workspace_id}:{broadcast_id}:{recipient}"))
    }

    /// SMSEdge: the first human click on a message.
    pub fn first_click(workspace_id: &str, message_id: &str) -> Self {
        Self(format!("fclick:{workspace_id}:{message_id}"))
    }

    /// A conversion by its transaction id: counted once.
    pub fn conversion(workspace_id: &str, transaction_id: &str) -> Self {
        Self(format!("conv:{workspace_id}:{transaction_id}"))
    }

    /// A message's first final status (see [`crate::FinalStatus`]).
    pub fn final_status(workspace_id: &str, message_id: &str) -> Self {
        Self(format!("final:{workspace_id}:{message_id}"))
    }

    /// The store key.
    pub(crate) fn key(&self) -> String {
        format!("claim:{}", self.0)
    }
}

impl fmt::Display for ClaimKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The stored formats: a change here orphans a live deployment's data.
    #[test]
    fn formats_are_stable() {
        let p = IdSpace::Platform;
        assert_eq!(carrier_message(p, Some("smpp1"), "c1"), "msgc:smpp1:c1");
        assert_eq!(carrier_message(p, None, "c1"), "msg:c1");
        assert_eq!(message(p, "m1"), "msgid:m1");
        assert_eq!(click(p, "k1"), "click:k1");
        let w = IdSpace::Workspace("ws");
        assert_eq!(carrier_message(w, Some("smpp1"), "c1"), "wmsgc:ws:smpp1:c1");
        assert_eq!(carrier_message(w, None, "c1"), "wmsg:ws:c1");
        assert_eq!(message(w, "m1"), "wmsgid:ws:m1");
        assert_eq!(click(w, "k1"), "wclick:ws:k1");
        assert_eq!(attempts("ws"), "attempts:ws");
        assert_eq!(dead_letters("ws"), "dead:ws");
        assert_eq!(key_used("k"), "keyused:k");
        assert_eq!(attempt_stats("ws", "wh_1", 29_600_000), "stats:ws:wh_1:29600000");
        assert_eq!(attempt_stats_last("ws", "wh_1"), "statslast:ws:wh_1");
        assert_eq!(attempt_stats_hour("ws", "wh_1", 493_333), "statsh:ws:wh_1:493333");
        assert_eq!(ClaimKey::unique_click("ws", "b1", "+1").key(), "claim:uclick:ws:b1:+1");
        assert_eq!(ClaimKey::first_click("ws", "m1").key(), "claim:fclick:ws:m1");
        assert_eq!(ClaimKey::conversion("ws", "tx").key(), "claim:conv:ws:tx");
        assert_eq!(ClaimKey::final_status("ws", "m1").key(), "claim:final:ws:m1");
    }
}
