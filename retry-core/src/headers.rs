//! Record headers and the Spring Kafka compatible provenance header codec.
//!
//! Integers are big-endian, as Java's `ByteBuffer` writes them. The two retry timestamps are
//! also read in the minimal two's-complement form of Java's `BigInteger.toByteArray()`, which
//! Spring writes.
//!
//! Spring appends the `retry_topic-*` headers on every hop (`DeadLetterPublishingRecovererFactory`:
//! `headers.add(RetryTopicHeaders.DEFAULT_HEADER_ATTEMPTS, ...)` while
//! `retainAllRetryHeaderValues` is true, the default) and reads the last value
//! (`consumerRecord.headers().lastHeader(...)`). This codec reads the last value too, so it
//! reads Spring's records; it writes one value per header, replacing what was there, so
//! headers do not grow hop by hop and Spring reads them the same.

mod exception;
mod timestamp_type;

pub use exception::ExceptionInfo;
pub use timestamp_type::TimestampType;

mod name;

pub use name::HeaderName;

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
/// `kafka_dlt-original-consumer-group`: UTF-8 group that first failed the record (Spring's
/// `KafkaHeaders.ORIGINAL_CONSUMER_GROUP`, added once like the `kafka_original-*` headers).
pub const ORIGINAL_CONSUMER_GROUP: &str = "kafka_dlt-original-consumer-group";
/// `kafka_exception-fqcn`: Rust type name of the error.
pub const EXCEPTION_FQCN: &str = "kafka_exception-fqcn";
/// `kafka_exception-cause-fqcn`: Rust type name of the innermost nameable cause (Spring's
/// `KafkaHeaders.EXCEPTION_CAUSE_FQCN = PREFIX + "exception-cause-fqcn"`, the root cause's
/// class).
pub const EXCEPTION_CAUSE_FQCN: &str = "kafka_exception-cause-fqcn";
/// `kafka_exception-message`: display of the error chain.
pub const EXCEPTION_MESSAGE: &str = "kafka_exception-message";
/// `kafka_exception-stacktrace`: debug form of the error.
pub const EXCEPTION_STACKTRACE: &str = "kafka_exception-stacktrace";
/// `retry_topic-attempts`: 4-byte big-endian number of the delivery the record is forwarded
/// for (see [`forward_attempts`]; read by [`decode_attempts`]).
pub const ATTEMPTS: &str = "retry_topic-attempts";
/// `retry_topic-backoff-timestamp`: epoch ms when the record is due.
pub const BACKOFF_TIMESTAMP: &str = "retry_topic-backoff-timestamp";
/// `retry_topic-original-timestamp`: epoch ms of the record on the main topic.
pub const ORIGINAL_TIMESTAMP_RETRY: &str = "retry_topic-original-timestamp";
/// `retry_topic-key-lock`: `1` on a copy that a listener with `ordering = "key"` wrote to a
/// retry or parked topic, whose key's order the lock log keeps (design/key-order.md). Each hop
/// writes it anew: a copy forwarded by a listener of another ordering loses it.
pub const KEY_LOCK: &str = "retry_topic-key-lock";

/// Every header this crate writes.
const PROVENANCE: [&str; 13] = [
    ORIGINAL_TOPIC,
    ORIGINAL_PARTITION,
    ORIGINAL_OFFSET,
    ORIGINAL_TIMESTAMP,
    ORIGINAL_TIMESTAMP_TYPE,
    ORIGINAL_CONSUMER_GROUP,
    EXCEPTION_FQCN,
    EXCEPTION_CAUSE_FQCN,
    EXCEPTION_MESSAGE,
    EXCEPTION_STACKTRACE,
    ATTEMPTS,
    BACKOFF_TIMESTAMP,
    ORIGINAL_TIMESTAMP_RETRY,
];

/// The provenance name spelled `name`, borrowed from its constant.
fn known_name(name: &str) -> Option<&'static str> {
    PROVENANCE.iter().find(|known| **known == name).copied()
}

