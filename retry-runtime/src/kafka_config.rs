//! Kafka client settings from the environment: `KAFKA_BOOTSTRAP_SERVERS` plus pass-through
//! `KAFKA_*` client properties (`KAFKA_SECURITY_PROTOCOL` → `security.protocol`).

use rdkafka::config::RDKafkaLogLevel;
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaConfRes;
use rdkafka::ClientConfig;
use retry_core::DestinationKind;

use crate::secret::{masked_in, shown_value};

/// Where clients connect when nothing says otherwise.
pub const DEFAULT_BOOTSTRAP_SERVERS: &str = "localhost:9092";

/// What the `client.id` of every consumer of a listener with `ordering = "key"` ends with: it
/// says the consumer's mode to whoever describes its group (start-up refuses a member without
/// it in a key-ordered listener's groups, `key_order_checks::check_group_members`).
pub(crate) const KEY_ORDER_CLIENT_ID_SUFFIX: &str = ".key-order";

/// librdkafka's `client.id` when none is set.
const DEFAULT_CLIENT_ID: &str = "rdkafka";

/// A client property that librdkafka refused, naming the variable it came from.
///
/// The value of a property whose name says it holds a secret (it contains `password`,
/// `secret`, `key`, `token`, `sasl.jaas` or `oauthbearer.config`) is shown as `***`, here and
/// in the reason.
#[derive(Debug, thiserror::Error)]
#[error("invalid Kafka client setting {origin}={value}: {reason}")]
pub struct KafkaConfigError {
    /// The environment variable or builder call the value came from.
    pub origin: String,
    /// The value, `***` when it is a secret.
    pub value: String,
    /// librdkafka's reason.
    pub reason: String,
}

/// The client properties every consumer, producer and admin client of the app starts from.
#[derive(Clone)]
pub struct KafkaSettings {
    properties: Vec<(String, String, String)>,
}

/// Each property with its value, secrets masked as in [`KafkaConfigError`].
impl std::fmt::Debug for KafkaSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map()
            .entries(
                self.properties
                    .iter()
                    .map(|(property, value, _)| (property, shown_value(property, value))),
            )
            .finish()
    }
}

