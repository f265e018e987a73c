//! What a folded lock log holds, in the terms an operator reads (`kafka-retry status`): how
//! many keys are blocked, how many of their chain records wait in a retry topic and how many
//! in the parked topic, and the floor.
//!
//! ```
//! use retry_core::{CopyAt, LockEntry, LockLog, LockSummary};
//!
//! let mut log = LockLog::default();
//! log.apply(LockEntry::Chain { key: "a", offset: 100, copy: CopyAt { hop: 1, offset: 40 } });
//! log.apply(LockEntry::Chain { key: "a", offset: 103, copy: CopyAt { hop: 0, offset: 7 } });
//! log.apply(LockEntry::Floor(100));
//! assert_eq!(
//!     LockSummary::of(&log),
//!     LockSummary { blocked_keys: 1, heads: 1, parked: 1, floor: Some(100) }
//! );
//! ```

use std::hash::Hash;

use crate::keys::lock_log::LockLog;

/// A folded lock log of one main-topic partition, counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LockSummary {
    /// Keys with an unresolved chain record: their later main-topic records are parked.
    pub blocked_keys: usize,
    /// Unresolved chain records whose current copy is in a retry topic (hop 1 or later): the
    /// records that failed and wait for a retry, each its key's head.
    pub heads: usize,
    /// Unresolved chain records whose current copy is in the parked topic (hop 0): records
    /// that arrived while their key was blocked and wait for their turn (or, their key's
    /// first, are being handled from there).
    pub parked: usize,
    /// The main partition's committed offset as last logged; `None` before the first floor.
    pub floor: Option<i64>,
}

impl LockSummary {
    /// Counts what `log` holds.
    pub fn of<K: Hash + Eq + Clone>(log: &LockLog<K>) -> Self {
        let (heads, parked) =
            log.unresolved_records()
                .fold((0, 0), |(heads, parked), (_, _, copy)| match copy.hop {
                    0 => (heads, parked + 1),
                    _ => (heads + 1, parked),
                });
        Self {
            blocked_keys: log.blocked_keys(),
            heads,
            parked,
            floor: (log.floor() != i64::MIN).then_some(log.floor()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::lock_log::{CopyAt, LockEntry, LockOutcome};

    const fn at(hop: u32, offset: i64) -> CopyAt {
        CopyAt { hop, offset }
    }

    #[test]
    fn counts_blocked_keys_heads_and_parked_records_as_the_log_moves() {
        let mut log = LockLog::default();
        assert_eq!(LockSummary::of(&log), LockSummary::default());
        // Key a: record 5 failed (head), 7 and 8 parked behind it. Key b: record 6 failed.
        log.apply(LockEntry::Chain {
            key: "a",
            offset: 5,
            copy: at(1, 0),
        });
        log.apply(LockEntry::Chain {
            key: "b",
            offset: 6,
            copy: at(1, 1),
        });
        for (offset, parked_at) in [(7, 0), (8, 1)] {
            log.apply(LockEntry::Chain {
                key: "a",
                offset,
                copy: at(0, parked_at),
            });
        }
        log.apply(LockEntry::Floor(5));
        let summary = |log: &LockLog<&str>| LockSummary::of(log);
        assert_eq!(
            summary(&log),
            LockSummary {
                blocked_keys: 2,
                heads: 2,
                parked: 2,
                floor: Some(5)
            }
        );
        // a's head moves to its second retry: still a head.
        log.apply(LockEntry::Outcome {
            key: "a",
            offset: 5,
            copy: at(1, 0),
            outcome: LockOutcome::Forwarded(at(2, 0)),
        });
        assert_eq!((summary(&log).heads, summary(&log).parked), (2, 2));
        // a's head is dead-lettered: its first parked record is next, still in the parked
        // topic; b's retry succeeds and b is no longer blocked.
        log.apply(LockEntry::Outcome {
            key: "a",
            offset: 5,
            copy: at(2, 0),
            outcome: LockOutcome::DeadLettered,
        });
        log.apply(LockEntry::Outcome {
            key: "b",
            offset: 6,
            copy: at(1, 1),
            outcome: LockOutcome::Succeeded,
        });
        assert_eq!(
            summary(&log),
            LockSummary {
                blocked_keys: 1,
                heads: 0,
                parked: 2,
                floor: Some(5)
            }
        );
        // The parked record 7 fails: it becomes a's head in the first retry topic.
        log.apply(LockEntry::Outcome {
            key: "a",
            offset: 7,
            copy: at(0, 0),
            outcome: LockOutcome::Forwarded(at(1, 2)),
        });
        assert_eq!((summary(&log).heads, summary(&log).parked), (1, 1));
    }
}
