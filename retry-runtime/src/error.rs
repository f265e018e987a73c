//! Why the app could not start.

use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode;

use crate::kafka_config::KafkaConfigError;
use crate::listener::RegistryError;

/// A start-up failure; each names what to fix.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A `KAFKA_*` client setting is invalid.
    #[error(transparent)]
    KafkaConfig(#[from] KafkaConfigError),
    /// The registered handlers or their settings are invalid.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// No broker answered.
    #[error("cannot reach Kafka at {bootstrap} (set KAFKA_BOOTSTRAP_SERVERS)")]
    Unreachable {
        /// The bootstrap servers tried.
        bootstrap: String,
        /// The client's error.
        source: KafkaError,
    },
    /// A topic is missing and may not be created.
    #[error("topic {topic} does not exist and listener `{listener}` has auto_create = false")]
    MissingTopic {
        /// The topic.
        topic: String,
        /// The listener needing it.
        listener: String,
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
    /// The Prometheus endpoint cannot start (feature `prometheus`).
    #[cfg(feature = "prometheus")]
    #[error("metrics endpoint: {reason}")]
    Metrics {
        /// What is wrong, naming the setting.
        reason: String,
    },
}
