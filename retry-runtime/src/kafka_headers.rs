//! Record headers between librdkafka and the core's [`Headers`], names as bytes.
//!
//! rdkafka's own header reader turns each name into a `&str` and panics on one that is not
//! UTF-8, and its writer takes names as `&str`: a record with such a name, which any producer
//! may write, would crash every app reading it, again after each restart. Names are read and
//! written here through librdkafka's C functions instead, as the bytes they are.

use std::ffi::{c_char, c_void, CStr};

use rdkafka::bindings as rdsys;
use rdkafka::message::{BorrowedHeaders, OwnedHeaders};
use retry_core::headers::{HeaderName, HeaderSink};
use retry_core::{Header, Headers};

/// A list of headers as librdkafka holds them: a message's, or one being built.
pub trait HeaderList {
    /// The list, as rdkafka lends it out.
    fn borrowed(&self) -> &BorrowedHeaders;
}

impl HeaderList for BorrowedHeaders {
    fn borrowed(&self) -> &BorrowedHeaders {
        self
    }
}

impl HeaderList for OwnedHeaders {
    fn borrowed(&self) -> &BorrowedHeaders {
        self.as_borrowed()
    }
}

/// librdkafka's list behind `headers`: rdkafka's `BorrowedHeaders` is a view whose address
/// is that of the C list (rdkafka reads its headers through the same cast).
fn native(headers: &BorrowedHeaders) -> *mut rdsys::rd_kafka_headers_t {
    headers as *const BorrowedHeaders as *mut rdsys::rd_kafka_headers_t
}

/// Every header of `headers`, in order, names as written (up to a NUL byte, where
/// librdkafka ends them).
pub fn read(headers: &(impl HeaderList + ?Sized)) -> Headers {
    let list = native(headers.borrowed());
    // SAFETY: `list` is a live header list borrowed for this call; librdkafka reads it only.
    let count = unsafe { rdsys::rd_kafka_header_cnt(list) };
    (0..count)
        .filter_map(|index| {
            let mut name: *const c_char = std::ptr::null();
            let mut value: *const c_void = std::ptr::null();
            let mut size = 0;
            // SAFETY: as above; the pointers written point into the list, which outlives
            // the copies made of them below.
            let err = unsafe {
                rdsys::rd_kafka_header_get_all(list, index, &mut name, &mut value, &mut size)
            };
            if err != rdsys::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR || name.is_null() {
                return None;
            }
            // SAFETY: librdkafka's names are NUL-terminated; a value is `size` bytes, or
            // null for a header without one.
            let (name, value) = unsafe {
                (
                    CStr::from_ptr(name).to_bytes(),
                    (!value.is_null())
                        .then(|| std::slice::from_raw_parts(value.cast::<u8>(), size)),
                )
            };
            Some(Header {
                key: HeaderName::from_bytes(name),
                value: value.map(<[u8]>::to_vec),
            })
        })
        .collect()
}

/// `headers` with one more header, named by `name`'s bytes (which need not be UTF-8).
pub fn append(headers: OwnedHeaders, name: &[u8], value: Option<&[u8]>) -> OwnedHeaders {
    let (value_ptr, value_len) = match value {
        Some(value) => (value.as_ptr().cast::<c_void>(), value.len() as isize),
        None => (std::ptr::null(), 0),
    };
    // SAFETY: the list is owned here, so nothing else reads it meanwhile; librdkafka copies
    // the name and value.
    let err = unsafe {
        rdsys::rd_kafka_header_add(
            native(headers.as_borrowed()),
            name.as_ptr().cast::<c_char>(),
            name.len() as isize,
            value_ptr,
            value_len,
        )
    };
    // Adding fails only on a read-only list (one a message owns), never on an owned one.
    assert_eq!(
        err,
        rdsys::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR,
        "an owned header list is writable"
    );
    headers
}

/// A forward's headers as librdkafka holds them, filled by the core's header writer.
pub struct KafkaHeaders(Option<OwnedHeaders>);

impl KafkaHeaders {
    /// An empty list with room for `capacity` headers.
    pub fn with_capacity(capacity: usize) -> Self {
        Self(Some(OwnedHeaders::new_with_capacity(capacity)))
    }

    /// The filled list.
    pub fn into_inner(self) -> OwnedHeaders {
        self.0.expect("always filled")
    }
}

impl HeaderSink for KafkaHeaders {
    fn append(&mut self, key: &[u8], value: Option<&[u8]>) {
        let headers = self.0.take().expect("always filled");
        self.0 = Some(append(headers, key, value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rdkafka::message::{Header as KafkaHeader, Headers as _};

    #[test]
    fn names_that_are_not_utf8_round_trip() {
        let mut sink = KafkaHeaders::with_capacity(3);
        sink.append(b"trace-id", Some(b"abc"));
        sink.append(&[0xff, 0xfe], Some(b"v"));
        sink.append(b"empty", None);
        let headers = read(&sink.into_inner());
        let names: Vec<&[u8]> = headers.iter().map(|h| h.key.as_bytes()).collect();
        assert_eq!(names, [&b"trace-id"[..], &[0xff, 0xfe], b"empty"]);
        assert_eq!(headers.get("trace-id"), Some(&b"abc"[..]));
        let values: Vec<Option<&[u8]>> = headers.iter().map(|h| h.value.as_deref()).collect();
        assert_eq!(values, [Some(&b"abc"[..]), Some(b"v"), None]);
    }

    #[test]
    fn reads_what_rdkafka_wrote() {
        let written = OwnedHeaders::new()
            .insert(KafkaHeader {
                key: "a",
                value: Some("1"),
            })
            .insert(KafkaHeader {
                key: "b",
                value: Some(""),
            });
        let headers = read(written.as_borrowed());
        assert_eq!(headers.len(), written.count());
        assert_eq!(
            (headers.get("a"), headers.get("b")),
            (Some(&b"1"[..]), Some(&b""[..]))
        );
    }
}
