//! Listener settings: attribute arguments, overridden at start-up by environment variables,
//! resolved into a validated [`ListenerConfig`].

use std::fmt;
use std::str::FromStr;

use crate::backoff::{Backoff, Jitter};
use crate::classify::{ErrorRules, StackTrace};
use crate::duration::parse_duration;
use crate::keys::ChainBounds;
use crate::policy::{DltStrategy, PolicyError, RetryPolicy, SuffixStrategy, TopicReuse};
use crate::topics::{illegal_character, DestinationKind, TopicError, TopicPlan};

mod breaker;

/// One setting of `#[retryable_topic]`, also settable as `RETRY_<HANDLER>_<SETTING>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Setting {
    /// `topic`: the main topic (required).
    Topic,
    /// `group`: consumer group of the main topic (default: the handler's name).
    Group,
    /// `attempts`: deliveries including the first (default 3).
    Attempts,
    /// `backoff`: `DELAY[*MULTIPLIER]` (default `1s`).
    Backoff,
    /// `max_delay`: cap on any delay.
    MaxDelay,
    /// `jitter`: fraction in `[0, 1]` by which delays are spread.
    Jitter,
    /// `timeout`: total time budget from the original record.
    Timeout,
    /// `suffix`: `delay` or `index`.
    Suffix,
    /// `dlt`: `always_retry`, `fail` or `none`.
    Dlt,
    /// `partitions`: partitions of topics the runtime creates, 1 to [`MAX_PARTITIONS`].
    Partitions,
    /// `replication`: replication factor of topics the runtime creates, 1 to
    /// [`MAX_REPLICATION`].
    Replication,
    /// `concurrency`: partitions handled in parallel by each consumer, 1 to
    /// [`MAX_CONCURRENCY`].
    Concurrency,
    /// `auto_create`: which missing topics are created at start-up (default `true`: all).
    AutoCreate,
    /// `retry_topic_suffix`: what retry topic names start with after the main topic's
    /// (Spring's `retryTopicSuffix`, default `-retry`).
    RetryTopicSuffix,
    /// `dlt_topic_suffix`: what DLT names end with (Spring's `dltTopicSuffix`, default `-dlt`).
    DltTopicSuffix,
    /// `topic_reuse`: `single` (default) or `multiple` (Spring's
    /// `sameIntervalTopicReuseStrategy`).
    TopicReuse,
    /// `auto_start_dlt`: whether the DLTs are consumed (default true; Spring's
    /// `autoStartDltHandler`). When false they are still created and written to.
    AutoStartDlt,
    /// `stacktrace`: what `kafka_exception-stacktrace` carries: `chain` (default, every
    /// cause's message) or `full` (the error's debug form, with its backtrace when captured).
    StackTrace,
    /// `ordering`: how a partition's records are handled relative to each other: `partition`
    /// (default, one at a time, in offset order) or `none` (concurrently, up to
    /// `concurrency`).
    Ordering,
    /// `breaker`: the failure rate that opens the listener's breaker, `"FAILURES in WINDOW"`
    /// like `"20 in 10s"`, or `"off"` (default).
    Breaker,
    /// `probe`: the delays between probes of an open breaker, in the `backoff` grammar
    /// (default [`DEFAULT_PROBE`](crate::DEFAULT_PROBE)).
    Probe,
    /// `max_probe_delay`: cap on the delay between probes (default
    /// [`DEFAULT_MAX_PROBE_DELAY`](crate::DEFAULT_MAX_PROBE_DELAY), or the first delay when
    /// longer).
    MaxProbeDelay,
    /// `pause_on`: on the attribute a list of error types, not a string; its variable
    /// `RETRY_<HANDLER>_PAUSE_ON=off` (the only value) turns the list off.
    PauseOn,
    /// `max_blocked_keys`: with `ordering = "key"`, the keys a main partition may hold in
    /// its lock log (blocked, or unblocked since the last commit) before it stops reading
    /// (default [`ChainBounds::DEFAULT`]).
    MaxBlockedKeys,
    /// `max_parked`: with `ordering = "key"`, the records of a main partition that may wait
    /// in the chain (blocked heads and parked records) before it stops reading (default
    /// [`ChainBounds::DEFAULT`]).
    MaxParked,
}

impl Setting {
    /// Every setting.
    pub const ALL: [Setting; 25] = [
        Setting::Topic,
        Setting::Group,
        Setting::Attempts,
        Setting::Backoff,
        Setting::MaxDelay,
        Setting::Jitter,
        Setting::Timeout,
        Setting::Suffix,
        Setting::Dlt,
        Setting::Partitions,
        Setting::Replication,
        Setting::Concurrency,
        Setting::AutoCreate,
        Setting::RetryTopicSuffix,
        Setting::DltTopicSuffix,
        Setting::TopicReuse,
        Setting::AutoStartDlt,
        Setting::StackTrace,
        Setting::Ordering,
        Setting::Breaker,
        Setting::Probe,
        Setting::MaxProbeDelay,
        Setting::PauseOn,
        Setting::MaxBlockedKeys,
        Setting::MaxParked,
    ];

