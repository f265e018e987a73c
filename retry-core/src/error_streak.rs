//! Whether a partition's error has lasted long enough to call the partition dead.
//!
//! librdkafka reports some partition errors once and then stops fetching the partition:
//! `auto.offset.reset=error` with no committed offset, a topic the consumer may no longer read.
//! Nothing else is ever heard from such a partition, so a streak starts at its first error and
//! lasts until a record is read from it again; one that lasts [`DEAD_PARTITION_AFTER`] means
//! the partition is dead and the app should say so rather than look healthy.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use retry_core::ErrorStreak;
//!
//! let start = Instant::now();
//! let mut streak = ErrorStreak::new(Duration::from_secs(60));
//! streak.error(start, "offset reset");
//! assert_eq!(streak.deadline(), Some(start + Duration::from_secs(60)));
//! assert!(streak.persisted(start + Duration::from_secs(59)).is_none());
//! streak.record(); // a record read: the partition is alive
//! assert!(streak.persisted(start + Duration::from_secs(61)).is_none());
//! ```

use std::time::{Duration, Instant};

/// How long a partition may stay in error with no record read from it before it counts as
/// dead. Long enough that an error librdkafka recovers from by itself (a leader moving, a
/// broker restarting) has long been followed by records on a partition that has any; short
/// enough that a liveness probe restarts a replica whose partition stopped for good within
/// minutes rather than never.
pub const DEAD_PARTITION_AFTER: Duration = Duration::from_secs(60);

/// One partition's current run of errors: since when, and the latest error.
#[derive(Debug, Clone)]
pub struct ErrorStreak<E> {
    bound: Duration,
    current: Option<(Instant, E)>,
}

impl<E> ErrorStreak<E> {
    /// No streak yet; one lasting `bound` counts as [`persisted`](Self::persisted).
    pub fn new(bound: Duration) -> Self {
        Self {
            bound,
            current: None,
        }
    }

    /// An error at `at`: starts a streak unless one runs, and keeps `error` as the latest.
    pub fn error(&mut self, at: Instant, error: E) {
        let since = self.current.as_ref().map_or(at, |(since, _)| *since);
        self.current = Some((since, error));
    }

    /// A record was read: the partition is alive, the streak is over.
    pub fn record(&mut self) {
        self.current = None;
    }

    /// When the running streak will have persisted, if one runs.
    pub fn deadline(&self) -> Option<Instant> {
        self.current.as_ref().map(|(since, _)| *since + self.bound)
    }

    /// The latest error and how long the streak has lasted, once it has lasted the bound at
    /// `now`.
    pub fn persisted(&self, now: Instant) -> Option<(&E, Duration)> {
        let (since, error) = self.current.as_ref()?;
        let lasted = now.saturating_duration_since(*since);
        (lasted >= self.bound).then_some((error, lasted))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOUND: Duration = Duration::from_secs(60);

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn no_error_never_persists() {
        let streak = ErrorStreak::<&str>::new(BOUND);
        assert!(streak.persisted(Instant::now() + secs(3600)).is_none());
        assert_eq!(streak.deadline(), None);
    }

    #[test]
    fn a_streak_persists_from_its_first_error_and_names_the_latest() {
        let start = Instant::now();
        let mut streak = ErrorStreak::new(BOUND);
        streak.error(start, "first");
        streak.error(start + secs(30), "second");
        assert_eq!(streak.deadline(), Some(start + BOUND));
        assert!(streak.persisted(start + secs(59)).is_none());
        assert_eq!(streak.persisted(start + BOUND), Some((&"second", BOUND)));
        assert_eq!(
            streak.persisted(start + secs(90)),
            Some((&"second", secs(90)))
        );
    }

    #[test]
    fn a_record_ends_the_streak_and_the_next_error_starts_afresh() {
        let start = Instant::now();
        let mut streak = ErrorStreak::new(BOUND);
        streak.error(start, "first");
        streak.record();
        assert!(streak.persisted(start + secs(120)).is_none());
        streak.error(start + secs(50), "again");
        assert!(streak.persisted(start + secs(100)).is_none());
        assert_eq!(streak.deadline(), Some(start + secs(110)));
        assert_eq!(streak.persisted(start + secs(110)), Some((&"again", BOUND)));
    }

    #[test]
    fn an_instant_before_the_streak_does_not_underflow() {
        let start = Instant::now() + secs(10);
        let mut streak = ErrorStreak::new(BOUND);
        streak.error(start, "e");
        assert!(streak.persisted(start - secs(5)).is_none());
    }
}
