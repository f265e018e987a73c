//! A partition librdkafka stopped fetching for good fails the app, naming it, instead of
//! leaving it unread while the app looks healthy.

use std::time::Duration;

use retry_runtime::prelude::*;

use crate::support::*;

/// Never called: its partition cannot be read.
#[retryable_topic(topic = "dead-partition", attempts = 2, backoff = "100ms")]
async fn dead_partition(rec: Record<Bytes>) -> anyhow::Result<()> {
    record_call("dead_partition", &rec);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partition_with_no_offset_to_start_from_fails_the_app_naming_it() {
    let s = Scenario::start().await;
    let after = Duration::from_secs(2);
    let builder = s
        .app_builder(
            &[("dead_partition", "dead-partition")],
            &[],
            &[("auto.offset.reset", "error")],
        )
        .dead_partition_after(after);
    let app = s.start_built(builder).await;
    let failure = tokio::time::timeout(after + Duration::from_secs(10), app.failed())
        .await
        .expect("the app fails once the partition has been in error for the bound");
    let topic = s.topic("dead-partition");
    assert!(
        failure.starts_with(&format!("partition {topic} [0] has been in error for ")),
        "{failure}"
    );
    assert!(failure.contains("no record read"), "{failure}");
    assert!(
        failure.contains("AutoOffsetReset"),
        "the failure names librdkafka's error: {failure}"
    );
    app.shutdown().await;
}

/// Handles every record.
#[retryable_topic(topic = "broker-gone", attempts = 2, backoff = "100ms")]
async fn broker_gone(rec: Record<Bytes>) -> anyhow::Result<()> {
    record_call("broker_gone", &rec);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_with_the_broker_gone_ends_within_its_deadline() {
    if std::env::var("KAFKA_BOOTSTRAP_SERVERS").is_ok() {
        return; // the test stops the broker: only the embedded one is the test's own
    }
    let s = Scenario::start().await;
    let grace = Duration::from_secs(2);
    let builder = s
        .app_builder(&[("broker_gone", "broker-gone")], &[], &[])
        .shutdown_grace(grace);
    let app = s.start_built(builder).await;
    s.produce("broker-gone", "k", "v").await;
    eventually("the record is handled", Duration::from_secs(20), || {
        !calls_for("broker_gone", "k").is_empty()
    })
    .await;
    drop(s);
    let started = std::time::Instant::now();
    app.shutdown().await;
    let took = started.elapsed();
    // The grace period, 5 s for the final commit and leaving the group, and a margin (closing
    // a consumer whose broker is gone takes librdkafka 10 s).
    assert!(
        took < grace + Duration::from_secs(5) + Duration::from_secs(2),
        "shutdown took {took:?}"
    );
}
