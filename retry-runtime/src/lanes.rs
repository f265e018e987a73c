//! Per-partition lanes: each partition's records wait for their due time and are handled in
//! order by a task of their own, so a record that is not due holds back only its partition.
//!
//! A lane holds at most [`LANE_BUDGET`] bytes of records. When one is full its partition is
//! paused and rewound to the first record that did not fit; it resumes once the lane has
//! drained to half. Memory therefore stays flat however long the backlog on the topic.
//!
//! Why not pause, seek and resume per record (as Spring does)? librdkafka notices a resumed
//! partition only on its next fetch-loop tick, up to a second later, which would make every
//! retry up to a second late and limit a backlog to about one record per second per partition.
//! The same delay applies when a full lane resumes, which is why the budget is generous: a
//! burst of ordinary size never pauses.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rdkafka::consumer::Consumer;
use rdkafka::{Offset, TopicPartitionList};
use tokio::sync::{mpsc, Semaphore};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::context::ListenerConsumer;
use crate::inbound::Inbound;
use crate::process::Processor;

/// Bytes of records held per partition (as estimated by [`Inbound::footprint`]).
pub(crate) const LANE_BUDGET: usize = 8 << 20;

/// A record and the rebalance generation it was read in.
struct Queued {
    inbound: Inbound,
    generation: u64,
}

/// The reading task's end of a lane.
struct Lane {
    sender: mpsc::UnboundedSender<Queued>,
    /// Bytes queued and not yet handled.
    held: Arc<AtomicUsize>,
}

/// What lanes and the reading task share.
struct Shared {
    consumer: Arc<ListenerConsumer>,
    processor: Arc<Processor>,
    /// Handler calls in flight at once, across partitions (the `concurrency` setting).
    permits: Semaphore,
    /// Paused partitions and the offset they resume from.
    throttled: Mutex<HashMap<i32, i64>>,
    stop: CancellationToken,
}

/// The lanes of one consumer.
pub(crate) struct Lanes {
    shared: Arc<Shared>,
    lanes: HashMap<i32, Lane>,
    tasks: Vec<JoinHandle<()>>,
    generation: u64,
}

impl Lanes {
    pub fn new(
        consumer: Arc<ListenerConsumer>,
        processor: Arc<Processor>,
        concurrency: usize,
        stop: CancellationToken,
    ) -> Self {
        let generation = consumer.context().generation();
        Self {
            shared: Arc::new(Shared {
                consumer,
                processor,
                permits: Semaphore::new(concurrency.max(1)),
                throttled: Mutex::new(HashMap::new()),
                stop,
            }),
            lanes: HashMap::new(),
            tasks: Vec::new(),
            generation,
        }
    }

    /// Queues a record on its partition's lane, or pauses the partition when the lane is full.
    pub fn dispatch(&mut self, inbound: Inbound) {
        let generation = self.shared.consumer.context().generation();
        if generation != self.generation {
            // A rebalance resumed every assigned partition and restarted it from the
            // committed offset: forget the old pauses.
            self.generation = generation;
            self.shared.throttled.lock().expect("lock").clear();
        }
        let (partition, offset) = (inbound.raw.meta.partition, inbound.raw.meta.offset);
        if let Some(&from) = self.shared.throttled.lock().expect("lock").get(&partition) {
            if offset >= from {
                return; // fetched before the pause took effect; read again after resume
            }
        }
        let lane = self.lanes.entry(partition).or_insert_with(|| {
            let (sender, receiver) = mpsc::unbounded_channel();
            let held = Arc::new(AtomicUsize::new(0));
            self.tasks.push(tokio::spawn(run_lane(
                self.shared.clone(),
                partition,
                receiver,
                held.clone(),
            )));
            Lane { sender, held }
        });
        let size = inbound.footprint();
        let held = lane.held.load(Ordering::Acquire);
        if held > 0 && held + size > LANE_BUDGET {
            let topic = inbound.raw.meta.topic.clone();
            self.shared
                .throttled
                .lock()
                .expect("lock")
                .insert(partition, offset);
            let mut tpl = TopicPartitionList::new();
            tpl.add_partition(&topic, partition);
            if let Err(error) = self.shared.consumer.pause(&tpl) {
                tracing::warn!(partition, %error, "could not pause a full lane's partition");
            }
            // Zero timeout: start the seek without blocking this task.
            if let Err(error) =
                self.shared
                    .consumer
                    .seek(&topic, partition, Offset::Offset(offset), Duration::ZERO)
            {
                tracing::warn!(partition, offset, %error, "could not rewind a full lane's partition");
            }
            tracing::debug!(partition, offset, "lane full: partition paused");
            return;
        }
        lane.held.fetch_add(size, Ordering::AcqRel);
        // A lane task only ends when its sender is dropped or at shutdown.
        let _ = lane.sender.send(Queued {
            inbound,
            generation,
        });
    }

    /// Waits for every lane to finish the record it is handling; records still waiting are
    /// left uncommitted, to be read again after restart.
    pub async fn finish(self) {
        drop(self.lanes);
        for task in self.tasks {
            if let Err(error) = task.await {
                tracing::error!(%error, "lane task failed");
            }
        }
    }
}

async fn run_lane(
    shared: Arc<Shared>,
    partition: i32,
    mut receiver: mpsc::UnboundedReceiver<Queued>,
    held: Arc<AtomicUsize>,
) {
    loop {
        let queued = tokio::select! {
            biased;
            _ = shared.stop.cancelled() => return,
            queued = receiver.recv() => match queued {
                Some(queued) => queued,
                None => return,
            },
        };
        let Queued {
            mut inbound,
            generation,
        } = queued;
        let size = inbound.footprint();
        if generation == shared.consumer.context().generation() {
            if let Some(wait) = shared.processor.wait_for(&mut inbound) {
                tokio::select! {
                    biased;
                    _ = shared.stop.cancelled() => return,
                    _ = tokio::time::sleep(wait) => {}
                }
            }
            let _permit = shared.permits.acquire().await.expect("never closed");
            shared.processor.process(inbound).await;
        }
        // else: read under an older assignment; the partition's owner reads it again.
        if held.fetch_sub(size, Ordering::AcqRel) - size <= LANE_BUDGET / 2 {
            resume_if_throttled(&shared, partition);
        }
    }
}

fn resume_if_throttled(shared: &Shared, partition: i32) {
    let Some(_) = shared.throttled.lock().expect("lock").remove(&partition) else {
        return;
    };
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition(shared.processor.topic(), partition);
    if let Err(error) = shared.consumer.resume(&tpl) {
        tracing::debug!(partition, %error, "resume of a drained lane's partition");
    }
}
