//! Which offset of a partition may be committed, when records finish out of order.
//!
//! A partition's records are read in offset order, but finish in any order: one handled at
//! once, the one before it still waiting for its forward to be acknowledged. Committing an
//! offset tells the group every earlier record is done, so the committable offset only moves
//! past a record once it and everything read before it have finished. [`PartitionProgress`]
//! holds that rule, and the bytes still in flight, so the runtime can bound them.
//!
//! Offsets normally only grow, but librdkafka may read a partition again from an earlier
//! offset: after the log was truncated (an unclean leader election), the topic was recreated,
//! or an out-of-range offset was reset. A record read at or below one still in flight starts
//! the partition's progress over: the records in flight are forgotten, and finishing them
//! later releases nothing, so no offset of the old sequence is committed over the new one.
//!
//! ```
//! use retry_core::PartitionProgress;
//!
//! let mut progress = PartitionProgress::default();
//! let ten = progress.read(10, 100);
//! let eleven = progress.read(11, 100);
//! assert_eq!(progress.finish(eleven), None); // 10 is still in flight
//! assert_eq!(progress.finish(ten), Some(11)); // both done: commit through 11
//! assert_eq!(progress.in_flight_bytes(), 0);
//! assert_eq!(progress.footprint(ten), None, "released");
//!
//! let twelve = progress.read(12, 100);
//! assert_eq!(progress.rewinds(5), Some(12)); // 5 after 12: offsets went backwards
//! let five = progress.read(5, 100);
//! assert_eq!(progress.finish(twelve), None); // forgotten
//! assert_eq!(progress.finish(five), Some(5));
//! ```

use std::collections::VecDeque;

/// One record read and not yet released for commit: 16 bytes, since a window of finished
/// records behind an unfinished one can be long (design/key-order.md, *Copies set aside*).
#[derive(Debug, Clone, Copy)]
struct InFlight {
    offset: i64,
    /// The record's footprint, saturated at `u32::MAX`.
    bytes: u32,
    finished: bool,
}

/// A record noted by [`PartitionProgress::read`], to hand to [`PartitionProgress::finish`]
/// once it is done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ProgressTicket {
    offset: i64,
    /// The sequence of reads the record belongs to: one more after each backwards jump.
    sequence: u64,
}

impl ProgressTicket {
    /// The record's offset.
    pub fn offset(self) -> i64 {
        self.offset
    }
}

/// The records of one partition between being read and being committable.
#[derive(Debug, Default)]
pub struct PartitionProgress {
    /// In read (offset) order.
    in_flight: VecDeque<InFlight>,
    bytes: usize,
    /// Records in flight not finished yet, and their bytes.
    unfinished: usize,
    unfinished_bytes: usize,
    /// How often offsets went backwards: tickets of earlier sequences release nothing.
    sequence: u64,
}

impl PartitionProgress {
    /// Notes that the record at `offset`, occupying about `bytes`, was read. Offsets are read
    /// in increasing order; one that is not after every record in flight ([`rewinds`]) starts
    /// over: the records in flight are forgotten first.
    ///
    /// [`rewinds`]: Self::rewinds
    pub fn read(&mut self, offset: i64, bytes: usize) -> ProgressTicket {
        if self.rewinds(offset).is_some() {
            self.in_flight.clear();
            self.bytes = 0;
            self.unfinished = 0;
            self.unfinished_bytes = 0;
            self.sequence += 1;
        }
        let bytes = u32::try_from(bytes).unwrap_or(u32::MAX);
        self.in_flight.push_back(InFlight {
            offset,
            bytes,
            finished: false,
        });
        self.bytes += bytes as usize;
        self.unfinished += 1;
        self.unfinished_bytes += bytes as usize;
        ProgressTicket {
            offset,
            sequence: self.sequence,
        }
    }

    /// The newest offset in flight when reading `offset` next would go backwards (`offset` is
    /// not after it), so that [`read`](Self::read) would forget the records in flight.
    pub fn rewinds(&self, offset: i64) -> Option<i64> {
        self.in_flight
            .back()
            .map(|newest| newest.offset)
            .filter(|newest| offset <= *newest)
    }

