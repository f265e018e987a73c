//! What handlers receive: decoded records and dead letters.

use std::ops::Deref;
use std::sync::Arc;

use serde::de::DeserializeOwned;

use crate::headers::{Headers, Provenance};

/// How a record's timestamp was set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TimestampType {
    /// Set by the producer.
    #[default]
    CreateTime,
    /// Set by the broker on append.
    LogAppendTime,
}

impl TimestampType {
    /// The name Kafka (and the `kafka_original-timestamp-type` header) uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CreateTime => "CreateTime",
            Self::LogAppendTime => "LogAppendTime",
        }
    }
}

/// Why a record's value could not become the handler's payload type. Never retried.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// The record has no value (a tombstone) but the handler wants one.
    #[error("record has no value (tombstone)")]
    Missing,
    /// The value is not valid JSON for the handler's type.
    #[error("value is not valid JSON for {type_name}: {source}")]
    Json {
        /// The handler's payload type.
        type_name: &'static str,
        /// What serde_json said.
        source: serde_json::Error,
    },
    /// The retry headers the record carries are malformed.
    #[error(transparent)]
    Header(#[from] crate::headers::HeaderError),
}

impl DecodeError {
    /// The type name of the innermost error behind this one, for the cause header.
    pub(crate) fn root_type(&self) -> &'static str {
        match self {
            Self::Missing => std::any::type_name::<Self>(),
            Self::Json { .. } => std::any::type_name::<serde_json::Error>(),
            Self::Header(_) => std::any::type_name::<crate::headers::HeaderError>(),
        }
    }
}

/// A type a record's value decodes into.
///
/// Every `serde::de::DeserializeOwned` type decodes from JSON; [`Bytes`] takes the raw bytes.
pub trait Payload: Sized {
    /// Decodes the value (`None` for a tombstone).
    fn decode(value: Option<&[u8]>) -> Result<Self, DecodeError>;
}

impl<T: DeserializeOwned> Payload for T {
    fn decode(value: Option<&[u8]>) -> Result<Self, DecodeError> {
        let bytes = value.ok_or(DecodeError::Missing)?;
        serde_json::from_slice(bytes).map_err(|source| DecodeError::Json {
            type_name: std::any::type_name::<T>(),
            source,
        })
    }
}

/// A record's value as raw bytes, for handlers that do their own decoding:
/// `Record<Bytes>`. A tombstone is empty.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Bytes(pub Vec<u8>);

impl Payload for Bytes {
    fn decode(value: Option<&[u8]>) -> Result<Self, DecodeError> {
        Ok(Self(value.unwrap_or_default().to_vec()))
    }
}

impl Deref for Bytes {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.0
    }
}

/// Where a record was read and what it carries besides its value.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RecordMeta {
    /// The key, if any.
    pub key: Option<Vec<u8>>,
    /// The headers, in order.
    pub headers: Headers,
    /// The topic it was read from (shared: every record of a consumer names the same topic).
    pub topic: Arc<str>,
    /// Its partition.
    pub partition: i32,
    /// Its offset.
    pub offset: i64,
    /// Its timestamp, epoch ms, when the broker gave one.
    pub timestamp_ms: Option<i64>,
    /// How the timestamp was set.
    pub timestamp_type: TimestampType,
    /// The delivery this handling is: 1 on the main topic, 2 on the first retry, …
    pub attempt: u32,
}

impl RecordMeta {
    /// The key as UTF-8, if present and valid.
    pub fn key_str(&self) -> Option<&str> {
        self.key
            .as_deref()
            .and_then(|k| std::str::from_utf8(k).ok())
    }
}

/// A record as the runtime read it, before decoding.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RawRecord {
    /// Everything but the value; shared with the handler's [`Record`] rather than copied.
    pub meta: Arc<RecordMeta>,
    /// The value (`None` for a tombstone).
    pub value: Option<Vec<u8>>,
}

/// A record whose value decoded into `T`: the argument of a `#[retryable_topic]` handler.
///
/// `T` is any `serde::Deserialize` type (decoded from JSON) or [`Bytes`]. Metadata (key,
/// headers, topic, partition, offset, timestamp, attempt) is reachable through `Deref`:
/// `rec.topic`, `rec.attempt`, `rec.key_str()`.
#[derive(Debug, Clone, PartialEq)]
pub struct Record<T> {
    value: T,
    meta: Arc<RecordMeta>,
}

impl<T> Record<T> {
    /// A record with the given value and metadata (useful for calling handlers in tests).
    pub fn new(value: T, meta: RecordMeta) -> Self {
        Self {
            value,
            meta: Arc::new(meta),
        }
    }

    /// The decoded value.
    pub fn value(&self) -> &T {
        &self.value
    }

    /// Takes the decoded value.
    pub fn into_value(self) -> T {
        self.value
    }
}

impl<T> Deref for Record<T> {
    type Target = RecordMeta;

    fn deref(&self) -> &RecordMeta {
        &self.meta
    }
}

