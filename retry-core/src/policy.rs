//! One listener's resolved retry policy.

use std::time::Duration;

use crate::backoff::Backoff;
use crate::classify::{DltRoute, ErrorFilter, HandlerError};
use crate::duration::MAX_DELAY;
use crate::headers::MAX_ATTEMPTS;

/// How retry topics are named.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SuffixStrategy {
    /// `-retry-<delay in ms>`, Spring's default: `orders-retry-1000`.
    #[default]
    Delay,
    /// `-retry-<index>`: `orders-retry-0`, `orders-retry-1`.
    Index,
}

/// How retries that wait the same delay use topics: Spring's `SameIntervalTopicReuseStrategy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TopicReuse {
    /// `SINGLE_TOPIC`, Spring's default since 3.2 ("Uses a single retry topic for sequential
    /// attempts with the same interval"): retries repeating the last delay share one topic,
    /// and a chain with a single retry topic names it `orders-retry`.
    #[default]
    Single,
    /// `MULTIPLE_TOPICS` ("Uses one separate topic per retry attempt"), the naming before 3.2:
    /// a fixed delay gives `orders-retry-0`, `orders-retry-1`, …; a delay repeated at the end
    /// of the chain gives `orders-retry-4000-0`, `orders-retry-4000-1`, ….
    Multiple,
}

/// What happens to dead letters, and when the DLT handler itself fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DltStrategy {
    /// A failing DLT handler re-publishes the record to the DLT, to be handled again later.
    #[default]
    AlwaysRetry,
    /// A failing DLT handler is logged and the record committed.
    Fail,
    /// There is no DLT: records that would go there are logged and dropped.
    None,
}

/// Why a policy was rejected.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PolicyError {
    /// `attempts` counts deliveries including the first, so it is at least 1.
    #[error("attempts must be at least 1 (it counts deliveries including the first)")]
    ZeroAttempts,
    /// A retry would wait longer than a day.
    #[error(
        "retry {retry} would wait longer than a day ({backoff} over {attempts} attempts); \
         set max_delay or lower attempts"
    )]
    DelayTooLong {
        /// 1-based retry number.
        retry: u32,
        /// The backoff, as written.
        backoff: String,
        /// The configured attempts.
        attempts: u32,
    },
    /// `timeout` is zero or longer than a day.
    #[error("timeout must be between 1ms and one day, got {0:?}")]
    TimeoutOutOfRange(Duration),
    /// More deliveries than the `retry_topic-attempts` header can count: Spring reads a value
    /// above 32767 as 1, which would restart the chain instead of ending it.
    #[error("attempts must be at most {max}, got {0}", max = MAX_ATTEMPTS)]
    TooManyAttempts(u32),
}

/// Everything that decides where a failed record goes next.
///
/// Built with [`RetryPolicy::builder`]; the `#[retryable_topic]` attribute builds one from its
/// arguments and environment overrides (see [`crate::ListenerConfig`]).
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// The main topic.
    pub topic: String,
    /// The consumer group of the main topic; retry and DLT groups derive from it.
    pub group: String,
    /// Deliveries including the first.
    pub attempts: u32,
    /// Delay before each retry.
    pub backoff: Backoff,
    /// Total time budget, counted from the original record's timestamp.
    pub timeout: Option<Duration>,
    /// Retry topic naming.
    pub suffix: SuffixStrategy,
    /// What retry topic names start with after the main topic's (Spring's `retryTopicSuffix`,
    /// default `-retry`).
    pub retry_topic_suffix: String,
    /// What DLT names end with (Spring's `dltTopicSuffix`, default `-dlt`).
    pub dlt_topic_suffix: String,
    /// Whether retries with the same delay share a topic.
    pub topic_reuse: TopicReuse,
    /// Dead-letter strategy.
    pub dlt: DltStrategy,
    /// Which errors are retried.
    pub errors: ErrorFilter,
    /// Errors whose dead letters go to a DLT of their own, first match wins.
    pub dlt_routes: &'static [DltRoute],
}

