//! Instances joining and leaving the group throughout a run.

use std::time::Duration;

use crate::accounting::{settle, Accounting};
use crate::app::{start_app_with, COOPERATIVE};
use crate::broker::{create_topics, fresh_broker, Fresh};
use crate::listener;
use crate::orders::{keys, produce_orders};

/// Instances join and leave the group throughout the run.
///
/// Duplicates: a leaving instance commits what it finished, so only records in flight at a
/// rebalance are redelivered; the bound is a tenth of the records.
pub async fn run(broker: &str, records: u64, cooperative: bool) -> anyhow::Result<Accounting> {
    let Fresh { kafka, _harness } = fresh_broker(broker).await?;
    create_topics(&kafka, 4).await?;
    let properties: &[(&str, &str)] = if cooperative { &[COOPERATIVE] } else { &[] };
    let start_app = |bootstrap: &str| {
        let bootstrap = bootstrap.to_owned();
        async move { start_app_with(&bootstrap, &["fault_orders"], properties).await }
    };
    let bootstrap = kafka.bootstrap_servers().to_owned();
    listener::connect(&bootstrap)?;
    let producing = tokio::spawn(produce_orders(
        bootstrap.clone(),
        records,
        Duration::from_secs(10),
    ));
    let mut instances = vec![start_app(&bootstrap).await?];
    for round in 0..10 {
        tokio::time::sleep(Duration::from_millis(rand::random_range(300..1200))).await;
        if instances.len() < 3 && (round % 3 != 2 || instances.len() == 1) {
            instances.push(start_app(&bootstrap).await?);
        } else {
            let leaving = instances.remove(rand::random_range(0..instances.len()));
            leaving.shutdown().await;
        }
        eprintln!("  round {round}: {} instances", instances.len());
    }
    producing.await??;
    let accounting = settle(&kafka, &keys(records), Duration::from_secs(90)).await?;
    for instance in instances {
        instance.shutdown().await;
    }
    Ok(accounting.bounded(records as usize / 10))
}
