//! Record headers and the Spring Kafka compatible provenance header codec.
//!
//! Integers are big-endian, as Java's `ByteBuffer` writes them. The two retry timestamps are
//! also read in the minimal two's-complement form of Java's `BigInteger.toByteArray()`, which
//! Spring writes.

use std::borrow::Cow;

use crate::classify::ExceptionInfo;
use crate::record::TimestampType;

/// `kafka_original-topic`: UTF-8 topic of the first hop.
pub const ORIGINAL_TOPIC: &str = "kafka_original-topic";
/// `kafka_original-partition`: 4-byte big-endian partition of the first hop.
pub const ORIGINAL_PARTITION: &str = "kafka_original-partition";
/// `kafka_original-offset`: 8-byte big-endian offset of the first hop.
pub const ORIGINAL_OFFSET: &str = "kafka_original-offset";
/// `kafka_original-timestamp`: 8-byte big-endian epoch ms of the first hop.
pub const ORIGINAL_TIMESTAMP: &str = "kafka_original-timestamp";
/// `kafka_original-timestamp-type`: `CreateTime` or `LogAppendTime`.
pub const ORIGINAL_TIMESTAMP_TYPE: &str = "kafka_original-timestamp-type";
/// `kafka_dlt-original-consumer-group`: UTF-8 group that failed the record.
pub const ORIGINAL_CONSUMER_GROUP: &str = "kafka_dlt-original-consumer-group";
/// `kafka_exception-fqcn`: Rust type name of the error.
pub const EXCEPTION_FQCN: &str = "kafka_exception-fqcn";
/// `kafka_exception-message`: display of the error chain.
pub const EXCEPTION_MESSAGE: &str = "kafka_exception-message";
/// `kafka_exception-stacktrace`: debug form of the error.
pub const EXCEPTION_STACKTRACE: &str = "kafka_exception-stacktrace";
/// `retry_topic-attempts`: 4-byte big-endian delivery number.
pub const ATTEMPTS: &str = "retry_topic-attempts";
/// `retry_topic-backoff-timestamp`: epoch ms when the record is due.
pub const BACKOFF_TIMESTAMP: &str = "retry_topic-backoff-timestamp";
/// `retry_topic-original-timestamp`: epoch ms of the record on the main topic.
pub const ORIGINAL_TIMESTAMP_RETRY: &str = "retry_topic-original-timestamp";

/// Every header this crate writes.
const PROVENANCE: [&str; 12] = [
    ORIGINAL_TOPIC,
    ORIGINAL_PARTITION,
    ORIGINAL_OFFSET,
    ORIGINAL_TIMESTAMP,
    ORIGINAL_TIMESTAMP_TYPE,
    ORIGINAL_CONSUMER_GROUP,
    EXCEPTION_FQCN,
    EXCEPTION_MESSAGE,
    EXCEPTION_STACKTRACE,
    ATTEMPTS,
    BACKOFF_TIMESTAMP,
    ORIGINAL_TIMESTAMP_RETRY,
];

/// A header name read off the wire: one of ours is borrowed from its constant, so a retry
/// record's dozen provenance headers cost no allocation for their names.
pub fn header_name(name: &str) -> Cow<'static, str> {
    match PROVENANCE.iter().find(|known| **known == name) {
        Some(known) => Cow::Borrowed(known),
        None => Cow::Owned(name.to_owned()),
    }
}

/// One record header. Kafka allows a header without a value (`None`), distinct from empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// Header name.
    pub key: Cow<'static, str>,
    /// Header value.
    pub value: Option<Vec<u8>>,
}

/// A record's headers in order; names may repeat, as in Kafka.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Headers(Vec<Header>);

impl Headers {
    /// No headers.
    pub fn new() -> Self {
        Self::default()
    }

    /// The value of the last header named `key` (Kafka's `lastHeader`).
    pub fn get(&self, key: &str) -> Option<&[u8]> {
        self.0
            .iter()
            .rev()
            .find(|h| h.key == key)
            .and_then(|h| h.value.as_deref())
    }

    /// The last header named `key` as UTF-8 text, if present and valid.
    pub fn get_str(&self, key: &str) -> Option<&str> {
        self.get(key).and_then(|v| std::str::from_utf8(v).ok())
    }

    /// Adds a header, keeping any of the same name.
    pub fn push(&mut self, key: impl Into<Cow<'static, str>>, value: Option<Vec<u8>>) {
        self.0.push(Header {
            key: key.into(),
            value,
        });
    }

