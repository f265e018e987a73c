//! Points in time on the command line: `--since` / `--until` values, and epoch milliseconds.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A `--since` / `--until` value: a duration before now, or a point in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeArg {
    /// `30m`: that long before now.
    Ago(Duration),
    /// `2026-11-25T12:00:00Z`.
    At(SystemTime),
}

impl TimeArg {
    /// Parses `30m`, `2h 15m` or an RFC 3339 time (the `T`, zone and fraction optional).
    pub fn parse(text: &str) -> Result<Self, String> {
        if let Ok(ago) = humantime::parse_duration(text) {
            return Ok(Self::Ago(ago));
        }
        humantime::parse_rfc3339_weak(text)
            .map(Self::At)
            .map_err(|_| {
                format!(
                    "`{text}` is neither a duration (`30m`) nor a time (`2026-11-25T12:00:00Z`)"
                )
            })
    }

    /// Epoch ms of the time meant, at `now_ms`.
    pub fn epoch_ms(&self, now_ms: i64) -> i64 {
        match self {
            Self::Ago(ago) => now_ms.saturating_sub(ago.as_millis() as i64),
            Self::At(at) => epoch_ms(*at),
        }
    }
}

/// Milliseconds since the epoch.
pub fn epoch_ms(time: SystemTime) -> i64 {
    match time.duration_since(UNIX_EPOCH) {
        Ok(since) => since.as_millis() as i64,
        Err(before) => -(before.duration().as_millis() as i64),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_durations_ago_and_points_in_time() {
        assert_eq!(
            TimeArg::parse("30m"),
            Ok(TimeArg::Ago(Duration::from_secs(1800)))
        );
        let at = TimeArg::parse("2026-11-25T12:00:00Z").unwrap();
        assert_eq!(at.epoch_ms(0), 1_795_608_000_000);
        assert_eq!(TimeArg::Ago(Duration::from_secs(2)).epoch_ms(10_000), 8_000);
        assert!(TimeArg::parse("yesterday")
            .unwrap_err()
            .contains("`yesterday` is neither"));
    }
}
