//! The baseline: a plain rdkafka `StreamConsumer` loop with manual offset storing (committed in
//! the background), doing the same no-op work as the happy-path handler (counting into
//! [`MAIN`]) and measured the same way. It has the client settings of the framework's
//! main-topic consumers (prefetch bound, fetch back-off, commit interval), so the ratio measures
//! what the framework does per record, not a difference of librdkafka settings: with
//! librdkafka's defaults a consumer reading faster than the broker serves stalls a second
//! whenever its prefetch fills (`fetch.queue.backoff.ms`).

use std::time::Duration;

use rdkafka::consumer::{Consumer, StreamConsumer};
use retry_runtime::{KafkaSettings, Role};

use crate::handlers::MAIN;
use crate::scenarios::Throughput;

/// Reads `n` records of `topic` in a fresh group; records per second between the first and
/// the last record and CPU per record, as [`MAIN`] measures the framework.
pub async fn consume(
    bootstrap: &str,
    topic: &str,
    group: &str,
    n: usize,
) -> anyhow::Result<Throughput> {
    let consumer: StreamConsumer = KafkaSettings::from_env(std::env::vars())?
        .client_config(Role::Main)
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .set("auto.offset.reset", "earliest")
        .create()?;
    consumer.subscribe(&[topic])?;
    MAIN.reset(n as u64);
    for _ in 0..n {
        let message = tokio::time::timeout(Duration::from_secs(60), consumer.recv()).await??;
        MAIN.record();
        consumer.store_offset_from_message(&message)?;
    }
    Ok(Throughput::measured())
}
