//! The fault suite: every scenario runs a known set of uniquely keyed records through the
//! `fault_orders` listener while something goes wrong, then accounts for every key: handled
//! at least once, or in the DLT. Zero lost is the only pass.
//!
//! ```text
//! cargo run --release -p retry-bench --bin retry-faults            # every scenario
//! cargo run --release -p retry-bench --bin retry-faults -- kill    # or another, see --help
//! cargo run --release -p retry-bench --bin retry-faults -- --broker kafka   # real Apache Kafka
//! ```
//!
//! Each scenario bounds the duplicates it may cause (redelivery after a crash or rebalance
//! is at-least-once; unbounded redelivery is a bug), and the bound is printed beside the
//! count.

mod accounting;
mod listener;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use rdkafka::admin::{
    AdminClient, AdminOptions, AlterConfig, NewTopic, ResourceSpecifier, TopicReplication,
};
use rdkafka::client::DefaultClientContext;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};
use rdkafka::ClientConfig;
use retry_runtime::core::headers::{encode_i64, ATTEMPTS, BACKOFF_TIMESTAMP};
use retry_runtime::testing::{ReadRecord, TestKafka};
use retry_runtime::{RetryApp, RunningApp};

use accounting::Accounting;
use listener::{HANDLED, SLOW_TOPIC, TOPIC};
use retry_bench::harness::KafkaHarness;

#[derive(Parser)]
#[command(about = "kafka-retry fault suite: nothing may be lost")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Records per scenario.
    #[arg(long, default_value_t = 2000)]
    records: u64,
    /// kill -9s in the kill scenarios.
    #[arg(long, default_value_t = 12)]
    kills: usize,
    /// Broker of the scenarios that need a real one: `embedded` (in-process) or `kafka`
    /// (Apache Kafka through tools/kafka/kafka.sh, a fresh broker per scenario). The `mock`
    /// and `dlt-down` scenarios always use librdkafka's mock cluster.
    #[arg(long, default_value = "embedded")]
    broker: String,
}

#[derive(Subcommand, Clone, PartialEq)]
enum Command {
    /// kill -9 the application process at random moments, restarting it each time.
    Kill,
    /// The same with static membership (RETRY_INSTANCE_ID): a restart takes its partitions
    /// back at once.
    KillStatic,
    /// kill -9 one of two instances at a time under cooperative rebalancing.
    KillCoop,
    /// Broker down, request errors and latency on librdkafka's mock cluster.
    Mock,
    /// Instances joining and leaving the group throughout the run.
    Storm,
    /// The same under cooperative rebalancing (cooperative-sticky).
    StormCoop,
    /// Malformed payloads and retry headers, huge records, absurd due times.
    Bad,
    /// The DLT refuses records for longer than max.poll.interval.ms; the app is stopped
    /// meanwhile, then restarted.
    DltDown,
    /// A record waits two minutes in a retry topic while the other partitions flow.
    LongWait,
    /// Records too large for the retry topic, and one too large for the DLT until its limit
    /// is raised (real Kafka only: the embedded broker enforces no size limit).
    Size,
    /// One broker of three killed mid-run and restarted 10 s later (real Kafka only).
    BrokerRestart,
    /// kill -9 and restart with default settings: records flow again within 15 s.
    Recovery,
    /// The same with static membership (RETRY_INSTANCE_ID).
    RecoveryStatic,
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
    produce_order_range(&bootstrap, 1..=n, spread).await
}