    /// Replaces every header named `key` with one holding `value`.
    pub fn set(&mut self, key: impl Into<Cow<'static, str>>, value: Vec<u8>) {
        let key = key.into();
        self.0.retain(|h| h.key != key);
        self.push(key, Some(value));
    }

    /// Sets `key` only when no header of that name exists.
    pub fn set_if_absent(&mut self, key: &'static str, value: impl FnOnce() -> Vec<u8>) {
        if !self.0.iter().any(|h| h.key == key) {
            self.push(key, Some(value()));
        }
    }

    /// Iterates in order.
    pub fn iter(&self) -> std::slice::Iter<'_, Header> {
        self.0.iter()
    }

    /// Number of headers.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl FromIterator<Header> for Headers {
    fn from_iter<I: IntoIterator<Item = Header>>(iter: I) -> Self {
        Self(iter.into_iter().collect())
    }
}

impl<'a> IntoIterator for &'a Headers {
    type Item = &'a Header;
    type IntoIter = std::slice::Iter<'a, Header>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

/// A header that is present but cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("header `{header}` is malformed: {reason}")]
pub struct HeaderError {
    /// The header name.
    pub header: &'static str,
    /// What is wrong with it.
    pub reason: String,
}

/// Encodes a 4-byte big-endian integer.
pub fn encode_i32(value: i32) -> Vec<u8> {
    value.to_be_bytes().to_vec()
}

/// Encodes an 8-byte big-endian integer.
pub fn encode_i64(value: i64) -> Vec<u8> {
    value.to_be_bytes().to_vec()
}

/// Decodes exactly 4 big-endian bytes.
pub fn decode_i32(header: &'static str, bytes: &[u8]) -> Result<i32, HeaderError> {
    let array: [u8; 4] = bytes.try_into().map_err(|_| HeaderError {
        header,
        reason: format!("expected 4 bytes, found {}", bytes.len()),
    })?;
    Ok(i32::from_be_bytes(array))
}

/// Decodes exactly 8 big-endian bytes.
pub fn decode_i64(header: &'static str, bytes: &[u8]) -> Result<i64, HeaderError> {
    let array: [u8; 8] = bytes.try_into().map_err(|_| HeaderError {
        header,
        reason: format!("expected 8 bytes, found {}", bytes.len()),
    })?;
    Ok(i64::from_be_bytes(array))
}

/// Decodes a timestamp written either as 8 big-endian bytes or in Java's minimal
/// two's-complement form (1 to 8 bytes, sign-extended), as Spring writes it.
pub fn decode_timestamp(header: &'static str, bytes: &[u8]) -> Result<i64, HeaderError> {
    if bytes.is_empty() || bytes.len() > 8 {
        return Err(HeaderError {
            header,
            reason: format!("expected 1 to 8 bytes, found {}", bytes.len()),
        });
    }
    let fill = if bytes[0] & 0x80 != 0 { 0xff } else { 0x00 };
    let mut array = [fill; 8];
    array[8 - bytes.len()..].copy_from_slice(bytes);
    Ok(i64::from_be_bytes(array))
}

/// The retry bookkeeping a record carries on a retry topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryState {
    /// The delivery this handling is (1 on the main topic).
    pub attempt: u32,
    /// Epoch ms when the record is due; `None` means now.
    pub due_ms: Option<i64>,
    /// Epoch ms of the record on the main topic, when known.
    pub original_timestamp_ms: Option<i64>,
}

impl RetryState {
    /// Reads the retry headers. Absent headers mean a first delivery; present but malformed
    /// ones are an error (the runtime dead-letters such a record with the reason).
    pub fn read(headers: &Headers) -> Result<Self, HeaderError> {
        let attempt = match headers.get(ATTEMPTS) {
            None => 1,
            Some(bytes) => {
                let n = decode_i32(ATTEMPTS, bytes)?;
                u32::try_from(n)
                    .ok()
                    .filter(|&n| n >= 1)
                    .ok_or_else(|| HeaderError {
                        header: ATTEMPTS,
                        reason: format!("delivery number {n} is not positive"),
                    })?
            }
        };
        let timestamp = |name| {
            headers
                .get(name)
                .map(|b| decode_timestamp(name, b))
                .transpose()
        };
        Ok(Self {
            attempt,
            due_ms: timestamp(BACKOFF_TIMESTAMP)?,
            original_timestamp_ms: timestamp(ORIGINAL_TIMESTAMP_RETRY)?,
        })
    }
}

