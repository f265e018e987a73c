//! Publishing records to retry topics and the DLT, with the provenance headers.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use rdkafka::message::{Header as KafkaHeader, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use retry_core::{Headers, RawRecord};
use tokio_util::sync::CancellationToken;

/// The forward did not happen because the app is shutting down; the source offset must not
/// be committed (the record is redelivered after restart).
#[derive(Debug, thiserror::Error)]
#[error("shutdown interrupted the forward to {0}")]
pub(crate) struct Interrupted(pub String);

/// Publishes records to the app's retry topics and DLTs.
pub(crate) struct Forwarder {
    producer: FutureProducer,
    partitions: HashMap<String, i32>,
    shutdown: CancellationToken,
}

impl Forwarder {
    /// `partitions` holds the partition count of every destination topic.
    pub fn new(
        producer: FutureProducer,
        partitions: HashMap<String, i32>,
        shutdown: CancellationToken,
    ) -> Self {
        Self {
            producer,
            partitions,
            shutdown,
        }
    }

    /// [`send`](Self::send) as a future owning its inputs, to run while other records are
    /// handled.
    pub fn forward(
        self: &Arc<Self>,
        raw: RawRecord,
        topic: String,
        headers: Headers,
    ) -> crate::process::Forward {
        let this = self.clone();
        Box::pin(async move { this.send(&raw, &topic, &headers).await })
    }

    /// Publishes `raw`'s key and value unchanged with `headers` to `topic`, on the same
    /// partition number when `topic` has it (else the partitioner picks by key). Returns only
    /// once the broker acknowledged the record; a failed attempt is retried with backoff
    /// until it succeeds or the app shuts down.
    async fn send(
        &self,
        raw: &RawRecord,
        topic: &str,
        headers: &Headers,
    ) -> Result<(), Interrupted> {
        let partition =
            Some(raw.meta.partition).filter(|p| self.partitions.get(topic).is_some_and(|n| p < n));
        let mut pause = Duration::from_millis(100);
        loop {
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
            let sent = tokio::select! {
                sent = self.producer.send(record, Duration::from_secs(30)) => sent,
                _ = self.shutdown.cancelled() => return Err(Interrupted(topic.to_owned())),
            };
            match sent {
                Ok(_) => return Ok(()),
                Err((error, _)) => {
                    tracing::warn!(%topic, %error, "forward failed; retrying in {pause:?}");
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = self.shutdown.cancelled() => return Err(Interrupted(topic.to_owned())),
            }
            pause = (pause * 2).min(Duration::from_secs(5));
        }
    }
}
