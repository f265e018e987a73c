//! The baseline: a plain rdkafka `StreamConsumer` loop with manual offset storing (committed in
//! the background), doing the same no-op work as the benchmark handlers.

use std::time::{Duration, Instant};

use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::{ClientConfig, Message};

/// Reads `n` records of `topic` in a fresh group; records per second between the first and
/// the last record.
pub async fn consume(bootstrap: &str, topic: &str, group: &str, n: usize) -> anyhow::Result<f64> {
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "true")
        .set("enable.auto.offset.store", "false")
        .create()?;
    consumer.subscribe(&[topic])?;
    let mut first = None;
    let mut seen = 0;
    while seen < n {
        let message = tokio::time::timeout(Duration::from_secs(30), consumer.recv()).await??;
        first.get_or_insert_with(Instant::now);
        consumer.store_offset(message.topic(), message.partition(), message.offset())?;
        seen += 1;
    }
    let elapsed = first.map_or(Duration::ZERO, |f| f.elapsed());
    Ok((n - 1) as f64 / elapsed.as_secs_f64())
}