impl RetryPolicy {
    /// Starts a policy for `topic` with Spring's defaults: 3 attempts, fixed 1 s backoff,
    /// delay suffixes `-retry` and `-dlt`, one topic for a repeated delay, a DLT, every error
    /// retryable, group named after the topic.
    pub fn builder(topic: impl Into<String>) -> RetryPolicyBuilder {
        let topic = topic.into();
        RetryPolicyBuilder(RetryPolicy {
            group: topic.clone(),
            topic,
            attempts: 3,
            backoff: Backoff::default(),
            timeout: None,
            suffix: SuffixStrategy::default(),
            retry_topic_suffix: DEFAULT_RETRY_TOPIC_SUFFIX.to_owned(),
            dlt_topic_suffix: DEFAULT_DLT_TOPIC_SUFFIX.to_owned(),
            topic_reuse: TopicReuse::default(),
            dlt: DltStrategy::default(),
            errors: ErrorFilter::RetryAll,
            dlt_routes: &[],
        })
    }

    /// Number of retries (deliveries after the first).
    pub fn retries(&self) -> u32 {
        self.attempts - 1
    }

    /// The index in [`dlt_routes`](Self::dlt_routes) of the first route naming a type in the
    /// failure's cause chain, as Spring picks a DLT (`DefaultDestinationTopicResolver
    /// #isMatchingDltTopic`: the exception or one of its causes is an instance of a listed
    /// type); `None` sends the record to the generic DLT.
    pub fn dlt_route(&self, failure: &HandlerError) -> Option<usize> {
        self.dlt_routes
            .iter()
            .position(|route| route.errors.iter().any(|t| t.matches(failure)))
    }
}

/// Spring's `RetryTopicConstants.DEFAULT_RETRY_SUFFIX`.
pub const DEFAULT_RETRY_TOPIC_SUFFIX: &str = "-retry";
/// Spring's `RetryTopicConstants.DEFAULT_DLT_SUFFIX`.
pub const DEFAULT_DLT_TOPIC_SUFFIX: &str = "-dlt";

/// Builder for [`RetryPolicy`]; [`build`](Self::build) validates.
#[derive(Debug, Clone)]
pub struct RetryPolicyBuilder(RetryPolicy);

impl RetryPolicyBuilder {
    /// Consumer group of the main topic.
    pub fn group(mut self, group: impl Into<String>) -> Self {
        self.0.group = group.into();
        self
    }

    /// Deliveries including the first.
    pub fn attempts(mut self, attempts: u32) -> Self {
        self.0.attempts = attempts;
        self
    }

