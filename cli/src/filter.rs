//! Which dead letters a command works on: key, error text, time window, limit.

use crate::args::FilterArgs;
use crate::dead_letter::DeadLetterRow;

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
    use crate::time::TimeArg;

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
