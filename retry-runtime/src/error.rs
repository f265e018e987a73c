//! Why the app could not start, and why the registered handlers cannot run.

use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode;
use retry_core::{AutoCreate, ConfigError, InstanceIdError, SharedSubscription};

use crate::kafka_config::KafkaConfigError;

/// A start-up failure; each names what to fix.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A `KAFKA_*` client setting is invalid.
    #[error(transparent)]
    KafkaConfig(#[from] KafkaConfigError),
    /// The registered handlers or their settings are invalid.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// `RETRY_INSTANCE_ID` cannot give each consumer a static member id of its own.
    #[error(transparent)]
    InstanceId(#[from] InstanceIdError),
    /// No broker answered.
    #[error("cannot reach Kafka at {bootstrap} (set KAFKA_BOOTSTRAP_SERVERS)")]
    Unreachable {
        /// The bootstrap servers tried.
        bootstrap: String,
        /// The client's error.
        source: KafkaError,
    },
    /// The backlog of a retry topic or DLT the listener's chain no longer has, or who
    /// forwarded its records, could not be read.
    #[error(
        "cannot read what consumer group {group} has not consumed of topic {topic}, or who \
         forwarded its records"
    )]
    OrphanBacklog {
        /// The topic.
        topic: String,
        /// The group derived from the listener's.
        group: String,
        /// The client's error (boxed: the error stays small).
        source: Box<KafkaError>,
    },
    /// A topic is missing and may not be created.
    #[error(
        "topic {topic} does not exist and listener `{listener}` has auto_create = {auto_create}{}",
        what_is_created(*auto_create)
    )]
    MissingTopic {
        /// The topic.
        topic: String,
        /// The listener needing it.
        listener: String,
        /// The listener's setting.
        auto_create: AutoCreate,
    },
    /// The broker refused to create a topic.
    #[error("could not create topic {topic}: {code}")]
    CreateTopic {
        /// The topic.
        topic: String,
        /// The broker's answer.
        code: RDKafkaErrorCode,
    },
    /// The admin request failed.
    #[error("topic creation failed")]
    Admin {
        /// The client's error.
        source: KafkaError,
    },
    /// A Kafka client could not be created.
    #[error("could not create a Kafka client")]
    Client(#[from] KafkaError),
    /// With `ordering = "key"`, a retry, parked or lock-log topic does not have the main
    /// topic's partition count: the keys of main partition `p` must be in partition `p` of
    /// each.
    #[error(
        "listener `{listener}` has ordering = \"key\", but topic {topic} has {partitions} \
         partitions and its main topic {main} {main_partitions}: give them the same count"
    )]
    KeyOrderPartitions {
        /// The listener.
        listener: String,
        /// The topic whose count differs.
        topic: String,
        /// Its partition count, as it exists or would be created.
        partitions: i32,
        /// The main topic.
        main: String,
        /// The main topic's partition count.
        main_partitions: i32,
    },
    /// `ordering = "key"` on a tokio runtime of one thread: a revocation waits for the
    /// revoked partitions' work on the thread that polls the consumer, which needs another
    /// thread to run that work.
    #[error(
        "listener `{listener}` has ordering = \"key\", which needs tokio's multi-threaded \
         runtime (#[tokio::main], not flavor = \"current_thread\")"
    )]
    KeyOrderOnOneThread {
        /// The listener.
        listener: String,
    },
    /// With `ordering = "key"`, an existing parked or lock-log topic has a setting that loses
    /// what it keeps: a retention on the parked topic deletes records waiting for their key,
    /// compaction of it keeps only a key's last one, and a lock log that is not only compacted
    /// deletes the entries of keys blocked longer than its retention.
    #[error(
        "listener `{listener}` has ordering = \"key\", but topic {topic} has {setting}={value}: \
         {why}; set {setting}={wanted} (kafka-configs.sh --alter --entity-type topics \
         --entity-name {topic} --add-config {setting}={wanted})"
    )]
    KeyOrderTopicSetting {
        /// The listener.
        listener: String,
        /// The topic.
        topic: String,
        /// The topic setting at fault.
        setting: &'static str,
        /// Its value, as the broker describes it.
        value: String,
        /// The value key order needs.
        wanted: &'static str,
        /// What the value would lose.
        why: &'static str,
    },
    /// With `ordering = "key"`, `max.poll.interval.ms` is shorter than a revocation may wait
    /// for the revoked partitions' work: librdkafka would take the consumer out of its group
    /// mid-wait, and the partitions' next owner could start before this one's last entries.
    #[error(
        "listener `{listener}` has ordering = \"key\": a revocation waits up to {drain_secs} s \
         for the revoked partitions' handler calls, forwards and lock-log entries, then commits, \
         but max.poll.interval.ms is {max_poll_ms} (from {origin}), so the consumer would leave \
         its group mid-wait and the partitions' next owner could start before its last entries; \
         set max.poll.interval.ms to at least {needed_ms}"
    )]
    KeyOrderDrain {
        /// The first listener with `ordering = "key"`.
        listener: String,
        /// The consumers' `max.poll.interval.ms`.
        max_poll_ms: u64,
        /// The variable or builder property it came from.
        origin: String,
        /// How long a revocation waits at most.
        drain_secs: u64,
        /// The least `max.poll.interval.ms` that fits the wait and its commit.
        needed_ms: u64,
    },
    /// With `ordering = "key"`, a member of the listener's main, retry or parked group does not
    /// say in its client id that it is a key-ordered member (a Spring service, or a listener
    /// of another ordering): it would handle records or copies without the lock log.
    #[error(
        "listener `{listener}` has ordering = \"key\", but its group {group} has a member that \
         is not a key-ordered one: client id {client_id} on host {host}. A Spring service, or a \
         listener of another ordering, cannot share a key-ordered listener's groups: it would \
         handle records without the lock log, out of key order; stop it, or give the \
         key-ordered listener a group of its own"
    )]
    KeyOrderForeignMember {
        /// The listener.
        listener: String,
        /// The group.
        group: String,
        /// The member's client id.
        client_id: String,
        /// The member's host, as the broker describes it.
        host: String,
    },
    /// The Prometheus endpoint cannot start (feature `prometheus`).
    #[cfg(feature = "prometheus")]
    #[error("metrics endpoint: {reason}")]
    Metrics {
        /// What is wrong, naming the setting.
        reason: String,
    },
}

