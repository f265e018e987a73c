//! Handlers that wait on I/O over many keys (`--only keyed`): each call awaits 5 ms (a sleep
//! standing for a database) on a topic of 8 partitions whose records cycle through 10,000
//! keys, 0 %, 1 % and 10 % of them failing once (1 s later they succeed), by ordering and
//! concurrency, beside Confluent's Parallel Consumer in the same run on the same broker.
//!
//! Each row runs in a process of its own over fresh records on topics of its own, started
//! after its records are written, and reports once every record has succeeded:
//!
//! - kafka-retry, `ordering = "partition"`, `concurrency = 8` (a call per partition at a
//!   time): over a tenth of `--keyed-records` (about 1,300 records/s, so 20,000 of the default
//!   200,000 take 15 s);
//! - kafka-retry, `ordering = "none"` (calls side by side, no order), `concurrency` 64, 256
//!   and 1024: the upper bound of `ordering = "key"`;
//! - Parallel Consumer 0.5.3.2, KEY ordering, `maxConcurrency` 64, 256 and 1024, a blocking
//!   `Thread.sleep(5)` on its threads, a failing record thrown and retried in memory after
//!   its default 1 s (on the embedded broker and Apache Kafka; not on the mock cluster).
//!
//! A record fails its first attempt when its offset is a multiple of 100 / `failing_percent`
//! ([`fails_once`]), in both programs alike.
//!
//! kafka-retry's rows are `ordering = "partition"`, `"none"` and `"key"`: the listener
//! takes its ordering and concurrency from `RETRY_BENCH_KEYED_ORDERING` and
//! `RETRY_BENCH_KEYED_CONCURRENCY`, as users override them.
//!
//! The JSON results carry, per broker, `keyed`: one object per row and failing percentage
//! with exactly `peer` (`kafka-retry`, `parallel-consumer`), `mode` (`partition`, `none`,
//! `key`), `concurrency`, `failing_percent`, `records`, `records_per_s` (from the first
//! record succeeded to the last, retries included), `cpu_us_per_record` (the process's user
//! and system CPU over the same span, per record), `peak_rss_kib` and `threads` (of the
//! process once every record succeeded).

pub mod app;
pub mod report;
#[cfg(test)]
mod tests;

use std::path::Path;
use std::time::Duration;

use serde::Serialize;

use crate::broker::{Broker, Records};
use crate::peers::java::Java;
use crate::peers::{measure, rust_command, Peer, PARTITIONS};
use report::Row;

/// Keys the records cycle through.
pub const KEYS: usize = 10_000;

/// The concurrencies of the rows that run calls side by side.
pub const CONCURRENCIES: [usize; 3] = [64, 256, 1024];

/// The percentages of records failing once, each a run of every row.
pub const FAILING_PERCENTS: [u32; 3] = [0, 1, 10];

/// How a row orders a partition's records, by the names of `ordering`.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// One at a time, in offset order.
    Partition,
    /// Side by side, no order.
    None,
    /// Side by side across keys, one at a time within a key (Parallel Consumer's KEY).
    Key,
}

impl Mode {
    /// The name of `ordering` and of the results.
    pub fn name(self) -> &'static str {
        match self {
            Self::Partition => "partition",
            Self::None => "none",
            Self::Key => "key",
        }
    }
}

/// The rows, in the order they run: who, how, at which concurrencies.
pub const ROWS: [(Peer, Mode, &[usize]); 4] = [
    (Peer::KafkaRetry, Mode::Partition, &[PARTITIONS as usize]),
    (Peer::KafkaRetry, Mode::None, &CONCURRENCIES),
    (Peer::KafkaRetry, Mode::Key, &CONCURRENCIES),
    (Peer::ParallelConsumer, Mode::Key, &CONCURRENCIES),
];

/// Whether the record at `offset` fails its first attempt with `percent` % failing (a divisor
/// of 100, or 0).
pub fn fails_once(offset: i64, percent: u32) -> bool {
    percent > 0 && offset % i64::from(100 / percent) == 0
}