    /// Delay before each retry.
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.0.backoff = backoff;
        self
    }

    /// Total time budget from the original record.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.0.timeout = Some(timeout);
        self
    }

    /// Retry topic naming.
    pub fn suffix(mut self, suffix: SuffixStrategy) -> Self {
        self.0.suffix = suffix;
        self
    }

    /// What retry topic names start with after the main topic's.
    pub fn retry_topic_suffix(mut self, suffix: impl Into<String>) -> Self {
        self.0.retry_topic_suffix = suffix.into();
        self
    }

    /// What DLT names end with.
    pub fn dlt_topic_suffix(mut self, suffix: impl Into<String>) -> Self {
        self.0.dlt_topic_suffix = suffix.into();
        self
    }

    /// Whether retries with the same delay share a topic.
    pub fn topic_reuse(mut self, reuse: TopicReuse) -> Self {
        self.0.topic_reuse = reuse;
        self
    }

    /// Errors whose dead letters go to a DLT of their own.
    pub fn dlt_routes(mut self, routes: &'static [DltRoute]) -> Self {
        self.0.dlt_routes = routes;
        self
    }

    /// Dead-letter strategy.
    pub fn dlt(mut self, dlt: DltStrategy) -> Self {
        self.0.dlt = dlt;
        self
    }

    /// Which errors are retried.
    pub fn errors(mut self, errors: ErrorFilter) -> Self {
        self.0.errors = errors;
        self
    }

    /// Validates and returns the policy.
    pub fn build(self) -> Result<RetryPolicy, PolicyError> {
        let p = self.0;
        if p.attempts == 0 {
            return Err(PolicyError::ZeroAttempts);
        }
        if p.attempts > MAX_ATTEMPTS {
            return Err(PolicyError::TooManyAttempts(p.attempts));
        }
        if let Some(retry) = (0..p.retries()).find(|&n| p.backoff.exceeds_limit(n)) {
            return Err(PolicyError::DelayTooLong {
                retry: retry + 1,
                backoff: p.backoff.to_string(),
                attempts: p.attempts,
            });
        }
        if let Some(t) = p.timeout {
            if t.is_zero() || t > MAX_DELAY {
                return Err(PolicyError::TimeoutOutOfRange(t));
            }
        }
        Ok(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_spring() {
        let p = RetryPolicy::builder("orders").build().unwrap();
        assert_eq!((p.attempts, p.retries()), (3, 2));
        assert!(p.backoff.is_fixed());
        assert_eq!(p.backoff.initial(), Duration::from_secs(1));
        assert_eq!(p.group, "orders");
        assert_eq!(
            (p.suffix, p.dlt),
            (SuffixStrategy::Delay, DltStrategy::AlwaysRetry)
        );
        assert_eq!(
            (
                p.retry_topic_suffix.as_str(),
                p.dlt_topic_suffix.as_str(),
                p.topic_reuse
            ),
            ("-retry", "-dlt", TopicReuse::Single)
        );
        assert!(p.dlt_routes.is_empty());
    }

    #[derive(Debug, thiserror::Error)]
    #[error("invalid")]
    struct Invalid;

    #[derive(Debug, thiserror::Error)]
    #[error("rejected")]
    struct Rejected(#[source] Invalid);

    static VALIDATION: [crate::ErrorType; 1] = [crate::ErrorType::of::<Invalid>()];
    static DECODE: [crate::ErrorType; 1] = [crate::ErrorType::of::<crate::DecodeError>()];
    static ROUTES: [DltRoute; 2] = [
        DltRoute::new("-validation", &VALIDATION),
        DltRoute::new("-decode", &DECODE),
    ];

    #[test]
    fn dead_letters_route_by_a_type_anywhere_in_the_chain() {
        let p = RetryPolicy::builder("t")
            .dlt_routes(&ROUTES)
            .build()
            .unwrap();
        let route = |e: HandlerError| p.dlt_route(&e);
        assert_eq!(route(HandlerError::failed(Invalid)), Some(0));
        assert_eq!(
            route(HandlerError::failed(
                anyhow::Error::new(Rejected(Invalid)).context("x")
            )),
            Some(0)
        );
        assert_eq!(
            route(HandlerError::Decode(crate::DecodeError::Missing)),
            Some(1)
        );
        assert_eq!(route(HandlerError::failed(anyhow::anyhow!("other"))), None);
        assert_eq!(route(HandlerError::Panicked("p".into())), None);
    }

    #[test]
    fn rejects_zero_attempts_and_runaway_delays() {
        assert_eq!(
            RetryPolicy::builder("t").attempts(0).build(),
            Err(PolicyError::ZeroAttempts)
        );
        let err = RetryPolicy::builder("t")
            .attempts(30)
            .backoff("1s*2".parse().unwrap())
            .build()
            .unwrap_err();
        assert!(
            matches!(err, PolicyError::DelayTooLong { retry: 18, .. }),
            "{err}"
        );
        assert!(err.to_string().contains("set max_delay"));
        assert_eq!(
            RetryPolicy::builder("t").timeout(Duration::ZERO).build(),
            Err(PolicyError::TimeoutOutOfRange(Duration::ZERO))
        );
        assert!(RetryPolicy::builder("t").attempts(32_767).build().is_ok());
        let err = RetryPolicy::builder("t")
            .attempts(32_768)
            .build()
            .unwrap_err();
        assert_eq!(err, PolicyError::TooManyAttempts(32_768));
        assert_eq!(err.to_string(), "attempts must be at most 32767, got 32768");
    }
}
