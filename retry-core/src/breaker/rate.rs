//! The failure rate that opens the breaker (`breaker = "20 in 10s"`), and the sliding window
//! that counts failures against it.

use std::collections::VecDeque;
use std::fmt;
use std::str::FromStr;
use std::time::{Duration, Instant};

use crate::duration::{parse_duration, DurationError};

/// The most failures a rate may count: the window keeps one instant per failure counted.
pub const MAX_BREAKER_FAILURES: u32 = 10_000;

/// The longest window a rate may count failures in: failures an hour apart are not an
/// outage.
pub const MAX_BREAKER_WINDOW: Duration = Duration::from_secs(60 * 60);

/// Why a failure rate was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FailureRateError {
    /// Nothing was written.
    #[error("empty failure rate: expected `FAILURES in WINDOW`, like `20 in 10s`, or `off`")]
    Empty,
    /// The text is not of the form `FAILURES in WINDOW`.
    #[error(
        "`{0}` is not a failure rate: expected `FAILURES in WINDOW`, like `20 in 10s`, or `off`"
    )]
    Shape(String),
    /// The count is not a whole number in range.
    #[error("failure count `{0}` must be a whole number from 1 to {MAX_BREAKER_FAILURES}")]
    Count(String),
    /// The window is not a duration.
    #[error("failure window: {0}")]
    Window(#[source] DurationError),
    /// The window is zero.
    #[error("failure window must be at least 1ms")]
    ZeroWindow,
    /// The window is longer than [`MAX_BREAKER_WINDOW`].
    #[error("failure window `{0}` is longer than the one-hour limit")]
    WindowTooLong(String),
}

/// `FAILURES in WINDOW`: the breaker opens once this many counted failures end within one
/// window.
///
/// ```
/// use std::time::Duration;
/// use retry_core::FailureRate;
///
/// let rate: FailureRate = "20 in 10s".parse().unwrap();
/// assert_eq!((rate.failures(), rate.window()), (20, Duration::from_secs(10)));
/// assert_eq!(rate.to_string(), "20 in 10s");
/// assert!("20/10s".parse::<FailureRate>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailureRate {
    failures: u32,
    window: Duration,
}

impl FailureRate {
    /// `failures` in `window`, both in range (1 to [`MAX_BREAKER_FAILURES`], 1 ms to
    /// [`MAX_BREAKER_WINDOW`]).
    pub fn new(failures: u32, window: Duration) -> Option<Self> {
        let in_range = (1..=MAX_BREAKER_FAILURES).contains(&failures)
            && window >= Duration::from_millis(1)
            && window <= MAX_BREAKER_WINDOW;
        in_range.then_some(Self { failures, window })
    }

    /// How many failures open the breaker.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// The span they must end within.
    pub fn window(&self) -> Duration {
        self.window
    }
}

impl FromStr for FailureRate {
    type Err = FailureRateError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        if text.is_empty() {
            return Err(FailureRateError::Empty);
        }
        let (count, window) = text
            .split_once(" in ")
            .ok_or_else(|| FailureRateError::Shape(text.to_owned()))?;
        let count = count.trim();
        let failures = count
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=MAX_BREAKER_FAILURES).contains(n))
            .ok_or_else(|| FailureRateError::Count(count.to_owned()))?;
        let window_text = window.trim();
        let window = parse_duration(window_text).map_err(FailureRateError::Window)?;
        if window.is_zero() {
            return Err(FailureRateError::ZeroWindow);
        }
        if window > MAX_BREAKER_WINDOW {
            return Err(FailureRateError::WindowTooLong(window_text.to_owned()));
        }
        Ok(Self { failures, window })
    }
}

impl fmt::Display for FailureRate {
    /// As the attribute writes it: `20 in 10s`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} in {}",
            self.failures,
            humantime::format_duration(self.window)
        )
    }
}

/// Parses the `breaker` setting: `off` (no failure rate; only `pause_on` errors open the
/// breaker) or a [`FailureRate`].
///
/// ```
/// use retry_core::parse_breaker;
/// assert_eq!(parse_breaker("off"), Ok(None));
/// assert_eq!(parse_breaker("5 in 1s").unwrap().unwrap().failures(), 5);
/// ```
pub fn parse_breaker(text: &str) -> Result<Option<FailureRate>, FailureRateError> {
    match text.trim() {
        "off" => Ok(None),
        rate => rate.parse().map(Some),
    }
}

