//! Restarts, graceful shutdown and several instances: nothing lost, nothing redone needlessly.

use std::time::Duration;

use retry_runtime::prelude::*;

use crate::support::*;

/// Fails the first delivery of each record; later deliveries succeed.
#[retryable_topic(topic = "life-restart", attempts = 3, backoff = "2s")]
async fn life_restart(rec: Record<Bytes>) -> anyhow::Result<()> {
    record_call("life_restart", &rec);
    anyhow::ensure!(rec.attempt > 1, "first delivery fails");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_while_records_wait_in_a_retry_topic_loses_nothing() {
    let s = Scenario::start().await;
    let listeners = [("life_restart", "life-restart")];
    let first = s.start_app(&listeners).await;
    for i in 0..5 {
        s.produce("life-restart", &format!("r{i}"), "x").await;
    }
    s.read_n("life-restart-retry", 5).await;
    first.shutdown().await;
    assert!(
        (0..5).all(|i| calls_for("life_restart", &format!("r{i}")).len() == 1),
        "stopped while all five waited: {:?}",
        calls("life_restart")
            .iter()
            .map(|c| (&c.key, &c.topic, c.attempt, c.at_ms))
            .collect::<Vec<_>>()
    );

    let second = s.start_app(&listeners).await;
    eventually(
        "every record handled on its retry",
        Duration::from_secs(20),
        || {
            (0..5).all(|i| {
                calls_for("life_restart", &format!("r{i}"))
                    .iter()
                    .any(|c| c.attempt == 2)
            })
        },
    )
    .await;
    second.shutdown().await;
    assert!(s.read_all("life-restart-dlt").await.is_empty());
    for i in 0..5 {
        let attempts: Vec<u32> = calls_for("life_restart", &format!("r{i}"))
            .iter()
            .map(|c| c.attempt)
            .collect();
        assert_eq!(
            attempts,
            [1, 2],
            "r{i}: failed once, retried once, after the restart"
        );
    }
}

#[retryable_topic(topic = "life-commit")]
async fn life_commit(rec: Record<Bytes>) -> anyhow::Result<()> {
    record_call("life_commit", &rec);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_commits_so_a_restart_does_not_redeliver() {
    let s = Scenario::start().await;
    let listeners = [("life_commit", "life-commit")];
    let first = s.start_app(&listeners).await;
    for i in 0..10 {
        s.produce("life-commit", &format!("c{i}"), "x").await;
    }
    eventually("ten handled", Duration::from_secs(20), || {
        calls("life_commit").len() >= 10
    })
    .await;
    first.shutdown().await;

    let second = s.start_app(&listeners).await;
    s.produce("life-commit", "after", "x").await;
    eventually("the new record handled", Duration::from_secs(20), || {
        !calls_for("life_commit", "after").is_empty()
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    second.shutdown().await;
    assert_eq!(
        calls("life_commit").len(),
        11,
        "nothing handled twice: {:?}",
        calls("life_commit")
            .iter()
            .map(|c| &c.key)
            .collect::<Vec<_>>()
    );
}

#[retryable_topic(topic = "life-shared", attempts = 2, backoff = "100ms")]
async fn life_shared(rec: Record<Bytes>) -> anyhow::Result<()> {
    record_call("life_shared", &rec);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_in_one_group_share_the_partitions() {
    let s = Scenario::start().await;
    s.kafka
        .create_topic(&s.topic("life-shared"), 4)
        .await
        .unwrap();
    let listeners = [("life_shared", "life-shared")];
    let one = s.start_app(&listeners).await;
    let existing = s.kafka.topics().await.unwrap();
    assert_eq!(
        existing.get(&s.topic("life-shared-retry")),
        Some(&4),
        "retry topic created with the main topic's partitions"
    );
    // `ready` means every consumer of the instance has partitions: with four partitions and
    // two members, both being ready means the group split them.
    let two = s.start_app(&listeners).await;
    tokio::time::timeout(Duration::from_secs(30), one.ready())
        .await
        .expect("first instance keeps partitions");
    for i in 0..40 {
        s.kafka
            .produce_to(
                &s.topic("life-shared"),
                Some(i % 4),
                Some(&format!("s{i}")),
                b"x",
            )
            .await
            .unwrap();
    }
    eventually("all forty handled", Duration::from_secs(30), || {
        (0..40).all(|i| !calls_for("life_shared", &format!("s{i}")).is_empty())
    })
    .await;
    one.shutdown().await;
    two.shutdown().await;
}

/// Never returns for key `hang`; handles everything else.
#[retryable_topic(topic = "life-hang")]
async fn life_hang(rec: Record<Bytes>) -> anyhow::Result<()> {
    record_call("life_hang", &rec);
    if rec.key_str() == Some("hang") {
        std::future::pending::<()>().await;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_handler_does_not_hold_shutdown_past_the_grace_period() {
    let s = Scenario::start().await;
    let listeners = [("life_hang", "life-hang")];
    let app = s.start_app(&listeners).await;
    s.produce("life-hang", "hang", "x").await;
    eventually("the handler hangs", Duration::from_secs(10), || {
        !calls_for("life_hang", "hang").is_empty()
    })
    .await;
    // The scenario's grace period is 5 s; closing the consumers takes a moment more.
    let started = std::time::Instant::now();
    tokio::time::timeout(Duration::from_secs(15), app.shutdown())
        .await
        .expect("shutdown ends after the grace period despite the hung handler");
    assert!(
        started.elapsed() >= Duration::from_secs(4),
        "the handler got its grace period"
    );

    // Abandoned uncommitted: the next instance gets the record again.
    let again = s.start_app(&listeners).await;
    eventually(
        "the hung record redelivered",
        Duration::from_secs(20),
        || calls_for("life_hang", "hang").len() >= 2,
    )
    .await;
    tokio::time::timeout(Duration::from_secs(15), again.shutdown())
        .await
        .expect("second shutdown ends too");
}

/// Fails each record's first delivery; its retry is due an hour later.
#[retryable_topic(topic = "life-panic", attempts = 2, backoff = "1h")]
async fn life_panic(rec: Record<Bytes>) -> anyhow::Result<()> {
    record_call("life_panic", &rec);
    anyhow::bail!("waits an hour for its retry")
}

/// A test that fails while its app runs, a record waiting in a retry topic, ends promptly:
/// the app is shut down before the scenario's broker stops, not closed when the test's
/// runtime drops its tasks, against a broker that is gone. Run as `#[tokio::test]` runs a
/// test, with the runtime dropped inside the measured time.
#[test]
#[should_panic(expected = "failed on purpose")]
fn a_test_that_fails_inside_a_scenario_ends_promptly() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let failed_at = std::sync::Mutex::new(None);
    let failed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        runtime.block_on(async {
            let s = Scenario::start().await;
            let _app = s.start_app(&[("life_panic", "life-panic")]).await;
            s.produce("life-panic", "k", "x").await;
            s.read_n("life-panic-retry", 1).await;
            *failed_at.lock().unwrap() = Some(std::time::Instant::now());
            panic!("failed on purpose");
        })
    }))
    .expect_err("the test fails");
    drop(runtime);
    let took = failed_at.lock().unwrap().expect("failed inside").elapsed();
    assert!(
        took < Duration::from_secs(5),
        "the failed test took {took:?} to end"
    );
    std::panic::resume_unwind(failed);
}