/// One record header. Kafka allows a header without a value (`None`), distinct from empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// Header name, as written (it need not be UTF-8).
    pub key: HeaderName,
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
    pub fn push(&mut self, key: impl Into<HeaderName>, value: Option<Vec<u8>>) {
        self.0.push(Header {
            key: key.into(),
            value,
        });
    }

    /// Replaces every header named `key` with one holding `value`.
    pub fn set(&mut self, key: impl Into<HeaderName>, value: Vec<u8>) {
        let key = key.into();
        self.0.retain(|h| h.key != key);
        self.push(key, Some(value));
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

/// The largest `retry_topic-attempts` value Spring accepts: `DeadLetterPublishingRecovererFactory`
/// has `ATTEMPTS_HARD_CAP = Short.MAX_VALUE` and reads anything outside `1..=ATTEMPTS_HARD_CAP`
/// as 1.
pub const MAX_ATTEMPTS: u32 = i16::MAX as u32;

/// Reads a `retry_topic-attempts` value the way Spring's `DeadLetterPublishingRecovererFactory
/// #getAttempts` does: one byte is spring-kafka 2.7's form, read unsigned
/// (`Byte.toUnsignedInt(value[0])`), four bytes are big-endian (`ByteBuffer.wrap(value).getInt()`),
/// and a value outside `1..=`[`MAX_ATTEMPTS`] is `None`, which Spring treats as 1
/// (`if (raw >= 1 && raw <= ATTEMPTS_HARD_CAP) return raw; ... return 1;`).
///
/// Any other length is an error. Spring reads it as 1 too, but no Spring version writes it, so
/// the record is reported (dead-lettered with the reason) rather than restarted silently.
pub fn decode_attempts(bytes: &[u8]) -> Result<Option<u32>, HeaderError> {
    let raw = match bytes {
        [byte] => i64::from(*byte),
        _ => i64::from(decode_i32(ATTEMPTS, bytes).map_err(|_| HeaderError {
            header: ATTEMPTS,
            reason: format!("expected 1 or 4 bytes, found {}", bytes.len()),
        })?),
    };
    Ok(u32::try_from(raw)
        .ok()
        .filter(|n| (1..=MAX_ATTEMPTS).contains(n)))
}

/// The `retry_topic-attempts` value to write when forwarding a record whose delivery
/// `failed_delivery` failed, to a retry topic or a DLT alike: Spring writes
/// `putInt(attempts + 1)` on every forward (`DeadLetterPublishingRecovererFactory#addHeaders`),
/// so a record that failed 4 deliveries reaches the DLT with 5, and a DLT record re-published
/// after its DLT handler failed gains 1 again.
pub fn forward_attempts(failed_delivery: u32) -> u32 {
    failed_delivery.saturating_add(1)
}

/// Encodes `v` as Spring writes its retry timestamps: Java's `BigInteger.valueOf(v)
/// .toByteArray()`, the shortest big-endian two's-complement form (6 bytes for an epoch ms of
/// these years). This crate writes 8-byte longs; this form is for reproducing what a Spring
/// service writes, as [`decode_timestamp`] reads it.
pub fn encode_java_big_integer(v: i64) -> Vec<u8> {
    let bytes = v.to_be_bytes();
    let mut start = 0;
    while start < 7
        && ((bytes[start] == 0x00 && bytes[start + 1] & 0x80 == 0)
            || (bytes[start] == 0xff && bytes[start + 1] & 0x80 != 0))
    {
        start += 1;
    }
    bytes[start..].to_vec()
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

/// How far ahead a due time is honoured: one day, Spring's rule
/// (`KafkaBackoffAwareMessageListenerAdapter`: `MAX_BACKOFF_MS = Duration.ofDays(1).toMillis()`
/// and `.filter(ts -> ts - Instant.now(this.clock).toEpochMilli() <= MAX_BACKOFF_MS)`). A record
/// due later than that is handled at once.
pub const MAX_BACKOFF: std::time::Duration = std::time::Duration::from_secs(24 * 60 * 60);

/// The retry bookkeeping a record carries on a retry topic or a DLT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryState {
    /// The delivery this handling is: 1 on the main topic, else the `retry_topic-attempts`
    /// header (1 when Spring would read it as 1, see [`decode_attempts`]).
    pub attempt: u32,
    /// Epoch ms when the record is due; `None` means now.
    pub due_ms: Option<i64>,
    /// Epoch ms of the record on the main topic, when known.
    pub original_timestamp_ms: Option<i64>,
}

impl RetryState {
    /// Reads the retry headers, the last value of each as Spring does. Absent headers mean a
    /// first delivery; values Spring reads leniently are read the same way; lengths no Spring
    /// version writes are an error (the runtime dead-letters such a record with the reason).
    pub fn read(headers: &Headers) -> Result<Self, HeaderError> {
        let attempt = match headers.get(ATTEMPTS) {
            None => 1,
            Some(bytes) => decode_attempts(bytes)?.unwrap_or(1),
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
    /// How long the record must still wait at `now_ms` (`None`: handle it now), by Spring's
    /// rule: a due time up to [`MAX_BACKOFF`] ahead is waited for; one further ahead is not
    /// one any retry wrote (delays are at most a day), so the record is handled at once rather
    /// than holding its partition.
    pub fn wait_at(&self, now_ms: i64) -> Option<std::time::Duration> {
        let wait = self.due_ms?.saturating_sub(now_ms);
        (wait > 0 && wait <= MAX_BACKOFF.as_millis() as i64)
            .then(|| std::time::Duration::from_millis(wait as u64))
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
    /// The consumer group that failed it (written only if no earlier hop named one).
    pub group: &'a str,
    /// The failure.
    pub exception: &'a ExceptionInfo,
    /// Epoch ms of the record on the main topic.
    pub original_timestamp_ms: i64,
    /// True when the record was read from a main topic: this hop is its first, and the
    /// provenance it writes replaces any a producer wrote.
    pub first: bool,
}

/// Where [`write_forward`] puts a forwarded record's headers: the runtime's Kafka header list,
/// or [`Headers`].
pub trait HeaderSink {
    /// Appends one header; `key` is the name's bytes, which need not be UTF-8.
    fn append(&mut self, key: &[u8], value: Option<&[u8]>);
}

impl HeaderSink for Headers {
    fn append(&mut self, key: &[u8], value: Option<&[u8]>) {
        self.push(HeaderName::from_bytes(key), value.map(<[u8]>::to_vec));
    }
}

/// Headers describing the first hop: written once, on the first forward.
const FIRST_HOP: [&str; 6] = [
    ORIGINAL_TOPIC,
    ORIGINAL_PARTITION,
    ORIGINAL_OFFSET,
    ORIGINAL_TIMESTAMP,
    ORIGINAL_TIMESTAMP_TYPE,
    ORIGINAL_CONSUMER_GROUP,
];

/// Headers every forward writes anew, dropped from the record's own.
const REPLACED: [&str; 8] = [
    EXCEPTION_FQCN,
    EXCEPTION_CAUSE_FQCN,
    EXCEPTION_MESSAGE,
    EXCEPTION_STACKTRACE,
    ATTEMPTS,
    ORIGINAL_TIMESTAMP_RETRY,
    BACKOFF_TIMESTAMP,
    KEY_LOCK,
];

/// Writes a forwarded record's headers to `sink`: the record's own (`original`, kept as they
/// are, names byte for byte) with the provenance of this hop, in one pass and without copying
/// `original`.
///
/// `kafka_original-*` and `kafka_dlt-original-consumer-group` describe the first hop. On a
/// record read from a main topic ([`Hop::first`]) they are written, replacing any the record
/// carries: those were written by its producer, not by a hop, and a forged
/// `kafka_original-topic` would send a replayed dead letter wherever the producer chose. On a
/// record read from a retry topic or DLT they are only written when absent, as Spring's
/// recoverer does (`setAppendOriginalHeaders(false)`: `kafkaHeaders.lastHeader(header) ==
/// null`), so a chain another service started keeps its origin. Every other header is
/// replaced, never appended,
/// so headers do not grow hop by hop: the `kafka_exception-*` ones as Spring replaces them
/// (`stripPreviousExceptionHeaders`, default true: `headers.remove(header)`), the retry ones
/// holding the one value Spring would read last. `attempts` is [`forward_attempts`] of the
/// failed delivery, for retry topics and DLTs alike; `due_ms` is when the record may be handled:
/// for a DLT, the time of the failure, as Spring writes it (its DLT's delay is 0:
/// `DeadLetterPublishingRecovererFactory#addAndEnhanceHeaders` stamps
/// `getNextExecutionTimestamp` on every forward).
pub fn write_forward(
    original: &Headers,
    hop: &Hop<'_>,
    attempts: u32,
    due_ms: i64,
    sink: &mut impl HeaderSink,
) {
    let written_anew = |key: &HeaderName| {
        REPLACED.iter().any(|name| key == *name)
            || (hop.first && FIRST_HOP.iter().any(|name| key == *name))
    };
    for h in original.iter().filter(|h| !written_anew(&h.key)) {
        sink.append(h.key.as_bytes(), h.value.as_deref());
    }
    let mut if_absent = |key: &str, value: &[u8]| {
        if hop.first || !original.iter().any(|h| h.key == key) {
            sink.append(key.as_bytes(), Some(value));
        }
    };
    if_absent(ORIGINAL_TOPIC, hop.topic.as_bytes());
    if_absent(ORIGINAL_PARTITION, &hop.partition.to_be_bytes());
    if_absent(ORIGINAL_OFFSET, &hop.offset.to_be_bytes());
    if_absent(ORIGINAL_TIMESTAMP, &hop.timestamp_ms.to_be_bytes());
    if_absent(
        ORIGINAL_TIMESTAMP_TYPE,
        hop.timestamp_type.as_str().as_bytes(),
    );
    if_absent(ORIGINAL_CONSUMER_GROUP, hop.group.as_bytes());
    let exception = hop.exception;
    sink.append(EXCEPTION_FQCN.as_bytes(), Some(exception.fqcn.as_bytes()));
    sink.append(
        EXCEPTION_CAUSE_FQCN.as_bytes(),
        Some(exception.cause_fqcn.as_bytes()),
    );
    sink.append(
        EXCEPTION_MESSAGE.as_bytes(),
        Some(exception.message.as_bytes()),
    );
    sink.append(
        EXCEPTION_STACKTRACE.as_bytes(),
        Some(exception.stacktrace.as_bytes()),
    );
    let attempts = attempts.min(i32::MAX as u32) as i32;
    sink.append(ATTEMPTS.as_bytes(), Some(&attempts.to_be_bytes()));
    sink.append(
        ORIGINAL_TIMESTAMP_RETRY.as_bytes(),
        Some(&hop.original_timestamp_ms.to_be_bytes()),
    );
    sink.append(BACKOFF_TIMESTAMP.as_bytes(), Some(&due_ms.to_be_bytes()));
}

/// Stamps the forwarding headers on `headers` in place: [`write_forward`] into [`Headers`].
pub fn stamp_forward(headers: &mut Headers, hop: &Hop<'_>, attempts: u32, due_ms: i64) {
    let mut stamped = Headers::new();
    write_forward(headers, hop, attempts, due_ms, &mut stamped);
    *headers = stamped;
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
    /// Consumer group that first failed the record.
    pub consumer_group: Option<String>,
    /// Deliveries made before this one: the `retry_topic-attempts` header minus one, since
    /// every forward writes the failed delivery plus one ([`forward_attempts`]). A record that
    /// failed 4 deliveries reaches the DLT with the header at 5 and reports 4 here. `None`
    /// when the header is missing or unreadable.
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
                .and_then(|b| decode_attempts(b).ok().flatten())
                .map(|n| n - 1),
            exception: ExceptionInfo {
                fqcn: text(EXCEPTION_FQCN).unwrap_or_default(),
                cause_fqcn: text(EXCEPTION_CAUSE_FQCN).unwrap_or_default(),
                message: text(EXCEPTION_MESSAGE).unwrap_or_default(),
                stacktrace: text(EXCEPTION_STACKTRACE).unwrap_or_default(),
            },
        }
    }
}

#[cfg(test)]
mod spring_wire;

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

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
        assert_eq!(encode_java_big_integer(ts).len(), 6);
        assert_eq!(
            decode_timestamp(BACKOFF_TIMESTAMP, &encode_java_big_integer(ts)),
            Ok(ts)
        );
        assert_eq!(decode_timestamp(BACKOFF_TIMESTAMP, &encode_i64(ts)), Ok(ts));
        assert_eq!(decode_timestamp(BACKOFF_TIMESTAMP, &[0xff]), Ok(-1));
        assert_eq!(decode_timestamp(BACKOFF_TIMESTAMP, &[0x00, 0x80]), Ok(128));
        assert!(decode_timestamp(BACKOFF_TIMESTAMP, &[]).is_err());
        assert!(decode_timestamp(BACKOFF_TIMESTAMP, &[0; 9]).is_err());
    }

    fn hop<'a>(
        topic: &'a str,
        offset: i64,
        group: &'a str,
        exception: &'a ExceptionInfo,
    ) -> Hop<'a> {
        Hop {
            topic,
            partition: 3,
            offset,
            timestamp_ms: 1000 + offset,
            timestamp_type: TimestampType::CreateTime,
            group,
            exception,
            original_timestamp_ms: 1000,
            first: topic == "orders",
        }
    }

    fn exception(fqcn: &str, cause: &str, message: &str) -> ExceptionInfo {
        ExceptionInfo {
            fqcn: fqcn.into(),
            cause_fqcn: cause.into(),
            message: message.into(),
            stacktrace: format!("{fqcn}: {message}"),
        }
    }

    #[test]
    fn forwarding_keeps_first_hop_and_replaces_the_rest() {
        let first = exception("app::Wrapped", "app::Boom", "boom");
        let last = exception("app::Timeout", "app::Timeout", "timed out");
        let mut headers = Headers::new();
        headers.push("trace-id", Some(b"abc".to_vec()));
        // Main topic, delivery 1 failed: retry topic, delivery 2.
        stamp_forward(
            &mut headers,
            &hop("orders", 10, "billing", &first),
            forward_attempts(1),
            5000,
        );
        // Delivery 2 failed on the retry topic's group.
        stamp_forward(
            &mut headers,
            &hop("orders-retry-1000", 77, "billing-retry-1000", &first),
            forward_attempts(2),
            9000,
        );
        // Delivery 3 failed: the last attempt, so the DLT, with 3 + 1.
        stamp_forward(
            &mut headers,
            &hop("orders-retry-2000", 78, "billing-retry-2000", &last),
            forward_attempts(3),
            9500,
        );

        assert_eq!(
            headers.get_str("trace-id"),
            Some("abc"),
            "user headers are kept"
        );
        assert_eq!(headers.get_str(ORIGINAL_TOPIC), Some("orders"));
        assert_eq!(headers.get(ORIGINAL_OFFSET), Some(&encode_i64(10)[..]));
        assert_eq!(headers.get(ORIGINAL_PARTITION), Some(&encode_i32(3)[..]));
        assert_eq!(headers.get_str(ORIGINAL_TIMESTAMP_TYPE), Some("CreateTime"));
        assert_eq!(
            headers.get_str(ORIGINAL_CONSUMER_GROUP),
            Some("billing"),
            "the group that first failed the record"
        );
        assert_eq!(
            headers.get(ATTEMPTS),
            Some(&encode_i32(4)[..]),
            "3 deliveries reach the DLT with 4"
        );
        assert_eq!(
            headers.get_str(EXCEPTION_FQCN),
            Some("app::Timeout"),
            "this hop's error"
        );
        assert_eq!(
            headers.get_str(EXCEPTION_CAUSE_FQCN),
            Some("app::Timeout"),
            "this hop's cause"
        );
        assert_eq!(
            headers.get(BACKOFF_TIMESTAMP),
            Some(&encode_i64(9500)[..]),
            "a dead letter is due when it failed, as Spring writes it"
        );
        for name in PROVENANCE {
            assert_eq!(
                headers.iter().filter(|h| h.key == name).count(),
                1,
                "{name} appears once"
            );
        }
        assert_eq!(
            headers.len(),
            14,
            "one user header and the thirteen provenance headers"
        );

        let p = Provenance::read(&headers);
        assert_eq!(p.original_topic.as_deref(), Some("orders"));
        assert_eq!(
            (p.original_partition, p.original_offset, p.attempts),
            (Some(3), Some(10), Some(3)),
            "provenance reports the deliveries made"
        );
        assert_eq!(p.consumer_group.as_deref(), Some("billing"));
        assert_eq!(p.exception, last);
        assert_eq!(
            RetryState::read(&headers).unwrap().attempt,
            4,
            "the DLT handling is delivery 4"
        );
    }

    #[test]
    fn a_main_topic_record_gets_this_hops_provenance_whatever_its_producer_wrote() {
        let boom = exception("app::Boom", "app::Boom", "boom");
        let mut headers = Headers::new();
        headers.push(ORIGINAL_TOPIC, Some(b"payments".to_vec()));
        headers.push(ORIGINAL_PARTITION, Some(encode_i32(9)));
        headers.push(ORIGINAL_OFFSET, Some(vec![1]));
        headers.push(ORIGINAL_CONSUMER_GROUP, Some(b"mallory".to_vec()));
        headers.push("trace-id", Some(b"abc".to_vec()));
        stamp_forward(&mut headers, &hop("orders", 10, "billing", &boom), 2, 5000);
        let p = Provenance::read(&headers);
        assert_eq!(
            (
                p.original_topic.as_deref(),
                p.original_partition,
                p.original_offset,
                p.consumer_group.as_deref()
            ),
            (Some("orders"), Some(3), Some(10), Some("billing")),
            "the main topic's own record, not the producer's claim"
        );
        for name in FIRST_HOP {
            assert_eq!(
                headers.iter().filter(|h| h.key == name).count(),
                1,
                "{name}"
            );
        }
        assert_eq!(headers.get_str("trace-id"), Some("abc"));

        // The retry topic's hop keeps the first hop's provenance.
        stamp_forward(
            &mut headers,
            &hop("orders-retry", 77, "billing-retry", &boom),
            3,
            6000,
        );
        let p = Provenance::read(&headers);
        assert_eq!(
            (p.original_topic.as_deref(), p.original_offset),
            (Some("orders"), Some(10))
        );
    }

    #[test]
    fn a_republished_dead_letter_gains_one_attempt() {
        let boom = exception("app::Boom", "app::Boom", "boom");
        let mut headers = Headers::new();
        stamp_forward(
            &mut headers,
            &hop("orders", 1, "billing", &boom),
            forward_attempts(4),
            6000,
        );
        let on_dlt = RetryState::read(&headers).unwrap().attempt;
        assert_eq!(on_dlt, 5);
        let dlt_failure = exception("app::DltDown", "app::DltDown", "store down");
        stamp_forward(
            &mut headers,
            &hop("orders-dlt", 9, "billing-dlt", &dlt_failure),
            forward_attempts(on_dlt),
            7000,
        );
        assert_eq!(headers.get(ATTEMPTS), Some(&encode_i32(6)[..]));
        let p = Provenance::read(&headers);
        assert_eq!(
            p.attempts,
            Some(5),
            "four handler deliveries and one DLT delivery"
        );
        assert_eq!(p.consumer_group.as_deref(), Some("billing"));
        assert_eq!(p.exception.fqcn, "app::DltDown");
    }

    #[test]
    fn a_name_that_is_not_utf8_is_forwarded_byte_for_byte() {
        let boom = exception("app::Boom", "app::Boom", "boom");
        let mut headers = Headers::new();
        headers.push(HeaderName::from_bytes(&[0xff, 0xfe]), Some(b"v".to_vec()));
        stamp_forward(
            &mut headers,
            &hop("orders", 1, "billing", &boom),
            forward_attempts(1),
            6000,
        );
        let kept: Vec<&Header> = headers
            .iter()
            .filter(|h| h.key.as_bytes() == [0xff, 0xfe])
            .collect();
        assert_eq!(kept.len(), 1, "{headers:?}");
        assert_eq!(kept[0].value.as_deref(), Some(&b"v"[..]));
        assert_eq!(
            headers.get("\u{fffd}\u{fffd}"),
            None,
            "its lossy form names nothing"
        );
    }

    #[test]
    fn attempts_are_read_as_spring_reads_them() {
        assert_eq!(
            decode_attempts(&[3]),
            Ok(Some(3)),
            "spring-kafka 2.7's one byte"
        );
        assert_eq!(
            decode_attempts(&[0xc8]),
            Ok(Some(200)),
            "one byte is unsigned"
        );
        assert_eq!(decode_attempts(&encode_i32(5)), Ok(Some(5)));
        assert_eq!(decode_attempts(&encode_i32(32_767)), Ok(Some(32_767)));
        for outside in [0, -1, 32_768, i32::MAX, i32::MIN] {
            assert_eq!(decode_attempts(&encode_i32(outside)), Ok(None), "{outside}");
        }
        assert_eq!(decode_attempts(&[0]), Ok(None));
        for length in [0, 2, 3, 5, 8] {
            let err = decode_attempts(&vec![1; length]).unwrap_err();
            assert_eq!(err.to_string(), format!("header `retry_topic-attempts` is malformed: expected 1 or 4 bytes, found {length}"));
        }
        let with = |bytes: Vec<u8>| {
            let mut h = Headers::new();
            h.push(ATTEMPTS, Some(bytes));
            h
        };
        assert_eq!(
            RetryState::read(&with(encode_i32(0))).unwrap().attempt,
            1,
            "Spring reads 0 as 1"
        );
        assert_eq!(
            RetryState::read(&with(encode_i32(40_000))).unwrap().attempt,
            1,
            "and past the cap as 1"
        );
        assert_eq!(Provenance::read(&with(encode_i32(40_000))).attempts, None);
        assert!(RetryState::read(&with(vec![0, 2])).is_err());
        assert_eq!(forward_attempts(u32::MAX), u32::MAX);
    }

    #[test]
    fn waits_until_due_and_up_to_one_day_ahead() {
        let state = |due_ms| RetryState {
            attempt: 2,
            due_ms,
            original_timestamp_ms: None,
        };
        let now = 1_000_000;
        let day = MAX_BACKOFF.as_millis() as i64;
        assert_eq!(state(None).wait_at(now), None);
        assert_eq!(state(Some(now - 500)).wait_at(now), None, "overdue: now");
        assert_eq!(state(Some(now)).wait_at(now), None, "due now");
        assert_eq!(
            state(Some(now + 3_000)).wait_at(now),
            Some(std::time::Duration::from_secs(3))
        );
        assert_eq!(
            state(Some(now + day)).wait_at(now),
            Some(MAX_BACKOFF),
            "exactly a day: waited"
        );
        assert_eq!(
            state(Some(now + day + 1)).wait_at(now),
            None,
            "later than a day: handled at once"
        );
        assert_eq!(state(Some(i64::MAX)).wait_at(now), None);
        assert_eq!(state(Some(i64::MIN)).wait_at(now), None);
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
        let mut truncated = Headers::new();
        truncated.push(BACKOFF_TIMESTAMP, Some(vec![]));
        assert_eq!(
            RetryState::read(&truncated).unwrap_err().header,
            BACKOFF_TIMESTAMP
        );
    }

    proptest! {
        /// Whatever provenance a producer wrote, a record forwarded from a main topic carries
        /// exactly one of each first-hop header, describing the main topic's record.
        #[test]
        fn the_first_hop_is_the_only_provenance(
            names in proptest::collection::vec(prop_oneof![
                Just(ORIGINAL_TOPIC), Just(ORIGINAL_PARTITION), Just(ORIGINAL_OFFSET),
                Just(ORIGINAL_TIMESTAMP), Just(ORIGINAL_TIMESTAMP_TYPE),
                Just(ORIGINAL_CONSUMER_GROUP), Just("trace-id"),
            ], 0..10),
            values in proptest::collection::vec(proptest::option::of(proptest::collection::vec(any::<u8>(), 0..12)), 10),
            offset in any::<i64>(),
        ) {
            let mut headers: Headers = names.iter().zip(&values).map(|(k, v)| Header { key: k.to_string().into(), value: v.clone() }).collect();
            let boom = exception("app::Boom", "app::Boom", "boom");
            stamp_forward(&mut headers, &hop("orders", offset, "billing", &boom), 2, 5000);
            for name in FIRST_HOP {
                prop_assert_eq!(headers.iter().filter(|h| h.key == name).count(), 1, "{}", name);
            }
            let p = Provenance::read(&headers);
            prop_assert_eq!(p.original_topic.as_deref(), Some("orders"));
            prop_assert_eq!((p.original_partition, p.original_offset), (Some(3), Some(offset)));
            prop_assert_eq!(p.consumer_group.as_deref(), Some("billing"));
        }

        #[test]
        fn java_minimal_form_round_trips(v in any::<i64>()) {
            prop_assert_eq!(decode_timestamp(BACKOFF_TIMESTAMP, &encode_java_big_integer(v)), Ok(v));
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
