//! Publishing records to retry topics and the DLT, with the provenance headers.
//!
//! A forward is retried with backoff while the failure may pass (a broker down, a leader
//! election, a timeout). A refusal that no retry can change (the record is too large for the
//! topic, the topic is gone, the app may not write it) is returned to the caller, which sends
//! the record to the DLT instead; when the DLT itself refuses it, the record stays uncommitted
//! (at-least-once), the refusal is logged once and counted in the
//! `kafka_retry_forwards_refused` gauge, and the forward is tried again every
//! [`REFUSED_RETRY`] in case the topic is fixed. Two failures would repeat for ever on the
//! same client state and are repaired before the retry: a producer that librdkafka declared
//! failed for good (`__FATAL`) is replaced ([`Renewable`]), and a partition the destination
//! does not have (`__UNKNOWN_PARTITION`: the topic has fewer partitions than the app knew)
//! makes the app read the topic's partition count again.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rdkafka::error::{KafkaError, KafkaResult};
use rdkafka::message::OwnedHeaders;
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::ClientConfig;
use retry_core::forward_partition;
use retry_core::RawRecord;
use tokio_util::sync::CancellationToken;

use crate::gauges::Forwards;
use crate::producer::Renewable;

/// How often a forward that the broker refused for good is tried again.
pub(crate) const REFUSED_RETRY: Duration = Duration::from_secs(30);

/// How long reading a destination's partition count may take.
const METADATA_TIMEOUT: Duration = Duration::from_secs(10);

/// The forward did not happen because the app is shutting down, or (a lock-log entry)
/// because its partition's task was fenced after a revocation; the source offset must not be
/// committed (the record is redelivered).
#[derive(Debug, thiserror::Error)]
#[error("the forward to {0} was interrupted")]
pub(crate) struct Interrupted(pub String);

/// Why a forward did not reach its topic.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ForwardError {
    /// Shutdown.
    #[error(transparent)]
    Interrupted(#[from] Interrupted),
    /// The broker or client refused the record for a reason no retry changes.
    #[error("{topic} refused the record: {reason}")]
    Refused {
        /// The destination.
        topic: String,
        /// The error, as the client reported it.
        reason: String,
    },
}

/// True for produce errors that retrying cannot fix.
pub(crate) fn is_permanent(code: RDKafkaErrorCode) -> bool {
    use RDKafkaErrorCode::*;
    matches!(
        code,
        MessageSizeTooLarge
            | InvalidMessageSize
            | MessageBatchTooLarge
            | InvalidRecord
            | PolicyViolation
            | TopicAuthorizationFailed
            | ClusterAuthorizationFailed
            | UnknownTopic
            | UnknownTopicOrPartition
            | InvalidTopic
    )
}

/// True for a size refusal, which the broker gives a whole batch: a small record batched with
/// a large one is refused with it (a topic's `max.message.bytes` bounds record batches, and
/// librdkafka batches without knowing it).
fn refuses_the_batch(code: RDKafkaErrorCode) -> bool {
    matches!(
        code,
        RDKafkaErrorCode::MessageSizeTooLarge | RDKafkaErrorCode::MessageBatchTooLarge
    )
}

/// Publishes records to the app's retry topics and DLTs.
pub(crate) struct Forwarder {
    producer: Renewable,
    /// Sends each record in a batch of its own: the second try of a record refused for its
    /// batch's size, so only a record too large by itself is refused. Created on first need:
    /// every producer keeps a polling thread (and its wake-ups) for the app's lifetime.
    solo: Renewable,
    /// The partition count of each destination, as the cluster's metadata gave it; read again
    /// when the destination refuses a partition.
    partitions: HashMap<String, AtomicI32>,
    shutdown: CancellationToken,
    refused: metrics::Gauge,
    gauges: Forwards,
}

