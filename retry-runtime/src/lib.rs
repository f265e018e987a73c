//! Non-blocking retries for Kafka consumers: the Rust answer to Spring Kafka's
//! `@RetryableTopic` and `@DltHandler`.
//!
//! Annotate async handlers, call [`run`] from `main`, and failing records walk retry topics
//! with backoff into a dead-letter topic (DLT), without blocking the partition they came
//! from. Topic names, consumer groups and headers are Spring Kafka's.
//!
//! ```no_run
//! use retry_runtime::prelude::*;
//!
//! #[derive(Debug, serde::Deserialize)]
//! struct UpdateItem { id: String, status: String }
//!
//! #[derive(Debug, thiserror::Error)]
//! #[error("item {0} not created yet")]
//! struct NotFoundYet(String);
//!
//! #[retryable_topic(topic = "update-item", attempts = 4, backoff = "1s*2", include = [NotFoundYet])]
//! async fn update_item(rec: Record<UpdateItem>) -> anyhow::Result<()> {
//!     Err(NotFoundYet(rec.value().id.clone()).into())
//! }
//!
//! #[dlt_handler(topic = "update-item")]
//! async fn update_item_dlt(rec: DeadLetter<UpdateItem>) -> anyhow::Result<()> {
//!     eprintln!("gave up on {:?}: {}", rec.key_str(), rec.provenance().exception.message);
//!     Ok(())
//! }
//!
//! #[tokio::main]
//! async fn main() -> anyhow::Result<()> {
//!     retry_runtime::run().await // until SIGINT or SIGTERM
//! }
//! ```
//!
//! What start-up makes of these two functions (topics, consumer groups) is on the
//! [Handlers](guide::handlers) page.
//!
//! # Guide
//!
//! * [Handlers](guide::handlers): records, payload formats, `State<T>`, dead letters.
//! * [Settings](guide::settings): the attribute's arguments, topic names, overrides, Kafka
//!   client configuration.
//! * [Coming from Spring Kafka](guide::spring): what maps to what, the shared wire format, the
//!   deliberate differences.
//! * [Guarantees](guide::guarantees), and what is not guaranteed.
//! * [Outages](guide::outages): a circuit breaker that pauses a listener while its
//!   downstream is down, instead of dead-lettering every record.
//! * [Key order](guide::key_order): `ordering = "key"`, handlers side by side across keys,
//!   each key's records in order across retries.
//! * [Testing](guide::testing) with the embedded broker.
//! * [Production](guide::production): static membership, recovery, shutdown, metrics, health.
//! * [Operating](guide::operating): the `kafka-retry` command, metrics, `/health` and
//!   `/ready`, alerting on due lag.
//!
//! # Features
//!
//! * `ssl` (default): TLS and SASL in librdkafka (needs OpenSSL's headers).
//! * `embedded`: an in-process broker and test helpers (`testing`, `embedded`).
//! * `protobuf`: `Protobuf<T>` payloads for any `prost::Message`.
//! * `prometheus`: `/metrics`, `/health` and `/ready` served by the app.
//!
//! The pure model (backoff, topic naming, decisions, header codec) is `retry_core`,
//! re-exported as [`core`].
#![deny(missing_docs)]

mod app;
mod backtraces;
mod batch;
mod breaker;
mod chain;
mod commit_metadata;
mod consumer;
mod context;
mod describe;
#[cfg(feature = "embedded")]
pub mod embedded;
mod error;
#[cfg(feature = "prometheus")]
mod exporter;
mod forward;
mod gauges;
mod in_hand;
mod inbound;
mod kafka_config;
pub mod kafka_headers;
mod key_order_checks;
mod lanes;
mod listener;
mod locks;
mod message_enum;
mod orphans;
mod ownership;
mod partition;
mod process;
mod producer;
mod provision;
mod refetch;
mod secret;
mod shutdown;
mod state;
mod supervise;
#[cfg(feature = "embedded")]
pub mod testing;
mod unordered;
mod waiting;

pub use app::{run, run_with, RetryApp, RetryAppBuilder, RunningApp};
pub use error::{RegistryError, StartError};
pub use kafka_config::{KafkaConfigError, KafkaSettings, Role, DEFAULT_BOOTSTRAP_SERVERS};
pub use retry_core as core;
#[cfg(feature = "protobuf")]
pub use retry_core::Protobuf;
pub use retry_core::{Bytes, DeadLetter, DecodeError, Payload, Record, RecordMeta, State, Text};
pub use retry_macros::{dlt_handler, retryable_topic};

/// What a handler module needs: the attributes, the record types, `State`, the payload
/// formats and the app builder.
pub mod prelude {
    #[cfg(feature = "protobuf")]
    pub use retry_core::Protobuf;
    pub use retry_core::{Bytes, DeadLetter, Record, State, Text};
    pub use retry_macros::{dlt_handler, retryable_topic};

    pub use crate::RetryApp;
}

/// The user guide, one page per module; the [crate page](crate) lists them.
pub mod guide {
    #[doc = include_str!("docs/handlers.md")]
    pub mod handlers {}
    #[doc = include_str!("docs/settings.md")]
    pub mod settings {}
    #[doc = include_str!("docs/spring.md")]
    pub mod spring {}
    #[doc = include_str!("docs/guarantees.md")]
    pub mod guarantees {}
    #[doc = include_str!("docs/outages.md")]
    pub mod outages {}
    #[doc = include_str!("docs/key-order.md")]
    pub mod key_order {}
    #[doc = include_str!("docs/testing.md")]
    pub mod testing {}
    #[doc = include_str!("docs/production.md")]
    pub mod production {}
    #[doc = include_str!("docs/operating.md")]
    pub mod operating {}
}

#[doc(hidden)]
pub use retry_core::__private;