    /// Notes that the record of `ticket` is done with (handled, or forwarded and
    /// acknowledged). Returns the highest offset whose record and every earlier one are now
    /// done, if that moved: the offset to store for commit. A record already finished, or
    /// forgotten when offsets went backwards, changes nothing.
    pub fn finish(&mut self, ticket: ProgressTicket) -> Option<i64> {
        if ticket.sequence != self.sequence {
            return None;
        }
        let Ok(index) = self
            .in_flight
            .binary_search_by_key(&ticket.offset, |r| r.offset)
        else {
            return None;
        };
        let record = &mut self.in_flight[index];
        if record.finished {
            return None;
        }
        record.finished = true;
        self.unfinished -= 1;
        self.unfinished_bytes -= record.bytes as usize;
        let mut released = None;
        while let Some(oldest) = self.in_flight.front().filter(|r| r.finished) {
            released = Some(oldest.offset);
            self.bytes -= oldest.bytes as usize;
            self.in_flight.pop_front();
        }
        released
    }

    /// Bytes of the records read and not yet released.
    pub fn in_flight_bytes(&self) -> usize {
        self.bytes
    }

    /// Records read and not yet released.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// The footprint `ticket`'s record was read with, while it is in flight (saturated at
    /// `u32::MAX`).
    pub fn footprint(&self, ticket: ProgressTicket) -> Option<usize> {
        if ticket.sequence != self.sequence {
            return None;
        }
        let index = self
            .in_flight
            .binary_search_by_key(&ticket.offset, |r| r.offset)
            .ok()?;
        Some(self.in_flight[index].bytes as usize)
    }

    /// Records read and not finished yet: those in flight but the finished ones behind an
    /// unfinished one.
    pub fn unfinished(&self) -> usize {
        self.unfinished
    }

    /// Bytes of the records read and not finished yet.
    pub fn unfinished_bytes(&self) -> usize {
        self.unfinished_bytes
    }

    /// The oldest record not yet done, which holds back every commit after it.
    pub fn oldest_unfinished(&self) -> Option<i64> {
        self.in_flight.front().map(|r| r.offset)
    }

