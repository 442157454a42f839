//! Opt-in batching of a named subscription's deliveries: up to `max_events` events, or what
//! arrived within `max_wait_ms` of the first, in one signed POST `{"events": [...]}`.

use serde::{Deserialize, Serialize};

/// The fewest events a batch may be asked for (a batch of one is no batch).
pub const MIN_BATCH_EVENTS: u32 = 2;
/// The most events in one batch: bounds the request body (about 400 bytes per event) and the
/// records one endpoint holds in the delivery consumer while a batch fills.
pub const MAX_BATCH_EVENTS: u32 = 1000;
/// The longest a batch waits for more events after its first: every event of it is that much
/// later.
pub const MAX_BATCH_WAIT_MS: u64 = 10_000;

/// When a batch is sent: once it has `max_events` events, or `max_wait_ms` after its first
/// event arrived at the attempt stage, whichever comes first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchPolicy {
    pub max_events: u32,
    pub max_wait_ms: u64,
}

impl BatchPolicy {
    /// Whether both bounds are in range (the API's check; delivery clamps a record that is
    /// not, e.g. one written to the config topic by hand).
    pub fn valid(&self) -> bool {
        (MIN_BATCH_EVENTS..=MAX_BATCH_EVENTS).contains(&self.max_events)
            && (1..=MAX_BATCH_WAIT_MS).contains(&self.max_wait_ms)
    }

    /// The policy within range.
    pub fn clamped(self) -> Self {
        Self {
            max_events: self.max_events.clamp(MIN_BATCH_EVENTS, MAX_BATCH_EVENTS),
            max_wait_ms: self.max_wait_ms.clamp(1, MAX_BATCH_WAIT_MS),
        }
    }
}

/// The id of a batch request (its `X-Webhook-Id` and `webhook-id`): derived from the webhook
/// ids of its events in body order, so a batch re-sent with the same events has the same id.
pub fn batch_id<'a>(webhook_ids: impl IntoIterator<Item = &'a str>) -> String {
    let ids: Vec<&str> = webhook_ids.into_iter().collect();
    crate::ids::stable_id("whb", &ids)
}

/// The body of a batch: `{"events": [<envelope>, ...]}`, each envelope as sent alone.
pub fn body<'a>(envelopes: impl IntoIterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut out = Vec::with_capacity(4096);
    out.extend_from_slice(b"{\"events\":[");
    for (i, e) in envelopes.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(e);
    }
    out.extend_from_slice(b"]}");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_wraps_the_envelopes_and_ids_are_stable() {
        let b = body([&br#"{"id":"a"}"#[..], br#"{"id":"b"}"#]);
        assert_eq!(b, br#"{"events":[{"id":"a"},{"id":"b"}]}"#);
        assert_eq!(body([]), br#"{"events":[]}"#);
        assert_eq!(batch_id(["wh_1", "wh_2"]), batch_id(["wh_1", "wh_2"]));
        assert_ne!(batch_id(["wh_1", "wh_2"]), batch_id(["wh_2", "wh_1"]));
        assert!(batch_id(["wh_1"]).starts_with("whb_"));
    }

    #[test]
    fn bounds() {
        assert!(BatchPolicy {
            max_events: 2,
            max_wait_ms: 1
        }
        .valid());
        assert!(!BatchPolicy {
            max_events: 1,
            max_wait_ms: 1
        }
        .valid());
        assert!(!BatchPolicy {
            max_events: 10,
            max_wait_ms: 0
        }
        .valid());
        let c = BatchPolicy {
            max_events: 5000,
            max_wait_ms: 0,
        }
        .clamped();
        assert_eq!((c.max_events, c.max_wait_ms), (MAX_BATCH_EVENTS, 1));
    }
}
