//! rdkafka's [`Message`](rdkafka::message::Message) for an enum whose variants each hold a
//! message of another kind: every accessor is the variant's own.

/// Implements [`Message`](rdkafka::message::Message) for `$enum<'_>`, whose `$variant`s each
/// hold one message whose headers are a [`HeaderList`](crate::kafka_headers::HeaderList)
/// (lent out as rdkafka's `BorrowedHeaders`).
macro_rules! forward_message {
    ($enum:ident { $($variant:ident),+ $(,)? }) => {
        impl rdkafka::message::Message for $enum<'_> {
            type Headers = rdkafka::message::BorrowedHeaders;

            fn key(&self) -> Option<&[u8]> {
                match self {
                    $(Self::$variant(m) => rdkafka::message::Message::key(m),)+
                }
            }

            fn payload(&self) -> Option<&[u8]> {
                match self {
                    $(Self::$variant(m) => rdkafka::message::Message::payload(m),)+
                }
            }

            unsafe fn payload_mut(&mut self) -> Option<&mut [u8]> {
                match self {
                    // SAFETY: the variant's own `payload_mut`, under the caller's contract.
                    $(Self::$variant(m) => unsafe { rdkafka::message::Message::payload_mut(m) },)+
                }
            }

            fn topic(&self) -> &str {
                match self {
                    $(Self::$variant(m) => rdkafka::message::Message::topic(m),)+
                }
            }

            fn partition(&self) -> i32 {
                match self {
                    $(Self::$variant(m) => rdkafka::message::Message::partition(m),)+
                }
            }

            fn offset(&self) -> i64 {
                match self {
                    $(Self::$variant(m) => rdkafka::message::Message::offset(m),)+
                }
            }

            fn timestamp(&self) -> rdkafka::message::Timestamp {
                match self {
                    $(Self::$variant(m) => rdkafka::message::Message::timestamp(m),)+
                }
            }

            fn headers(&self) -> Option<&rdkafka::message::BorrowedHeaders> {
                match self {
                    $(Self::$variant(m) => rdkafka::message::Message::headers(m)
                        .map(crate::kafka_headers::HeaderList::borrowed),)+
                }
            }
        }
    };
}

pub(crate) use forward_message;
