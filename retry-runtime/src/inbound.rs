//! Records as read from Kafka, turned into the core model.

use std::borrow::Cow;
use std::sync::Arc;

use rdkafka::message::{Message, Timestamp};
use retry_core::headers::{HeaderError, RetryState};
use retry_core::{Headers, RawRecord, RecordMeta, TimestampType};

use crate::kafka_headers::{self, HeaderList};

/// A record read from a topic with its retry bookkeeping; its value borrows the client's
/// message.
pub(crate) struct Inbound<'m> {
    /// The record, `meta.attempt` filled from the headers.
    pub raw: RawRecord<'m>,
    /// The retry headers, or why they could not be read.
    pub state: Result<RetryState, HeaderError>,
}

impl<'m> Inbound<'m> {
    /// Reads `message`: its metadata is copied out of the client's buffers (a handler's
    /// [`Record`](retry_core::Record) keeps it), its value is borrowed. `topic` is the one
    /// topic the consumer reads (the message's own), shared by its records instead of copied
    /// into each. Header names are read as bytes: any a producer wrote is read, and kept.
    pub fn read<M: Message>(message: &'m M, topic: &Arc<str>) -> Self
    where
        M::Headers: HeaderList,
    {
        let headers: Headers = message
            .headers()
            .map(kafka_headers::read)
            .unwrap_or_default();
        let state = RetryState::read(&headers);
        let (timestamp_ms, timestamp_type) = match message.timestamp() {
            Timestamp::NotAvailable => (None, TimestampType::CreateTime),
            Timestamp::CreateTime(ms) => (Some(ms), TimestampType::CreateTime),
            Timestamp::LogAppendTime(ms) => (Some(ms), TimestampType::LogAppendTime),
        };
        debug_assert_eq!(**topic, *message.topic());
        let raw = RawRecord {
            meta: Arc::new(RecordMeta {
                key: message.key().map(<[u8]>::to_vec),
                headers,
                topic: Arc::clone(topic),
                partition: message.partition(),
                offset: message.offset(),
                timestamp_ms,
                timestamp_type,
                attempt: state.as_ref().map_or(1, |s| s.attempt),
            }),
            value: message.payload().map(Cow::Borrowed),
        };
        Self { raw, state }
    }

    /// Approximate bytes this record occupies in memory, for bounding queues.
    pub fn footprint(&self) -> usize {
        const OVERHEAD: usize = 256;
        let meta = &self.raw.meta;
        let headers: usize = meta
            .headers
            .iter()
            .map(|h| h.key.len() + h.value.as_ref().map_or(0, Vec::len) + 48)
            .sum();
        OVERHEAD
            + meta.topic.len()
            + meta.key.as_ref().map_or(0, Vec::len)
            + self.raw.value.as_ref().map_or(0, |v| v.len())
            + headers
    }

    /// How long the record must still wait (`None`: handle it now). A due time more than a
    /// day away is handled at once, as Spring does.
    pub fn wait(&self) -> Option<std::time::Duration> {
        self.state.as_ref().ok()?.wait_at(now_ms())
    }

    /// Epoch ms of the record on the main topic: the retry header, else its own timestamp.
    pub fn original_timestamp_ms(&self, now_ms: i64) -> i64 {
        self.state
            .as_ref()
            .ok()
            .and_then(|s| s.original_timestamp_ms)
            .or(self.raw.meta.timestamp_ms)
            .unwrap_or(now_ms)
    }
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rdkafka::message::{Header as KHeader, OwnedHeaders, OwnedMessage};
    use retry_core::headers::{encode_i32, encode_i64, ATTEMPTS, BACKOFF_TIMESTAMP};

    const TOPIC: &str = "orders-retry-1000";

    fn message(headers: OwnedHeaders, timestamp: Timestamp) -> OwnedMessage {
        OwnedMessage::new(
            Some(b"v".to_vec()),
            Some(b"k".to_vec()),
            TOPIC.into(),
            timestamp,
            2,
            40,
            Some(headers),
        )
    }

    #[test]
    fn reads_metadata_and_retry_headers() {
        let headers = OwnedHeaders::new()
            .insert(KHeader {
                key: ATTEMPTS,
                value: Some(&encode_i32(3)),
            })
            .insert(KHeader {
                key: BACKOFF_TIMESTAMP,
                value: Some(&encode_i64(5_000)),
            })
            .insert(KHeader::<&[u8]> {
                key: "null",
                value: None,
            });
        let message = message(headers, Timestamp::LogAppendTime(1_000));
        let inbound = Inbound::read(&message, &TOPIC.into());
        assert_eq!(inbound.raw.value.as_deref(), Some(&b"v"[..]));
        let meta = &inbound.raw.meta;
        assert_eq!(
            (&*meta.topic, meta.partition, meta.offset, meta.attempt),
            ("orders-retry-1000", 2, 40, 3)
        );
        assert_eq!(
            (meta.timestamp_ms, meta.timestamp_type),
            (Some(1_000), TimestampType::LogAppendTime)
        );
        assert_eq!(meta.headers.len(), 3);
        assert_eq!(inbound.state.as_ref().unwrap().due_ms, Some(5_000));
        assert_eq!(
            inbound.original_timestamp_ms(9),
            1_000,
            "no retry header: the record's own time"
        );
    }

    #[test]
    fn a_due_time_more_than_a_day_away_is_handled_at_once() {
        let due_in = |ms: i64| {
            let headers = OwnedHeaders::new().insert(KHeader {
                key: BACKOFF_TIMESTAMP,
                value: Some(&encode_i64(now_ms() + ms)),
            });
            message(headers, Timestamp::NotAvailable)
        };
        let (in_an_hour, in_two_days) = (due_in(3_600_000), due_in(2 * 86_400_000));
        let hour = Inbound::read(&in_an_hour, &TOPIC.into());
        assert!(hour.wait().is_some(), "within a day: waited for");
        let far = Inbound::read(&in_two_days, &TOPIC.into());
        assert_eq!(far.wait(), None, "not waited for");
        assert!(far.state.is_ok(), "handled, not dead-lettered");
    }

    #[test]
    fn bad_headers_are_reported_not_waited_for() {
        let headers = OwnedHeaders::new().insert(KHeader {
            key: BACKOFF_TIMESTAMP,
            value: Some(&b"garbage-too-long"[..]),
        });
        let message = message(headers, Timestamp::NotAvailable);
        let inbound = Inbound::read(&message, &TOPIC.into());
        assert!(inbound.state.is_err());
        assert_eq!((inbound.wait(), inbound.raw.meta.attempt), (None, 1));
        assert_eq!(inbound.original_timestamp_ms(9), 9);
    }
}
