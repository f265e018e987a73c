//! Reading a copy again by its position (design/key-order.md, *Copies set aside*): a
//! key-ordered task that set a waiting copy aside reads it again once its turn comes. One
//! consumer per partition read again, created at its first fetch and assigned that one
//! partition, so copies set aside one after the other come back in one pass; it never
//! joins its group nor commits.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::error::{KafkaError, KafkaResult};
use rdkafka::message::{Message, OwnedMessage};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use tokio::sync::Mutex;

/// How long one try of a fetch waits for the record.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a fetch waits between tries after an error.
const FETCH_RETRY: Duration = Duration::from_secs(1);

/// What a fetch found at the copy's position.
pub(crate) enum Refetched {
    /// The record.
    Found(OwnedMessage),
    /// Nothing: the partition no longer holds the offset (retention deleted it, or the log
    /// was truncated below it).
    Gone {
        /// The partition's earliest offset.
        earliest: i64,
    },
}

/// The refetch consumer of one partition, and where it reads.
struct Reader {
    consumer: StreamConsumer,
    /// The offset of the next record it delivers, while it reads forward: a later copy
    /// close ahead is reached by reading on rather than assigning again.
    at: Option<i64>,
}

/// The reader of one partition, created at its first fetch.
type Slot = Arc<Mutex<Option<Reader>>>;

/// How far ahead of the reader's position a copy is reached by reading on.
const READ_ON: i64 = 1_000;

/// The listener's consumers for reading copies again, by topic and partition.
pub(crate) struct Refetch {
    config: ClientConfig,
    readers: std::sync::Mutex<HashMap<(String, i32), Slot>>,
}

impl Refetch {
    /// A consumer made from `reader` (a client configuration with a group id it never
    /// joins nor commits to), created at the first fetch.
    pub fn new(reader: &ClientConfig) -> Self {
        let mut config = reader.clone();
        config
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            // A deleted offset is reported, not replaced by another record.
            .set("auto.offset.reset", "error")
            .set("enable.partition.eof", "false")
            .set("fetch.wait.max.ms", "10")
            // A few records are wanted from each fetch: read little ahead.
            .set("queued.min.messages", "10")
            .set("queued.max.messages.kbytes", "1024")
            .set("max.partition.fetch.bytes", "262144");
        Self {
            config,
            readers: std::sync::Mutex::new(HashMap::new()),
        }
    }

    /// Reads the record at `offset` of `topic`'s `partition`, tried again every second
    /// (with a WARN) until it is read or found gone. Dropping the future abandons it. The
    /// partition's consumer is held for one try at a time.
    pub async fn fetch(&self, topic: &str, partition: i32, offset: i64) -> Refetched {
        let slot = {
            let mut readers = self.readers.lock().expect("refetch readers");
            let slot = readers.entry((topic.to_owned(), partition)).or_default();
            Arc::clone(slot)
        };
        loop {
            let tried = {
                let mut reader = slot.lock().await;
                if reader.is_none() {
                    match self.config.create::<StreamConsumer>() {
                        Ok(consumer) => *reader = Some(Reader { consumer, at: None }),
                        Err(error) => {
                            drop(reader);
                            tracing::warn!(topic, partition, offset, %error, "copy set aside not read again yet; trying again in {FETCH_RETRY:?}");
                            tokio::time::sleep(FETCH_RETRY).await;
                            continue;
                        }
                    }
                }
                let reader = reader.as_mut().expect("created above");
                reader.fetch(topic, partition, offset).await
            };
            match tried {
                Ok(Some(found)) => return found,
                Ok(None) => tracing::warn!(
                    topic,
                    partition,
                    offset,
                    "copy set aside not read again within {FETCH_TIMEOUT:?}; trying again"
                ),
                Err(error) => {
                    tracing::warn!(topic, partition, offset, %error, "copy set aside not read again yet; trying again in {FETCH_RETRY:?}");
                    tokio::time::sleep(FETCH_RETRY).await;
                }
            }
        }
    }
}

impl Reader {
    /// One try: `None` when the record did not come within [`FETCH_TIMEOUT`].
    async fn fetch(
        &mut self,
        topic: &str,
        partition: i32,
        offset: i64,
    ) -> KafkaResult<Option<Refetched>> {
        let reads_on = self
            .at
            .is_some_and(|next| (next..next + READ_ON).contains(&offset));
        if !reads_on {
            self.at = None;
            let mut assignment = TopicPartitionList::new();
            assignment.add_partition_offset(topic, partition, Offset::Offset(offset))?;
            // Assigning again discards what the previous assignment had fetched.
            self.consumer.assign(&assignment)?;
            self.at = Some(offset);
        }
        let deadline = tokio::time::Instant::now() + FETCH_TIMEOUT;
        loop {
            let Ok(received) = tokio::time::timeout_at(deadline, self.consumer.recv()).await else {
                self.at = None;
                return Ok(None);
            };
            let message = match received {
                Ok(message) => message,
                Err(KafkaError::MessageConsumption(
                    RDKafkaErrorCode::AutoOffsetReset | RDKafkaErrorCode::OffsetOutOfRange,
                )) => return self.gone(topic, partition, offset).map(Some),
                Err(error) => {
                    self.at = None;
                    return Err(error);
                }
            };
            if message.topic() != topic || message.partition() != partition {
                continue;
            }
            self.at = Some(message.offset() + 1);
            match message.offset().cmp(&offset) {
                std::cmp::Ordering::Less => {}
                std::cmp::Ordering::Equal => return Ok(Some(Refetched::Found(message.detach()))),
                // Past the offset without it: gone, if the log says so.
                std::cmp::Ordering::Greater => {
                    return self.gone(topic, partition, offset).map(Some)
                }
            }
        }
    }

    /// The record at `offset` was not read where it should be: gone if the partition's
    /// log no longer holds the offset (below its start, or at or past its end); otherwise
    /// an error, tried again from a new assignment.
    fn gone(&mut self, topic: &str, partition: i32, offset: i64) -> KafkaResult<Refetched> {
        self.at = None;
        let (low, high) = tokio::task::block_in_place(|| {
            self.consumer
                .fetch_watermarks(topic, partition, FETCH_TIMEOUT)
        })?;
        if offset < low || offset >= high {
            Ok(Refetched::Gone { earliest: low })
        } else {
            Err(KafkaError::MessageConsumption(
                RDKafkaErrorCode::OffsetOutOfRange,
            ))
        }
    }
}
