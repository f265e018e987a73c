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
use std::time::Duration;

use rdkafka::error::KafkaError;
use rdkafka::message::{Header as KafkaHeader, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::types::RDKafkaErrorCode;
use retry_core::{Headers, RawRecord};
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

/// Publishes records to the app's retry topics and DLTs.
pub(crate) struct Forwarder {
    producer: FutureProducer,
    partitions: HashMap<String, i32>,
    shutdown: CancellationToken,
    refused: metrics::Gauge,
    gauges: Forwards,
}

impl Forwarder {
    /// `partitions` holds the partition count of every destination topic; `destinations`
    /// names the retry topics and DLTs (gauged); `shutdown` ends forwards still in flight.
    pub fn new<'a>(
        producer: FutureProducer,
        partitions: HashMap<String, i32>,
        destinations: impl IntoIterator<Item = &'a str>,
        shutdown: CancellationToken,
    ) -> Self {
        Self {
            gauges: Forwards::new(destinations),
            producer,
            partitions,
            shutdown,
            refused: metrics::gauge!("kafka_retry_forwards_refused"),
        }
    }

    /// Publishes `raw`'s key and value unchanged with `headers` to `topic`, on the same
    /// partition number when `topic` has it (else the partitioner picks by key). Returns once
    /// the broker acknowledged the record, or refused it for good.
    pub async fn send(
        &self,
        raw: &RawRecord,
        topic: &str,
        headers: &Headers,
    ) -> Result<(), ForwardError> {
        let mut pause = Duration::from_millis(100);
        let mut forwarding = self.gauges.start(topic);
        loop {
            match self.send_once(raw, topic, headers).await? {
                Ok(()) => return Ok(()),
                Err(error) => {
                    if let Some(code) = error.rdkafka_error_code().filter(|c| is_permanent(*c)) {
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
        raw: &RawRecord,
        topic: &str,
        headers: &Headers,
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

    async fn send_once(
        &self,
        raw: &RawRecord,
        topic: &str,
        headers: &Headers,
    ) -> Result<Result<(), KafkaError>, Interrupted> {
        let partition =
            Some(raw.meta.partition).filter(|p| self.partitions.get(topic).is_some_and(|n| p < n));
        let kafka_headers =
            headers
                .iter()
                .fold(OwnedHeaders::new_with_capacity(headers.len()), |hs, h| {
                    hs.insert(KafkaHeader {
                        key: &h.key,
                        value: h.value.as_deref(),
                    })
                });
        let mut record = FutureRecord::<[u8], [u8]>::to(topic).headers(kafka_headers);
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
            sent = self.producer.send(record, Duration::from_secs(30)) => Ok(sent.map(drop).map_err(|(error, _)| error)),
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
