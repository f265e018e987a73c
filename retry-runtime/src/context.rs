//! Consumer callbacks: each assigned partition gets a queue of its own and an [`Ownership`]
//! that is revoked the moment the partition is revoked.
//!
//! Why per-partition ownership and not one counter per consumer: under cooperative
//! rebalancing (and KIP-848) a rebalance revokes some partitions and keeps the others
//! fetching from where they were. Dropping every partition's queued records on any rebalance
//! would then let later offsets of a kept partition be committed past records that were
//! dropped: loss. Here only the revoked partition's work stops.
//!
//! Why split queues (`rd_kafka_queue_get_partition`): a record waiting for its due time, or a
//! forward that cannot complete, then holds back only its own partition; librdkafka bounds the
//! prefetch of each split queue separately, and the main queue, which stays free, is polled
//! continuously to serve rebalances and keep the member in its group.
//!
//! The queue is split *before* the partition is assigned: librdkafka then never forwards the
//! partition's records to the main queue (the split sets `RD_KAFKA_Q_F_FWD_APP`, which
//! `fetch_start` respects and nothing clears). A partition's queue is split once per consumer
//! and reused on every later assignment, because dropping a split queue's handle disables the
//! wake-up callback of the fetch queue that all handles share.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use rdkafka::consumer::stream_consumer::StreamPartitionQueue;
use rdkafka::consumer::CommitMode;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance, StreamConsumer};
use rdkafka::error::{KafkaError, KafkaResult};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use tokio::sync::{mpsc, watch};

use crate::batch::QueueHandle;
use crate::ownership::Ownership;

/// The consumer type every listener topic uses.
pub(crate) type ListenerConsumer = StreamConsumer<PartitionContext>;

/// A partition's own queue of records, split from the consumer's once: rdkafka's stream over
/// it, and a second handle on the same queue, taken at the same moment, that dequeues its
/// records in batches (design/batch-reads.md).
pub(crate) struct PartitionQueue {
    /// Dequeues the queue's records in batches. Declared first, so dropped first: the
    /// stream keeps the consumer, whose client the handle refers to, alive until then.
    pub batches: QueueHandle,
    /// The stream over the queue: how a task waits for records.
    pub stream: StreamPartitionQueue<PartitionContext>,
}

/// A partition assigned to this consumer.
pub(crate) struct Assigned {
    /// The partition.
    pub partition: i32,
    /// Its queue, when split for the first time (else the one handed out before).
    pub queue: Option<PartitionQueue>,
    /// Revoked when the partition is revoked or lost.
    pub owned: Arc<Ownership>,
}

/// Rebalance bookkeeping of one consumer.
pub(crate) struct PartitionContext {
    consumer: OnceLock<Weak<ListenerConsumer>>,
    ready: watch::Sender<bool>,
    assignments: mpsc::UnboundedSender<Assigned>,
    /// The ownership of every partition held now.
    owned: Mutex<HashMap<i32, Arc<Ownership>>>,
    /// Partitions whose queue was split already.
    split: Mutex<Vec<i32>>,
    /// Where offsets the group coordinator acknowledged go, each as (partition, offset),
    /// when someone listens (the lock log's floor, with `ordering = "key"`).
    commits: Option<mpsc::UnboundedSender<(i32, i64)>>,
    /// With `ordering = "key"`: a revocation waits for the revoked partitions' tasks to
    /// finish their calls, forwards and lock-log entries, and commits, before the rebalance
    /// goes on (design/key-order.md).
    drains: bool,
}

/// How long a revocation waits for a revoked partition's task to drain (`drains`).
pub(crate) const DRAIN_BOUND: Duration = Duration::from_secs(60);

/// What the consume loop keeps of a context: readiness and new assignments.
pub(crate) struct ContextEvents {
    /// Turns true on the first non-empty assignment.
    pub ready: watch::Receiver<bool>,
    /// Partitions as they are assigned.
    pub assignments: mpsc::UnboundedReceiver<Assigned>,
}

impl PartitionContext {
    /// A context, and the receiving ends of its events; `commits` hears of every offset
    /// committed; `drains` makes revocations wait for the revoked partitions' work.
    pub fn new(
        commits: Option<mpsc::UnboundedSender<(i32, i64)>>,
        drains: bool,
    ) -> (Self, ContextEvents) {
        let (ready_tx, ready) = watch::channel(false);
        let (assignments_tx, assignments) = mpsc::unbounded_channel();
        let context = Self {
            consumer: OnceLock::new(),
            ready: ready_tx,
            assignments: assignments_tx,
            owned: Mutex::default(),
            split: Mutex::default(),
            commits,
            drains,
        };
        (context, ContextEvents { ready, assignments })
    }

