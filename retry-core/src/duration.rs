//! Durations as written in attributes and environment variables (`"500ms"`, `"1s"`, `"2m"`).

use std::time::Duration;

/// The longest delay or time budget a setting may name: one day. A retry that waits longer is
/// almost always a typo, and Kafka's default retention would delete the record first.
pub const MAX_DELAY: Duration = Duration::from_secs(24 * 60 * 60);

/// Why a duration string was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    /// Nothing was written.
    #[error("empty duration: expected a number with a unit, like `500ms` or `1s`")]
    Empty,
    /// A number without a unit is ambiguous (Spring reads milliseconds, humans read seconds).
    #[error("`{0}` has no unit: write ms, s, m or h, like `{0}ms` or `{0}s`")]
    MissingUnit(String),
    /// The text is not a duration; the reason comes from the parser.
    #[error("`{text}` is not a duration ({reason}); expected a number with a unit ms, s, m or h")]
    Invalid {
        /// The offending text.
        text: String,
        /// What the parser disliked.
        reason: String,
    },
    /// The duration is longer than [`MAX_DELAY`].
    #[error("`{0}` is longer than the one-day limit")]
    TooLong(String),
}

/// Parses a duration such as `500ms`, `1s`, `2m`, `1h` or `1m 30s`.
///
/// Parsing is delegated to `humantime`; this adds the project's rules: a unit is required and
/// nothing may exceed [`MAX_DELAY`].
///
/// ```
/// use std::time::Duration;
/// assert_eq!(retry_core::parse_duration("250ms"), Ok(Duration::from_millis(250)));
/// assert!(retry_core::parse_duration("25h").is_err());
/// ```
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(DurationError::Empty);
    }
    if text.chars().all(|c| c.is_ascii_digit() || c == '.') {
        return Err(DurationError::MissingUnit(text.to_owned()));
    }
    let duration = humantime::parse_duration(text).map_err(|e| DurationError::Invalid {
        text: text.to_owned(),
        reason: e.to_string(),
    })?;
    if duration > MAX_DELAY {
        return Err(DurationError::TooLong(text.to_owned()));
    }
    Ok(duration)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_each_unit() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1s"), Ok(Duration::from_secs(1)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration(" 1m 30s "), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("24h"), Ok(MAX_DELAY));
    }

    #[test]
    fn rejects_nonsense_precisely() {
        assert_eq!(parse_duration(""), Err(DurationError::Empty));
        assert_eq!(
            parse_duration("100"),
            Err(DurationError::MissingUnit("100".into()))
        );
        assert_eq!(
            parse_duration("25h"),
            Err(DurationError::TooLong("25h".into()))
        );
        assert!(matches!(
            parse_duration("5 parsecs"),
            Err(DurationError::Invalid { .. })
        ));
        assert!(matches!(
            parse_duration("-1s"),
            Err(DurationError::Invalid { .. })
        ));
        assert!(matches!(
            parse_duration("99999999999999999999999s"),
            Err(DurationError::Invalid { .. })
        ));
    }
}
