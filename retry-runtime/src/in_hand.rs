//! A record a key-ordered partition task holds: lent by the partition's queue, or read again
//! by position after the task set it aside (design/key-order.md, *Copies set aside*). Both
//! are handled alike, through rdkafka's [`Message`].

use rdkafka::message::{BorrowedHeaders, BorrowedMessage, Message, OwnedMessage, Timestamp};

/// A record in a partition task's hands.
pub(crate) enum InHand<'q> {
    /// As the partition's queue lent it.
    Lent(BorrowedMessage<'q>),
    /// Read again by its position, after it was set aside.
    Fetched(OwnedMessage),
}

impl Message for InHand<'_> {
    type Headers = BorrowedHeaders;

    fn key(&self) -> Option<&[u8]> {
        match self {
            Self::Lent(m) => m.key(),
            Self::Fetched(m) => m.key(),
        }
    }

    fn payload(&self) -> Option<&[u8]> {
        match self {
            Self::Lent(m) => m.payload(),
            Self::Fetched(m) => m.payload(),
        }
    }

    unsafe fn payload_mut(&mut self) -> Option<&mut [u8]> {
        // SAFETY: forwarded to the message's own `payload_mut`, under the caller's contract.
        unsafe {
            match self {
                Self::Lent(m) => m.payload_mut(),
                Self::Fetched(m) => m.payload_mut(),
            }
        }
    }

    fn topic(&self) -> &str {
        match self {
            Self::Lent(m) => m.topic(),
            Self::Fetched(m) => m.topic(),
        }
    }

    fn partition(&self) -> i32 {
        match self {
            Self::Lent(m) => m.partition(),
            Self::Fetched(m) => m.partition(),
        }
    }

    fn offset(&self) -> i64 {
        match self {
            Self::Lent(m) => m.offset(),
            Self::Fetched(m) => m.offset(),
        }
    }

    fn timestamp(&self) -> Timestamp {
        match self {
            Self::Lent(m) => m.timestamp(),
            Self::Fetched(m) => m.timestamp(),
        }
    }

    fn headers(&self) -> Option<&BorrowedHeaders> {
        match self {
            Self::Lent(m) => m.headers(),
            Self::Fetched(m) => m.headers().map(|h| h.as_borrowed()),
        }
    }
}