impl RetryState {
    /// How long the record must still wait at `now_ms` (`None`: it is due). A due time more
    /// than `longest` away is an error: no retry of this listener waits that long, so the
    /// header is corrupt or from a badly wrong clock, and waiting would stall the partition.
    pub fn wait_at(
        &self,
        now_ms: i64,
        longest: std::time::Duration,
    ) -> Result<Option<std::time::Duration>, HeaderError> {
        let Some(due) = self.due_ms else {
            return Ok(None);
        };
        let wait = due.saturating_sub(now_ms);
        if wait <= 0 {
            return Ok(None);
        }
        let wait = std::time::Duration::from_millis(wait as u64);
        if wait > longest {
            return Err(HeaderError {
                header: BACKOFF_TIMESTAMP,
                reason: format!(
                    "due in {wait:?}, longer than this listener ever waits ({longest:?})"
                ),
            });
        }
        Ok(Some(wait))
    }
}

/// Where a record came from: the facts stamped on it when it is forwarded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hop<'a> {
    /// Topic the record was read from.
    pub topic: &'a str,
    /// Its partition.
    pub partition: i32,
    /// Its offset.
    pub offset: i64,
    /// Its timestamp, epoch ms.
    pub timestamp_ms: i64,
    /// Its timestamp type.
    pub timestamp_type: TimestampType,
    /// The consumer group that failed it.
    pub group: &'a str,
    /// The failure.
    pub exception: &'a ExceptionInfo,
    /// Epoch ms of the record on the main topic.
    pub original_timestamp_ms: i64,
}

/// Stamps the forwarding headers on `headers` (the record's own, kept as they are).
///
/// `kafka_original-*` describe the first hop and are only written when absent; every other
/// header is replaced, never appended, so headers do not grow hop by hop. `attempts` is the
/// delivery number of the next handling on a retry topic, or the deliveries made on the DLT;
/// `due_ms` is `None` for the DLT.
pub fn stamp_forward(headers: &mut Headers, hop: &Hop<'_>, attempts: u32, due_ms: Option<i64>) {
    headers.set_if_absent(ORIGINAL_TOPIC, || hop.topic.as_bytes().to_vec());
    headers.set_if_absent(ORIGINAL_PARTITION, || encode_i32(hop.partition));
    headers.set_if_absent(ORIGINAL_OFFSET, || encode_i64(hop.offset));
    headers.set_if_absent(ORIGINAL_TIMESTAMP, || encode_i64(hop.timestamp_ms));
    headers.set_if_absent(ORIGINAL_TIMESTAMP_TYPE, || {
        hop.timestamp_type.as_str().as_bytes().to_vec()
    });
    headers.set(ORIGINAL_CONSUMER_GROUP, hop.group.as_bytes().to_vec());
    headers.set(EXCEPTION_FQCN, hop.exception.fqcn.as_bytes().to_vec());
    headers.set(EXCEPTION_MESSAGE, hop.exception.message.as_bytes().to_vec());
    headers.set(
        EXCEPTION_STACKTRACE,
        hop.exception.stacktrace.as_bytes().to_vec(),
    );
    headers.set(ATTEMPTS, encode_i32(attempts.min(i32::MAX as u32) as i32));
    headers.set(
        ORIGINAL_TIMESTAMP_RETRY,
        encode_i64(hop.original_timestamp_ms),
    );
    match due_ms {
        Some(due) => headers.set(BACKOFF_TIMESTAMP, encode_i64(due)),
        None => headers.0.retain(|h| h.key != BACKOFF_TIMESTAMP),
    }
}

/// The provenance of a dead letter, read leniently from its headers: a header that is missing
/// or unreadable is `None`, so a DLT handler always gets the record.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Provenance {
    /// Topic of the first hop (normally the main topic).
    pub original_topic: Option<String>,
    /// Partition of the first hop.
    pub original_partition: Option<i32>,
    /// Offset of the first hop.
    pub original_offset: Option<i64>,
    /// Timestamp of the first hop, epoch ms.
    pub original_timestamp_ms: Option<i64>,
    /// Consumer group that dead-lettered the record.
    pub consumer_group: Option<String>,
    /// Deliveries made before the record was dead-lettered.
    pub attempts: Option<u32>,
    /// The last failure.
    pub exception: ExceptionInfo,
}

