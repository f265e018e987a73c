//! The listener every fault scenario runs, and the durable record of what it handled.
//!
//! Record `k` (JSON `{"k": k}`): `k % 7 == 0` always fails (ends in the DLT after 3
//! deliveries); `k % 5 == 0` fails its first delivery; others succeed. A success is produced
//! to `fault-handled` and acknowledged before the handler returns, so it is on the broker
//! before the record's offset can be committed.

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

#[retryable_topic(topic = "fault-orders", attempts = 3, backoff = "500ms")]
async fn fault_orders(rec: Record<Order>) -> anyhow::Result<()> {
    let k = rec.value().k;
    tokio::time::sleep(Duration::from_micros(rand::random_range(0..3000))).await;
    if k.is_multiple_of(7) || (k.is_multiple_of(5) && rec.attempt == 1) {
        return Err(Failed(k).into());
    }
    let producer = PRODUCER
        .lock()
        .expect("producer")
        .clone()
        .expect("connected");
    let key = k.to_string();
    producer
        .send(
            FutureRecord::<str, str>::to(HANDLED)
                .key(&key)
                .payload(&key),
            Duration::from_secs(60),
        )
        .await
        .map_err(|(e, _)| e)?;
    Ok(())
}
