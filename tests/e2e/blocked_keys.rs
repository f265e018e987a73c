//! `ordering = "key"` with the lock log: a key whose record
//! waits for a retry is blocked; its later records wait in the parked topic, in order, until
//! the waiting record succeeded or reached the DLT, also across a restart. Other keys flow.

use std::sync::Mutex;
use std::time::Duration;

use retry_runtime::prelude::*;
use retry_runtime::testing::ReadRecord;

use crate::support::*;

/// A handler call: the record's key, sequence and attempt, whether it succeeded, and when it
/// started and ended.
#[derive(Debug, Clone)]
struct Handling {
    key: String,
    seq: u32,
    attempt: u32,
    ok: bool,
    started_ms: i64,
    ended_ms: i64,
}

static HANDLINGS: Mutex<Vec<Handling>> = Mutex::new(Vec::new());

/// Notes a handler call that started at `started_ms` and ends now; fails it unless `ok`.
fn note(key: String, seq: u32, attempt: u32, ok: bool, started_ms: i64) -> anyhow::Result<()> {
    HANDLINGS.lock().unwrap().push(Handling {
        key,
        seq,
        attempt,
        ok,
        started_ms,
        ended_ms: now_ms(),
    });
    anyhow::ensure!(ok, "not yet");
    Ok(())
}

fn handlings(key: &str) -> Vec<Handling> {
    let all = HANDLINGS.lock().unwrap();
    all.iter().filter(|h| h.key == key).cloned().collect()
}

/// Key `slow`'s record 0 fails twice, then succeeds; key `doomed`'s record 0 always fails
/// (dead-lettered after 3 attempts); every other record succeeds.
#[retryable_topic(
    topic = "ord-block",
    ordering = "key",
    concurrency = 8,
    partitions = 1,
    attempts = 3,
    backoff = "1s"
)]
async fn ord_block(rec: Record<u32>) -> anyhow::Result<()> {
    let started_ms = now_ms();
    let key = rec.key_str().unwrap_or_default().to_owned();
    let seq = *rec.value();
    tokio::time::sleep(Duration::from_millis(20)).await;
    let ok = match (key.as_str(), seq) {
        ("slow", 0) => rec.attempt >= 3,
        ("doomed", 0) => false,
        _ => true,
    };
    note(key, seq, rec.attempt, ok, started_ms)
}

