//! The lock log's round trip (design/key-order.md): how long an entry takes from the task
//! that produces it until another client's fold has applied it. For an outcome entry that is
//! what a parked record waits for, beyond its head's own handling, before it is current.
//!
//! One compacted partition with the lock log's topic settings; a producer with the lock log's
//! settings (idempotent, `acks=all`, `linger.ms` 0); a reader with its settings (assigned, no
//! group, from the beginning, `fetch.wait.max.ms` 10) on a thread of its own, decoding each
//! record with the core's codec and folding it with `LockLog::apply`. Each key gets a head's
//! chain entry and a parked record's chain entry; then each key's head gets its outcome
//! (succeeded), and the reader checks that the key's parked record is current once it has
//! applied it. The entries go one at a time (the next produced once the fold applied the last)
//! and in bursts of [`BURST`] (produced together, the next burst once the fold applied them).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};
use retry_runtime::core::{
    decode_lock_entry, encode_lock_entry, CopyAt, LockEntry, LockLog, LockOutcome, RecordKey,
    Verdict, LOCK_LOG_TOPIC_SETTINGS,
};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};

use crate::broker::Broker;

/// The lock log of main topic `bench-lock` with the default retry suffix.
const TOPIC: &str = "bench-lock-retry-locks";

/// Entries produced together in the burst run.
pub const BURST: usize = 100;

/// Main-topic offsets of each key's head and parked record.
const HEAD: i64 = 10;
const PARKED: i64 = 11;

/// Latencies of one run, in milliseconds.
#[derive(Default)]
pub struct Latency {
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl Latency {
    fn of(mut samples: Vec<Duration>) -> Self {
        samples.sort_unstable();
        let at = |q: f64| samples[((samples.len() - 1) as f64 * q) as usize].as_secs_f64() * 1e3;
        Self {
            p50_ms: at(0.5),
            p99_ms: at(0.99),
            max_ms: at(1.0),
        }
    }
}

/// What one run of entries measured.
#[derive(Default)]
pub struct RoundTrip {
    /// From the produce call to the broker's acknowledgement.
    pub ack: Latency,
    /// From the produce call until the reader's fold has applied the entry.
    pub applied: Latency,
    /// Entries over the run's time, from its first produce call to its last entry applied.
    pub entries_per_s: f64,
}

/// The lock log's round trip for `keys` keys (3 entries each), one at a time and in bursts.
pub async fn round_trip(broker: &Broker, keys: usize) -> anyhow::Result<(RoundTrip, RoundTrip)> {
    anyhow::ensure!(keys > 0, "the lock-log run needs at least one key");
    broker
        .create_topic_with_config(TOPIC, LOCK_LOG_TOPIC_SETTINGS)
        .await?;
    let bootstrap = broker.bootstrap_servers();
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "0")
        .create()?;
    // librdkafka assigns only with a `group.id`; this one is never joined nor committed to.
    let reader: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("group.id", "bench-lock-reader")
        .set("enable.auto.commit", "false")
        .set("fetch.wait.max.ms", "10")
        .create()?;
    let mut assignment = TopicPartitionList::new();
    assignment.add_partition_offset(TOPIC, 0, Offset::Beginning)?;
    reader.assign(&assignment)?;
    let (applied, mut folded) = unbounded_channel();
    let stop = Arc::new(AtomicBool::new(false));
    let folding = std::thread::spawn({
        let stop = stop.clone();
        move || fold(&reader, &stop, &applied)
    });
    let runs = async {
        // The reader is fetching before the first measured entry: a floor, read back.
        let warm_up = [encode_lock_entry(&LockEntry::Floor(0))];
        one_at_a_time(&producer, &warm_up, &mut folded).await?;
        let one = one_at_a_time(&producer, &entries("one", keys), &mut folded).await?;
        let bursts = in_bursts(&producer, &entries("burst", keys), &mut folded).await?;
        anyhow::Ok((one, bursts))
    }
    .await;
    stop.store(true, Ordering::Relaxed);
    let folded = folding.join().expect("the fold thread panicked");
    let runs = runs?;
    folded?;
    Ok(runs)
}

/// The encoded entries of `keys` keys named `<prefix>-<i>`: the head's and the parked record's
/// chain entries of every key, then every head's outcome. Key `i`'s copies are at offset `i`
/// of the first retry topic (the head) and of the parked topic.
fn entries(prefix: &str, keys: usize) -> Vec<(Vec<u8>, Vec<u8>)> {
    let key = |i: usize| Some(format!("{prefix}-{i}").into_bytes());
    let head = |i: usize| CopyAt {
        hop: 1,
        offset: i as i64,
    };
    let chains = (0..keys).flat_map(|i| {
        [
            LockEntry::Chain {
                key: key(i),
                offset: HEAD,
                copy: head(i),
            },
            LockEntry::Chain {
                key: key(i),
                offset: PARKED,
                copy: parked(i as i64),
            },
        ]
    });
    let outcomes = (0..keys).map(|i| LockEntry::Outcome {
        key: key(i),
        offset: HEAD,
        copy: head(i),
        outcome: LockOutcome::Succeeded,
    });
    chains
        .chain(outcomes)
        .map(|e| encode_lock_entry(&e))
        .collect()
}

