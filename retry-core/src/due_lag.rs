//! Due lag: how far a record waiting on a retry topic or DLT is past the time it was due.
//!
//! Consumer lag misleads on retry topics: a record waiting for its backoff is lag by that
//! measure while nothing is wrong. Due lag counts only the time after a record fell due, so
//! it stays at zero while retries wait as planned and grows only when they are late.

use std::time::Duration;

/// How far past `due_ms` the time `now_ms` is; zero when the record is not due yet.
pub fn due_lag(due_ms: i64, now_ms: i64) -> Duration {
    Duration::from_millis(now_ms.saturating_sub(due_ms).max(0) as u64)
}

/// The records of a backlog (not yet consumed by a group), summed up.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Backlog {
    /// Records waiting.
    pub waiting: u64,
    /// Of these, records whose due time has passed.
    pub past_due: u64,
    /// Due lag of the record furthest past its due time.
    pub due_lag: Duration,
    /// Timestamp (epoch ms) of the oldest record waiting.
    pub oldest_ms: Option<i64>,
}

impl Backlog {
    /// Counts a record written at `timestamp_ms` and due at `due_ms` (its backoff timestamp;
    /// a record without one, a dead letter, is due when written).
    pub fn add(&mut self, timestamp_ms: i64, due_ms: Option<i64>, now_ms: i64) {
        let due_ms = due_ms.unwrap_or(timestamp_ms);
        self.waiting += 1;
        if due_ms <= now_ms {
            self.past_due += 1;
            self.due_lag = self.due_lag.max(due_lag(due_ms, now_ms));
        }
        self.oldest_ms = Some(self.oldest_ms.map_or(timestamp_ms, |o| o.min(timestamp_ms)));
    }

    /// Counts a record written at `timestamp_ms` that waits for something other than a time
    /// (a parked record of `ordering = "key"` waits for its key's earlier records): never
    /// past due.
    pub fn add_undue(&mut self, timestamp_ms: i64) {
        self.waiting += 1;
        self.oldest_ms = Some(self.oldest_ms.map_or(timestamp_ms, |o| o.min(timestamp_ms)));
    }

    /// Adds up two backlogs (of two partitions).
    pub fn merge(&mut self, other: &Backlog) {
        self.waiting += other.waiting;
        self.past_due += other.past_due;
        self.due_lag = self.due_lag.max(other.due_lag);
        self.oldest_ms = match (self.oldest_ms, other.oldest_ms) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_not_due_yet_has_no_lag() {
        assert_eq!(due_lag(10_000, 9_000), Duration::ZERO);
        assert_eq!(due_lag(10_000, 10_000), Duration::ZERO);
        assert_eq!(due_lag(10_000, 12_500), Duration::from_millis(2_500));
        assert_eq!(
            due_lag(i64::MIN, i64::MAX),
            Duration::from_millis(i64::MAX as u64)
        );
    }

    #[test]
    fn a_backlog_counts_what_is_past_due_and_how_far() {
        let now = 100_000;
        let mut backlog = Backlog::default();
        backlog.add(90_000, Some(95_000), now); // 5 s late
        backlog.add(99_000, Some(101_000), now); // waits as planned
        backlog.add(80_000, None, now); // a dead letter: due when written, 20 s ago
        backlog.add_undue(85_000); // parked: waits for its key, never late
        assert_eq!(
            backlog,
            Backlog {
                waiting: 4,
                past_due: 2,
                due_lag: Duration::from_secs(20),
                oldest_ms: Some(80_000),
            }
        );
        let mut other = Backlog::default();
        other.add(70_000, Some(200_000), now);
        backlog.merge(&other);
        assert_eq!(backlog.waiting, 5);
        assert_eq!(backlog.past_due, 2);
        assert_eq!(backlog.oldest_ms, Some(70_000));
        let mut empty = Backlog::default();
        empty.merge(&Backlog::default());
        assert_eq!(empty, Backlog::default());
    }
}