/// One run of the scenario: a row at one concurrency and failing percentage.
#[derive(Clone, Copy, PartialEq, Debug)]
pub struct Spec {
    pub peer: Peer,
    pub mode: Mode,
    pub concurrency: usize,
    pub failing_percent: u32,
    pub records: u64,
}

impl Spec {
    /// The topic of its records (and the group reading them), starting with `prefix`.
    pub fn topic(&self, prefix: &str) -> String {
        format!(
            "{prefix}-{}-{}-{}-{}",
            self.peer.name(),
            self.mode.name(),
            self.concurrency,
            self.failing_percent
        )
    }
}

/// Every run over `records` records a row (a tenth of them for `ordering = "partition"`),
/// Parallel Consumer's only `with_java`, in the order they run.
pub fn specs(records: u64, with_java: bool) -> Vec<Spec> {
    let mut specs = Vec::new();
    for failing_percent in FAILING_PERCENTS {
        for (peer, mode, concurrencies) in ROWS {
            if peer == Peer::ParallelConsumer && !with_java {
                continue;
            }
            for &concurrency in concurrencies {
                specs.push(Spec {
                    peer,
                    mode,
                    concurrency,
                    failing_percent,
                    records: if mode == Mode::Partition {
                        records / 10
                    } else {
                        records
                    },
                });
            }
        }
    }
    specs
}

/// Records of the round each program runs first, not counted: a fresh broker creates its
/// offsets topic and coordinators on first use, and each program's files are read from disk.
const WARM_UP: u64 = 1_000;

/// Runs every row over `records` records on `broker` (Parallel Consumer's with `java`), each
/// process's log in `logs`.
pub async fn run(
    broker: &Broker,
    java: Option<&Java>,
    records: u64,
    logs: &Path,
) -> anyhow::Result<Vec<Row>> {
    std::fs::create_dir_all(logs)?;
    let specs = specs(records, java.is_some());
    let mut warmed = Vec::new();
    for spec in &specs {
        if !warmed.contains(&spec.peer) {
            warmed.push(spec.peer);
            let warm_up = Spec {
                records: WARM_UP,
                failing_percent: 0,
                ..*spec
            };
            eprintln!("[keyed] warm-up of {}, not counted", spec.peer.name());
            run_one(broker, java, &warm_up, "keyed-warm-up", logs).await?;
        }
    }
    let mut rows = Vec::new();
    for spec in &specs {
        let row = run_one(broker, java, spec, "keyed", logs).await?;
        eprintln!("[keyed] {row:?}");
        rows.push(row);
    }
    Ok(rows)
}

/// Runs `spec` over fresh records on topics named after it and `prefix`.
async fn run_one(
    broker: &Broker,
    java: Option<&Java>,
    spec: &Spec,
    prefix: &str,
    logs: &Path,
) -> anyhow::Result<Row> {
    let topic = spec.topic(prefix);
    broker
        .create_listener_topics_with(&topic, PARTITIONS)
        .await?;
    let records = Records {
        topic: &topic,
        n: spec.records as usize,
        keys: Some(KEYS),
        ..Records::default()
    };
    broker.produce_records(&records).await?;
    let bootstrap = broker.bootstrap_servers();
    let command = match spec.peer {
        Peer::ParallelConsumer => java
            .ok_or_else(|| anyhow::anyhow!("Parallel Consumer's rows need the Java peers"))?
            .parallel_consumer(
                &bootstrap,
                &topic,
                spec.records,
                spec.concurrency,
                spec.failing_percent,
            ),
        _ => {
            let (records, failing) = (spec.records.to_string(), spec.failing_percent.to_string());
            let args = [
                "keyed-app",
                "--records",
                &records,
                "--failing-percent",
                &failing,
            ];
            let mut command = rust_command(&bootstrap, &args, app::LISTENER, &topic)?;
            command
                .env(app::ORDERING, spec.mode.name())
                .env(app::CONCURRENCY, spec.concurrency.to_string());
            command
        }
    };
    eprintln!("[keyed] {topic}: {} records", spec.records);
    let limit = Duration::from_secs(300 + spec.records / 100);
    let log = logs.join(format!("{topic}.log"));
    let measured = measure(command, &log, limit, || async { Ok(()) }).await?;
    Ok(Row::new(spec, &measured))
}
