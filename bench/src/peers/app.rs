//! The kafka-retry peer: a process of its own running one workload's listener as users run
//! the app (the subscriber `run()` installs, at INFO, to stdout; `RUST_BACKTRACE=1` set by the
//! benchmark; the brokers from `KAFKA_BOOTSTRAP_SERVERS`), until SIGTERM.

use std::time::Duration;

use retry_runtime::prelude::*;

use super::process::{say, READY};
use super::tally::TALLY;
use super::Workload;
use crate::handlers::{backoff_due, fails_first_time, now_ms};

/// The due time of a retry delivery, epoch ms.
fn due_ms(rec: &Record<Bytes>) -> i64 {
    backoff_due(rec).unwrap_or_else(now_ms)
}

/// No-op work: count.
#[retryable_topic(
    topic = "kafka-retry-happy",
    attempts = 2,
    backoff = "1s",
    concurrency = 8
)]
async fn peer_happy(_rec: Record<Bytes>) -> anyhow::Result<()> {
    TALLY.main_record();
    Ok(())
}

/// Every tenth record (by key) fails its first delivery and succeeds on its 1 s retry.
#[retryable_topic(
    topic = "kafka-retry-failing10",
    attempts = 2,
    backoff = "1s",
    concurrency = 8
)]
async fn peer_failing10(rec: Record<Bytes>) -> anyhow::Result<()> {
    if rec.attempt > 1 {
        TALLY.retry(due_ms(&rec), true);
        return Ok(());
    }
    TALLY.main_record();
    anyhow::ensure!(!fails_first_time(rec.key_str()), "fails once");
    Ok(())
}

/// Every record fails four times and ends in the DLT.
#[retryable_topic(
    topic = "kafka-retry-dlt",
    attempts = 4,
    backoff = "1s*2",
    concurrency = 8
)]
async fn peer_dlt(rec: Record<Bytes>) -> anyhow::Result<()> {
    if rec.attempt > 1 {
        TALLY.retry(due_ms(&rec), false);
        anyhow::bail!("fails again");
    }
    TALLY.main_record();
    anyhow::bail!("fails")
}

/// Counts the dead letters of `peer_dlt`.
#[dlt_handler(topic = "kafka-retry-dlt")]
async fn peer_dlt_dead(_rec: DeadLetter<Bytes>) -> anyhow::Result<()> {
    TALLY.dead_letter();
    Ok(())
}

/// Each call awaits 5 ms, a sleep standing for a database.
#[retryable_topic(
    topic = "kafka-retry-io5ms",
    attempts = 2,
    backoff = "1s",
    concurrency = 8
)]
async fn peer_io5ms(_rec: Record<Bytes>) -> anyhow::Result<()> {
    tokio::time::sleep(Duration::from_millis(5)).await;
    TALLY.main_record();
    Ok(())
}

/// The listener of `workload`.
pub fn listener(workload: Workload) -> &'static str {
    match workload {
        Workload::Happy => "peer_happy",
        Workload::Failing10 => "peer_failing10",
        Workload::Dlt => "peer_dlt",
        Workload::Io5ms => "peer_io5ms",
    }
}

/// Runs `workload`'s listener over `records` records until SIGTERM, as `run_with` does, saying
/// when every consumer has its partitions.
pub async fn run(workload: Workload, records: u64) -> anyhow::Result<()> {
    TALLY.expect(workload, records);
    serve(listener(workload)).await
}

/// Runs `listener` as `run_with` does (its subscriber at INFO unless `RUST_LOG` says
/// otherwise), says `PEER-READY` once every consumer has its partitions, and stops on SIGTERM.
pub async fn serve(listener: &str) -> anyhow::Result<()> {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .try_init();
    let app = RetryApp::builder().listeners([listener]).start().await?;
    app.ready().await;
    say(READY);
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = term.recv() => {}
        failure = app.failed() => anyhow::bail!("the app failed: {failure}"),
    }
    app.shutdown().await;
    Ok(())
}
