//! Offsets stored strictly in order while forwards are in flight.
//!
//! A main-topic record whose forward is not yet acknowledged must not have its offset (nor any
//! later one of its partition) committed; waiting for each acknowledgement before reading on
//! would cap the main topic at one forward per round trip. So forwards are started, queued in
//! read order with the records handled meanwhile, and offsets are stored as the head of the
//! queue completes.

use std::collections::HashSet;
use std::sync::Arc;

use futures::future::BoxFuture;
use futures::stream::{FuturesOrdered, StreamExt};
use rdkafka::consumer::Consumer;

use crate::context::ListenerConsumer;
use crate::forward::Interrupted;
use crate::process::Forward;

/// Forwards in flight at most per consumer; reading pauses beyond it, so memory stays bounded.
pub(crate) const MAX_IN_FLIGHT: usize = 10_000;

type Entry = BoxFuture<'static, (i32, i64, Result<(), Interrupted>)>;

/// The records of one consumer whose offsets wait for earlier forwards.
pub(crate) struct InOrderOffsets {
    consumer: Arc<ListenerConsumer>,
    queue: FuturesOrdered<Entry>,
    /// Partitions with an abandoned forward: nothing after it may be committed.
    poisoned: HashSet<i32>,
}

impl InOrderOffsets {
    pub fn new(consumer: Arc<ListenerConsumer>) -> Self {
        Self {
            consumer,
            queue: FuturesOrdered::new(),
            poisoned: HashSet::new(),
        }
    }

    /// A record handled without a forward: stored now if nothing is in flight, else queued.
    pub fn done(&mut self, topic: &str, partition: i32, offset: i64) {
        if self.queue.is_empty() {
            self.store(topic, partition, offset);
        } else {
            self.queue
                .push_back(Box::pin(std::future::ready((partition, offset, Ok(())))));
        }
    }

    /// A record whose offset may be stored once `forward` completes.
    pub fn forwarding(&mut self, partition: i32, offset: i64, forward: Forward) {
        self.queue
            .push_back(Box::pin(async move { (partition, offset, forward.await) }));
    }

    /// True when reading should wait for forwards to complete.
    pub fn full(&self) -> bool {
        self.queue.len() >= MAX_IN_FLIGHT
    }

    /// Stores the offset of the next completed entry; pending forever when nothing is queued
    /// (for use in `select!`).
    pub async fn store_next(&mut self, topic: &str) {
        match self.queue.next().await {
            Some((partition, offset, Ok(()))) => self.store(topic, partition, offset),
            Some((partition, offset, Err(interrupted))) => {
                tracing::warn!(partition, offset, %interrupted, "forward abandoned; offset not committed");
                self.poisoned.insert(partition);
            }
            None => std::future::pending().await,
        }
    }

    /// Completes (or abandons, at shutdown) everything queued.
    pub async fn drain(&mut self, topic: &str) {
        while !self.queue.is_empty() {
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
    if let Err(error) = consumer.store_offset(topic, partition, offset) {
        tracing::debug!(%error, "offset not stored (partition revoked?)");
    }
}
