//! The destination topics of one listener and their consumer groups.

use std::time::Duration;

use crate::policy::{DltStrategy, RetryPolicy, SuffixStrategy};

/// Kafka's limit on a topic name's length.
const MAX_TOPIC_LEN: usize = 249;

/// Why a topic name is not acceptable to Kafka.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TopicError {
    /// Empty, `.` or `..`.
    #[error("topic name `{0}` is not allowed by Kafka")]
    Reserved(String),
    /// A character outside `[a-zA-Z0-9._-]`.
    #[error("topic name `{name}` has the character {bad:?}; Kafka allows only ASCII letters, digits, `.`, `_` and `-`")]
    IllegalCharacter {
        /// The whole name.
        name: String,
        /// The first illegal character.
        bad: char,
    },
    /// Longer than 249 characters (possibly only after a suffix was added).
    #[error("topic name `{name}` is {len} characters long; Kafka allows at most 249")]
    TooLong {
        /// The whole name.
        name: String,
        /// Its length.
        len: usize,
    },
}

/// Checks a topic name the way the Kafka broker does.
pub fn validate_topic_name(name: &str) -> Result<(), TopicError> {
    if name.is_empty() || name == "." || name == ".." {
        return Err(TopicError::Reserved(name.to_owned()));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Err(TopicError::IllegalCharacter {
            name: name.to_owned(),
            bad,
        });
    }
    if name.len() > MAX_TOPIC_LEN {
        return Err(TopicError::TooLong {
            name: name.to_owned(),
            len: name.len(),
        });
    }
    Ok(())
}

/// What a destination topic is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DestinationKind {
    /// The topic the application's producers write to.
    Main,
    /// A retry topic whose records wait `delay` (nominal) before handling.
    Retry {
        /// Nominal delay of the records on this topic.
        delay: Duration,
    },
    /// The dead-letter topic.
    Dlt,
}

/// One topic a listener consumes, with the consumer group that consumes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DestinationTopic {
    /// Topic name.
    pub name: String,
    /// Consumer group reading it.
    pub group: String,
    /// Its role.
    pub kind: DestinationKind,
}

impl DestinationTopic {
    fn new(policy: &RetryPolicy, suffix: &str, kind: DestinationKind) -> Result<Self, TopicError> {
        let name = format!("{}{suffix}", policy.topic);
        validate_topic_name(&name)?;
        Ok(Self {
            name,
            group: format!("{}{suffix}", policy.group),
            kind,
        })
    }
}

/// The ordered destinations of one listener: main topic, distinct retry topics, DLT.
///
/// Naming follows Spring Kafka so that mixed fleets share topics:
/// * delay suffixes: `orders-retry-1000`, `orders-retry-2000`, …; a delay repeated at the end
///   of the chain (because of `max_delay`) reuses the last topic;
/// * index suffixes: `orders-retry-0`, `orders-retry-1`, …, with the same reuse;
/// * a fixed backoff (no multiplier) uses the one topic `orders-retry` (Spring 3.2+);
/// * `attempts = 1` has no retry topic; `dlt = "none"` has no DLT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicPlan {
    main: DestinationTopic,
    retries: Vec<DestinationTopic>,
    route: Vec<usize>,
    dlt: Option<DestinationTopic>,
}

impl TopicPlan {
    /// Derives the destinations of `policy`, checking every name against Kafka's rules.
    pub fn new(policy: &RetryPolicy) -> Result<Self, TopicError> {
        let main = DestinationTopic::new(policy, "", DestinationKind::Main)?;
        let delays: Vec<Duration> = (0..policy.retries())
            .map(|n| policy.backoff.delay(n))
            .collect();
        let first_of_tail = delays
            .iter()
            .rposition(|d| Some(d) != delays.last())
            .map_or(0, |i| i + 1);
        let mut retries: Vec<DestinationTopic> = Vec::new();
        let mut route = Vec::with_capacity(delays.len());
        for (n, &delay) in delays.iter().enumerate() {
            let suffix = match policy.suffix {
                _ if policy.backoff.is_fixed() => "-retry".to_owned(),
                SuffixStrategy::Delay => format!("-retry-{}", delay.as_millis()),
                SuffixStrategy::Index => format!("-retry-{}", n.min(first_of_tail)),
            };
            let topic = DestinationTopic::new(policy, &suffix, DestinationKind::Retry { delay })?;
            let slot = match retries.iter().position(|t| t.name == topic.name) {
                Some(slot) => slot,
                None => {
                    retries.push(topic);
                    retries.len() - 1
                }
            };
            route.push(slot);
        }
        let dlt = match policy.dlt {
            DltStrategy::None => None,
            _ => Some(DestinationTopic::new(policy, "-dlt", DestinationKind::Dlt)?),
        };
        Ok(Self {
            main,
            retries,
            route,
            dlt,
        })
    }

    /// The main topic.
    pub fn main(&self) -> &DestinationTopic {
        &self.main
    }

    /// The distinct retry topics, in chain order.
    pub fn retry_topics(&self) -> &[DestinationTopic] {
        &self.retries
    }

    /// The topic that retry `n` (0 is the first retry, i.e. delivery 2) is published to.
    pub fn retry_topic(&self, n: u32) -> Option<&DestinationTopic> {
        self.route.get(n as usize).map(|&slot| &self.retries[slot])
    }

    /// The dead-letter topic, unless `dlt = "none"`.
    pub fn dlt(&self) -> Option<&DestinationTopic> {
        self.dlt.as_ref()
    }

    /// Every topic, main first, DLT last.
    pub fn topics(&self) -> impl Iterator<Item = &DestinationTopic> {
        std::iter::once(&self.main)
            .chain(&self.retries)
            .chain(&self.dlt)
    }

