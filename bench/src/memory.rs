//! Peak memory of the app while records wait: each case runs the app in a child process (its
//! peak RSS is the app's alone; the embedded broker stays in this one) and reads the child's
//! `VmHWM` once what waits has been fetched.

use std::time::Duration;

use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::ClientConfig;
use retry_runtime::core::headers::{
    encode_i32, encode_i64, write_forward, Hop, ATTEMPTS, BACKOFF_TIMESTAMP,
};
use retry_runtime::core::{ExceptionInfo, Headers, TimestampType};
use retry_runtime::kafka_headers::KafkaHeaders;
use retry_runtime::RetryApp;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use crate::broker::{Broker, Records};
use crate::handlers::now_ms;
use crate::scenarios::proc_status;

/// What waits while the app runs.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Waiting {
    /// Records with 10-byte values on a retry topic, due in an hour.
    Retry,
    /// Records with 10-byte values on a main topic, behind a handler call that never returns.
    Main,
    /// Retry records due in an hour carrying the exception headers of a listener with
    /// `stacktrace = "full"` at their bounds (4 KiB message, 16 KiB stack trace).
    FullStacktrace,
    /// The head of a retry partition, due in an hour, with records of 10-byte values
    /// produced behind it while the app runs, one at a time between batches of
    /// [`FLOW_BATCH`] records of [`FLOW_VALUE`] bytes to the topic's other partition, which
    /// the app handles at once: each fetch that brings the held partition a record also
    /// brings a batch for the other one.
    HeldHead,
}

/// The value of the records that wait: 10 bytes, so a partition's prefetch is bounded by its
/// record count, not by its value bytes.
const SMALL_VALUE: &[u8] = b"0123456789";

/// Records produced to the flowing partition between two records piled behind a held head.
const FLOW_BATCH: usize = 100;

/// Value bytes of each of those records.
const FLOW_VALUE: usize = 1000;

/// The line the child prints once every consumer has its partitions.
const READY: &str = "READY";

/// How long the child lets its consumers fetch, once told to measure, before it reads its
/// peak RSS.
const SETTLE: Duration = Duration::from_secs(5);

impl Waiting {
    /// The listener that runs in the child.
    fn listener(self) -> &'static str {
        match self {
            Self::Main => "bench_memory_main",
            Self::Retry | Self::FullStacktrace | Self::HeldHead => "bench_memory",
        }
    }

    /// Partitions of each of the case's topics.
    fn partitions(self) -> i32 {
        match self {
            Self::HeldHead => 2,
            Self::Retry | Self::Main | Self::FullStacktrace => 1,
        }
    }
}

