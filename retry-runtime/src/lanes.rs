//! The key lanes of `ordering = "key"` (design/key-order.md) in the partition task of
//! `unordered.rs`: a record starts only once every earlier record of its key that the task
//! read is finished (its call ended and its forward, if any, was acknowledged); records of
//! other keys start beside it. Which record runs next is [`retry_core::KeyLanes`]'s; this
//! holds the records in hand and knows which lane each started record is in.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, RandomState};

use rdkafka::message::Message;
use retry_core::{KeyLanes, ProgressTicket};

use crate::in_hand::InHand;

/// A record read and not started, with its ticket.
pub(crate) type Queued<'q> = (ProgressTicket, InHand<'q>);

/// A key's lane: the hash of the record key (`None` for records without a key, which are one
/// key). Two keys of one hash share a lane: they are ordered among themselves, which keeps
/// each key's order, and at 64 bits it is rare enough not to cost concurrency. Hashing
/// spares a copy of every record's key.
pub(crate) type Lane = u64;

/// The lanes of one partition task.
pub(crate) struct Lanes<'q> {
    hasher: RandomState,
    /// The records waiting behind a started record of their key.
    waiting: KeyLanes<Lane, Queued<'q>>,
    /// Records whose turn came, to start before anything new is read, in the order their
    /// turn came.
    ready: VecDeque<Queued<'q>>,
    /// The lane of each record started and not finished (running, held for the breaker, or
    /// forwarding).
    started: HashMap<ProgressTicket, Lane>,
}

impl<'q> Lanes<'q> {
    /// Lanes with nothing started.
    pub fn new() -> Self {
        Self {
            hasher: RandomState::new(),
            waiting: KeyLanes::default(),
            ready: VecDeque::new(),
            started: HashMap::new(),
        }
    }

    /// The lane of `message`'s key.
    pub fn lane(&self, message: &impl Message) -> Lane {
        self.hasher.hash_one(message.key())
    }

    /// Offers a record just read, in `lane`: returns it to start now when nothing of its key
    /// is unfinished, or keeps it behind its key and returns `None`.
    pub fn offer(&mut self, lane: Lane, record: Queued<'q>) -> Option<Queued<'q>> {
        let start = self.waiting.offer(lane, record)?;
        self.started.insert(start.0, lane);
        Some(start)
    }

    /// Offers a record read earlier, in `lane`: it is ready at once when nothing of its key is
    /// unfinished, else it waits behind its key.
    pub fn offer_ready(&mut self, lane: Lane, record: Queued<'q>) {
        if let Some(start) = self.offer(lane, record) {
            self.ready.push_back(start);
        }
    }

    /// The record of `ticket` is finished: the next record of its key, if any, is ready.
    /// Nothing happens for a ticket that did not start here (forgotten by [`Lanes::clear`]).
    pub fn finished(&mut self, ticket: ProgressTicket) {
        let Some(lane) = self.started.remove(&ticket) else {
            return;
        };
        if let Some(next) = self.waiting.done(&lane) {
            self.started.insert(next.0, lane);
            self.ready.push_back(next);
        }
    }

    /// The record whose turn came first, to start now.
    pub fn next_ready(&mut self) -> Option<Queued<'q>> {
        self.ready.pop_front()
    }

    /// The ready record of `lane`, if its turn came.
    pub fn take_ready_in(&mut self, lane: Lane) -> Option<Queued<'q>> {
        let at = self
            .ready
            .iter()
            .position(|(ticket, _)| self.started.get(ticket) == Some(&lane))?;
        self.ready.remove(at)
    }

    /// Forgets every record (offsets went backwards: the new sequence reads them again).
    pub fn clear(&mut self) {
        self.waiting.clear();
        self.ready.clear();
        self.started.clear();
    }
}