impl Forwarder {
    /// Creates the producers from `producer`'s configuration. `partitions` holds the
    /// partition count of every destination topic, from the cluster's metadata; `destinations`
    /// names the retry topics and DLTs (gauged); `shutdown` ends forwards still in flight.
    pub fn new<'a>(
        producer: &ClientConfig,
        partitions: HashMap<String, i32>,
        destinations: impl IntoIterator<Item = &'a str>,
        shutdown: CancellationToken,
    ) -> KafkaResult<Self> {
        let mut solo_config = producer.clone();
        solo_config
            .set("batch.num.messages", "1")
            .set("linger.ms", "0");
        Ok(Self {
            gauges: Forwards::new(destinations),
            producer: Renewable::eager(producer.clone())?,
            solo: Renewable::lazy(solo_config),
            partitions: partitions
                .into_iter()
                .map(|(topic, count)| (topic, AtomicI32::new(count)))
                .collect(),
            shutdown,
            refused: metrics::gauge!("kafka_retry_forwards_refused"),
        })
    }

    /// Publishes `raw`'s key and value unchanged with the headers `headers` writes (once per
    /// try: the client consumes them) to `topic`, on the partition [`forward_partition`]
    /// picks. Returns the record's offset there once the broker acknowledged it, or the
    /// refusal for good.
    pub async fn send(
        &self,
        raw: &RawRecord<'_>,
        topic: &str,
        headers: &impl Fn() -> OwnedHeaders,
    ) -> Result<i64, ForwardError> {
        let mut pause = Duration::from_millis(100);
        let mut alone = false;
        let mut forwarding = self.gauges.start(topic);
        loop {
            let renewable = if alone { &self.solo } else { &self.producer };
            match renewable.get() {
                Err(error) => {
                    forwarding.failed();
                    tracing::warn!(%topic, %error, "no producer; retrying in {pause:?}");
                }
                Ok(producer) => match self.send_once(&producer, raw, topic, headers()).await? {
                    Ok(offset) => return Ok(offset),
                    Err(error) => {
                        let code = error.rdkafka_error_code();
                        if code.is_some_and(refuses_the_batch) && !alone {
                            alone = true;
                            continue;
                        }
                        if let Some(code) = code.filter(|c| is_permanent(*c)) {
                            return Err(ForwardError::Refused {
                                topic: topic.to_owned(),
                                reason: code.to_string(),
                            });
                        }
                        forwarding.failed();
                        tracing::warn!(%topic, %error, "forward failed; retrying in {pause:?}");
                        match code {
                            Some(RDKafkaErrorCode::Fatal) => renewable.renew(&producer),
                            Some(RDKafkaErrorCode::UnknownPartition) => {
                                self.read_partitions(&producer, topic).await
                            }
                            _ => {}
                        }
                    }
                },
            }
            self.pause(pause, topic).await?;
            pause = (pause * 2).min(Duration::from_secs(5));
        }
    }

    /// [`send`](Self::send) that does not give up on a refusal: the record must not be lost,
    /// so it is tried again every [`REFUSED_RETRY`] until accepted or shutdown, logged once.
    /// Returns the record's offset in `topic`.
    pub async fn send_until_accepted(
        &self,
        raw: &RawRecord<'_>,
        topic: &str,
        headers: &impl Fn() -> OwnedHeaders,
    ) -> Result<i64, Interrupted> {
        let mut refused = false;
        let outcome = loop {
            match self.send(raw, topic, headers).await {
                Ok(offset) => break Ok(offset),
                Err(ForwardError::Interrupted(interrupted)) => break Err(interrupted),
                Err(ForwardError::Refused { reason, .. }) => {
                    if !refused {
                        refused = true;
                        self.refused.increment(1.0);
                        tracing::error!(
                            %topic,
                            %reason,
                            partition = raw.meta.partition,
                            offset = raw.meta.offset,
                            source = %raw.meta.topic,
                            "forward refused; the record stays uncommitted and its partition \
                             waits, tried again every {REFUSED_RETRY:?}"
                        );
                    }
                }
            }
            if let Err(interrupted) = self.pause(REFUSED_RETRY, topic).await {
                break Err(interrupted);
            }
        };
        if refused {
            self.refused.decrement(1.0);
            if outcome.is_ok() {
                tracing::info!(%topic, "refused forward accepted at last");
            }
        }
        outcome
    }

    /// Reads `topic`'s partition count again, after it refused a partition it had when the
    /// app last looked: the topic was replaced by one with fewer partitions.
    async fn read_partitions(&self, producer: &Arc<FutureProducer>, topic: &str) {
        let Some(count) = self.partitions.get(topic) else {
            return;
        };
        let producer = producer.clone();
        let name = topic.to_owned();
        let metadata = tokio::task::spawn_blocking(move || {
            producer
                .client()
                .fetch_metadata(Some(&name), METADATA_TIMEOUT)
        })
        .await
        .expect("metadata task panicked");
        let partitions = match &metadata {
            Ok(metadata) => metadata
                .topics()
                .iter()
                .find(|t| t.name() == topic && t.error().is_none())
                .map(|t| t.partitions().len() as i32),
            Err(error) => {
                tracing::warn!(%topic, %error, "cannot read the topic's partition count");
                return;
            }
        };
        let Some(partitions) = partitions.filter(|n| *n > 0) else {
            return;
        };
        let known = count.swap(partitions, Ordering::Relaxed);
        if known != partitions {
            tracing::warn!(
                %topic,
                partitions,
                known,
                "the topic's partition count changed; records of a partition it lacks go to \
                 partition p % {partitions}"
            );
        }
    }

    async fn send_once(
        &self,
        producer: &FutureProducer,
        raw: &RawRecord<'_>,
        topic: &str,
        headers: OwnedHeaders,
    ) -> Result<Result<i64, KafkaError>, Interrupted> {
        let partition = self
            .partitions
            .get(topic)
            .and_then(|n| forward_partition(raw.meta.partition, n.load(Ordering::Relaxed)));
        let mut record = FutureRecord::<[u8], [u8]>::to(topic).headers(headers);
        if let Some(key) = raw.meta.key.as_deref() {
            record = record.key(key);
        }
        if let Some(value) = raw.value.as_deref() {
            record = record.payload(value);
        }
        if let Some(partition) = partition {
            record = record.partition(partition);
        }
        tokio::select! {
            sent = producer.send(record, Duration::from_secs(30)) => Ok(sent.map(|delivery| delivery.offset).map_err(|(error, _)| error)),
            _ = self.shutdown.cancelled() => Err(Interrupted(topic.to_owned())),
        }
    }

    async fn pause(&self, pause: Duration, topic: &str) -> Result<(), Interrupted> {
        tokio::select! {
            _ = tokio::time::sleep(pause) => Ok(()),
            _ = self.shutdown.cancelled() => Err(Interrupted(topic.to_owned())),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use rdkafka::bindings::{rd_kafka_resp_err_t as Code, rd_kafka_test_fatal_error};
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::mocking::MockCluster;
    use retry_core::RecordMeta;

    use super::*;

    const RETRY: &str = "orders-retry";

    /// A forwarder to `RETRY` on `cluster`, believing the topic has `known` partitions.
    fn forwarder(
        cluster: &MockCluster<'_, impl rdkafka::producer::ProducerContext>,
        known: i32,
    ) -> Forwarder {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", cluster.bootstrap_servers())
            .set("acks", "all")
            .set("enable.idempotence", "true");
        let partitions = HashMap::from([(RETRY.to_owned(), known)]);
        Forwarder::new(&config, partitions, [RETRY], CancellationToken::new()).unwrap()
    }

    /// A record read from partition `partition` of the main topic.
    fn record(partition: i32) -> RawRecord<'static> {
        let meta = RecordMeta {
            topic: "orders".into(),
            partition,
            key: Some(b"k".to_vec()),
            ..RecordMeta::default()
        };
        RawRecord {
            meta: Arc::new(meta),
            value: Some(Cow::Borrowed(b"v")),
        }
    }

    /// Forwards `raw` to `RETRY`, failing the test if that does not end within 20 s.
    async fn forward(forwarder: &Forwarder, raw: &RawRecord<'_>) {
        let sent = tokio::time::timeout(
            Duration::from_secs(20),
            forwarder.send(raw, RETRY, &OwnedHeaders::new),
        )
        .await;
        assert!(
            matches!(sent, Ok(Ok(_))),
            "forward did not go through: {sent:?}"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_producer_failed_for_good_is_replaced_and_the_forward_goes_through() {
        let cluster = MockCluster::new(1).unwrap();
        cluster.create_topic(RETRY, 1, 1).unwrap();
        let forwarder = forwarder(&cluster, 1);
        forward(&forwarder, &record(0)).await;
        let fenced = forwarder.producer.get().unwrap();
        // What librdkafka does when the broker fences the idempotent producer.
        let raised = unsafe {
            rd_kafka_test_fatal_error(
                fenced.client().native_ptr(),
                Code::RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER,
                c"injected by the test".as_ptr(),
            )
        };
        assert_eq!(raised, Code::RD_KAFKA_RESP_ERR_NO_ERROR);
        forward(&forwarder, &record(0)).await;
        assert!(
            !Arc::ptr_eq(&fenced, &forwarder.producer.get().unwrap()),
            "a new producer sent it"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_destination_with_fewer_partitions_than_known_gets_the_remainder() {
        let cluster = MockCluster::new(1).unwrap();
        cluster.create_topic(RETRY, 2, 1).unwrap();
        // The app believes 6: the topic was created by someone else, or replaced since.
        let forwarder = forwarder(&cluster, 6);
        forward(&forwarder, &record(5)).await;
        assert_eq!(forwarder.partitions[RETRY].load(Ordering::Relaxed), 2);
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", cluster.bootstrap_servers())
            .create()
            .unwrap();
        let watermarks = tokio::task::spawn_blocking(move || {
            [0, 1].map(|p| {
                consumer
                    .fetch_watermarks(RETRY, p, Duration::from_secs(5))
                    .unwrap()
            })
        })
        .await
        .unwrap();
        assert_eq!(watermarks, [(0, 0), (0, 1)], "5 % 2: partition 1 has it");
    }

    #[test]
    fn size_authorization_and_missing_topics_are_permanent() {
        for code in [
            RDKafkaErrorCode::MessageSizeTooLarge,
            RDKafkaErrorCode::TopicAuthorizationFailed,
            RDKafkaErrorCode::UnknownTopicOrPartition,
            RDKafkaErrorCode::UnknownTopic,
        ] {
            assert!(is_permanent(code), "{code:?}");
        }
        for code in [
            RDKafkaErrorCode::NotLeaderForPartition,
            RDKafkaErrorCode::RequestTimedOut,
            RDKafkaErrorCode::BrokerTransportFailure,
            RDKafkaErrorCode::MessageTimedOut,
            RDKafkaErrorCode::NotEnoughReplicas,
        ] {
            assert!(!is_permanent(code), "{code:?}");
        }
    }
}
