//! The commit of a key-ordered main partition (design/key-order.md): the committed offset is
//! the first unfinished record, and the commit's metadata lists the records finished above
//! it ([`FinishedAbove`]), so that a restart or the next owner does not handle them again.
//!
//! librdkafka commits stored offsets with their metadata, but skips a partition whose offset
//! is the one committed, whatever its metadata (records finished behind one that is not):
//! the partition is then committed here.

use std::sync::Arc;
use std::time::Duration;

use rdkafka::consumer::{CommitMode, Consumer};
use rdkafka::{Offset, TopicPartitionList};
use retry_core::{FinishedAbove, PartitionProgress};

use crate::context::ListenerConsumer;

/// Bytes of metadata written at most: within the broker's default
/// `offset.metadata.max.bytes` (4096), and few enough that a commit every 200 ms stays
/// small; runs past it are left out, and only handled again.
const MAX_METADATA: usize = 4000;

/// Bytes of metadata a commit carries at most, given the smallest `offset.metadata.max.bytes`
/// the brokers said at start-up (`None`: none said): the smaller of that and
/// [`MAX_METADATA`], since a broker refuses a commit whose metadata is longer.
pub(crate) fn metadata_limit(brokers: Option<usize>) -> usize {
    brokers.map_or(MAX_METADATA, |bytes| bytes.min(MAX_METADATA))
}

/// How long reading a partition's committed offset may take.
const COMMITTED_TIMEOUT: Duration = Duration::from_secs(10);

/// What a key-ordered main partition's task committed last.
pub(crate) struct FinishedCommits {
    /// The highest offset released (it and every record before it finished).
    released_through: Option<i64>,
    /// The offset and metadata stored last (at first, those committed).
    stored: Option<(i64, String)>,
    /// Bytes of metadata a commit carries at most ([`metadata_limit`]).
    max_len: usize,
}

impl FinishedCommits {
    /// Notes an offset released for commit.
    pub fn released(&mut self, offset: i64) {
        self.released_through = Some(offset);
    }

    /// Stores the partition's position (the first unfinished record) with the records
    /// finished above it, if either changed, and commits it when only the metadata did.
    pub fn store(
        &mut self,
        consumer: &ListenerConsumer,
        topic: &str,
        partition: i32,
        progress: &PartitionProgress,
    ) {
        let Some(next) = progress
            .oldest_unfinished()
            .or(self.released_through.map(|offset| offset + 1))
        else {
            return;
        };
        let metadata = FinishedAbove::encode(next, progress.finished(), self.max_len);
        let moved = self
            .stored
            .as_ref()
            .is_none_or(|(offset, _)| *offset != next);
        if !moved && self.stored.as_ref().is_some_and(|(_, m)| *m == metadata) {
            return;
        }
        let mut tpl = TopicPartitionList::new();
        let element = tpl.add_partition_offset(topic, partition, Offset::Offset(next));
        if let Err(error) = element {
            tracing::warn!(%topic, partition, %error, "offset not stored");
            return;
        }
        if let Some(mut element) = tpl.find_partition(topic, partition) {
            element.set_metadata(&metadata);
        }
        if let Err(error) = consumer.store_offsets(&tpl) {
            tracing::warn!(%topic, partition, %error, "offset not stored");
            return;
        }
        // A moved offset is committed with the others (and its commit moves the lock log's
        // floor).
        if !moved {
            if let Err(error) = consumer.commit(&tpl, CommitMode::Async) {
                tracing::debug!(%topic, partition, %error, "finished records not committed");
            }
        }
        self.stored = Some((next, metadata));
    }
}

/// The records finished above `partition`'s committed offset, as its commit's metadata lists
/// them, and the commits that carry on from it; none listed when there is no commit, the
/// metadata is another client's, or it cannot be read (they are then only handled again).
/// The commits carry at most `max_len` bytes of metadata ([`metadata_limit`]).
pub(crate) async fn finished_above(
    consumer: &Arc<ListenerConsumer>,
    topic: &str,
    partition: i32,
    max_len: usize,
) -> (FinishedAbove, FinishedCommits) {
    let consumer = consumer.clone();
    let name = topic.to_owned();
    // Reading the metadata panics in rdkafka when it is not UTF-8 (another client's): on a
    // blocking thread, the panic is only a failed read.
    let read = tokio::task::spawn_blocking(move || {
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition(&name, partition);
        let committed = consumer.committed_offsets(tpl, COMMITTED_TIMEOUT)?;
        let element = committed.find_partition(&name, partition);
        Ok::<_, rdkafka::error::KafkaError>(element.and_then(|e| match e.offset() {
            Offset::Offset(offset) => Some((offset, e.metadata().to_owned())),
            _ => None,
        }))
    })
    .await;
    let committed = match read {
        Ok(Ok(committed)) => committed,
        Ok(Err(error)) => {
            tracing::warn!(%topic, partition, %error, "cannot read the commit's finished records; they are handled again");
            None
        }
        Err(_) => {
            tracing::warn!(%topic, partition, "the commit's metadata is not ours; records finished above it are handled again");
            None
        }
    };
    let finished = committed
        .as_ref()
        .map(|(offset, metadata)| FinishedAbove::decode(*offset, metadata))
        .unwrap_or_default();
    let commits = FinishedCommits {
        released_through: None,
        stored: committed,
        max_len,
    };
    (finished, commits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_fits_the_smallest_broker_limit_and_never_grows_past_the_default() {
        assert_eq!(metadata_limit(None), MAX_METADATA, "no broker said");
        assert_eq!(metadata_limit(Some(4096)), MAX_METADATA, "Kafka's default");
        assert_eq!(metadata_limit(Some(1 << 20)), MAX_METADATA);
        assert_eq!(metadata_limit(Some(512)), 512);
        assert_eq!(metadata_limit(Some(0)), 0);
    }
}
