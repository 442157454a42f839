//! Redis memory per retained message and per unique-click claim (issue 30's yardstick).
//!
//! Writes `--messages` accepted messages through `Store::put_message` (what enrich does for
//! each message the gateway accepted) and `--claims` unique-click claims through
//! `Store::claim`, under a key prefix of its own, and reports the growth of Redis's
//! `used_memory` (`INFO memory`) per message and per claim: keys, values, expiry entries and
//! the keyspace's hash tables included, which is what a deployment has to provision. Also,
//! for one entry of each kind, the hash it is kept in (`shared/store/src/compact.rs`): its
//! entries, encoding and `MEMORY USAGE`. Removes its keys at the end.
//!
//! ```text
//! cargo run --release -p hookline-benchmarks --bin store-memory -- \
//!     --redis redis://127.0.0.1:6379 --messages 1000000 --claims 1000000
//! ```
//!
//! The messages look like production's: a UUID message id, a 16-hex-digit carrier id on a
//! named carrier connection, an E.164 recipient, a sender id, a cost, every tenth one part of
//! a broadcast. Run it against a Redis nothing else writes to while it runs: `used_memory`
//! is the whole server's.

use clap::Parser;
use futures::stream::{FuturesUnordered, StreamExt};
use hookline_model::AcceptedMessage;
use hookline_model::DlrStatus;
use hookline_store::compact::{Family, Slot};
use hookline_store::{ClaimKey, FinalStatus, Store};
use std::time::{Duration, Instant};

#[derive(Parser)]
struct Args {
    /// Redis to measure.
    #[arg(long, default_value = "redis://127.0.0.1:6379")]
    redis: String,
    /// Accepted messages to store.
    #[arg(long, default_value_t = 1_000_000)]
    messages: u64,
    /// Unique-click claims to take.
    #[arg(long, default_value_t = 1_000_000)]
    claims: u64,
    /// First-final-status claims to take (one per message that gets a final DLR).
    #[arg(long, default_value_t = 0)]
    finals: u64,
    /// Writes in flight.
    #[arg(long, default_value_t = 256)]
    in_flight: usize,
}

/// The store's default retention of message metadata (`HOOKLINE_MESSAGE_TTL_SECS`): 72 h.
const TTL: Duration = Duration::from_secs(72 * 3600);

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let prefix = format!("storemem{}:", std::process::id());
    let store = Store::redis(&args.redis, &prefix).await?;
    let client = redis::Client::open(args.redis.as_str())?;
    let mut conn = client.get_multiplexed_async_connection().await?;

    let before = used_memory(&mut conn).await?;
    let started = Instant::now();
    run(args.messages, args.in_flight, |i| {
        let store = store.clone();
        async move {
            store.put_message(&message(i), TTL).await?;
            Ok(())
        }
    })
    .await?;
    let after_messages = used_memory(&mut conn).await?;
    let message_secs = started.elapsed().as_secs_f64();

    let started = Instant::now();
    run(args.claims, args.in_flight, |i| {
        let store = store.clone();
        async move {
            let key = ClaimKey::unique_click(&workspace(i), &broadcast(i), &recipient(i));
            store.claim(&key, &format!("clicks:3:{i}"), TTL).await?;
            Ok(())
        }
    })
    .await?;
    let after_claims = used_memory(&mut conn).await?;
    let claim_secs = started.elapsed().as_secs_f64();

    let started = Instant::now();
    run(args.finals, args.in_flight, |i| {
        let store = store.clone();
        async move {
            // What enrich writes: the DLR record's position and the status.
            let claim = FinalStatus {
                claimant: format!("hookline.carrier-dlrs:{}:{}", i % 12, 1_000_000_000 + i),
                status: DlrStatus::Delivered,
            };
            let m = message(i);
            store
                .claim_final_status(&m.workspace_id, &m.message_id, &claim, TTL)
                .await?;
            Ok(())
        }
    })
    .await?;
    let after_finals = used_memory(&mut conn).await?;
    let final_secs = started.elapsed().as_secs_f64();

    let keys = dbsize(&mut conn).await?;
    let listpack_value: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("hash-max-listpack-value")
        .query_async(&mut conn)
        .await
        .unwrap_or_default();
    let record = sample_hash(&mut conn, &prefix, Family::Record, &carrier_key(&message(0))).await?;
    let index = sample_hash(
        &mut conn,
        &prefix,
        Family::Index,
        &format!("msgid:{}", message(0).message_id),
    )
    .await?;
    let claim_key = format!(
        "claim:{}",
        ClaimKey::unique_click(&workspace(0), &broadcast(0), &recipient(0))
    );
    let claim = sample_hash(&mut conn, &prefix, Family::Claim, &claim_key).await?;

    let per = |delta: i64, n: u64| if n == 0 { 0.0 } else { delta as f64 / n as f64 };
    println!("| what | count | used_memory growth | bytes each | written per second | one of its hashes |");
    println!("| --- | --- | --- | --- | --- | --- |");
    let row = |what: &str, n: u64, growth: i64, secs: f64, hashes: &str| {
        println!(
            "| {what} | {n} | {growth} | **{:.0}** | {:.0} | {hashes} |",
            per(growth, n),
            n as f64 / secs
        )
    };
    row(
        "accepted message (both lookups)",
        args.messages,
        after_messages - before,
        message_secs,
        &format!("record {record}; message id {index}"),
    );
    row(
        "unique-click claim",
        args.claims,
        after_claims - after_messages,
        claim_secs,
        &claim,
    );
    if args.finals > 0 {
        row(
            "first-final-status claim",
            args.finals,
            after_finals - after_claims,
            final_secs,
            "",
        );
    }
    println!(
        "(keys written: {keys}; hash-max-listpack-value {}; one message: {} bytes as a record, {} as JSON)",
        listpack_value.get(1).map_or("?", String::as_str),
        hookline_store::record::encode(&message(0)).len(),
        serde_json::to_vec(&message(0))?.len()
    );

    remove(&mut conn, &prefix).await?;
    Ok(())
}

