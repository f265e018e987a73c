//! Shared test plumbing: a broker per test, an app per test, and a journal of handler calls.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use retry_runtime::core::headers;
use retry_runtime::core::RecordMeta;
use retry_runtime::testing::{ReadRecord, TestKafka};
use retry_runtime::{RetryApp, RunningApp};

/// One handler call, as the handler saw it.
#[derive(Debug, Clone)]
pub struct Call {
    pub handler: &'static str,
    pub key: String,
    pub topic: String,
    pub attempt: u32,
    pub at_ms: i64,
    pub due_ms: Option<i64>,
}

static JOURNAL: Mutex<Vec<Call>> = Mutex::new(Vec::new());

/// Records a call (handlers call this first).
pub fn record_call(handler: &'static str, meta: &RecordMeta) {
    let due_ms = meta
        .headers
        .get(headers::BACKOFF_TIMESTAMP)
        .and_then(|b| headers::decode_timestamp(headers::BACKOFF_TIMESTAMP, b).ok());
    JOURNAL.lock().unwrap().push(Call {
        handler,
        key: meta.key_str().unwrap_or_default().to_owned(),
        topic: meta.topic.clone(),
        attempt: meta.attempt,
        at_ms: now_ms(),
        due_ms,
    });
}

/// Calls of `handler`, in order.
pub fn calls(handler: &str) -> Vec<Call> {
    JOURNAL
        .lock()
        .unwrap()
        .iter()
        .filter(|c| c.handler == handler)
        .cloned()
        .collect()
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// Starts the app with only `listeners`, waits until every consumer has partitions.
pub async fn start_app(kafka: &TestKafka, listeners: &[&str]) -> RunningApp {
    start_app_with(kafka, listeners, |_| None).await
}

/// Like [`start_app`] with `RETRY_*` overrides.
pub async fn start_app_with(
    kafka: &TestKafka,
    listeners: &[&str],
    env: impl Fn(&str) -> Option<String> + Send + Sync + 'static,
) -> RunningApp {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let app = RetryApp::builder()
        .bootstrap_servers(kafka.bootstrap_servers())
        .listeners(listeners.iter().copied())
        .settings_env(env)
        .shutdown_grace(Duration::from_secs(5))
        .start()
        .await
        .expect("app starts");
    tokio::time::timeout(Duration::from_secs(30), app.ready())
        .await
        .expect("every consumer gets partitions within 30 s");
    app
}

/// Waits until `condition` holds, polling; panics with `what` after `timeout`.
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

/// Reads `topic` until it holds `n` records (or fails after 20 s).
pub async fn read_n(kafka: &TestKafka, topic: &str, n: usize) -> Vec<ReadRecord> {
    let start = Instant::now();
    loop {
        let records = kafka.read_all(topic).await.expect("read topic");
        if records.len() >= n || start.elapsed() > Duration::from_secs(20) {
            return records;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub fn header_str<'a>(record: &'a ReadRecord, name: &str) -> &'a str {
    record
        .headers
        .get_str(name)
        .unwrap_or_else(|| panic!("header {name} missing"))
}

pub fn header_i32(record: &ReadRecord, name: &'static str) -> i32 {
    headers::decode_i32(
        name,
        record
            .headers
            .get(name)
            .unwrap_or_else(|| panic!("header {name} missing")),
    )
    .unwrap()
}

pub fn header_i64(record: &ReadRecord, name: &'static str) -> i64 {
    headers::decode_i64(
        name,
        record
            .headers
            .get(name)
            .unwrap_or_else(|| panic!("header {name} missing")),
    )
    .unwrap()
}
