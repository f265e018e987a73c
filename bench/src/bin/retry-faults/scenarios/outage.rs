//! A downstream outage of 30 s under a steady stream of orders: the breaker holds the
//! records instead of sending them along the retry chain to the DLT.

use std::time::{Duration, Instant};

use retry_runtime::RetryApp;

use crate::accounting::{settle_on, Accounting};
use crate::broker::{fresh_broker, Fresh};
use crate::downstream::{
    self, failed_while_down, is_poison, FIRST_PROBE_DELAY, MAX_PROBE_DELAY, OUTAGE_TOPIC,
};
use crate::listener::{self, HANDLED};
use crate::orders::{keys, produce_order_range_to};

/// When the downstream goes down after the first order, and for how long.
const DOWN_AFTER: Duration = Duration::from_secs(10);
const DOWN_FOR: Duration = Duration::from_secs(30);

/// Over how long the orders are produced: before, during and after the outage.
const SPREAD: Duration = Duration::from_secs(50);

/// Orders `1..=records` flow while the downstream is down for 30 s, with the breaker: none
/// may reach the DLT because of the outage (with `poison`, exactly the poison orders do,
/// after their attempts), none may be lost, and while it is down the calls after the trip are
/// probes, at least the first probe delay apart. Then the same run with the breaker off
/// (`RETRY_FAULT_OUTAGE_PAUSE_ON=off`), whose dead letters are printed beside.
pub async fn run(broker: &str, records: u64, poison: bool) -> anyhow::Result<Accounting> {
    let with = once(broker, records, poison, true).await?;
    let without = once(broker, records, poison, false).await?;
    eprintln!(
        "  without the breaker: {} of {} orders dead-lettered ({} of them poison)",
        without.dead_lettered,
        without.expected,
        if poison { records / 7 } else { 0 },
    );
    Ok(with)
}

/// One run, with the breaker or without.
async fn once(
    broker: &str,
    records: u64,
    poison: bool,
    breaker: bool,
) -> anyhow::Result<Accounting> {
    let Fresh { kafka, _harness } = fresh_broker(broker).await?;
    for topic in [
        OUTAGE_TOPIC.to_owned(),
        format!("{OUTAGE_TOPIC}-retry"),
        format!("{OUTAGE_TOPIC}-dlt"),
    ] {
        kafka.create_topic(&topic, 3).await?;
    }
    kafka.create_topic(HANDLED, 1).await?;
    let bootstrap = kafka.bootstrap_servers().to_owned();
    listener::connect(&bootstrap)?;
    downstream::reset(poison);
    let app = RetryApp::builder()
        .bootstrap_servers(&bootstrap)
        .listeners(["fault_outage"])
        .settings_env(move |var| {
            (!breaker && var == "RETRY_FAULT_OUTAGE_PAUSE_ON").then(|| "off".to_owned())
        })
        .startup_timeout(Duration::from_secs(30))
        .start()
        .await?;
    app.ready().await;
    let producing = {
        let bootstrap = bootstrap.clone();
        tokio::spawn(async move {
            produce_order_range_to(&bootstrap, OUTAGE_TOPIC, 1..=records, SPREAD).await
        })
    };
    tokio::time::sleep(DOWN_AFTER).await;
    downstream::set_down(true);
    tokio::time::sleep(DOWN_FOR).await;
    downstream::set_down(false);
    let up_at = Instant::now();
    producing.await??;
    let should_die = |key: &str| poison && is_poison(key);
    let accounting = settle_on(
        &kafka,
        OUTAGE_TOPIC,
        &keys(records),
        should_die,
        Duration::from_secs(120),
    )
    .await?;
    let settled_after = up_at.elapsed();
    app.shutdown().await;
    let failed = failed_while_down();
    if breaker {
        let probes = probes(&failed);
        let resumed = downstream::first_success_after_back().unwrap_or_default();
        eprintln!(
            "  {} calls failed while down: {} at the trip, then {} probes; back: the first order handled after {:.1} s, every order settled after {:.1} s",
            failed.len(),
            failed.len() - probes.len(),
            probes.len(),
            resumed.as_secs_f64(),
            settled_after.as_secs_f64(),
        );
        let closest = probes
            .windows(2)
            .map(|pair| pair[1] - pair[0])
            .min()
            .unwrap_or(MAX_PROBE_DELAY);
        anyhow::ensure!(
            closest >= FIRST_PROBE_DELAY.mul_f64(0.9),
            "probes {closest:?} apart while the first probe delay is {FIRST_PROBE_DELAY:?}"
        );
        let most = 2 + (DOWN_FOR.as_secs() / FIRST_PROBE_DELAY.as_secs()) as usize;
        anyhow::ensure!(
            probes.len() <= most,
            "{} probes in a {DOWN_FOR:?} outage (at most {most})",
            probes.len()
        );
    }
    // In process and without rebalances: a held record is handled once, when it succeeds.
    Ok(accounting.bounded(0))
}

/// The calls that failed after the trip's, the trip being the first failure and the calls
/// that were in flight then (ended within a second of it).
fn probes(failed: &[Instant]) -> Vec<Instant> {
    let Some(trip) = failed.first() else {
        return Vec::new();
    };
    failed
        .iter()
        .copied()
        .filter(|at| at.duration_since(*trip) > Duration::from_secs(1))
        .collect()
}