/// The parked copy of key `i`'s second record.
fn parked(i: i64) -> CopyAt {
    CopyAt { hop: 0, offset: i }
}

/// An entry the reader's fold applied: its Kafka key, and when.
struct Applied {
    key: Vec<u8>,
    at: Instant,
}

/// The reader: folds the lock log until `stop`, reporting each entry once applied. After an
/// outcome, the key's parked record must be current.
fn fold(
    reader: &BaseConsumer,
    stop: &AtomicBool,
    applied: &UnboundedSender<Applied>,
) -> anyhow::Result<()> {
    let mut log = LockLog::<RecordKey>::default();
    while !stop.load(Ordering::Relaxed) {
        let Some(message) = reader.poll(Duration::from_millis(100)) else {
            continue;
        };
        let message = message?;
        let key = message.key().unwrap_or_default();
        let entry = decode_lock_entry(key, message.payload())?.context("a tombstone")?;
        let unblocks = match &entry {
            LockEntry::Outcome { key, copy, .. } => Some((key.clone(), parked(copy.offset))),
            _ => None,
        };
        log.apply(entry);
        if let Some((key, copy)) = unblocks {
            anyhow::ensure!(
                log.judge(&key, PARKED, copy) == Verdict::Current,
                "the outcome left the parked record of {key:?} not current"
            );
        }
        let at = Instant::now();
        let key = key.to_vec();
        if applied.send(Applied { key, at }).is_err() {
            break;
        }
    }
    Ok(())
}

/// The next entry the fold applied, which must be `key` (one producer, one partition: the
/// log's order is the produce order).
async fn next_applied(
    folded: &mut UnboundedReceiver<Applied>,
    key: &[u8],
) -> anyhow::Result<Instant> {
    let applied = tokio::time::timeout(Duration::from_secs(30), folded.recv())
        .await
        .context("the fold applied nothing for 30 s")?
        .context("the fold stopped")?;
    anyhow::ensure!(applied.key == key, "the fold applied entries out of order");
    Ok(applied.at)
}

fn record<'a>(key: &'a [u8], value: &'a [u8]) -> FutureRecord<'a, [u8], [u8]> {
    FutureRecord::to(TOPIC).partition(0).key(key).payload(value)
}

/// Each entry produced once the fold applied the one before.
async fn one_at_a_time(
    producer: &FutureProducer,
    entries: &[(Vec<u8>, Vec<u8>)],
    folded: &mut UnboundedReceiver<Applied>,
) -> anyhow::Result<RoundTrip> {
    let (mut acks, mut applied) = (Vec::new(), Vec::new());
    let first = Instant::now();
    for (key, value) in entries {
        let start = Instant::now();
        producer
            .send(record(key, value), Duration::from_secs(30))
            .await
            .map_err(|(e, _)| e)?;
        acks.push(start.elapsed());
        applied.push(next_applied(folded, key).await? - start);
    }
    Ok(RoundTrip {
        ack: Latency::of(acks),
        applied: Latency::of(applied),
        entries_per_s: entries.len() as f64 / first.elapsed().as_secs_f64(),
    })
}

/// [`BURST`] entries produced together, the next burst once the fold applied them all. The
/// rate counts the bursts' time only.
async fn in_bursts(
    producer: &FutureProducer,
    entries: &[(Vec<u8>, Vec<u8>)],
    folded: &mut UnboundedReceiver<Applied>,
) -> anyhow::Result<RoundTrip> {
    let (mut acks, mut applied) = (Vec::new(), Vec::new());
    let mut busy = Duration::ZERO;
    for burst in entries.chunks(BURST) {
        let sends = burst.iter().map(|(key, value)| async move {
            let start = Instant::now();
            let sent = producer.send(record(key, value), Duration::from_secs(30));
            sent.await.map_err(|(e, _)| e)?;
            anyhow::Ok((start, start.elapsed()))
        });
        let sent = futures::future::try_join_all(sends).await?;
        let mut last = Instant::now();
        for ((key, _), (start, ack)) in burst.iter().zip(&sent) {
            acks.push(*ack);
            last = next_applied(folded, key).await?;
            applied.push(last - *start);
        }
        busy += last - sent[0].0;
    }
    Ok(RoundTrip {
        ack: Latency::of(acks),
        applied: Latency::of(applied),
        entries_per_s: entries.len() as f64 / busy.as_secs_f64(),
    })
}