/// Peak RSS in KiB of a child process running the app while `n` records wait as `waiting`
/// says, on topics named after `run`.
pub async fn peak_rss_kib(
    broker: &Broker,
    waiting: Waiting,
    n: usize,
    run: &str,
) -> anyhow::Result<u64> {
    let topic = format!("bench-memory-{run}");
    let retry = format!("{topic}-retry");
    broker
        .create_listener_topics_with(&topic, waiting.partitions())
        .await?;
    let in_an_hour = now_ms() + 3_600_000;
    let waiting_records = |topic, headers| Records {
        topic,
        n,
        value: SMALL_VALUE,
        headers: Some(headers),
        ..Records::default()
    };
    match waiting {
        Waiting::Retry => {
            let headers = retry_headers(in_an_hour);
            broker
                .produce_records(&waiting_records(&retry, headers))
                .await?;
        }
        Waiting::Main => {
            let records = Records {
                headers: None,
                ..waiting_records(&topic, OwnedHeaders::new())
            };
            broker.produce_records(&records).await?;
        }
        Waiting::FullStacktrace => {
            let headers = full_stacktrace_headers(&topic, in_an_hour);
            broker
                .produce_records(&waiting_records(&retry, headers))
                .await?;
        }
        Waiting::HeldHead => {
            let head = Records {
                partition: Some(0),
                n: 1,
                ..waiting_records(&retry, retry_headers(in_an_hour))
            };
            broker.produce_records(&head).await?;
        }
    }
    let mut child = tokio::process::Command::new(std::env::current_exe()?)
        .args([
            "memory-child",
            "--bootstrap",
            &broker.bootstrap_servers(),
            "--listener",
            waiting.listener(),
            "--topic",
            &topic,
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let mut stdin = child.stdin.take().expect("piped");
    let mut lines = BufReader::new(child.stdout.take().expect("piped")).lines();
    while lines.next_line().await?.as_deref() != Some(READY) {}
    if waiting == Waiting::HeldHead {
        pile_behind_head(broker, &retry, n).await?;
    }
    stdin.write_all(b"measure\n").await?;
    let peak = lines
        .next_line()
        .await?
        .ok_or_else(|| anyhow::anyhow!("the memory child printed no peak"))?;
    let status = child.wait().await?;
    anyhow::ensure!(status.success(), "memory child failed: {status}");
    Ok(peak.trim().parse()?)
}

/// A retry's headers, due at `due_ms`: attempts and due time only.
fn retry_headers(due_ms: i64) -> OwnedHeaders {
    OwnedHeaders::new()
        .insert(Header {
            key: ATTEMPTS,
            value: Some(&encode_i32(2)),
        })
        .insert(Header {
            key: BACKOFF_TIMESTAMP,
            value: Some(&encode_i64(due_ms)),
        })
}

/// The headers of a first retry of a record of `topic`, due at `due_ms`, whose failure's
/// message and stack trace fill their bounds.
fn full_stacktrace_headers(topic: &str, due_ms: i64) -> OwnedHeaders {
    let exception = ExceptionInfo {
        fqcn: "anyhow::Error".into(),
        cause_fqcn: "std::io::Error".into(),
        message: "m".repeat(1 << 16),
        stacktrace: "s".repeat(1 << 16),
    }
    .bounded();
    let now = now_ms();
    let hop = Hop {
        topic,
        partition: 0,
        offset: 0,
        timestamp_ms: now,
        timestamp_type: TimestampType::CreateTime,
        group: "bench_memory",
        exception: &exception,
        original_timestamp_ms: now,
        first: true,
    };
    let mut headers = KafkaHeaders::with_capacity(13);
    write_forward(&Headers::default(), &hop, 2, due_ms, &mut headers);
    headers.into_inner()
}

/// Produces `n` records due now behind the held head of `retry`'s partition 0, each after a
/// batch of [`FLOW_BATCH`] records due now to partition 1, waiting for each round's
/// acknowledgements so the rounds reach the app's fetches apart.
async fn pile_behind_head(broker: &Broker, retry: &str, n: usize) -> anyhow::Result<()> {
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap_servers())
        .set("linger.ms", "0")
        .create()?;
    let due_now = retry_headers(now_ms());
    let flow_value = vec![b'f'; FLOW_VALUE];
    let send = |partition: i32, key: &str, value: &[u8]| {
        let record = FutureRecord::<str, [u8]>::to(retry)
            .partition(partition)
            .key(key)
            .payload(value)
            .headers(due_now.clone());
        producer.send_result(record).map_err(|(e, _)| e)
    };
    for round in 0..n {
        let mut sends = Vec::with_capacity(FLOW_BATCH + 1);
        for i in 0..FLOW_BATCH {
            sends.push(send(1, &format!("{round}-{i}"), &flow_value)?);
        }
        sends.push(send(0, &round.to_string(), SMALL_VALUE)?);
        for sent in futures::future::join_all(sends).await {
            sent?.map_err(|(e, _)| e)?;
        }
    }
    Ok(())
}

/// The memory child: runs `listener` on `topic` until every consumer has its partitions,
/// says so, waits to be told to measure, lets its consumers fetch for [`SETTLE`], and prints
/// its peak RSS in KiB.
pub async fn child(bootstrap: &str, listener: &str, topic: &str) -> anyhow::Result<()> {
    let (var, topic) = (
        format!("RETRY_{}_TOPIC", listener.to_ascii_uppercase()),
        topic.to_owned(),
    );
    let app = RetryApp::builder()
        .bootstrap_servers(bootstrap)
        .listeners([listener])
        .settings_env(move |name| (name == var).then(|| topic.clone()))
        .shutdown_grace(Duration::from_secs(1))
        .start()
        .await?;
    app.ready().await;
    println!("{READY}");
    let mut told = String::new();
    BufReader::new(tokio::io::stdin())
        .read_line(&mut told)
        .await?;
    tokio::time::sleep(SETTLE).await;
    println!("{}", proc_status("VmHWM"));
    app.shutdown().await;
    Ok(())
}
