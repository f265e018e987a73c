//! The circuit breaker (`pause_on`, `breaker`, `probe`): a downstream outage pauses the
//! listener, records are held, not forwarded, and handled once it is back.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use retry_runtime::prelude::*;

use crate::support::*;

/// What a handler's database client says while the database is down.
#[derive(Debug, thiserror::Error)]
#[error("database unavailable")]
struct DbUnavailable;

static PARTITION_DOWN: AtomicBool = AtomicBool::new(false);

/// Fails every record with [`DbUnavailable`] while [`PARTITION_DOWN`].
#[retryable_topic(
    topic = "brk-partition",
    partitions = 1,
    attempts = 2,
    backoff = "200ms",
    pause_on = [DbUnavailable],
    probe = "500ms*2"
)]
async fn brk_partition(rec: Record<String>) -> anyhow::Result<()> {
    record_call("brk_partition", &rec);
    if PARTITION_DOWN.load(Ordering::SeqCst) {
        return Err(anyhow::Error::new(DbUnavailable).context("saving the record"));
    }
    Ok(())
}

static UNORDERED_DOWN: AtomicBool = AtomicBool::new(false);

/// The same, its records handled side by side.
#[retryable_topic(
    topic = "brk-none",
    partitions = 1,
    ordering = "none",
    concurrency = 4,
    attempts = 2,
    backoff = "200ms",
    pause_on = [DbUnavailable],
    probe = "500ms*2"
)]
async fn brk_none(rec: Record<String>) -> anyhow::Result<()> {
    record_call("brk_none", &rec);
    tokio::time::sleep(Duration::from_millis(20)).await;
    if UNORDERED_DOWN.load(Ordering::SeqCst) {
        return Err(anyhow::Error::new(DbUnavailable).context("saving the record"));
    }
    Ok(())
}

/// Produces `r0..r2` to `topic` and waits for them, takes the downstream down, produces
/// `r3..r9`, keeps it down for 2.3 s, and checks what a user would: at most the calls in
/// flight at the trip plus one probe per probe delay reached the handler, a probe failed,
/// `/ready` says the breaker is open, the commit stands at the held record; then, once the
/// downstream is back, every record is handled on its first attempt and nothing reached a
/// retry topic or the DLT.
async fn outage_is_waited_out(
    handler: &'static str,
    topic: &str,
    down: &AtomicBool,
    in_flight_at_trip: usize,
) {
    let s = Scenario::start().await;
    let builder = s
        .app_builder(&[(handler, topic)], &[], &[])
        .metrics_address("127.0.0.1:0".parse().unwrap());
    let app = s.start_built(builder).await;
    let address = app.metrics_address().expect("endpoint bound");
    for i in 0..3 {
        s.produce(topic, &format!("r{i}"), "\"ok\"").await;
    }
    // Handled and committed (a call records itself before it ends).
    assert_eq!(
        committed_reaching(&s, handler, topic, 3).await,
        Some(3),
        "the first records committed"
    );
    down.store(true, Ordering::SeqCst);
    for i in 3..10 {
        s.produce(topic, &format!("r{i}"), "\"ok\"").await;
    }
    eventually("the first failure", Duration::from_secs(20), || {
        calls(handler).len() > 3
    })
    .await;
    // Probes 0.5 s and 1.5 s after the trip; the next one is 3.5 s after it.
    tokio::time::sleep(Duration::from_millis(2300)).await;
    let while_down = calls(handler).len() - 3;
    assert!(
        while_down <= in_flight_at_trip + 2,
        "the calls in flight at the trip and one probe per probe delay: {while_down} calls"
    );
    let (_, scrape) = get(address, "/metrics").await;
    let reopened =
        format!("kafka_retry_breaker_probes_total{{listener=\"{handler}\",outcome=\"reopened\"}}");
    assert!(
        sample(&scrape, &reopened).is_some_and(|n| n >= 1.0),
        "a probe failed and opened it again: {scrape}"
    );
    let state = format!("kafka_retry_breaker_state{{listener=\"{handler}\"}}");
    assert_eq!(sample(&scrape, &state), Some(1.0), "open: {scrape}");
    let (status, body) = get(address, "/ready").await;
    assert_eq!(status, 200, "an open breaker is not unready: {body}");
    assert!(
        body.contains(&format!("breaker open: {handler}")),
        "/ready names the open breaker: {body}"
    );
    assert_eq!(
        committed_reaching(&s, handler, topic, 3).await,
        Some(3),
        "committed up to the held record, not past it"
    );

    let up_at = now_ms();
    down.store(false, Ordering::SeqCst);
    eventually("every record handled", Duration::from_secs(20), || {
        let all = calls(handler);
        (3..10).all(|i| {
            let key = format!("r{i}");
            all.iter().any(|c| c.key == key && c.at_ms >= up_at)
        })
    })
    .await;
    let all = calls(handler);
    assert!(
        all.iter()
            .all(|c| c.attempt == 1 && c.topic.ends_with(topic)),
        "held records keep their attempt and stay on the main topic: {all:?}"
    );
    for (suffix, what) in [("-retry", "retry topic"), ("-dlt", "DLT")] {
        let records = s.read_all(&format!("{topic}{suffix}")).await;
        assert!(records.is_empty(), "nothing forwarded to the {what}");
    }
    let (_, scrape) = get(address, "/metrics").await;
    let trips =
        format!("kafka_retry_breaker_trips_total{{listener=\"{handler}\",reason=\"unavailable\"}}");
    assert_eq!(sample(&scrape, &trips), Some(1.0), "one trip: {scrape}");
    assert_eq!(sample(&scrape, &state), Some(0.0), "closed again");
    let held = format!("kafka_retry_breaker_held_records{{listener=\"{handler}\"}}");
    assert_eq!(sample(&scrape, &held), Some(0.0), "none held any more");
    assert_eq!(
        committed_reaching(&s, handler, topic, 10).await,
        Some(10),
        "committed past every record"
    );
    app.shutdown().await;
}