/// The sequences of `key`'s successful handlings, in order.
fn succeeded(key: &str) -> Vec<u32> {
    handlings(key)
        .iter()
        .filter(|h| h.ok)
        .map(|h| h.seq)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_waiting_for_a_retry_is_blocked_and_other_keys_flow() {
    let s = Scenario::start().await;
    let listeners = [("ord_block", "ord-block")];
    let app = s.start_app(&listeners).await;
    for seq in 0..3 {
        for key in ["slow", "doomed", "free"] {
            s.produce("ord-block", key, &seq.to_string()).await;
        }
    }
    eventually("free's records handled", Duration::from_secs(20), || {
        succeeded("free").len() == 3
    })
    .await;
    assert!(
        succeeded("slow").is_empty() && succeeded("doomed").is_empty(),
        "free flowed while the others wait: {:?}",
        HANDLINGS.lock().unwrap()
    );
    // Restart while both keys are blocked: their later records stay parked, and one more
    // record of `slow` joins them.
    // Their later records parked: every main record is finished, so the restart reads none
    // again (records finished behind an unfinished one are read again until the commit
    // carries them).
    let parked = s.read_n("ord-block-retry-parked", 4).await;
    assert_eq!(
        parked.len(),
        4,
        "slow's and doomed's records 1 and 2 parked"
    );
    app.shutdown().await;
    s.produce("ord-block", "slow", "3").await;
    let app = s.start_app(&listeners).await;
    eventually("slow and doomed resolved", Duration::from_secs(40), || {
        succeeded("slow").len() == 4 && succeeded("doomed").len() == 2
    })
    .await;
    // Every key resolved below the floor leaves the log: each entry of a key gets a
    // tombstone after it (the floor's entry, keyed `F`, stays).
    let mut untombstoned = Vec::new();
    for _ in 0..100 {
        let log = s.read_all("ord-block-retry-locks").await;
        let entries: Vec<&[u8]> = log
            .iter()
            .filter(|r| r.value.is_some() && r.key.as_deref().is_some_and(|k| k.len() > 2))
            .filter_map(|r| r.key.as_deref())
            .collect();
        assert!(!entries.is_empty(), "the lock log held the chain");
        untombstoned = entries
            .into_iter()
            .filter(|key| {
                !log.iter()
                    .any(|r| r.value.is_none() && r.key.as_deref() == Some(*key))
            })
            .map(<[u8]>::to_vec)
            .collect();
        if untombstoned.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        untombstoned.is_empty(),
        "entries left without a tombstone: {untombstoned:?}"
    );
    app.shutdown().await;

    assert_eq!(succeeded("free"), [0, 1, 2]);
    assert_eq!(succeeded("slow"), [0, 1, 2, 3], "in offset order");
    assert_eq!(succeeded("doomed"), [1, 2], "after 0 was dead-lettered");
    for key in ["slow", "doomed"] {
        let of_key = handlings(key);
        let head_done = of_key
            .iter()
            .filter(|h| h.seq == 0)
            .map(|h| h.ended_ms)
            .max()
            .unwrap();
        let head_attempts: Vec<u32> = of_key
            .iter()
            .filter(|h| h.seq == 0)
            .map(|h| h.attempt)
            .collect();
        assert_eq!(head_attempts, [1, 2, 3], "{key}: its head's attempts");
        for later in of_key.iter().filter(|h| h.seq > 0) {
            assert!(
                later.started_ms >= head_done && later.attempt == 1,
                "{key}: record {} started before its head was resolved: {of_key:?}",
                later.seq
            );
        }
        assert_eq!(
            of_key.iter().filter(|h| h.seq > 0).count(),
            of_key.iter().filter(|h| h.seq > 0 && h.ok).count(),
            "{key}: every later record handled once: {of_key:?}"
        );
    }
    let dlt = s.read_n("ord-block-dlt", 1).await;
    assert_eq!(dlt.len(), 1);
    assert_eq!(dlt[0].key.as_deref(), Some(&b"doomed"[..]));
    let parked = s.read_all("ord-block-retry-parked").await;
    let parked_keys: Vec<(String, String)> = parked
        .iter()
        .map(|r| {
            let key = String::from_utf8_lossy(r.key.as_deref().unwrap_or_default());
            let value = String::from_utf8_lossy(r.value.as_deref().unwrap_or_default());
            (key.into_owned(), value.into_owned())
        })
        .collect();
    // Each key's parked records in its order (keys park side by side, in any order).
    for (key, values) in [
        ("slow", ["1", "2", "3"].as_slice()),
        ("doomed", &["1", "2"]),
    ] {
        let of_key: Vec<&str> = parked_keys
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect();
        assert_eq!(of_key, values, "{key}'s records were parked in order");
    }
    assert_eq!(
        parked_keys.len(),
        5,
        "only blocked keys' records: {parked_keys:?}"
    );
    for record in &parked {
        assert_eq!(header_str(record, "retry_topic-key-lock"), "1");
        assert_eq!(
            header_str(record, "kafka_original-topic"),
            s.topic("ord-block")
        );
    }
}

/// Counts its calls; every record succeeds.
#[retryable_topic(
    topic = "ord-floor",
    ordering = "key",
    partitions = 1,
    attempts = 2,
    backoff = "200ms"
)]
async fn ord_floor(rec: Record<u32>) -> anyhow::Result<()> {
    record_call("ord_floor", &rec);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copy_whose_chain_entry_never_came_is_skipped_once_the_floor_passes_its_record() {
    let s = Scenario::start().await;
    let app = s.start_app(&[("ord_floor", "ord-floor")]).await;
    s.produce("ord-floor", "k", "0").await;
    eventually("the main record handled", Duration::from_secs(20), || {
        calls("ord_floor").len() == 1
    })
    .await;
    // A copy of main record 0 as a forward that crashed before its chain entry leaves it.
    let headers = [
        ("kafka_original-topic", s.topic("ord-floor").into_bytes()),
        ("kafka_original-partition", 0i32.to_be_bytes().to_vec()),
        ("kafka_original-offset", 0i64.to_be_bytes().to_vec()),
        ("retry_topic-attempts", 2i32.to_be_bytes().to_vec()),
        (
            "retry_topic-backoff-timestamp",
            now_ms().to_be_bytes().to_vec(),
        ),
        ("retry_topic-key-lock", b"1".to_vec()),
    ];
    s.produce_with_headers("ord-floor-retry", "k", b"0", &headers)
        .await;
    let mut committed = None;
    for _ in 0..100 {
        committed = s.committed("ord_floor-retry", "ord-floor-retry", 0).await;
        if committed == Some(1) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    app.shutdown().await;
    assert_eq!(
        committed,
        Some(1),
        "the retry partition committed past the copy"
    );
    let calls = calls("ord_floor");
    assert_eq!(calls.len(), 1, "the copy was not handled: {calls:?}");
}

/// Record 0 (key `slow`) awaits 5 s the first time; the others succeed at once.
#[retryable_topic(topic = "ord-meta", ordering = "key", concurrency = 8, partitions = 1)]
async fn ord_meta(rec: Record<u32>) -> anyhow::Result<()> {
    record_call("ord_meta", &rec);
    if rec.key_str() == Some("slow") && calls_for("ord_meta", "slow").len() == 1 {
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commits_list_the_records_finished_above_them_and_a_new_owner_skips_those() {
    if std::env::var("KAFKA_BOOTSTRAP_SERVERS").is_err() {
        return; // the embedded broker answers every commit's metadata with an empty string
    }
    let s = Scenario::start().await;
    s.kafka.create_topic(&s.topic("ord-meta"), 1).await.unwrap();
    // A commit left by an earlier owner: 0 unfinished, 1 to 3 finished (kr1: 1 not listed,
    // 3 finished).
    s.produce("ord-meta", "slow", "0").await;
    for k in 1..=10 {
        s.produce("ord-meta", &format!("k{k}"), &k.to_string())
            .await;
    }
    s.commit_with_metadata("ord_meta", "ord-meta", 0, 0, "kr1:1.3")
        .await;
    let app = s.start_app(&[("ord_meta", "ord-meta")]).await;
    // While 0 is in its handler, the commit stays at 0 and lists everything after it.
    let mut committed = None;
    for _ in 0..100 {
        committed = s.committed_with_metadata("ord_meta", "ord-meta", 0).await;
        if committed.as_ref().is_some_and(|(_, m)| m == "kr1:1.a") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        committed,
        Some((0, "kr1:1.a".to_string())),
        "committed at the unfinished record, 1 to 10 finished"
    );
    eventually("slow handled", Duration::from_secs(20), || {
        !calls_for("ord_meta", "slow").is_empty()
    })
    .await;
    app.shutdown().await;
    for k in 1..=3 {
        assert!(
            calls_for("ord_meta", &format!("k{k}")).is_empty(),
            "k{k} was finished by the earlier owner"
        );
    }
    for k in 4..=10 {
        assert_eq!(calls_for("ord_meta", &format!("k{k}")).len(), 1, "k{k}");
    }
    let committed = s.committed_with_metadata("ord_meta", "ord-meta", 0).await;
    assert_eq!(committed.map(|(o, _)| o), Some(11), "committed past all");
}

/// Key `bound-held`'s record 0 fails once, then succeeds on its retry, 2 s later.
#[retryable_topic(
    topic = "ord-bound",
    ordering = "key",
    concurrency = 8,
    partitions = 1,
    attempts = 2,
    backoff = "2s",
    max_parked = 2
)]
async fn ord_bound(rec: Record<u32>) -> anyhow::Result<()> {
    let started_ms = now_ms();
    let key = rec.key_str().unwrap_or_default().to_owned();
    let seq = *rec.value();
    let ok = !(key == "bound-held" && seq == 0 && rec.attempt == 1);
    note(key, seq, rec.attempt, ok, started_ms)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partition_whose_chain_reached_max_parked_reads_on_only_as_its_keys_resolve() {
    let s = Scenario::start().await;
    let app = s.start_app(&[("ord_bound", "ord-bound")]).await;
    s.produce("ord-bound", "bound-held", "0").await;
    s.produce("ord-bound", "bound-held", "1").await;
    // A head and a parked record: the chain holds `max_parked` records.
    let parked = s.read_n("ord-bound-retry-parked", 1).await;
    assert_eq!(parked.len(), 1, "bound-held's record 1 parked");
    s.produce("ord-bound", "bound-free", "0").await;
    eventually("every record handled", Duration::from_secs(30), || {
        succeeded("bound-held").len() == 2 && succeeded("bound-free").len() == 1
    })
    .await;
    app.shutdown().await;
    let retried = handlings("bound-held")
        .into_iter()
        .find(|h| h.seq == 0 && h.ok)
        .expect("the head's retry");
    let free = &handlings("bound-free")[0];
    assert!(
        free.started_ms >= retried.ended_ms,
        "the partition read on only once the head resolved: {:?}",
        HANDLINGS.lock().unwrap()
    );
    assert_eq!(succeeded("bound-held"), [0, 1], "in offset order");
}

/// Key `late`'s record 0 fails twice (2 s apart) and succeeds on its third attempt, 4 s after
/// it arrived; its record 1, parked meanwhile, fails once: its retry would be due 6 s after
/// it arrived, past the 5 s budget.
#[retryable_topic(
    topic = "ord-timeout",
    ordering = "key",
    concurrency = 8,
    partitions = 1,
    attempts = 5,
    backoff = "2s",
    timeout = "5s"
)]
async fn ord_timeout(rec: Record<u32>) -> anyhow::Result<()> {
    let started_ms = now_ms();
    let seq = *rec.value();
    let ok = match seq {
        0 => rec.attempt >= 3,
        _ => rec.attempt >= 2,
    };
    note("late".into(), seq, rec.attempt, ok, started_ms)
}

/// A policy `timeout` counts from the record's arrival on the main topic, time spent parked
/// included (design/key-order.md): a record parked past it gets one attempt, then the DLT.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn time_spent_parked_counts_against_the_timeout() {
    let s = Scenario::start().await;
    let app = s.start_app(&[("ord_timeout", "ord-timeout")]).await;
    s.produce("ord-timeout", "late", "0").await;
    s.produce("ord-timeout", "late", "1").await;
    let dead = s.read_n("ord-timeout-dlt", 1).await;
    app.shutdown().await;
    assert_eq!(dead.len(), 1, "record 1 dead-lettered");
    assert_eq!(dead[0].value.as_deref(), Some(&b"1"[..]));
    assert_eq!(
        header_i32(&dead[0], "retry_topic-attempts"),
        2,
        "one delivery, then the DLT: its budget was spent parked"
    );
    let handled: Vec<(u32, u32)> = handlings("late")
        .iter()
        .map(|h| (h.seq, h.attempt))
        .collect();
    assert_eq!(handled, [(0, 1), (0, 2), (0, 3), (1, 1)]);
}