/// Produces orders `range` over about `spread` (at once when zero).
async fn produce_order_range(
    bootstrap: &str,
    range: std::ops::RangeInclusive<u64>,
    spread: Duration,
) -> anyhow::Result<()> {
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("message.timeout.ms", "120000")
        .create()?;
    let pause = spread / (range.end() + 1 - range.start()).max(1) as u32;
    for k in range {
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
    start_app_with(bootstrap, &["fault_orders"], &[]).await
}

/// Starts the app with `listeners` and Kafka client `properties`.
async fn start_app_with(
    bootstrap: &str,
    listeners: &[&str],
    properties: &[(&str, &str)],
) -> anyhow::Result<RunningApp> {
    let builder = properties
        .iter()
        .fold(RetryApp::builder(), |b, (property, value)| {
            b.client_property(*property, *value)
        });
    Ok(builder
        .bootstrap_servers(bootstrap)
        .listeners(listeners.iter().copied())
        .startup_timeout(Duration::from_secs(30))
        .start()
        .await?)
}

/// KIP-848's consumer group protocol (`KAFKA_GROUP_PROTOCOL=consumer`, real Kafka only): the
/// broker owns session timeouts and assignment, and the client refuses the classic settings.
fn kip_848() -> bool {
    std::env::var("KAFKA_GROUP_PROTOCOL").is_ok_and(|p| p == "consumer")
}

/// Where app instance `instance` writes its output (its log lines and errors).
fn app_log(dir: &std::path::Path, instance: usize) -> std::path::PathBuf {
    dir.join(format!("retry-faults-app-{instance}.log"))
}

/// The command that runs app instance `instance` against `bootstrap` (killed when dropped).
/// Its output is appended to [`app_log`], so an instance that dies by itself says why.
fn app_command(
    exe: &std::path::Path,
    bootstrap: &str,
    logs: &std::path::Path,
    instance: usize,
) -> std::io::Result<tokio::process::Command> {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(app_log(logs, instance))?;
    let mut command = tokio::process::Command::new(exe);
    command
        .args(["app", "--bootstrap", bootstrap])
        .stdout(log.try_clone()?)
        .stderr(log)
        .kill_on_drop(true);
    Ok(command)
}

/// Cooperative rebalancing, as many production consumers configure it.
const COOPERATIVE: (&str, &str) = ("partition.assignment.strategy", "cooperative-sticky");

/// A fresh broker for one scenario: the embedded one, or real Kafka through the harness.
struct Fresh {
    kafka: TestKafka,
    _harness: Option<KafkaHarness>,
}

async fn fresh_broker(broker: &str) -> anyhow::Result<Fresh> {
    Ok(match broker {
        "kafka" => {
            let harness = KafkaHarness::start(1)?;
            Fresh {
                kafka: TestKafka::connect(harness.bootstrap_servers())?,
                _harness: Some(harness),
            }
        }
        _ => Fresh {
            kafka: TestKafka::start().await?,
            _harness: None,
        },
    })
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

/// How the kill scenario runs its application processes.
#[derive(Clone, Copy)]
enum KillMode {
    /// One instance, dynamic membership.
    Dynamic,
    /// One instance with a fixed RETRY_INSTANCE_ID.
    Static,
    /// Two instances under cooperative rebalancing, one killed at a time.
    Cooperative,
}

/// kill -9 of the application process at random moments.
///
/// Duplicates: a kill redelivers what its instance handled since the last commit (offsets
/// are committed every second; orders arrive at 200/s plus their retries), a few hundred at
/// most, and a rebalance the records in flight. The bound, half the records, is far above
/// what 12 kills cause (70-650 seen) and far below what redelivering everything after each
/// restart would.
async fn kill(
    broker: &str,
    records: u64,
    kills: usize,
    mode: KillMode,
) -> anyhow::Result<Accounting> {
    let Fresh { kafka, _harness } = fresh_broker(broker).await?;
    create_topics(&kafka, 3).await?;
    let producing = tokio::spawn(produce_orders(
        kafka.bootstrap_servers().to_owned(),
        records,
        Duration::from_secs(10),
    ));
    let exe = std::env::current_exe()?;
    let logs = std::env::temp_dir();
    let spawn = |instance: usize| {
        let mut command = app_command(&exe, kafka.bootstrap_servers(), &logs, instance)?;
        // A killed member holds its partitions until the broker expires its session: keep
        // that short (the app's default is 10 s), through the KAFKA_* pass-through. Under
        // KIP-848 the broker owns session timeouts and assignment.
        if !kip_848() {
            command
                .env("KAFKA_SESSION_TIMEOUT_MS", "6000")
                .env("KAFKA_HEARTBEAT_INTERVAL_MS", "1000");
        }
        match mode {
            KillMode::Dynamic => {}
            KillMode::Static => {
                command.env("RETRY_INSTANCE_ID", format!("fault-app-{instance}"));
            }
            // KIP-848's protocol is always incremental: cooperative without the setting.
            KillMode::Cooperative if kip_848() => {}
            KillMode::Cooperative => {
                command.env("KAFKA_PARTITION_ASSIGNMENT_STRATEGY", COOPERATIVE.1);
            }
        }
        command.spawn()
    };
    let instances = match mode {
        KillMode::Cooperative => 2,
        KillMode::Dynamic | KillMode::Static => 1,
    };
    let mut running: Vec<_> = (0..instances).map(spawn).collect::<Result<_, _>>()?;
    for i in 0..kills {
        let life = Duration::from_millis(rand::random_range(500..2500));
        tokio::time::sleep(life).await;
        let victim = rand::random_range(0..instances);
        if let Some(status) = running[victim].try_wait()? {
            anyhow::bail!(
                "instance {victim} exited by itself ({status}); its log: {}",
                app_log(&logs, victim).display()
            );
        }
        running[victim].start_kill()?; // SIGKILL
        running[victim].wait().await?;
        running[victim] = spawn(victim)?;
        eprintln!(
            "  kill {}/{kills} of instance {victim} after {life:?}",
            i + 1
        );
    }
    producing.await??;
    let accounting = settle(&kafka, &keys(records), Duration::from_secs(120)).await?;
    for mut instance in running {
        instance.start_kill()?;
        instance.wait().await?;
    }
    Ok(accounting.bounded(records as usize / 2))
}

/// Fast recovery with the app's defaults (no session timeout override): the app handles a
/// first batch, is killed with SIGKILL and restarted at once, and a second batch produced
/// then must start flowing within 15 s of the restart (the time until every record is done,
/// retries and dead letters included, is printed too). Dynamic members wait for the broker to
/// expire the killed member's session (10 s by default); a static member takes its
/// partitions back on rejoining.
async fn recovery(
    broker: &str,
    records: u64,
    static_membership: bool,
) -> anyhow::Result<Accounting> {
    const BAR: Duration = Duration::from_secs(15);
    let Fresh { kafka, _harness } = fresh_broker(broker).await?;
    create_topics(&kafka, 3).await?;
    let bootstrap = kafka.bootstrap_servers().to_owned();
    let exe = std::env::current_exe()?;
    let logs = std::env::temp_dir();
    let spawn = || {
        let mut command = app_command(&exe, &bootstrap, &logs, 0)?;
        if static_membership {
            command.env("RETRY_INSTANCE_ID", "fault-app-0");
        }
        command.spawn()
    };
    let mut app = spawn()?;
    let first: BTreeSet<String> = (1..=records).map(|k| k.to_string()).collect();
    produce_order_range(&bootstrap, 1..=records, Duration::ZERO).await?;
    anyhow::ensure!(
        settle(&kafka, &first, Duration::from_secs(60))
            .await?
            .complete(),
        "the first batch was not handled"
    );
    app.start_kill()?;
    app.wait().await?;
    let mut app = spawn()?;
    let restarted = Instant::now();
    produce_order_range(&bootstrap, records + 1..=2 * records, Duration::ZERO).await?;
    let second: BTreeSet<String> = (records + 1..=2 * records).map(|k| k.to_string()).collect();
    let flowing = loop {
        let handled = kafka.read_all(HANDLED).await?;
        let key = |r: &ReadRecord| {
            String::from_utf8_lossy(r.key.as_deref().unwrap_or_default()).into_owned()
        };
        if handled.iter().any(|r| second.contains(&key(r))) {
            break restarted.elapsed();
        }
        anyhow::ensure!(
            restarted.elapsed() < Duration::from_secs(60),
            "nothing flowed for 60 s after the restart"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let accounting = settle(&kafka, &keys(2 * records), Duration::from_secs(60)).await?;
    let all = restarted.elapsed();
    eprintln!(
        "  records flowing {flowing:.1?} after the restart (bar {BAR:?}); every record, retries and dead letters included, after {all:.1?}"
    );
    app.start_kill()?;
    app.wait().await?;
    anyhow::ensure!(
        flowing <= BAR,
        "records flowed again only {flowing:.1?} after the restart"
    );
    // Records handled since the last commit before the kill are handled again.
    Ok(accounting.bounded(records as usize))
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
    // Failed commits and a broker down redeliver little; the producer is idempotent.
    Ok(accounting.bounded(records as usize / 20))
}

/// Instances join and leave the group throughout the run.
///
/// Duplicates: a leaving instance commits what it finished, so only records in flight at a
/// rebalance are redelivered; the bound is a tenth of the records.
async fn storm(broker: &str, records: u64, cooperative: bool) -> anyhow::Result<Accounting> {
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

/// The DLT topic errors out; records that must go there cannot, so their offsets must not be
/// committed. The app runs on for three times its `max.poll.interval.ms` meanwhile (it must
/// stay in its group, other partitions flowing), is shut down while they are stuck, the DLT
/// comes back, and a restarted app must still account for every record.
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
    let short_poll = [
        ("max.poll.interval.ms", "6000"),
        ("session.timeout.ms", "6000"),
    ];
    let app = start_app_with(&bootstrap, &["fault_orders"], &short_poll).await?;
    eprintln!("  DLT topic unavailable");
    cluster.topic_error(
        &dlt,
        RDKafkaRespErr::RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED,
    )?;
    produce_orders(bootstrap.clone(), records, Duration::from_secs(3)).await?;
    tokio::time::sleep(Duration::from_secs(18)).await;
    eprintln!("  stopping the app with dead letters stuck");
    app.shutdown().await;
    cluster.topic_error(&dlt, RDKafkaRespErr::RD_KAFKA_RESP_ERR_NO_ERROR)?;
    eprintln!("  DLT back; restarting the app");
    let app = start_app(&bootstrap).await?;
    let accounting = settle(&kafka, &keys(records), Duration::from_secs(90)).await?;
    app.shutdown().await;
    // Only the records stuck behind a refused dead letter are handled again.
    Ok(accounting.bounded(records as usize / 10))
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
async fn bad(broker: &str, records: u64) -> anyhow::Result<Accounting> {
    let Fresh { kafka, _harness } = fresh_broker(broker).await?;
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
            // Spring's rule: a due time more than a day ahead is handled at once.
            "retry: due in the year 3000",
            retry.clone(),
            Some("1000008"),
            br#"{"k":1000008}"#.to_vec(),
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
            "1000008",
            "1000006",
        ]
        .map(String::from),
    );
    let accounting = settle(&kafka, &expected, Duration::from_secs(60)).await?;
    app.shutdown().await;
    // No crash and no rebalance: nothing may be handled twice.
    Ok(accounting.bounded(0))
}

/// A record waits two minutes on one partition of a retry topic, far longer than the
/// member's `max.poll.interval.ms` (20 s here), while orders flow on every partition.
/// No rebalance may happen, so nothing is handled twice.
async fn long_wait(broker: &str, records: u64) -> anyhow::Result<Accounting> {
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

/// One broker of a three-node cluster is killed mid-run (its partitions' leadership moves,
/// forwards and commits fail over) and restarted 10 s later.
///
/// Duplicates: records whose commit was in flight to the killed coordinator are redelivered;
/// the bound is a tenth of the records.
async fn broker_restart(broker: &str, records: u64) -> anyhow::Result<Accounting> {
    anyhow::ensure!(
        broker == "kafka",
        "the broker-restart scenario needs --broker kafka"
    );
    let harness = KafkaHarness::start(3)?;
    let kafka = TestKafka::connect(harness.bootstrap_servers())?;
    create_topics(&kafka, 3).await?;
    let bootstrap = kafka.bootstrap_servers().to_owned();
    listener::connect(&bootstrap)?;
    let app = start_app(&bootstrap).await?;
    let producing = tokio::spawn(produce_orders(
        bootstrap.clone(),
        records,
        Duration::from_secs(15),
    ));
    tokio::time::sleep(Duration::from_secs(4)).await;
    eprintln!("  kill -9 of broker 2");
    harness.node("kill-node", 2)?;
    tokio::time::sleep(Duration::from_secs(10)).await;
    eprintln!("  broker 2 restarted");
    harness.node("start-node", 2)?;
    producing.await??;
    let accounting = settle(&kafka, &keys(records), Duration::from_secs(120)).await?;
    app.shutdown().await;
    Ok(accounting.bounded(records as usize / 10))
}

/// Topic-level size limits (real Kafka): retry topics accept 20 kB, the DLT 60 kB. Records of
/// 30 kB that fail go to the DLT with the reason instead of their retry topic; one of 80 kB
/// cannot go anywhere until the DLT's limit is raised: it stays uncommitted, its partition
/// waits, the orders on the other partitions flow, and it reaches the DLT (tried again every
/// 30 s) once the limit allows.
async fn size(broker: &str, records: u64) -> anyhow::Result<Accounting> {
    anyhow::ensure!(
        broker == "kafka",
        "the size scenario needs --broker kafka: the embedded broker enforces no size limit"
    );
    let Fresh { kafka, _harness } = fresh_broker(broker).await?;
    let bootstrap = kafka.bootstrap_servers().to_owned();
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .create()?;
    let retry = format!("{TOPIC}-retry");
    let dlt = format!("{TOPIC}-dlt");
    let topics = [
        NewTopic::new(TOPIC, 3, TopicReplication::Fixed(1)),
        NewTopic::new(&retry, 3, TopicReplication::Fixed(1)).set("max.message.bytes", "20000"),
        NewTopic::new(&dlt, 3, TopicReplication::Fixed(1)).set("max.message.bytes", "60000"),
        NewTopic::new(HANDLED, 1, TopicReplication::Fixed(1)),
    ];
    for created in admin.create_topics(&topics, &AdminOptions::new()).await? {
        created.map_err(|(topic, code)| anyhow::anyhow!("creating {topic}: {code}"))?;
    }
    listener::connect(&bootstrap)?;
    let app = start_app(&bootstrap).await?;
    let padded = |k: u64, bytes: usize| format!(r#"{{"k":{k},"pad":"{}"}}"#, "x".repeat(bytes));
    // Multiples of 5 (not of 7 or 11): the first delivery fails.
    let mut expected = keys(records);
    for i in 0..5u64 {
        let key = format!("bad-big-{i}");
        kafka
            .produce_to(
                TOPIC,
                Some(i as i32 % 3),
                Some(&key),
                padded(5_000_005 + 35 * i, 30_000).as_bytes(),
            )
            .await?;
        expected.insert(key);
    }
    kafka
        .produce_to(
            TOPIC,
            Some(0),
            Some("bad-huge"),
            padded(5_000_250, 80_000).as_bytes(),
        )
        .await?;
    expected.insert("bad-huge".to_owned());
    // Partition 0 waits behind the refused record; the orders go to the other partitions.
    for k in 1..=records {
        let key = k.to_string();
        let partition = 1 + (k % 2) as i32;
        kafka
            .produce_to(
                TOPIC,
                Some(partition),
                Some(&key),
                format!(r#"{{"k":{k}}}"#).as_bytes(),
            )
            .await?;
    }
    let stuck = settle(&kafka, &keys(records), Duration::from_secs(30)).await?;
    anyhow::ensure!(
        stuck.complete(),
        "orders on the other partitions did not flow"
    );
    eprintln!("  every order handled while one dead letter is refused; raising the DLT's limit");
    admin
        .alter_configs(
            &[AlterConfig::new(ResourceSpecifier::Topic(&dlt)).set("max.message.bytes", "200000")],
            &AdminOptions::new(),
        )
        .await?;
    let accounting = settle(&kafka, &expected, Duration::from_secs(60)).await?;
    app.shutdown().await;
    Ok(accounting.bounded(0))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // App instances log as `run()` sets it up (INFO), into their log files; the suite's
    // in-process apps only when RUST_LOG asks.
    let app = matches!(cli.command, Some(Command::App { .. }));
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| if app { "info" } else { "off" }.into()),
        )
        .init();
    if let Some(Command::App { bootstrap }) = &cli.command {
        listener::connect(bootstrap)?;
        std::panic::set_hook(quiet_unprintable(std::panic::take_hook()));
        return RetryApp::builder()
            .bootstrap_servers(bootstrap)
            .listeners(["fault_orders"])
            .run()
            .await;
    }
    std::panic::set_hook(quiet_unprintable(std::panic::take_hook()));
    let mut all = vec![
        Command::Recovery,
        Command::RecoveryStatic,
        Command::Kill,
        Command::KillStatic,
        Command::KillCoop,
        Command::Mock,
        Command::Storm,
        Command::StormCoop,
        Command::Bad,
        Command::DltDown,
        Command::LongWait,
    ];
    if cli.broker == "kafka" {
        all.extend([Command::Size, Command::BrokerRestart]);
    }
    let chosen: Vec<Command> = match cli.command {
        Some(one) => vec![one],
        None => all,
    };
    let broker = cli.broker.as_str();
    let mut failed = false;
    let mut results = Vec::new();
    for scenario in chosen {
        let (name, accounting) = match scenario {
            Command::Kill => (
                format!("kill -9 x{}", cli.kills),
                kill(broker, cli.records, cli.kills, KillMode::Dynamic).await?,
            ),
            Command::KillStatic => (
                format!("kill -9 x{}, static", cli.kills),
                kill(broker, cli.records, cli.kills, KillMode::Static).await?,
            ),
            Command::KillCoop => (
                format!("kill -9 x{}, cooperative", cli.kills),
                kill(broker, cli.records, cli.kills, KillMode::Cooperative).await?,
            ),
            Command::Mock => ("mock broker faults".to_owned(), mock(cli.records).await?),
            Command::Storm => (
                "rebalance storm".to_owned(),
                storm(broker, cli.records, false).await?,
            ),
            Command::StormCoop => (
                "rebalance storm, cooperative".to_owned(),
                storm(broker, cli.records, true).await?,
            ),
            Command::Bad => ("bad input".to_owned(), bad(broker, cli.records / 10).await?),
            Command::LongWait => (
                "2 min wait, others flow".to_owned(),
                long_wait(broker, cli.records).await?,
            ),
            Command::Size => (
                "records over size limits".to_owned(),
                size(broker, cli.records / 10).await?,
            ),
            Command::Recovery => (
                "recovery after kill -9".to_owned(),
                recovery(broker, cli.records / 10, false).await?,
            ),
            Command::RecoveryStatic => (
                "recovery, static".to_owned(),
                recovery(broker, cli.records / 10, true).await?,
            ),
            Command::BrokerRestart => (
                "1 of 3 brokers killed".to_owned(),
                broker_restart(broker, cli.records).await?,
            ),
            Command::DltDown => (
                "DLT unavailable, restart".to_owned(),
                dlt_down(cli.records).await?,
            ),
            Command::App { .. } => unreachable!("handled above"),
        };
        eprintln!("{name}: done");
        failed |= !accounting.passed();
        results.push((name, accounting));
    }
    println!();
    for (name, accounting) in &results {
        accounting.print(name);
    }
    anyhow::ensure!(
        !failed,
        "records were lost or misplaced, or duplicated past the bound"
    );
    Ok(())
}

/// The panic hook minus the panics of [`listener::Unprintable`]'s `Display`, which the
/// scenarios provoke on purpose (hundreds per run).
fn quiet_unprintable(
    hook: Box<dyn Fn(&std::panic::PanicHookInfo<'_>) + Send + Sync>,
) -> Box<dyn Fn(&std::panic::PanicHookInfo<'_>) + Send + Sync> {
    Box::new(move |info| {
        if info.payload().downcast_ref::<String>().map(String::as_str)
            != Some(listener::UNPRINTABLE)
        {
            hook(info);
        }
    })
}
