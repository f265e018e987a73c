//! Backoff values: how long to wait before each retry.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use crate::duration::{parse_duration, DurationError, MAX_DELAY};

/// Why a backoff specification was rejected.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BackoffError {
    /// The delay part (before `*`) is not a valid duration.
    #[error("backoff delay: {0}")]
    Delay(#[source] DurationError),
    /// The delay is zero.
    #[error("backoff delay must be at least 1ms")]
    ZeroDelay,
    /// The multiplier (after `*`) is not a number.
    #[error("backoff multiplier `{0}` is not a number")]
    MultiplierNotANumber(String),
    /// The multiplier would shrink or freeze delays, or is not finite.
    #[error("backoff multiplier `{0}` must be a finite number of at least 1 (1 means fixed)")]
    MultiplierOutOfRange(String),
    /// `max_delay` is not a valid duration.
    #[error("max_delay: {0}")]
    MaxDelay(#[source] DurationError),
    /// `max_delay` is below the first delay.
    #[error("max_delay {max:?} is shorter than the first backoff delay {initial:?}")]
    MaxDelayBelowInitial {
        /// The configured maximum.
        max: Duration,
        /// The first delay.
        initial: Duration,
    },
}

/// Spread applied to each delay so that retries of many records do not arrive in lock step.
///
/// A jitter of `0.1` picks each delay uniformly in ±10 % of its nominal value (never above
/// `max_delay`). Topic names always use the nominal delays.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Jitter(f64);

impl Jitter {
    /// A jitter fraction in `[0, 1]`.
    pub fn new(fraction: f64) -> Option<Self> {
        (0.0..=1.0).contains(&fraction).then_some(Self(fraction))
    }

    /// The fraction, in `[0, 1]`.
    pub fn fraction(self) -> f64 {
        self.0
    }
}

impl FromStr for Jitter {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        text.trim()
            .parse::<f64>()
            .ok()
            .and_then(Self::new)
            .ok_or_else(|| format!("jitter `{text}` must be a fraction between 0 and 1, like 0.1"))
    }
}

/// The delay before each retry: `initial * multiplier^n`, capped by `max_delay`, spread by
/// [`Jitter`].
///
/// Written `DELAY[*MULTIPLIER]`:
///
/// ```
/// use std::time::Duration;
/// use retry_core::Backoff;
///
/// let backoff: Backoff = "1s*2".parse().unwrap();
/// let delays: Vec<Duration> = (0..3).map(|n| backoff.delay(n)).collect();
/// assert_eq!(delays, [Duration::from_secs(1), Duration::from_secs(2), Duration::from_secs(4)]);
///
/// let capped = backoff.with_max_delay(Duration::from_secs(3)).unwrap();
/// assert_eq!(capped.delay(5), Duration::from_secs(3));
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    initial: Duration,
    multiplier: f64,
    max_delay: Option<Duration>,
    jitter: Jitter,
}

impl Default for Backoff {
    /// Spring's default: a fixed one-second delay.
    fn default() -> Self {
        Self::fixed(Duration::from_secs(1))
    }
}

impl Backoff {
    /// The same delay before every retry.
    pub fn fixed(delay: Duration) -> Self {
        Self {
            initial: delay,
            multiplier: 1.0,
            max_delay: None,
            jitter: Jitter::default(),
        }
    }

    /// Caps every delay at `max_delay`.
    pub fn with_max_delay(self, max_delay: Duration) -> Result<Self, BackoffError> {
        if max_delay < self.initial {
            return Err(BackoffError::MaxDelayBelowInitial {
                max: max_delay,
                initial: self.initial,
            });
        }
        Ok(Self {
            max_delay: Some(max_delay),
            ..self
        })
    }

    /// Spreads every delay by `jitter`.
    pub fn with_jitter(self, jitter: Jitter) -> Self {
        Self { jitter, ..self }
    }

    /// True when every retry waits the same time (no multiplier).
    pub fn is_fixed(&self) -> bool {
        self.multiplier == 1.0
    }

    /// The first delay.
    pub fn initial(&self) -> Duration {
        self.initial
    }

    /// The growth factor between consecutive delays.
    pub fn multiplier(&self) -> f64 {
        self.multiplier
    }

    /// The cap on any delay: `max_delay` when set, else the one-day limit.
    pub fn max_delay(&self) -> Duration {
        self.max_delay.unwrap_or(MAX_DELAY)
    }

    /// True when retry `n` would wait longer than a day and no `max_delay` says that a cap is
    /// intended: a policy with such a chain is rejected rather than silently capped.
    pub fn exceeds_limit(&self, n: u32) -> bool {
        self.max_delay.is_none() && self.uncapped_millis(n) > MAX_DELAY.as_millis() as f64
    }

    fn uncapped_millis(&self, n: u32) -> f64 {
        let factor = self.multiplier.powi(n.min(i32::MAX as u32) as i32);
        self.initial.as_millis() as f64 * factor
    }

    /// The configured jitter.
    pub fn jitter(&self) -> Jitter {
        self.jitter
    }

    /// The nominal delay before retry `n` (0 is the first retry), to the millisecond, capped by
    /// `max_delay`. Saturates instead of overflowing.
    pub fn delay(&self, n: u32) -> Duration {
        let cap = self.max_delay().as_millis() as f64;
        Duration::from_millis(self.uncapped_millis(n).min(cap).floor() as u64)
    }

