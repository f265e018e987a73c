//! The kafka-retry side of the keyed scenario: a process of its own (`retry-bench keyed-app`)
//! running one listener as users run the app, its ordering and concurrency from the
//! environment, until SIGTERM.

use std::sync::atomic::{AtomicU32, Ordering};

use retry_runtime::prelude::*;

use super::fails_once;
use crate::io_wait::WAIT;
use crate::peers::tally::TALLY;
use crate::peers::Workload;

/// The listener's name.
pub const LISTENER: &str = "bench_keyed";
/// The variables that set its ordering and concurrency.
pub const ORDERING: &str = "RETRY_BENCH_KEYED_ORDERING";
pub const CONCURRENCY: &str = "RETRY_BENCH_KEYED_CONCURRENCY";

/// The percentage of records failing once in this process.
static FAILING_PERCENT: AtomicU32 = AtomicU32::new(0);

/// Awaits 5 ms; fails the first attempt of the records [`fails_once`] names, and counts every
/// record that succeeds.
#[retryable_topic(topic = "bench-keyed", attempts = 2, backoff = "1s")]
async fn bench_keyed(rec: Record<Bytes>) -> anyhow::Result<()> {
    tokio::time::sleep(WAIT).await;
    let percent = FAILING_PERCENT.load(Ordering::Relaxed);
    anyhow::ensure!(
        rec.attempt > 1 || !fails_once(rec.offset, percent),
        "fails once"
    );
    TALLY.main_record();
    Ok(())
}

/// Runs the listener until SIGTERM, reporting once `records` records have succeeded (each
/// counted as a main record of the happy workload, its first attempt or its retry alike).
pub async fn run(records: u64, failing_percent: u32) -> anyhow::Result<()> {
    FAILING_PERCENT.store(failing_percent, Ordering::Relaxed);
    TALLY.expect(Workload::Happy, records);
    crate::peers::app::serve(LISTENER).await
}
