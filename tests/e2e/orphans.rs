//! A changed retry chain: records waiting in retry topics the new chain no longer has are
//! still handled, and continue on the new chain.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use retry_runtime::core::headers;
use retry_runtime::prelude::*;

use crate::support::*;

/// Whether retries may succeed: not while the first chain runs.
static RETRIES_SUCCEED: AtomicBool = AtomicBool::new(false);

/// Every delivery fails until retries may succeed; then a retry succeeds, except that
/// `again` needs a third delivery.
#[retryable_topic(topic = "orphan-drain", attempts = 3, backoff = "1s*2")]
async fn orphan_drain(rec: Record<Bytes>) -> anyhow::Result<()> {
    record_call("orphan_drain", &rec);
    let needed = if rec.key_str() == Some("again") { 3 } else { 2 };
    anyhow::ensure!(
        RETRIES_SUCCEED.load(Ordering::SeqCst) && rec.attempt >= needed,
        "not yet"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_left_in_a_retry_topic_of_the_old_chain_are_handled_on_the_new_one() {
    let s = Scenario::start().await;
    let listeners = [("orphan_drain", "orphan-drain")];
    let keys = ["k0", "k1", "k2", "k3", "again"];

    // The first chain, backoff 1s*2: orphan-drain-retry-1000, -retry-2000.
    let first = s.start_app(&listeners).await;
    // One record handled from -retry-1000 (and failed on to -retry-2000): the group has
    // committed on it, so it is the listener's own when it is orphaned.
    s.produce("orphan-drain", "early", "x").await;
    eventually(
        "a record handled from -retry-1000",
        Duration::from_secs(20),
        || calls_for("orphan_drain", "early").len() >= 2,
    )
    .await;
    for key in keys {
        s.produce("orphan-drain", key, "x").await;
    }
    // Stopped as soon as every record failed once, well before its retry is due (1 s):
    // shutdown waits for their forwards to orphan-drain-retry-1000, not for their retries.
    eventually("every record failed once", Duration::from_secs(20), || {
        keys.iter()
            .all(|key| !calls_for("orphan_drain", key).is_empty())
    })
    .await;
    first.shutdown().await;
    assert_eq!(
        s.read_all("orphan-drain-retry-1000").await.len(),
        keys.len() + 1,
        "the early record and every key's"
    );

    // The chain changed without a rebuild: -retry-2000 and -retry-4000 now.
    RETRIES_SUCCEED.store(true, Ordering::SeqCst);
    let before = calls("orphan_drain").len();
    let changed = [("RETRY_ORPHAN_DRAIN_BACKOFF", "2s*2")];
    let second = s.start_app_with(&listeners, &changed).await;
    let old = s.topic("orphan-drain-retry-1000");
    assert!(
        second.topics().contains(&old),
        "the old retry topic is consumed: {:?}",
        second.topics()
    );
    let succeeded = |key: &str| {
        calls("orphan_drain")[before..]
            .iter()
            .any(|c| c.key == key && c.attempt >= if key == "again" { 3 } else { 2 })
    };
    eventually(
        "every record handled after the change",
        Duration::from_secs(30),
        || keys.iter().all(|key| succeeded(key)),
    )
    .await;
    second.shutdown().await;

    let after: Vec<Call> = calls("orphan_drain")[before..].to_vec();
    assert!(
        after.iter().any(|c| c.topic == old && c.attempt == 2),
        "records waiting in the old topic were handled from it: {after:?}"
    );
    let again: Vec<(&str, u32)> = after
        .iter()
        .filter(|c| c.key == "again")
        .map(|c| (c.topic.as_str(), c.attempt))
        .collect();
    assert_eq!(
        again,
        [
            (old.as_str(), 2),
            (s.topic("orphan-drain-retry-4000").as_str(), 3)
        ],
        "a failure in the old topic continues on the new chain's next retry topic"
    );
    assert!(s.read_all("orphan-drain-dlt").await.is_empty());

    // Drained and committed: the next start still consumes the empty old topic (an old
    // instance may still forward into it) and handles nothing from it twice.
    let handled = calls("orphan_drain").len();
    let third = s.start_app_with(&listeners, &changed).await;
    assert!(
        third.topics().contains(&old),
        "an empty orphan is consumed too: {:?}",
        third.topics()
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    third.shutdown().await;
    assert_eq!(
        calls("orphan_drain").len(),
        handled,
        "committed: not redelivered"
    );
}

/// Fails each record's first delivery; its retry succeeds.
#[retryable_topic(topic = "orphan-waiting", attempts = 3, backoff = "3s*2")]
async fn orphan_waiting(rec: Record<Bytes>) -> anyhow::Result<()> {
    record_call("orphan_waiting", &rec);
    anyhow::ensure!(rec.attempt >= 2, "first delivery fails");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_still_waiting_for_their_first_retry_are_handled_after_the_change() {
    let s = Scenario::start().await;
    let listeners = [("orphan_waiting", "orphan-waiting")];
    let keys = ["k0", "k1", "k2"];
    let old = s.topic("orphan-waiting-retry-3000");

    // The first chain, backoff 3s*2: every record fails once and waits in -retry-3000; the
    // app stops before any is due, so that topic's group never commits on it.
    let first = s.start_app(&listeners).await;
    for key in keys {
        s.produce("orphan-waiting", key, "x").await;
    }
    s.read_n("orphan-waiting-retry-3000", keys.len()).await;
    first.shutdown().await;
    assert!(
        calls("orphan_waiting").iter().all(|c| c.attempt == 1),
        "no retry handled before the change: {:?}",
        calls("orphan_waiting")
    );
    // A topic named like one of the chain that another service's group forwarded to: not
    // this listener's, whatever it holds.
    let foreign = s.topic("orphan-waiting-retry-8000");
    s.kafka.create_topic(&foreign, 1).await.unwrap();
    s.produce_with_headers(
        "orphan-waiting-retry-8000",
        "theirs",
        b"x",
        &[(
            headers::ORIGINAL_CONSUMER_GROUP,
            s.topic("shipping").into_bytes(),
        )],
    )
    .await;

    // The chain changed without a rebuild: -retry-1000 and -retry-2000 now.
    let changed = [("RETRY_ORPHAN_WAITING_BACKOFF", "1s*2")];
    let second = s.start_app_with(&listeners, &changed).await;
    assert!(
        second.topics().contains(&old),
        "the old retry topic its records wait in is consumed: {:?}",
        second.topics()
    );
    assert!(
        !second.topics().contains(&foreign),
        "another service's topic is left alone: {:?}",
        second.topics()
    );
    eventually(
        "every record retried from the old topic",
        Duration::from_secs(30),
        || {
            keys.iter().all(|key| {
                calls_for("orphan_waiting", key)
                    .iter()
                    .any(|c| c.attempt == 2 && c.topic == old)
            })
        },
    )
    .await;
    second.shutdown().await;
    assert!(calls_for("orphan_waiting", "theirs").is_empty());
    assert!(s.read_all("orphan-waiting-dlt").await.is_empty());
}

/// Handled at once; its DLT handler fails `flaky` the first time.
#[retryable_topic(topic = "orphan-dead", attempts = 2)]
async fn orphan_dead(rec: Record<Bytes>) -> anyhow::Result<()> {
    record_call("orphan_dead", &rec);
    Ok(())
}

#[dlt_handler(topic = "orphan-dead")]
async fn orphan_dead_dlt(rec: DeadLetter<Bytes>) -> anyhow::Result<()> {
    record_call("orphan_dead_dlt", &rec);
    let key = rec.key_str().unwrap_or_default();
    anyhow::ensure!(
        key != "flaky" || calls_for("orphan_dead_dlt", key).len() > 1,
        "DLT store down"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letters_of_a_removed_route_go_to_the_dlt_handler() {
    let s = Scenario::start().await;
    // A DLT routing `-validation` errors that the listener no longer has.
    let old = s.topic("orphan-dead-validation-dlt");
    s.kafka
        .create_topic(&s.topic("orphan-dead"), 1)
        .await
        .unwrap();
    s.kafka.create_topic(&old, 1).await.unwrap();
    // The listener's group consumed the route DLT while the route existed: it committed on
    // it, so the topic is its own.
    let group = format!("{}orphan_dead-validation-dlt", s.prefix());
    commit_start(&s, &group, &old).await;
    for key in ["calm", "flaky"] {
        s.produce("orphan-dead-validation-dlt", key, "x").await;
    }
    let app = s.start_app(&[("orphan_dead", "orphan-dead")]).await;
    assert!(app.topics().contains(&old), "{:?}", app.topics());
    eventually("both dead letters handled", Duration::from_secs(20), || {
        calls_for("orphan_dead_dlt", "calm").len() == 1
            && calls_for("orphan_dead_dlt", "flaky").len() == 2
    })
    .await;
    app.shutdown().await;
    let flaky: Vec<String> = calls_for("orphan_dead_dlt", "flaky")
        .into_iter()
        .map(|c| c.topic)
        .collect();
    assert_eq!(
        flaky,
        [old.clone(), s.topic("orphan-dead-dlt")],
        "a dead letter that failed its handler is re-published to the current DLT"
    );
    assert_eq!(calls_for("orphan_dead_dlt", "calm")[0].topic, old);
    assert!(calls("orphan_dead").is_empty());
}

/// Commits offset 0 of `topic`'s partition 0 for `group`, as a group that consumed it.
async fn commit_start(s: &Scenario, group: &str, topic: &str) {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", s.kafka.bootstrap_servers())
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let mut offsets = TopicPartitionList::new();
    offsets
        .add_partition_offset(topic, 0, Offset::Offset(0))
        .expect("offset");
    tokio::task::spawn_blocking(move || consumer.commit(&offsets, CommitMode::Sync))
        .await
        .unwrap()
        .expect("commit");
}