impl KafkaSettings {
    /// Reads `KAFKA_*` variables from `env_vars`. A variable that does not name a librdkafka
    /// property (`KAFKA_HOME`, `KAFKA_OPTS`) is skipped with a warning; a bad value is an error.
    pub fn from_env(
        env_vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, KafkaConfigError> {
        let mut settings = Self {
            properties: vec![(
                "bootstrap.servers".into(),
                DEFAULT_BOOTSTRAP_SERVERS.into(),
                "default".into(),
            )],
        };
        let mut vars: Vec<(String, String)> = env_vars
            .into_iter()
            .filter(|(k, _)| k.starts_with("KAFKA_"))
            .collect();
        vars.sort();
        for (var, value) in vars {
            let property = var["KAFKA_".len()..].to_ascii_lowercase().replace('_', ".");
            match check(&property, &value) {
                Ok(()) => settings.set(property, value, var),
                Err(KafkaError::ClientConfig(RDKafkaConfRes::RD_KAFKA_CONF_UNKNOWN, ..)) => {
                    tracing::warn!(%var, "ignoring {var}: `{property}` is not a Kafka client property");
                }
                Err(e) => return Err(rejected(&property, var, &value, e)),
            }
        }
        Ok(settings)
    }

    /// Sets a property, checking it with librdkafka.
    pub fn set_checked(&mut self, property: &str, value: &str) -> Result<(), KafkaConfigError> {
        check(property, value).map_err(|e| rejected(property, property.to_owned(), value, e))?;
        self.set(property.to_owned(), value.to_owned(), property.to_owned());
        Ok(())
    }

    fn set(&mut self, property: String, value: String, origin: String) {
        self.properties.retain(|(p, _, _)| *p != property);
        self.properties.push((property, value, origin));
    }

    /// The bootstrap servers in effect.
    pub fn bootstrap_servers(&self) -> &str {
        self.get("bootstrap.servers")
            .unwrap_or(DEFAULT_BOOTSTRAP_SERVERS)
    }

    /// A property's value, if set.
    pub fn get(&self, property: &str) -> Option<&str> {
        self.properties
            .iter()
            .find(|(p, _, _)| p == property)
            .map(|(_, v, _)| v.as_str())
    }

    /// A property's value and where it came from (the `KAFKA_*` variable or the builder's
    /// property), if set.
    pub(crate) fn get_with_origin(&self, property: &str) -> Option<(&str, &str)> {
        self.properties
            .iter()
            .find(|(p, _, _)| p == property)
            .map(|(_, v, origin)| (v.as_str(), origin.as_str()))
    }

    /// Fails, naming the variable, when the user set a property whose value the delivery
    /// guarantee depends on to anything else than the value the app pins, or outside the
    /// range it pins (`auto.commit.interval.ms`: 10 to 60000).
    pub fn check_pinned(&self) -> Result<(), KafkaConfigError> {
        for (property, value, origin) in &self.properties {
            let property = canonical(property);
            let Some((_, pinned, why)) = PINNED.iter().find(|(p, _, _)| *p == property) else {
                continue;
            };
            let allowed = match pinned {
                Pinned::Value(pinned) => equal_values(value, pinned),
                Pinned::PerConsumer | Pinned::Unset => false,
                Pinned::Range(min, max) => value
                    .trim()
                    .parse::<i64>()
                    .is_ok_and(|v| (*min..=*max).contains(&v)),
            };
            if !allowed {
                let reason = match pinned {
                    Pinned::Range(min, max) => {
                        format!("`{property}` must be from {min} to {max}: {why}")
                    }
                    _ => format!("`{property}` is set by kafka-retry: {why}"),
                };
                return Err(KafkaConfigError {
                    origin: origin.clone(),
                    value: shown_value(property, value).to_owned(),
                    reason,
                });
            }
        }
        Ok(())
    }

    /// What the settings do that users may not expect, to log at start-up: a main topic read
    /// from its end (`auto.offset.reset=latest`) whenever its group has no committed offset.
    pub fn warnings(&self) -> Vec<String> {
        self.properties
            .iter()
            .filter(|(property, value, _)| {
                property == "auto.offset.reset"
                    && ["latest", "largest", "end"]
                        .iter()
                        .any(|latest| value.eq_ignore_ascii_case(latest))
            })
            .map(|(_, value, origin)| {
                format!(
                    "{origin}={value}: a main topic whose group has no committed offset (a new \
                     group, or one whose offsets expired) is read from its end, skipping every \
                     record already on it; retry topics and DLTs are still read from the \
                     earliest (the default, `earliest`, skips nothing)"
                )
            })
            .collect()
    }

    /// The `client.id` of a consumer of a listener with `ordering = "key"`: the user's
    /// (`KAFKA_CLIENT_ID`), or librdkafka's `rdkafka`, then [`KEY_ORDER_CLIENT_ID_SUFFIX`].
    pub(crate) fn key_order_client_id(&self) -> String {
        let base = self.get("client.id").unwrap_or(DEFAULT_CLIENT_ID);
        format!("{base}{KEY_ORDER_CLIENT_ID_SUFFIX}")
    }

    /// The configuration of a client in `role`: the role's defaults, then the user's
    /// properties, then what the role pins.
    pub fn client_config(&self, role: Role) -> ClientConfig {
        let mut config = ClientConfig::new();
        config.set_log_level(RDKafkaLogLevel::Warning);
        let classic_group = self.get("group.protocol") != Some("consumer");
        let defaults = CONNECTING.iter().chain(role.defaults()).copied();
        for (property, value) in defaults.chain(role.long_poll()) {
            // KIP-848 moves session timeouts to the broker; the client refuses them.
            if classic_group || !property.starts_with("session.") {
                config.set(property, value);
            }
        }
        for (property, value, _) in &self.properties {
            config.set(property, value);
        }
        for (property, value) in role.pinned() {
            config.set(*property, *value);
        }
        config
    }
}

/// How a guarantee-critical property is pinned.
enum Pinned {
    /// To this value (the user may set it, to the same value).
    Value(&'static str),
    /// Per consumer by the app (the user may not set it).
    PerConsumer,
    /// Within these bounds, inclusive (the user may set any value in them).
    Range(i64, i64),
    /// Left unset (the user may not set it).
    Unset,
}

/// Properties the guarantees depend on, with the reason given when a user overrides them.
const PINNED: &[(&str, Pinned, &str)] = &[
    (
        "enable.auto.offset.store",
        Pinned::Value("false"),
        "an offset is stored only once its record was handled or forwarded (at-least-once)",
    ),
    (
        "enable.auto.commit",
        Pinned::Value("true"),
        "stored offsets are committed in the background",
    ),
    (
        "auto.commit.interval.ms",
        Pinned::Range(10, 60_000),
        "0 turns the background commit off, so every record would be handled again after a \
         restart; what a crash redelivers grows with the interval",
    ),
    (
        "queued.min.messages",
        Pinned::Range(1, 50_000),
        "librdkafka fetches a main topic's partition again while fewer records than this wait \
         in its queue, each about 320 bytes beyond its own bytes and keeping the fetch answer \
         it came in alive (retry topics and DLTs keep 100)",
    ),
    (
        "queued.max.messages.kbytes",
        Pinned::Range(1, 16_384),
        "librdkafka fetches a main topic's partition again while less value data than this \
         waits in its queue (retry topics and DLTs keep 1024)",
    ),
    (
        "fetch.message.max.bytes",
        Pinned::Range(1, 4 << 20),
        "one fetch brings a partition this much, every record of it parsed at once",
    ),
    (
        "fetch.max.bytes",
        Pinned::Range(1, 16 << 20),
        "a fetch answer stays in memory as long as any record it brought waits",
    ),
    (
        "acks",
        Pinned::Value("all"),
        "a forward counts as done only once every in-sync replica has it",
    ),
    (
        "enable.idempotence",
        Pinned::Value("true"),
        "forwards retried by the producer must not be duplicated or reordered",
    ),
    (
        "group.id",
        Pinned::PerConsumer,
        "each listener topic has its own group; set a listener's `group` argument instead",
    ),
    (
        "group.instance.id",
        Pinned::PerConsumer,
        "set RETRY_INSTANCE_ID (or RetryAppBuilder::instance_id) for static membership",
    ),
    (
        "transactional.id",
        Pinned::Unset,
        "kafka-retry does not use transactions, and a transactional producer refuses every \
         forward made outside one",
    ),
];

/// A property under its main name (librdkafka accepts aliases).
fn canonical(property: &str) -> &str {
    match property {
        "request.required.acks" => "acks",
        "max.partition.fetch.bytes" => "fetch.message.max.bytes",
        other => other,
    }
}

fn equal_values(value: &str, pinned: &str) -> bool {
    value.eq_ignore_ascii_case(pinned) || (pinned == "all" && value == "-1")
}

/// What a client of the app does; each role has defaults and pinned settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Consumes a main topic.
    Main,
    /// Consumes a retry topic.
    Retry,
    /// Consumes a DLT.
    Dlt,
    /// Forwards records to retry topics and DLTs.
    Producer,
    /// Reads metadata and creates topics.
    Admin,
}

/// Defaults of every client, which the user's properties override: `reconnect.backoff.ms` of
/// 10 ms (librdkafka: 100 ms). librdkafka picks a broker for a client's cluster connection at
/// most once every `reconnect.backoff.ms` / 2 (at least 11 ms), and a new client connects
/// twice: to the bootstrap servers, then, once their metadata names the broker and the
/// bootstrap connection is closed, to that broker. With 100 ms the second connection waited up
/// to 50 ms, once for the admin client's metadata and again before the consumers could join
/// their groups: about a third of the time from start to the first record handled. After an
/// outage the backoff between attempts still doubles up to `reconnect.backoff.max.ms` (10 s),
/// from 10 ms instead of 100: about three more attempts a broker in the first 100 ms.
const CONNECTING: &[(&str, &str)] = &[("reconnect.backoff.ms", "10")];

impl Role {
    /// The role of the consumer of a topic of `kind`.
    pub fn consuming(kind: DestinationKind) -> Self {
        match kind {
            DestinationKind::Main => Self::Main,
            DestinationKind::Retry { .. } | DestinationKind::Parked => Self::Retry,
            DestinationKind::Dlt => Self::Dlt,
        }
    }

