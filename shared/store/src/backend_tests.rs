//! The store's contract, on every backend: memory, one Redis (`HOOKLINE_TEST_REDIS`, default
//! `redis://127.0.0.1:6379`) and a Redis Cluster (`HOOKLINE_TEST_REDIS_CLUSTER`, its seed
//! URLs comma-separated, which `scripts/test.sh` starts). A test fails, not skips, when its
//! Redis is not there. Each test writes under a key prefix of its own.

use super::*;
use chrono::Utc;
use futures::StreamExt;
use hookline_model::Channel;

/// A store on a fresh key prefix of `backend`: `memory`, `redis` or `cluster`.
pub(crate) async fn store(backend: &str) -> Store {
    let prefix = format!(
        "t{}:",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    match backend {
        "memory" => Store::memory(),
        "redis" => {
            let url = std::env::var("HOOKLINE_TEST_REDIS").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
            Store::redis(&url, &prefix)
                .await
                .expect("the test Redis (HOOKLINE_TEST_REDIS)")
        }
        "cluster" => {
            let nodes = std::env::var("HOOKLINE_TEST_REDIS_CLUSTER")
                .expect("HOOKLINE_TEST_REDIS_CLUSTER: the test Redis Cluster's seed URLs (scripts/test.sh starts one)");
            let nodes: Vec<String> = nodes.split(',').map(str::to_string).collect();
            Store::redis_cluster(&nodes, &prefix)
                .await
                .expect("the test Redis Cluster (HOOKLINE_TEST_REDIS_CLUSTER)")
        }
        other => panic!("no backend {other}"),
    }
}

/// `#[tokio::test]`s running `async fn $name(Store)` on each backend listed.
macro_rules! on_backends {
    ($name:ident: $($backend:ident),+) => {
        mod $name {
            $(
                #[tokio::test]
                async fn $backend() {
                    super::$name(super::store(stringify!($backend)).await).await;
                }
            )+
        }
    };
}

fn message(ws: &str, id: &str, carrier: &str, connection: Option<&str>) -> AcceptedMessage {
    AcceptedMessage {
        message_id: id.into(),
        carrier_message_id: carrier.into(),
        carrier_connection: connection.map(Into::into),
        workspace_id: ws.into(),
        workspace_feed: false,
        recipient: "+14155551234".into(),
        sender_id: "Demo".into(),
        num_parts: 2,
        cost: 0.0085,
        broadcast_id: Some("b1".into()),
        send_path: None,
        accepted_at: Utc::now(),
        channel: Channel::Sms,
        details: None,
    }
}

const TTL: Duration = Duration::from_secs(600);

async fn by_carrier(store: &Store, connection: Option<&str>, carrier: &str) -> Option<AcceptedMessage> {
    store.message_by_carrier_id(None, connection, carrier).await.unwrap()
}

async fn by_id(store: &Store, id: &str) -> Option<AcceptedMessage> {
    store.message_by_id(None, id).await.unwrap()
}

/// A message is found by both ids, exactly as written; the first writer of an id keeps it;
/// a refused write leaves nothing behind; the same message again (even with a new carrier
/// id, a resubmit) is stored.
async fn messages_are_found_by_both_ids_and_first_writer_wins(store: Store) {
    let m1 = message("ws-a", "0d1f7c2e-9a4b-4c3d-a1b2-00000000002a", "c1", Some("smpp"));
    assert_eq!(store.put_message(&m1, TTL).await.unwrap(), Ownership::Stored);
    assert_eq!(by_carrier(&store, Some("smpp"), "c1").await.as_ref(), Some(&m1));
    assert_eq!(by_id(&store, &m1.message_id).await.as_ref(), Some(&m1));
    assert_eq!(
        by_carrier(&store, None, "c1").await,
        None,
        "carrier ids are per connection"
    );
    assert_eq!(by_carrier(&store, Some("smpp"), "c0").await, None);
    assert_eq!(store.put_message(&m1, TTL).await.unwrap(), Ownership::Stored, "again");

    // Another message on m1's carrier id: refused, m1 still there.
    let other = message("ws-a", "m2", "c1", Some("smpp"));
    assert_eq!(
        store.put_message(&other, TTL).await.unwrap(),
        Ownership::Taken("msgc:smpp:c1".into())
    );
    assert_eq!(by_id(&store, "m2").await, None);
    // Another workspace's message on m1's message id: refused, and its carrier id (written
    // first) is removed again.
    let squat = message("ws-b", &m1.message_id, "c3", Some("smpp"));
    assert_eq!(
        store.put_message(&squat, TTL).await.unwrap(),
        Ownership::Taken(format!("msgid:{}", m1.message_id))
    );
    assert_eq!(by_carrier(&store, Some("smpp"), "c3").await, None, "undone");
    assert_eq!(by_id(&store, &m1.message_id).await.as_ref(), Some(&m1));

    // m1 resubmitted through another carrier: both carrier ids find it, its id the new one.
    let mut resubmit = m1.clone();
    resubmit.carrier_message_id = "c2".into();
    assert_eq!(store.put_message(&resubmit, TTL).await.unwrap(), Ownership::Stored);
    assert_eq!(by_carrier(&store, Some("smpp"), "c1").await.as_ref(), Some(&m1));
    assert_eq!(by_carrier(&store, Some("smpp"), "c2").await.as_ref(), Some(&resubmit));
    assert_eq!(by_id(&store, &m1.message_id).await.as_ref(), Some(&resubmit));
}
on_backends!(messages_are_found_by_both_ids_and_first_writer_wins: memory, redis, cluster);

/// Thousands of messages and claims (many per hash, every tag, buckets sized as they grow):
/// each found, none confused with another.
async fn many_messages_and_claims_are_each_found(store: Store) {
    let n = 3_000;
    let writes = (0..n).map(|i| {
        let store = store.clone();
        async move {
            let m = message(&format!("ws-{}", i % 7), &format!("id-{i}"), &format!("{i:016x}"), None);
            assert_eq!(store.put_message(&m, TTL).await.unwrap(), Ownership::Stored);
            let key = ClaimKey::unique_click(&m.workspace_id, "b1", &format!("+1{i}"));
            assert!(store.claim(&key, &format!("clicks:0:{i}"), TTL).await.unwrap());
        }
    });
    // 64 at a time, as enrich writes them.
    futures::stream::iter(writes)
        .buffer_unordered(64)
        .collect::<Vec<()>>()
        .await;
    for i in (0..n).step_by(7) {
        let m = by_carrier(&store, None, &format!("{i:016x}"))
            .await
            .expect("by carrier id");
        assert_eq!(m.message_id, format!("id-{i}"));
        assert_eq!(
            by_id(&store, &m.message_id).await.map(|m| m.carrier_message_id),
            Some(format!("{i:016x}"))
        );
        let key = ClaimKey::unique_click(&m.workspace_id, "b1", &format!("+1{i}"));
        assert!(
            store.claim(&key, &format!("clicks:0:{i}"), TTL).await.unwrap(),
            "own claim again"
        );
        assert!(!store.claim(&key, "clicks:0:x", TTL).await.unwrap(), "someone else's");
    }
}
on_backends!(many_messages_and_claims_are_each_found: memory, redis, cluster);

/// Claims, clicks and final statuses: the first holder wins, again and again.
async fn claims_clicks_and_final_statuses(store: Store) {
    let key = ClaimKey::first_click("ws", "m1");
    assert!(store.claim(&key, "clicks:0:1", TTL).await.unwrap());
    assert!(store.claim(&key, "clicks:0:1", TTL).await.unwrap());
    assert!(!store.claim(&key, "clicks:0:2", TTL).await.unwrap());

    assert_eq!(store.put_click(None, "k1", "m1", TTL).await.unwrap(), Ownership::Stored);
    assert_eq!(store.put_click(None, "k1", "m1", TTL).await.unwrap(), Ownership::Stored);
    assert_eq!(
        store.put_click(None, "k1", "m2", TTL).await.unwrap(),
        Ownership::Taken("click:k1".into())
    );
    assert_eq!(store.message_of_click(None, "k1").await.unwrap().as_deref(), Some("m1"));
    assert_eq!(
        store.message_of_click(Some("ws"), "k1").await.unwrap().as_deref(),
        Some("m1")
    );
    assert_eq!(store.message_of_click(None, "k2").await.unwrap(), None);

    let first = FinalStatus {
        claimant: "dlrs:0:5".into(),
        status: DlrStatus::Delivered,
    };
    assert!(!store.has_final_status("ws", "m1").await.unwrap());
    assert!(store.claim_final_status("ws", "m1", &first, TTL).await.unwrap());
    let later = FinalStatus {
        claimant: "dlrs:0:9".into(),
        status: DlrStatus::Undeliverable,
    };
    assert!(!store.claim_final_status("ws", "m1", &later, TTL).await.unwrap());
    assert!(store.has_final_status("ws", "m1").await.unwrap());
    assert_eq!(
        store.final_status("ws", "m1").await.unwrap(),
        Some(DlrStatus::Delivered)
    );
}
on_backends!(claims_clicks_and_final_statuses: memory, redis, cluster);

/// Entries go when their TTL (plus at most its sixteenth, rounded up to a second) is over.
async fn entries_expire(store: Store) {
    let ttl = Duration::from_millis(500);
    let m = message("ws", "m-exp", "c-exp", None);
    assert_eq!(store.put_message(&m, ttl).await.unwrap(), Ownership::Stored);
    let key = ClaimKey::conversion("ws", "tx-exp");
    assert!(store.claim(&key, "a", ttl).await.unwrap());
    assert!(by_id(&store, "m-exp").await.is_some());
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let gone = by_id(&store, "m-exp").await.is_none()
            && by_carrier(&store, None, "c-exp").await.is_none()
            && store.claim(&key, "b", ttl).await.unwrap();
        if gone {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "still there 10 s after a 0.5 s TTL"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
on_backends!(entries_expire: memory, redis, cluster);

/// The per-workspace lists and per-endpoint values: attempt log, dead letters, failing
/// streaks, adaptive limits.
async fn logs_streaks_and_limits(store: Store) {
    use hookline_model::{AttemptOutcome, Dispatch, Event, EventKind, Subscription};
    let s = Subscription::new(hookline_model::Dialect::Named, "ws", "wh_1", "https://example.com");
    let d = Dispatch::new(Event::sample(EventKind::Status, "ws"), &s, 1);
    let records: Vec<AttemptRecord> = (0..5)
        .map(|i| {
            let mut r = AttemptRecord::new(&d, i + 1, s.url.clone(), AttemptOutcome::Failed);
            r.response_code = Some(500);
            r
        })
        .collect();
    let bytes: Vec<Vec<u8>> = records.iter().map(|r| serde_json::to_vec(r).unwrap()).collect();
    let batch: Vec<(&AttemptRecord, &[u8])> = records.iter().zip(&bytes).map(|(r, b)| (r, b.as_slice())).collect();
    store.push_attempts(&batch, 3).await.unwrap();
    let log = store.latest_attempts("ws", 10).await.unwrap();
    assert_eq!(log.iter().map(|r| r.attempt).collect::<Vec<_>>(), vec![5, 4, 3]);
    let stats = store.attempt_stats("ws", "wh_1", Utc::now()).await.unwrap();
    assert_eq!(stats.windows[0].failed, 5);

    let dead = DeadLetter {
        dispatch: d.clone(),
        url: s.url.clone(),
        attempts: 5,
        last_error: "HTTP 500".into(),
        dead_at: Utc::now(),
        reason: Default::default(),
    };
    store.push_dead_letter(&dead, 10).await.unwrap();
    let letters = store.dead_letters("ws", 10).await.unwrap();
    assert_eq!(letters.len(), 1);
    store.remove_dead_letter("ws", &letters[0].0).await.unwrap();
    assert!(store.dead_letters("ws", 10).await.unwrap().is_empty());

    let t0 = Utc::now() - chrono::Duration::minutes(5);
    assert_eq!(
        store.failing_since("ws/wh_1", t0, TTL).await.unwrap().timestamp(),
        t0.timestamp()
    );
    assert_eq!(
        store
            .failing_since("ws/wh_1", Utc::now(), TTL)
            .await
            .unwrap()
            .timestamp(),
        t0.timestamp()
    );
    store.clear_failing("ws/wh_1").await.unwrap();
    let t1 = Utc::now();
    assert_eq!(
        store.failing_since("ws/wh_1", t1, TTL).await.unwrap().timestamp(),
        t1.timestamp()
    );

    store.put_adaptive_rate("ws/wh_1", Some(7), TTL).await.unwrap();
    assert_eq!(store.adaptive_rate("ws/wh_1").await.unwrap(), Some(7));
    store.put_adaptive_rate("ws/wh_1", None, TTL).await.unwrap();
    assert_eq!(store.adaptive_rate("ws/wh_1").await.unwrap(), None);
    store.put_adaptive_concurrency("ws/wh_1", 12, TTL).await.unwrap();
    assert_eq!(store.adaptive_concurrency("ws/wh_1").await.unwrap(), Some(12));
}
on_backends!(logs_streaks_and_limits: memory, redis, cluster);

/// On one Redis, what the store wrote before the compact layout (JSON messages under
/// `msgc:`/`msgid:` keys, claims as plain keys) is still read for one TTL after an upgrade,
/// and still owns its ids.
#[tokio::test]
async fn records_of_the_layout_before_are_read_and_keep_their_ids() {
    let url = std::env::var("HOOKLINE_TEST_REDIS").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let prefix = format!("legacy{}:", Utc::now().timestamp_nanos_opt().unwrap());
    let store = Store::redis(&url, &prefix).await.expect("the test Redis");
    let mut conn = redis::Client::open(url.as_str())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let old = message("ws-old", "old-1", "c-old", Some("smpp"));
    let json = serde_json::to_vec(&old).unwrap();
    for key in ["msgc:smpp:c-old", "msgid:old-1"] {
        redis::cmd("SET")
            .arg(format!("{prefix}{key}"))
            .arg(&json)
            .arg("EX")
            .arg(600)
            .query_async::<()>(&mut conn)
            .await
            .unwrap();
    }
    redis::cmd("SET")
        .arg(format!("{prefix}claim:final:ws-old:old-1"))
        .arg("dlrs:0:1|DELIVRD")
        .query_async::<()>(&mut conn)
        .await
        .unwrap();
    assert_eq!(by_carrier(&store, Some("smpp"), "c-old").await.as_ref(), Some(&old));
    assert_eq!(by_id(&store, "old-1").await.as_ref(), Some(&old));
    assert_eq!(
        store.final_status("ws-old", "old-1").await.unwrap(),
        Some(DlrStatus::Delivered)
    );
    let later = FinalStatus {
        claimant: "dlrs:0:2".into(),
        status: DlrStatus::Expired,
    };
    assert!(!store.claim_final_status("ws-old", "old-1", &later, TTL).await.unwrap());

    let squat = message("ws-new", "new-1", "c-old", Some("smpp"));
    assert_eq!(
        store.put_message(&squat, TTL).await.unwrap(),
        Ownership::Taken("msgc:smpp:c-old".into())
    );
    let squat = message("ws-new", "old-1", "c-new", Some("smpp"));
    assert_eq!(
        store.put_message(&squat, TTL).await.unwrap(),
        Ownership::Taken("msgid:old-1".into())
    );
    assert_eq!(by_carrier(&store, Some("smpp"), "c-new").await, None);
    // The same message again: written in the compact layout, found as before.
    assert_eq!(store.put_message(&old, TTL).await.unwrap(), Ownership::Stored);
    redis::cmd("DEL")
        .arg(format!("{prefix}msgc:smpp:c-old"))
        .arg(format!("{prefix}msgid:old-1"))
        .query_async::<()>(&mut conn)
        .await
        .unwrap();
    assert_eq!(by_id(&store, "old-1").await.as_ref(), Some(&old));
}

/// A Redis at its `maxmemory` with `noeviction` (README's recommendation) refuses every write
/// with an OOM error, which the store returns as it is (enrich then retries it with back-off,
/// like Redis being away: `retry_until_ok`); reads go on; once it has room again, writes do.
/// Its own `redis-server` on a free port, so the shared Redis is never filled.
#[tokio::test]
async fn a_full_redis_refuses_writes_with_an_error_and_keeps_serving_reads() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _server = Kill(
        std::process::Command::new("redis-server")
            .args([
                "--bind",
                "127.0.0.1",
                "--port",
                &port.to_string(),
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .args(["--maxmemory", "3mb", "--maxmemory-policy", "noeviction"])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server (Debian's redis-server package)"),
    );
    let url = format!("redis://127.0.0.1:{port}");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let store = loop {
        match Store::redis(&url, "full:").await {
            Ok(s) => break s,
            Err(e) => {
                assert!(std::time::Instant::now() < deadline, "redis-server did not start: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    let mut stored = 0;
    let refused = loop {
        let m = message("ws", &format!("m{stored}"), &format!("c{stored}"), None);
        match store.put_message(&m, TTL).await {
            Ok(o) => {
                assert_eq!(o, Ownership::Stored);
                stored += 1;
                assert!(stored < 200_000, "3 MB never filled");
            }
            Err(e) => break e,
        }
    };
    assert!(format!("{refused}").contains("OOM"), "{refused}");
    assert!(stored > 1_000, "only {stored} messages fit in 3 MB");
    assert!(
        store.claim(&ClaimKey::conversion("ws", "tx"), "a", TTL).await.is_err(),
        "claims are refused too"
    );
    // Reads go on: every 97th message stored before it filled up is found.
    for i in (0..stored).step_by(97) {
        assert!(by_id(&store, &format!("m{i}")).await.is_some(), "m{i}");
    }
    let mut conn = redis::Client::open(url.as_str())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    redis::cmd("CONFIG")
        .arg("SET")
        .arg("maxmemory")
        .arg("0")
        .query_async::<()>(&mut conn)
        .await
        .unwrap();
    let m = message("ws", &format!("m{stored}"), &format!("c{stored}"), None);
    assert_eq!(
        store.put_message(&m, TTL).await.unwrap(),
        Ownership::Stored,
        "room again"
    );
}
