//! Non-blocking retries for Kafka consumers: the Rust answer to Spring Kafka's
//! `@RetryableTopic` and `@DltHandler`.
//!
//! Annotate async handlers, call [`run`] from `main`, and failing records walk retry topics
//! with backoff into a dead-letter topic, without blocking the partition they came from:
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
//!     retry_runtime::run().await
//! }
//! ```
//!
//! This creates `update-item-retry-1000`, `-retry-2000`, `-retry-4000` and `update-item-dlt`
//! (names, groups and headers as Spring Kafka writes them), one consumer per topic, and
//! commits an offset only once its record was handled or forwarded (at-least-once).
//!
//! Modules: [`RetryApp`] configures and starts the app programmatically; [`embedded`] and
//! [`testing`] (feature `embedded`) give tests an in-process broker. The pure model
//! (backoff, topic naming, decisions, header codec) is `retry_core`, re-exported as [`core`].

mod app;
mod consumer;
mod context;
#[cfg(feature = "embedded")]
pub mod embedded;
mod error;
mod forward;
mod inbound;
mod kafka_config;
mod listener;
mod partition;
mod process;
mod provision;
mod state;
#[cfg(feature = "embedded")]
pub mod testing;

pub use app::{run, run_with, RetryApp, RetryAppBuilder, RunningApp};
pub use error::StartError;
pub use kafka_config::{KafkaConfigError, DEFAULT_BOOTSTRAP_SERVERS};
pub use listener::RegistryError;
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

#[doc(hidden)]
pub use retry_core::__private;
