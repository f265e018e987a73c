//! A header's name: the bytes a producer wrote, which need not be UTF-8.

use std::borrow::Cow;
use std::fmt;
use std::ops::Deref;

/// A record header's name.
///
/// Kafka's clients write names as text, but the protocol carries bytes, and a producer may
/// write any. A name keeps its bytes as written ([`as_bytes`](Self::as_bytes)): forwarding a
/// record passes them on unchanged. As text (`Deref<Target = str>`, [`Display`](fmt::Display))
/// a name that is not UTF-8 reads lossily, each invalid sequence replaced by U+FFFD, for
/// display only: comparing with a `&str` compares the bytes, so such a name equals no text.
///
/// ```
/// use retry_core::headers::HeaderName;
///
/// let odd = HeaderName::from_bytes(&[0xff, 0xfe]);
/// assert_eq!(odd.as_bytes(), [0xff, 0xfe]);
/// assert_eq!(&*odd, "\u{fffd}\u{fffd}");
/// assert!(odd != "\u{fffd}\u{fffd}");
/// assert_eq!(HeaderName::from("trace-id"), "trace-id");
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct HeaderName {
    /// The name as text: the name itself when it is UTF-8, else its lossy form.
    text: Cow<'static, str>,
    /// The bytes of a name that is not UTF-8 (`None`: `text` holds them).
    bytes: Option<Box<[u8]>>,
}

impl HeaderName {
    /// The name whose bytes are `bytes`. One of the provenance names this crate writes is
    /// borrowed from its constant, so a retry record's dozen of them cost no allocation.
    pub fn from_bytes(bytes: &[u8]) -> Self {
        match std::str::from_utf8(bytes) {
            Ok(text) => Self::from(
                super::known_name(text).map_or_else(|| Cow::Owned(text.to_owned()), Cow::Borrowed),
            ),
            Err(_) => Self {
                text: Cow::Owned(String::from_utf8_lossy(bytes).into_owned()),
                bytes: Some(bytes.into()),
            },
        }
    }

    /// The name's bytes, as written.
    pub fn as_bytes(&self) -> &[u8] {
        self.bytes.as_deref().unwrap_or(self.text.as_bytes())
    }

    /// The name when it is UTF-8 (`None`: only its lossy form is text).
    pub fn to_str(&self) -> Option<&str> {
        self.bytes.is_none().then_some(&*self.text)
    }
}

impl Deref for HeaderName {
    type Target = str;

    /// The name as text, lossy when it is not UTF-8.
    fn deref(&self) -> &str {
        &self.text
    }
}

impl AsRef<str> for HeaderName {
    fn as_ref(&self) -> &str {
        &self.text
    }
}

impl From<Cow<'static, str>> for HeaderName {
    fn from(text: Cow<'static, str>) -> Self {
        Self { text, bytes: None }
    }
}

impl From<&'static str> for HeaderName {
    fn from(text: &'static str) -> Self {
        Self::from(Cow::Borrowed(text))
    }
}

impl From<String> for HeaderName {
    fn from(text: String) -> Self {
        Self::from(Cow::<'static, str>::Owned(text))
    }
}

impl PartialEq<str> for HeaderName {
    fn eq(&self, other: &str) -> bool {
        self.bytes.is_none() && self.text == other
    }
}

impl PartialEq<&str> for HeaderName {
    fn eq(&self, other: &&str) -> bool {
        *self == **other
    }
}

impl fmt::Display for HeaderName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for HeaderName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.bytes {
            None => fmt::Debug::fmt(&*self.text, f),
            Some(bytes) => write!(f, "HeaderName({bytes:02x?})"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::headers::BACKOFF_TIMESTAMP;
    use proptest::prelude::*;

    #[test]
    fn provenance_names_read_off_the_wire_are_borrowed() {
        let name = HeaderName::from_bytes(BACKOFF_TIMESTAMP.as_bytes());
        assert!(matches!(name.text, Cow::Borrowed(BACKOFF_TIMESTAMP)));
        let name = HeaderName::from_bytes(b"trace-id");
        assert!(matches!(&name.text, Cow::Owned(text) if text == "trace-id"));
        assert_eq!(name, HeaderName::from("trace-id"), "however it was made");
    }

    #[test]
    fn a_name_that_is_not_utf8_keeps_its_bytes_and_equals_no_text() {
        let name = HeaderName::from_bytes(b"id-\xff");
        assert_eq!(name.as_bytes(), b"id-\xff");
        assert_eq!((&*name, name.to_str()), ("id-\u{fffd}", None));
        assert!(name != "id-\u{fffd}");
        let its_lossy_text = HeaderName::from("id-\u{fffd}");
        assert!(name != its_lossy_text);
        assert_eq!(format!("{name:?}"), "HeaderName([69, 64, 2d, ff])");
        assert_eq!(HeaderName::from("id").to_str(), Some("id"));
    }

    proptest! {
        /// Any bytes make a name that gives them back, and compare equal to a text only when
        /// they are that text.
        #[test]
        fn any_bytes_round_trip(bytes in proptest::collection::vec(any::<u8>(), 0..16)) {
            let name = HeaderName::from_bytes(&bytes);
            prop_assert_eq!(name.as_bytes(), &bytes[..]);
            let text = String::from_utf8_lossy(&bytes);
            prop_assert_eq!(name == *text, std::str::from_utf8(&bytes).is_ok());
        }
    }
}
