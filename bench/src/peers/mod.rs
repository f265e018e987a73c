//! The comparison with what users would pick instead (`--broker kafka --peer spring`): on one
//! Apache Kafka broker, one after the other over the same records, this project's listener, a
//! Spring Boot / Spring Kafka service with the equivalent `@RetryableTopic`, and a plain
//! kafka-clients poll loop (the Java floor), each in a process of its own, on each workload.

pub mod app;
pub mod java;
mod process;
pub mod report;
pub mod tally;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::ValueEnum;
use serde::{Deserialize, Serialize};

use crate::broker::{Broker, Records};
use process::PeerProcess;
use report::Run;
use tally::Done;

/// Partitions of every topic of the comparison; the listeners run as many handler calls at a
/// time (Spring: `concurrency`, this project: `concurrency`, the floor: a thread each).
pub const PARTITIONS: i32 = 8;

/// The peers `--peer` compares this project's listener with.
#[derive(Clone, Copy, PartialEq, Eq, Debug, ValueEnum)]
pub enum Peers {
    /// Spring Boot 3.5 / Spring Kafka 3.3, and the plain kafka-clients loop.
    Spring,
}

/// One peer of the comparison.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Peer {
    /// This project's listener.
    KafkaRetry,
    /// The Spring Boot service with `@RetryableTopic`.
    SpringKafka,
    /// The plain kafka-clients poll loops.
    KafkaClients,
    /// Confluent's Parallel Consumer, in the keyed scenario.
    ParallelConsumer,
}

impl Peer {
    /// The name in the results, which also starts the names of its topics.
    pub fn name(self) -> &'static str {
        match self {
            Self::KafkaRetry => "kafka-retry",
            Self::SpringKafka => "spring-kafka",
            Self::KafkaClients => "kafka-clients",
            Self::ParallelConsumer => "parallel-consumer",
        }
    }
}

/// A workload of the comparison.
#[derive(Clone, Copy, PartialEq, Eq, Debug, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Workload {
    /// Every record succeeds.
    Happy,
    /// Every tenth record fails once and succeeds on its 1 s retry.
    Failing10,
    /// Every record fails through `attempts = 4, backoff = "1s*2"` into the DLT.
    Dlt,
    /// Every call waits 5 ms (Spring and the floor: a blocking sleep on their threads).
    Io5ms,
}

impl Workload {
    /// Every workload, in the order they run.
    pub const ALL: [Self; 4] = [Self::Happy, Self::Failing10, Self::Dlt, Self::Io5ms];

    /// The name in the results and in topic names.
    pub fn name(self) -> &'static str {
        match self {
            Self::Happy => "happy",
            Self::Failing10 => "failing10",
            Self::Dlt => "dlt",
            Self::Io5ms => "io5ms",
        }
    }

    /// The suffixes of the topics of its chain, the main topic's ("") first.
    fn topic_suffixes(self) -> &'static [&'static str] {
        match self {
            Self::Dlt => &["", "-retry-1000", "-retry-2000", "-retry-4000", "-dlt"],
            Self::Happy | Self::Failing10 | Self::Io5ms => &["", "-retry", "-dlt"],
        }
    }

    /// Whether its records are retried, so that retry lateness applies.
    pub fn retries(self) -> bool {
        matches!(self, Self::Failing10 | Self::Dlt)
    }
}

/// What to run.
pub struct Options {
    /// Records of the happy workload.
    pub records: u64,
    /// Records of the failing10 workload.
    pub failing_records: u64,
    /// Records of the dlt workload.
    pub dlt_records: u64,
    /// Records of the io5ms workload.
    pub io_records: u64,
    pub workloads: Vec<Workload>,
    /// Where each peer's log goes, a file per peer and workload.
    pub logs: PathBuf,
}

impl Options {
    fn records(&self, workload: Workload) -> u64 {
        match workload {
            Workload::Happy => self.records,
            Workload::Failing10 => self.failing_records,
            Workload::Dlt => self.dlt_records,
            Workload::Io5ms => self.io_records,
        }
    }
}

/// Runs every workload of `options` with each peer on `broker`.
pub async fn run(
    broker: &Broker,
    java: &java::Java,
    options: &Options,
) -> anyhow::Result<Vec<Run>> {
    std::fs::create_dir_all(&options.logs)?;
    let peers = [Peer::KafkaRetry, Peer::SpringKafka, Peer::KafkaClients];
    // A fresh broker creates its offsets topic and coordinators on first use, and the first
    // run of each program reads it from disk: a round not counted pays for both.
    for peer in peers {
        let topic = format!("warm-up-{}", peer.name());
        eprintln!("[peers] {topic}: {WARM_UP} records, not counted");
        let run = run_one(
            broker,
            java,
            peer,
            Workload::Happy,
            &topic,
            WARM_UP,
            &options.logs,
        );
        run.await?;
    }
    let mut runs = Vec::new();
    for &workload in &options.workloads {
        for peer in peers {
            let records = options.records(workload);
            let topic = format!("{}-{}", peer.name(), workload.name());
            eprintln!("[peers] {topic}: {records} records");
            let run = run_one(broker, java, peer, workload, &topic, records, &options.logs);
            let run = run.await?;
            eprintln!("[peers] {topic}: {:?}", run.figures);
            runs.push(run);
        }
    }
    Ok(runs)
}

