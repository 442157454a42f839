//! Reading back a topic's history between two points in time, for replay.
//!
//! Kafka keeps every record for the topic's retention (`retention.ms`, the broker's default
//! 7 days unless `HOOKLINE_TOPIC_CONFIGS` sets another), and can find the first offset at or
//! after a time in each partition (`ListOffsets` by timestamp, librdkafka's
//! `offsets_for_times`). [`scan`] reads from there to the end each partition had when the scan
//! started, without a consumer group (nothing is committed, no member joins any group), so a
//! scan never disturbs the pipeline's consumers.
//!
//! A broker that cannot find offsets by time (librdkafka's mock cluster, which `hookline
//! embedded` runs on, answers every such lookup with "no record") is detected with a probe
//! ([`answers_by_time`]); its partitions are then read from their start and filtered by
//! timestamp, within the same bound (each partition's end at the start of the scan, and the
//! scan's timeout).

use crate::{KafkaError, KafkaSettings};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::BorrowedMessage;
use rdkafka::{Message, Offset, TopicPartitionList};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// What a scan went through.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scanned {
    /// Records read (in the window or not).
    pub records: u64,
    /// `visit` asked to stop at a record: its timestamp (ms), where a next scan would start.
    pub stopped_at_ms: Option<i64>,
}

/// What `visit` says about a record.
pub enum Visit {
    Continue,
    /// Stop the scan here (this record was not taken).
    Stop,
}

/// Calls `visit` with every record of `topic` whose timestamp is in `[from_ms, to_ms]`, in
/// offset order within each partition (partitions are read together, so records of different
/// partitions interleave). Reads up to each partition's end as of the start of the scan;
/// fails with [`KafkaError::Timeout`]-like errors when that takes longer than `timeout`.
///
/// Blocking: run it on a blocking thread.
pub fn scan(
    settings: &KafkaSettings,
    topic: &str,
    from_ms: i64,
    to_ms: Option<i64>,
    timeout: Duration,
    mut visit: impl FnMut(&BorrowedMessage<'_>) -> Visit,
) -> Result<Scanned, KafkaError> {
    let deadline = Instant::now() + timeout;
    let consumer: BaseConsumer = settings
        .client(&[
            // Required by librdkafka, never joined: partitions are assigned, not subscribed.
            ("group.id", "hookline-history-scan"),
            ("enable.auto.commit", "false"),
            ("enable.auto.offset.store", "false"),
            // The end of a partition may be a transaction marker, never delivered as a record:
            // its end-of-partition event says the partition is read through.
            ("enable.partition.eof", "true"),
        ])
        .create()?;
    let metadata = consumer.fetch_metadata(Some(topic), timeout)?;
    let partitions: Vec<i32> = metadata
        .topics()
        .iter()
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect();
    let mut by_time = TopicPartitionList::new();
    for p in &partitions {
        by_time.add_partition_offset(topic, *p, Offset::Offset(from_ms))?;
    }
    let starts = consumer.offsets_for_times(by_time, timeout)?;
    // Where each partition starts and the offset it must reach.
    let mut assign = TopicPartitionList::new();
    let mut ends: HashMap<i32, i64> = HashMap::new();
    // Non-empty partitions with no offset for `from_ms`: (partition, low, high).
    let mut unanswered = vec![];
    for elem in starts.elements() {
        let (low, high) = consumer.fetch_watermarks(topic, elem.partition(), timeout)?;
        match elem.offset() {
            Offset::Offset(start) if start < high => {
                assign.add_partition_offset(topic, elem.partition(), Offset::Offset(start))?;
                ends.insert(elem.partition(), high);
            }
            Offset::Offset(_) => {}
            _ if low < high => unanswered.push((elem.partition(), low, high)),
            _ => {}
        }
    }
    if !unanswered.is_empty() && !answers_by_time(&consumer, topic, &unanswered, timeout)? {
        // The broker cannot find offsets by time (librdkafka's mock cluster, behind `hookline
        // embedded`, answers every lookup with "none"): read those partitions from their
        // start; the timestamp check below keeps the window. Bounded by the partitions' ends
        // as of now and by `timeout`, so a large topic fails loudly rather than answering
        // nothing.
        tracing::debug!(
            topic,
            partitions = unanswered.len(),
            "no offsets by time: reading from the start"
        );
        for (partition, low, high) in unanswered {
            assign.add_partition_offset(topic, partition, Offset::Offset(low))?;
            ends.insert(partition, high);
        }
    }
    let mut out = Scanned::default();
    if ends.is_empty() {
        return Ok(out);
    }
    consumer.assign(&assign)?;
    while !ends.is_empty() {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(KafkaError::Other(format!(
                "reading {topic} back took longer than {timeout:?}"
            )));
        }
        let Some(msg) = consumer.poll(left.min(Duration::from_millis(500))) else {
            continue;
        };
        let msg = match msg {
            Ok(msg) => msg,
            Err(rdkafka::error::KafkaError::PartitionEOF(p)) => {
                ends.remove(&p);
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        out.records += 1;
        let partition = msg.partition();
        if ends.get(&partition).is_some_and(|end| msg.offset() + 1 >= *end) {
            ends.remove(&partition);
        }
        let ts = msg.timestamp().to_millis().unwrap_or_default();
        if ts < from_ms || to_ms.is_some_and(|to| ts > to) {
            continue;
        }
        if let Visit::Stop = visit(&msg) {
            out.stopped_at_ms = Some(ts);
            break;
        }
    }
    Ok(out)
}

/// Whether the broker finds offsets by time, asked of `partitions` (`(partition, low, high)`,
/// each holding records): every record has a timestamp at or after the epoch, so a broker
/// that answers by time gives an offset for time 0 in a non-empty partition. A broker that
/// gives none cannot say which records are in a window, and its "no record at or after
/// `from_ms`" means nothing.
fn answers_by_time(
    consumer: &BaseConsumer,
    topic: &str,
    partitions: &[(i32, i64, i64)],
    timeout: Duration,
) -> Result<bool, KafkaError> {
    let mut probe = TopicPartitionList::new();
    for (p, _, _) in partitions {
        probe.add_partition_offset(topic, *p, Offset::Offset(0))?;
    }
    let found = consumer.offsets_for_times(probe, timeout)?;
    Ok(found.elements().iter().any(|e| matches!(e.offset(), Offset::Offset(_))))
}
