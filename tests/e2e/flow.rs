//! Records walking the chain: handled, retried with backoff, dead-lettered.

use std::time::Duration;

use retry_runtime::core::headers::*;
use retry_runtime::prelude::*;

use crate::support::*;

#[derive(Debug, serde::Deserialize)]
struct Order {
    id: u32,
}

#[derive(Debug, thiserror::Error)]
#[error("stock for order {0} not there yet")]
struct NotYet(u32);

/// Orders 0..=9 succeed; any other id fails with the retryable `NotYet`.
#[retryable_topic(topic = "flow-orders", attempts = 4, backoff = "300ms*2", include = [NotYet])]
async fn flow_orders(rec: Record<Order>) -> anyhow::Result<()> {
    record_call("flow_orders", &rec);
    match rec.value().id {
        0..=9 => Ok(()),
        id => Err(NotYet(id).into()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn happy_path_creates_the_topics_and_forwards_nothing() {
    let s = Scenario::start().await;
    let app = s.start_app(&[("flow_orders", "flow-orders")]).await;
    let expected = [
        "flow-orders",
        "flow-orders-retry-300",
        "flow-orders-retry-600",
        "flow-orders-retry-1200",
        "flow-orders-dlt",
    ];
    let expected: Vec<String> = expected.iter().map(|t| s.topic(t)).collect();
    assert_eq!(app.topics(), expected);
    let existing = s.kafka.topics().await.unwrap();
    for topic in &expected {
        assert_eq!(
            existing.get(topic),
            Some(&1),
            "{topic} exists with one partition"
        );
    }
    for i in 0..10 {
        s.produce(
            "flow-orders",
            &format!("happy-{i}"),
            &format!(r#"{{"id":{i}}}"#),
        )
        .await;
    }
    eventually("10 records handled", Duration::from_secs(20), || {
        (0..10).all(|i| !calls_for("flow_orders", &format!("happy-{i}")).is_empty())
    })
    .await;
    app.shutdown().await;
    for i in 0..10 {
        assert_eq!(
            calls_for("flow_orders", &format!("happy-{i}")).len(),
            1,
            "happy-{i} handled once"
        );
    }
    for topic in &expected[1..] {
        assert!(
            s.kafka.read_all(topic).await.unwrap().is_empty(),
            "{topic} stays empty"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exhausted_retries_walk_every_topic_into_the_dlt_never_early() {
    let s = Scenario::start().await;
    let app = s.start_app(&[("flow_orders", "flow-orders")]).await;
    s.produce("flow-orders", "stuck", r#"{"id":42}"#).await;
    let dlt = s.read_n("flow-orders-dlt", 1).await;
    app.shutdown().await;

    let calls = calls_for("flow_orders", "stuck");
    let path: Vec<(String, u32)> = calls.iter().map(|c| (c.topic.clone(), c.attempt)).collect();
    let expected: Vec<(String, u32)> = [
        ("flow-orders", 1),
        ("flow-orders-retry-300", 2),
        ("flow-orders-retry-600", 3),
        ("flow-orders-retry-1200", 4),
    ]
    .iter()
    .map(|(t, a)| (s.topic(t), *a))
    .collect();
    assert_eq!(path, expected);
    for (hop, pair) in calls.windows(2).enumerate() {
        let due = pair[1].due_ms.expect("retry records carry a due time");
        let delay = 300 << hop;
        assert!(
            due >= pair[0].at_ms + delay,
            "hop {hop}: due {due} is at least {delay} ms after the failure at {}",
            pair[0].at_ms
        );
        assert!(
            pair[1].at_ms >= due,
            "hop {hop}: handled at {} before due {due}",
            pair[1].at_ms
        );
        println!("hop {hop}: {} ms late", pair[1].at_ms - due);
    }

    assert_eq!(dlt.len(), 1);
    let d = &dlt[0];
    assert_eq!(
        (d.key.as_deref(), d.value.as_deref()),
        (Some(&b"stuck"[..]), Some(&br#"{"id":42}"#[..])),
        "key and value unchanged"
    );
    assert_eq!(header_str(d, ORIGINAL_TOPIC), s.topic("flow-orders"));
    assert_eq!(header_i32(d, ORIGINAL_PARTITION), 0);
    assert_eq!(header_i64(d, ORIGINAL_OFFSET), 0);
    assert_eq!(header_str(d, ORIGINAL_TIMESTAMP_TYPE), "CreateTime");
    assert!(header_str(d, ORIGINAL_CONSUMER_GROUP).starts_with(&s.topic("flow_orders")));
    assert!(
        header_str(d, EXCEPTION_FQCN).ends_with("NotYet"),
        "{}",
        header_str(d, EXCEPTION_FQCN)
    );
    assert_eq!(
        header_str(d, EXCEPTION_MESSAGE),
        "stock for order 42 not there yet"
    );
    assert_eq!(
        header_i32(d, ATTEMPTS),
        5,
        "four deliveries made, written as Spring does (failed delivery + 1)"
    );
    let failed_at = calls.last().expect("calls").at_ms;
    let due = header_i64(d, BACKOFF_TIMESTAMP);
    assert!(
        (failed_at..failed_at + 5_000).contains(&due),
        "a dead letter is due when its last delivery failed ({failed_at}), as Spring writes it: {due}"
    );
    let original_ts = header_i64(d, ORIGINAL_TIMESTAMP);
    assert_eq!(header_i64(d, ORIGINAL_TIMESTAMP_RETRY), original_ts);
    for name in [
        ORIGINAL_TOPIC,
        ATTEMPTS,
        EXCEPTION_MESSAGE,
        ORIGINAL_CONSUMER_GROUP,
    ] {
        assert_eq!(
            d.headers.iter().filter(|h| h.key == name).count(),
            1,
            "{name} replaced, not appended"
        );
    }

    for (topic, attempt) in [
        ("flow-orders-retry-300", 2),
        ("flow-orders-retry-600", 3),
        ("flow-orders-retry-1200", 4),
    ] {
        let records = s.read_all(topic).await;
        assert_eq!(records.len(), 1, "{topic} saw the record once");
        assert_eq!(
            header_i32(&records[0], ATTEMPTS),
            attempt,
            "{topic}: next delivery number"
        );
        assert_eq!(
            header_str(&records[0], ORIGINAL_TOPIC),
            s.topic("flow-orders"),
            "{topic}: first hop kept"
        );
    }
}

/// Fails on its first two deliveries, then succeeds.
#[retryable_topic(topic = "flow-flaky", attempts = 5, backoff = "200ms")]
async fn flow_flaky(rec: Record<Bytes>) -> anyhow::Result<()> {
    record_call("flow_flaky", &rec);
    anyhow::ensure!(rec.attempt >= 3, "database unavailable");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_that_fails_twice_succeeds_on_the_fixed_backoff_topic() {
    let s = Scenario::start().await;
    let app = s.start_app(&[("flow_flaky", "flow-flaky")]).await;
    assert_eq!(
        app.topics(),
        [
            s.topic("flow-flaky"),
            s.topic("flow-flaky-retry"),
            s.topic("flow-flaky-dlt")
        ],
        "fixed backoff: one retry topic"
    );
    s.produce("flow-flaky", "flaky", "anything").await;
    eventually("the third delivery", Duration::from_secs(20), || {
        calls_for("flow_flaky", "flaky").len() >= 3
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    app.shutdown().await;
    let attempts: Vec<u32> = calls_for("flow_flaky", "flaky")
        .iter()
        .map(|c| c.attempt)
        .collect();
    assert_eq!(attempts, [1, 2, 3]);
    assert_eq!(
        s.read_all("flow-flaky-retry").await.len(),
        2,
        "two forwards to the one retry topic"
    );
    assert!(s.read_all("flow-flaky-dlt").await.is_empty());
}

/// Index suffixes; always fails.
#[retryable_topic(
    topic = "flow-indexed",
    attempts = 3,
    backoff = "100ms*3",
    suffix = "index"
)]
async fn flow_indexed(rec: Record<Bytes>) -> anyhow::Result<()> {
    record_call("flow_indexed", &rec);
    anyhow::bail!("always fails")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn index_suffixes_name_the_retry_topics_by_position() {
    let s = Scenario::start().await;
    let app = s.start_app(&[("flow_indexed", "flow-indexed")]).await;
    s.produce("flow-indexed", "idx", "x").await;
    let dlt = s.read_n("flow-indexed-dlt", 1).await;
    app.shutdown().await;
    let topics: Vec<String> = calls_for("flow_indexed", "idx")
        .iter()
        .map(|c| c.topic.clone())
        .collect();
    assert_eq!(
        topics,
        [
            s.topic("flow-indexed"),
            s.topic("flow-indexed-retry-0"),
            s.topic("flow-indexed-retry-1")
        ]
    );
    assert_eq!(dlt.len(), 1);
}

/// A 1 s budget with ten 400 ms retries: the budget runs out first.
#[retryable_topic(
    topic = "flow-timeout",
    attempts = 10,
    backoff = "400ms",
    timeout = "1s"
)]
async fn flow_timeout(rec: Record<Bytes>) -> anyhow::Result<()> {
    record_call("flow_timeout", &rec);
    anyhow::bail!("still failing")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeout_dead_letters_before_the_attempts_run_out() {
    let s = Scenario::start().await;
    let app = s.start_app(&[("flow_timeout", "flow-timeout")]).await;
    s.produce("flow-timeout", "slow", "x").await;
    let dlt = s.read_n("flow-timeout-dlt", 1).await;
    app.shutdown().await;
    assert_eq!(dlt.len(), 1);
    // Spring's count: the failed delivery + 1.
    let made = header_i32(&dlt[0], ATTEMPTS) - 1;
    assert!(
        (2..=3).contains(&made),
        "a 1 s budget allows 2 or 3 deliveries 400 ms apart, made {made}"
    );
    let calls = calls_for("flow_timeout", "slow");
    assert_eq!(calls.len() as i32, made);
    let budget_end = header_i64(&dlt[0], ORIGINAL_TIMESTAMP_RETRY) + 1000;
    assert!(
        calls
            .iter()
            .all(|c| c.due_ms.is_none_or(|due| due <= budget_end)),
        "no retry scheduled past the budget"
    );
}
