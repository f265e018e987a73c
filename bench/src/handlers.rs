//! The listeners the benchmarks run, and the meters they report to.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use retry_runtime::core::headers::{decode_timestamp, BACKOFF_TIMESTAMP};
use retry_runtime::prelude::*;

/// Counts records, remembers when the first and last arrived, and the process's CPU time
/// from the first record to the `expected`th.
pub struct Meter {
    count: AtomicU64,
    expected: AtomicU64,
    window: Mutex<Option<(Instant, Instant)>>,
    cpu: Mutex<(Duration, Duration)>,
}

impl Meter {
    pub const fn new() -> Self {
        Self {
            count: AtomicU64::new(0),
            expected: AtomicU64::new(u64::MAX),
            window: Mutex::new(None),
            cpu: Mutex::new((Duration::ZERO, Duration::ZERO)),
        }
    }

    pub fn record(&self) {
        let now = Instant::now();
        let count = self.count.fetch_add(1, Ordering::Relaxed) + 1;
        let mut window = self.window.lock().expect("meter");
        *window = Some(match *window {
            None => {
                self.cpu.lock().expect("meter").0 = crate::cpu::used();
                (now, now)
            }
            Some((first, _)) => (first, now),
        });
        if count == self.expected.load(Ordering::Relaxed) {
            self.cpu.lock().expect("meter").1 = crate::cpu::used();
        }
    }

    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    /// Records per second between the first and the last record.
    pub fn rate(&self) -> f64 {
        match *self.window.lock().expect("meter") {
            Some((first, last)) if last > first => {
                (self.count() - 1) as f64 / (last - first).as_secs_f64()
            }
            _ => 0.0,
        }
    }

    /// CPU ns of the whole process per record, from the first record to the `expected`th.
    pub fn cpu_ns_per_record(&self) -> f64 {
        let (first, last) = *self.cpu.lock().expect("meter");
        let records = self
            .expected
            .load(Ordering::Relaxed)
            .saturating_sub(1)
            .max(1);
        last.saturating_sub(first).as_nanos() as f64 / records as f64
    }

    /// Starts counting again, expecting `expected` records.
    pub fn reset(&self, expected: u64) {
        self.count.store(0, Ordering::Relaxed);
        self.expected.store(expected, Ordering::Relaxed);
        *self.window.lock().expect("meter") = None;
        *self.cpu.lock().expect("meter") = (Duration::ZERO, Duration::ZERO);
    }
}

/// Main-topic deliveries of the happy and mixed runs.
pub static MAIN: Meter = Meter::new();
/// Retry deliveries of the mixed run.
pub static RETRIED: Meter = Meter::new();
/// Lateness (handled - due) of each retry in the delay run, in ms.
pub static LATENESS_MS: Mutex<Vec<i64>> = Mutex::new(Vec::new());

/// No-op work: count.
#[retryable_topic(topic = "bench-happy", attempts = 2, backoff = "1s")]
async fn bench_happy(_rec: Record<Bytes>) -> anyhow::Result<()> {
    MAIN.record();
    Ok(())
}

/// Every tenth record (by key) fails its first delivery.
#[retryable_topic(topic = "bench-mix", attempts = 2, backoff = "1s")]
async fn bench_mix(rec: Record<Bytes>) -> anyhow::Result<()> {
    if rec.attempt > 1 {
        RETRIED.record();
        return Ok(());
    }
    MAIN.record();
    anyhow::ensure!(!fails_first_time(rec.key_str()), "fails once");
    Ok(())
}

/// Whether the mixed run fails a record's first delivery: every tenth, by its numeric key.
pub fn fails_first_time(key: Option<&str>) -> bool {
    key.and_then(|k| k.parse::<u64>().ok())
        .unwrap_or(1)
        .is_multiple_of(10)
}

/// Every record fails once and is measured on its 1 s retry.
#[retryable_topic(topic = "bench-delay", attempts = 2, backoff = "1s")]
async fn bench_delay(rec: Record<Bytes>) -> anyhow::Result<()> {
    if rec.attempt == 1 {
        anyhow::bail!("measured on the retry");
    }
    let now = now_ms();
    let due = backoff_due(&rec).unwrap_or(now);
    LATENESS_MS.lock().expect("lateness").push(now - due);
    Ok(())
}

/// Its retry topic is filled with records due in an hour: they wait, held by the runtime.
#[retryable_topic(topic = "bench-memory", attempts = 2, backoff = "1h")]
async fn bench_memory(_rec: Record<Bytes>) -> anyhow::Result<()> {
    Ok(())
}

/// Its first call never returns: the records behind it wait on the main topic.
#[retryable_topic(topic = "bench-memory-main", attempts = 2, backoff = "1h")]
async fn bench_memory_main(_rec: Record<Bytes>) -> anyhow::Result<()> {
    std::future::pending().await
}

