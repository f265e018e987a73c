//! `ordering = "key"`'s lanes: records of one partition with different keys run side by
//! side, records of one key one at a time and in offset order, records without a key as one
//! key.

use std::sync::Mutex;
use std::time::Duration;

use retry_runtime::prelude::*;

use crate::support::*;

/// A handler call starting or ending: the record's key (`None` without one) and sequence.
#[derive(Debug, Clone, PartialEq)]
struct Event {
    key: Option<String>,
    seq: u32,
    start: bool,
}

/// The calls of `ord_key`, in the order they started and ended.
static EVENTS: Mutex<Vec<Event>> = Mutex::new(Vec::new());

fn note(key: &Option<String>, seq: u32, start: bool) {
    EVENTS.lock().unwrap().push(Event {
        key: key.clone(),
        seq,
        start,
    });
}

/// The first record of key `slow` awaits 1.5 s; the others await less the later they are
/// in their key, so without lanes a key's later records would overtake its earlier ones.
#[retryable_topic(topic = "ord-key", ordering = "key", concurrency = 8, partitions = 1)]
async fn ord_key(rec: Record<u32>) -> anyhow::Result<()> {
    let key = rec.key_str().map(str::to_owned);
    let seq = *rec.value();
    note(&key, seq, true);
    let wait = match key.as_deref() {
        Some("slow") if seq == 0 => 1_500,
        _ => 10 * u64::from(6 - seq.min(5)),
    };
    tokio::time::sleep(Duration::from_millis(wait)).await;
    note(&key, seq, false);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_run_side_by_side_and_each_key_in_offset_order() {
    let s = Scenario::start().await;
    let app = s.start_app(&[("ord_key", "ord-key")]).await;
    let topic = s.topic("ord-key");
    let keys: Vec<Option<String>> = (0..6)
        .map(|k| Some(format!("k{k}")))
        .chain([None])
        .collect();
    s.produce("ord-key", "slow", "0").await;
    for seq in 0..6u32 {
        for key in &keys {
            let value = seq.to_string();
            s.kafka
                .produce(&topic, key.as_deref(), value.as_bytes())
                .await
                .expect("produce");
        }
    }
    s.produce("ord-key", "slow", "1").await;
    let total = 2 + 6 * keys.len();
    eventually("every record handled", Duration::from_secs(30), || {
        EVENTS.lock().unwrap().iter().filter(|e| !e.start).count() >= total
    })
    .await;
    app.shutdown().await;
    let events = EVENTS.lock().unwrap().clone();

    let started = events.iter().filter(|e| e.start).count();
    assert_eq!(started, total, "each record handled once: {events:?}");
    for key in keys.iter().chain([&Some("slow".to_string())]) {
        let of_key: Vec<&Event> = events.iter().filter(|e| &e.key == key).collect();
        for (i, pair) in of_key.chunks(2).enumerate() {
            assert!(
                pair.len() == 2 && pair[0].start && !pair[1].start && pair[0].seq == pair[1].seq,
                "key {key:?}: a call ends before the key's next starts: {of_key:?}"
            );
            assert_eq!(
                pair[0].seq as usize, i,
                "key {key:?} in offset order: {of_key:?}"
            );
        }
    }
    let (mut now, mut most) = (0i32, 0i32);
    for e in &events {
        now += if e.start { 1 } else { -1 };
        most = most.max(now);
    }
    assert!(
        (2..=8).contains(&most),
        "keys side by side, at most `concurrency` calls: {most}"
    );
    let slow_done = events
        .iter()
        .position(|e| !e.start && e.key.as_deref() == Some("slow") && e.seq == 0)
        .expect("slow 0 ended");
    let others_done = events
        .iter()
        .rposition(|e| !e.start && e.key.as_deref() != Some("slow"))
        .expect("the others ended");
    assert!(
        others_done < slow_done,
        "a slow key holds back no other key: {events:?}"
    );
}
