//! Poison input: records a producer can write that no app expects, among ordinary orders.

use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::KafkaError;
use rdkafka::message::OwnedHeaders;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::ClientConfig;
use retry_runtime::core::headers::{encode_i32, ATTEMPTS, BACKOFF_TIMESTAMP, ORIGINAL_TOPIC};
use retry_runtime::kafka_headers;
use retry_runtime::testing::{ReadRecord, TestKafka};

use crate::accounting::{settle, Accounting};
use crate::app::start_app_with;
use crate::broker::{fresh_broker, Fresh};
use crate::listener::{self, HANDLED, TOPIC};
use crate::orders::{keys, produce_order_range, produce_orders};

/// The topic a forged `kafka_original-topic` names: nothing may ever reach it.
const VICTIM: &str = "victim";
/// The size of the large header's value.
const HUGE_HEADER: usize = 1 << 20;
/// `max.message.bytes` of every topic, and the `message.max.bytes` of this scenario's own
/// producer and of the replay: room for the large header plus the provenance a forward adds.
const SIZE_LIMIT: &str = "2000000";
/// `message.timestamp.after.max.ms` of the main topic: any timestamp ahead is accepted.
const ANY_TIME_AHEAD: &str = "9223372036854775807";
/// The year 9999, in ms since the epoch.
const YEAR_9999_MS: i64 = 253_402_300_799_000;

/// One poison record: what it is, its key, value, headers and timestamp.
struct Poison {
    what: &'static str,
    key: Option<String>,
    value: Option<Vec<u8>>,
    headers: OwnedHeaders,
    timestamp: Option<i64>,
}

