//! Non-blocking retries for Kafka consumers: the Rust answer to Spring Kafka's
//! `@RetryableTopic` and `@DltHandler`.
//!
//! Annotate async handlers, call [`run`] from `main`, and failing records walk retry topics
//! with backoff into a dead-letter topic (DLT), without blocking the partition they came
//! from. This page walks from a first handler to a service in production:
//!
//! 1. [A first handler](#a-first-handler)
//! 2. [Dependencies: `State<T>`](#dependencies-statet)
//! 3. [Payload formats and keys](#payload-formats-and-keys)
//! 4. [Settings](#settings)
//! 5. [Testing with the embedded broker](#testing-with-the-embedded-broker)
//! 6. [Running in production](#running-in-production)
//!
//! # A first handler
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
//! At start-up this creates `update-item-retry-1000`, `-retry-2000`, `-retry-4000` and
//! `update-item-dlt` where missing (names, groups and headers as Spring Kafka writes them),
//! runs one consumer per topic, and commits an offset only once its record was handled or
//! forwarded (at-least-once). A handler returns `Result<(), E>` for any
//! `E: Into<anyhow::Error>`; `include` / `exclude` say which errors are worth retrying, any
//! other error goes straight to the DLT, and a panic is a failure, never a crash.
//!
//! A [`Record<T>`](Record) derefs to its [`RecordMeta`]: `rec.key_str()`, `rec.headers`,
//! `rec.topic`, `rec.partition`, `rec.offset`, `rec.timestamp_ms` and `rec.attempt` (1 on
//! the main topic, 2 on the first retry…). A [`DeadLetter<T>`](DeadLetter) adds
//! `provenance()`: where the record came from, how often it was tried, the last error.
//!
//! # Dependencies: `State<T>`
//!
//! A database pool, an HTTP client or configuration reaches handlers as [`State<T>`](State)
//! arguments after the record, as with axum. Register one value per type on the builder
//! and start with [`run_with`]:
//!
//! ```no_run
//! use std::collections::HashMap;
//! use std::sync::{Arc, Mutex};
//!
//! use retry_runtime::prelude::*;
//!
//! #[derive(Debug, serde::Deserialize)]
//! struct UpdateItem { id: String, status: String }
//!
//! /// Stands in for a connection pool: cheap to clone, shared by every call.
//! #[derive(Clone, Default)]
//! struct Db(Arc<Mutex<HashMap<String, String>>>);
//!
//! #[derive(Clone)]
//! struct Config { statuses: Arc<[&'static str]> }
//!
//! #[retryable_topic(topic = "update-item", attempts = 4, backoff = "1s*2")]
//! async fn update_item(
//!     rec: Record<UpdateItem>,
//!     State(db): State<Db>,
//!     State(config): State<Config>,
//! ) -> anyhow::Result<()> {
//!     let update = rec.value();
//!     anyhow::ensure!(config.statuses.contains(&update.status.as_str()), "bad status");
//!     db.0.lock().unwrap().insert(update.id.clone(), update.status.clone());
//!     Ok(())
//! }
//!
//! #[dlt_handler(topic = "update-item")]
//! async fn update_item_dlt(rec: DeadLetter<UpdateItem>, State(db): State<Db>) -> anyhow::Result<()> {
//!     db.0.lock().unwrap().remove(rec.key_str().unwrap_or_default());
//!     Ok(())
//! }
//!
//! #[tokio::main]
//! async fn main() -> anyhow::Result<()> {
//!     let config = Config { statuses: Arc::new(["PENDING", "ACTIVE"]) };
//!     let app = RetryApp::builder().state(Db::default()).state(config);
//!     retry_runtime::run_with(app).await
//! }
//! ```
//!
//! Each call gets a clone of `T` (no other cost per record), so keep `T` cheap to clone: an
//! `Arc`, or a pool handle that is one. A handler taking a `State<T>` that was never
//! registered stops start-up with an error naming the handler and the type, never a failure
//! at the first record; so does a type registered twice. A `State` before the record, an
//! argument that is not a `State`, or a `T` that is not `Clone + Send + Sync + 'static` is a
//! compile error on that argument.
//!
//! # Payload formats and keys
//!
//! The record's type says how its value is read:
//!
//! | argument | value |
//! |---|---|
//! | `Record<T>`, `T: serde::Deserialize` | JSON |
//! | `Record<Text>` | UTF-8 text as written ([`Text`] derefs to `str`; `Record<String>` is a JSON string) |
//! | `Record<Bytes>` | the bytes as they are ([`Bytes`]) |
//! | `Record<Protobuf<T>>`, `T: prost::Message` | Protocol Buffers (feature `protobuf`) |
//! | `Record<F>`, `F:` [`Payload`] | a format of your own |
//!
//! A value that does not decode is never retried: the record goes straight to the DLT with
//! the format and the reason in `kafka_exception-message` (`value is not valid protobuf for
//! shop::OrderPlaced: …`), and the DLT handler receives it with `value()` the error and
//! `raw_value()` the bytes. Keys need no type on the handler: `rec.key_str()` reads UTF-8, and
//! [`rec.key_as::<T>()`](RecordMeta::key_as) decodes it in any format above.
//!
//! ```no_run
//! # #[cfg(feature = "protobuf")]
//! # mod shop {
//! use retry_runtime::prelude::*;
//!
//! // Derived by hand here; a type generated by prost-build works the same.
//! #[derive(Clone, PartialEq, prost::Message)]
//! struct OrderPlaced {
//!     #[prost(string, tag = "1")]
//!     sku: String,
//!     #[prost(uint32, tag = "2")]
//!     qty: u32,
//! }
//!
//! #[retryable_topic(topic = "order-placed")]
//! async fn order_placed(rec: Record<Protobuf<OrderPlaced>>) -> anyhow::Result<()> {
//!     let order_no: Option<u64> = rec.key_as().transpose()?; // the key is a JSON number
//!     println!("order {order_no:?}: {} x {}", rec.value().qty, rec.value().sku);
//!     Ok(())
//! }
//! # }
//! ```
//!
//! Any other format is an implementation of [`Payload`]; the trait's page shows one.
//!
//! # Settings
//!
//! Attribute arguments (`topic`, `group`, `attempts`, `backoff`, `max_delay`, `jitter`,
//! `timeout`, `include` / `exclude`, `suffix`, `dlt`, `partitions`, `replication`,
//! `concurrency`, `auto_create` and Spring's parity options, listed on [`retryable_topic`])
//! are checked at compile time: a malformed value is an error on its literal. Each can be
//! changed without a rebuild through `RETRY_<FUNCTION>_<ARGUMENT>`
//! (`RETRY_UPDATE_ITEM_ATTEMPTS=6`); a bad value stops start-up naming the variable.
//!
//! Kafka clients read `KAFKA_BOOTSTRAP_SERVERS` and take every other `KAFKA_*` variable as a
//! librdkafka property (`KAFKA_SECURITY_PROTOCOL=SASL_SSL` is `security.protocol`), except
//! the few the at-least-once guarantee depends on: setting those otherwise stops start-up.
//! [`RetryApp::builder()`](RetryApp::builder) does the same in code:
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! let app = retry_runtime::RetryApp::builder()
//!     .bootstrap_servers("kafka-1:9092,kafka-2:9092")
//!     .client_property("security.protocol", "SSL")
//!     .settings_env(|var| (var == "RETRY_UPDATE_ITEM_ATTEMPTS").then(|| "6".to_owned()))
//!     .listeners(["update_item"]) // only these handlers (and their DLT handlers)
//!     .start()
//!     .await?;
//! app.ready().await; // every consumer has its partitions
//! app.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! # Testing with the embedded broker
//!
//! Feature `embedded` (for `[dev-dependencies]`) brings [`testing::TestKafka`]: an in-process
//! broker (no Docker, no JVM), or the cluster `KAFKA_BOOTSTRAP_SERVERS` names. A test starts
//! the app with the handlers and states it needs, produces, and checks what a user would:
//!
//! ```no_run
//! # #[cfg(feature = "embedded")]
//! # mod tests {
//! # use std::sync::{Arc, Mutex};
//! # use std::time::Duration;
//! # use retry_runtime::prelude::*;
//! # #[derive(Clone, Default)]
//! # struct Db(Arc<Mutex<Vec<String>>>);
//! # #[retryable_topic(topic = "audit")]
//! # async fn audit(rec: Record<Text>, State(db): State<Db>) -> anyhow::Result<()> {
//! #     db.0.lock().unwrap().push(rec.value().to_string());
//! #     Ok(())
//! # }
//! use retry_runtime::testing::TestKafka;
//!
//! #[tokio::test(flavor = "multi_thread")]
//! async fn audits_land_in_the_store() -> anyhow::Result<()> {
//!     let kafka = TestKafka::start().await?;
//!     let db = Db::default();
//!     let app = RetryApp::builder()
//!         .bootstrap_servers(kafka.bootstrap_servers())
//!         .listeners(["audit"])
//!         .state(db.clone())
//!         .start()
//!         .await?;
//!     app.ready().await;
//!     kafka.produce("audit", Some("k1"), b"logged in").await?;
//!     while db.0.lock().unwrap().is_empty() {
//!         tokio::time::sleep(Duration::from_millis(50)).await;
//!     }
//!     app.shutdown().await;
//!     assert!(kafka.read_all("audit-dlt").await?.is_empty());
//!     Ok(())
//! }
//! # }
//! ```
//!
//! A handler is also a plain `async fn`: call it with [`Record::new`] and a
//! [`State`] of your own to test its logic without a broker.
//!
//! # Running in production
//!
//! * `main` is [`run`] (or [`run_with`] for states): it installs a `tracing` subscriber
//!   (`RUST_LOG`, default `info`) unless you installed one, runs until SIGINT or SIGTERM,
//!   lets in-flight records finish for a grace period, commits, and returns an error (exit
//!   non-zero) if a consumer failed for good. Start-up fails fast, naming what to fix.
//! * Scale by running replicas with the same groups: partitions spread over them. Set
//!   `RETRY_INSTANCE_ID` to a stable id per replica (a StatefulSet pod name) for static
//!   membership, so a restarted replica takes its partitions back without a rebalance.
//! * `concurrency` allows that many handler calls in flight per topic; records of one
//!   partition stay in order.
//! * Metrics go through the `metrics` facade (install any recorder):
//!   `kafka_retry_handled_total`, `_retried_total`, `_dead_lettered_total`, `_dropped_total`
//!   and `kafka_retry_handler_seconds`, labelled by listener and topic.
//! * Delivery is at-least-once: make handlers idempotent. Ordering between a retried record
//!   and later records of its key is not kept, as with Spring's non-blocking retries.
//!
//! The pure model (backoff, topic naming, decisions, header codec) is `retry_core`,
//! re-exported as [`core`]; [`embedded`] holds the broker itself.
#![deny(missing_docs)]

mod app;
mod backtraces;
mod consumer;
mod context;
#[cfg(feature = "embedded")]
pub mod embedded;
mod error;
#[cfg(feature = "prometheus")]
mod exporter;
mod forward;
mod gauges;
mod inbound;
mod kafka_config;
pub mod kafka_headers;
mod listener;
mod ownership;
mod partition;
mod process;
mod provision;
mod secret;
mod state;
mod supervise;
#[cfg(feature = "embedded")]
pub mod testing;

pub use app::{run, run_with, RetryApp, RetryAppBuilder, RunningApp};
pub use error::StartError;
pub use kafka_config::{KafkaConfigError, KafkaSettings, Role, DEFAULT_BOOTSTRAP_SERVERS};
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