    /// The attribute argument's name.
    pub fn name(self) -> &'static str {
        match self {
            Setting::Topic => "topic",
            Setting::Group => "group",
            Setting::Attempts => "attempts",
            Setting::Backoff => "backoff",
            Setting::MaxDelay => "max_delay",
            Setting::Jitter => "jitter",
            Setting::Timeout => "timeout",
            Setting::Suffix => "suffix",
            Setting::Dlt => "dlt",
            Setting::Partitions => "partitions",
            Setting::Replication => "replication",
            Setting::Concurrency => "concurrency",
            Setting::AutoCreate => "auto_create",
            Setting::RetryTopicSuffix => "retry_topic_suffix",
            Setting::DltTopicSuffix => "dlt_topic_suffix",
            Setting::TopicReuse => "topic_reuse",
            Setting::AutoStartDlt => "auto_start_dlt",
            Setting::StackTrace => "stacktrace",
            Setting::Ordering => "ordering",
            Setting::Breaker => "breaker",
            Setting::Probe => "probe",
            Setting::MaxProbeDelay => "max_probe_delay",
            Setting::PauseOn => "pause_on",
            Setting::MaxBlockedKeys => "max_blocked_keys",
            Setting::MaxParked => "max_parked",
        }
    }

    /// The setting with this attribute name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.name() == name)
    }

    /// The Rust variant name, as generated code spells it.
    pub fn variant(self) -> &'static str {
        match self {
            Setting::Topic => "Topic",
            Setting::Group => "Group",
            Setting::Attempts => "Attempts",
            Setting::Backoff => "Backoff",
            Setting::MaxDelay => "MaxDelay",
            Setting::Jitter => "Jitter",
            Setting::Timeout => "Timeout",
            Setting::Suffix => "Suffix",
            Setting::Dlt => "Dlt",
            Setting::Partitions => "Partitions",
            Setting::Replication => "Replication",
            Setting::Concurrency => "Concurrency",
            Setting::AutoCreate => "AutoCreate",
            Setting::RetryTopicSuffix => "RetryTopicSuffix",
            Setting::DltTopicSuffix => "DltTopicSuffix",
            Setting::TopicReuse => "TopicReuse",
            Setting::AutoStartDlt => "AutoStartDlt",
            Setting::StackTrace => "StackTrace",
            Setting::Ordering => "Ordering",
            Setting::Breaker => "Breaker",
            Setting::Probe => "Probe",
            Setting::MaxProbeDelay => "MaxProbeDelay",
            Setting::PauseOn => "PauseOn",
            Setting::MaxBlockedKeys => "MaxBlockedKeys",
            Setting::MaxParked => "MaxParked",
        }
    }

    /// The environment variable overriding this setting for `handler`:
    /// `RETRY_UPDATE_ITEM_ATTEMPTS` for `update_item`.
    pub fn env_var(self, handler: &str) -> String {
        format!(
            "RETRY_{}_{}",
            handler.to_ascii_uppercase(),
            self.name().to_ascii_uppercase()
        )
    }
}

/// The largest `partitions`: a topic of more is almost surely a typo, and costs the brokers
/// as much as thousands of topics.
pub const MAX_PARTITIONS: i32 = 10_000;

/// The largest `replication`: more copies of each record than any cluster runs brokers for.
pub const MAX_REPLICATION: i16 = 32;

/// The largest `concurrency`: handler calls in flight at once per consumer. Far more than a
/// consumer has partitions to serve them, and within what the runtime's permit count can
/// hold (a larger one would fail the consumer when it starts).
pub const MAX_CONCURRENCY: usize = 10_000;

/// Where a setting's value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// The attribute argument.
    Attribute,
    /// The named environment variable.
    Env(String),
    /// Not written anywhere: the default.
    Default,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Attribute => f.write_str("attribute"),
            Origin::Env(var) => write!(f, "environment variable {var}"),
            Origin::Default => f.write_str("default"),
        }
    }
}

/// Which missing topics start-up creates: the `auto_create` setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AutoCreate {
    /// `true`: every missing topic, the main topic included (Spring's `autoCreateTopics`).
    #[default]
    All,
    /// `"retry"`: the retry topics and DLTs; a missing main topic stops start-up, so a typo in
    /// its name is not an empty new topic consumed for ever (the choice for production).
    Retry,
    /// `false`: none; any missing topic stops start-up.
    Never,
}

impl AutoCreate {
    /// Whether a missing topic of `kind` is created.
    pub fn creates(self, kind: DestinationKind) -> bool {
        match self {
            AutoCreate::All => true,
            AutoCreate::Retry => kind != DestinationKind::Main,
            AutoCreate::Never => false,
        }
    }
}

impl fmt::Display for AutoCreate {
    /// As the attribute writes it: `true`, `"retry"`, `false`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AutoCreate::All => "true",
            AutoCreate::Retry => "\"retry\"",
            AutoCreate::Never => "false",
        })
    }
}

/// A setting that could not be used, naming the listener, setting, value and where it came
/// from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("listener `{listener}`: invalid {setting} `{value}` (from {origin}): {reason}")]
pub struct ConfigError {
    /// The handler's name.
    pub listener: String,
    /// The offending setting.
    pub setting: Setting,
    /// The value as written.
    pub value: String,
    /// Where it came from.
    pub origin: Origin,
    /// What is wrong.
    pub reason: String,
}