impl Poison {
    /// A record keyed `key` whose value is order `k`.
    fn order(what: &'static str, key: &str, k: u64) -> Self {
        Self {
            what,
            key: Some(key.to_owned()),
            value: Some(format!(r#"{{"k":{k}}}"#).into_bytes()),
            headers: OwnedHeaders::new(),
            timestamp: None,
        }
    }

    fn header(mut self, name: &[u8], value: &[u8]) -> Self {
        self.headers = kafka_headers::append(self.headers, name, Some(value));
        self
    }

    fn timestamp(mut self, ms: i64) -> Self {
        self.timestamp = Some(ms);
        self
    }
}

/// The poison records. Keys starting `bad-` carry an order that always fails (a multiple of
/// 7), so they walk the retry chain into the DLT, or no order at all (null or empty value), so
/// they are dead-lettered at once. The others
/// carry an order that fails its first delivery only (a multiple of 5) and are handled under
/// its number after one retry.
fn poison_records() -> Vec<Poison> {
    let huge: Vec<u8> = (0..HUGE_HEADER).map(|i| (i % 251) as u8).collect();
    vec![
        Poison::order("header name ff fe", "bad-odd-name", 7_000_007).header(&[0xff, 0xfe], b"v"),
        Poison::order("1 MiB header value", "bad-huge-header", 7_000_014).header(b"huge", &huge),
        Poison {
            key: None,
            ..Poison::order("null key", "", 5_000_005)
        },
        Poison {
            value: None,
            ..Poison::order("null value", "bad-null-value", 0)
        },
        Poison {
            value: Some(Vec::new()),
            ..Poison::order("empty value", "bad-empty-value", 0)
        },
        Poison::order("negative timestamp", "bad-negative-time", 7_000_021).timestamp(-86_400_000),
        Poison::order("timestamp in the year 9999", "bad-year-9999", 7_000_028)
            .timestamp(YEAR_9999_MS),
        Poison::order("forged kafka_original-topic", "bad-forged", 7_000_035)
            .header(ORIGINAL_TOPIC.as_bytes(), VICTIM.as_bytes()),
        Poison::order("3-byte retry_topic-attempts", "5000010", 5_000_010)
            .header(ATTEMPTS.as_bytes(), &[0, 0, 9]),
        Poison::order("9-byte retry_topic-backoff-timestamp", "5000015", 5_000_015)
            .header(BACKOFF_TIMESTAMP.as_bytes(), &[0x7f; 9]),
    ]
}

/// The key a poison record is accounted under: its record key, or its order's number.
fn account_key(poison: &Poison) -> String {
    match &poison.key {
        Some(key) => key.clone(),
        None => {
            let value = poison.value.as_deref().unwrap_or_default();
            let order: serde_json::Value = serde_json::from_slice(value).expect("an order");
            order["k"].to_string()
        }
    }
}

/// Poison records among ordinary orders on one app: it keeps running and every order is
/// handled, every poison record is handled or dead-lettered (by key), the headers a producer
/// wrote are forwarded byte for byte to the retry topic and the DLT, the garbage retry headers
/// and the forged provenance are replaced, and a replay of the DLT sends nothing to the topic
/// the forged header names.
pub async fn run(broker: &str, records: u64) -> anyhow::Result<Accounting> {
    let Fresh { kafka, _harness } = fresh_broker(broker).await?;
    let bootstrap = kafka.bootstrap_servers().to_owned();
    create_topics(&bootstrap).await?;
    listener::connect(&bootstrap)?;
    // The app as users run it: its forward producer's default size limit is above the
    // topics' (the raw producer below and the replay need theirs raised).
    let app = start_app_with(&bootstrap, &["fault_orders"], &[]).await?;
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("message.max.bytes", SIZE_LIMIT)
        .create()?;
    let poison = poison_records();
    let mut expected = keys(records);
    let half = records / 2;
    produce_orders(bootstrap.clone(), half, Duration::ZERO).await?;
    for record in &poison {
        send(&producer, record)
            .await
            .map_err(|error| anyhow::anyhow!("producing the {}: {error}", record.what))?;
        eprintln!("  {}", record.what);
        expected.insert(account_key(record));
    }
    produce_order_range(&bootstrap, half + 1..=records, Duration::ZERO).await?;
    let accounting = settle(&kafka, &expected, Duration::from_secs(60)).await?;
    let crashed = tokio::time::timeout(Duration::from_millis(200), app.failed())
        .await
        .is_ok();
    app.shutdown().await;
    anyhow::ensure!(!crashed, "the app stopped");
    check_forwards(&kafka, &poison).await?;
    replay_dlt(&bootstrap).await?;
    let victim = kafka.read_all(VICTIM).await?;
    anyhow::ensure!(
        victim.is_empty(),
        "{} records reached {VICTIM}",
        victim.len()
    );
    // No crash and no rebalance: nothing may be handled twice.
    Ok(accounting.bounded(0))
}

/// Every topic of the scenario, `victim` included, with room for the large header; the main
/// topic also takes timestamps however far ahead (Apache Kafka refuses those more than an hour
/// ahead by default).
async fn create_topics(bootstrap: &str) -> anyhow::Result<()> {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()?;
    let others = [
        format!("{TOPIC}-retry"),
        format!("{TOPIC}-dlt"),
        HANDLED.to_owned(),
        VICTIM.to_owned(),
    ];
    let sized = |name| {
        NewTopic::new(name, 1, TopicReplication::Fixed(1)).set("max.message.bytes", SIZE_LIMIT)
    };
    let main = sized(TOPIC).set("message.timestamp.after.max.ms", ANY_TIME_AHEAD);
    let topics: Vec<NewTopic> = std::iter::once(main)
        .chain(others.iter().map(|name| sized(name)))
        .collect();
    for created in admin.create_topics(&topics, &AdminOptions::new()).await? {
        created.map_err(|(topic, code)| anyhow::anyhow!("creating {topic}: {code}"))?;
    }
    Ok(())
}

/// Produces `poison` to the main topic as written.
async fn send(producer: &FutureProducer, poison: &Poison) -> Result<(), KafkaError> {
    let mut record = FutureRecord::<[u8], [u8]>::to(TOPIC).headers(poison.headers.clone());
    if let Some(key) = &poison.key {
        record = record.key(key.as_bytes());
    }
    if let Some(value) = &poison.value {
        record = record.payload(value);
    }
    if let Some(ms) = poison.timestamp {
        record = record.timestamp(ms);
    }
    producer
        .send(record, Duration::from_secs(30))
        .await
        .map(drop)
        .map_err(|(error, _)| error)
}

/// The headers the producer wrote arrive byte for byte wherever the record was forwarded (the
/// retry topic and the DLT); the retry headers and provenance it forged are the runtime's.
async fn check_forwards(kafka: &TestKafka, sent: &[Poison]) -> anyhow::Result<()> {
    let retry = kafka.read_all(&format!("{TOPIC}-retry")).await?;
    let dlt = kafka.read_all(&format!("{TOPIC}-dlt")).await?;
    for record in retry.iter().chain(&dlt) {
        let original = values(record, ORIGINAL_TOPIC.as_bytes());
        anyhow::ensure!(
            original == [TOPIC.as_bytes()],
            "a forwarded record names {:?} as its original topic",
            original
                .iter()
                .map(|v| String::from_utf8_lossy(v))
                .collect::<Vec<_>>()
        );
    }
    for poison in sent {
        let Some(key) = poison.key.as_deref().filter(|k| !k.is_empty()) else {
            continue;
        };
        let copies = retry
            .iter()
            .chain(&dlt)
            .filter(|r| r.key.as_deref() == Some(key.as_bytes()));
        let mut forwarded = 0;
        for copy in copies {
            forwarded += 1;
            check_copy(poison, copy).map_err(|e| anyhow::anyhow!("{}: {e}", poison.what))?;
        }
        anyhow::ensure!(forwarded > 0, "the {} was never forwarded", poison.what);
    }
    eprintln!("  forwarded headers as written, provenance and retry headers the runtime's");
    Ok(())
}

/// One forwarded copy of `poison`: each header the producer wrote is there once, value
/// unchanged, except the retry headers, which the runtime replaces with its own 4- and 8-byte
/// values, and the provenance, checked with every dead letter.
fn check_copy(poison: &Poison, copy: &ReadRecord) -> anyhow::Result<()> {
    anyhow::ensure!(copy.value == poison.value, "the value changed on the way");
    for written in kafka_headers::read(&poison.headers).iter() {
        let name = written.key.as_bytes();
        let found = values(copy, name);
        if name == ATTEMPTS.as_bytes() {
            anyhow::ensure!(
                found.len() == 1 && found[0].len() == 4 && found[0] != &encode_i32(0)[..],
                "{ATTEMPTS}: {found:?}"
            );
        } else if name == BACKOFF_TIMESTAMP.as_bytes() {
            anyhow::ensure!(
                found.len() == 1 && found[0].len() == 8,
                "{BACKOFF_TIMESTAMP}: {found:?}"
            );
        } else if name != ORIGINAL_TOPIC.as_bytes() {
            anyhow::ensure!(
                found.len() == 1 && Some(found[0]) == written.value.as_deref(),
                "header {:?} arrived as {} values of {:?} bytes",
                String::from_utf8_lossy(name),
                found.len(),
                found.iter().map(|v| v.len()).collect::<Vec<_>>()
            );
        }
    }
    Ok(())
}

/// The values of `record`'s headers named `name`.
fn values<'a>(record: &'a ReadRecord, name: &[u8]) -> Vec<&'a [u8]> {
    record
        .headers
        .iter()
        .filter(|h| h.key.as_bytes() == name)
        .map(|h| h.value.as_deref().unwrap_or_default())
        .collect()
}

/// `kafka-retry dlt replay` of the DLT without `--to`, when the command is built beside this
/// binary (`cargo build -p kafka-retry`): every dead letter goes back to its original topic,
/// the one with the large header included (the command's producer is given the topics' limit).
async fn replay_dlt(bootstrap: &str) -> anyhow::Result<()> {
    let command = std::env::current_exe()?.with_file_name("kafka-retry");
    if !command.exists() {
        eprintln!("  no kafka-retry beside this binary: the DLT's original topics are checked, not replayed");
        return Ok(());
    }
    let output = tokio::process::Command::new(&command)
        .args(["--bootstrap-servers", bootstrap, "dlt", "replay"])
        .arg(format!("{TOPIC}-dlt"))
        .env("KAFKA_MESSAGE_MAX_BYTES", SIZE_LIMIT)
        .output()
        .await?;
    let status = output.status.code();
    anyhow::ensure!(
        status == Some(0),
        "kafka-retry dlt replay exited with {status:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let summary = stdout.lines().last().unwrap_or_default();
    eprintln!("  kafka-retry dlt replay {TOPIC}-dlt without --to: {summary}");
    Ok(())
}
