//! The fault suite: every scenario runs a known set of uniquely keyed records through the
//! `fault_orders` listener while something goes wrong, then accounts for every key: handled
//! at least once, or in the DLT. Zero lost is the only pass.
//!
//! ```text
//! cargo run --release -p retry-bench --bin retry-faults            # every scenario
//! cargo run --release -p retry-bench --bin retry-faults -- kill    # or mock, storm, bad, dlt-down
//! ```

mod accounting;
mod listener;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};
use rdkafka::ClientConfig;
use retry_runtime::core::headers::{encode_i64, ATTEMPTS, BACKOFF_TIMESTAMP};
use retry_runtime::testing::TestKafka;
use retry_runtime::{RetryApp, RunningApp};

use accounting::Accounting;
use listener::{HANDLED, TOPIC};

#[derive(Parser)]
#[command(about = "kafka-retry fault suite: nothing may be lost")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Records per scenario.
    #[arg(long, default_value_t = 2000)]
    records: u64,
    /// kill -9s in the kill scenario.
    #[arg(long, default_value_t = 12)]
    kills: usize,
}

#[derive(Subcommand, Clone, PartialEq)]
enum Command {
    /// kill -9 the application process at random moments, restarting it each time.
    Kill,
    /// Broker down, request errors and latency on librdkafka's mock cluster.
    Mock,
    /// Instances joining and leaving the group throughout the run.
    Storm,
    /// Malformed payloads and retry headers, huge records, absurd due times.
    Bad,
    /// The DLT cannot be published to; the app is stopped meanwhile, then restarted.
    DltDown,
    /// Internal: the application process the kill scenario kills.
    App {
        #[arg(long)]
        bootstrap: String,
    },
}

/// Keys that belong in the DLT: orders the handler always fails, and undecodable records.
fn dies(key: &str) -> bool {
    key.starts_with("bad-") || key.parse::<u64>().is_ok_and(|k| k.is_multiple_of(7))
}

fn keys(n: u64) -> BTreeSet<String> {
    (1..=n).map(|k| k.to_string()).collect()
}

