//! What handlers receive: decoded records and dead letters.

use std::borrow::Cow;
use std::ops::Deref;
use std::sync::Arc;

use crate::format::{DecodeError, Payload};
use crate::headers::{Headers, Provenance, TimestampType};

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

    /// The key decoded as `T` in `T`'s format (JSON for a `serde::Deserialize` type,
    /// [`Text`](crate::Text), [`Bytes`](crate::Bytes), a format of your own); `None` when
    /// the record has no key.
    pub fn key_as<T: Payload>(&self) -> Option<Result<T, DecodeError>> {
        self.key
            .as_deref()
            .map(|key| T::decode(Some(key)).map_err(DecodeError::in_key))
    }
}

/// A record as the runtime read it, before decoding.
///
/// The value is borrowed from the client's buffer while the handler decodes it (a record is
/// not copied to be handled: the decoded value is the handler's copy), and owned once the
/// record has to outlive that buffer, on its way to a retry topic or the DLT.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RawRecord<'v> {
    /// Everything but the value; shared with the handler's [`Record`] rather than copied.
    pub meta: Arc<RecordMeta>,
    /// The value (`None` for a tombstone).
    pub value: Option<Cow<'v, [u8]>>,
}

impl RawRecord<'_> {
    /// The record with its value copied out of the buffer it borrows, if it does.
    pub fn into_owned(self) -> RawRecord<'static> {
        RawRecord {
            meta: self.meta,
            value: self.value.map(|value| Cow::Owned(value.into_owned())),
        }
    }
}

/// A record whose value decoded into `T`: the argument of a `#[retryable_topic]` handler.
///
/// `T` is any [`Payload`]: a `serde::Deserialize` type (decoded from JSON),
/// [`Text`](crate::Text), [`Bytes`](crate::Bytes), or a format of your own. Metadata (key,
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
    fn from_raw(raw: &RawRecord<'_>) -> Result<Self, DecodeError>;
}

impl<T: Payload> FromRawRecord for Record<T> {
    fn from_raw(raw: &RawRecord<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            value: T::decode(raw.value.as_deref())?,
            meta: Arc::clone(&raw.meta),
        })
    }
}

impl<T: Payload> FromRawRecord for DeadLetter<T> {
    fn from_raw(raw: &RawRecord<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            value: T::decode(raw.value.as_deref()),
            raw_value: raw.value.as_deref().map(<[u8]>::to_vec),
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
    fn from_raw(raw: &RawRecord<'_>) -> Result<Self, DecodeError>;
}

impl<T: Payload> DeadLetterArgument for DeadLetter<T> {
    fn from_raw(raw: &RawRecord<'_>) -> Result<Self, DecodeError> {
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

    fn raw(value: Option<&[u8]>) -> RawRecord<'_> {
        RawRecord {
            meta: RecordMeta {
                key: Some(b"k1".to_vec()),
                topic: "items".into(),
                attempt: 2,
                ..Default::default()
            }
            .into(),
            value: value.map(Cow::Borrowed),
        }
    }

    #[test]
    fn records_decode_their_value_and_share_the_metadata() {
        let rec = Record::<Item>::from_raw(&raw(Some(br#"{"id":"7"}"#))).unwrap();
        assert_eq!(rec.value(), &Item { id: "7".into() });
        assert_eq!(
            (rec.key_str(), &*rec.topic, rec.attempt),
            (Some("k1"), "items", 2)
        );
        let err = Record::<Item>::from_raw(&raw(Some(b"not json"))).unwrap_err();
        assert!(err.to_string().contains("not valid JSON for"), "{err}");
    }

    #[test]
    fn keys_decode_in_the_format_asked_for() {
        let rec = Record::<crate::Bytes>::from_raw(&raw(None)).unwrap();
        assert_eq!(&*rec.key_as::<crate::Text>().unwrap().unwrap(), "k1");
        assert!(
            rec.key_as::<u32>().unwrap().is_err(),
            "k1 is not a JSON number"
        );
        let keyless = RecordMeta::default();
        assert!(keyless.key_as::<crate::Text>().is_none());
        let numbered = RecordMeta {
            key: Some(b"42".to_vec()),
            ..Default::default()
        };
        assert_eq!(numbered.key_as::<u32>().unwrap().unwrap(), 42);
    }

    #[test]
    fn dead_letters_always_arrive() {
        let dl = <DeadLetter<Item> as FromRawRecord>::from_raw(&raw(Some(b"{oops"))).unwrap();
        assert!(dl.value().is_err());
        assert_eq!(dl.raw_value(), Some(&b"{oops"[..]));
        assert_eq!(dl.provenance().original_topic, None);
    }
}
