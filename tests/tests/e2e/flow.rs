//! Records walking the chain: handled, retried, dead-lettered.

use std::time::Duration;

use retry_runtime::core::headers::*;
use retry_runtime::prelude::*;
use retry_runtime::testing::TestKafka;

use crate::support::*;

#[derive(Debug, serde::Deserialize)]
struct Order {
    id: u32,
}

#[derive(Debug, thiserror::Error)]
#[error("stock for order {0} not there yet")]
struct NotYet(u32);

#[retryable_topic(topic = "flow-orders", attempts = 4, backoff = "300ms*2", include = [NotYet])]
async fn flow_orders(rec: Record<Order>) -> anyhow::Result<()> {
    record_call("flow_orders", &rec);
    match rec.value().id {
        0..=9 => Ok(()),
        id => Err(NotYet(id).into()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exhausted_retries_walk_every_topic_into_the_dlt() {
    let kafka = TestKafka::start().await.unwrap();
    let app = start_app(&kafka, &["flow_orders"]).await;
    assert_eq!(
        app.topics(),
        [
            "flow-orders",
            "flow-orders-retry-300",
            "flow-orders-retry-600",
            "flow-orders-retry-1200",
            "flow-orders-dlt"
        ]
    );
    kafka
        .produce("flow-orders", Some("ok"), br#"{"id":1}"#)
        .await
        .unwrap();
    kafka
        .produce("flow-orders", Some("stuck"), br#"{"id":42}"#)
        .await
        .unwrap();

    let dlt = read_n(&kafka, "flow-orders-dlt", 1).await;
    app.shutdown().await;
    assert_eq!(dlt.len(), 1);
    let calls = calls("flow_orders");
    println!("{calls:#?}");
    println!("{:#?}", dlt[0].headers);
}
