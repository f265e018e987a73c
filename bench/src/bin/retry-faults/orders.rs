//! The orders every scenario produces, and which of them belong in the DLT.

use std::collections::BTreeSet;
use std::time::Duration;

use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::ClientConfig;

use crate::listener::TOPIC;

/// Keys that belong in the DLT: orders the handler always fails, and undecodable records.
pub fn dies(key: &str) -> bool {
    key.starts_with("bad-") || key.parse::<u64>().is_ok_and(|k| k.is_multiple_of(7))
}

/// The keys of orders `1..=n`.
pub fn keys(n: u64) -> BTreeSet<String> {
    (1..=n).map(|k| k.to_string()).collect()
}

/// Produces orders `1..=n` over about `spread`, so faults hit a run in progress.
pub async fn produce_orders(bootstrap: String, n: u64, spread: Duration) -> anyhow::Result<()> {
    produce_order_range(&bootstrap, 1..=n, spread).await
}

/// Produces orders `range` over about `spread` (at once when zero).
pub async fn produce_order_range(
    bootstrap: &str,
    range: std::ops::RangeInclusive<u64>,
    spread: Duration,
) -> anyhow::Result<()> {
    produce_order_range_to(bootstrap, TOPIC, range, spread).await
}

/// Produces orders `range` to `topic` over about `spread` (at once when zero).
pub async fn produce_order_range_to(
    bootstrap: &str,
    topic: &str,
    range: std::ops::RangeInclusive<u64>,
    spread: Duration,
) -> anyhow::Result<()> {
    let orders = range.map(|k| (k.to_string(), format!(r#"{{"k":{k}}}"#)));
    produce_records(bootstrap, topic, orders.collect(), spread).await
}

/// Produces `records` (key, value) to `topic`, in order, over about `spread` (at once when
/// zero).
pub async fn produce_records(
    bootstrap: &str,
    topic: &str,
    records: Vec<(String, String)>,
    spread: Duration,
) -> anyhow::Result<()> {
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("message.timeout.ms", "120000")
        .create()?;
    let pause = spread / (records.len() as u32).max(1);
    for (key, value) in &records {
        producer
            .send(
                FutureRecord::to(topic).key(key).payload(value),
                Duration::from_secs(120),
            )
            .await
            .map_err(|(e, _)| e)?;
        tokio::time::sleep(pause).await;
    }
    Ok(())
}
