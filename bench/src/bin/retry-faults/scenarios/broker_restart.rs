//! One broker of three killed mid-run and restarted (real Kafka only).

use std::time::Duration;

use retry_bench::harness::KafkaHarness;
use retry_runtime::testing::TestKafka;

use crate::accounting::{settle, Accounting};
use crate::app::start_app;
use crate::broker::create_topics;
use crate::listener;
use crate::orders::{keys, produce_orders};

/// One broker of a three-node cluster is killed mid-run (its partitions' leadership moves,
/// forwards and commits fail over) and restarted 10 s later.
///
/// Duplicates: records whose commit was in flight to the killed coordinator are redelivered;
/// the bound is a tenth of the records.
pub async fn run(broker: &str, records: u64) -> anyhow::Result<Accounting> {
    anyhow::ensure!(
        broker == "kafka",
        "the broker-restart scenario needs --broker kafka"
    );
    let harness = KafkaHarness::start(3)?;
    let kafka = TestKafka::connect(harness.bootstrap_servers())?;
    create_topics(&kafka, 3).await?;
    let bootstrap = kafka.bootstrap_servers().to_owned();
    listener::connect(&bootstrap)?;
    let app = start_app(&bootstrap).await?;
    let producing = tokio::spawn(produce_orders(
        bootstrap.clone(),
        records,
        Duration::from_secs(15),
    ));
    tokio::time::sleep(Duration::from_secs(4)).await;
    eprintln!("  kill -9 of broker 2");
    harness.node("kill-node", 2)?;
    tokio::time::sleep(Duration::from_secs(10)).await;
    eprintln!("  broker 2 restarted");
    harness.node("start-node", 2)?;
    producing.await??;
    let accounting = settle(&kafka, &keys(records), Duration::from_secs(120)).await?;
    app.shutdown().await;
    Ok(accounting.bounded(records as usize / 10))
}