/// Why the registered handlers cannot run as they are.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// A setting is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Nothing to run.
    #[error("no #[retryable_topic] handler is linked into this program")]
    NoListeners,
    /// The builder named a listener that does not exist.
    #[error("no #[retryable_topic] handler is named `{0}`")]
    UnknownListener(String),
    /// Two handlers share a name, and so their groups and environment variables.
    #[error(
        "two #[retryable_topic] handlers are named `{name}` (in {first} and {second}); rename one"
    )]
    DuplicateName {
        /// The name.
        name: &'static str,
        /// Module of the first.
        first: &'static str,
        /// Module of the second.
        second: &'static str,
    },
    /// A DLT handler names a topic no listener has.
    #[error("#[dlt_handler] `{name}` names topic `{topic}`, which no #[retryable_topic] handler consumes")]
    OrphanDltHandler {
        /// The DLT handler.
        name: &'static str,
        /// The topic it names.
        topic: &'static str,
    },
    /// Two handlers would share a retry topic or DLT, so each one's retry consumer would also
    /// run the other's failures.
    #[error(
        "#[retryable_topic] handlers `{first}` and `{second}` both use topic `{topic}` for retries \
         or dead letters; give one of them other retry/DLT topics (a different `topic`, or \
         `retry_topic_suffix` / `dlt_topic_suffix`)"
    )]
    SharedRetryTopic {
        /// One handler.
        first: String,
        /// The other.
        second: String,
        /// The topic both would consume.
        topic: String,
    },
    /// A handler takes a `State<T>` no value was registered for.
    #[error(
        "handler `{handler}` takes `State<{type_name}>`, but no {type_name} is registered \
         (registered: {registered}); add one with `RetryApp::builder().state(..)`"
    )]
    MissingState {
        /// The handler.
        handler: &'static str,
        /// The type of its state.
        type_name: &'static str,
        /// The types that are registered, for a near miss (`Arc<Db>` for `Db`).
        registered: String,
    },
    /// A state type was registered twice, so which value a handler gets would be a guess.
    #[error(
        "state of type {type_name} is registered twice; register it once (wrap one of the \
         values in a type of its own to keep both)"
    )]
    DuplicateState {
        /// The type.
        type_name: &'static str,
    },
    /// Two DLT handlers for one topic.
    #[error("topic `{topic}` has two #[dlt_handler]s: `{first}` and `{second}`")]
    DuplicateDltHandler {
        /// The topic.
        topic: String,
        /// One handler.
        first: &'static str,
        /// The other.
        second: &'static str,
    },
    /// Two handlers would consume one topic in one group, each seeing part of its records.
    #[error(transparent)]
    SharedSubscription(#[from] SharedSubscription),
}

/// What a listener's `auto_create` creates, when it creates anything.
fn what_is_created(auto_create: AutoCreate) -> &'static str {
    match auto_create {
        AutoCreate::Retry => ", which creates only retry topics and DLTs",
        AutoCreate::All | AutoCreate::Never => "",
    }
}
