//! A record waiting two minutes in a retry topic while the others flow.

use std::time::{Duration, Instant};

use crate::accounting::{settle, Accounting};
use crate::app::start_app_with;
use crate::broker::{create_topics, fresh_broker, Fresh};
use crate::listener::{self, SLOW_TOPIC};
use crate::orders::{keys, produce_orders};

/// A record waits two minutes on one partition of a retry topic, far longer than the
/// member's `max.poll.interval.ms` (20 s here), while orders flow on every partition.
/// No rebalance may happen, so nothing is handled twice.
pub async fn run(broker: &str, records: u64) -> anyhow::Result<Accounting> {
    let Fresh { kafka, _harness } = fresh_broker(broker).await?;
    create_topics(&kafka, 3).await?;
    kafka.create_topic(SLOW_TOPIC, 3).await?;
    let bootstrap = kafka.bootstrap_servers().to_owned();
    listener::connect(&bootstrap)?;
    let app = start_app_with(
        &bootstrap,
        &["fault_orders", "fault_slow"],
        &[("max.poll.interval.ms", "20000")],
    )
    .await?;
    app.ready().await;
    let started = Instant::now();
    kafka
        .produce_to(SLOW_TOPIC, Some(0), Some("slow"), b"x")
        .await?;
    produce_orders(bootstrap.clone(), records, Duration::from_secs(60)).await?;
    let mut expected = keys(records);
    expected.insert("slow".to_owned());
    let orders = settle(&kafka, &keys(records), Duration::from_secs(60)).await?;
    anyhow::ensure!(
        orders.complete() && started.elapsed() < Duration::from_secs(115),
        "orders did not all flow while the slow record waited"
    );
    eprintln!(
        "  {} orders handled while the slow record waits",
        orders.handled
    );
    let accounting = settle(&kafka, &expected, Duration::from_secs(180)).await?;
    anyhow::ensure!(
        started.elapsed() >= Duration::from_secs(120),
        "the slow record was handled before its due time"
    );
    app.shutdown().await;
    Ok(accounting.bounded(0))
}