/// Key `aside-a`'s record 0 fails twice (resolved 8 s after it arrives); `aside-b`'s record 0
/// fails once (resolved after 4 s); every other record succeeds. Values are `SEQ|padding`.
#[retryable_topic(
    topic = "ord-aside",
    ordering = "key",
    concurrency = 8,
    partitions = 1,
    attempts = 3,
    backoff = "4s"
)]
async fn ord_aside(rec: Record<Text>) -> anyhow::Result<()> {
    let started_ms = now_ms();
    let key = rec.key_str().unwrap_or_default().to_owned();
    let text = &rec.value().0;
    let seq: u32 = text.split('|').next().unwrap_or_default().parse()?;
    let ok = match (key.as_str(), seq) {
        ("aside-a", 0) => rec.attempt >= 3,
        ("aside-b", 0) => rec.attempt >= 2,
        _ => true,
    };
    note(key, seq, rec.attempt, ok, started_ms)
}

/// A key blocked for long parks more than a task holds in memory: once they have waited
/// long, its parked records are set aside and read again when their turn comes, in order,
/// and the parked records of another key behind them flow meanwhile (design/key-order.md,
/// *Copies set aside*).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parked_records_past_the_memory_budget_are_set_aside_and_other_keys_flow() {
    const PARKED: u32 = 30;
    let s = Scenario::start().await;
    let app = s.start_app(&[("ord_aside", "ord-aside")]).await;
    let padding = "x".repeat(200_000);
    s.produce("ord-aside", "aside-a", "0|").await;
    s.produce("ord-aside", "aside-b", "0|").await;
    // 30 records of 200 kB: 6 MB waiting behind aside-a's head, more than the parked
    // task's in-flight bytes.
    for seq in 1..=PARKED {
        s.produce("ord-aside", "aside-a", &format!("{seq}|{padding}"))
            .await;
    }
    // Parked behind them: a key's records are parked one at a time, keys side by side.
    let parked = s.read_n("ord-aside-retry-parked", PARKED as usize).await;
    assert_eq!(parked.len(), PARKED as usize, "aside-a's records parked");
    s.produce("ord-aside", "aside-b", "1|").await;
    eventually("every record handled", Duration::from_secs(60), || {
        succeeded("aside-a").len() == PARKED as usize + 1 && succeeded("aside-b").len() == 2
    })
    .await;
    app.shutdown().await;
    assert_eq!(
        succeeded("aside-a"),
        (0..=PARKED).collect::<Vec<_>>(),
        "in offset order, once each"
    );
    let a_head = handlings("aside-a")
        .into_iter()
        .find(|h| h.seq == 0 && h.ok)
        .expect("aside-a's head succeeded");
    let b_parked = handlings("aside-b")
        .into_iter()
        .find(|h| h.seq == 1)
        .expect("aside-b's parked record");
    assert!(
        b_parked.ended_ms < a_head.started_ms,
        "aside-b's parked record, behind aside-a's in the parked topic, flowed before \
         aside-a's head was resolved: {b_parked:?} / {a_head:?}"
    );
}