/// A retry delivery's due time (its `retry_topic-backoff-timestamp`), epoch ms.
pub fn backoff_due(rec: &Record<Bytes>) -> Option<i64> {
    rec.headers
        .get(BACKOFF_TIMESTAMP)
        .and_then(|b| decode_timestamp(BACKOFF_TIMESTAMP, b).ok())
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Twenty listeners for the start-up run.
pub const STARTUP_LISTENERS: [&str; 20] = [
    "bench_start_00",
    "bench_start_01",
    "bench_start_02",
    "bench_start_03",
    "bench_start_04",
    "bench_start_05",
    "bench_start_06",
    "bench_start_07",
    "bench_start_08",
    "bench_start_09",
    "bench_start_10",
    "bench_start_11",
    "bench_start_12",
    "bench_start_13",
    "bench_start_14",
    "bench_start_15",
    "bench_start_16",
    "bench_start_17",
    "bench_start_18",
    "bench_start_19",
];

/// The start-up listeners' shared body.
async fn nothing() -> anyhow::Result<()> {
    Ok(())
}

#[retryable_topic(topic = "bench-start-00", attempts = 2, backoff = "1s")]
async fn bench_start_00(_rec: Record<Bytes>) -> anyhow::Result<()> {
    nothing().await
}
#[retryable_topic(topic = "bench-start-01", attempts = 2, backoff = "1s")]
async fn bench_start_01(_rec: Record<Bytes>) -> anyhow::Result<()> {
    nothing().await
}
#[retryable_topic(topic = "bench-start-02", attempts = 2, backoff = "1s")]
async fn bench_start_02(_rec: Record<Bytes>) -> anyhow::Result<()> {
    nothing().await
}
#[retryable_topic(topic = "bench-start-03", attempts = 2, backoff = "1s")]
async fn bench_start_03(_rec: Record<Bytes>) -> anyhow::Result<()> {
    nothing().await
}
#[retryable_topic(topic = "bench-start-04", attempts = 2, backoff = "1s")]
async fn bench_start_04(_rec: Record<Bytes>) -> anyhow::Result<()> {
    nothing().await
}
#[retryable_topic(topic = "bench-start-05", attempts = 2, backoff = "1s")]
async fn bench_start_05(_rec: Record<Bytes>) -> anyhow::Result<()> {
    nothing().await
}
#[retryable_topic(topic = "bench-start-06", attempts = 2, backoff = "1s")]
async fn bench_start_06(_rec: Record<Bytes>) -> anyhow::Result<()> {
    nothing().await
}
#[retryable_topic(topic = "bench-start-07", attempts = 2, backoff = "1s")]
async fn bench_start_07(_rec: Record<Bytes>) -> anyhow::Result<()> {
    nothing().await
}
#[retryable_topic(topic = "bench-start-08", attempts = 2, backoff = "1s")]
async fn bench_start_08(_rec: Record<Bytes>) -> anyhow::Result<()> {
    nothing().await
}
#[retryable_topic(topic = "bench-start-09", attempts = 2, backoff = "1s")]
async fn bench_start_09(_rec: Record<Bytes>) -> anyhow::Result<()> {
    nothing().await
}
#[retryable_topic(topic = "bench-start-10", attempts = 2, backoff = "1s")]
async fn bench_start_10(_rec: Record<Bytes>) -> anyhow::Result<()> {
    nothing().await
}
#[retryable_topic(topic = "bench-start-11", attempts = 2, backoff = "1s")]
async fn bench_start_11(_rec: Record<Bytes>) -> anyhow::Result<()> {
    nothing().await
}
#[retryable_topic(topic = "bench-start-12", attempts = 2, backoff = "1s")]
async fn bench_start_12(_rec: Record<Bytes>) -> anyhow::Result<()> {
    nothing().await
}
#[retryable_topic(topic = "bench-start-13", attempts = 2, backoff = "1s")]
async fn bench_start_13(_rec: Record<Bytes>) -> anyhow::Result<()> {
    nothing().await
}
#[retryable_topic(topic = "bench-start-14", attempts = 2, backoff = "1s")]
async fn bench_start_14(_rec: Record<Bytes>) -> anyhow::Result<()> {
    nothing().await
}
#[retryable_topic(topic = "bench-start-15", attempts = 2, backoff = "1s")]
async fn bench_start_15(_rec: Record<Bytes>) -> anyhow::Result<()> {
    nothing().await
}
#[retryable_topic(topic = "bench-start-16", attempts = 2, backoff = "1s")]
async fn bench_start_16(_rec: Record<Bytes>) -> anyhow::Result<()> {
    nothing().await
}
#[retryable_topic(topic = "bench-start-17", attempts = 2, backoff = "1s")]
async fn bench_start_17(_rec: Record<Bytes>) -> anyhow::Result<()> {
    nothing().await
}
#[retryable_topic(topic = "bench-start-18", attempts = 2, backoff = "1s")]
async fn bench_start_18(_rec: Record<Bytes>) -> anyhow::Result<()> {
    nothing().await
}
#[retryable_topic(topic = "bench-start-19", attempts = 2, backoff = "1s")]
async fn bench_start_19(_rec: Record<Bytes>) -> anyhow::Result<()> {
    nothing().await
}
