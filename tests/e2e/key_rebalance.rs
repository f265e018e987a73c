//! `ordering = "key"` while instances join and leave under cooperative rebalancing: every
//! key's records succeed in offset order, none starts before the key's earlier records
//! succeeded or were dead-lettered, calls of one key never overlap across instances, and
//! nothing is lost.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use retry_runtime::prelude::*;

use crate::support::*;

const PARTITIONS: i32 = 4;
const KEYS: u32 = 12;
const SEQS: u32 = 12;

/// Cooperative rebalancing, as many production consumers configure it.
const COOPERATIVE: &[(&str, &str)] = &[
    ("partition.assignment.strategy", "cooperative-sticky"),
    ("session.timeout.ms", "6000"),
];

/// One handler call, by either instance.
#[derive(Debug, Clone)]
struct Call {
    instance: &'static str,
    key: String,
    seq: u32,
    attempt: u32,
    ok: bool,
    started_ms: i64,
    ended_ms: i64,
}

static JOURNAL: Mutex<Vec<Call>> = Mutex::new(Vec::new());

/// Instance A.
#[retryable_topic(
    topic = "key-rebal",
    ordering = "key",
    concurrency = 16,
    partitions = 4,
    attempts = 3,
    backoff = "300ms"
)]
async fn kr_a(rec: Record<u32>) -> anyhow::Result<()> {
    handle("a", &rec).await
}

/// Instance B: the same listener, another name.
#[retryable_topic(
    topic = "key-rebal",
    ordering = "key",
    concurrency = 16,
    partitions = 4,
    attempts = 3,
    backoff = "300ms"
)]
async fn kr_b(rec: Record<u32>) -> anyhow::Result<()> {
    handle("b", &rec).await
}

/// Every fourth record fails its first attempt; `k7`'s record 2 always fails.
async fn handle(instance: &'static str, rec: &Record<u32>) -> anyhow::Result<()> {
    let started_ms = now_ms();
    let key = rec.key_str().unwrap_or_default().to_owned();
    let seq = *rec.value();
    tokio::time::sleep(Duration::from_millis(30)).await;
    let ok = !(key == "k7" && seq == 2) && (seq % 4 != 1 || rec.attempt > 1);
    JOURNAL.lock().unwrap().push(Call {
        instance,
        key,
        seq,
        attempt: rec.attempt,
        ok,
        started_ms,
        ended_ms: now_ms(),
    });
    anyhow::ensure!(ok, "not this time");
    Ok(())
}

fn resolved(journal: &[Call]) -> usize {
    let mut done: Vec<(&str, u32)> = journal
        .iter()
        .filter(|c| c.ok || c.attempt == 3)
        .map(|c| (c.key.as_str(), c.seq))
        .collect();
    done.sort_unstable();
    done.dedup();
    done.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_order_holds_while_instances_join_and_leave() {
    let s = Scenario::start().await;
    s.kafka
        .create_topic(&s.topic("key-rebal"), PARTITIONS)
        .await
        .unwrap();
    let group = s.topic("kr_a");
    let same_group = [("RETRY_KR_B_GROUP", group.as_str())];
    let start_a = || s.start_app_configured(&[("kr_a", "key-rebal")], &[], COOPERATIVE);
    let start_b = || s.start_app_configured(&[("kr_b", "key-rebal")], &same_group, COOPERATIVE);
    let mut a = Some(start_a().await);
    let mut b = None;
    for seq in 0..SEQS {
        for k in 0..KEYS {
            s.produce("key-rebal", &format!("k{k}"), &seq.to_string())
                .await;
        }
        match seq {
            3 => b = Some(start_b().await),
            6 => a.take().unwrap().shutdown().await,
            9 => a = Some(start_a().await),
            _ => {}
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    let total = (KEYS * SEQS) as usize;
    eventually("every record resolved", Duration::from_secs(60), || {
        resolved(&JOURNAL.lock().unwrap()) == total
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    for app in [a, b].into_iter().flatten() {
        app.shutdown().await;
    }

    let journal = JOURNAL.lock().unwrap().clone();
    for instance in ["a", "b"] {
        assert!(
            journal.iter().any(|c| c.instance == instance),
            "instance {instance} handled records"
        );
    }
    let mut by_key: HashMap<&str, Vec<&Call>> = HashMap::new();
    for call in &journal {
        by_key.entry(call.key.as_str()).or_default().push(call);
    }
    let mut duplicates = 0;
    for (key, mut calls) in by_key {
        calls.sort_by_key(|c| c.started_ms);
        for pair in calls.windows(2) {
            assert!(
                pair[1].started_ms >= pair[0].ended_ms,
                "{key}: calls overlap: {:?}",
                pair
            );
        }
        for call in &calls {
            let earlier_unresolved = calls
                .iter()
                .filter(|c| c.seq < call.seq)
                .all(|c| !(c.ok || c.attempt == 3) || c.ended_ms <= call.started_ms);
            let resolved_before = (0..call.seq).all(|seq| {
                calls.iter().any(|c| {
                    c.seq == seq && (c.ok || c.attempt == 3) && c.ended_ms <= call.started_ms
                })
            });
            assert!(
                earlier_unresolved && resolved_before,
                "{key}: record {} started before its key's earlier records were resolved: {calls:?}",
                call.seq
            );
        }
        let successes: Vec<u32> = calls.iter().filter(|c| c.ok).map(|c| c.seq).collect();
        assert!(
            successes.windows(2).all(|w| w[0] <= w[1]),
            "{key}: successes out of order: {successes:?}"
        );
        duplicates += successes.len() - {
            let mut unique = successes.clone();
            unique.dedup();
            unique.len()
        };
    }
    eprintln!(
        "key-order rebalance: {} calls, {duplicates} duplicate successes",
        journal.len()
    );
    let dlt = s.read_all("key-rebal-dlt").await;
    assert_eq!(dlt.len(), 1, "k7's record 2 dead-lettered once");
}