/// Records of the warm-up round.
const WARM_UP: u64 = 1_000;

/// Runs `workload` with `peer` over `records` fresh records on `topic` and its chain, created
/// here, with a log named after `topic` in `options.logs`.
async fn run_one(
    broker: &Broker,
    java: &java::Java,
    peer: Peer,
    workload: Workload,
    topic: &str,
    records: u64,
    logs: &Path,
) -> anyhow::Result<Run> {
    for suffix in workload.topic_suffixes() {
        broker
            .create_topic(&format!("{topic}{suffix}"), PARTITIONS)
            .await?;
    }
    let produce = || async {
        broker
            .produce_records(&Records {
                topic,
                n: records as usize,
                ..Records::default()
            })
            .await
    };
    // The dlt workload's records are written once every consumer is assigned, so that their
    // retries measure how precisely a retry waits, not how long the retry groups took to join.
    if workload != Workload::Dlt {
        produce().await?;
    }
    let command = match peer {
        Peer::KafkaRetry => app_command(&broker.bootstrap_servers(), workload, topic, records)?,
        _ => java.command(peer, &broker.bootstrap_servers(), workload, topic, records),
    };
    // Spring's failing workloads handle tens (dlt) to hundreds of records a second here.
    let per_second = if workload == Workload::Dlt { 5 } else { 100 };
    let limit = Duration::from_secs(300 + records / per_second);
    let log = logs.join(format!("{topic}.log"));
    let after_ready = || async {
        if workload == Workload::Dlt {
            produce().await?;
        }
        Ok(())
    };
    let m = measure(command, &log, limit, after_ready).await?;
    let started_ms = if workload == Workload::Dlt {
        m.ready_ms
    } else {
        m.done.first_epoch_ms
    };
    let startup_s = (started_ms - m.spawned_ms) as f64 / 1e3;
    Ok(Run::new(
        peer,
        workload,
        records,
        &m.done,
        m.peak_rss_kib,
        m.threads,
        startup_s,
    ))
}

/// What a peer's process gave: its report, and what was read of it from outside.
pub struct Measured {
    pub done: Done,
    /// Its peak RSS (`VmHWM`) and threads once it reported.
    pub peak_rss_kib: u64,
    pub threads: u64,
    /// When it was started and when it said it was ready, epoch ms.
    pub spawned_ms: i64,
    pub ready_ms: i64,
}

/// Starts `command` with its log in `log`, waits for it to be ready, runs `after_ready`, waits
/// up to `limit` for its report, reads its peak RSS and threads, and stops it.
pub async fn measure<F>(
    command: tokio::process::Command,
    log: &Path,
    limit: Duration,
    after_ready: impl FnOnce() -> F,
) -> anyhow::Result<Measured>
where
    F: std::future::Future<Output = anyhow::Result<()>>,
{
    let mut process = PeerProcess::spawn(command, log)?;
    let run = async {
        process
            .wait_for(process::READY, Duration::from_secs(120))
            .await?;
        let ready_ms = crate::handlers::now_ms();
        after_ready().await?;
        let done: Done = serde_json::from_str(&process.wait_for(process::DONE, limit).await?)?;
        anyhow::Ok(Measured {
            done,
            peak_rss_kib: process.status("VmHWM")?,
            threads: process.status("Threads")?,
            spawned_ms: process.spawned_ms,
            ready_ms,
        })
    };
    let result = run.await;
    process.stop().await?;
    result.map_err(|e| e.context(format!("log: {}", log.display())))
}

/// The kafka-retry peer: this program's `peer-app`, with the environment users run it with,
/// its listener pointed at `topic` and a group of the same name, as the Java peers'.
fn app_command(
    bootstrap: &str,
    workload: Workload,
    topic: &str,
    records: u64,
) -> anyhow::Result<tokio::process::Command> {
    let records = records.to_string();
    let args = [
        "peer-app",
        "--workload",
        workload.name(),
        "--records",
        &records,
    ];
    rust_command(bootstrap, &args, app::listener(workload), topic)
}

/// This program run with `args` as users run the app (`RUST_LOG=info`, `RUST_BACKTRACE=1`,
/// the brokers from `KAFKA_BOOTSTRAP_SERVERS`), `listener` pointed at `topic` and a group of
/// the same name.
pub fn rust_command(
    bootstrap: &str,
    args: &[&str],
    listener: &str,
    topic: &str,
) -> anyhow::Result<tokio::process::Command> {
    let listener = listener.to_ascii_uppercase();
    let mut command = tokio::process::Command::new(std::env::current_exe()?);
    command
        .args(args)
        .env("KAFKA_BOOTSTRAP_SERVERS", bootstrap)
        .env(format!("RETRY_{listener}_TOPIC"), topic)
        .env(format!("RETRY_{listener}_GROUP"), topic)
        .env("RUST_LOG", "info")
        .env("RUST_BACKTRACE", "1")
        .env_remove("RUST_LIB_BACKTRACE");
    Ok(command)
}
