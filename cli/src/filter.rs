//! Which dead letters a command works on: key, error text, time window, limit.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::args::FilterArgs;
use crate::dead_letter::DeadLetterRow;

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

/// The filter of one command run, its times resolved.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    key: Option<String>,
    error: Option<String>,
    since_ms: Option<i64>,
    until_ms: Option<i64>,
    /// At most this many matches.
    pub limit: Option<usize>,
}

impl Filter {
    /// Resolves the flags at `now_ms`.
    pub fn new(args: &FilterArgs, now_ms: i64) -> Self {
        Self {
            key: args.key.clone(),
            error: args.error.clone(),
            since_ms: args.since.map(|t| t.epoch_ms(now_ms)),
            until_ms: args.until.map(|t| t.epoch_ms(now_ms)),
            limit: args.limit,
        }
    }

    /// True when `row` passes every filter given (the limit is the caller's to count).
    pub fn matches(&self, row: &DeadLetterRow) -> bool {
        let key_ok = self
            .key
            .as_deref()
            .is_none_or(|key| row.key.as_deref() == Some(key));
        let error_ok = self.error.as_deref().is_none_or(|text| {
            [&row.error_type, &row.error_cause_type, &row.error_message]
                .iter()
                .any(|field| field.contains(text))
        });
        let time = row.timestamp_ms;
        let since_ok = self
            .since_ms
            .is_none_or(|since| time.is_some_and(|t| t >= since));
        let until_ok = self
            .until_ms
            .is_none_or(|until| time.is_some_and(|t| t < until));
        key_ok && error_ok && since_ok && until_ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(key: &str, message: &str, timestamp_ms: i64) -> DeadLetterRow {
        DeadLetterRow {
            key: Some(key.to_owned()),
            error_type: "examples::NotFoundYet".into(),
            error_message: message.into(),
            timestamp_ms: Some(timestamp_ms),
            ..DeadLetterRow::default()
        }
    }

    fn args(
        key: Option<&str>,
        error: Option<&str>,
        since: Option<&str>,
        until: Option<&str>,
    ) -> FilterArgs {
        FilterArgs {
            key: key.map(str::to_owned),
            error: error.map(str::to_owned),
            since: since.map(|s| TimeArg::parse(s).unwrap()),
            until: until.map(|s| TimeArg::parse(s).unwrap()),
            limit: None,
        }
    }

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

    #[test]
    fn key_error_and_time_window_all_apply() {
        let now = 1_000_000;
        let ghost = row("ghost", "item ghost not created yet", now - 60_000);
        let all = Filter::new(&args(None, None, None, None), now);
        assert!(all.matches(&ghost));
        assert!(Filter::new(&args(Some("ghost"), None, None, None), now).matches(&ghost));
        assert!(!Filter::new(&args(Some("cup"), None, None, None), now).matches(&ghost));
        assert!(Filter::new(&args(None, Some("not created"), None, None), now).matches(&ghost));
        assert!(Filter::new(&args(None, Some("NotFoundYet"), None, None), now).matches(&ghost));
        assert!(!Filter::new(&args(None, Some("invalid"), None, None), now).matches(&ghost));
        assert!(Filter::new(&args(None, None, Some("2m"), None), now).matches(&ghost));
        assert!(!Filter::new(&args(None, None, Some("30s"), None), now).matches(&ghost));
        assert!(Filter::new(&args(None, None, None, Some("30s")), now).matches(&ghost));
        assert!(!Filter::new(&args(None, None, None, Some("2m")), now).matches(&ghost));
        let keyless = DeadLetterRow::default();
        assert!(!Filter::new(&args(Some("ghost"), None, None, None), now).matches(&keyless));
        assert!(!Filter::new(&args(None, None, Some("1h"), None), now).matches(&keyless));
    }
}