    /// The records done behind the oldest one not done, in offset order: what a commit's
    /// metadata may list so they are not handled again ([`FinishedAbove`](crate::FinishedAbove)).
    pub fn finished(&self) -> impl Iterator<Item = i64> + '_ {
        self.in_flight
            .iter()
            .filter(|r| r.finished)
            .map(|r| r.offset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn releases_in_order_only() {
        let mut p = PartitionProgress::default();
        let [t3, t4, t7, t9] = [3, 4, 7, 9].map(|offset| p.read(offset, 10));
        assert_eq!(p.finish(t7), None);
        assert_eq!(p.finish(t4), None);
        assert_eq!(p.oldest_unfinished(), Some(3));
        assert_eq!(p.finished().collect::<Vec<_>>(), [4, 7]);
        assert_eq!(p.finish(t3), Some(7), "3, 4 and 7 are done; 9 is not");
        assert_eq!(p.in_flight(), 1);
        assert_eq!(p.in_flight_bytes(), 10);
        assert_eq!(p.finish(t9), Some(9));
        assert_eq!(p.oldest_unfinished(), None);
    }

    #[test]
    fn unknown_and_repeated_finishes_change_nothing() {
        let mut p = PartitionProgress::default();
        let one = p.read(1, 5);
        let two = p.read(2, 5);
        let never_read = ProgressTicket {
            offset: 42,
            sequence: 0,
        };
        assert_eq!(p.finish(never_read), None);
        assert_eq!(p.finish(two), None);
        assert_eq!(p.finish(two), None);
        assert_eq!(p.in_flight_bytes(), 10);
        assert_eq!(p.finish(one), Some(2));
        assert_eq!(p.finish(one), None);
    }

    #[test]
    fn a_backwards_jump_forgets_the_records_in_flight() {
        let mut p = PartitionProgress::default();
        let old_10 = p.read(10, 100);
        let old_11 = p.read(11, 100);
        assert_eq!(p.rewinds(12), None);
        assert_eq!(
            p.rewinds(11),
            Some(11),
            "the same offset again goes backwards too"
        );
        assert_eq!(p.rewinds(5), Some(11));
        let new_5 = p.read(5, 7);
        assert_eq!((p.in_flight(), p.in_flight_bytes()), (1, 7));
        let new_10 = p.read(10, 7);
        assert_eq!(p.finish(old_10), None, "forgotten, and not the new 10");
        assert_eq!(p.finish(old_11), None);
        assert_eq!(p.in_flight(), 2);
        assert_eq!(p.finish(new_10), None, "5 is still in flight");
        assert_eq!(p.finish(new_5), Some(10));
        assert_eq!((p.in_flight(), p.in_flight_bytes()), (0, 0));
    }

    #[test]
    fn nothing_in_flight_is_no_backwards_jump() {
        let mut p = PartitionProgress::default();
        let ten = p.read(10, 1);
        assert_eq!(p.finish(ten), Some(10));
        assert_eq!(p.rewinds(3), None, "nothing to forget");
        let three = p.read(3, 1);
        assert_eq!(p.finish(three), Some(3));
    }

    proptest! {
        /// Whatever order records finish in, a released offset never passes a record that is
        /// not done, released offsets only grow, and once all are done the last is released.
        #[test]
        fn never_releases_past_an_unfinished_record(
            gaps in proptest::collection::vec(1i64..5, 1..60),
            order_seed in proptest::collection::vec(any::<u32>(), 60),
        ) {
            let mut p = PartitionProgress::default();
            let mut read = Vec::new();
            let mut next = 0;
            for gap in gaps {
                next += gap;
                read.push(p.read(next, gap as usize));
            }
            let offsets: Vec<i64> = read.iter().map(|t| t.offset()).collect();
            let mut pending = read.clone();
            let mut done = Vec::new();
            let mut last_released = i64::MIN;
            for seed in order_seed.iter().cycle().take(offsets.len()) {
                let ticket = pending.remove(*seed as usize % pending.len());
                done.push(ticket.offset());
                if let Some(released) = p.finish(ticket) {
                    prop_assert!(released > last_released);
                    prop_assert!(offsets.iter().filter(|o| **o <= released).all(|o| done.contains(o)));
                    last_released = released;
                }
            }
            prop_assert_eq!(last_released, *offsets.last().unwrap());
            prop_assert_eq!(p.in_flight_bytes(), 0);
        }

        /// Offsets in any order, finishes of any ticket (forgotten ones included): nothing
        /// panics, a release never passes an unfinished record of the current sequence, the
        /// bytes in flight are those of its unreleased records, and once they are all finished
        /// nothing is left in flight: no partition is wedged.
        #[test]
        fn offsets_in_any_order_never_wedge(
            steps in proptest::collection::vec(
                prop_oneof![
                    (0i64..40, 1usize..10).prop_map(|(offset, bytes)| (true, offset, bytes)),
                    any::<usize>().prop_map(|pick| (false, pick as i64, 0)),
                ],
                1..120,
            ),
        ) {
            let mut p = PartitionProgress::default();
            let mut tickets = Vec::new();
            // The records of the current sequence not yet released: ticket, bytes, finished.
            let mut current: Vec<(ProgressTicket, usize, bool)> = Vec::new();
            for (is_read, n, bytes) in steps {
                if is_read {
                    if p.rewinds(n).is_some() {
                        prop_assert!(current.last().is_some_and(|(t, ..)| t.offset() >= n));
                        current.clear();
                    }
                    let ticket = p.read(n, bytes);
                    tickets.push(ticket);
                    current.push((ticket, bytes, false));
                } else if !tickets.is_empty() {
                    let ticket = tickets[n as usize % tickets.len()];
                    let released = p.finish(ticket);
                    if let Some(entry) = current.iter_mut().find(|(t, ..)| *t == ticket) {
                        entry.2 = true;
                    }
                    let done = current.iter().take_while(|(.., finished)| *finished).count();
                    let expected = done.checked_sub(1).map(|last| current[last].0.offset());
                    current.drain(..done);
                    prop_assert_eq!(released, expected);
                }
                prop_assert_eq!(p.in_flight(), current.len());
                prop_assert_eq!(p.in_flight_bytes(), current.iter().map(|(_, b, _)| b).sum::<usize>());
                let unfinished = current.iter().filter(|(.., finished)| !finished);
                prop_assert_eq!(p.unfinished(), unfinished.clone().count());
                prop_assert_eq!(p.unfinished_bytes(), unfinished.map(|(_, b, _)| b).sum::<usize>());
            }
            for (ticket, ..) in current.clone() {
                p.finish(ticket);
            }
            prop_assert_eq!((p.in_flight(), p.in_flight_bytes()), (0, 0));
            prop_assert_eq!((p.unfinished(), p.unfinished_bytes()), (0, 0));
        }
    }
}
