//! The destination topics of one listener and their consumer groups.

use std::time::Duration;

use crate::policy::{DltStrategy, RetryPolicy, SuffixStrategy, TopicReuse};

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
    /// Two destinations of one listener would share a name (the suffixes collide).
    #[error("two destinations would both be the topic `{0}`; choose suffixes that differ")]
    Duplicate(String),
}

/// The first character Kafka does not allow in a topic name, if any.
pub(crate) fn illegal_character(text: &str) -> Option<char> {
    text.chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
}

/// Checks a topic name the way the Kafka broker does.
pub fn validate_topic_name(name: &str) -> Result<(), TopicError> {
    if name.is_empty() || name == "." || name == ".." {
        return Err(TopicError::Reserved(name.to_owned()));
    }
    if let Some(bad) = illegal_character(name) {
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
    /// A dead-letter topic: the generic one or one of an exception-based route.
    Dlt,
    /// With `ordering = "key"`, the topic where the main-topic records of a blocked key wait
    /// for their turn (design/key-order.md); each is handled as a first delivery once its
    /// key's earlier records are resolved.
    Parked,
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

/// The ordered destinations of one listener: main topic, distinct retry topics, DLTs.
///
/// Naming follows Spring Kafka's `DestinationTopicPropertiesFactory` so that mixed fleets
/// share topics (`-retry` and `-dlt` stand for the configured suffixes):
/// * delay suffixes: `orders-retry-1000`, `orders-retry-2000`, …;
/// * index suffixes, or every retry waiting the same delay: `orders-retry-0`, `orders-retry-1`,
///   … (`isFixedDelay = SUFFIX_WITH_INDEX_VALUE || backOffValuesSize > 1 && distinct == 1`);
/// * [`TopicReuse::Single`] (the default): retries repeating the last delay share the last
///   topic (`retryTopicsAmount = backOffValuesSize - reusableTopicAttempts()`), and a chain
///   left with one retry topic names it `orders-retry`, whatever the backoff or suffix
///   (`if (this.isSameIntervalReuse && this.retryTopicsAmount == 1) return
///   getRetrySuffix();`);
/// * [`TopicReuse::Multiple`]: one topic per retry; a repeated delay is numbered from its first
///   occurrence: `orders-retry-4000-0`, `orders-retry-4000-1`
///   (`retrySuffix.concat("-" + (backOffIndex - this.backOffValues.indexOf(thisBackOffValue)))`);
/// * one DLT per exception-based route, `orders<route suffix>-dlt`, then the generic
///   `orders-dlt` (`createCustomDltProperties()` before `createDltProperties()`);
/// * `attempts = 1` has no retry topic; `dlt = "none"` has no DLT at all.
///
/// Consumer groups take the same suffixes after the listener's group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicPlan {
    main: DestinationTopic,
    retries: Vec<DestinationTopic>,
    route: Vec<usize>,
    routed_dlts: Vec<DestinationTopic>,
    dlt: Option<DestinationTopic>,
    /// With `ordering = "key"`: the parked topic, and the lock log's name.
    key_order: Option<(DestinationTopic, String)>,
}

impl TopicPlan {
    /// Derives the destinations of `policy`, checking every name against Kafka's rules and
    /// that no two destinations share one.
    pub fn new(policy: &RetryPolicy) -> Result<Self, TopicError> {
        let main = DestinationTopic::new(policy, "", DestinationKind::Main)?;
        let delays: Vec<Duration> = (0..policy.retries())
            .map(|n| policy.backoff.delay(n))
            .collect();
        let count = |delay: Duration| delays.iter().filter(|d| **d == delay).count();
        let single = policy.topic_reuse == TopicReuse::Single;
        let reused = match delays.last() {
            Some(&last) if single && delays.len() > 1 => count(last) - 1,
            _ => 0,
        };
        let amount = delays.len() - reused;
        let fixed = policy.suffix == SuffixStrategy::Index
            || (delays.len() > 1 && count(delays[0]) == delays.len());
        let retry = &policy.retry_topic_suffix;
        let suffix = |index: usize| {
            let delay = delays[index];
            if single && amount == 1 {
                retry.clone()
            } else if fixed {
                format!("{retry}-{index}")
            } else if !single && count(delay) > 1 {
                let first = delays.iter().position(|d| *d == delay).unwrap_or(index);
                format!("{retry}-{}-{}", delay.as_millis(), index - first)
            } else {
                format!("{retry}-{}", delay.as_millis())
            }
        };
        let mut retries: Vec<DestinationTopic> = Vec::new();
        let mut route = Vec::with_capacity(delays.len());
        for n in 0..delays.len() {
            let index = n.min(amount - 1);
            let kind = DestinationKind::Retry {
                delay: delays[index],
            };
            let topic = DestinationTopic::new(policy, &suffix(index), kind)?;
            let slot = match retries.iter().position(|t| t.name == topic.name) {
                Some(slot) => slot,
                None => {
                    retries.push(topic);
                    retries.len() - 1
                }
            };
            route.push(slot);
        }
        let dlt_suffix = &policy.dlt_topic_suffix;
        let (routed_dlts, dlt) = match policy.dlt {
            DltStrategy::None => (Vec::new(), None),
            _ => (
                policy
                    .dlt_routes
                    .iter()
                    .map(|r| {
                        let suffix = format!("{}{dlt_suffix}", r.suffix);
                        DestinationTopic::new(policy, &suffix, DestinationKind::Dlt)
                    })
                    .collect::<Result<_, _>>()?,
                Some(DestinationTopic::new(
                    policy,
                    dlt_suffix,
                    DestinationKind::Dlt,
                )?),
            ),
        };
        let plan = Self {
            main,
            retries,
            route,
            routed_dlts,
            dlt,
            key_order: None,
        };
        plan.checked()
    }

    /// Adds the topics of `ordering = "key"`: the parked topic `<main><retry suffix>-parked`
    /// (its group named alike) and the lock log `<main><retry suffix>-locks`.
    ///
    /// ```
    /// use retry_core::{RetryPolicy, TopicPlan};
    ///
    /// let policy = RetryPolicy::builder("accounts").group("ledger").build().unwrap();
    /// let plan = TopicPlan::new(&policy).unwrap().with_key_order(&policy).unwrap();
    /// let parked = plan.parked().unwrap();
    /// assert_eq!((parked.name.as_str(), parked.group.as_str()), ("accounts-retry-parked", "ledger-retry-parked"));
    /// assert_eq!(plan.lock_log(), Some("accounts-retry-locks"));
    /// ```
    pub fn with_key_order(mut self, policy: &RetryPolicy) -> Result<Self, TopicError> {
        let (parked, lock_log) = key_order_suffixes(&policy.retry_topic_suffix);
        let parked = DestinationTopic::new(policy, &parked, DestinationKind::Parked)?;
        let lock_log = format!("{}{lock_log}", policy.topic);
        validate_topic_name(&lock_log)?;
        self.key_order = Some((parked, lock_log));
        self.checked()
    }

    /// `self`, unless two of its topics share a name.
    fn checked(self) -> Result<Self, TopicError> {
        let names: Vec<&str> = self
            .topics()
            .map(|t| t.name.as_str())
            .chain(self.lock_log())
            .collect();
        let repeated = names
            .iter()
            .enumerate()
            .find_map(|(i, name)| names[..i].contains(name).then_some(*name));
        if let Some(name) = repeated {
            return Err(TopicError::Duplicate(name.to_owned()));
        }
        Ok(self)
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

    /// The generic dead-letter topic, unless `dlt = "none"`.
    pub fn dlt(&self) -> Option<&DestinationTopic> {
        self.dlt.as_ref()
    }

    /// The DLTs of the exception-based routes, in the policy's route order.
    pub fn routed_dlts(&self) -> &[DestinationTopic] {
        &self.routed_dlts
    }

    /// The DLT for a dead letter whose error matched route `route`
    /// ([`RetryPolicy::dlt_route`]): that route's DLT, else the generic one.
    pub fn dlt_for(&self, route: Option<usize>) -> Option<&DestinationTopic> {
        route
            .and_then(|i| self.routed_dlts.get(i))
            .or(self.dlt.as_ref())
    }

    /// The parked topic, with `ordering = "key"`.
    pub fn parked(&self) -> Option<&DestinationTopic> {
        self.key_order.as_ref().map(|(parked, _)| parked)
    }

    /// The lock log's topic, with `ordering = "key"`: not consumed by a group (every
    /// instance reads it whole), so not one of [`TopicPlan::topics`].
    pub fn lock_log(&self) -> Option<&str> {
        self.key_order.as_ref().map(|(_, name)| name.as_str())
    }

    /// Every topic consumed: main first, then the parked topic (with `ordering = "key"`), the
    /// retry topics, the routed DLTs and the generic DLT.
    pub fn topics(&self) -> impl Iterator<Item = &DestinationTopic> {
        std::iter::once(&self.main)
            .chain(self.parked())
            .chain(&self.retries)
            .chain(&self.routed_dlts)
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

/// The suffixes after the main topic's name of the topics `ordering = "key"` adds, for the
/// listener's `retry_topic_suffix`: the parked topic's (its group takes it too, after the
/// listener's group) and the lock log's.
///
/// ```
/// assert_eq!(
///     retry_core::key_order_suffixes("-retry"),
///     ("-retry-parked".to_owned(), "-retry-locks".to_owned())
/// );
/// ```
pub fn key_order_suffixes(retry_suffix: &str) -> (String, String) {
    (
        format!("{retry_suffix}-parked"),
        format!("{retry_suffix}-locks"),
    )
}

/// Whether `dlt` is a DLT of the main topic `main` by the naming rules: `main` followed by
/// `dlt_suffix` (the generic DLT), or by a route's suffix starting with `-` and then
/// `dlt_suffix` (an exception-based route's DLT, `orders-validation-dlt`). A replay tool uses
/// it to check where a dead letter's `kafka_original-topic` header sends it.
pub fn is_dlt_of(dlt: &str, main: &str, dlt_suffix: &str) -> bool {
    let route = dlt
        .strip_prefix(main)
        .and_then(|rest| rest.strip_suffix(dlt_suffix));
    !main.is_empty() && route.is_some_and(|route| route.is_empty() || route.starts_with('-'))
}

/// The partition of a destination with `partitions` partitions that a record read from
/// partition `source` is forwarded to: the same number when the destination has it, else
/// `source % partitions`. Spring's recoverer keeps the number when it exists too; past it,
/// the remainder rather than a partitioner's choice, so every instance (and every client
/// library, whose key hashes differ) sends a partition's records to one destination partition,
/// keyed or not. `None` when the count is unknown (below 1): the client's partitioner picks.
pub fn forward_partition(source: i32, partitions: i32) -> Option<i32> {
    (partitions >= 1).then(|| source.rem_euclid(partitions))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Backoff, DltRoute, ErrorType};

    /// One row of the naming table: the settings that matter and what Spring names.
    struct Case {
        attempts: u32,
        backoff: &'static str,
        max_delay_ms: Option<u64>,
        suffix: SuffixStrategy,
        reuse: TopicReuse,
        /// `(retry_topic_suffix, dlt_topic_suffix)`, when not the defaults.
        suffixes: Option<(&'static str, &'static str)>,
        routes: &'static [DltRoute],
        /// Every topic, main first.
        topics: &'static str,
        /// The retry topic of each retry, in order.
        path: &'static str,
    }

    const BASE: Case = Case {
        attempts: 4,
        backoff: "1s*2",
        max_delay_ms: None,
        suffix: SuffixStrategy::Delay,
        reuse: TopicReuse::Single,
        suffixes: None,
        routes: &[],
        topics: "",
        path: "",
    };

    fn policy(case: &Case) -> RetryPolicy {
        let mut backoff: Backoff = case.backoff.parse().unwrap();
        if let Some(ms) = case.max_delay_ms {
            backoff = backoff.with_max_delay(Duration::from_millis(ms)).unwrap();
        }
        let mut builder = RetryPolicy::builder("orders")
            .group("billing")
            .attempts(case.attempts)
            .backoff(backoff)
            .suffix(case.suffix)
            .topic_reuse(case.reuse)
            .dlt_routes(case.routes);
        if let Some((retry, dlt)) = case.suffixes {
            builder = builder.retry_topic_suffix(retry).dlt_topic_suffix(dlt);
        }
        builder.build().unwrap()
    }

    fn plan(case: &Case) -> TopicPlan {
        TopicPlan::new(&policy(case)).unwrap()
    }

    fn names(p: &TopicPlan) -> Vec<&str> {
        p.topics().map(|t| t.name.as_str()).collect()
    }

    #[derive(Debug, thiserror::Error)]
    #[error("invalid")]
    struct Invalid;

    static INVALID: [ErrorType; 1] = [ErrorType::of::<Invalid>()];
    static ROUTES: [DltRoute; 2] = [
        DltRoute::new("-validation", &INVALID),
        DltRoute::new("-decode", &INVALID),
    ];

    /// What Spring's `DestinationTopicPropertiesFactory` names for each combination; the
    /// comments give its `backOffValues`.
    #[test]
    fn naming_table() {
        use SuffixStrategy::Index;
        use TopicReuse::Multiple;
        let cases = [
            // [1000, 2000, 4000]
            Case {
                topics: "orders orders-retry-1000 orders-retry-2000 orders-retry-4000 orders-dlt",
                path: "orders-retry-1000 orders-retry-2000 orders-retry-4000",
                ..BASE
            },
            Case {
                suffix: Index,
                topics: "orders orders-retry-0 orders-retry-1 orders-retry-2 orders-dlt",
                path: "orders-retry-0 orders-retry-1 orders-retry-2",
                ..BASE
            },
            // [1000, 2000, 3000, 3000]: the repeated tail delay reuses the last topic.
            Case {
                attempts: 5,
                max_delay_ms: Some(3000),
                topics: "orders orders-retry-1000 orders-retry-2000 orders-retry-3000 orders-dlt",
                path: "orders-retry-1000 orders-retry-2000 orders-retry-3000 orders-retry-3000",
                ..BASE
            },
            Case {
                attempts: 5,
                max_delay_ms: Some(3000),
                suffix: Index,
                topics: "orders orders-retry-0 orders-retry-1 orders-retry-2 orders-dlt",
                path: "orders-retry-0 orders-retry-1 orders-retry-2 orders-retry-2",
                ..BASE
            },
            // [5000, 5000, 5000]: a fixed backoff is one topic.
            Case {
                backoff: "5s",
                topics: "orders orders-retry orders-dlt",
                path: "orders-retry orders-retry orders-retry",
                ..BASE
            },
            Case {
                backoff: "5s",
                suffix: Index,
                topics: "orders orders-retry orders-dlt",
                path: "orders-retry orders-retry orders-retry",
                ..BASE
            },
            // []
            Case {
                attempts: 1,
                topics: "orders orders-dlt",
                path: "",
                ..BASE
            },
            // [1000]: one retry topic is `-retry`, whatever the backoff or suffix.
            Case {
                attempts: 2,
                topics: "orders orders-retry orders-dlt",
                path: "orders-retry",
                ..BASE
            },
            Case {
                attempts: 2,
                suffix: Index,
                topics: "orders orders-retry orders-dlt",
                path: "orders-retry",
                ..BASE
            },
            Case {
                attempts: 2,
                backoff: "5s",
                topics: "orders orders-retry orders-dlt",
                path: "orders-retry",
                ..BASE
            },
            // [1000, 1000]: max_delay makes every delay the same, so one topic.
            Case {
                attempts: 3,
                max_delay_ms: Some(1000),
                topics: "orders orders-retry orders-dlt",
                path: "orders-retry orders-retry",
                ..BASE
            },
            // [1000, 2000, 4000, 4000]
            Case {
                attempts: 5,
                max_delay_ms: Some(4000),
                topics: "orders orders-retry-1000 orders-retry-2000 orders-retry-4000 orders-dlt",
                path: "orders-retry-1000 orders-retry-2000 orders-retry-4000 orders-retry-4000",
                ..BASE
            },
            // MULTIPLE_TOPICS, [1000, 2000, 4000]: as SINGLE_TOPIC without repeats.
            Case {
                reuse: Multiple,
                topics: "orders orders-retry-1000 orders-retry-2000 orders-retry-4000 orders-dlt",
                path: "orders-retry-1000 orders-retry-2000 orders-retry-4000",
                ..BASE
            },
            // MULTIPLE_TOPICS, [5000, 5000, 5000]: a fixed delay on indexed topics.
            Case {
                backoff: "5s",
                reuse: Multiple,
                topics: "orders orders-retry-0 orders-retry-1 orders-retry-2 orders-dlt",
                path: "orders-retry-0 orders-retry-1 orders-retry-2",
                ..BASE
            },
            // MULTIPLE_TOPICS, [5000]: one delay is not "fixed", so it names the delay.
            Case {
                attempts: 2,
                backoff: "5s",
                reuse: Multiple,
                topics: "orders orders-retry-5000 orders-dlt",
                path: "orders-retry-5000",
                ..BASE
            },
            Case {
                attempts: 2,
                suffix: Index,
                reuse: Multiple,
                topics: "orders orders-retry-0 orders-dlt",
                path: "orders-retry-0",
                ..BASE
            },
            // MULTIPLE_TOPICS, [1000, 1000]
            Case {
                attempts: 3,
                max_delay_ms: Some(1000),
                reuse: Multiple,
                topics: "orders orders-retry-0 orders-retry-1 orders-dlt",
                path: "orders-retry-0 orders-retry-1",
                ..BASE
            },
            // MULTIPLE_TOPICS, [1000, 2000, 4000, 4000]: the repeated delay numbered.
            Case {
                attempts: 5,
                max_delay_ms: Some(4000),
                reuse: Multiple,
                topics: "orders orders-retry-1000 orders-retry-2000 orders-retry-4000-0 \
                         orders-retry-4000-1 orders-dlt",
                path: "orders-retry-1000 orders-retry-2000 orders-retry-4000-0 orders-retry-4000-1",
                ..BASE
            },
            Case {
                attempts: 5,
                max_delay_ms: Some(4000),
                suffix: Index,
                reuse: Multiple,
                topics: "orders orders-retry-0 orders-retry-1 orders-retry-2 orders-retry-3 \
                         orders-dlt",
                path: "orders-retry-0 orders-retry-1 orders-retry-2 orders-retry-3",
                ..BASE
            },
            // Custom suffixes.
            Case {
                suffixes: Some(("-again", "-dead")),
                topics: "orders orders-again-1000 orders-again-2000 orders-again-4000 orders-dead",
                path: "orders-again-1000 orders-again-2000 orders-again-4000",
                ..BASE
            },
            Case {
                attempts: 2,
                suffixes: Some((".r", ".d")),
                topics: "orders orders.r orders.d",
                path: "orders.r",
                ..BASE
            },
            // Exception-based routes: their DLTs first, then the generic one.
            Case {
                attempts: 3,
                backoff: "1s",
                routes: &ROUTES,
                topics: "orders orders-retry orders-validation-dlt orders-decode-dlt orders-dlt",
                path: "orders-retry orders-retry",
                ..BASE
            },
            Case {
                attempts: 1,
                suffixes: Some(("-retry", "-dead")),
                routes: &ROUTES,
                topics: "orders orders-validation-dead orders-decode-dead orders-dead",
                path: "",
                ..BASE
            },
        ];
        for case in &cases {
            let p = plan(case);
            let what = format!(
                "attempts {} backoff {} max {:?} {:?} {:?} {:?}",
                case.attempts,
                case.backoff,
                case.max_delay_ms,
                case.suffix,
                case.reuse,
                case.suffixes
            );
            assert_eq!(
                names(&p).join(" "),
                case.topics.split_whitespace().collect::<Vec<_>>().join(" "),
                "{what}"
            );
            assert_eq!(p.retry_path().join(" "), case.path, "{what}");
            for (n, topic) in (0..).zip(p.retry_path()) {
                let delay = policy(case).backoff.delay(n);
                let on = p.retry_topic(n).unwrap();
                assert_eq!(
                    (on.name.as_str(), on.kind),
                    (topic, DestinationKind::Retry { delay }),
                    "{what}"
                );
            }
        }
    }

    #[test]
    fn groups_follow_topic_suffixes() {
        let p = plan(&Case {
            attempts: 3,
            routes: &ROUTES[..1],
            ..BASE
        });
        let groups: Vec<&str> = p.topics().map(|t| t.group.as_str()).collect();
        assert_eq!(
            groups,
            [
                "billing",
                "billing-retry-1000",
                "billing-retry-2000",
                "billing-validation-dlt",
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
        assert_eq!(p.routed_dlts()[0].kind, DestinationKind::Dlt);
        assert_eq!(p.dlt_for(Some(0)).unwrap().name, "orders-validation-dlt");
        assert_eq!(p.dlt_for(Some(1)), p.dlt());
        assert_eq!(p.dlt_for(None), p.dlt());
    }

    #[test]
    fn colliding_names_are_an_error() {
        let collide = |retry: &str, dlt: &str, routes: &'static [DltRoute]| {
            let policy = RetryPolicy::builder("orders")
                .attempts(2)
                .retry_topic_suffix(retry)
                .dlt_topic_suffix(dlt)
                .dlt_routes(routes)
                .build()
                .unwrap();
            TopicPlan::new(&policy).unwrap_err()
        };
        assert_eq!(
            collide("-dlt", "-dlt", &[]),
            TopicError::Duplicate("orders-dlt".into())
        );
        assert_eq!(
            collide("", "-dlt", &[]),
            TopicError::Duplicate("orders".into())
        );
        static TWICE: [DltRoute; 2] = [
            DltRoute::new("-bad", &INVALID),
            DltRoute::new("-bad", &INVALID),
        ];
        let err = collide("-retry", "-dlt", &TWICE);
        assert_eq!(err, TopicError::Duplicate("orders-bad-dlt".into()));
        assert!(
            err.to_string().contains("choose suffixes that differ"),
            "{err}"
        );
        static EMPTY: [DltRoute; 1] = [DltRoute::new("", &INVALID)];
        assert_eq!(
            collide("-retry", "-dlt", &EMPTY),
            TopicError::Duplicate("orders-dlt".into())
        );
    }

    #[test]
    fn no_dlt_when_strategy_is_none() {
        let policy = RetryPolicy::builder("orders")
            .dlt(DltStrategy::None)
            .build()
            .unwrap();
        let p = TopicPlan::new(&policy).unwrap();
        assert_eq!(p.dlt(), None);
        assert!(p.routed_dlts().is_empty());
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

    #[test]
    fn a_partition_the_destination_lacks_wraps_around() {
        assert_eq!(
            forward_partition(2, 6),
            Some(2),
            "the same number when it exists"
        );
        assert_eq!(
            forward_partition(5, 1),
            Some(0),
            "a Spring-made one-partition topic"
        );
        assert_eq!(forward_partition(7, 3), Some(1));
        assert_eq!(
            forward_partition(3, 0),
            None,
            "unknown count: the partitioner picks"
        );
    }

    proptest::proptest! {
        #[test]
        fn forward_partitions_exist_and_keep_the_number_when_they_can(
            source in 0..i32::MAX,
            partitions in 1..10_000i32,
        ) {
            let p = forward_partition(source, partitions).unwrap();
            proptest::prop_assert!((0..partitions).contains(&p));
            if source < partitions {
                proptest::prop_assert_eq!(p, source);
            }
        }
    }

    #[test]
    fn a_dlt_belongs_to_the_main_topic_its_name_starts_with() {
        assert!(is_dlt_of("orders-dlt", "orders", "-dlt"));
        assert!(
            is_dlt_of("orders-validation-dlt", "orders", "-dlt"),
            "a route's DLT"
        );
        assert!(is_dlt_of("orders.DLT", "orders", ".DLT"));
        assert!(!is_dlt_of("orders-dlt", "payments", "-dlt"));
        assert!(
            !is_dlt_of("orders-dlt", "order", "-dlt"),
            "`s` is no route suffix"
        );
        assert!(!is_dlt_of("orders-dlt", "orders-dlt", "-dlt"));
        assert!(!is_dlt_of("orders-dlt", "orders", ".DLT"), "another suffix");
        assert!(!is_dlt_of("-dlt", "", "-dlt"));
    }
}