/// Produces orders `1..=n` over about `spread`, so faults hit a run in progress.
async fn produce_orders(bootstrap: String, n: u64, spread: Duration) -> anyhow::Result<()> {
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("message.timeout.ms", "120000")
        .create()?;
    let pause = spread / n.max(1) as u32;
    for k in 1..=n {
        let key = k.to_string();
        let value = format!(r#"{{"k":{k}}}"#);
        producer
            .send(
                FutureRecord::to(TOPIC).key(&key).payload(&value),
                Duration::from_secs(120),
            )
            .await
            .map_err(|(e, _)| e)?;
        tokio::time::sleep(pause).await;
    }
    Ok(())
}

async fn start_app(bootstrap: &str) -> anyhow::Result<RunningApp> {
    Ok(RetryApp::builder()
        .bootstrap_servers(bootstrap)
        .listeners(["fault_orders"])
        .startup_timeout(Duration::from_secs(30))
        .start()
        .await?)
}

/// Accounts until every key is handled or dead-lettered, or `limit` passes.
async fn settle(
    kafka: &TestKafka,
    expected: &BTreeSet<String>,
    limit: Duration,
) -> anyhow::Result<Accounting> {
    let start = Instant::now();
    loop {
        let handled = kafka.read_all(HANDLED).await?;
        let dlt = kafka.read_all(&format!("{TOPIC}-dlt")).await?;
        let accounting = Accounting::of(expected, &handled, &dlt, dies);
        if accounting.complete() || start.elapsed() > limit {
            return Ok(accounting);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn create_topics(kafka: &TestKafka, partitions: i32) -> anyhow::Result<()> {
    for topic in [
        TOPIC.to_owned(),
        format!("{TOPIC}-retry"),
        format!("{TOPIC}-dlt"),
    ] {
        kafka.create_topic(&topic, partitions).await?;
    }
    kafka.create_topic(HANDLED, 1).await
}

/// kill -9 of the application process at random moments.
async fn kill(records: u64, kills: usize) -> anyhow::Result<Accounting> {
    let kafka = TestKafka::start().await?;
    create_topics(&kafka, 3).await?;
    let producing = tokio::spawn(produce_orders(
        kafka.bootstrap_servers().to_owned(),
        records,
        Duration::from_secs(10),
    ));
    let exe = std::env::current_exe()?;
    let spawn = || {
        tokio::process::Command::new(&exe)
            .args(["app", "--bootstrap", kafka.bootstrap_servers()])
            // A killed member holds its partitions until the broker expires its session:
            // keep that short (librdkafka's default is 45 s), through the KAFKA_* pass-through.
            .env("KAFKA_SESSION_TIMEOUT_MS", "6000")
            .env("KAFKA_HEARTBEAT_INTERVAL_MS", "1000")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
    };
    for i in 0..kills {
        let mut child = spawn()?;
        let life = Duration::from_millis(rand::random_range(500..2500));
        tokio::time::sleep(life).await;
        child.start_kill()?; // SIGKILL
        child.wait().await?;
        eprintln!("  kill {}/{kills} after {life:?}", i + 1);
    }
    producing.await??;
    let mut last = spawn()?;
    let accounting = settle(&kafka, &keys(records), Duration::from_secs(120)).await?;
    last.start_kill()?;
    last.wait().await?;
    Ok(accounting)
}

/// Broker faults on the mock cluster: a broker down, produce and commit errors, latency.
async fn mock(records: u64) -> anyhow::Result<Accounting> {
    let cluster = MockCluster::new(3)?;
    let bootstrap = cluster.bootstrap_servers();
    for topic in [
        TOPIC.to_owned(),
        format!("{TOPIC}-retry"),
        format!("{TOPIC}-dlt"),
    ] {
        cluster.create_topic(&topic, 3, 1)?;
    }
    cluster.create_topic(HANDLED, 1, 1)?;
    let kafka = TestKafka::connect(&bootstrap)?;
    listener::connect(&bootstrap)?;
    let app = start_app(&bootstrap).await?;
    let producing = tokio::spawn(produce_orders(
        bootstrap.clone(),
        records,
        Duration::from_secs(12),
    ));
    tokio::time::sleep(Duration::from_secs(2)).await;
    eprintln!("  broker 2 down for 4 s");
    cluster.broker_down(2)?;
    tokio::time::sleep(Duration::from_secs(4)).await;
    cluster.broker_up(2)?;
    eprintln!("  produce and offset-commit requests failing");
    let transient = [RDKafkaRespErr::RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION; 20];
    cluster.request_errors(RDKafkaApiKey::Produce, &transient);
    cluster.request_errors(
        RDKafkaApiKey::OffsetCommit,
        &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT; 10],
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    eprintln!("  500 ms round trips on broker 1 for 3 s");
    cluster.broker_round_trip_time(1, Duration::from_millis(500))?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    cluster.broker_round_trip_time(1, Duration::ZERO)?;
    producing.await??;
    let accounting = settle(&kafka, &keys(records), Duration::from_secs(90)).await?;
    app.shutdown().await;
    Ok(accounting)
}

/// Instances join and leave the group throughout the run.
async fn storm(records: u64) -> anyhow::Result<Accounting> {
    let kafka = TestKafka::start().await?;
    create_topics(&kafka, 4).await?;
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
    Ok(accounting)
}

/// The DLT topic errors out; records that must go there cannot, so their offsets must not be
/// committed: the app is shut down while they are stuck, the DLT comes back, and a restarted
/// app must still account for every record.
async fn dlt_down(records: u64) -> anyhow::Result<Accounting> {
    let cluster = MockCluster::new(1)?;
    let bootstrap = cluster.bootstrap_servers();
    let dlt = format!("{TOPIC}-dlt");
    for topic in [TOPIC.to_owned(), format!("{TOPIC}-retry"), dlt.clone()] {
        cluster.create_topic(&topic, 3, 1)?;
    }
    cluster.create_topic(HANDLED, 1, 1)?;
    let kafka = TestKafka::connect(&bootstrap)?;
    listener::connect(&bootstrap)?;
    let app = start_app(&bootstrap).await?;
    eprintln!("  DLT topic unavailable");
    cluster.topic_error(
        &dlt,
        RDKafkaRespErr::RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED,
    )?;
    produce_orders(bootstrap.clone(), records, Duration::from_secs(3)).await?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    eprintln!("  stopping the app with dead letters stuck");
    app.shutdown().await;
    cluster.topic_error(&dlt, RDKafkaRespErr::RD_KAFKA_RESP_ERR_NO_ERROR)?;
    eprintln!("  DLT back; restarting the app");
    let app = start_app(&bootstrap).await?;
    let accounting = settle(&kafka, &keys(records), Duration::from_secs(90)).await?;
    app.shutdown().await;
    Ok(accounting)
}

/// What a bad-input record is, its topic, key, value and headers.
type BadRecord = (
    &'static str,
    String,
    Option<&'static str>,
    Vec<u8>,
    OwnedHeaders,
);

/// Malformed input: every bad record ends handled or in the DLT, and the partitions keep
/// flowing (the good records produced after them are handled).
async fn bad(records: u64) -> anyhow::Result<Accounting> {
    let kafka = TestKafka::start().await?;
    create_topics(&kafka, 1).await?;
    let bootstrap = kafka.bootstrap_servers().to_owned();
    listener::connect(&bootstrap)?;
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("message.max.bytes", "2000000")
        .create()?;
    let send = |topic: String, key: Option<&'static str>, value: Vec<u8>, headers: OwnedHeaders| {
        let producer = producer.clone();
        async move {
            let mut record = FutureRecord::<str, [u8]>::to(&topic)
                .payload(&value)
                .headers(headers);
            if let Some(key) = key {
                record = record.key(key);
            }
            producer
                .send(record, Duration::from_secs(30))
                .await
                .map_err(|(e, _)| e)
                .map(drop)
        }
    };
    let none = OwnedHeaders::new;
    let retry = format!("{TOPIC}-retry");
    let header = |key: &'static str, value: Vec<u8>| {
        OwnedHeaders::new().insert(Header {
            key,
            value: Some(&value),
        })
    };
    // Each dead-lettered bad record's key; the ones that decode are handled under their `k`.
    let bad: Vec<BadRecord> = vec![
        (
            "non-UTF-8 value",
            TOPIC.into(),
            Some("bad-binary"),
            vec![0xff, 0xfe, 0x00, 0x80],
            none(),
        ),
        (
            "non-JSON value",
            TOPIC.into(),
            Some("bad-text"),
            b"hello".to_vec(),
            none(),
        ),
        (
            "empty value",
            TOPIC.into(),
            Some("bad-empty"),
            Vec::new(),
            none(),
        ),
        (
            "huge non-JSON value",
            TOPIC.into(),
            Some("bad-huge"),
            vec![b'x'; 900_000],
            none(),
        ),
        (
            "null key, valid JSON",
            TOPIC.into(),
            None,
            br#"{"k":1000001}"#.to_vec(),
            none(),
        ),
        (
            "retry: no headers",
            retry.clone(),
            Some("1000002"),
            br#"{"k":1000002}"#.to_vec(),
            none(),
        ),
        (
            "retry: truncated attempts",
            retry.clone(),
            Some("bad-truncated"),
            br#"{"k":1000003}"#.to_vec(),
            header(ATTEMPTS, vec![0, 1]),
        ),
        (
            "retry: garbage due time",
            retry.clone(),
            Some("bad-garbage"),
            br#"{"k":1000004}"#.to_vec(),
            header(BACKOFF_TIMESTAMP, b"not a time at all".to_vec()),
        ),
        (
            "retry: due in the year 3000",
            retry.clone(),
            Some("bad-future"),
            br#"{"k":1000005}"#.to_vec(),
            header(BACKOFF_TIMESTAMP, encode_i64(32_503_680_000_000)),
        ),
        (
            "retry: due in 1970",
            retry.clone(),
            Some("1000006"),
            br#"{"k":1000006}"#.to_vec(),
            header(BACKOFF_TIMESTAMP, encode_i64(1)),
        ),
    ];
    for (what, topic, key, value, headers) in &bad {
        eprintln!("  {what}");
        send(topic.clone(), *key, value.clone(), headers.clone()).await?;
    }
    let app = start_app(&bootstrap).await?;
    produce_orders(bootstrap.clone(), records, Duration::from_secs(2)).await?;
    let mut expected = keys(records);
    expected.extend(
        [
            "bad-binary",
            "bad-text",
            "bad-empty",
            "bad-huge",
            "1000001",
            "1000002",
            "bad-truncated",
            "bad-garbage",
            "bad-future",
            "1000006",
        ]
        .map(String::from),
    );
    let accounting = settle(&kafka, &expected, Duration::from_secs(60)).await?;
    app.shutdown().await;
    Ok(accounting)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Some(Command::App { bootstrap }) = &cli.command {
        listener::connect(bootstrap)?;
        return RetryApp::builder()
            .bootstrap_servers(bootstrap)
            .listeners(["fault_orders"])
            .run()
            .await;
    }
    let all = [
        Command::Kill,
        Command::Mock,
        Command::Storm,
        Command::Bad,
        Command::DltDown,
    ];
    let chosen: Vec<Command> = match cli.command {
        Some(one) => vec![one],
        None => all.to_vec(),
    };
    let mut failed = false;
    let mut results = Vec::new();
    for scenario in chosen {
        let (name, accounting) = match scenario {
            Command::Kill => (
                format!("kill -9 x{}", cli.kills),
                kill(cli.records, cli.kills).await?,
            ),
            Command::Mock => ("mock broker faults".to_owned(), mock(cli.records).await?),
            Command::Storm => ("rebalance storm".to_owned(), storm(cli.records).await?),
            Command::Bad => ("bad input".to_owned(), bad(cli.records / 10).await?),
            Command::DltDown => (
                "DLT unavailable, restart".to_owned(),
                dlt_down(cli.records).await?,
            ),
            Command::App { .. } => unreachable!("handled above"),
        };
        eprintln!("{name}: done");
        failed |= !accounting.lost.is_empty() || !accounting.misplaced.is_empty();
        results.push((name, accounting));
    }
    println!();
    for (name, accounting) in &results {
        accounting.print(name);
    }
    anyhow::ensure!(!failed, "records were lost or misplaced");
    Ok(())
}