    /// The retry topic names in the order a record walks them (repeats included).
    pub fn retry_path(&self) -> Vec<&str> {
        self.route
            .iter()
            .map(|&s| self.retries[s].name.as_str())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Backoff;

    fn plan(
        attempts: u32,
        backoff: &str,
        max_delay: Option<u64>,
        suffix: SuffixStrategy,
    ) -> TopicPlan {
        let mut b: Backoff = backoff.parse().unwrap();
        if let Some(ms) = max_delay {
            b = b.with_max_delay(Duration::from_millis(ms)).unwrap();
        }
        let policy = RetryPolicy::builder("orders")
            .group("billing")
            .attempts(attempts)
            .backoff(b)
            .suffix(suffix)
            .build()
            .unwrap();
        TopicPlan::new(&policy).unwrap()
    }

    fn names(p: &TopicPlan) -> Vec<&str> {
        p.topics().map(|t| t.name.as_str()).collect()
    }

    use SuffixStrategy::{Delay, Index};

    /// attempts, backoff, max_delay in ms, suffix, expected topics, expected retry path.
    type NamingCase = (
        u32,
        &'static str,
        Option<u64>,
        SuffixStrategy,
        &'static [&'static str],
        &'static [&'static str],
    );

    #[test]
    fn naming_table() {
        let cases: &[NamingCase] = &[
            (
                4,
                "1s*2",
                None,
                Delay,
                &[
                    "orders",
                    "orders-retry-1000",
                    "orders-retry-2000",
                    "orders-retry-4000",
                    "orders-dlt",
                ],
                &[
                    "orders-retry-1000",
                    "orders-retry-2000",
                    "orders-retry-4000",
                ],
            ),
            (
                4,
                "1s*2",
                None,
                Index,
                &[
                    "orders",
                    "orders-retry-0",
                    "orders-retry-1",
                    "orders-retry-2",
                    "orders-dlt",
                ],
                &["orders-retry-0", "orders-retry-1", "orders-retry-2"],
            ),
            (
                5,
                "1s*2",
                Some(3000),
                Delay,
                &[
                    "orders",
                    "orders-retry-1000",
                    "orders-retry-2000",
                    "orders-retry-3000",
                    "orders-dlt",
                ],
                &[
                    "orders-retry-1000",
                    "orders-retry-2000",
                    "orders-retry-3000",
                    "orders-retry-3000",
                ],
            ),
            (
                5,
                "1s*2",
                Some(3000),
                Index,
                &[
                    "orders",
                    "orders-retry-0",
                    "orders-retry-1",
                    "orders-retry-2",
                    "orders-dlt",
                ],
                &[
                    "orders-retry-0",
                    "orders-retry-1",
                    "orders-retry-2",
                    "orders-retry-2",
                ],
            ),
            (
                4,
                "5s",
                None,
                Delay,
                &["orders", "orders-retry", "orders-dlt"],
                &["orders-retry", "orders-retry", "orders-retry"],
            ),
            (
                4,
                "5s",
                None,
                Index,
                &["orders", "orders-retry", "orders-dlt"],
                &["orders-retry"; 3],
            ),
            (1, "1s*2", None, Delay, &["orders", "orders-dlt"], &[]),
            (
                3,
                "1s*2",
                Some(1000),
                Delay,
                &["orders", "orders-retry-1000", "orders-dlt"],
                &["orders-retry-1000", "orders-retry-1000"],
            ),
        ];
        for (attempts, backoff, max, suffix, topics, path) in cases {
            let p = plan(*attempts, backoff, *max, *suffix);
            assert_eq!(
                names(&p),
                *topics,
                "{attempts} {backoff} {max:?} {suffix:?}"
            );
            assert_eq!(
                p.retry_path(),
                *path,
                "{attempts} {backoff} {max:?} {suffix:?}"
            );
        }
    }

    #[test]
    fn groups_follow_topic_suffixes() {
        let p = plan(3, "1s*2", None, Delay);
        let groups: Vec<&str> = p.topics().map(|t| t.group.as_str()).collect();
        assert_eq!(
            groups,
            [
                "billing",
                "billing-retry-1000",
                "billing-retry-2000",
                "billing-dlt"
            ]
        );
        assert_eq!(
            p.retry_topic(1).unwrap().kind,
            DestinationKind::Retry {
                delay: Duration::from_secs(2)
            }
        );
        assert_eq!(p.retry_topic(2), None);
    }

    #[test]
    fn no_dlt_when_strategy_is_none() {
        let policy = RetryPolicy::builder("orders")
            .dlt(DltStrategy::None)
            .build()
            .unwrap();
        let p = TopicPlan::new(&policy).unwrap();
        assert_eq!(p.dlt(), None);
        assert_eq!(names(&p), ["orders", "orders-retry"]);
    }

    #[test]
    fn validates_names_like_kafka() {
        assert_eq!(validate_topic_name("a.b_c-9"), Ok(()));
        assert_eq!(
            validate_topic_name(".."),
            Err(TopicError::Reserved("..".into()))
        );
        assert_eq!(
            validate_topic_name("or ders"),
            Err(TopicError::IllegalCharacter {
                name: "or ders".into(),
                bad: ' '
            })
        );
        let long = "x".repeat(244);
        let policy = RetryPolicy::builder(long.clone()).build().unwrap();
        let err = TopicPlan::new(&policy).unwrap_err();
        assert_eq!(
            err,
            TopicError::TooLong {
                name: format!("{long}-retry"),
                len: 250
            }
        );
        assert!(err.to_string().contains("at most 249"));
    }
}
