//! Publishing records to retry topics and the DLT, with the provenance headers.
//!
//! A forward is retried with backoff while the failure may pass (a broker down, a leader
//! election, a timeout). A refusal that no retry can change (the record is too large for the
//! topic, the topic is gone, the app may not write it) is returned to the caller, which sends
//! the record to the DLT instead; when the DLT itself refuses it, the record stays uncommitted
//! (at-least-once), the refusal is logged once and counted in the
//! `kafka_retry_forwards_refused` gauge, and the forward is tried again every
//! [`REFUSED_RETRY`] in case the topic is fixed.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use rdkafka::error::{KafkaError, KafkaResult};
use rdkafka::message::OwnedHeaders;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::ClientConfig;
use retry_core::RawRecord;
use tokio_util::sync::CancellationToken;

use crate::gauges::Forwards;

/// How often a forward that the broker refused for good is tried again.
pub(crate) const REFUSED_RETRY: Duration = Duration::from_secs(30);

/// The forward did not happen because the app is shutting down; the source offset must not
/// be committed (the record is redelivered after restart).
#[derive(Debug, thiserror::Error)]
#[error("shutdown interrupted the forward to {0}")]
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
    producer: FutureProducer,
    /// Sends each record in a batch of its own: the second try of a record refused for its
    /// batch's size, so only a record too large by itself is refused. Created on first need:
    /// every producer keeps a polling thread (and its wake-ups) for the app's lifetime.
    solo: OnceLock<FutureProducer>,
    /// The configuration of `solo`, and the lock that lets one forward create it.
    solo_config: Mutex<ClientConfig>,
    partitions: HashMap<String, i32>,
    shutdown: CancellationToken,
    refused: metrics::Gauge,
    gauges: Forwards,
}

impl Forwarder {
    /// Creates the producers from `producer`'s configuration. `partitions` holds the
    /// partition count of every destination topic; `destinations` names the retry topics and
    /// DLTs (gauged); `shutdown` ends forwards still in flight.
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
            producer: producer.create()?,
            solo: OnceLock::new(),
            solo_config: Mutex::new(solo_config),
            partitions,
            shutdown,
            refused: metrics::gauge!("kafka_retry_forwards_refused"),
        })
    }

    /// Publishes `raw`'s key and value unchanged with the headers `headers` writes (once per
    /// try: the client consumes them) to `topic`, on the same partition number when `topic`
    /// has it (else the partitioner picks by key). Returns once the broker acknowledged the
    /// record, or refused it for good.
    pub async fn send(
        &self,
        raw: &RawRecord<'_>,
        topic: &str,
        headers: &impl Fn() -> OwnedHeaders,
    ) -> Result<(), ForwardError> {
        let mut pause = Duration::from_millis(100);
        let mut alone = false;
        let mut forwarding = self.gauges.start(topic);
        loop {
            let producer = if alone {
                match self.solo() {
                    Ok(solo) => solo,
                    Err(error) => {
                        forwarding.failed();
                        tracing::warn!(%topic, %error, "no producer for a record alone; retrying in {pause:?}");
                        self.pause(pause, topic).await?;
                        pause = (pause * 2).min(Duration::from_secs(5));
                        continue;
                    }
                }
            } else {
                &self.producer
            };
            match self.send_once(producer, raw, topic, headers()).await? {
                Ok(()) => return Ok(()),
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
                }
            }
            self.pause(pause, topic).await?;
            pause = (pause * 2).min(Duration::from_secs(5));
        }
    }

    /// [`send`](Self::send) that does not give up on a refusal: the record must not be lost,
    /// so it is tried again every [`REFUSED_RETRY`] until accepted or shutdown, logged once.
    pub async fn send_until_accepted(
        &self,
        raw: &RawRecord<'_>,
        topic: &str,
        headers: &impl Fn() -> OwnedHeaders,
    ) -> Result<(), Interrupted> {
        let mut refused = false;
        let outcome = loop {
            match self.send(raw, topic, headers).await {
                Ok(()) => break Ok(()),
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

    /// The producer that sends one record per batch, created on first use (by one forward:
    /// a second producer would be dropped on an async worker, joining its polling thread).
    fn solo(&self) -> KafkaResult<&FutureProducer> {
        if let Some(solo) = self.solo.get() {
            return Ok(solo);
        }
        let config = self.solo_config.lock().expect("not poisoned");
        if let Some(solo) = self.solo.get() {
            return Ok(solo);
        }
        let solo = config.create()?;
        Ok(self.solo.get_or_init(|| solo))
    }

    async fn send_once(
        &self,
        producer: &FutureProducer,
        raw: &RawRecord<'_>,
        topic: &str,
        headers: OwnedHeaders,
    ) -> Result<Result<(), KafkaError>, Interrupted> {
        let partition =
            Some(raw.meta.partition).filter(|p| self.partitions.get(topic).is_some_and(|n| p < n));
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
            sent = producer.send(record, Duration::from_secs(30)) => Ok(sent.map(drop).map_err(|(error, _)| error)),
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
    use super::*;

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