impl fmt::Display for Setting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One listener's settings, resolved and validated: what the runtime runs.
#[derive(Debug, Clone, PartialEq)]
pub struct ListenerConfig {
    /// The handler's name.
    pub name: String,
    /// Retry behaviour.
    pub policy: RetryPolicy,
    /// Topics and groups.
    pub topics: TopicPlan,
    /// Where the main topic's name came from: the attribute or `RETRY_<HANDLER>_TOPIC`.
    pub topic_origin: Origin,
    /// Partitions for created topics (`None`: the main topic's count, else the broker's).
    pub partitions: Option<i32>,
    /// Replication for created topics (`None`: the broker's default).
    pub replication: Option<i16>,
    /// Partitions handled in parallel per consumer.
    pub concurrency: usize,
    /// Which missing topics are created at start-up.
    pub auto_create: AutoCreate,
    /// Whether the DLTs' consumers are started. When false the DLTs are still created and
    /// dead letters still written to them; nothing reads them (Spring's
    /// `autoStartDltHandler = false`).
    pub auto_start_dlt: bool,
    /// What the `kafka_exception-stacktrace` header carries.
    pub stacktrace: StackTrace,
    /// How a partition's records are handled relative to each other.
    pub ordering: ProcessingOrder,
    /// The circuit breaker (`pause_on`, `breaker`, `probe`, `max_probe_delay`); `None` when
    /// nothing can open it (design/breaker.md).
    pub breaker: Option<crate::BreakerConfig>,
    /// With `ordering = "key"`, how much a main partition's lock log may hold before the
    /// partition stops reading (`max_blocked_keys`, `max_parked`).
    pub key_bounds: ChainBounds,
}

/// How a partition's records are handled relative to each other (`ordering`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ProcessingOrder {
    /// `"partition"`: one record of a partition at a time, in offset order (Spring's
    /// behaviour, one container thread per partition).
    #[default]
    Partition,
    /// `"none"`: a partition's records start in offset order and run concurrently, up to
    /// `concurrency` handler calls in flight; they may finish in any order.
    Unordered,
    /// `"key"`: a partition's records with different keys run concurrently, up to
    /// `concurrency` handler calls in flight; records of one key never overlap and start in
    /// offset order (records without a key are one key), and a key whose record waits for
    /// a retry is blocked until it succeeded or reached the DLT (design/key-order.md).
    Key,
}

/// Looks up raw values: the environment first, then the attribute.
struct Sources<'a, F> {
    listener: &'a str,
    attribute: &'a [(Setting, &'a str)],
    env: F,
}

impl<F: Fn(&str) -> Option<String>> Sources<'_, F> {
    fn raw(&self, setting: Setting) -> Option<(String, Origin)> {
        let var = setting.env_var(self.listener);
        if let Some(value) = (self.env)(&var) {
            return Some((value, Origin::Env(var)));
        }
        self.attribute
            .iter()
            .find(|(s, _)| *s == setting)
            .map(|(_, v)| (v.to_string(), Origin::Attribute))
    }

    fn error(
        &self,
        setting: Setting,
        value: String,
        origin: Origin,
        reason: String,
    ) -> ConfigError {
        ConfigError {
            listener: self.listener.to_owned(),
            setting,
            value,
            origin,
            reason,
        }
    }

    /// Parses `setting` if written anywhere.
    fn get<T>(
        &self,
        setting: Setting,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<Option<T>, ConfigError> {
        self.raw(setting)
            .map(|(value, origin)| {
                parse(value.trim()).map_err(|reason| self.error(setting, value, origin, reason))
            })
            .transpose()
    }

    /// Blames `setting` (as currently written) for an error found after parsing.
    fn blame(&self, setting: Setting, reason: impl ToString) -> ConfigError {
        let (value, origin) = self
            .raw(setting)
            .unwrap_or((String::new(), Origin::Default));
        self.error(setting, value, origin, reason.to_string())
    }
}

fn parse_with<T: FromStr>(expected: &'static str) -> impl Fn(&str) -> Result<T, String> {
    move |text| {
        text.parse::<T>()
            .map_err(|_| format!("expected {expected}"))
    }
}

fn at_least_one<T: FromStr + PartialOrd + From<u8>>(
    expected: &'static str,
) -> impl Fn(&str) -> Result<T, String> {
    move |text| {
        parse_with::<T>(expected)(text).and_then(|v| {
            if v >= T::from(1) {
                Ok(v)
            } else {
                Err(format!("expected {expected}"))
            }
        })
    }
}

/// A whole number from 1 to `max`.
fn one_to<T: FromStr + PartialOrd + From<u8> + fmt::Display + Copy>(
    max: T,
) -> impl Fn(&str) -> Result<T, String> {
    move |text| match text.parse::<T>() {
        Ok(v) if v >= T::from(1) && v <= max => Ok(v),
        _ => Err(format!("expected a whole number from 1 to {max}")),
    }
}

/// A topic suffix: not empty (Spring would silently use the default) and made of characters
/// Kafka allows in topic names.
fn topic_suffix(text: &str) -> Result<String, String> {
    if text.is_empty() {
        return Err("a suffix cannot be empty; leave the argument out for the default".into());
    }
    match illegal_character(text) {
        Some(bad) => Err(format!(
            "{bad:?} cannot be part of a topic name; Kafka allows only ASCII letters, digits, \
             `.`, `_` and `-`"
        )),
        None => Ok(text.to_owned()),
    }
}

