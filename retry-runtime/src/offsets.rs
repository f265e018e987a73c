//! Offsets stored strictly in order while forwards are in flight.
//!
//! A main-topic record whose forward is not yet acknowledged must not have its offset (nor any
//! later one of its partition) committed; waiting for each acknowledgement before reading on
//! would cap the main topic at one forward per round trip. So forwards are started and queued
//! in read order; a record handled meanwhile is not queued itself but noted on the newest
//! queued forward, and stored once every forward up to that one is acknowledged. The common
//! record therefore costs no allocation however many forwards are in flight.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;

use futures::stream::{FuturesOrdered, StreamExt};
use rdkafka::consumer::Consumer;
use rdkafka::error::KafkaResult;
use rdkafka::message::{BorrowedMessage, Message};

use crate::context::ListenerConsumer;
use crate::process::Forward;

/// Forwards in flight at most per consumer; reading pauses beyond it, so memory stays bounded.
pub(crate) const MAX_IN_FLIGHT: usize = 10_000;

/// A queued forward: its record, and the highest offset per partition handled after it and
/// before the next forward (stored once this forward is acknowledged).
struct Pending {
    partition: i32,
    offset: i64,
    handled_after: Vec<(i32, i64)>,
}

/// The records of one consumer whose offsets wait for earlier forwards.
pub(crate) struct InOrderOffsets {
    consumer: Arc<ListenerConsumer>,
    forwards: FuturesOrdered<Forward>,
    /// One entry per queued forward, in the same order.
    pending: VecDeque<Pending>,
    /// Partitions with an abandoned forward: nothing after it may be committed.
    poisoned: HashSet<i32>,
}

impl InOrderOffsets {
    pub fn new(consumer: Arc<ListenerConsumer>) -> Self {
        Self {
            consumer,
            forwards: FuturesOrdered::new(),
            pending: VecDeque::new(),
            poisoned: HashSet::new(),
        }
    }

    /// A record handled without a forward: stored now if nothing is in flight, else noted on
    /// the newest forward.
    pub fn done(&mut self, message: &BorrowedMessage<'_>) {
        let (partition, offset) = (message.partition(), message.offset());
        match self.pending.back_mut() {
            Some(newest) => match newest.handled_after.last_mut() {
                Some((p, o)) if *p == partition => *o = offset,
                _ => newest.handled_after.push((partition, offset)),
            },
            None if self.poisoned.contains(&partition) => {}
            // Through the message's own topic handle: no lookup of the topic by name.
            None => log_unstored(self.consumer.store_offset_from_message(message)),
        }
    }

    /// A record whose offset may be stored once `forward` completes.
    pub fn forwarding(&mut self, partition: i32, offset: i64, forward: Forward) {
        self.forwards.push_back(forward);
        self.pending.push_back(Pending {
            partition,
            offset,
            handled_after: Vec::new(),
        });
    }

    /// True when reading should wait for forwards to complete.
    pub fn full(&self) -> bool {
        self.pending.len() >= MAX_IN_FLIGHT
    }

    /// Stores the offsets released by the next acknowledged forward; pending forever when
    /// nothing is queued (for use in `select!`).
    pub async fn store_next(&mut self, topic: &str) {
        let Some(result) = self.forwards.next().await else {
            return std::future::pending().await;
        };
        let done = self.pending.pop_front().expect("one entry per forward");
        if let Err(interrupted) = result {
            tracing::warn!(partition = done.partition, offset = done.offset, %interrupted, "forward abandoned; offset not committed");
            self.poisoned.insert(done.partition);
        }
        self.store(topic, done.partition, done.offset);
        for (partition, offset) in done.handled_after {
            self.store(topic, partition, offset);
        }
    }

    /// Completes (or abandons, at shutdown) everything queued.
    pub async fn drain(&mut self, topic: &str) {
        while !self.pending.is_empty() {
            self.store_next(topic).await;
        }
    }

    fn store(&self, topic: &str, partition: i32, offset: i64) {
        if !self.poisoned.contains(&partition) {
            store_offset(&self.consumer, topic, partition, offset);
        }
    }
}

/// Marks `offset` of `topic`/`partition` handled, for the background commit.
pub(crate) fn store_offset(consumer: &ListenerConsumer, topic: &str, partition: i32, offset: i64) {
    // librdkafka's offset store records `offset + 1`, the next record to read: pass the
    // handled record's own offset.
    log_unstored(consumer.store_offset(topic, partition, offset));
}

/// An offset librdkafka refused to store: its partition was revoked meanwhile, and the
/// record is redelivered to the partition's new owner.
fn log_unstored(stored: KafkaResult<()>) {
    if let Err(error) = stored {
        tracing::debug!(%error, "offset not stored (partition revoked?)");
    }
}
