//! Handlers that wait on I/O: each call awaits 5 ms (a sleep standing for a database), on one
//! partition, with `ordering = "partition"` (one call at a time, the default) and with
//! `ordering = "none"` (up to `concurrency` = 256 calls side by side). Records per second of
//! each, and their ratio: what concurrency inside a partition buys a handler that waits.

use std::time::Duration;

use retry_runtime::prelude::*;

use crate::broker::Broker;
use crate::handlers::Meter;
use crate::scenarios::{start, wait_for};

/// How long each call waits.
pub const WAIT: Duration = Duration::from_millis(5);

/// Records of the one-at-a-time run: at 5 ms each, about 10 s.
pub const SEQUENTIAL_RECORDS: usize = 2_000;

/// Calls of the one-at-a-time listener.
static SEQUENTIAL: Meter = Meter::new();
/// Calls of the side-by-side listener.
static SIDE_BY_SIDE: Meter = Meter::new();

/// One call at a time, as every partition handles its records by default.
#[retryable_topic(topic = "bench-io-partition", partitions = 1)]
async fn bench_io_partition(_rec: Record<Bytes>) -> anyhow::Result<()> {
    tokio::time::sleep(WAIT).await;
    SEQUENTIAL.record();
    Ok(())
}

/// Up to 256 calls side by side.
#[retryable_topic(
    topic = "bench-io-none",
    partitions = 1,
    ordering = "none",
    concurrency = 256
)]
async fn bench_io_none(_rec: Record<Bytes>) -> anyhow::Result<()> {
    tokio::time::sleep(WAIT).await;
    SIDE_BY_SIDE.record();
    Ok(())
}

/// Records per second with each ordering.
#[derive(Default)]
pub struct IoWait {
    /// `ordering = "partition"`, over [`SEQUENTIAL_RECORDS`].
    pub partition_records_per_s: f64,
    /// `ordering = "none"`, `concurrency = 256`, over the run's `n` records.
    pub none_records_per_s: f64,
}

/// Runs both listeners over records already waiting on their one partition: 2,000 for the
/// one-at-a-time listener, `n` for the other.
pub async fn io_wait(broker: &Broker, n: usize) -> anyhow::Result<IoWait> {
    let runs = [
        (
            "bench_io_partition",
            "bench-io-partition",
            SEQUENTIAL_RECORDS,
            &SEQUENTIAL,
        ),
        ("bench_io_none", "bench-io-none", n, &SIDE_BY_SIDE),
    ];
    let mut rates = [0.0; 2];
    for ((listener, topic, records, meter), rate) in runs.into_iter().zip(&mut rates) {
        broker.create_listener_topics(topic).await?;
        broker.produce(topic, records, None).await?;
        meter.reset(records as u64);
        let app = start(&broker.bootstrap_servers(), &[listener], "io", &[]).await?;
        wait_for(topic, Duration::from_secs(120), || {
            meter.count() >= records as u64
        })
        .await?;
        app.shutdown().await;
        *rate = meter.rate();
    }
    Ok(IoWait {
        partition_records_per_s: rates[0],
        none_records_per_s: rates[1],
    })
}
