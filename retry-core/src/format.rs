//! Payload formats: how a record's value (or key) bytes become the handler's type.
//!
//! JSON is the default for every `serde::Deserialize` type; [`Bytes`] and [`Text`] take the
//! bytes as they are; [`Protobuf`] (feature `protobuf`) decodes a `prost::Message`. Any other
//! format is an implementation of [`Payload`], usually on a wrapper like those.

use std::error::Error as StdError;
use std::fmt;
use std::ops::Deref;

use serde::de::DeserializeOwned;

/// Why a record's value (or key) could not become the handler's payload type. Never retried:
/// the record goes straight to the DLT, with this message (naming the format, the type and
/// the reason) in `kafka_exception-message`.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// The record has no value (a tombstone) but the handler wants one.
    #[error("record has no value (tombstone)")]
    Missing,
    /// The bytes are not valid in the format the handler's type is read in.
    #[error("{part} is not valid {format} for {type_name}: {source}")]
    Invalid {
        /// What was decoded: `value`, or `key` for [`RecordMeta::key_as`](crate::RecordMeta::key_as).
        part: &'static str,
        /// The format, e.g. `JSON`, `UTF-8`, `protobuf`.
        format: &'static str,
        /// The handler's payload type.
        type_name: &'static str,
        /// The Rust type of `source`, for the `kafka_exception-cause-fqcn` header.
        source_type: &'static str,
        /// What the format's decoder said.
        #[source]
        source: Box<dyn StdError + Send + Sync>,
    },
    /// The retry headers the record carries are malformed.
    #[error(transparent)]
    Header(#[from] crate::headers::HeaderError),
}

impl DecodeError {
    /// Bytes that are not valid `format` for `T`, as the format's decoder said: what a
    /// [`Payload`] implementation returns.
    pub fn invalid<T, E>(format: &'static str, error: E) -> Self
    where
        E: StdError + Send + Sync + 'static,
    {
        Self::Invalid {
            part: "value",
            format,
            type_name: std::any::type_name::<T>(),
            source_type: std::any::type_name::<E>(),
            source: Box::new(error),
        }
    }

    /// The same error, saying it is about the record's key.
    pub(crate) fn in_key(mut self) -> Self {
        if let Self::Invalid { part, .. } = &mut self {
            *part = "key";
        }
        self
    }

    /// The type name of the innermost error behind this one, for the cause header.
    pub(crate) fn root_type(&self) -> &'static str {
        match self {
            Self::Missing => std::any::type_name::<Self>(),
            Self::Invalid { source_type, .. } => source_type,
            Self::Header(_) => std::any::type_name::<crate::headers::HeaderError>(),
        }
    }
}

/// A type a record's value decodes into: `Record<T>` takes any `T: Payload`, and
/// [`RecordMeta::key_as`](crate::RecordMeta::key_as) decodes the key with it too.
///
/// Every `serde::de::DeserializeOwned` type is JSON. Other formats wrap the type they
/// decode into, as [`Text`], [`Bytes`] and [`Protobuf`] do, and as a format of your own does:
///
/// ```
/// use retry_core::{DecodeError, Payload};
///
/// /// `key=value` pairs, one per line.
/// struct Properties(Vec<(String, String)>);
///
/// #[derive(Debug, thiserror::Error)]
/// #[error("line {0} has no `=`")]
/// struct NoEquals(usize);
///
/// impl Payload for Properties {
///     fn decode(bytes: Option<&[u8]>) -> Result<Self, DecodeError> {
///         let text = std::str::from_utf8(bytes.ok_or(DecodeError::Missing)?)
///             .map_err(|e| DecodeError::invalid::<Self, _>("properties", e))?;
///         let pairs = text.lines().enumerate().map(|(i, line)| {
///             let (k, v) = line.split_once('=').ok_or(NoEquals(i + 1))?;
///             Ok((k.to_owned(), v.to_owned()))
///         });
///         pairs
///             .collect::<Result<_, NoEquals>>()
///             .map(Properties)
///             .map_err(|e| DecodeError::invalid::<Self, _>("properties", e))
///     }
/// }
///
/// let decoded = Properties::decode(Some(b"color=red\nsize=L")).unwrap();
/// assert_eq!(decoded.0[1], ("size".to_owned(), "L".to_owned()));
/// let error = Properties::decode(Some(b"color")).err().unwrap();
/// assert_eq!(error.to_string(), format!(
///     "value is not valid properties for {}: line 1 has no `=`",
///     std::any::type_name::<Properties>(),
/// ));
/// ```
#[cfg_attr(
    not(feature = "protobuf"),
    doc = "",
    doc = "[`Protobuf`]: https://docs.rs/retry-core/latest/retry_core/struct.Protobuf.html"
)]
pub trait Payload: Sized {
    /// Decodes the bytes (`None` for a tombstone value).
    fn decode(bytes: Option<&[u8]>) -> Result<Self, DecodeError>;
}

