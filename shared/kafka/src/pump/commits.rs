//! The consume loop's offset bookkeeping: topics interned per loop, and per partition the
//! records handed out, so an offset is stored only up to the lowest record not finished.

use super::Tp;
use crate::context::HooklineConsumer;
use crate::KafkaMetrics;
use rdkafka::consumer::Consumer;
use rdkafka::message::{Message, OwnedMessage};
use rdkafka::{Offset, TopicPartitionList};
use std::collections::{HashMap, VecDeque};

/// The topics a loop has seen, interned: a record's partition is `(index, number)`, and each
/// topic's consumed-records counter is resolved once.
pub(super) struct TopicIds {
    names: Vec<String>,
    /// Per topic, its child of `counters`.
    consumed: Vec<prometheus::IntCounter>,
    counters: prometheus::IntCounterVec,
}

impl TopicIds {
    pub(super) fn new(metrics: &KafkaMetrics) -> Self {
        Self {
            names: Vec::new(),
            consumed: Vec::new(),
            counters: metrics.consumed.clone(),
        }
    }

    /// The partition of `msg` (a linear search: a consumer reads a handful of topics).
    pub(super) fn tp(&mut self, msg: &OwnedMessage) -> Tp {
        let topic = msg.topic();
        let id = match self.names.iter().position(|n| n == topic) {
            Some(i) => i,
            None => {
                self.names.push(topic.to_string());
                self.consumed.push(self.counters.with_label_values(&[topic]));
                self.names.len() - 1
            }
        };
        (id as u16, msg.partition())
    }

    pub(super) fn name(&self, tp: Tp) -> &str {
        &self.names[tp.0 as usize]
    }

    pub(super) fn count_consumed(&self, tp: Tp) {
        self.consumed[tp.0 as usize].inc();
    }
}

/// Where a handed-out record came from, and the consumer's rebalance generation then.
pub(super) struct Pos {
    pub(super) tp: Tp,
    pub(super) offset: i64,
    pub(super) generation: u64,
}

/// Per partition, the records handed out and not yet committable, in the order received, for
/// the current rebalance generation only; and the offsets to store at the end of the batch.
#[derive(Default)]
pub(super) struct Commits {
    started: HashMap<Tp, VecDeque<(i64, bool)>>,
    /// Per partition that advanced since the last [`Commits::store`], its highest committable
    /// record.
    committable: HashMap<Tp, i64>,
    generation: u64,
    /// Per partition, the offset below which this process has finished every record it was
    /// handed, durably, in whatever generation: kept across rebalances (see
    /// [`Commits::handled_before`]).
    durable: HashMap<Tp, i64>,
}

impl Commits {
    /// Forgets everything of an earlier generation: after a rebalance a partition, even one
    /// assigned back to this consumer, restarts from its committed offset.
    pub(super) fn follow(&mut self, generation: u64) {
        if generation != self.generation {
            self.started.clear();
            self.committable.clear();
            self.generation = generation;
        }
    }

    pub(super) fn started(&mut self, consumer: &HooklineConsumer, tp: Tp, msg: &OwnedMessage) {
        self.follow(consumer.context().generation());
        self.started.entry(tp).or_default().push_back((msg.offset(), false));
    }

    /// Marks a record finished; its partition may now be stored up to the lowest record still
    /// unfinished. A record received before the latest rebalance stores nothing: its
    /// partition was revoked, and if it came back, it is read again from the committed offset
    /// (storing this record's offset would commit past records not handled again yet).
    pub(super) fn finished(&mut self, consumer: &HooklineConsumer, pos: Pos) {
        let current = consumer.context().generation();
        self.follow(current);
        if pos.generation != current {
            return;
        }
        let Some(queue) = self.started.get_mut(&pos.tp) else {
            return;
        };
        // Offsets grow in receive order within a partition.
        if let Ok(i) = queue.binary_search_by_key(&pos.offset, |(o, _)| *o) {
            queue[i].1 = true;
        }
        let mut committable = None;
        while let Some(&(o, true)) = queue.front() {
            committable = Some(o);
            queue.pop_front();
        }
        if queue.is_empty() {
            self.started.remove(&pos.tp);
        }
        if let Some(o) = committable {
            self.committable.insert(pos.tp, o);
            let durable = self.durable.entry(pos.tp).or_default();
            *durable = (*durable).max(o + 1);
        }
    }

    /// Whether this process already finished the record at `offset` of `tp` durably (with
    /// every record before it) in an earlier generation. A rebalance hands a partition back at
    /// its committed offset, which can be far behind: after a group coordinator's failover a
    /// consumer whose heartbeats went unanswered for `session.timeout.ms` drops its assignment
    /// as lost and rejoins, and the offsets it stored meanwhile were never committed (the
    /// coordinator was away). Reading those records again would redo seconds of traffic (the
    /// leader-failover fault test resent 8–12 % of its run); they are skipped instead, and
    /// stored as finished so the committed offset catches up. Safe because a consumer reads
    /// only below the high watermark, which only an unclean leader election takes back.
    pub(super) fn handled_before(&self, tp: Tp, offset: i64) -> bool {
        self.durable.get(&tp).is_some_and(|d| offset < *d)
    }

    /// Stores the offsets of every partition that advanced, in one call. A rebalance since
    /// they were marked discards them (see [`Commits::follow`]).
    pub(super) fn store(&mut self, consumer: &HooklineConsumer, topics: &TopicIds) {
        self.follow(consumer.context().generation());
        if self.committable.is_empty() {
            return;
        }
        let mut list = TopicPartitionList::with_capacity(self.committable.len());
        for (tp, offset) in self.committable.drain() {
            // The committed offset is the next record to read.
            let _ = list.add_partition_offset(topics.name(tp), tp.1, Offset::Offset(offset + 1));
        }
        // Fails only when a partition was revoked meanwhile; its new owner redelivers.
        if let Err(e) = consumer.store_offsets(&list) {
            tracing::debug!(error = %e, "offsets not stored");
        }
    }
}
