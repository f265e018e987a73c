//! Broker faults on librdkafka's mock cluster.

use std::time::Duration;

use rdkafka::mocking::MockCluster;
use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};
use retry_runtime::testing::TestKafka;

use crate::accounting::{settle, Accounting};
use crate::app::start_app;
use crate::listener::{self, HANDLED, TOPIC};
use crate::orders::{keys, produce_orders};

/// Broker faults on the mock cluster: a broker down, produce and commit errors, latency.
pub async fn run(records: u64) -> anyhow::Result<Accounting> {
    let cluster = MockCluster::new(3)?;
    let bootstrap = cluster.bootstrap_servers();
    for topic in [
        TOPIC.to_owned(),
        format!("{TOPIC}-retry"),
        format!("{TOPIC}-dlt"),
    ] {
        cluster.create_topic(&topic, 3, 1)?;
    }
    cluster.create_topic(HANDLED, 1, 1)?;
    let kafka = TestKafka::connect(&bootstrap)?;
    listener::connect(&bootstrap)?;
    let app = start_app(&bootstrap).await?;
    let producing = tokio::spawn(produce_orders(
        bootstrap.clone(),
        records,
        Duration::from_secs(12),
    ));
    tokio::time::sleep(Duration::from_secs(2)).await;
    eprintln!("  broker 2 down for 4 s");
    cluster.broker_down(2)?;
    tokio::time::sleep(Duration::from_secs(4)).await;
    cluster.broker_up(2)?;
    eprintln!("  produce and offset-commit requests failing");
    let transient = [RDKafkaRespErr::RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION; 20];
    cluster.request_errors(RDKafkaApiKey::Produce, &transient);
    cluster.request_errors(
        RDKafkaApiKey::OffsetCommit,
        &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT; 10],
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    eprintln!("  500 ms round trips on broker 1 for 3 s");
    cluster.broker_round_trip_time(1, Duration::from_millis(500))?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    cluster.broker_round_trip_time(1, Duration::ZERO)?;
    producing.await??;
    let accounting = settle(&kafka, &keys(records), Duration::from_secs(90)).await?;
    app.shutdown().await;
    // Failed commits and a broker down redeliver little; the producer is idempotent.
    Ok(accounting.bounded(records as usize / 20))
}
