//! The listener every fault scenario runs, and the durable record of what it handled.
//!
//! Record `k` (JSON `{"k": k}`): `k % 7 == 0` always fails (ends in the DLT after 3
//! deliveries); `k % 5 == 0` fails its first delivery; `k % 11 == 0` fails its first delivery
//! with an error whose `Display` panics; others succeed. A success is produced to
//! `fault-handled` and acknowledged before the handler returns, so it is on the broker before
//! the record's offset can be committed.
//!
//! `fault_slow` (topic `fault-slow`) fails the first delivery of every record and retries it
//! two minutes later: a wait far longer than the member's poll interval.

use std::sync::Mutex;
use std::time::Duration;

use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::ClientConfig;
use retry_runtime::prelude::*;

/// The main topic.
pub const TOPIC: &str = "fault-orders";
/// Where successes are recorded.
pub const HANDLED: &str = "fault-handled";

static PRODUCER: Mutex<Option<FutureProducer>> = Mutex::new(None);

/// Points the handler's success log at `bootstrap`.
pub fn connect(bootstrap: &str) -> anyhow::Result<()> {
    let producer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("linger.ms", "1")
        .set("message.timeout.ms", "60000")
        .create()?;
    *PRODUCER.lock().expect("producer") = Some(producer);
    Ok(())
}

#[derive(Debug, serde::Deserialize)]
struct Order {
    k: u64,
}

#[derive(Debug, thiserror::Error)]
#[error("order {0} failed")]
struct Failed(u64);

/// An error whose `Display` panics: the runtime calls it to write the exception headers.
#[derive(Debug)]
pub struct Unprintable;

/// What [`Unprintable`]'s `Display` panics with.
pub const UNPRINTABLE: &str = "Display of Unprintable";

impl std::fmt::Display for Unprintable {
    fn fmt(&self, _: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        panic!("{UNPRINTABLE}")
    }
}

impl std::error::Error for Unprintable {}

#[retryable_topic(topic = "fault-orders", attempts = 3, backoff = "500ms")]
async fn fault_orders(rec: Record<Order>) -> anyhow::Result<()> {
    let k = rec.value().k;
    tokio::time::sleep(Duration::from_micros(rand::random_range(0..3000))).await;
    if k.is_multiple_of(7) || (k.is_multiple_of(5) && rec.attempt == 1) {
        return Err(Failed(k).into());
    }
    if k.is_multiple_of(11) && rec.attempt == 1 {
        return Err(Unprintable.into());
    }
    record_handled(&k.to_string()).await
}

/// The slow listener's topic.
pub const SLOW_TOPIC: &str = "fault-slow";

#[retryable_topic(topic = "fault-slow", attempts = 2, backoff = "2m")]
async fn fault_slow(rec: Record<Bytes>) -> anyhow::Result<()> {
    anyhow::ensure!(rec.attempt > 1, "first delivery fails");
    record_handled(rec.key_str().unwrap_or_default()).await
}

/// Produces `key` to [`HANDLED`] and waits for the acknowledgement.
pub async fn record_handled(key: &str) -> anyhow::Result<()> {
    let producer = PRODUCER
        .lock()
        .expect("producer")
        .clone()
        .expect("connected");
    producer
        .send(
            FutureRecord::<str, str>::to(HANDLED).key(key).payload(key),
            Duration::from_secs(60),
        )
        .await
        .map_err(|(e, _)| e)?;
    Ok(())
}