fn choice<T: Copy>(options: &'static [(&'static str, T)]) -> impl Fn(&str) -> Result<T, String> {
    move |text| {
        options
            .iter()
            .find(|(name, _)| *name == text)
            .map(|(_, v)| *v)
            .ok_or_else(|| {
                let names: Vec<String> = options.iter().map(|(n, _)| format!("`{n}`")).collect();
                format!("expected one of {}", names.join(", "))
            })
    }
}

/// The largest `max_blocked_keys` and `max_parked`: far past what one partition's folded
/// state holds in memory on each instance.
pub const MAX_KEY_BOUND: usize = 100_000_000;

/// `max_blocked_keys` and `max_parked`, refused with another ordering than `"key"` (they
/// would bound nothing).
fn key_bounds<F: Fn(&str) -> Option<String>>(
    src: &Sources<'_, F>,
    ordering: ProcessingOrder,
) -> Result<ChainBounds, ConfigError> {
    let keys = src.get(Setting::MaxBlockedKeys, one_to(MAX_KEY_BOUND))?;
    let records = src.get(Setting::MaxParked, one_to(MAX_KEY_BOUND))?;
    if ordering != ProcessingOrder::Key {
        let set = [
            (Setting::MaxBlockedKeys, keys),
            (Setting::MaxParked, records),
        ]
        .into_iter()
        .find(|(_, value)| value.is_some());
        if let Some((setting, _)) = set {
            return Err(src.blame(setting, "applies only with `ordering = \"key\"`"));
        }
    }
    let default = ChainBounds::DEFAULT;
    Ok(ChainBounds {
        keys: keys.unwrap_or(default.keys),
        records: records.unwrap_or(default.records),
    })
}

/// Parses `ordering`.
fn processing_order(text: &str) -> Result<ProcessingOrder, String> {
    choice(&[
        ("partition", ProcessingOrder::Partition),
        ("key", ProcessingOrder::Key),
        ("none", ProcessingOrder::Unordered),
    ])(text)
}

