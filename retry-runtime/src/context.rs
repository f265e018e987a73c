//! Consumer callbacks: readiness and rebalance bookkeeping.

use std::sync::atomic::{AtomicU64, Ordering};

use rdkafka::consumer::{BaseConsumer, ConsumerContext, Rebalance, StreamConsumer};
use rdkafka::ClientContext;
use tokio::sync::watch;

/// Marks the consumer ready on its first assignment and counts rebalances: records read under
/// an older assignment are dropped, not handled, since their partition may belong to another
/// instance now, which reads them from the committed offset.
pub(crate) struct PartitionContext {
    assigned: watch::Sender<bool>,
    generation: AtomicU64,
}

impl PartitionContext {
    /// A context and a receiver that turns true once partitions are assigned.
    pub fn new() -> (Self, watch::Receiver<bool>) {
        let (assigned, ready) = watch::channel(false);
        let context = Self {
            assigned,
            generation: AtomicU64::new(0),
        };
        (context, ready)
    }

    /// Changes whenever partitions are assigned or revoked.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }
}

impl ClientContext for PartitionContext {}

impl ConsumerContext for PartitionContext {
    fn pre_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(partitions) = rebalance {
            self.generation.fetch_add(1, Ordering::AcqRel);
            tracing::debug!(revoked = partitions.count(), "partitions revoked");
        }
    }

    fn post_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Assign(partitions) => {
                self.generation.fetch_add(1, Ordering::AcqRel);
                if partitions.count() > 0 {
                    self.assigned.send_replace(true);
                }
                tracing::debug!(assigned = partitions.count(), "partitions assigned");
            }
            Rebalance::Revoke(_) => {}
            Rebalance::Error(error) => tracing::warn!(%error, "rebalance error"),
        }
    }
}

/// The consumer type every listener topic uses.
pub(crate) type ListenerConsumer = StreamConsumer<PartitionContext>;
