//! A partition reassigned to the same instance while its previous task is still in a handler
//! call: the new task starts only after that call (design/partition-handover.md), so no
//! record is in two handler calls of one instance at once.

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::Duration;

use retry_runtime::prelude::*;

use crate::support::*;

/// How long the first record of each partition keeps its handler busy: long enough for a
/// second instance to join and the group to rebalance meanwhile.
const SLOW: Duration = Duration::from_secs(4);

/// Records in a handler call now, by instance, partition and offset.
static IN_CALL: Mutex<Vec<(&str, i32, i64)>> = Mutex::new(Vec::new());

/// Handler calls that found their record already in a call of the same instance.
static OVERLAPS: Mutex<Vec<(&str, i32, i64)>> = Mutex::new(Vec::new());

#[retryable_topic(topic = "handover", attempts = 2, backoff = "1s", concurrency = 4)]
async fn handover_a(rec: Record<Bytes>) -> anyhow::Result<()> {
    handle("handover_a", &rec).await
}

/// A second instance of the same listener (same topic and group).
#[retryable_topic(topic = "handover", attempts = 2, backoff = "1s", concurrency = 4)]
async fn handover_b(rec: Record<Bytes>) -> anyhow::Result<()> {
    handle("handover_b", &rec).await
}

async fn handle(instance: &'static str, rec: &Record<Bytes>) -> anyhow::Result<()> {
    record_call(instance, rec);
    let call = (instance, rec.partition, rec.offset);
    {
        let mut in_call = IN_CALL.lock().unwrap();
        if in_call.contains(&call) {
            OVERLAPS.lock().unwrap().push(call);
        }
        in_call.push(call);
    }
    if rec.key_str().is_some_and(|k| k.starts_with("slow-")) {
        tokio::time::sleep(SLOW).await;
    }
    let mut in_call = IN_CALL.lock().unwrap();
    let at = in_call.iter().position(|c| *c == call).expect("entered");
    in_call.swap_remove(at);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reassigned_partition_waits_for_the_handler_call_of_its_previous_task() {
    let s = Scenario::start().await;
    s.kafka.create_topic(&s.topic("handover"), 2).await.unwrap();
    let group = s.topic("handover_a");
    let same_group = [("RETRY_HANDOVER_B_GROUP", group.as_str())];
    // Eager rebalancing (librdkafka's default): every rebalance revokes every partition and
    // assigns again, so instance A gets one of its two busy partitions back at once.
    let a = s.start_app(&[("handover_a", "handover")]).await;
    for partition in 0..2 {
        let key = format!("slow-{partition}");
        s.kafka
            .produce_to(&s.topic("handover"), Some(partition), Some(&key), b"x")
            .await
            .unwrap();
    }
    eventually("A is in both slow calls", Duration::from_secs(10), || {
        IN_CALL.lock().unwrap().len() == 2
    })
    .await;
    let b = s
        .start_app_with(&[("handover_b", "handover")], &same_group)
        .await;
    for partition in 0..2 {
        let key = format!("after-{partition}");
        s.kafka
            .produce_to(&s.topic("handover"), Some(partition), Some(&key), b"x")
            .await
            .unwrap();
    }
    let handled = |key: &str| {
        !calls_for("handover_a", key).is_empty() || !calls_for("handover_b", key).is_empty()
    };
    eventually("every record handled", Duration::from_secs(30), || {
        ["slow-0", "slow-1", "after-0", "after-1"]
            .iter()
            .all(|key| handled(key))
    })
    .await;
    // The slow records handed over are handled again by their new task (at-least-once): wait
    // for those calls to end too.
    eventually("no handler call left", Duration::from_secs(20), || {
        IN_CALL.lock().unwrap().is_empty()
    })
    .await;
    let again: HashSet<_> = calls("handover_a")
        .iter()
        .map(|c| c.key.clone())
        .filter(|k| calls_for("handover_a", k).len() > 1)
        .collect();
    assert_eq!(
        OVERLAPS.lock().unwrap().as_slice(),
        &[],
        "records in two handler calls of one instance at once (A handled again: {again:?})"
    );
    a.shutdown().await;
    b.shutdown().await;
}
