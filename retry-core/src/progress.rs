//! Which offset of a partition may be committed, when records finish out of order.
//!
//! A partition's records are read in offset order, but finish in any order: one handled at
//! once, the one before it still waiting for its forward to be acknowledged. Committing an
//! offset tells the group every earlier record is done, so the committable offset only moves
//! past a record once it and everything read before it have finished. [`PartitionProgress`]
//! holds that rule, and the bytes still in flight, so the runtime can bound them.
//!
//! ```
//! use retry_core::PartitionProgress;
//!
//! let mut progress = PartitionProgress::default();
//! progress.read(10, 100);
//! progress.read(11, 100);
//! assert_eq!(progress.finish(11), None); // 10 is still in flight
//! assert_eq!(progress.finish(10), Some(11)); // both done: commit through 11
//! assert_eq!(progress.in_flight_bytes(), 0);
//! ```

use std::collections::VecDeque;

/// One record read and not yet released for commit.
#[derive(Debug, Clone, Copy)]
struct InFlight {
    offset: i64,
    bytes: usize,
    finished: bool,
}

/// The records of one partition between being read and being committable.
#[derive(Debug, Default)]
pub struct PartitionProgress {
    /// In read (offset) order.
    in_flight: VecDeque<InFlight>,
    bytes: usize,
}

impl PartitionProgress {
    /// Notes that the record at `offset`, occupying about `bytes`, was read. Offsets must be
    /// read in increasing order.
    pub fn read(&mut self, offset: i64, bytes: usize) {
        debug_assert!(
            self.in_flight
                .back()
                .is_none_or(|last| last.offset < offset),
            "offsets read out of order"
        );
        self.in_flight.push_back(InFlight {
            offset,
            bytes,
            finished: false,
        });
        self.bytes += bytes;
    }

    /// Notes that the record at `offset` is done with (handled, or forwarded and
    /// acknowledged). Returns the highest offset whose record and every earlier one are now
    /// done, if that moved: the offset to store for commit. An offset never read, or already
    /// finished, changes nothing.
    pub fn finish(&mut self, offset: i64) -> Option<i64> {
        let Ok(index) = self.in_flight.binary_search_by_key(&offset, |r| r.offset) else {
            return None;
        };
        let record = &mut self.in_flight[index];
        if record.finished {
            return None;
        }
        record.finished = true;
        let mut released = None;
        while let Some(oldest) = self.in_flight.front().filter(|r| r.finished) {
            released = Some(oldest.offset);
            self.bytes -= oldest.bytes;
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

    /// The oldest record not yet done, which holds back every commit after it.
    pub fn oldest_unfinished(&self) -> Option<i64> {
        self.in_flight.front().map(|r| r.offset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn releases_in_order_only() {
        let mut p = PartitionProgress::default();
        for offset in [3, 4, 7, 9] {
            p.read(offset, 10);
        }
        assert_eq!(p.finish(7), None);
        assert_eq!(p.finish(4), None);
        assert_eq!(p.oldest_unfinished(), Some(3));
        assert_eq!(p.finish(3), Some(7), "3, 4 and 7 are done; 9 is not");
        assert_eq!(p.in_flight(), 1);
        assert_eq!(p.in_flight_bytes(), 10);
        assert_eq!(p.finish(9), Some(9));
        assert_eq!(p.oldest_unfinished(), None);
    }

    #[test]
    fn unknown_and_repeated_finishes_change_nothing() {
        let mut p = PartitionProgress::default();
        p.read(1, 5);
        p.read(2, 5);
        assert_eq!(p.finish(42), None);
        assert_eq!(p.finish(2), None);
        assert_eq!(p.finish(2), None);
        assert_eq!(p.in_flight_bytes(), 10);
        assert_eq!(p.finish(1), Some(2));
        assert_eq!(p.finish(1), None);
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
            let mut offsets = Vec::new();
            let mut next = 0;
            for gap in gaps {
                next += gap;
                p.read(next, gap as usize);
                offsets.push(next);
            }
            let mut pending = offsets.clone();
            let mut done = Vec::new();
            let mut last_released = i64::MIN;
            for seed in order_seed.iter().cycle().take(offsets.len()) {
                let offset = pending.remove(*seed as usize % pending.len());
                done.push(offset);
                if let Some(released) = p.finish(offset) {
                    prop_assert!(released > last_released);
                    prop_assert!(offsets.iter().filter(|o| **o <= released).all(|o| done.contains(o)));
                    last_released = released;
                }
            }
            prop_assert_eq!(last_released, *offsets.last().unwrap());
            prop_assert_eq!(p.in_flight_bytes(), 0);
        }
    }
}
