//! `ordering = "key"` with `dlt = "always_retry"`: a dead letter whose DLT handler fails is
//! handed to it again in place, in its key's lane, after one initial backoff delay; the key's
//! later dead letters wait for it, other keys flow, and nothing is re-published to the DLT.

use std::sync::Mutex;
use std::time::Duration;

use retry_runtime::prelude::*;

use crate::support::*;

/// A DLT handler call: the dead letter's key and sequence, whether it succeeded, and when it
/// started and ended.
#[derive(Debug, Clone)]
struct DltCall {
    key: String,
    seq: u32,
    ok: bool,
    started_ms: i64,
    ended_ms: i64,
}

static DLT_CALLS: Mutex<Vec<DltCall>> = Mutex::new(Vec::new());

fn dlt_calls(key: &str) -> Vec<DltCall> {
    let all = DLT_CALLS.lock().unwrap();
    all.iter().filter(|c| c.key == key).cloned().collect()
}

/// Every record fails: with one attempt, each is dead-lettered at once, in its key's order.
#[retryable_topic(
    topic = "ord-dlt",
    ordering = "key",
    concurrency = 8,
    partitions = 1,
    attempts = 1,
    backoff = "1s",
    dlt = "always_retry"
)]
async fn ord_dlt(rec: Record<u32>) -> anyhow::Result<()> {
    anyhow::bail!("record {} rejected", rec.value())
}

/// Key `held`'s dead letter 0 fails twice, then succeeds; every other one succeeds.
#[dlt_handler(topic = "ord-dlt")]
async fn ord_dlt_dlt(rec: DeadLetter<u32>) -> anyhow::Result<()> {
    let started_ms = now_ms();
    let key = rec.key_str().unwrap_or_default().to_owned();
    let seq = *rec.value().expect("a u32");
    tokio::time::sleep(Duration::from_millis(20)).await;
    let tries = dlt_calls(&key).iter().filter(|c| c.seq == seq).count();
    let ok = !(key == "held" && seq == 0 && tries < 2);
    DLT_CALLS.lock().unwrap().push(DltCall {
        key,
        seq,
        ok,
        started_ms,
        ended_ms: now_ms(),
    });
    anyhow::ensure!(ok, "DLT store down");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_dlt_handler_is_retried_in_place_before_its_keys_later_dead_letters() {
    let s = Scenario::start().await;
    let app = s.start_app(&[("ord_dlt", "ord-dlt")]).await;
    for (key, seq) in [("held", 0), ("held", 1), ("free", 0)] {
        s.produce("ord-dlt", key, &seq.to_string()).await;
    }
    eventually(
        "held's dead letters handled",
        Duration::from_secs(30),
        || dlt_calls("held").iter().filter(|c| c.ok).count() == 2,
    )
    .await;
    // Long enough for a re-published copy to reach the handler.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    app.shutdown().await;

    let held = dlt_calls("held");
    let order: Vec<(u32, bool)> = held.iter().map(|c| (c.seq, c.ok)).collect();
    assert_eq!(
        order,
        [(0, false), (0, false), (0, true), (1, true)],
        "dead letter 0 tried in place until it succeeded, then 1"
    );
    for pair in held.windows(2) {
        assert!(
            pair[1].started_ms >= pair[0].ended_ms,
            "held's calls overlap: {held:?}"
        );
    }
    for pair in held[..3].windows(2) {
        assert!(
            pair[1].started_ms >= pair[0].ended_ms + 900,
            "tried again after one backoff delay: {held:?}"
        );
    }
    let free = dlt_calls("free");
    assert_eq!(free.len(), 1, "free's dead letter handled once: {free:?}");
    assert!(
        free[0].ended_ms <= held[2].started_ms,
        "free flowed while held's dead letter waited: {free:?} {held:?}"
    );
    assert_eq!(
        s.read_all("ord-dlt-dlt").await.len(),
        3,
        "nothing re-published to the DLT"
    );
}
