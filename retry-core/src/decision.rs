//! The "what next" decision for a handled record.

use std::time::Duration;

use crate::backoff::Backoff;
use crate::classify::ErrorClass;
use crate::policy::{DltStrategy, RetryPolicy};
use crate::settings::ProcessingOrder;
use crate::topics::{DestinationTopic, TopicPlan};

/// The facts about one failed delivery that the decision needs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Failure {
    /// The delivery that failed: 1 on the main topic, 2 on the first retry topic, …
    pub attempt: u32,
    /// Epoch milliseconds of the record on the main topic.
    pub original_timestamp_ms: i64,
    /// Epoch milliseconds now.
    pub now_ms: i64,
    /// What the classifier said about the error.
    pub class: ErrorClass,
    /// The exception-based DLT route the error matched ([`RetryPolicy::dlt_route`]), `None`
    /// for the generic DLT.
    pub dlt_route: Option<usize>,
    /// A uniform random number in `[0, 1]` for jitter (0.5 means none).
    pub jitter_sample: f64,
}

/// Why a record goes to the DLT (or is dropped when there is none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeadLetterReason {
    /// Every allowed delivery failed.
    AttemptsExhausted {
        /// Deliveries made.
        attempts: u32,
    },
    /// The error is not one to retry (`include` / `exclude`).
    NotRetryable,
    /// The record could not be decoded.
    Undecodable,
    /// The next retry would be due after the listener's `timeout`.
    TimeoutExceeded {
        /// The configured budget.
        timeout: Duration,
    },
}

impl std::fmt::Display for DeadLetterReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::AttemptsExhausted { attempts } => write!(f, "all {attempts} attempts failed"),
            Self::NotRetryable => f.write_str("error is not retryable"),
            Self::Undecodable => f.write_str("record could not be decoded"),
            Self::TimeoutExceeded { timeout } => {
                write!(f, "next retry would pass the {timeout:?} timeout")
            }
        }
    }
}

/// Where a handled record goes next.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision<'p> {
    /// The handler succeeded: commit.
    Done,
    /// Publish to a retry topic, to be handled as delivery `next_attempt` at `due_ms`.
    Retry {
        /// Destination retry topic.
        topic: &'p DestinationTopic,
        /// The delivery number of the next handling: the `retry_topic-attempts` value to write,
        /// [`forward_attempts`](crate::headers::forward_attempts) of the failed delivery.
        next_attempt: u32,
        /// Epoch milliseconds when the record is due.
        due_ms: i64,
    },
    /// Publish to a dead-letter topic, with the `retry_topic-attempts` value
    /// [`forward_attempts`](crate::headers::forward_attempts) of the failed delivery.
    DeadLetter {
        /// The DLT: the one of the error's route, else the generic one.
        topic: &'p DestinationTopic,
        /// Why.
        reason: DeadLetterReason,
    },
    /// No DLT is configured (`dlt = "none"`): log and commit.
    Drop {
        /// Why the record would have been dead-lettered.
        reason: DeadLetterReason,
    },
}

/// Decides where a record goes after delivery `failure.attempt` ended with `outcome`.
///
/// `None` as the outcome means the handler succeeded.
///
/// ```
/// use retry_core::{decide, Decision, ErrorClass, Failure, RetryPolicy, TopicPlan};
///
/// let policy = RetryPolicy::builder("orders").attempts(4).backoff("1s*2".parse().unwrap()).build().unwrap();
/// let plan = TopicPlan::new(&policy).unwrap();
/// let failure = Failure {
///     attempt: 2,
///     original_timestamp_ms: 0,
///     now_ms: 10_000,
///     class: ErrorClass::Retryable,
///     dlt_route: None,
///     jitter_sample: 0.5,
/// };
/// match decide(&policy, &plan, Some(failure)) {
///     Decision::Retry { topic, next_attempt, due_ms } => {
///         assert_eq!((topic.name.as_str(), next_attempt, due_ms), ("orders-retry-2000", 3, 12_000));
///     }
///     other => panic!("{other:?}"),
/// }
/// ```
pub fn decide<'p>(
    policy: &RetryPolicy,
    plan: &'p TopicPlan,
    failure: Option<Failure>,
) -> Decision<'p> {
    let Some(failure) = failure else {
        return Decision::Done;
    };
    let dead = |reason| match plan.dlt_for(failure.dlt_route) {
        Some(topic) => Decision::DeadLetter { topic, reason },
        None => Decision::Drop { reason },
    };
    match failure.class {
        ErrorClass::Fatal => return dead(DeadLetterReason::Undecodable),
        ErrorClass::NotRetryable => return dead(DeadLetterReason::NotRetryable),
        ErrorClass::Retryable => {}
    }
    let retry = failure.attempt.max(1) - 1;
    let Some(topic) = plan
        .retry_topic(retry)
        .filter(|_| failure.attempt < policy.attempts)
    else {
        return dead(DeadLetterReason::AttemptsExhausted {
            attempts: failure.attempt,
        });
    };
    let delay = policy.backoff.jittered_delay(retry, failure.jitter_sample);
    let due_ms = failure.now_ms.saturating_add(delay.as_millis() as i64);
    if let Some(timeout) = policy.timeout {
        let deadline = failure
            .original_timestamp_ms
            .saturating_add(timeout.as_millis() as i64);
        if due_ms > deadline {
            return dead(DeadLetterReason::TimeoutExceeded { timeout });
        }
    }
    Decision::Retry {
        topic,
        next_attempt: crate::headers::forward_attempts(failure.attempt),
        due_ms,
    }
}

