//! The delivery guarantees under the settings production runs: cooperative rebalancing,
//! long waits, errors whose description panics.

use std::time::Duration;

use retry_runtime::prelude::*;

use crate::support::*;

/// Partitions of the topics in these tests.
const PARTITIONS: i32 = 4;

/// Cooperative rebalancing, as many production consumers configure it.
const COOPERATIVE: &[(&str, &str)] = &[
    ("partition.assignment.strategy", "cooperative-sticky"),
    ("session.timeout.ms", "6000"),
];

/// Instance A of the cooperative test's listener.
#[retryable_topic(topic = "coop", attempts = 3, backoff = "3s")]
async fn coop_a(rec: Record<Bytes>) -> anyhow::Result<()> {
    coop_handle("coop_a", &rec)
}

/// Instance B: the same listener (same topic and group), another name so the journal tells
/// the instances apart.
#[retryable_topic(topic = "coop", attempts = 3, backoff = "3s")]
async fn coop_b(rec: Record<Bytes>) -> anyhow::Result<()> {
    coop_handle("coop_b", &rec)
}

/// What both instances do: journal the call, fail the first delivery of `retry-*` keys.
fn coop_handle(instance: &'static str, rec: &Record<Bytes>) -> anyhow::Result<()> {
    record_call(instance, rec);
    anyhow::ensure!(
        rec.attempt > 1 || !rec.key_str().unwrap_or("").starts_with("retry-"),
        "first delivery fails"
    );
    Ok(())
}

