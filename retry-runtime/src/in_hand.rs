//! A record a key-ordered partition task holds: lent by the partition's queue, or read again
//! by position after the task set it aside (design/key-order.md, *Copies set aside*). Both
//! are handled alike, through rdkafka's [`Message`].

use rdkafka::message::{BorrowedMessage, OwnedMessage};

/// A record in a partition task's hands.
pub(crate) enum InHand<'q> {
    /// As the partition's queue lent it.
    Lent(BorrowedMessage<'q>),
    /// Read again by its position, after it was set aside.
    Fetched(OwnedMessage),
}

crate::message_enum::forward_message!(InHand { Lent, Fetched });