    /// Defaults the user's properties override.
    ///
    /// Main topics are read from the earliest offset when their group has none committed
    /// (`auto.offset.reset=earliest`), so a new group skips nothing; `KAFKA_AUTO_OFFSET_RESET`
    /// may change it, and `latest` is logged at WARN at start-up
    /// ([`KafkaSettings::warnings`]): it skips the records already on the topic whenever
    /// the group has no committed offset.
    ///
    /// Consumers: a 10 s session timeout instead of librdkafka's 45 s, so a crashed instance's
    /// partitions move within about 15 s (librdkafka heartbeats from a thread of its own,
    /// which no slow handler or pause stalls, so a short timeout does not evict live
    /// members). Each partition is read from a queue of its own, so the prefetch bounds apply
    /// per partition: librdkafka fetches a partition again while fewer than
    /// `queued.min.messages` records and less than `queued.max.messages.kbytes` of values
    /// wait in its queue. On main topics that is 10,000 records or 4 MiB: enough to keep a
    /// partition read at a million records a second busy until the next fetch arrives. A
    /// partition whose prefetch is full is fetched again 2 ms after it drains below them
    /// (`fetch.queue.backoff.ms`; librdkafka's 1 s would stall a main topic read faster than
    /// it is fetched, and a retry partition refilled 100 records at a time when many retries
    /// fall due at once). Retry and DLT consumers poll more often ([`Role::long_poll`]), so a
    /// record forwarded with a short delay arrives before it is due, and their prefetch
    /// bounds are pinned ([`Role::pinned`]).
    /// What these bounds hold in bytes: the production guide's *Memory* section.
    /// Stored offsets are committed every 200 ms (librdkafka: 5 s; it skips a commit when
    /// nothing changed), so a crash redelivers about a fifth of a second's work, near what
    /// Spring's per-batch commits redeliver. `KAFKA_AUTO_COMMIT_INTERVAL_MS` may set 10 to
    /// 60000 ms; anything else fails start-up (librdkafka's 0 turns commits off).
    fn defaults(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Self::Main => &[
                ("auto.offset.reset", "earliest"),
                ("auto.commit.interval.ms", "200"),
                ("session.timeout.ms", "10000"),
                ("queued.min.messages", "10000"),
                ("queued.max.messages.kbytes", "4096"),
                ("fetch.queue.backoff.ms", "2"),
            ],
            Self::Retry | Self::Dlt => &[
                ("auto.commit.interval.ms", "200"),
                ("session.timeout.ms", "10000"),
                ("fetch.queue.backoff.ms", "2"),
            ],
            // `message.max.bytes`: librdkafka's default (1,000,000) is below what a topic
            // takes by default (1,048,588), so a record near that limit, read from the main
            // topic, could be refused by the client before any broker saw it. 8 MiB lets the
            // destination's own `max.message.bytes` decide.
            Self::Producer => &[("linger.ms", "1"), ("message.max.bytes", "8388608")],
            Self::Admin => &[],
        }
    }