    /// The delay before retry `n` with jitter applied; `sample` is a uniform random number in
    /// `[0, 1]` supplied by the caller (so this stays deterministic and testable).
    pub fn jittered_delay(&self, n: u32, sample: f64) -> Duration {
        let nominal = self.delay(n).as_millis() as f64;
        let spread = self.jitter.fraction() * (2.0 * sample.clamp(0.0, 1.0) - 1.0);
        let cap = self.max_delay().as_millis() as f64;
        Duration::from_millis((nominal * (1.0 + spread)).min(cap).round() as u64)
    }
}

impl FromStr for Backoff {
    type Err = BackoffError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (delay, multiplier) = match text.split_once('*') {
            Some((delay, multiplier)) => (delay, Some(multiplier.trim())),
            None => (text, None),
        };
        let initial = parse_duration(delay).map_err(BackoffError::Delay)?;
        if initial.is_zero() {
            return Err(BackoffError::ZeroDelay);
        }
        let multiplier = match multiplier {
            None => 1.0,
            Some(m) => {
                let value: f64 = m
                    .parse()
                    .map_err(|_| BackoffError::MultiplierNotANumber(m.to_owned()))?;
                if !value.is_finite() || value < 1.0 {
                    return Err(BackoffError::MultiplierOutOfRange(m.to_owned()));
                }
                value
            }
        };
        Ok(Self {
            multiplier,
            ..Self::fixed(initial)
        })
    }
}

impl fmt::Display for Backoff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", humantime::format_duration(self.initial))?;
        if !self.is_fixed() {
            write!(f, "*{}", self.multiplier)?;
        }
        Ok(())
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
            ("500ms", ms(500), 1.0),
            ("1s*2", ms(1000), 2.0),
            ("250ms*1.5", ms(250), 1.5),
            ("2m", ms(120_000), 1.0),
            ("1h * 1", ms(3_600_000), 1.0),
        ];
        for (text, initial, multiplier) in cases {
            let b: Backoff = text.parse().unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(
                (b.initial(), b.multiplier()),
                (initial, multiplier),
                "{text}"
            );
        }
    }

    #[test]
    fn rejects_nonsense_with_the_reason() {
        let err = |t: &str| t.parse::<Backoff>().unwrap_err();
        assert_eq!(err("1s*0"), BackoffError::MultiplierOutOfRange("0".into()));
        assert_eq!(
            err("1s*-2"),
            BackoffError::MultiplierOutOfRange("-2".into())
        );
        assert_eq!(
            err("1s*0.5"),
            BackoffError::MultiplierOutOfRange("0.5".into())
        );
        assert_eq!(
            err("1s*inf"),
            BackoffError::MultiplierOutOfRange("inf".into())
        );
        assert_eq!(
            err("1s*two"),
            BackoffError::MultiplierNotANumber("two".into())
        );
        assert_eq!(err("0ms"), BackoffError::ZeroDelay);
        assert_eq!(err(""), BackoffError::Delay(DurationError::Empty));
        assert_eq!(err("*2"), BackoffError::Delay(DurationError::Empty));
        assert_eq!(
            err("2d"),
            BackoffError::Delay(DurationError::TooLong("2d".into()))
        );
        assert!(matches!(
            err("1fortnight"),
            BackoffError::Delay(DurationError::Invalid { .. })
        ));
        assert!(err("1x").to_string().contains("unit"), "{}", err("1x"));
    }

    #[test]
    fn delays_grow_and_cap() {
        let b: Backoff = "1s*2".parse().unwrap();
        assert_eq!(b.delay(0), ms(1000));
        assert_eq!(b.delay(3), ms(8000));
        let capped = b.with_max_delay(ms(3000)).unwrap();
        let delays: Vec<_> = (0..5).map(|n| capped.delay(n)).collect();
        assert_eq!(delays, [ms(1000), ms(2000), ms(3000), ms(3000), ms(3000)]);
        assert_eq!(b.delay(u32::MAX), MAX_DELAY, "saturates at the one-day cap");
        assert!(b.exceeds_limit(17), "2^17 s is more than a day");
        assert!(!b.exceeds_limit(16));
        assert!(
            !capped.exceeds_limit(u32::MAX),
            "an explicit max_delay caps on purpose"
        );
    }

    #[test]
    fn max_delay_below_initial_is_an_error() {
        let b: Backoff = "2s".parse().unwrap();
        assert_eq!(
            b.with_max_delay(ms(1000)),
            Err(BackoffError::MaxDelayBelowInitial {
                max: ms(1000),
                initial: ms(2000)
            })
        );
    }

    #[test]
    fn jitter_spreads_within_bounds() {
        let b = "1s"
            .parse::<Backoff>()
            .unwrap()
            .with_jitter(Jitter::new(0.1).unwrap());
        assert_eq!(b.jittered_delay(0, 0.0), ms(900));
        assert_eq!(b.jittered_delay(0, 0.5), ms(1000));
        assert_eq!(b.jittered_delay(0, 1.0), ms(1100));
        assert_eq!(b.delay(0), ms(1000), "nominal delay ignores jitter");
        assert!("1.5".parse::<Jitter>().is_err());
        assert!("x".parse::<Jitter>().is_err());
        assert_eq!("0.25".parse::<Jitter>(), Ok(Jitter(0.25)));
    }

    #[test]
    fn displays_round_trip() {
        for text in ["500ms", "1s*2", "250ms*1.5"] {
            let b: Backoff = text.parse().unwrap();
            assert_eq!(b.to_string().parse::<Backoff>().unwrap(), b);
        }
    }
}