impl<T: DeserializeOwned> Payload for T {
    fn decode(bytes: Option<&[u8]>) -> Result<Self, DecodeError> {
        let bytes = bytes.ok_or(DecodeError::Missing)?;
        serde_json::from_slice(bytes).map_err(|e| DecodeError::invalid::<T, _>("JSON", e))
    }
}

/// The bytes as they are, for handlers that do their own decoding: `Record<Bytes>`. A
/// tombstone is empty.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Bytes(pub Vec<u8>);

impl Payload for Bytes {
    fn decode(bytes: Option<&[u8]>) -> Result<Self, DecodeError> {
        Ok(Self(bytes.unwrap_or_default().to_vec()))
    }
}

impl Deref for Bytes {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.0
    }
}

/// The bytes as UTF-8 text, not JSON: `Record<Text>` reads `hello` where `Record<String>`
/// would want `"hello"` (a JSON string). A tombstone is empty; bytes that are not UTF-8 are a
/// decode failure.
#[derive(Debug, Clone, PartialEq, Eq, Default, PartialOrd, Ord, Hash)]
pub struct Text(pub String);

impl Text {
    /// Takes the string.
    pub fn into_string(self) -> String {
        self.0
    }
}

impl Payload for Text {
    fn decode(bytes: Option<&[u8]>) -> Result<Self, DecodeError> {
        let text = std::str::from_utf8(bytes.unwrap_or_default())
            .map_err(|e| DecodeError::invalid::<Self, _>("UTF-8", e))?;
        Ok(Self(text.to_owned()))
    }
}

impl Deref for Text {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A Protocol Buffers message (feature `protobuf`): `Record<Protobuf<Order>>` for any
/// `prost::Message`, generated by `prost-build` or derived by hand. A tombstone is
/// [`DecodeError::Missing`] (an empty value is the message with every field at its default).
#[cfg(feature = "protobuf")]
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Protobuf<T>(pub T);

#[cfg(feature = "protobuf")]
impl<T> Protobuf<T> {
    /// Takes the message.
    pub fn into_inner(self) -> T {
        self.0
    }
}

#[cfg(feature = "protobuf")]
impl<T: prost::Message + Default> Payload for Protobuf<T> {
    fn decode(bytes: Option<&[u8]>) -> Result<Self, DecodeError> {
        let bytes = bytes.ok_or(DecodeError::Missing)?;
        T::decode(bytes)
            .map(Self)
            .map_err(|e| DecodeError::invalid::<T, _>("protobuf", e))
    }
}

#[cfg(feature = "protobuf")]
impl<T> Deref for Protobuf<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, serde::Deserialize)]
    struct Item {
        id: String,
    }

    #[test]
    fn json_is_the_default_and_says_why_not() {
        assert_eq!(
            Item::decode(Some(br#"{"id":"7"}"#)).unwrap(),
            Item { id: "7".into() }
        );
        let err = Item::decode(Some(b"not json")).unwrap_err();
        assert!(err.to_string().contains("not valid JSON for"), "{err}");
        assert!(err.to_string().contains("Item"), "{err}");
        assert_eq!(err.root_type(), std::any::type_name::<serde_json::Error>());
        assert!(matches!(Item::decode(None), Err(DecodeError::Missing)));
        // A JSON string is JSON: quoted.
        assert_eq!(String::decode(Some(br#""hi""#)).unwrap(), "hi");
        assert!(String::decode(Some(b"hi")).is_err());
    }

    #[test]
    fn text_is_utf8_as_written() {
        assert_eq!(&*Text::decode(Some(b"hi there")).unwrap(), "hi there");
        assert_eq!(&*Text::decode(None).unwrap(), "");
        let err = Text::decode(Some(&[b'a', 0xff])).unwrap_err();
        assert!(err.to_string().contains("not valid UTF-8 for"), "{err}");
        assert_eq!(err.root_type(), "core::str::error::Utf8Error");
    }

    #[test]
    fn raw_bytes_take_anything() {
        assert_eq!(
            &Bytes::decode(Some(&[0xff, 0x00])).unwrap()[..],
            &[0xff, 0x00]
        );
        assert!(Bytes::decode(None).unwrap().is_empty());
    }

    #[cfg(feature = "protobuf")]
    #[test]
    fn protobuf_messages_decode_or_say_why_not() {
        #[derive(Clone, PartialEq, prost::Message)]
        struct Order {
            #[prost(string, tag = "1")]
            id: String,
            #[prost(uint32, tag = "2")]
            quantity: u32,
        }
        let order = Order {
            id: "o-1".into(),
            quantity: 3,
        };
        let bytes = prost::Message::encode_to_vec(&order);
        assert_eq!(*Protobuf::<Order>::decode(Some(&bytes)).unwrap(), order);
        let err = Protobuf::<Order>::decode(Some(&[0x0a, 0x05, b'o'])).unwrap_err();
        assert!(err.to_string().contains("not valid protobuf for"), "{err}");
        assert!(err.to_string().contains("Order"), "{err}");
        assert!(matches!(
            Protobuf::<Order>::decode(None),
            Err(DecodeError::Missing)
        ));
    }
}