    /// A consumer's `fetch.wait.max.ms`, the longest a fetch waits for records when it finds
    /// none, a default the user's properties override: 500 ms on main topics, 50 on DLTs, 10
    /// on retry topics. When more retries fall due at once than a partition prefetched, the
    /// rest is fetched at their due time, and librdkafka keeps one fetch in flight per broker
    /// connection: a long poll for another, caught-up partition of the consumer delays that
    /// fetch by up to its wait, so retry consumers wait least. The price is polling while
    /// idle: an idle consumer fetches again each time its wait ends.
    fn long_poll(self) -> Option<(&'static str, &'static str)> {
        let ms = match self {
            Self::Main => "500",
            Self::Retry => "10",
            Self::Dlt => "50",
            Self::Producer | Self::Admin => return None,
        };
        Some(("fetch.wait.max.ms", ms))
    }

    /// Settings applied over the user's. Retry and DLT groups always start from the
    /// earliest offset: records are forwarded to them before their group first commits, so
    /// `latest` would skip them (the main topic's `auto.offset.reset` is the user's).
    ///
    /// Retry and DLT partitions prefetch at most 100 records or 1 MiB of values, whatever the
    /// user set for main topics: the records behind a head that is not due yet are only
    /// held, and each keeps the fetch answer it came in alive, so the count bounds what a
    /// waiting partition holds. A smaller count leaves a partition idle longer while its
    /// next fetch is on its way when many retries fall due at once.
    fn pinned(self) -> &'static [(&'static str, &'static str)] {
        const CONSUMER: [(&str, &str); 2] = [
            ("enable.auto.commit", "true"),
            ("enable.auto.offset.store", "false"),
        ];
        match self {
            Self::Main => &CONSUMER,
            Self::Retry | Self::Dlt => &[
                CONSUMER[0],
                CONSUMER[1],
                ("auto.offset.reset", "earliest"),
                ("queued.min.messages", "100"),
                ("queued.max.messages.kbytes", "1024"),
            ],
            Self::Producer => &[("acks", "all"), ("enable.idempotence", "true")],
            Self::Admin => &[],
        }
    }
}

