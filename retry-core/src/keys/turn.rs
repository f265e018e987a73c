//! What a task of `ordering = "key"` does with a record when its turn in its key's lane comes,
//! and which lock-log entry it writes after (design/key-order.md, *The rules*).
//!
//! ```
//! use retry_core::{ChainLink, CopyAt, LockEntry, LockLog, Turn, Went};
//!
//! let mut log = LockLog::default();
//! let first = ChainLink::Main { key: "a", offset: 100 };
//! assert_eq!(first.turn(&log), Turn::Handle);
//! // It failed and was forwarded to the first retry topic, at offset 7 there.
//! let copy = CopyAt { hop: 1, offset: 7 };
//! let entry = first.entry(Went::Copied(copy)).unwrap();
//! log.apply(entry);
//! // The key's next record is parked; the retry copy is current.
//! assert_eq!(ChainLink::Main { key: "a", offset: 101 }.turn(&log), Turn::Park);
//! assert_eq!(ChainLink::Copy { key: "a", offset: 100, copy }.turn(&log), Turn::Handle);
//! ```

use std::hash::Hash;

use crate::keys::lock_log::{CopyAt, LockEntry, LockLog, LockOutcome, Verdict};

/// A record of a key-ordered listener, as the lock log names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainLink<K> {
    /// Record `offset` of the main topic.
    Main {
        /// Its key.
        key: K,
        /// Its offset.
        offset: i64,
    },
    /// A copy in a retry or parked topic of main-topic record `offset`.
    Copy {
        /// Its key.
        key: K,
        /// The main-topic offset of the record it carries (`kafka_original-offset`).
        offset: i64,
        /// Where the copy is.
        copy: CopyAt,
    },
}

/// What a task does with a record whose turn came.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Turn {
    /// Call the handler.
    Handle,
    /// Finish it without a call: a main record decided already (read again after a restart
    /// or a rebalance), or a stale copy.
    Skip,
    /// Forward it to the parked topic: its key is blocked (main records only).
    Park,
    /// Keep it until the log moves: an earlier record of its key is unresolved, or the entry
    /// that names it is not in the log yet (copies only).
    Wait,
}

/// Where a record went once its turn was done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Went {
    /// Its handler succeeded.
    Handled,
    /// It was forwarded to a retry or the parked topic, at this position.
    Copied(CopyAt),
    /// It reached a DLT, or was dropped (`dlt = "none"`): it is resolved.
    DeadLettered,
}

impl<K: Hash + Eq + Clone> ChainLink<K> {
    /// What to do with the record, as `log` stands.
    pub fn turn(&self, log: &LockLog<K>) -> Turn {
        match self {
            Self::Main { key, offset } if log.decided(key, *offset) => Turn::Skip,
            Self::Main { key, .. } if log.is_blocked(key) => Turn::Park,
            Self::Main { .. } => Turn::Handle,
            Self::Copy { key, offset, copy } => match log.judge(key, *offset, *copy) {
                Verdict::Current => Turn::Handle,
                Verdict::Stale => Turn::Skip,
                Verdict::Waiting | Verdict::Pending => Turn::Wait,
            },
        }
    }

    /// The entry to write once the record went where `went` says, before its offset is
    /// finished: a chain entry for a main record that entered the chain, an outcome for a
    /// copy; none for a main record handled or dead-lettered at once.
    pub fn entry(self, went: Went) -> Option<LockEntry<K>> {
        match (self, went) {
            (Self::Main { key, offset }, Went::Copied(copy)) => {
                Some(LockEntry::Chain { key, offset, copy })
            }
            (Self::Main { .. }, Went::Handled | Went::DeadLettered) => None,
            (Self::Copy { key, offset, copy }, went) => Some(LockEntry::Outcome {
                key,
                offset,
                copy,
                outcome: match went {
                    Went::Handled => LockOutcome::Succeeded,
                    Went::Copied(next) => LockOutcome::Forwarded(next),
                    Went::DeadLettered => LockOutcome::DeadLettered,
                },
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RETRY: CopyAt = CopyAt { hop: 1, offset: 3 };
    const PARKED: CopyAt = CopyAt { hop: 0, offset: 5 };

    fn main(offset: i64) -> ChainLink<&'static str> {
        ChainLink::Main { key: "k", offset }
    }

    fn copy(offset: i64, copy: CopyAt) -> ChainLink<&'static str> {
        ChainLink::Copy {
            key: "k",
            offset,
            copy,
        }
    }

    /// The log after record 10 of `k` failed (its copy at `RETRY`) and record 12 was parked.
    fn blocked() -> LockLog<&'static str> {
        let mut log = LockLog::default();
        for entry in [
            main(10).entry(Went::Copied(RETRY)),
            main(12).entry(Went::Copied(PARKED)),
        ] {
            log.apply(entry.unwrap());
        }
        log
    }

    #[test]
    fn a_main_record_is_skipped_if_decided_parked_if_blocked_else_handled() {
        let log = blocked();
        assert_eq!(main(10).turn(&log), Turn::Skip, "entered the chain");
        assert_eq!(main(11).turn(&log), Turn::Skip, "before a chained record");
        assert_eq!(main(13).turn(&log), Turn::Park);
        let other = ChainLink::Main {
            key: "other",
            offset: 14,
        };
        assert_eq!(other.turn(&log), Turn::Handle);
    }

    #[test]
    fn copies_run_in_chain_order_and_duplicates_are_skipped() {
        let mut log = blocked();
        assert_eq!(copy(10, RETRY).turn(&log), Turn::Handle);
        assert_eq!(copy(12, PARKED).turn(&log), Turn::Wait, "behind 10");
        let later = CopyAt { hop: 2, offset: 1 };
        assert_eq!(
            copy(10, later).turn(&log),
            Turn::Wait,
            "its entry is to come"
        );
        log.apply(copy(10, RETRY).entry(Went::Copied(later)).unwrap());
        assert_eq!(copy(10, RETRY).turn(&log), Turn::Skip, "moved past");
        assert_eq!(copy(10, later).turn(&log), Turn::Handle);
        log.apply(copy(10, later).entry(Went::DeadLettered).unwrap());
        assert_eq!(
            copy(12, PARKED).turn(&log),
            Turn::Handle,
            "the head resolved"
        );
        log.apply(copy(12, PARKED).entry(Went::Handled).unwrap());
        assert_eq!(copy(12, PARKED).turn(&log), Turn::Skip);
        assert_eq!(main(13).turn(&log), Turn::Handle, "unblocked");
    }

    #[test]
    fn a_main_record_handled_or_dead_lettered_at_once_writes_nothing() {
        assert_eq!(main(1).entry(Went::Handled), None);
        assert_eq!(main(1).entry(Went::DeadLettered), None);
    }
}