    /// Lets the context split partition queues of `consumer`, its own consumer. Must be
    /// called before the consumer subscribes.
    pub fn attach(consumer: &Arc<ListenerConsumer>) {
        let _ = consumer.context().consumer.set(Arc::downgrade(consumer));
    }

    fn assign(&self, topic: &str, partition: i32) {
        let queue = {
            let mut split = self.split.lock().expect("not poisoned");
            if split.contains(&partition) {
                None
            } else {
                // None while the consumer is being dropped (closing): nothing to split for.
                let queue = self
                    .consumer
                    .get()
                    .and_then(Weak::upgrade)
                    .and_then(|consumer| {
                        let stream = consumer.split_partition_queue(topic, partition)?;
                        let batches = QueueHandle::of_partition(&consumer, topic, partition);
                        Some(PartitionQueue { batches, stream })
                    });
                if queue.is_some() {
                    split.push(partition);
                }
                queue
            }
        };
        let owned = Arc::new(Ownership::default());
        if let Some(previous) = self
            .owned
            .lock()
            .expect("not poisoned")
            .insert(partition, owned.clone())
        {
            previous.revoke();
        }
        // The receiver lives as long as the consume loop, which outlives every poll.
        let _ = self.assignments.send(Assigned {
            partition,
            queue,
            owned,
        });
    }

    fn revoke(&self, partition: i32) -> Option<Arc<Ownership>> {
        let owned = self
            .owned
            .lock()
            .expect("not poisoned")
            .remove(&partition)?;
        owned.revoke();
        Some(owned)
    }

    /// Waits until the tasks of `revoked` let go of their partitions (their calls, forwards
    /// and lock-log entries ended, their offsets stored), then commits: the partitions' next
    /// owners start after every entry of this one. A task still working past [`DRAIN_BOUND`]
    /// is fenced off the lock log ([`Ownership::fence`]). On a runtime worker the wait moves the
    /// worker's other tasks away first; a runtime of one thread cannot wait (its tasks would
    /// wait for it), and start-up refuses key order there.
    fn drain(&self, consumer: &BaseConsumer<Self>, revoked: &[(i32, Arc<Ownership>)]) {
        let wait = || {
            for (partition, owned) in revoked {
                if !owned.wait_drained(DRAIN_BOUND) {
                    // Its records not yet entered stay unfinished, for the next owner.
                    owned.fence();
                    tracing::error!(partition, bound = ?DRAIN_BOUND, "revoked partition not drained in time; its task writes no more lock-log entries, but one already handed to the producer may still land after the next owner started and break its key's order");
                }
            }
        };
        match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
            Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(wait),
            Ok(_) => return,
            Err(_) => wait(),
        }
        match consumer.commit_consumer_state(CommitMode::Sync) {
            Ok(()) | Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => {}
            Err(error) => {
                tracing::warn!(%error, "commit of revoked partitions failed; their records are handled again")
            }
        }
    }
}

impl ClientContext for PartitionContext {}

impl ConsumerContext for PartitionContext {
    /// Tells `commits` which offsets the group coordinator acknowledged.
    fn commit_callback(&self, result: KafkaResult<()>, offsets: &TopicPartitionList) {
        let Some(commits) = &self.commits else {
            return;
        };
        if result.is_err() {
            return;
        }
        for element in offsets.elements() {
            if let (Offset::Offset(offset), None) = (element.offset(), element.error().err()) {
                // The receiver may have ended with its app: nothing to tell then.
                let _ = commits.send((element.partition(), offset));
            }
        }
    }

    /// Runs before librdkafka applies the change: revoked partitions stop being worked on,
    /// assigned ones get their queue split before any record is fetched for them.
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Revoke(partitions) => {
                let revoked: Vec<(i32, Arc<Ownership>)> = partitions
                    .elements()
                    .iter()
                    .filter_map(|e| Some((e.partition(), self.revoke(e.partition())?)))
                    .collect();
                tracing::debug!(revoked = partitions.count(), "partitions revoked");
                // Lost partitions are someone else's already: nothing to hand over.
                if self.drains && !consumer.assignment_lost() {
                    self.drain(consumer, &revoked);
                }
            }
            Rebalance::Assign(partitions) => {
                for element in partitions.elements() {
                    self.assign(element.topic(), element.partition());
                }
                if partitions.count() > 0 {
                    self.ready.send_replace(true);
                }
                tracing::debug!(assigned = partitions.count(), "partitions assigned");
            }
            Rebalance::Error(error) => {
                // librdkafka unassigns on a failed rebalance: stop working on everything.
                tracing::warn!(%error, "rebalance error; dropping the assignment");
                for (_, owned) in self.owned.lock().expect("not poisoned").drain() {
                    owned.revoke();
                }
            }
        }
    }
}