/// The group's committed offset on partition 0 of `topic` once it reaches `offset`, or after
/// 10 s (commits are periodic).
async fn committed_reaching(s: &Scenario, group: &str, topic: &str, offset: i64) -> Option<i64> {
    let mut committed = None;
    for _ in 0..100 {
        committed = s.committed(group, topic, 0).await;
        if committed.is_some_and(|c| c >= offset) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    committed
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_pauses_a_partition_and_nothing_is_forwarded() {
    outage_is_waited_out("brk_partition", "brk-partition", &PARTITION_DOWN, 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_pauses_concurrent_calls_and_nothing_is_forwarded() {
    outage_is_waited_out("brk_none", "brk-none", &UNORDERED_DOWN, 4).await;
}

static RATE_DOWN: AtomicBool = AtomicBool::new(true);

/// Fails with an error nobody classified while [`RATE_DOWN`], and always for a `poison`
/// record.
#[retryable_topic(
    topic = "brk-rate",
    partitions = 1,
    attempts = 2,
    backoff = "200ms",
    breaker = "3 in 10s",
    probe = "3s"
)]
async fn brk_rate(rec: Record<String>) -> anyhow::Result<()> {
    record_call("brk_rate", &rec);
    anyhow::ensure!(!RATE_DOWN.load(Ordering::SeqCst), "timed out");
    anyhow::ensure!(rec.value() != "poison", "poison");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_in_a_row_trip_the_breaker_and_poison_among_successes_does_not() {
    let s = Scenario::start().await;
    let app = s.start_app(&[("brk_rate", "brk-rate")]).await;
    for i in 0..6 {
        s.produce("brk-rate", &format!("r{i}"), "\"ok\"").await;
    }
    eventually("three failures", Duration::from_secs(20), || {
        calls("brk_rate").len() >= 3
    })
    .await;
    // The probe is 3 s after the trip: nothing else reaches the handler meanwhile.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let while_down = calls("brk_rate");
    assert_eq!(
        while_down
            .iter()
            .map(|c| c.key.as_str())
            .collect::<Vec<_>>(),
        ["r0", "r1", "r2"],
        "the third failure in a row trips the breaker, the retries wait"
    );
    RATE_DOWN.store(false, Ordering::SeqCst);
    // r0 and r1 again from the retry topic, r2 again on the main topic, r3 to r5 once.
    let expected = [2, 2, 2, 1, 1, 1];
    eventually("every record handled", Duration::from_secs(20), || {
        (0..6).all(|i| calls_for("brk_rate", &format!("r{i}")).len() >= expected[i])
    })
    .await;
    for (i, n) in expected.iter().enumerate() {
        let key = format!("r{i}");
        assert_eq!(calls_for("brk_rate", &key).len(), *n, "calls of {key}");
    }
    let retried = s.read_all("brk-rate-retry").await;
    let mut keys: Vec<_> = retried
        .iter()
        .map(|r| String::from_utf8_lossy(r.key.as_deref().unwrap_or_default()).into_owned())
        .collect();
    keys.sort();
    assert_eq!(
        keys,
        ["r0", "r1"],
        "the two failures before the trip used an attempt; the one that tripped it was held"
    );
    assert!(
        calls_for("brk_rate", "r2").iter().all(|c| c.attempt == 1),
        "the held record kept its attempt"
    );

    // Two poison records among successes: below the threshold, they go to the DLT.
    for (key, value) in [
        ("p0", "\"poison\""),
        ("ok0", "\"ok\""),
        ("p1", "\"poison\""),
        ("ok1", "\"ok\""),
    ] {
        s.produce("brk-rate", key, value).await;
    }
    let dead = s.read_n("brk-rate-dlt", 2).await;
    assert_eq!(
        dead.len(),
        2,
        "poison records dead-lettered after their attempts"
    );
    assert!(
        calls_for("brk_rate", "ok1").len() == 1 && calls_for("brk_rate", "p1").len() == 2,
        "no pause: {:?}",
        calls("brk_rate")
    );
    app.shutdown().await;
}

static DLT_STORE_DOWN: AtomicBool = AtomicBool::new(true);

/// Sends every record straight to the DLT.
#[retryable_topic(
    topic = "brk-dlt",
    partitions = 1,
    attempts = 1,
    pause_on = [DbUnavailable],
    probe = "300ms"
)]
async fn brk_dlt(rec: Record<Bytes>) -> anyhow::Result<()> {
    record_call("brk_dlt", &rec);
    anyhow::bail!("rejected")
}

/// Stores dead letters in a database that is down while [`DLT_STORE_DOWN`].
#[dlt_handler(topic = "brk-dlt")]
async fn brk_dlt_dlt(rec: DeadLetter<Bytes>) -> anyhow::Result<()> {
    record_call("brk_dlt_dlt", &rec);
    if DLT_STORE_DOWN.load(Ordering::SeqCst) {
        return Err(DbUnavailable.into());
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dlt_handler_whose_store_is_down_holds_its_dead_letter() {
    let s = Scenario::start().await;
    let app = s.start_app(&[("brk_dlt", "brk-dlt")]).await;
    s.produce("brk-dlt", "d0", "x").await;
    eventually(
        "the DLT handler's first call",
        Duration::from_secs(20),
        || !calls("brk_dlt_dlt").is_empty(),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let while_down = calls("brk_dlt_dlt").len();
    assert!(
        (2..=5).contains(&while_down),
        "the trip, then one probe per 300 ms: {while_down} calls"
    );
    DLT_STORE_DOWN.store(false, Ordering::SeqCst);
    eventually("the dead letter stored", Duration::from_secs(10), || {
        calls("brk_dlt_dlt").len() > while_down
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    app.shutdown().await;
    assert_eq!(
        calls("brk_dlt_dlt").len(),
        while_down + 1,
        "handled once when the store is back"
    );
    assert_eq!(
        s.read_all("brk-dlt-dlt").await.len(),
        1,
        "held, not re-published to the DLT"
    );
}

/// Fails `bad` with [`DbUnavailable`] for ever, as a query that kills its own connection.
#[retryable_topic(
    topic = "brk-alone",
    partitions = 1,
    attempts = 2,
    backoff = "100ms",
    pause_on = [DbUnavailable],
    probe = "100ms",
    max_probe_delay = "100ms"
)]
async fn brk_alone(rec: Record<Bytes>) -> anyhow::Result<()> {
    record_call("brk_alone", &rec);
    if rec.key_str() == Some("bad") {
        return Err(DbUnavailable.into());
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_that_is_its_own_outage_goes_on_after_five_probes() {
    let s = Scenario::start().await;
    let app = s.start_app(&[("brk_alone", "brk-alone")]).await;
    s.produce("brk-alone", "bad", "x").await;
    let dead = s.read_n("brk-alone-dlt", 1).await;
    assert_eq!(
        dead.len(),
        1,
        "the record reaches the DLT after its attempts"
    );
    s.produce("brk-alone", "good", "x").await;
    eventually("the next record", Duration::from_secs(10), || {
        !calls_for("brk_alone", "good").is_empty()
    })
    .await;
    app.shutdown().await;
    let bad = calls_for("brk_alone", "bad");
    let on = |attempt: u32| bad.iter().filter(|c| c.attempt == attempt).count();
    assert_eq!(
        (on(1), on(2)),
        (6, 5),
        "the call that tripped the breaker and five probes on the main topic; on the retry \
         topic, the breaker still open, five probes: {bad:?}"
    );
}