/// The most recent counted failures, at most a rate's count of them, oldest first.
#[derive(Debug, Clone)]
pub(crate) struct FailureWindow {
    rate: FailureRate,
    recent: VecDeque<Instant>,
}

impl FailureWindow {
    /// An empty window for `rate`.
    pub fn new(rate: FailureRate) -> Self {
        Self {
            rate,
            recent: VecDeque::new(),
        }
    }

    /// Counts a failure at `now` (never earlier than the previous one); true when it makes
    /// the rate's count of failures within one window.
    pub fn failed(&mut self, now: Instant) -> bool {
        self.recent.push_back(now);
        if self.recent.len() > self.rate.failures as usize {
            self.recent.pop_front();
        }
        while self
            .recent
            .front()
            .is_some_and(|oldest| now.duration_since(*oldest) >= self.rate.window)
        {
            self.recent.pop_front();
        }
        self.recent.len() == self.rate.failures as usize
    }

    /// How many failures it holds: at most the rate's count, none older than the window
    /// as of the latest failure.
    pub fn len(&self) -> usize {
        self.recent.len()
    }

    /// Forgets every failure counted.
    pub fn clear(&mut self) {
        self.recent.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn parses_the_grammar() {
        let cases = [
            ("20 in 10s", 20, ms(10_000)),
            (" 1 in 1ms ", 1, ms(1)),
            ("10000 in 1h", 10_000, ms(3_600_000)),
            ("3 in 1m 30s", 3, ms(90_000)),
            ("5  in  500ms", 5, ms(500)),
        ];
        for (text, failures, window) in cases {
            let rate: FailureRate = text.parse().unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(
                (rate.failures(), rate.window()),
                (failures, window),
                "{text}"
            );
            assert_eq!(rate.to_string().parse::<FailureRate>(), Ok(rate), "{text}");
        }
    }

    #[test]
    fn rejects_nonsense_with_the_reason() {
        let err = |t: &str| t.parse::<FailureRate>().unwrap_err();
        assert_eq!(err(""), FailureRateError::Empty);
        assert_eq!(err("20/10s"), FailureRateError::Shape("20/10s".into()));
        assert_eq!(
            err("20 per 10s"),
            FailureRateError::Shape("20 per 10s".into())
        );
        assert_eq!(err("0 in 10s"), FailureRateError::Count("0".into()));
        assert_eq!(err("-1 in 10s"), FailureRateError::Count("-1".into()));
        assert_eq!(err("10001 in 10s"), FailureRateError::Count("10001".into()));
        assert_eq!(err("50% in 10s"), FailureRateError::Count("50%".into()));
        assert_eq!(
            err("20 in 10"),
            FailureRateError::Window(DurationError::MissingUnit("10".into()))
        );
        assert_eq!(err("20 in 0s"), FailureRateError::ZeroWindow);
        assert_eq!(
            err("20 in 2h"),
            FailureRateError::WindowTooLong("2h".into())
        );
        assert_eq!(
            err("20/10s").to_string(),
            "`20/10s` is not a failure rate: expected `FAILURES in WINDOW`, like `20 in 10s`, \
             or `off`"
        );
        assert_eq!(parse_breaker(" off "), Ok(None));
        assert_eq!(
            parse_breaker("on"),
            Err(FailureRateError::Shape("on".into()))
        );
    }

    #[test]
    fn new_checks_the_ranges() {
        assert!(FailureRate::new(1, ms(1)).is_some());
        assert!(FailureRate::new(0, ms(1)).is_none());
        assert!(FailureRate::new(MAX_BREAKER_FAILURES + 1, ms(1)).is_none());
        assert!(FailureRate::new(1, Duration::ZERO).is_none());
        assert!(FailureRate::new(1, MAX_BREAKER_WINDOW + ms(1)).is_none());
    }

    #[test]
    fn the_window_slides() {
        let start = Instant::now();
        let mut window = FailureWindow::new(FailureRate::new(3, ms(1000)).unwrap());
        assert!(!window.failed(start));
        assert!(!window.failed(start + ms(500)));
        // The first failure is a whole window old: it no longer counts.
        assert!(!window.failed(start + ms(1000)));
        assert!(
            window.failed(start + ms(1400)),
            "500, 1000, 1400 are within 1s"
        );
        window.clear();
        assert!(!window.failed(start + ms(1500)));
    }
}
