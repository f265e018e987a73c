//! `ordering`: a partition's records one at a time (`"partition"`, the default), or side by
//! side (`"none"`).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use retry_runtime::prelude::*;

use crate::support::*;

/// Handler calls of a listener in flight now, and the most seen at once.
struct InFlight {
    now: AtomicUsize,
    most: AtomicUsize,
}

impl InFlight {
    const fn new() -> Self {
        Self {
            now: AtomicUsize::new(0),
            most: AtomicUsize::new(0),
        }
    }

    /// Counts a call for `wait`, as a handler awaiting a database would.
    async fn call(&self, wait: Duration) {
        let now = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.most.fetch_max(now, Ordering::SeqCst);
        tokio::time::sleep(wait).await;
        self.now.fetch_sub(1, Ordering::SeqCst);
    }
}

static UNORDERED: InFlight = InFlight::new();

/// Awaits 300 ms per call on the main topic; a record valued `fail` fails its first delivery.
#[retryable_topic(
    topic = "ord-none",
    ordering = "none",
    concurrency = 4,
    partitions = 1,
    attempts = 2,
    backoff = "200ms"
)]
async fn ord_none(rec: Record<String>) -> anyhow::Result<()> {
    // `concurrency` bounds each topic's consumer: the main topic's calls are counted.
    if rec.attempt == 1 {
        UNORDERED.call(Duration::from_millis(300)).await;
    }
    record_call("ord_none", &rec);
    anyhow::ensure!(
        rec.value() != "fail" || rec.attempt > 1,
        "first delivery fails"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_of_one_partition_run_side_by_side_up_to_concurrency() {
    let s = Scenario::start().await;
    let listeners = [("ord_none", "ord-none")];
    let app = s.start_app(&listeners).await;
    for i in 0..12 {
        let value = if i == 5 { "\"fail\"" } else { "\"ok\"" };
        s.produce("ord-none", &format!("r{i}"), value).await;
    }
    eventually("every record handled", Duration::from_secs(30), || {
        (0..12).all(|i| {
            calls_for("ord_none", &format!("r{i}"))
                .iter()
                .any(|c| c.attempt == if i == 5 { 2 } else { 1 })
        })
    })
    .await;
    let most = UNORDERED.most.load(Ordering::SeqCst);
    assert!(
        (2..=4).contains(&most),
        "one partition's calls overlap, at most `concurrency` of them: {most}"
    );
    let retried = s.read_n("ord-none-retry", 1).await;
    assert_eq!(retried.len(), 1, "only the failed record was forwarded");
    // Committed through the last record while the partition idles, not only at shutdown: a
    // kill -9 now would redeliver nothing.
    let mut committed = None;
    for _ in 0..50 {
        committed = s.committed("ord_none", "ord-none", 0).await;
        if committed == Some(12) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(committed, Some(12), "committed past every handled record");
    app.shutdown().await;

    // Committed through the last record, though they finished out of order: a restart
    // handles none of them again.
    let handled = calls("ord_none").len();
    let again = s.start_app(&listeners).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    again.shutdown().await;
    assert_eq!(calls("ord_none").len(), handled, "nothing redelivered");
}

static ORDERED: InFlight = InFlight::new();

/// The same handler with the default ordering.
#[retryable_topic(topic = "ord-partition", concurrency = 4, partitions = 1)]
async fn ord_partition(rec: Record<String>) -> anyhow::Result<()> {
    ORDERED.call(Duration::from_millis(100)).await;
    record_call("ord_partition", &rec);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn by_default_a_partition_handles_one_record_at_a_time_in_offset_order() {
    let s = Scenario::start().await;
    let app = s.start_app(&[("ord_partition", "ord-partition")]).await;
    for i in 0..6 {
        s.produce("ord-partition", &format!("r{i}"), "\"ok\"").await;
    }
    eventually("every record handled", Duration::from_secs(30), || {
        calls("ord_partition").len() >= 6
    })
    .await;
    app.shutdown().await;
    assert_eq!(ORDERED.most.load(Ordering::SeqCst), 1);
    let order: Vec<String> = calls("ord_partition").into_iter().map(|c| c.key).collect();
    assert_eq!(order, (0..6).map(|i| format!("r{i}")).collect::<Vec<_>>());
}

/// Fails each record's first delivery; its retry, 5 s later, awaits 1 s.
#[retryable_topic(
    topic = "ord-none-wait",
    ordering = "none",
    partitions = 1,
    attempts = 2,
    backoff = "5s"
)]
async fn ord_none_wait(rec: Record<String>) -> anyhow::Result<()> {
    record_call("ord_none_wait", &rec);
    anyhow::ensure!(rec.attempt > 1, "first delivery fails");
    tokio::time::sleep(Duration::from_secs(1)).await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_waiting_for_its_due_time_is_counted_and_does_not_hold_back_earlier_commits() {
    let s = Scenario::start().await;
    let builder = s
        .app_builder(&[("ord_none_wait", "ord-none-wait")], &[], &[])
        .metrics_address("127.0.0.1:0".parse().unwrap());
    let app = s.start_built(builder).await;
    let address = app.metrics_address().expect("endpoint bound");
    let waiting = format!(
        "kafka_retry_records_waiting{{topic=\"{}\"}}",
        s.topic("ord-none-wait-retry")
    );

    s.produce("ord-none-wait", "a", "\"a\"").await;
    eventually("a failed once", Duration::from_secs(10), || {
        !calls_for("ord_none_wait", "a").is_empty()
    })
    .await;
    // a's retry is in hand, waiting for its due time: the gauge counts it.
    let mut seen = None;
    for _ in 0..30 {
        seen = sample(&get(address, "/metrics").await.1, &waiting);
        if seen == Some(1.0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(seen, Some(1.0), "a's retry counted as waiting");

    tokio::time::sleep(Duration::from_secs(3)).await;
    s.produce("ord-none-wait", "b", "\"b\"").await;
    // a's retry runs (1 s) while the retry topic's task already waits for b's, due about
    // 3 s after it: a's offset is committed meanwhile, not when b's wait ends.
    eventually("a's retry handled", Duration::from_secs(10), || {
        calls_for("ord_none_wait", "a").len() == 2
    })
    .await;
    let retry_started = std::time::Instant::now();
    let mut committed = None;
    while retry_started.elapsed() < Duration::from_millis(2500) {
        committed = s
            .committed("ord_none_wait-retry", "ord-none-wait-retry", 0)
            .await;
        if committed == Some(1) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        committed,
        Some(1),
        "a's retry committed while b's waits for its due time"
    );
    assert_eq!(
        calls_for("ord_none_wait", "b").len(),
        1,
        "b's retry was not due yet"
    );
    eventually("b's retry handled", Duration::from_secs(15), || {
        calls_for("ord_none_wait", "b").len() == 2
    })
    .await;
    app.shutdown().await;
}