/// Runs `op(0..n)` with `in_flight` at a time; the first error ends it.
async fn run<F, Fut>(n: u64, in_flight: usize, op: F) -> anyhow::Result<()>
where
    F: Fn(u64) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let mut pending = FuturesUnordered::new();
    for i in 0..n {
        pending.push(op(i));
        if pending.len() >= in_flight.max(1) {
            pending.next().await.transpose()?;
        }
    }
    while let Some(r) = pending.next().await {
        r?;
    }
    Ok(())
}

/// The carrier-id key of a message (its record's logical key).
fn carrier_key(m: &AcceptedMessage) -> String {
    hookline_store::keys::carrier_message(
        hookline_store::IdSpace::Platform,
        m.carrier_connection.as_deref(),
        &m.carrier_message_id,
    )
}

/// The hash holding the entry with logical key `logical`: its entries, encoding and
/// `MEMORY USAGE`.
async fn sample_hash(
    conn: &mut redis::aio::MultiplexedConnection,
    prefix: &str,
    family: Family,
    logical: &str,
) -> anyhow::Result<String> {
    let slot = Slot::of(family, logical);
    let dir = format!("{prefix}{}", slot.dir);
    let buckets: Vec<(String, u32)> = redis::cmd("HGETALL").arg(&dir).query_async(conn).await?;
    let Some((bucket, n)) = buckets.first() else {
        return Ok("none".into());
    };
    let key = format!("{dir}:{bucket}:{}", slot.sub % n.max(&1));
    let entries: u64 = redis::cmd("HLEN").arg(&key).query_async(conn).await?;
    let encoding: String = redis::cmd("OBJECT").arg("ENCODING").arg(&key).query_async(conn).await?;
    let usage: u64 = redis::cmd("MEMORY").arg("USAGE").arg(&key).query_async(conn).await?;
    Ok(format!("{entries} entries, {encoding}, {usage} B"))
}

async fn dbsize(conn: &mut redis::aio::MultiplexedConnection) -> anyhow::Result<u64> {
    Ok(redis::cmd("DBSIZE").query_async(conn).await?)
}

async fn used_memory(conn: &mut redis::aio::MultiplexedConnection) -> anyhow::Result<i64> {
    let info: String = redis::cmd("INFO").arg("memory").query_async(conn).await?;
    info.lines()
        .find_map(|l| l.strip_prefix("used_memory:"))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| anyhow::anyhow!("no used_memory in INFO memory"))
}

/// Deletes every key under `prefix`.
async fn remove(conn: &mut redis::aio::MultiplexedConnection, prefix: &str) -> anyhow::Result<()> {
    let mut cursor = 0u64;
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(format!("{prefix}*"))
            .arg("COUNT")
            .arg(10_000)
            .query_async(conn)
            .await?;
        if !keys.is_empty() {
            redis::cmd("UNLINK").arg(&keys).query_async::<()>(conn).await?;
        }
        if next == 0 {
            return Ok(());
        }
        cursor = next;
    }
}

fn workspace(i: u64) -> String {
    format!("ws-{:04}", i % 1000)
}

fn broadcast(i: u64) -> String {
    format!("b-{}", i % 97)
}

fn recipient(i: u64) -> String {
    format!("+1415{:07}", i % 10_000_000)
}

/// Accepted message `i`, shaped like production's.
fn message(i: u64) -> AcceptedMessage {
    let h = i.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let uuid = format!(
        "{:08x}-{:04x}-4{:03x}-a{:03x}-{:012x}",
        h >> 32,
        (h >> 16) & 0xffff,
        h & 0xfff,
        (h >> 4) & 0xfff,
        i
    );
    serde_json::from_value(serde_json::json!({
        "message_id": uuid,
        "carrier_message_id": format!("{:016x}", h ^ 0x5bd1_e995),
        "carrier_connection": "smpp-eu-1",
        "workspace_id": workspace(i),
        "recipient": recipient(i),
        "sender_id": "Hookline",
        "num_parts": 1,
        "cost": 0.0085,
        "broadcast_id": i.is_multiple_of(10).then(|| broadcast(i)),
        "accepted_at": chrono::Utc::now(),
    }))
    .expect("an accepted message")
}
