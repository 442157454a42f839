//! The consume loop against the real broker: records with a due time are held without
//! stalling other partitions, and when more are held than a partition may keep, the
//! partition is paused, sought back and resumed without losing or reordering a record.

use hookline_kafka::admin::ensure_topics;
use hookline_kafka::{headers, Handled, KafkaMetrics, KafkaSettings, Message, Pump};
use hookline_telemetry::Runtime;
use hookline_tests::eventually;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio_util::sync::CancellationToken;

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64
}

/// Handled records per partition, as `(sequence number, handled at ms, due at ms)`.
type Seen = Arc<Mutex<HashMap<i32, Vec<(u64, i64, i64)>>>>;

/// How a run's pump and handler behave.
struct Handling {
    max_in_flight: usize,
    /// Records (partition, sequence number) whose handling takes 3 s.
    slow: fn(i32, u64) -> bool,
}

const NORMAL: Handling = Handling {
    max_in_flight: 64,
    slow: |_, _| false,
};

/// Produces `per_partition` records to each of `partitions` partitions (explicit partition,
/// sequence number as payload), each due `due(n)` ms from now, then runs a pump over them
/// until every record was handled or `timeout` passed. A record is seen when its handling
/// finishes.
async fn pump_run(
    partitions: i32,
    per_partition: u64,
    due: impl Fn(u64) -> i64,
    timeout: Duration,
    handling: Handling,
) -> Seen {
    let id = hookline_tests::unique("pump");
    let mut settings = KafkaSettings::new(hookline_tests::brokers(), &format!("{id}."));
    settings.partitions = partitions;
    let topic = settings.topics.retry_tier(10);
    ensure_topics(
        &settings,
        &[hookline_config::TopicSpec {
            name: topic.clone(),
            partitions: Some(partitions),
            compacted: false,
        }],
    )
    .await
    .unwrap();

    let producer: rdkafka::producer::FutureProducer = settings
        .client(&[("linger.ms", "20"), ("compression.type", "lz4")])
        .create()
        .unwrap();
    let start = now_ms();
    let mut sends = Vec::new();
    for n in 0..per_partition {
        for p in 0..partitions {
            let due_at = (start + due(n)).to_string();
            let payload = n.to_string();
            let record = rdkafka::producer::FutureRecord::<(), _>::to(&topic)
                .partition(p)
                .payload(&payload)
                .headers(rdkafka::message::OwnedHeaders::new().insert(rdkafka::message::Header {
                    key: headers::DUE_AT_MS,
                    value: Some(due_at.as_bytes()),
                }));
            sends.push(producer.send_result(record).unwrap());
        }
    }
    for s in sends {
        s.await.unwrap().unwrap();
    }

    let rt = Runtime::new(CancellationToken::new(), Duration::from_secs(5));
    let metrics = KafkaMetrics::new(&rt.registry, "test");
    let consumer = settings.consumer(&format!("{id}-g"), &[&topic], &metrics).unwrap();
    let seen: Seen = Arc::default();
    let pump = Pump::new("test", handling.max_in_flight, &rt, &metrics);
    let slow = handling.slow;
    let shutdown = rt.shutdown.clone();
    let run = {
        let seen = seen.clone();
        tokio::spawn(async move {
            pump.run(&consumer, |msg| {
                let seen = seen.clone();
                async move {
                    let n: u64 = std::str::from_utf8(msg.payload().unwrap()).unwrap().parse().unwrap();
                    let due = headers::get_i64(msg.headers(), headers::DUE_AT_MS).unwrap();
                    if slow(msg.partition(), n) {
                        // The slow handling under test, not a wait.
                        tokio::time::sleep(Duration::from_secs(3)).await;
                    }
                    seen.lock()
                        .unwrap()
                        .entry(msg.partition())
                        .or_default()
                        .push((n, now_ms(), due));
                    Handled::Done
                }
            })
            .await
        })
    };
    let total = per_partition as usize * partitions as usize;
    // (When not all arrive, the caller's checks name the missing ones.)
    let all_seen = eventually(timeout, || async {
        (seen.lock().unwrap().values().map(Vec::len).sum::<usize>() >= total).then_some(())
    })
    .await
    .is_some();
    // Stopped (in-flight handling drained into `seen`, a final synchronous commit), the pump
    // has committed past every record: it would hand none out again.
    shutdown.cancel();
    run.await.unwrap().unwrap();
    if all_seen {
        let lag = hookline_kafka::admin::group_lag(&settings, &format!("{id}-g"), &topic)
            .await
            .unwrap();
        assert_eq!(lag, 0, "records of {topic} not committed after the pump stopped");
    }
    seen
}

fn assert_exactly_in_order(seen: &Seen, partitions: i32, per_partition: u64) {
    let seen = seen.lock().unwrap();
    for p in 0..partitions {
        let got: Vec<u64> = seen
            .get(&p)
            .map(|v| v.iter().map(|r| r.0).collect())
            .unwrap_or_default();
        let missing: Vec<u64> = (0..per_partition).filter(|n| !got.contains(n)).collect();
        assert!(
            missing.is_empty(),
            "partition {p}: {} of {per_partition} handled, missing {missing:?}",
            got.len()
        );
        assert_eq!(
            got,
            (0..per_partition).collect::<Vec<_>>(),
            "partition {p}: each once, in order"
        );
        for (n, at, due) in &seen[&p] {
            assert!(at >= due, "partition {p}: record {n} handled {} ms early", due - at);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn more_held_records_than_a_partition_keeps_are_all_handled_once_in_order() {
    // 1,500 records per partition, all due in 2 s: each partition fills its hold queue (512),
    // pauses, and is sought back and resumed twice.
    let (partitions, n) = (2, 1500);
    let seen = pump_run(partitions, n, |_| 2000, Duration::from_secs(60), NORMAL).await;
    assert_exactly_in_order(&seen, partitions, n);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mixed_due_and_future_records_are_all_handled_once_in_order() {
    // Alternating runs of records already due and records due a little later, as a retry tier
    // holds them when deferrals (short waits) and failures (long waits) share it.
    let (partitions, n) = (3, 1200);
    let seen = pump_run(
        partitions,
        n,
        |k| {
            if (k / 100) % 2 == 0 {
                -1000
            } else {
                300 + (k as i64 % 7) * 100
            }
        },
        Duration::from_secs(60),
        NORMAL,
    )
    .await;
    assert_exactly_in_order(&seen, partitions, n);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_record_holds_back_only_its_partitions_commit_not_the_consumer() {
    // Four records may be unfinished at once. The first record of partition 0 takes 3 s; the
    // 99 after it (and partition 1's) finish meanwhile: finished records do not count against
    // the window, however long the record before them takes. (With in-order completion the
    // window filled with finished records queued behind the slow one, and the consumer
    // stopped.)
    let seen = pump_run(
        2,
        100,
        |_| -1000,
        Duration::from_secs(60),
        Handling {
            max_in_flight: 4,
            slow: |p, n| p == 0 && n == 0,
        },
    )
    .await;
    let seen = seen.lock().unwrap();
    let slow_done = seen[&0].iter().find(|r| r.0 == 0).expect("the slow record finished").1;
    let before: Vec<u64> = seen[&0].iter().filter(|r| r.1 < slow_done).map(|r| r.0).collect();
    assert_eq!(
        before.len(),
        99,
        "the records after the slow one finished before it: {before:?}"
    );
    for p in 0..2 {
        let mut got: Vec<u64> = seen[&p].iter().map(|r| r.0).collect();
        got.sort_unstable();
        assert_eq!(got, (0..100).collect::<Vec<_>>(), "partition {p}: each once");
    }
}