/// What to do when the DLT handler itself fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DltFailureAction {
    /// Publish the record to the DLT again, to be handled later.
    Republish,
    /// Hand the record to the DLT handler again after `after`, in place: its key's later
    /// dead letters wait (`ordering = "key"`, where a re-published record would let them
    /// pass it).
    RetryInPlace {
        /// How long to wait before the next try.
        after: Duration,
    },
    /// Log the failure and commit.
    LogAndCommit,
}

impl DltStrategy {
    /// The action for a failing DLT handler under this strategy, for a listener whose
    /// records are handled in `ordering`; a record tried again waits one initial `backoff`
    /// delay, so a DLT handler that keeps failing does not spin.
    pub fn on_handler_failure(
        self,
        ordering: ProcessingOrder,
        backoff: &Backoff,
    ) -> DltFailureAction {
        match (self, ordering) {
            (DltStrategy::AlwaysRetry, ProcessingOrder::Key) => DltFailureAction::RetryInPlace {
                after: backoff.initial(),
            },
            (DltStrategy::AlwaysRetry, _) => DltFailureAction::Republish,
            (DltStrategy::Fail | DltStrategy::None, _) => DltFailureAction::LogAndCommit,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        Backoff, DestinationKind, DltRoute, ErrorClass::*, ErrorType, SuffixStrategy, TopicReuse,
    };
    use proptest::prelude::*;

    fn policy(attempts: u32, backoff: &str, timeout: Option<u64>, dlt: DltStrategy) -> RetryPolicy {
        let mut b = RetryPolicy::builder("orders")
            .attempts(attempts)
            .backoff(backoff.parse().unwrap())
            .dlt(dlt);
        if let Some(ms) = timeout {
            b = b.timeout(Duration::from_millis(ms));
        }
        b.build().unwrap()
    }

    fn failure(attempt: u32, now_ms: i64, class: ErrorClass) -> Failure {
        Failure {
            attempt,
            original_timestamp_ms: 1_000_000,
            now_ms,
            class,
            dlt_route: None,
            jitter_sample: 0.5,
        }
    }

    /// A short description of a decision for table tests.
    fn describe(d: &Decision<'_>) -> String {
        match d {
            Decision::Done => "done".into(),
            Decision::Retry {
                topic,
                next_attempt,
                due_ms,
            } => {
                format!("retry {} #{next_attempt} @{due_ms}", topic.name)
            }
            Decision::DeadLetter { topic, reason } => format!("dlt {} ({reason})", topic.name),
            Decision::Drop { reason } => format!("drop ({reason})"),
        }
    }

    #[test]
    fn decision_table() {
        let always = DltStrategy::AlwaysRetry;
        let now = 1_000_500;
        let cases: Vec<(RetryPolicy, Option<Failure>, &str)> = vec![
            (policy(4, "1s*2", None, always), None, "done"),
            (
                policy(4, "1s*2", None, always),
                Some(failure(1, now, Retryable)),
                "retry orders-retry-1000 #2 @1001500",
            ),
            (
                policy(4, "1s*2", None, always),
                Some(failure(2, now, Retryable)),
                "retry orders-retry-2000 #3 @1002500",
            ),
            (
                policy(4, "1s*2", None, always),
                Some(failure(3, now, Retryable)),
                "retry orders-retry-4000 #4 @1004500",
            ),
            (
                policy(4, "1s*2", None, always),
                Some(failure(4, now, Retryable)),
                "dlt orders-dlt (all 4 attempts failed)",
            ),
            (
                policy(4, "1s*2", None, always),
                Some(failure(9, now, Retryable)),
                "dlt orders-dlt (all 9 attempts failed)",
            ),
            (
                policy(4, "1s*2", None, always),
                Some(failure(1, now, NotRetryable)),
                "dlt orders-dlt (error is not retryable)",
            ),
            (
                policy(4, "1s*2", None, always),
                Some(failure(2, now, Fatal)),
                "dlt orders-dlt (record could not be decoded)",
            ),
            (
                policy(1, "1s*2", None, always),
                Some(failure(1, now, Retryable)),
                "dlt orders-dlt (all 1 attempts failed)",
            ),
            (
                policy(3, "1s", None, DltStrategy::None),
                Some(failure(3, now, Retryable)),
                "drop (all 3 attempts failed)",
            ),
            (
                policy(3, "1s", None, DltStrategy::Fail),
                Some(failure(1, now, Fatal)),
                "dlt orders-dlt (record could not be decoded)",
            ),
            // timeout 2 s from the original record at 1_000_000: a retry due at 1_001_500 fits ...
            (
                policy(4, "1s*2", Some(2000), always),
                Some(failure(1, now, Retryable)),
                "retry orders-retry-1000 #2 @1001500",
            ),
            // ... one due at 1_002_500 does not.
            (
                policy(4, "1s*2", Some(2000), always),
                Some(failure(2, now, Retryable)),
                "dlt orders-dlt (next retry would pass the 2s timeout)",
            ),
            // attempt 0 (a header that says nothing sensible) counts as the first delivery.
            (
                policy(2, "1s", None, always),
                Some(failure(0, now, Retryable)),
                "retry orders-retry #1 @1001500",
            ),
        ];
        for (policy, failure, expected) in cases {
            let plan = TopicPlan::new(&policy).unwrap();
            assert_eq!(
                describe(&decide(&policy, &plan, failure)),
                expected,
                "{failure:?}"
            );
        }
    }

    #[derive(Debug, thiserror::Error)]
    #[error("invalid")]
    struct Invalid;

    static INVALID: [ErrorType; 1] = [ErrorType::of::<Invalid>()];
    static ROUTES: [DltRoute; 2] = [
        DltRoute::new("-validation", &INVALID),
        DltRoute::new(".decode", &INVALID),
    ];

    #[test]
    fn dead_letters_go_to_the_dlt_of_their_route() {
        let policy = RetryPolicy::builder("orders")
            .attempts(3)
            .dlt_routes(&ROUTES)
            .build()
            .unwrap();
        let plan = TopicPlan::new(&policy).unwrap();
        let routed = |attempt, class, dlt_route| {
            let f = Failure {
                dlt_route,
                ..failure(attempt, 1_000_500, class)
            };
            describe(&decide(&policy, &plan, Some(f)))
        };
        assert_eq!(
            routed(1, NotRetryable, Some(0)),
            "dlt orders-validation-dlt (error is not retryable)"
        );
        assert_eq!(
            routed(3, Retryable, Some(1)),
            "dlt orders.decode-dlt (all 3 attempts failed)"
        );
        assert_eq!(
            routed(1, Fatal, None),
            "dlt orders-dlt (record could not be decoded)"
        );
        assert_eq!(
            routed(1, Retryable, Some(0)),
            "retry orders-retry #2 @1001500",
            "a route only matters once the record is dead-lettered"
        );
        assert_eq!(
            routed(3, Retryable, Some(7)),
            "dlt orders-dlt (all 3 attempts failed)",
            "an unknown route falls back to the generic DLT"
        );
        let none = RetryPolicy::builder("orders")
            .dlt(DltStrategy::None)
            .dlt_routes(&ROUTES)
            .build()
            .unwrap();
        let plan = TopicPlan::new(&none).unwrap();
        let f = Failure {
            dlt_route: Some(0),
            ..failure(1, 0, NotRetryable)
        };
        assert_eq!(
            describe(&decide(&none, &plan, Some(f))),
            "drop (error is not retryable)"
        );
    }

    #[test]
    fn dlt_failure_actions() {
        let backoff: Backoff = "1500ms*2".parse().unwrap();
        let action = |dlt: DltStrategy, ordering| dlt.on_handler_failure(ordering, &backoff);
        for ordering in [ProcessingOrder::Partition, ProcessingOrder::Unordered] {
            assert_eq!(
                action(DltStrategy::AlwaysRetry, ordering),
                DltFailureAction::Republish
            );
        }
        assert_eq!(
            action(DltStrategy::AlwaysRetry, ProcessingOrder::Key),
            DltFailureAction::RetryInPlace {
                after: Duration::from_millis(1500)
            },
            "in key mode a re-published dead letter would pass its key's later ones"
        );
        for ordering in [
            ProcessingOrder::Partition,
            ProcessingOrder::Unordered,
            ProcessingOrder::Key,
        ] {
            assert_eq!(
                action(DltStrategy::Fail, ordering),
                DltFailureAction::LogAndCommit
            );
            assert_eq!(
                action(DltStrategy::None, ordering),
                DltFailureAction::LogAndCommit
            );
        }
    }

    fn arb_policy() -> impl Strategy<Value = RetryPolicy> {
        (
            1u32..12,
            1u64..5_000,
            prop_oneof![Just(1.0), 1.0f64..4.0],
            proptest::option::of(5_000u64..60_000),
            proptest::option::of(1u64..600_000),
            (
                prop_oneof![Just(SuffixStrategy::Delay), Just(SuffixStrategy::Index)],
                prop_oneof![Just(TopicReuse::Single), Just(TopicReuse::Multiple)],
                any::<bool>(),
            ),
            prop_oneof![
                Just(DltStrategy::AlwaysRetry),
                Just(DltStrategy::Fail),
                Just(DltStrategy::None)
            ],
            0.0f64..=1.0,
        )
            .prop_filter_map(
                "chain within the one-day limit",
                |(attempts, delay, mult, max, timeout, (suffix, reuse, routes), dlt, jitter)| {
                    let mut backoff: Backoff = format!("{delay}ms*{mult}").parse().unwrap();
                    if let Some(max) = max {
                        backoff = backoff
                            .with_max_delay(Duration::from_millis(max.max(delay)))
                            .unwrap();
                    }
                    let backoff = backoff.with_jitter(crate::Jitter::new(jitter).unwrap());
                    let mut b = RetryPolicy::builder("orders")
                        .attempts(attempts)
                        .backoff(backoff)
                        .suffix(suffix)
                        .topic_reuse(reuse)
                        .dlt_routes(if routes { &ROUTES } else { &[] })
                        .dlt(dlt);
                    if let Some(t) = timeout {
                        b = b.timeout(Duration::from_millis(t));
                    }
                    b.build().ok()
                },
            )
    }

    proptest! {
        /// Walk a record through the chain, failing with random classes, each delivery
        /// handled exactly at its due time. Every path ends, attempts never exceed the limit,
        /// due times never decrease, and each hop goes to the topic the plan names.
        #[test]
        fn every_path_ends_within_limits(
            policy in arb_policy(),
            classes in proptest::collection::vec(prop_oneof![8 => Just(Retryable), 1 => Just(NotRetryable), 1 => Just(Fatal)], 1..16),
            samples in proptest::collection::vec(0.0f64..=1.0, 16),
            lateness in proptest::collection::vec(0i64..500, 16),
            dlt_route in proptest::option::of(0usize..3),
        ) {
            let plan = TopicPlan::new(&policy).unwrap();
            let original = 1_700_000_000_000i64;
            let (mut attempt, mut now, mut last_due) = (1u32, original, original);
            for step in 0..=policy.attempts as usize {
                let class = classes[step % classes.len()];
                let f = Failure { attempt, original_timestamp_ms: original, now_ms: now, class, dlt_route, jitter_sample: samples[step % 16] };
                match decide(&policy, &plan, Some(f)) {
                    Decision::Retry { topic, next_attempt, due_ms } => {
                        prop_assert_eq!(class, Retryable);
                        prop_assert_eq!(next_attempt, attempt + 1);
                        prop_assert!(next_attempt <= policy.attempts, "attempt {} > {}", next_attempt, policy.attempts);
                        prop_assert!(due_ms >= last_due && due_ms >= now, "due {} before {}", due_ms, last_due.max(now));
                        prop_assert_eq!(Some(topic), plan.retry_topic(attempt - 1));
                        prop_assert_eq!(topic.kind, DestinationKind::Retry { delay: policy.backoff.delay(attempt - 1) });
                        if let Some(t) = policy.timeout {
                            prop_assert!(due_ms <= original + t.as_millis() as i64);
                        }
                        last_due = due_ms;
                        attempt = next_attempt;
                        now = due_ms + lateness[step % 16];
                    }
                    Decision::DeadLetter { topic, reason } => {
                        prop_assert_eq!(Some(topic), plan.dlt_for(dlt_route));
                        let routed = dlt_route.filter(|r| *r < policy.dlt_routes.len());
                        let expected = match routed {
                            Some(r) => format!("orders{}-dlt", policy.dlt_routes[r].suffix),
                            None => "orders-dlt".to_owned(),
                        };
                        prop_assert_eq!(&topic.name, &expected);
                        if let DeadLetterReason::AttemptsExhausted { attempts } = reason {
                            prop_assert_eq!(attempts, policy.attempts);
                        }
                        return Ok(());
                    }
                    Decision::Drop { .. } => {
                        prop_assert_eq!(policy.dlt, DltStrategy::None);
                        return Ok(());
                    }
                    Decision::Done => prop_assert!(false, "a failure is never done"),
                }
            }
            prop_assert!(false, "the path did not end within {} deliveries", policy.attempts);
        }
    }
}