fn handled_by(key: &str) -> Vec<Call> {
    let mut calls = calls_for("coop_a", key);
    calls.extend(calls_for("coop_b", key));
    calls
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cooperative_rebalances_while_records_wait_lose_nothing() {
    let s = Scenario::start().await;
    s.kafka
        .create_topic(&s.topic("coop"), PARTITIONS)
        .await
        .unwrap();
    let group = s.topic("coop_a");
    let same_group = [("RETRY_COOP_B_GROUP", group.as_str())];
    let a = s
        .start_app_configured(&[("coop_a", "coop")], &[], COOPERATIVE)
        .await;
    let start_b = || s.start_app_configured(&[("coop_b", "coop")], &same_group, COOPERATIVE);
    let b = start_b().await;
    tokio::time::timeout(Duration::from_secs(30), a.ready())
        .await
        .expect("A keeps partitions");

    // Stable membership: each record handled once, by one of the two.
    for i in 0..40 {
        let key = format!("ok-{i}");
        s.kafka
            .produce_to(&s.topic("coop"), Some(i % PARTITIONS), Some(&key), b"x")
            .await
            .unwrap();
    }
    eventually("forty handled", Duration::from_secs(30), || {
        (0..40).all(|i| !handled_by(&format!("ok-{i}")).is_empty())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let twice: Vec<String> = (0..40)
        .map(|i| format!("ok-{i}"))
        .filter(|k| handled_by(k).len() > 1)
        .collect();
    assert!(
        twice.is_empty(),
        "handled twice while membership was stable: {twice:?}"
    );
    assert!(
        !calls("coop_a").is_empty() && !calls("coop_b").is_empty(),
        "both instances handle records: A {} B {}",
        calls("coop_a").len(),
        calls("coop_b").len()
    );

    // Records wait in the retry topic while B leaves and comes back: every leave and join
    // moves some partitions and keeps the others where they are.
    for i in 0..40 {
        let key = format!("retry-{i}");
        s.kafka
            .produce_to(&s.topic("coop"), Some(i % PARTITIONS), Some(&key), b"x")
            .await
            .unwrap();
    }
    let waiting = s.read_n("coop-retry", 40).await;
    assert_eq!(waiting.len(), 40, "every record failed once and waits");
    b.shutdown().await;
    let b = start_b().await;
    eventually(
        "every waiting record handled on its retry",
        Duration::from_secs(40),
        || {
            (0..40).all(|i| {
                handled_by(&format!("retry-{i}"))
                    .iter()
                    .any(|c| c.attempt == 2)
            })
        },
    )
    .await;
    a.shutdown().await;
    b.shutdown().await;
    assert!(
        s.read_all("coop-dlt").await.is_empty(),
        "nothing dead-lettered"
    );
}

/// Fails the first delivery; the retry waits longer than the member's poll interval.
#[retryable_topic(topic = "long-wait", attempts = 2, backoff = "9s")]
async fn long_wait(rec: Record<Bytes>) -> anyhow::Result<()> {
    record_call("long_wait", &rec);
    anyhow::ensure!(
        rec.attempt > 1 || rec.key_str() != Some("slow"),
        "first delivery fails"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wait_longer_than_the_poll_interval_keeps_the_member_and_the_other_records_flowing() {
    let s = Scenario::start().await;
    s.kafka
        .create_topic(&s.topic("long-wait"), PARTITIONS)
        .await
        .unwrap();
    // librdkafka leaves the group when not polled for max.poll.interval.ms (here 6 s, less
    // than the 9 s the retry waits).
    let app = s
        .start_app_configured(
            &[("long_wait", "long-wait")],
            &[],
            &[
                ("max.poll.interval.ms", "6000"),
                ("session.timeout.ms", "6000"),
            ],
        )
        .await;
    s.kafka
        .produce_to(&s.topic("long-wait"), Some(0), Some("slow"), b"x")
        .await
        .unwrap();
    s.read_n("long-wait-retry", 1).await;
    for i in 0..20 {
        let key = format!("fast-{i}");
        s.kafka
            .produce_to(
                &s.topic("long-wait"),
                Some(i % PARTITIONS),
                Some(&key),
                b"x",
            )
            .await
            .unwrap();
    }
    eventually(
        "the other records handled meanwhile",
        Duration::from_secs(5),
        || (0..20).all(|i| !calls_for("long_wait", &format!("fast-{i}")).is_empty()),
    )
    .await;
    eventually("the slow record retried", Duration::from_secs(20), || {
        calls_for("long_wait", "slow").len() >= 2
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    app.shutdown().await;
    let slow = calls_for("long_wait", "slow");
    assert_eq!(slow.len(), 2, "failed once, retried once: {slow:?}");
    let due = slow[1].due_ms.expect("retry carries its due time");
    assert!(slow[1].at_ms >= due, "never early");
    for i in 0..20 {
        assert_eq!(
            calls_for("long_wait", &format!("fast-{i}")).len(),
            1,
            "fast-{i} once: no rebalance redelivered it"
        );
    }
}

/// An error whose `Display` panics (user code the runtime calls to write the headers).
#[derive(Debug)]
struct Unprintable;

impl std::fmt::Display for Unprintable {
    fn fmt(&self, _: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        panic!("Display of Unprintable")
    }
}

impl std::error::Error for Unprintable {}

#[retryable_topic(topic = "unprintable", attempts = 2, backoff = "200ms")]
async fn unprintable(rec: Record<Bytes>) -> Result<(), Unprintable> {
    record_call("unprintable", &rec);
    if rec.key_str() == Some("bad") {
        return Err(Unprintable);
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_error_whose_display_panics_is_dead_lettered_and_the_partition_flows_on() {
    let s = Scenario::start().await;
    let app = s.start_app(&[("unprintable", "unprintable")]).await;
    s.produce("unprintable", "bad", "x").await;
    s.produce("unprintable", "good", "x").await;
    let dead = s.read_n("unprintable-dlt", 1).await;
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].key.as_deref(), Some(&b"bad"[..]));
    let message = header_str(&dead[0], retry_runtime::core::headers::EXCEPTION_MESSAGE);
    assert!(
        message.contains("could not be displayed") && message.contains("Display of Unprintable"),
        "{message}"
    );
    s.produce("unprintable", "after", "x").await;
    eventually("records after it handled", Duration::from_secs(10), || {
        !calls_for("unprintable", "good").is_empty()
            && !calls_for("unprintable", "after").is_empty()
    })
    .await;
    app.shutdown().await;
    assert_eq!(
        calls_for("unprintable", "bad").len(),
        2,
        "both deliveries reached the handler"
    );
}
