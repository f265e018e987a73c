//! A DLT that refuses records while the app runs, stops and restarts.

use std::time::Duration;

use rdkafka::mocking::MockCluster;
use rdkafka::types::RDKafkaRespErr;
use retry_runtime::testing::TestKafka;

use crate::accounting::{settle, Accounting};
use crate::app::{start_app, start_app_with};
use crate::listener::{self, HANDLED, TOPIC};
use crate::orders::{keys, produce_orders};

/// The DLT topic errors out; records that must go there cannot, so their offsets must not be
/// committed. The app runs on for three times its `max.poll.interval.ms` meanwhile (it must
/// stay in its group, other partitions flowing), is shut down while they are stuck, the DLT
/// comes back, and a restarted app must still account for every record.
pub async fn run(records: u64) -> anyhow::Result<Accounting> {
    let cluster = MockCluster::new(1)?;
    let bootstrap = cluster.bootstrap_servers();
    let dlt = format!("{TOPIC}-dlt");
    for topic in [TOPIC.to_owned(), format!("{TOPIC}-retry"), dlt.clone()] {
        cluster.create_topic(&topic, 3, 1)?;
    }
    cluster.create_topic(HANDLED, 1, 1)?;
    let kafka = TestKafka::connect(&bootstrap)?;
    listener::connect(&bootstrap)?;
    let short_poll = [
        ("max.poll.interval.ms", "6000"),
        ("session.timeout.ms", "6000"),
    ];
    let app = start_app_with(&bootstrap, &["fault_orders"], &short_poll).await?;
    eprintln!("  DLT topic unavailable");
    cluster.topic_error(
        &dlt,
        RDKafkaRespErr::RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED,
    )?;
    produce_orders(bootstrap.clone(), records, Duration::from_secs(3)).await?;
    tokio::time::sleep(Duration::from_secs(18)).await;
    eprintln!("  stopping the app with dead letters stuck");
    app.shutdown().await;
    cluster.topic_error(&dlt, RDKafkaRespErr::RD_KAFKA_RESP_ERR_NO_ERROR)?;
    eprintln!("  DLT back; restarting the app");
    let app = start_app(&bootstrap).await?;
    let accounting = settle(&kafka, &keys(records), Duration::from_secs(90)).await?;
    app.shutdown().await;
    // Only the records stuck behind a refused dead letter are handled again.
    Ok(accounting.bounded(records as usize / 10))
}
