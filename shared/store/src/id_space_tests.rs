//! Review finding 28.1, at the store: what a workspace's own feed announces cannot claim the
//! ids the gateway announces later, on both backends. `HOOKLINE_TEST_REDIS` names the Redis
//! (default `redis://127.0.0.1:6379`); the test fails, not skips, when it is not there.

use super::*;
use chrono::Utc;
use hookline_model::Channel;

fn message(ws: &str, id: &str, carrier: &str, connection: Option<&str>, workspace_feed: bool) -> AcceptedMessage {
    AcceptedMessage {
        message_id: id.into(),
        carrier_message_id: carrier.into(),
        carrier_connection: connection.map(Into::into),
        workspace_id: ws.into(),
        workspace_feed,
        recipient: "+14155551234".into(),
        sender_id: "Demo".into(),
        num_parts: 1,
        cost: 0.0,
        broadcast_id: None,
        send_path: None,
        accepted_at: Utc::now(),
        channel: Channel::Sms,
        details: None,
    }
}

fn owner(m: Option<AcceptedMessage>) -> Option<String> {
    m.map(|m| m.workspace_id)
}

/// The attack of the review, both variants (a bare carrier id, and one within carrier
/// connection `telco-a`): `evil`'s feed announces `demo_m2`/`c-101` first; the gateway's
/// real message for `demo` is still stored, and every unbound lookup (a carrier's DLR, the
/// shortener's click, a tracker's conversion) finds demo's, while evil's own events find
/// evil's own record only.
async fn squatting_is_impossible(store: Store) {
    let ttl = Duration::from_secs(60);
    for connection in [None, Some("telco-a")] {
        let squat = message("evil", "demo_m2", "c-101", connection, true);
        assert_eq!(store.put_message(&squat, ttl).await.unwrap(), Ownership::Stored);
        let real = message("demo", "demo_m2", "c-101", connection, false);
        assert_eq!(
            store.put_message(&real, ttl).await.unwrap(),
            Ownership::Stored,
            "the gateway's message is not a conflict ({connection:?})"
        );
        let dlr = store.message_by_carrier_id(None, connection, "c-101").await.unwrap();
        assert_eq!(owner(dlr).as_deref(), Some("demo"), "a carrier's DLR ({connection:?})");
        let own = store
            .message_by_carrier_id(Some("evil"), connection, "c-101")
            .await
            .unwrap();
        assert_eq!(owner(own).as_deref(), Some("evil"), "evil's own DLR feed");
        let demo_feed = store
            .message_by_carrier_id(Some("demo"), connection, "c-101")
            .await
            .unwrap();
        assert_eq!(
            owner(demo_feed).as_deref(),
            Some("demo"),
            "demo's own feed reads the platform's"
        );
    }
    assert_eq!(
        owner(store.message_by_id(None, "demo_m2").await.unwrap()).as_deref(),
        Some("demo"),
        "the shortener's click"
    );
    assert_eq!(
        owner(store.message_by_id(Some("evil"), "demo_m2").await.unwrap()).as_deref(),
        Some("evil")
    );
    assert_eq!(store.message_by_id(Some("other"), "evil_only").await.unwrap(), None);

    // Click ids: evil's feed remembers k-1 first; the shortener's click k-1 is still stored
    // for demo's message, and an unbound conversion on k-1 finds it.
    assert_eq!(
        store.put_click(Some("evil"), "k-1", "evil_m", ttl).await.unwrap(),
        Ownership::Stored
    );
    assert_eq!(
        store.put_click(None, "k-1", "demo_m2", ttl).await.unwrap(),
        Ownership::Stored
    );
    assert_eq!(
        store.message_of_click(None, "k-1").await.unwrap().as_deref(),
        Some("demo_m2")
    );
    assert_eq!(
        store.message_of_click(Some("evil"), "k-1").await.unwrap().as_deref(),
        Some("evil_m")
    );
    assert_eq!(
        store.message_of_click(Some("demo"), "k-1").await.unwrap().as_deref(),
        Some("demo_m2")
    );
    // Within the platform's space, first writer still wins.
    let late = message("other", "demo_m2", "c-999", None, false);
    assert!(matches!(
        store.put_message(&late, ttl).await.unwrap(),
        Ownership::Taken(_)
    ));
}

#[tokio::test]
async fn a_workspace_feed_cannot_squat_the_gateways_ids_in_memory() {
    squatting_is_impossible(Store::memory()).await;
}

#[tokio::test]
async fn a_workspace_feed_cannot_squat_the_gateways_ids_in_redis() {
    let url = std::env::var("HOOKLINE_TEST_REDIS").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let prefix = format!("idspace-{}:", rand_suffix());
    let store = Store::redis(&url, &prefix)
        .await
        .expect("the test Redis (HOOKLINE_TEST_REDIS)");
    squatting_is_impossible(store).await;
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}
