//! Per-partition lanes: each partition's records wait for their due time and are handled in
//! order by a task of their own, so a record that is not due holds back only its partition.
//!
//! A lane holds at most [`LANE_BUDGET`] bytes of records: reading waits for room. Memory
//! therefore stays flat however long the backlog on the topic; a partition whose lane is full
//! delays the reading of the consumer's other partitions (their records can then only be
//! late, never early), which takes a backlog of 8 MiB per partition.
//!
//! Why not pause, seek and resume per record (as Spring does)? librdkafka notices a resumed
//! partition only on its next fetch-loop tick, up to a second later, which would make every
//! retry up to a second late and limit a backlog to about one record per second per partition.
//! Pausing a full lane's partition instead proved unsafe: librdkafka resumed such partitions
//! past records it had fetched but never delivered, silently skipping them.

use std::collections::HashMap;
use std::sync::Arc;

use rdkafka::consumer::Consumer;

use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::context::ListenerConsumer;
use crate::inbound::Inbound;
use crate::process::Processor;

/// Bytes of records held per partition (as estimated by [`Inbound::footprint`]).
pub(crate) const LANE_BUDGET: usize = 8 << 20;

/// A record, the rebalance generation it was read in, and its share of the lane's budget.
struct Queued {
    inbound: Inbound,
    generation: u64,
    _room: OwnedSemaphorePermit,
}

/// The reading task's end of a lane.
struct Lane {
    sender: mpsc::UnboundedSender<Queued>,
    room: Arc<Semaphore>,
}

/// What lanes and the reading task share.
struct Shared {
    consumer: Arc<ListenerConsumer>,
    processor: Arc<Processor>,
    /// Handler calls in flight at once, across partitions (the `concurrency` setting).
    permits: Semaphore,
    stop: CancellationToken,
}

/// The lanes of one consumer.
pub(crate) struct Lanes {
    shared: Arc<Shared>,
    lanes: HashMap<i32, Lane>,
    tasks: Vec<JoinHandle<()>>,
}

impl Lanes {
    pub fn new(
        consumer: Arc<ListenerConsumer>,
        processor: Arc<Processor>,
        concurrency: usize,
        stop: CancellationToken,
    ) -> Self {
        Self {
            shared: Arc::new(Shared {
                consumer,
                processor,
                permits: Semaphore::new(concurrency.max(1)),
                stop,
            }),
            lanes: HashMap::new(),
            tasks: Vec::new(),
        }
    }

    /// Queues a record on its partition's lane, waiting while the lane is full.
    pub async fn dispatch(&mut self, inbound: Inbound) {
        let generation = self.shared.consumer.context().generation();
        let partition = inbound.raw.meta.partition;
        let lane = self.lanes.entry(partition).or_insert_with(|| {
            let (sender, receiver) = mpsc::unbounded_channel();
            self.tasks
                .push(tokio::spawn(run_lane(self.shared.clone(), receiver)));
            Lane {
                sender,
                room: Arc::new(Semaphore::new(LANE_BUDGET)),
            }
        });
        // A record larger than the whole budget takes all of it.
        let size = inbound.footprint().min(LANE_BUDGET) as u32;
        let room = tokio::select! {
            room = lane.room.clone().acquire_many_owned(size) => room.expect("never closed"),
            _ = self.shared.stop.cancelled() => return,
        };
        // A lane task only ends when its sender is dropped or at shutdown.
        let _ = lane.sender.send(Queued {
            inbound,
            generation,
            _room: room,
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

async fn run_lane(shared: Arc<Shared>, mut receiver: mpsc::UnboundedReceiver<Queued>) {
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
            _room,
        } = queued;
        if generation != shared.consumer.context().generation() {
            continue; // read under an older assignment: the partition's owner reads it again
        }
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
}
