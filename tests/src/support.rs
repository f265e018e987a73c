//! Shared test plumbing: a broker and an app per test, and a journal of handler calls.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use retry_runtime::core::headers::{self, Provenance};
use retry_runtime::core::RecordMeta;
use retry_runtime::testing::{ReadRecord, TestKafka};
use retry_runtime::{RetryApp, RetryAppBuilder, RunningApp};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// One handler call, as the handler saw it.
#[derive(Debug, Clone)]
pub struct Call {
    pub key: String,
    pub topic: String,
    pub attempt: u32,
    pub at_ms: i64,
    pub due_ms: Option<i64>,
    pub provenance: Provenance,
}

static JOURNAL: Mutex<Vec<(&'static str, Call)>> = Mutex::new(Vec::new());

/// Records a call; every test handler does this first.
pub fn record_call(handler: &'static str, meta: &RecordMeta) {
    let due_ms = meta
        .headers
        .get(headers::BACKOFF_TIMESTAMP)
        .and_then(|b| headers::decode_timestamp(headers::BACKOFF_TIMESTAMP, b).ok());
    let call = Call {
        key: meta.key_str().unwrap_or_default().to_owned(),
        topic: meta.topic.to_string(),
        attempt: meta.attempt,
        at_ms: now_ms(),
        due_ms,
        provenance: Provenance::read(&meta.headers),
    };
    JOURNAL.lock().unwrap().push((handler, call));
}

/// Calls of `handler`, in order.
pub fn calls(handler: &str) -> Vec<Call> {
    JOURNAL
        .lock()
        .unwrap()
        .iter()
        .filter(|(h, _)| *h == handler)
        .map(|(_, c)| c.clone())
        .collect()
}

/// Calls of `handler` for `key`.
pub fn calls_for(handler: &str, key: &str) -> Vec<Call> {
    calls(handler)
        .into_iter()
        .filter(|c| c.key == key)
        .collect()
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// A test's broker and its topic naming. On the embedded broker (one per test) names are
/// used as written; on an external cluster they get a per-run prefix so reruns start clean
/// (a prefix, since retry topics and groups are derived by appending to the main ones).
pub struct Scenario {
    pub kafka: TestKafka,
    prefix: String,
}

impl Scenario {
    pub async fn start() -> Self {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(
                tracing_subscriber::EnvFilter::try_from_default_env()
                    .unwrap_or_else(|_| "off".into()),
            )
            .with_test_writer()
            .try_init();
        // Two scenarios of one run (one test may start several) never share a prefix.
        static STARTED: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let prefix = match std::env::var("KAFKA_BOOTSTRAP_SERVERS") {
            Ok(_) => format!(
                "run{}-{}-",
                now_ms(),
                STARTED.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            ),
            Err(_) => String::new(),
        };
        Self {
            kafka: TestKafka::start().await.expect("broker starts"),
            prefix,
        }
    }

    /// What this scenario puts before every topic and group name (empty on the embedded broker).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The actual name of the topic written `topic` in an attribute.
    pub fn topic(&self, topic: &str) -> String {
        format!("{}{topic}", self.prefix)
    }

    /// Starts the app with only `listeners` (handler name, topic as written) and waits until
    /// every consumer has partitions.
    pub async fn start_app(&self, listeners: &[(&str, &str)]) -> App {
        self.start_app_with(listeners, &[]).await
    }

    /// Like [`start_app`](Self::start_app) with extra `RETRY_*` overrides.
    pub async fn start_app_with(
        &self,
        listeners: &[(&str, &str)],
        overrides: &[(&str, &str)],
    ) -> App {
        self.start_app_configured(listeners, overrides, &[]).await
    }

    /// Like [`start_app_with`](Self::start_app_with) with Kafka client properties.
    pub async fn start_app_configured(
        &self,
        listeners: &[(&str, &str)],
        overrides: &[(&str, &str)],
        properties: &[(&str, &str)],
    ) -> App {
        self.start_built(self.app_builder(listeners, overrides, properties))
            .await
    }

    /// Starts the app `builder` configures and waits until every consumer has partitions.
    pub async fn start_built(&self, builder: RetryAppBuilder) -> App {
        let app = App(Some(builder.start().await.expect("app starts")));
        tokio::time::timeout(Duration::from_secs(30), app.ready())
            .await
            .expect("every consumer gets partitions within 30 s");
        app
    }

    /// A builder for this broker running only `listeners` (handler name, topic as written),
    /// with `RETRY_*` overrides and Kafka client properties; not started, so a test can add
    /// states or expect start-up to fail.
    pub fn app_builder(
        &self,
        listeners: &[(&str, &str)],
        overrides: &[(&str, &str)],
        properties: &[(&str, &str)],
    ) -> RetryAppBuilder {
        let mut env: Vec<(String, String)> = overrides
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        if !self.prefix.is_empty() {
            for (name, topic) in listeners {
                let upper = name.to_ascii_uppercase();
                env.push((format!("RETRY_{upper}_TOPIC"), self.topic(topic)));
                env.push((
                    format!("RETRY_{upper}_GROUP"),
                    format!("{}{name}", self.prefix),
                ));
            }
        }
        // KIP-848 (`KAFKA_GROUP_PROTOCOL=consumer`) moves assignment and session timeouts to
        // the broker; the client refuses these classic-protocol settings.
        let kip_848 = std::env::var("KAFKA_GROUP_PROTOCOL").is_ok_and(|p| p == "consumer");
        let classic_only = [
            "session.timeout.ms",
            "heartbeat.interval.ms",
            "partition.assignment.strategy",
        ];
        let builder = properties
            .iter()
            .filter(|(property, _)| !(kip_848 && classic_only.contains(property)))
            .fold(RetryApp::builder(), |b, (property, value)| {
                b.client_property(*property, *value)
            });
        builder
            .bootstrap_servers(self.kafka.bootstrap_servers())
            .listeners(listeners.iter().map(|(name, _)| *name))
            .settings_env(move |var| env.iter().find(|(k, _)| k == var).map(|(_, v)| v.clone()))
            .shutdown_grace(Duration::from_secs(5))
    }

    pub async fn produce(&self, topic: &str, key: &str, value: &str) {
        self.kafka
            .produce(&self.topic(topic), Some(key), value.as_bytes())
            .await
            .expect("produce");
    }

    /// Produces one record to partition 0 of `topic` with exactly `headers`, in order, as
    /// another service's forward (a Spring `DeadLetterPublishingRecoverer`) would.
    pub async fn produce_with_headers(
        &self,
        topic: &str,
        key: &str,
        value: &[u8],
        headers: &[(&str, Vec<u8>)],
    ) {
        let producer: FutureProducer = ClientConfig::new()
            .set("bootstrap.servers", self.kafka.bootstrap_servers())
            .create()
            .expect("producer");
        let owned = headers.iter().fold(
            OwnedHeaders::new_with_capacity(headers.len()),
            |h, (k, v)| {
                h.insert(Header {
                    key: k,
                    value: Some(&v[..]),
                })
            },
        );
        let topic = self.topic(topic);
        producer
            .send(
                FutureRecord::<str, [u8]>::to(&topic)
                    .partition(0)
                    .key(key)
                    .payload(value)
                    .headers(owned),
                Duration::from_secs(10),
            )
            .await
            .map_err(|(e, _)| e)
            .expect("produce with headers");
    }

    /// Reads `topic` until it holds at least `n` records (or 20 s passed).
    pub async fn read_n(&self, topic: &str, n: usize) -> Vec<ReadRecord> {
        let start = Instant::now();
        loop {
            let records = self
                .kafka
                .read_all(&self.topic(topic))
                .await
                .expect("read topic");
            if records.len() >= n || start.elapsed() > Duration::from_secs(20) {
                return records;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Records on `topic` now.
    pub async fn read_all(&self, topic: &str) -> Vec<ReadRecord> {
        self.kafka
            .read_all(&self.topic(topic))
            .await
            .expect("read topic")
    }

    /// The offset `group` (as written) has committed on partition `partition` of `topic` (as
    /// written), as another client sees it; `None` before its first commit there.
    pub async fn committed(&self, group: &str, topic: &str, partition: i32) -> Option<i64> {
        let committed = self.committed_with_metadata(group, topic, partition).await;
        committed.map(|(offset, _)| offset)
    }

    /// [`Scenario::committed`], with the commit's metadata.
    pub async fn committed_with_metadata(
        &self,
        group: &str,
        topic: &str,
        partition: i32,
    ) -> Option<(i64, String)> {
        let (consumer, topic) = self.group_client(group, topic);
        tokio::task::spawn_blocking(move || {
            let mut wanted = TopicPartitionList::new();
            wanted.add_partition(&topic, partition);
            let committed = consumer
                .committed_offsets(wanted, Duration::from_secs(10))
                .expect("committed offsets");
            let element = committed.find_partition(&topic, partition)?;
            match element.offset() {
                Offset::Offset(offset) => Some((offset, element.metadata().to_owned())),
                _ => None,
            }
        })
        .await
        .expect("committed offsets read")
    }

    /// Commits `offset` with `metadata` for `group` (as written) on partition `partition` of
    /// `topic` (as written), as an earlier member of the group would have.
    pub async fn commit_with_metadata(
        &self,
        group: &str,
        topic: &str,
        partition: i32,
        offset: i64,
        metadata: &str,
    ) {
        let (consumer, topic) = self.group_client(group, topic);
        let metadata = metadata.to_owned();
        tokio::task::spawn_blocking(move || {
            let mut tpl = TopicPartitionList::new();
            tpl.add_partition_offset(&topic, partition, Offset::Offset(offset))
                .expect("offset");
            tpl.find_partition(&topic, partition)
                .expect("the partition")
                .set_metadata(&metadata);
            // A fresh broker may not have its group coordinator yet.
            let mut tries = 0;
            while let Err(error) = consumer.commit(&tpl, rdkafka::consumer::CommitMode::Sync) {
                tries += 1;
                assert!(tries < 20, "commit: {error}");
                std::thread::sleep(Duration::from_millis(500));
            }
        })
        .await
        .expect("commit");
    }

    /// A client of `group` (as written) that joins no group, and `topic`'s full name.
    fn group_client(&self, group: &str, topic: &str) -> (BaseConsumer, String) {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", self.kafka.bootstrap_servers())
            .set("group.id", format!("{}{group}", self.prefix))
            .create()
            .expect("consumer");
        (consumer, self.topic(topic))
    }
}

/// An app a test started. Dropped without [`shutdown`](Self::shutdown) (a test that failed),
/// it is shut down then, before the test's [`Scenario`] (declared first, dropped last) stops
/// its broker: left running, its consumers would be closed only when the test's runtime
/// drops them, against a broker that is gone, which librdkafka waits out for seconds each.
pub struct App(Option<RunningApp>);

impl App {
    /// Shuts the app down ([`RunningApp::shutdown`]).
    pub async fn shutdown(mut self) {
        if let Some(app) = self.0.take() {
            app.shutdown().await;
        }
    }
}

impl std::ops::Deref for App {
    type Target = RunningApp;

    fn deref(&self) -> &RunningApp {
        self.0.as_ref().expect("running until shut down")
    }
}

impl Drop for App {
    fn drop(&mut self) {
        let Some(app) = self.0.take() else {
            return;
        };
        // The test's runtime may be unwinding a panic: shut down on a runtime of its own, on
        // a thread of its own, while the test's runtime workers run the app's tasks.
        let stopped = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime for the shutdown")
                .block_on(app.shutdown());
        })
        .join();
        if stopped.is_err() && !std::thread::panicking() {
            panic!("shutting the app down on drop failed");
        }
    }
}

/// Waits until `condition` holds; panics naming `what` after `timeout`.
pub async fn eventually(what: &str, timeout: Duration, mut condition: impl FnMut() -> bool) {
    let start = Instant::now();
    while !condition() {
        assert!(
            start.elapsed() < timeout,
            "timed out after {timeout:?} waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub fn header_str<'a>(record: &'a ReadRecord, name: &str) -> &'a str {
    record
        .headers
        .get_str(name)
        .unwrap_or_else(|| panic!("header {name} missing"))
}

/// The raw value of header `name`; panics naming it when absent.
fn header_bytes<'a>(record: &'a ReadRecord, name: &str) -> &'a [u8] {
    record
        .headers
        .get(name)
        .unwrap_or_else(|| panic!("header {name} missing"))
}

pub fn header_i32(record: &ReadRecord, name: &'static str) -> i32 {
    headers::decode_i32(name, header_bytes(record, name)).unwrap()
}

pub fn header_i64(record: &ReadRecord, name: &'static str) -> i64 {
    headers::decode_i64(name, header_bytes(record, name)).unwrap()
}

/// Every value of header `name`, in order.
pub fn values<'a>(record: &'a ReadRecord, name: &str) -> Vec<&'a [u8]> {
    record
        .headers
        .iter()
        .filter(|h| h.key == name)
        .map(|h| h.value.as_deref().unwrap_or_default())
        .collect()
}

/// The one value of header `name`; fails when it is missing or repeated.
pub fn single<'a>(record: &'a ReadRecord, name: &str) -> &'a [u8] {
    match values(record, name)[..] {
        [one] => one,
        ref other => panic!("{name}: expected one value, found {}", other.len()),
    }
}

/// `topic`'s record with key `key` (the first, if several), waiting up to `timeout` for it.
pub async fn record_for(s: &Scenario, topic: &str, key: &str, timeout: Duration) -> ReadRecord {
    let start = std::time::Instant::now();
    loop {
        let records = s.read_all(topic).await;
        if let Some(r) = records
            .into_iter()
            .find(|r| r.key.as_deref() == Some(key.as_bytes()))
        {
            return r;
        }
        assert!(
            start.elapsed() < timeout,
            "no record with key {key} on {topic}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// `GET path` over HTTP/1.1: status code and body.
pub async fn get(address: std::net::SocketAddr, path: &str) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let status = response[9..12].parse().unwrap();
    let body = response.split_once("\r\n\r\n").unwrap().1.to_owned();
    (status, body)
}

/// The value of the sample `series` (`name{labels}`) in a scrape.
pub fn sample(scrape: &str, series: &str) -> Option<f64> {
    scrape
        .lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
}