impl Provenance {
    /// Reads the provenance headers.
    pub fn read(headers: &Headers) -> Self {
        let text = |name| headers.get_str(name).map(str::to_owned);
        Self {
            original_topic: text(ORIGINAL_TOPIC),
            original_partition: headers
                .get(ORIGINAL_PARTITION)
                .and_then(|b| decode_i32(ORIGINAL_PARTITION, b).ok()),
            original_offset: headers
                .get(ORIGINAL_OFFSET)
                .and_then(|b| decode_i64(ORIGINAL_OFFSET, b).ok()),
            original_timestamp_ms: headers
                .get(ORIGINAL_TIMESTAMP)
                .and_then(|b| decode_timestamp(ORIGINAL_TIMESTAMP, b).ok()),
            consumer_group: text(ORIGINAL_CONSUMER_GROUP),
            attempts: headers
                .get(ATTEMPTS)
                .and_then(|b| decode_i32(ATTEMPTS, b).ok())
                .and_then(|n| u32::try_from(n).ok()),
            exception: ExceptionInfo {
                fqcn: text(EXCEPTION_FQCN).unwrap_or_default(),
                message: text(EXCEPTION_MESSAGE).unwrap_or_default(),
                stacktrace: text(EXCEPTION_STACKTRACE).unwrap_or_default(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn provenance_names_read_off_the_wire_are_borrowed() {
        assert!(matches!(
            header_name(BACKOFF_TIMESTAMP),
            Cow::Borrowed(BACKOFF_TIMESTAMP)
        ));
        assert!(matches!(header_name("trace-id"), Cow::Owned(name) if name == "trace-id"));
    }

    /// Java's `BigInteger.valueOf(v).toByteArray()`: the shortest two's-complement form.
    fn java_minimal(v: i64) -> Vec<u8> {
        let bytes = v.to_be_bytes();
        let mut start = 0;
        while start < 7 {
            let redundant = (bytes[start] == 0x00 && bytes[start + 1] & 0x80 == 0)
                || (bytes[start] == 0xff && bytes[start + 1] & 0x80 != 0);
            if !redundant {
                break;
            }
            start += 1;
        }
        bytes[start..].to_vec()
    }

    #[test]
    fn fixed_width_round_trip_and_wire_bytes() {
        assert_eq!(encode_i32(2), [0, 0, 0, 2]);
        assert_eq!(encode_i64(1), [0, 0, 0, 0, 0, 0, 0, 1]);
        assert_eq!(decode_i32(ATTEMPTS, &encode_i32(-7)), Ok(-7));
        assert_eq!(
            decode_i64(ORIGINAL_OFFSET, &encode_i64(i64::MIN)),
            Ok(i64::MIN)
        );
        assert_eq!(
            decode_i32(ATTEMPTS, &[1, 2, 3]).unwrap_err().to_string(),
            "header `retry_topic-attempts` is malformed: expected 4 bytes, found 3"
        );
    }

    #[test]
    fn reads_springs_minimal_timestamps() {
        let ts = 1_732_000_000_123i64;
        assert_eq!(java_minimal(ts).len(), 6);
        assert_eq!(
            decode_timestamp(BACKOFF_TIMESTAMP, &java_minimal(ts)),
            Ok(ts)
        );
        assert_eq!(decode_timestamp(BACKOFF_TIMESTAMP, &encode_i64(ts)), Ok(ts));
        assert_eq!(decode_timestamp(BACKOFF_TIMESTAMP, &[0xff]), Ok(-1));
        assert_eq!(decode_timestamp(BACKOFF_TIMESTAMP, &[0x00, 0x80]), Ok(128));
        assert!(decode_timestamp(BACKOFF_TIMESTAMP, &[]).is_err());
        assert!(decode_timestamp(BACKOFF_TIMESTAMP, &[0; 9]).is_err());
    }

    fn hop<'a>(topic: &'a str, offset: i64, exception: &'a ExceptionInfo) -> Hop<'a> {
        Hop {
            topic,
            partition: 3,
            offset,
            timestamp_ms: 1000 + offset,
            timestamp_type: TimestampType::CreateTime,
            group: "billing",
            exception,
            original_timestamp_ms: 1000,
        }
    }

    #[test]
    fn forwarding_keeps_first_hop_and_replaces_retry_headers() {
        let boom = ExceptionInfo {
            fqcn: "app::Boom".into(),
            message: "boom".into(),
            stacktrace: "Boom".into(),
        };
        let mut headers = Headers::new();
        headers.push("trace-id", Some(b"abc".to_vec()));
        stamp_forward(&mut headers, &hop("orders", 10, &boom), 2, Some(5000));
        stamp_forward(
            &mut headers,
            &hop("orders-retry-1000", 77, &boom),
            3,
            Some(9000),
        );
        stamp_forward(&mut headers, &hop("orders-retry-2000", 78, &boom), 3, None);

        assert_eq!(
            headers.get_str("trace-id"),
            Some("abc"),
            "user headers are kept"
        );
        assert_eq!(headers.get_str(ORIGINAL_TOPIC), Some("orders"));
        assert_eq!(headers.get(ORIGINAL_OFFSET), Some(&encode_i64(10)[..]));
        assert_eq!(headers.get(ORIGINAL_PARTITION), Some(&encode_i32(3)[..]));
        assert_eq!(headers.get_str(ORIGINAL_TIMESTAMP_TYPE), Some("CreateTime"));
        assert_eq!(headers.get(ATTEMPTS), Some(&encode_i32(3)[..]));
        assert_eq!(
            headers.get(BACKOFF_TIMESTAMP),
            None,
            "a dead letter has no due time"
        );
        for name in [
            ATTEMPTS,
            EXCEPTION_MESSAGE,
            ORIGINAL_TOPIC,
            ORIGINAL_CONSUMER_GROUP,
        ] {
            assert_eq!(
                headers.iter().filter(|h| h.key == name).count(),
                1,
                "{name} appears once"
            );
        }
        assert_eq!(
            headers.len(),
            12,
            "one user header and eleven provenance headers"
        );

        let p = Provenance::read(&headers);
        assert_eq!(p.original_topic.as_deref(), Some("orders"));
        assert_eq!(
            (p.original_partition, p.original_offset, p.attempts),
            (Some(3), Some(10), Some(3))
        );
        assert_eq!(p.consumer_group.as_deref(), Some("billing"));
        assert_eq!(p.exception, boom);
    }

    #[test]
    fn waits_until_due_but_not_for_an_absurd_due_time() {
        let state = |due_ms| RetryState {
            attempt: 2,
            due_ms,
            original_timestamp_ms: None,
        };
        let longest = std::time::Duration::from_secs(10);
        assert_eq!(state(None).wait_at(1_000, longest), Ok(None));
        assert_eq!(
            state(Some(500)).wait_at(1_000, longest),
            Ok(None),
            "overdue: now"
        );
        assert_eq!(
            state(Some(4_000)).wait_at(1_000, longest),
            Ok(Some(std::time::Duration::from_secs(3)))
        );
        let err = state(Some(i64::MAX)).wait_at(1_000, longest).unwrap_err();
        assert_eq!(err.header, BACKOFF_TIMESTAMP);
        assert!(
            err.reason.contains("longer than this listener ever waits"),
            "{err}"
        );
    }

    #[test]
    fn retry_state_defaults_and_errors() {
        assert_eq!(
            RetryState::read(&Headers::new()),
            Ok(RetryState {
                attempt: 1,
                due_ms: None,
                original_timestamp_ms: None
            })
        );
        let mut bad = Headers::new();
        bad.push(ATTEMPTS, Some(encode_i32(0)));
        assert!(RetryState::read(&bad)
            .unwrap_err()
            .reason
            .contains("not positive"));
        let mut truncated = Headers::new();
        truncated.push(BACKOFF_TIMESTAMP, Some(vec![]));
        assert_eq!(
            RetryState::read(&truncated).unwrap_err().header,
            BACKOFF_TIMESTAMP
        );
    }

    proptest! {
        #[test]
        fn java_minimal_form_round_trips(v in any::<i64>()) {
            prop_assert_eq!(decode_timestamp(BACKOFF_TIMESTAMP, &java_minimal(v)), Ok(v));
        }

        /// Arbitrary header bytes never panic the decoders: they decode or say why not.
        #[test]
        fn decoders_never_panic(
            names in proptest::collection::vec(prop_oneof![Just(ATTEMPTS), Just(BACKOFF_TIMESTAMP), Just(ORIGINAL_TIMESTAMP_RETRY), Just(ORIGINAL_PARTITION), Just(ORIGINAL_OFFSET), Just(EXCEPTION_MESSAGE)], 0..8),
            values in proptest::collection::vec(proptest::option::of(proptest::collection::vec(any::<u8>(), 0..12)), 8),
        ) {
            let headers: Headers = names.iter().zip(&values).map(|(k, v)| Header { key: k.to_string().into(), value: v.clone() }).collect();
            if let Ok(state) = RetryState::read(&headers) {
                prop_assert!(state.attempt >= 1);
            }
            let _ = Provenance::read(&headers);
        }
    }
}