/// Handles every record.
#[retryable_topic(
    topic = "ord-replay",
    ordering = "key",
    concurrency = 8,
    partitions = 1
)]
async fn ord_replay(rec: Record<u32>) -> anyhow::Result<()> {
    record_call("ord_replay", &rec);
    Ok(())
}

/// The floors in `records` of a lock log, in log order (an entry keyed version + `F`, its
/// value the version and the committed offset, 8 bytes big-endian).
fn floors(records: &[ReadRecord]) -> Vec<i64> {
    records
        .iter()
        .filter(|r| {
            r.key
                .as_deref()
                .is_some_and(|k| k.len() == 2 && k[1] == b'F')
        })
        .filter_map(|r| r.value.as_deref()?.get(1..9)?.try_into().ok())
        .map(i64::from_be_bytes)
        .collect()
}

/// Offsets moved back below what the lock log says was committed (a recreated topic, an
/// operator's reset): a failed record would be skipped on its retry topic as decided
/// already, so the app stops, naming the partition, both offsets and what to do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_main_partition_read_below_its_lock_logs_floor_fails_the_app_naming_it() {
    let s = Scenario::start().await;
    let listeners = [("ord_replay", "ord-replay")];
    let app = s.start_app(&listeners).await;
    for seq in 0..3 {
        s.produce("ord-replay", "r", &seq.to_string()).await;
    }
    eventually(
        "the floor is at the committed offset",
        Duration::from_secs(20),
        || calls("ord_replay").len() == 3,
    )
    .await;
    let mut floor = None;
    for _ in 0..100 {
        floor = floors(&s.read_all("ord-replay-retry-locks").await)
            .into_iter()
            .max();
        if floor == Some(3) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(floor, Some(3), "the floor follows the commit");
    app.shutdown().await;
    s.commit_with_metadata("ord_replay", "ord-replay", 0, 0, "")
        .await;
    let app = s.start_app(&listeners).await;
    let failure = tokio::time::timeout(Duration::from_secs(20), app.failed())
        .await
        .expect("the app stops");
    let topic = s.topic("ord-replay");
    assert!(
        failure.starts_with(&format!("{topic} [0] reads offset 0, below 3, ")),
        "{failure}"
    );
    assert!(
        failure.contains(&format!("{topic}-retry-locks")),
        "{failure}"
    );
    assert_eq!(calls("ord_replay").len(), 3, "nothing handled again");
    app.shutdown().await;
}