fn check(property: &str, value: &str) -> Result<(), KafkaError> {
    ClientConfig::new()
        .set(property, value)
        .create_native_config()
        .map(drop)
}

/// `value` of `property`, from `origin`, refused for `error`; secrets masked.
fn rejected(property: &str, origin: String, value: &str, error: KafkaError) -> KafkaConfigError {
    let reason = match error {
        KafkaError::ClientConfig(_, desc, _, _) => desc,
        other => other.to_string(),
    };
    KafkaConfigError {
        origin,
        value: shown_value(property, value).to_owned(),
        reason: masked_in(property, value, &reason),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn maps_kafka_variables_to_properties() {
        let s = KafkaSettings::from_env(vars(&[
            ("KAFKA_BOOTSTRAP_SERVERS", "broker:19092"),
            ("KAFKA_SECURITY_PROTOCOL", "SASL_SSL"),
            ("KAFKA_SASL_MECHANISM", "PLAIN"),
            ("KAFKA_HOME", "/opt/kafka"),
            ("PATH", "/usr/bin"),
        ]))
        .unwrap();
        assert_eq!(s.bootstrap_servers(), "broker:19092");
        assert_eq!(s.get("security.protocol"), Some("SASL_SSL"));
        assert_eq!(s.get("sasl.mechanism"), Some("PLAIN"));
        assert_eq!(s.get("home"), None, "not a client property: skipped");
    }

    #[test]
    fn a_key_ordered_consumers_client_id_says_its_mode_after_the_users_or_librdkafkas() {
        let users = KafkaSettings::from_env(vars(&[("KAFKA_CLIENT_ID", "ledger")])).unwrap();
        assert_eq!(users.key_order_client_id(), "ledger.key-order");
        let default = KafkaSettings::from_env(vec![]).unwrap();
        assert_eq!(default.key_order_client_id(), "rdkafka.key-order");
    }

    #[test]
    fn defaults_to_localhost() {
        assert_eq!(
            KafkaSettings::from_env(vec![]).unwrap().bootstrap_servers(),
            "localhost:9092"
        );
    }

    #[test]
    fn a_bad_value_names_the_variable() {
        let err = KafkaSettings::from_env(vars(&[("KAFKA_SECURITY_PROTOCOL", "carrier-pigeon")]))
            .unwrap_err();
        assert_eq!(err.origin, "KAFKA_SECURITY_PROTOCOL");
        assert!(
            err.to_string()
                .starts_with("invalid Kafka client setting KAFKA_SECURITY_PROTOCOL=carrier-pigeon"),
            "{err}"
        );
    }

    #[test]
    fn a_rejected_secret_is_not_shown() {
        let mut s = KafkaSettings::from_env(vec![]).unwrap();
        let err = s.set_checked("sasl.password2", "hunter2").unwrap_err();
        let shown = format!("{err} {err:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(
            err.to_string()
                .starts_with("invalid Kafka client setting sasl.password2=***: "),
            "{err}"
        );
        s.set_checked("sasl.password", "hunter2").unwrap();
        let debug = format!("{s:?}");
        assert!(debug.contains(r#""sasl.password": "***""#), "{debug}");
        let err = s.set_checked("security.protocl", "SSL").unwrap_err();
        assert!(err.to_string().contains("security.protocl=SSL"), "{err}");
    }

    #[test]
    fn overriding_a_guarantee_is_a_start_up_error_naming_the_variable() {
        for (var, value, property) in [
            (
                "KAFKA_ENABLE_AUTO_OFFSET_STORE",
                "true",
                "enable.auto.offset.store",
            ),
            ("KAFKA_ACKS", "1", "acks"),
            ("KAFKA_REQUEST_REQUIRED_ACKS", "1", "acks"),
            ("KAFKA_ENABLE_IDEMPOTENCE", "false", "enable.idempotence"),
            ("KAFKA_ENABLE_AUTO_COMMIT", "false", "enable.auto.commit"),
            ("KAFKA_GROUP_ID", "mine", "group.id"),
            ("KAFKA_GROUP_INSTANCE_ID", "pod-1", "group.instance.id"),
            ("KAFKA_TRANSACTIONAL_ID", "orders-tx", "transactional.id"),
        ] {
            let err = KafkaSettings::from_env(vars(&[(var, value)]))
                .unwrap()
                .check_pinned()
                .unwrap_err();
            assert_eq!(err.origin, var);
            assert!(
                err.to_string()
                    .contains(&format!("`{property}` is set by kafka-retry")),
                "{err}"
            );
        }
        for (var, value) in [("KAFKA_ACKS", "-1"), ("KAFKA_ENABLE_IDEMPOTENCE", "true")] {
            KafkaSettings::from_env(vars(&[(var, value)]))
                .unwrap()
                .check_pinned()
                .unwrap();
        }
    }

    #[test]
    fn the_commit_interval_stays_in_a_sane_range() {
        let check = |ms: &str| {
            KafkaSettings::from_env(vars(&[("KAFKA_AUTO_COMMIT_INTERVAL_MS", ms)]))
                .unwrap()
                .check_pinned()
        };
        for ms in ["10", "200", "60000"] {
            check(ms).unwrap();
        }
        for ms in ["0", "9", "60001", "86400000"] {
            let err = check(ms).unwrap_err();
            assert_eq!(err.origin, "KAFKA_AUTO_COMMIT_INTERVAL_MS");
            assert!(
                err.reason
                    .starts_with("`auto.commit.interval.ms` must be from 10 to 60000: "),
                "{err}"
            );
        }
        let defaults = KafkaSettings::from_env(vec![]).unwrap();
        for role in [Role::Main, Role::Retry, Role::Dlt] {
            let ms = effective(&defaults.client_config(role), "auto.commit.interval.ms");
            assert_eq!(ms.as_deref(), Some("200"), "{role:?}: within the range");
        }
    }

    fn effective(config: &ClientConfig, property: &str) -> Option<String> {
        config.get(property).map(str::to_owned)
    }

    #[test]
    fn what_roles_pin_is_what_the_start_up_check_enforces() {
        for role in [
            Role::Main,
            Role::Retry,
            Role::Dlt,
            Role::Producer,
            Role::Admin,
        ] {
            for (property, value) in role.pinned() {
                if let Some((_, pinned, _)) = PINNED.iter().find(|(p, _, _)| p == property) {
                    let allowed = match pinned {
                        Pinned::Value(v) => v == value,
                        Pinned::Range(min, max) => {
                            value.parse().is_ok_and(|v: i64| (*min..=*max).contains(&v))
                        }
                        Pinned::PerConsumer | Pinned::Unset => false,
                    };
                    assert!(
                        allowed,
                        "{role:?} pins {property}={value}, the check expects otherwise"
                    );
                }
            }
        }
    }

    #[test]
    fn auto_offset_reset_is_the_users_on_main_topics_only() {
        let s = KafkaSettings::from_env(vars(&[("KAFKA_AUTO_OFFSET_RESET", "latest")])).unwrap();
        s.check_pinned().unwrap();
        let main = s.client_config(Role::Main);
        assert_eq!(
            effective(&main, "auto.offset.reset").as_deref(),
            Some("latest")
        );
        for role in [Role::Retry, Role::Dlt] {
            let config = s.client_config(role);
            assert_eq!(
                effective(&config, "auto.offset.reset").as_deref(),
                Some("earliest")
            );
            assert_eq!(
                effective(&config, "enable.auto.offset.store").as_deref(),
                Some("false")
            );
        }
        let producer = s.client_config(Role::Producer);
        assert_eq!(effective(&producer, "acks").as_deref(), Some("all"));
        assert_eq!(
            effective(&producer, "enable.idempotence").as_deref(),
            Some("true")
        );
    }

    #[test]
    fn latest_is_allowed_and_warned_about_and_earliest_is_the_default() {
        let defaults = KafkaSettings::from_env(vec![]).unwrap();
        assert_eq!(
            effective(&defaults.client_config(Role::Main), "auto.offset.reset").as_deref(),
            Some("earliest")
        );
        assert!(defaults.warnings().is_empty());
        for value in ["latest", "largest", "end", "LATEST"] {
            let s = KafkaSettings::from_env(vars(&[("KAFKA_AUTO_OFFSET_RESET", value)])).unwrap();
            s.check_pinned().unwrap();
            let warnings = s.warnings();
            assert_eq!(warnings.len(), 1, "{value}");
            assert!(
                warnings[0].starts_with(&format!("KAFKA_AUTO_OFFSET_RESET={value}: ")),
                "{warnings:?}"
            );
            assert!(warnings[0].contains("skipping every record"));
        }
        let s = KafkaSettings::from_env(vars(&[("KAFKA_AUTO_OFFSET_RESET", "smallest")])).unwrap();
        assert!(s.warnings().is_empty());
    }

    #[test]
    fn a_full_prefetch_is_fetched_again_soon_unless_the_user_says() {
        let s = KafkaSettings::from_env(vec![]).unwrap();
        let backoff =
            |s: &KafkaSettings, role| effective(&s.client_config(role), "fetch.queue.backoff.ms");
        let backoffs = [Role::Main, Role::Retry, Role::Dlt].map(|role| backoff(&s, role));
        assert_eq!(backoffs, ["2", "2", "2"].map(|ms| Some(ms.to_owned())));
        let s = KafkaSettings::from_env(vars(&[("KAFKA_FETCH_QUEUE_BACKOFF_MS", "100")])).unwrap();
        assert_eq!(backoff(&s, Role::Main).as_deref(), Some("100"));
    }

    #[test]
    fn every_client_reconnects_after_10_ms_unless_the_user_says() {
        let s = KafkaSettings::from_env(vec![]).unwrap();
        let backoff =
            |s: &KafkaSettings, role| effective(&s.client_config(role), "reconnect.backoff.ms");
        let roles = [
            Role::Main,
            Role::Retry,
            Role::Dlt,
            Role::Producer,
            Role::Admin,
        ];
        for role in roles {
            assert_eq!(backoff(&s, role).as_deref(), Some("10"), "{role:?}");
        }
        let s = KafkaSettings::from_env(vars(&[("KAFKA_RECONNECT_BACKOFF_MS", "100")])).unwrap();
        for role in roles {
            assert_eq!(backoff(&s, role).as_deref(), Some("100"), "{role:?}");
        }
    }

    /// The prefetch bounds of `role`: (`queued.min.messages`, `queued.max.messages.kbytes`).
    fn prefetch(s: &KafkaSettings, role: Role) -> (Option<String>, Option<String>) {
        let config = s.client_config(role);
        (
            effective(&config, "queued.min.messages"),
            effective(&config, "queued.max.messages.kbytes"),
        )
    }

    fn pair(records: &str, kbytes: &str) -> (Option<String>, Option<String>) {
        (Some(records.to_owned()), Some(kbytes.to_owned()))
    }

    #[test]
    fn every_consumer_caps_its_prefetch_by_records_and_bytes() {
        let s = KafkaSettings::from_env(vec![]).unwrap();
        assert_eq!(prefetch(&s, Role::Main), pair("10000", "4096"));
        for role in [Role::Retry, Role::Dlt] {
            assert_eq!(prefetch(&s, role), pair("100", "1024"), "{role:?}");
        }
        for role in [Role::Main, Role::Retry, Role::Dlt] {
            s.client_config(role)
                .create_native_config()
                .unwrap_or_else(|e| panic!("{role:?}: librdkafka refuses the defaults: {e}"));
        }
    }

    #[test]
    fn a_users_prefetch_bounds_apply_to_main_topics_only() {
        let s = KafkaSettings::from_env(vars(&[
            ("KAFKA_QUEUED_MIN_MESSAGES", "50000"),
            ("KAFKA_QUEUED_MAX_MESSAGES_KBYTES", "16384"),
        ]))
        .unwrap();
        s.check_pinned().unwrap();
        assert_eq!(prefetch(&s, Role::Main), pair("50000", "16384"));
        for role in [Role::Retry, Role::Dlt] {
            assert_eq!(prefetch(&s, role), pair("100", "1024"), "{role:?}");
        }
    }

    #[test]
    fn prefetch_and_fetch_sizes_beyond_their_bounds_fail_start_up_naming_the_variable() {
        let check = |var: &str, value: &str| {
            KafkaSettings::from_env(vars(&[(var, value)]))
                .unwrap()
                .check_pinned()
        };
        for (var, within, beyond, property) in [
            (
                "KAFKA_QUEUED_MIN_MESSAGES",
                "50000",
                "100000",
                "queued.min.messages",
            ),
            (
                "KAFKA_QUEUED_MAX_MESSAGES_KBYTES",
                "16384",
                "65536",
                "queued.max.messages.kbytes",
            ),
            (
                "KAFKA_FETCH_MESSAGE_MAX_BYTES",
                "4194304",
                "4194305",
                "fetch.message.max.bytes",
            ),
            (
                "KAFKA_MAX_PARTITION_FETCH_BYTES",
                "4194304",
                "52428800",
                "fetch.message.max.bytes",
            ),
            (
                "KAFKA_FETCH_MAX_BYTES",
                "16777216",
                "52428800",
                "fetch.max.bytes",
            ),
        ] {
            check(var, within).unwrap();
            let err = check(var, beyond).unwrap_err();
            assert_eq!(err.origin, var);
            assert!(
                err.reason
                    .starts_with(&format!("`{property}` must be from 1 to ")),
                "{err}"
            );
        }
    }

    #[test]
    fn retry_consumers_long_poll_briefly_unless_the_user_says() {
        let s = KafkaSettings::from_env(vec![]).unwrap();
        let wait = |s: &KafkaSettings, role| effective(&s.client_config(role), "fetch.wait.max.ms");
        let waits = [Role::Main, Role::Retry, Role::Dlt].map(|role| wait(&s, role));
        assert_eq!(waits, ["500", "10", "50"].map(|ms| Some(ms.to_owned())));
        assert_eq!(wait(&s, Role::Producer), None);
        let s = KafkaSettings::from_env(vars(&[("KAFKA_FETCH_WAIT_MAX_MS", "100")])).unwrap();
        assert_eq!(wait(&s, Role::Retry).as_deref(), Some("100"));
    }

    #[test]
    fn session_timeout_defaults_short_and_yields_to_the_user_and_to_kip_848() {
        let s = KafkaSettings::from_env(vec![]).unwrap();
        assert_eq!(
            effective(&s.client_config(Role::Retry), "session.timeout.ms").as_deref(),
            Some("10000")
        );
        let s = KafkaSettings::from_env(vars(&[("KAFKA_SESSION_TIMEOUT_MS", "30000")])).unwrap();
        assert_eq!(
            effective(&s.client_config(Role::Main), "session.timeout.ms").as_deref(),
            Some("30000")
        );
        let s = KafkaSettings::from_env(vars(&[("KAFKA_GROUP_PROTOCOL", "consumer")])).unwrap();
        assert_eq!(
            effective(&s.client_config(Role::Main), "session.timeout.ms"),
            None
        );
    }
}
