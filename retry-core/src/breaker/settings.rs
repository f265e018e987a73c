//! A listener's breaker settings: the failure rate that opens it, and when it probes.

use std::time::Duration;

use crate::backoff::{Backoff, BackoffError, Jitter};

use super::rate::FailureRate;

/// The `probe` setting's default: the first probe 5 s after the breaker opens, each next one
/// twice as long after a failed probe.
pub const DEFAULT_PROBE: &str = "5s*2";

/// The `max_probe_delay` setting's default: an open breaker probes at least once a minute
/// (or once per first probe delay, when that is longer).
pub const DEFAULT_MAX_PROBE_DELAY: Duration = Duration::from_secs(60);

/// What opens a listener's breaker besides `pause_on` errors, and how it probes while open.
///
/// ```
/// use std::time::Duration;
/// use retry_core::{BreakerSettings, FailureRate};
///
/// let rate: FailureRate = "20 in 10s".parse().unwrap();
/// let settings = BreakerSettings::new(Some(rate), "1s*2".parse().unwrap(), None).unwrap();
/// let delays: Vec<Duration> = (0..8).map(|n| settings.probe_delay(n)).collect();
/// assert_eq!(delays.iter().map(Duration::as_secs).collect::<Vec<_>>(), [1, 2, 4, 8, 16, 32, 60, 60]);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct BreakerSettings {
    rate: Option<FailureRate>,
    probe: Backoff,
}

impl Default for BreakerSettings {
    /// No failure rate (only `pause_on` errors open the breaker), probes from 5 s, doubling
    /// up to a minute.
    fn default() -> Self {
        let probe = DEFAULT_PROBE.parse().expect("a valid backoff");
        Self::new(None, probe, None).expect("the default cap is above the default probe")
    }
}

impl BreakerSettings {
    /// `rate` (`None`: the `breaker = "off"` default), and probes spaced by `probe`, each
    /// delay capped by `max_probe_delay` (default [`DEFAULT_MAX_PROBE_DELAY`], or the first
    /// delay when that is longer). A cap below the first delay is an error, as for
    /// `max_delay`; the probe backoff's own jitter and cap are not used.
    pub fn new(
        rate: Option<FailureRate>,
        probe: Backoff,
        max_probe_delay: Option<Duration>,
    ) -> Result<Self, BackoffError> {
        let cap = max_probe_delay.unwrap_or(DEFAULT_MAX_PROBE_DELAY.max(probe.initial()));
        let probe = probe.with_jitter(Jitter::default()).with_max_delay(cap)?;
        Ok(Self { rate, probe })
    }

    /// The failure rate that opens the breaker, if any.
    pub fn rate(&self) -> Option<FailureRate> {
        self.rate
    }

    /// The first probe's delay after the breaker opens.
    pub fn first_probe(&self) -> Duration {
        self.probe.initial()
    }

    /// The longest delay between probes.
    pub fn max_probe_delay(&self) -> Duration {
        self.probe.max_delay()
    }

    /// The delay before the next probe after `failed_probes` probes failed in a row (0: the
    /// breaker has just opened).
    pub fn probe_delay(&self, failed_probes: u32) -> Duration {
        self.probe.delay(failed_probes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn defaults_probe_from_five_seconds_doubling_to_a_minute() {
        let settings = BreakerSettings::default();
        assert_eq!(settings.rate(), None);
        let delays: Vec<Duration> = (0..6).map(|n| settings.probe_delay(n)).collect();
        assert_eq!(
            delays,
            [secs(5), secs(10), secs(20), secs(40), secs(60), secs(60)]
        );
        assert_eq!(settings.probe_delay(u32::MAX), secs(60));
        assert_eq!(
            (settings.first_probe(), settings.max_probe_delay()),
            (secs(5), secs(60))
        );
    }

    #[test]
    fn the_cap_is_checked_and_follows_a_long_first_delay() {
        let probe: Backoff = "2m".parse().unwrap();
        let settings = BreakerSettings::new(None, probe, None).unwrap();
        assert_eq!(
            settings.max_probe_delay(),
            secs(120),
            "never below the first delay"
        );
        assert_eq!(
            BreakerSettings::new(None, "10s".parse().unwrap(), Some(secs(5))),
            Err(BackoffError::MaxDelayBelowInitial {
                max: secs(5),
                initial: secs(10)
            })
        );
    }

    #[test]
    fn the_probe_backoffs_own_cap_and_jitter_are_ignored() {
        let probe = "1s*3"
            .parse::<Backoff>()
            .unwrap()
            .with_max_delay(secs(2))
            .unwrap()
            .with_jitter(Jitter::new(0.5).unwrap());
        let settings = BreakerSettings::new(None, probe, Some(secs(30))).unwrap();
        let delays: Vec<Duration> = (0..5).map(|n| settings.probe_delay(n)).collect();
        assert_eq!(delays, [secs(1), secs(3), secs(9), secs(27), secs(30)]);
    }
}