/// A record on the dead-letter topic: the argument of a `#[dlt_handler]`.
///
/// Unlike [`Record`], a dead letter always reaches its handler: a value that does not decode
/// (the very reason many records are here) is given as the error beside the raw bytes.
#[derive(Debug)]
pub struct DeadLetter<T> {
    value: Result<T, DecodeError>,
    raw_value: Option<Vec<u8>>,
    provenance: Provenance,
    meta: Arc<RecordMeta>,
}

impl<T> DeadLetter<T> {
    /// The decoded value, or why it could not be decoded.
    pub fn value(&self) -> Result<&T, &DecodeError> {
        self.value.as_ref()
    }

    /// The value's bytes as they are on the topic.
    pub fn raw_value(&self) -> Option<&[u8]> {
        self.raw_value.as_deref()
    }

    /// Where the record came from and why it failed.
    pub fn provenance(&self) -> &Provenance {
        &self.provenance
    }
}

impl<T> Deref for DeadLetter<T> {
    type Target = RecordMeta;

    fn deref(&self) -> &RecordMeta {
        &self.meta
    }
}

/// Builds a handler's argument from the raw record. Implemented by [`Record`] and
/// [`DeadLetter`]; the attributes call it.
#[diagnostic::on_unimplemented(
    message = "a handler's argument must be `Record<T>` or `DeadLetter<T>`, not `{Self}`",
    label = "expected `Record<T>` (or `DeadLetter<T>` for a #[dlt_handler])"
)]
pub trait FromRawRecord: Sized {
    /// Decodes `raw`.
    fn from_raw(raw: &RawRecord) -> Result<Self, DecodeError>;
}

impl<T: Payload> FromRawRecord for Record<T> {
    fn from_raw(raw: &RawRecord) -> Result<Self, DecodeError> {
        Ok(Self {
            value: T::decode(raw.value.as_deref())?,
            meta: Arc::clone(&raw.meta),
        })
    }
}

impl<T: Payload> FromRawRecord for DeadLetter<T> {
    fn from_raw(raw: &RawRecord) -> Result<Self, DecodeError> {
        Ok(Self {
            value: T::decode(raw.value.as_deref()),
            raw_value: raw.value.clone(),
            provenance: Provenance::read(&raw.meta.headers),
            meta: Arc::clone(&raw.meta),
        })
    }
}

/// The argument of a `#[dlt_handler]`: only [`DeadLetter<T>`], which carries the provenance
/// and arrives even when the value does not decode (a dead letter is never re-published for
/// being undecodable).
#[diagnostic::on_unimplemented(
    message = "a #[dlt_handler]'s argument must be `DeadLetter<T>`, not `{Self}`",
    label = "expected `DeadLetter<T>`: it arrives even when the value does not decode"
)]
pub trait DeadLetterArgument: Sized {
    /// Reads `raw` as a dead letter.
    fn from_raw(raw: &RawRecord) -> Result<Self, DecodeError>;
}

impl<T: Payload> DeadLetterArgument for DeadLetter<T> {
    fn from_raw(raw: &RawRecord) -> Result<Self, DecodeError> {
        <Self as FromRawRecord>::from_raw(raw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, serde::Deserialize)]
    struct Item {
        id: String,
    }

    fn raw(value: Option<&[u8]>) -> RawRecord {
        RawRecord {
            meta: RecordMeta {
                key: Some(b"k1".to_vec()),
                topic: "items".into(),
                attempt: 2,
                ..Default::default()
            }
            .into(),
            value: value.map(<[u8]>::to_vec),
        }
    }

    #[test]
    fn json_records_decode_or_say_why_not() {
        let rec = Record::<Item>::from_raw(&raw(Some(br#"{"id":"7"}"#))).unwrap();
        assert_eq!(rec.value(), &Item { id: "7".into() });
        assert_eq!(
            (rec.key_str(), &*rec.topic, rec.attempt),
            (Some("k1"), "items", 2)
        );

        let err = Record::<Item>::from_raw(&raw(Some(b"not json"))).unwrap_err();
        assert!(err.to_string().contains("not valid JSON for"), "{err}");
        assert!(err.to_string().contains("Item"), "{err}");
        assert!(matches!(
            Record::<Item>::from_raw(&raw(None)),
            Err(DecodeError::Missing)
        ));
    }

    #[test]
    fn raw_bytes_take_anything() {
        let rec = Record::<Bytes>::from_raw(&raw(Some(&[0xff, 0x00]))).unwrap();
        assert_eq!(&rec.value()[..], &[0xff, 0x00]);
        assert!(Record::<Bytes>::from_raw(&raw(None))
            .unwrap()
            .value()
            .is_empty());
    }

    #[test]
    fn dead_letters_always_arrive() {
        let dl = <DeadLetter<Item> as FromRawRecord>::from_raw(&raw(Some(b"{oops"))).unwrap();
        assert!(dl.value().is_err());
        assert_eq!(dl.raw_value(), Some(&b"{oops"[..]));
        assert_eq!(dl.provenance().original_topic, None);
    }
}