impl ListenerConfig {
    /// Resolves a listener's settings: each value from `env` (`RETRY_<HANDLER>_<SETTING>`)
    /// if set, else from the attribute, else the default; then validates the whole.
    /// `errors` is the listener's [`ErrorFilter`](crate::ErrorFilter), or its
    /// [`ErrorRules`] when it routes some errors to DLTs of their own.
    ///
    /// ```
    /// use retry_core::{ErrorFilter, ListenerConfig, Setting};
    ///
    /// let attribute = [(Setting::Topic, "orders"), (Setting::Attempts, "4")];
    /// let env = |var: &str| (var == "RETRY_BILL_ATTEMPTS").then(|| "6".to_string());
    /// let config = ListenerConfig::resolve("bill", &attribute, ErrorFilter::RetryAll, env).unwrap();
    /// assert_eq!(config.policy.attempts, 6);
    /// assert_eq!(config.policy.group, "bill");
    ///
    /// let env = |var: &str| (var == "RETRY_BILL_ATTEMPTS").then(|| "many".to_string());
    /// let err = ListenerConfig::resolve("bill", &attribute, ErrorFilter::RetryAll, env).unwrap_err();
    /// assert_eq!(
    ///     err.to_string(),
    ///     "listener `bill`: invalid attempts `many` (from environment variable RETRY_BILL_ATTEMPTS): \
    ///      expected a whole number of at least 1"
    /// );
    /// ```
    pub fn resolve(
        name: &str,
        attribute: &[(Setting, &str)],
        errors: impl Into<ErrorRules>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let errors = errors.into();
        let src = Sources {
            listener: name,
            attribute,
            env,
        };
        let topic = src
            .get(Setting::Topic, |t| Ok(t.to_owned()))?
            .ok_or_else(|| src.blame(Setting::Topic, "a topic is required"))?;
        let topic_origin = src
            .raw(Setting::Topic)
            .map_or(Origin::Default, |(_, origin)| origin);
        let group = src
            .get(Setting::Group, |g| {
                if g.is_empty() {
                    Err("a group name cannot be empty".into())
                } else {
                    Ok(g.to_owned())
                }
            })?
            .unwrap_or_else(|| name.to_owned());
        let mut backoff = src
            .get(Setting::Backoff, |b| {
                b.parse::<Backoff>().map_err(|e| e.to_string())
            })?
            .unwrap_or_default();
        if let Some(max) = src.get(Setting::MaxDelay, |d| {
            parse_duration(d).map_err(|e| e.to_string())
        })? {
            backoff = backoff
                .with_max_delay(max)
                .map_err(|e| src.blame(Setting::MaxDelay, e))?;
        }
        if let Some(jitter) = src.get(Setting::Jitter, |j| j.parse::<Jitter>())? {
            backoff = backoff.with_jitter(jitter);
        }
        let mut builder = RetryPolicy::builder(topic)
            .group(group)
            .backoff(backoff)
            .errors(errors.filter)
            .dlt_routes(errors.dlt_routes);
        if let Some(attempts) = src.get(
            Setting::Attempts,
            at_least_one::<u32>("a whole number of at least 1"),
        )? {
            builder = builder.attempts(attempts);
        }
        if let Some(timeout) = src.get(Setting::Timeout, |d| {
            parse_duration(d).map_err(|e| e.to_string())
        })? {
            builder = builder.timeout(timeout);
        }
        if let Some(suffix) = src.get(
            Setting::Suffix,
            choice(&[
                ("delay", SuffixStrategy::Delay),
                ("index", SuffixStrategy::Index),
            ]),
        )? {
            builder = builder.suffix(suffix);
        }
        let dlt_choices = &[
            ("always_retry", DltStrategy::AlwaysRetry),
            ("fail", DltStrategy::Fail),
            ("none", DltStrategy::None),
        ];
        if let Some(dlt) = src.get(Setting::Dlt, choice(dlt_choices))? {
            builder = builder.dlt(dlt);
        }
        if let Some(suffix) = src.get(Setting::RetryTopicSuffix, topic_suffix)? {
            builder = builder.retry_topic_suffix(suffix);
        }
        if let Some(suffix) = src.get(Setting::DltTopicSuffix, topic_suffix)? {
            builder = builder.dlt_topic_suffix(suffix);
        }
        let reuse_choices = &[
            ("single", TopicReuse::Single),
            ("multiple", TopicReuse::Multiple),
        ];
        if let Some(reuse) = src.get(Setting::TopicReuse, choice(reuse_choices))? {
            builder = builder.topic_reuse(reuse);
        }
        let policy = builder.build().map_err(|e| {
            let setting = match e {
                PolicyError::ZeroAttempts | PolicyError::TooManyAttempts(_) => Setting::Attempts,
                PolicyError::DelayTooLong { .. } => Setting::Backoff,
                PolicyError::TimeoutOutOfRange(_) => Setting::Timeout,
            };
            src.blame(setting, e)
        })?;
        let ordering = src
            .get(Setting::Ordering, processing_order)?
            .unwrap_or_default();
        let topics = TopicPlan::new(&policy)
            .and_then(|plan| match ordering {
                ProcessingOrder::Key => plan.with_key_order(&policy),
                _ => Ok(plan),
            })
            .map_err(|e| {
                let setting = match e {
                    TopicError::Duplicate(_) => {
                        [Setting::RetryTopicSuffix, Setting::DltTopicSuffix]
                            .into_iter()
                            .find(|s| src.raw(*s).is_some())
                            .unwrap_or(Setting::Topic)
                    }
                    _ => Setting::Topic,
                };
                src.blame(setting, e)
            })?;
        Ok(Self {
            name: name.to_owned(),
            policy,
            topics,
            topic_origin,
            partitions: src.get(Setting::Partitions, one_to(MAX_PARTITIONS))?,
            replication: src.get(Setting::Replication, one_to(MAX_REPLICATION))?,
            concurrency: src
                .get(Setting::Concurrency, one_to(MAX_CONCURRENCY))?
                .unwrap_or(1),
            auto_create: src
                .get(
                    Setting::AutoCreate,
                    choice(&[
                        ("true", AutoCreate::All),
                        ("false", AutoCreate::Never),
                        ("retry", AutoCreate::Retry),
                    ]),
                )?
                .unwrap_or_default(),
            auto_start_dlt: src
                .get(
                    Setting::AutoStartDlt,
                    parse_with::<bool>("`true` or `false`"),
                )?
                .unwrap_or(true),
            stacktrace: src
                .get(
                    Setting::StackTrace,
                    choice(&[("chain", StackTrace::Chain), ("full", StackTrace::Full)]),
                )?
                .unwrap_or_default(),
            key_bounds: key_bounds(&src, ordering)?,
            ordering,
            breaker: breaker::resolve(&src, errors.pause_on)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorFilter;
    use std::time::Duration;

    const ITEMS: &[(Setting, &str)] = &[
        (Setting::Topic, "update-item"),
        (Setting::Attempts, "4"),
        (Setting::Backoff, "1s*2"),
    ];

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn resolve(
        attribute: &[(Setting, &str)],
        env: &[(&str, &str)],
    ) -> Result<ListenerConfig, ConfigError> {
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        ListenerConfig::resolve(
            "update_item",
            attribute,
            ErrorFilter::RetryAll,
            move |var| env.iter().find(|(k, _)| k == var).map(|(_, v)| v.clone()),
        )
    }

    #[test]
    fn attribute_values_and_defaults() {
        let c =
            ListenerConfig::resolve("update_item", ITEMS, ErrorFilter::RetryAll, no_env).unwrap();
        assert_eq!(
            (c.policy.attempts, c.policy.group.as_str()),
            (4, "update_item")
        );
        assert_eq!(
            c.topics.retry_path(),
            [
                "update-item-retry-1000",
                "update-item-retry-2000",
                "update-item-retry-4000"
            ]
        );
        assert_eq!(
            (c.partitions, c.replication, c.concurrency, c.auto_create),
            (None, None, 1, AutoCreate::All)
        );
        assert_eq!(c.topic_origin, Origin::Attribute);
    }

    #[test]
    fn environment_overrides_every_kind_of_setting() {
        let c = resolve(
            ITEMS,
            &[
                ("RETRY_UPDATE_ITEM_ATTEMPTS", "6"),
                ("RETRY_UPDATE_ITEM_BACKOFF", "500ms"),
                ("RETRY_UPDATE_ITEM_SUFFIX", "index"),
                ("RETRY_UPDATE_ITEM_DLT", "fail"),
                ("RETRY_UPDATE_ITEM_GROUP", "items-svc"),
                ("RETRY_UPDATE_ITEM_TIMEOUT", "1m"),
                ("RETRY_UPDATE_ITEM_PARTITIONS", "6"),
                ("RETRY_UPDATE_ITEM_CONCURRENCY", "3"),
                ("RETRY_UPDATE_ITEM_AUTO_CREATE", "false"),
                ("RETRY_UPDATE_ITEM_JITTER", "0.2"),
                ("RETRY_OTHER_ATTEMPTS", "99"),
            ],
        )
        .unwrap();
        assert_eq!(c.policy.attempts, 6);
        assert_eq!(c.policy.backoff.initial(), Duration::from_millis(500));
        assert_eq!(
            (c.policy.suffix, c.policy.dlt),
            (SuffixStrategy::Index, DltStrategy::Fail)
        );
        assert_eq!(c.policy.group, "items-svc");
        assert_eq!(c.policy.timeout, Some(Duration::from_secs(60)));
        assert_eq!(
            (c.partitions, c.concurrency, c.auto_create),
            (Some(6), 3, AutoCreate::Never)
        );
        assert_eq!(c.topics.retry_topics()[0].group, "items-svc-retry");
    }

    #[test]
    fn bad_values_name_the_variable_and_value() {
        let err = resolve(ITEMS, &[("RETRY_UPDATE_ITEM_ATTEMPTS", "lots")]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "listener `update_item`: invalid attempts `lots` (from environment variable \
             RETRY_UPDATE_ITEM_ATTEMPTS): expected a whole number of at least 1"
        );
        let err = resolve(ITEMS, &[("RETRY_UPDATE_ITEM_DLT", "sometimes")]).unwrap_err();
        assert!(
            err.reason.contains("`always_retry`, `fail`, `none`"),
            "{err}"
        );
        let err = resolve(ITEMS, &[("RETRY_UPDATE_ITEM_BACKOFF", "1s*0")]).unwrap_err();
        assert_eq!(
            (err.setting, err.value.as_str()),
            (Setting::Backoff, "1s*0")
        );
        let err = resolve(ITEMS, &[("RETRY_UPDATE_ITEM_ATTEMPTS", "0")]).unwrap_err();
        assert_eq!(err.setting, Setting::Attempts);
        let err = resolve(ITEMS, &[("RETRY_UPDATE_ITEM_ATTEMPTS", "40")]).unwrap_err();
        assert_eq!(
            err.setting,
            Setting::Backoff,
            "a runaway chain blames the backoff: {err}"
        );
        let err = resolve(ITEMS, &[("RETRY_UPDATE_ITEM_TOPIC", "has space")]).unwrap_err();
        assert_eq!(err.origin, Origin::Env("RETRY_UPDATE_ITEM_TOPIC".into()));
        let err = resolve(
            &[(Setting::Topic, "t"), (Setting::Backoff, "5s")],
            &[("RETRY_UPDATE_ITEM_MAX_DELAY", "1s")],
        )
        .unwrap_err();
        assert_eq!(err.setting, Setting::MaxDelay);
        let err = resolve(&[], &[]).unwrap_err();
        assert_eq!((err.setting, err.origin), (Setting::Topic, Origin::Default));
    }

    #[test]
    fn counts_are_bounded_naming_the_variable() {
        const CONCURRENCY: &str = "RETRY_UPDATE_ITEM_CONCURRENCY";
        const PARTITIONS: &str = "RETRY_UPDATE_ITEM_PARTITIONS";
        const REPLICATION: &str = "RETRY_UPDATE_ITEM_REPLICATION";
        let c = resolve(
            ITEMS,
            &[
                (CONCURRENCY, "10000"),
                (PARTITIONS, "10000"),
                (REPLICATION, "32"),
            ],
        )
        .unwrap();
        assert_eq!(
            (c.concurrency, c.partitions, c.replication),
            (10_000, Some(10_000), Some(32))
        );
        // The last concurrency is one more permit than tokio's semaphore holds.
        let too_many: [(&str, Setting, &str, &[&str]); 3] = [
            (
                CONCURRENCY,
                Setting::Concurrency,
                "10000",
                &["0", "10001", "2305843009213693952"],
            ),
            (
                PARTITIONS,
                Setting::Partitions,
                "10000",
                &["0", "-1", "10001"],
            ),
            (
                REPLICATION,
                Setting::Replication,
                "32",
                &["0", "33", "40000"],
            ),
        ];
        for (var, setting, max, values) in too_many {
            for value in values {
                let err = resolve(ITEMS, &[(var, value)]).unwrap_err();
                assert_eq!(
                    (err.setting, &err.origin),
                    (setting, &Origin::Env(var.into()))
                );
                assert_eq!(
                    err.reason,
                    format!("expected a whole number from 1 to {max}")
                );
            }
        }
    }

    #[test]
    fn auto_create_retry_creates_all_but_the_main_topic_and_the_topics_origin_is_kept() {
        let retry = [("RETRY_UPDATE_ITEM_AUTO_CREATE", "retry")];
        let c = resolve(ITEMS, &retry).unwrap();
        assert_eq!(c.auto_create, AutoCreate::Retry);
        let created: Vec<bool> = c
            .topics
            .topics()
            .map(|t| c.auto_create.creates(t.kind))
            .collect();
        assert_eq!(created, [false, true, true, true, true]);
        assert!(!AutoCreate::Never.creates(DestinationKind::Dlt));
        assert!(AutoCreate::All.creates(DestinationKind::Main));
        let renamed = [("RETRY_UPDATE_ITEM_TOPIC", "update-itme")];
        assert_eq!(
            resolve(ITEMS, &renamed).unwrap().topic_origin,
            Origin::Env("RETRY_UPDATE_ITEM_TOPIC".into())
        );
        let err = resolve(ITEMS, &[("RETRY_UPDATE_ITEM_AUTO_CREATE", "main")]).unwrap_err();
        assert_eq!(err.setting, Setting::AutoCreate);
        assert_eq!(err.reason, "expected one of `true`, `false`, `retry`");
        assert_eq!(
            [AutoCreate::All, AutoCreate::Retry, AutoCreate::Never].map(|a| a.to_string()),
            ["true", "\"retry\"", "false"]
        );
    }

    #[test]
    fn stacktrace_is_the_cause_chain_unless_full_is_asked_for() {
        assert_eq!(resolve(ITEMS, &[]).unwrap().stacktrace, StackTrace::Chain);
        let full = [(Setting::Topic, "t"), (Setting::StackTrace, "full")];
        assert_eq!(resolve(&full, &[]).unwrap().stacktrace, StackTrace::Full);
        let env = [("RETRY_UPDATE_ITEM_STACKTRACE", "chain")];
        assert_eq!(resolve(&full, &env).unwrap().stacktrace, StackTrace::Chain);
        let err = resolve(ITEMS, &[("RETRY_UPDATE_ITEM_STACKTRACE", "always")]).unwrap_err();
        assert_eq!(err.setting, Setting::StackTrace);
        assert!(err.to_string().contains("`chain`, `full`"), "{err}");
    }

    #[test]
    fn ordering_is_by_partition_unless_none_is_asked_for() {
        assert_eq!(
            resolve(ITEMS, &[]).unwrap().ordering,
            ProcessingOrder::Partition
        );
        let none = [(Setting::Topic, "t"), (Setting::Ordering, "none")];
        assert_eq!(
            resolve(&none, &[]).unwrap().ordering,
            ProcessingOrder::Unordered
        );
        let env = [("RETRY_UPDATE_ITEM_ORDERING", "partition")];
        assert_eq!(
            resolve(&none, &env).unwrap().ordering,
            ProcessingOrder::Partition
        );
        let err = resolve(ITEMS, &[("RETRY_UPDATE_ITEM_ORDERING", "keys")]).unwrap_err();
        assert_eq!(err.setting, Setting::Ordering);
        assert!(
            err.to_string().contains("`partition`, `key`, `none`"),
            "{err}"
        );
    }

    #[test]
    fn ordering_by_key_from_the_environment() {
        let key = resolve(ITEMS, &[("RETRY_UPDATE_ITEM_ORDERING", "key")]);
        assert_eq!(key.unwrap().ordering, ProcessingOrder::Key);
        let err = resolve(ITEMS, &[("RETRY_UPDATE_ITEM_ORDERING", "keys")]).unwrap_err();
        assert_eq!(err.setting, Setting::Ordering);
    }

    #[test]
    fn key_bounds_apply_only_to_key_order() {
        let c = resolve(ITEMS, &[("RETRY_UPDATE_ITEM_ORDERING", "key")]).unwrap();
        assert_eq!(c.key_bounds, ChainBounds::DEFAULT);
        let c = resolve(
            ITEMS,
            &[
                ("RETRY_UPDATE_ITEM_ORDERING", "key"),
                ("RETRY_UPDATE_ITEM_MAX_PARKED", "50"),
                ("RETRY_UPDATE_ITEM_MAX_BLOCKED_KEYS", "7"),
            ],
        )
        .unwrap();
        assert_eq!(
            c.key_bounds,
            ChainBounds {
                keys: 7,
                records: 50
            }
        );
        let err = resolve(ITEMS, &[("RETRY_UPDATE_ITEM_MAX_PARKED", "50")]).unwrap_err();
        assert_eq!(err.setting, Setting::MaxParked);
        assert!(err.to_string().contains("ordering = \"key\""), "{err}");
        let err = resolve(
            ITEMS,
            &[
                ("RETRY_UPDATE_ITEM_ORDERING", "key"),
                ("RETRY_UPDATE_ITEM_MAX_BLOCKED_KEYS", "0"),
            ],
        )
        .unwrap_err();
        assert_eq!(err.setting, Setting::MaxBlockedKeys);
    }

    #[test]
    fn spring_parity_settings_from_attribute_and_environment() {
        let c = resolve(ITEMS, &[]).unwrap();
        assert_eq!(
            (
                c.policy.retry_topic_suffix.as_str(),
                c.policy.dlt_topic_suffix.as_str(),
                c.policy.topic_reuse,
                c.auto_start_dlt
            ),
            ("-retry", "-dlt", TopicReuse::Single, true)
        );
        let attribute = &[
            (Setting::Topic, "update-item"),
            (Setting::Backoff, "5s"),
            (Setting::RetryTopicSuffix, "-again"),
            (Setting::TopicReuse, "multiple"),
            (Setting::AutoStartDlt, "false"),
        ];
        let c = resolve(
            attribute,
            &[("RETRY_UPDATE_ITEM_DLT_TOPIC_SUFFIX", ".dead")],
        )
        .unwrap();
        let names: Vec<&str> = c.topics.topics().map(|t| t.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "update-item",
                "update-item-again-0",
                "update-item-again-1",
                "update-item.dead"
            ]
        );
        assert!(!c.auto_start_dlt);
        let c = resolve(
            attribute,
            &[
                ("RETRY_UPDATE_ITEM_TOPIC_REUSE", "single"),
                ("RETRY_UPDATE_ITEM_AUTO_START_DLT", "true"),
            ],
        )
        .unwrap();
        assert_eq!(
            c.topics.retry_path(),
            ["update-item-again", "update-item-again"]
        );
        assert!(c.auto_start_dlt);
    }

    #[test]
    fn spring_parity_settings_reject_bad_values() {
        let err = resolve(ITEMS, &[("RETRY_UPDATE_ITEM_RETRY_TOPIC_SUFFIX", "")]).unwrap_err();
        assert_eq!(err.setting, Setting::RetryTopicSuffix);
        assert!(err.reason.contains("cannot be empty"), "{err}");
        let err = resolve(
            ITEMS,
            &[("RETRY_UPDATE_ITEM_DLT_TOPIC_SUFFIX", "-dead letters")],
        )
        .unwrap_err();
        assert_eq!(err.setting, Setting::DltTopicSuffix);
        assert!(
            err.reason.starts_with("' ' cannot be part of a topic name"),
            "{err}"
        );
        let err = resolve(ITEMS, &[("RETRY_UPDATE_ITEM_TOPIC_REUSE", "sometimes")]).unwrap_err();
        assert!(err.reason.contains("`single`, `multiple`"), "{err}");
        let err = resolve(ITEMS, &[("RETRY_UPDATE_ITEM_AUTO_START_DLT", "no")]).unwrap_err();
        assert_eq!(err.setting, Setting::AutoStartDlt);
        let collide = &[
            (Setting::Topic, "update-item"),
            (Setting::Attempts, "2"),
            (Setting::RetryTopicSuffix, "-dlt"),
        ];
        let err = resolve(collide, &[]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "listener `update_item`: invalid retry_topic_suffix `-dlt` (from attribute): two \
             destinations would both be the topic `update-item-dlt`; choose suffixes that differ"
        );
        let err = resolve(
            ITEMS,
            &[
                ("RETRY_UPDATE_ITEM_ATTEMPTS", "40000"),
                ("RETRY_UPDATE_ITEM_BACKOFF", "1ms"),
            ],
        )
        .unwrap_err();
        assert_eq!(err.setting, Setting::Attempts);
        assert!(err.reason.contains("at most 32767"), "{err}");
    }

    #[derive(Debug, thiserror::Error)]
    #[error("invalid")]
    struct Invalid;

    static INVALID: [crate::ErrorType; 1] = [crate::ErrorType::of::<Invalid>()];
    static ROUTES: [crate::DltRoute; 1] = [crate::DltRoute::new("-validation", &INVALID)];

    #[test]
    fn error_rules_bring_routed_dlts() {
        let rules = ErrorRules {
            filter: ErrorFilter::RetryAll,
            dlt_routes: &ROUTES,
            pause_on: &[],
        };
        let c = ListenerConfig::resolve("update_item", ITEMS, rules, no_env).unwrap();
        assert_eq!(c.policy.dlt_routes, &ROUTES[..]);
        let dlts: Vec<&str> = c
            .topics
            .topics()
            .filter(|t| t.kind == crate::DestinationKind::Dlt)
            .map(|t| t.group.as_str())
            .collect();
        assert_eq!(dlts, ["update_item-validation-dlt", "update_item-dlt"]);
    }

    #[test]
    fn names_round_trip() {
        for s in Setting::ALL {
            assert_eq!(Setting::from_name(s.name()), Some(s));
        }
        assert_eq!(Setting::from_name("retries"), None);
        assert_eq!(
            Setting::MaxDelay.env_var("update_item"),
            "RETRY_UPDATE_ITEM_MAX_DELAY"
        );
        assert_eq!(
            Setting::AutoStartDlt.env_var("update_item"),
            "RETRY_UPDATE_ITEM_AUTO_START_DLT"
        );
        assert_eq!(
            [
                Setting::Breaker,
                Setting::Probe,
                Setting::MaxProbeDelay,
                Setting::PauseOn
            ]
            .map(|s| s.env_var("update_item")),
            [
                "RETRY_UPDATE_ITEM_BREAKER",
                "RETRY_UPDATE_ITEM_PROBE",
                "RETRY_UPDATE_ITEM_MAX_PROBE_DELAY",
                "RETRY_UPDATE_ITEM_PAUSE_ON"
            ]
        );
        for s in Setting::ALL {
            assert_eq!(s.variant().to_ascii_lowercase(), s.name().replace('_', ""));
        }
    }
}
