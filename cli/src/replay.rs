//! `kafka-retry dlt replay`: re-publish dead letters, resumably.
//!
//! Progress is the replay group's committed offsets: each examined record's offset is
//! committed once it was published and acknowledged (or passed over), every second and when
//! the run ends, Ctrl-C included, so a run started again goes on after the last record the
//! group examined and publishes nothing twice. A record that cannot be published holds back
//! its partition: nothing after it in that partition is examined or committed, and a later
//! run starts from it.

use std::collections::{HashMap, HashSet};
use std::io::IsTerminal;
use std::time::{Duration, Instant};

use anyhow::Context;
use rdkafka::consumer::{CommitMode, Consumer};
use rdkafka::message::OwnedHeaders;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::TopicPartitionList;
use retry_core::replay::{replay_headers, ReplayRefused};
use retry_core::{is_dlt_of, Headers};
use retry_runtime::kafka_headers;
use tokio_util::sync::CancellationToken;

use crate::args::ReplayArgs;
use crate::dead_letter::DeadLetterRow;
use crate::filter::Filter;
use crate::kafka::{committed_offsets, partition_count, Connection, Read, TopicReader};
use crate::time::epoch_ms;

/// Where a dead letter goes, and with which headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Destination topic.
    pub topic: String,
    /// The original partition, when replaying to the original topic (the key's partition
    /// there, whichever partitioner its producer used).
    pub partition: Option<i32>,
    /// The headers to publish with.
    pub headers: Headers,
}

/// Why a dead letter is not replayed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotReplayed {
    /// The counter says it was replayed too often, or cannot be read.
    #[error(transparent)]
    Refused(#[from] ReplayRefused),
    /// Neither `--to` nor `kafka_original-topic` says where.
    #[error("no kafka_original-topic header; give --to")]
    NoDestination,
    /// `kafka_original-topic` names a topic the DLT does not belong to by the naming rules:
    /// any producer can write the header, and the replay publishes with the operator's
    /// rights. Only `--to` sends it there.
    #[error(
        "kafka_original-topic `{original}` is not a main topic of {dlt} by its name \
         (--dlt-suffix {dlt_suffix}); check where it came from, and give --to {original} to \
         replay it there"
    )]
    ForeignOrigin {
        /// The header's topic.
        original: String,
        /// The DLT replayed.
        dlt: String,
        /// The DLT suffix the naming rules used.
        dlt_suffix: String,
    },
}

/// Where the dead letters of one DLT may go.
#[derive(Debug, Clone, Copy)]
pub struct Routing<'a> {
    /// The DLT replayed.
    pub dlt: &'a str,
    /// The DLT suffix of its listener's naming rules.
    pub dlt_suffix: &'a str,
    /// `--to`: every record goes there.
    pub to: Option<&'a str>,
    /// `--max-replays`.
    pub max_replays: u32,
}

impl<'a> Routing<'a> {
    /// The routing a replay's arguments ask for.
    pub fn of(args: &'a ReplayArgs) -> Self {
        Self {
            dlt: &args.topic,
            dlt_suffix: &args.dlt_suffix,
            to: args.to.as_deref(),
            max_replays: args.max_replays,
        }
    }
}

/// Where `row` (read from `record`) goes: `--to`, or its original topic when the DLT is that
/// topic's by the naming rules.
pub fn target(
    record: &Read,
    row: &DeadLetterRow,
    routing: Routing<'_>,
) -> Result<Target, NotReplayed> {
    let headers = replay_headers(&record.headers, routing.max_replays)?;
    let original = row.original_topic.as_deref();
    let (topic, partition) = match (routing.to, original) {
        (None, None) => return Err(NotReplayed::NoDestination),
        (None, Some(original)) if !is_dlt_of(routing.dlt, original, routing.dlt_suffix) => {
            return Err(NotReplayed::ForeignOrigin {
                original: original.to_owned(),
                dlt: routing.dlt.to_owned(),
                dlt_suffix: routing.dlt_suffix.to_owned(),
            })
        }
        (None, Some(original)) => (original.to_owned(), row.original_partition),
        (Some(to), _) if Some(to) == original => (to.to_owned(), row.original_partition),
        (Some(to), _) => (to.to_owned(), None),
    };
    Ok(Target {
        topic,
        partition,
        headers,
    })
}

/// What one run did.
#[derive(Debug, Default)]
struct Outcome {
    examined: u64,
    /// Published (in a dry run: would be).
    replayed: u64,
    /// Records passed over for good (too many replays), with the reason.
    skipped: Vec<String>,
    /// Records that could not be published; their partition stopped there.
    failed: Vec<String>,
    interrupted: bool,
}

/// Runs a replay; the exit status is 0 when every matching record was replayed, 1 when some
/// were not (they are named), 130 when interrupted by Ctrl-C (progress committed).
pub async fn run(connection: &Connection, args: &ReplayArgs) -> anyhow::Result<u8> {
    let mut pace = match args.rate {
        Some(rate) if !(rate > 0.0 && rate.is_finite()) => {
            anyhow::bail!("--rate {rate}: expected records a second above 0")
        }
        rate => rate.map(|r| tokio::time::interval(Duration::from_secs_f64(1.0 / r))),
    };
    let interrupt = CancellationToken::new();
    tokio::spawn(watch_ctrl_c(interrupt.clone()));
    let consumer = connection.consumer(Some(&args.group))?;
    let partitions = partition_count(&consumer, &args.topic)?;
    let start = committed_offsets(&consumer, &args.topic, partitions)?;
    let mut reader = TopicReader::open(&consumer, &args.topic, &start)?;
    let producer: FutureProducer = connection.producer_config().create()?;
    let topics = connection.topics()?;
    let filter = Filter::new(&args.filter, epoch_ms(std::time::SystemTime::now()));
    let progress = Progress::new(reader.remaining, args.dry_run);

    let mut outcome = Outcome::default();
    let mut next: HashMap<i32, i64> = HashMap::new();
    let mut held: HashSet<i32> = HashSet::new();
    let mut matched = 0usize;
    let mut committed_at = Instant::now();
    loop {
        if filter.limit.is_some_and(|limit| matched >= limit) {
            break;
        }
        let record = tokio::select! {
            biased;
            _ = interrupt.cancelled() => { outcome.interrupted = true; break; }
            record = reader.next() => record?,
        };
        let Some(record) = record else { break };
        if held.contains(&record.partition) {
            continue;
        }
        outcome.examined += 1;
        let row = DeadLetterRow::read(&record);
        let done = record.offset + 1;
        if !filter.matches(&row) {
            next.insert(record.partition, done);
            continue;
        }
        matched += 1;
        let name = describe(&row);
        match target(&record, &row, Routing::of(args)) {
            Err(NotReplayed::Refused(refused)) => {
                outcome.skipped.push(format!("{name}: {refused}"));
                next.insert(record.partition, done);
            }
            Err(missing) => {
                outcome.failed.push(format!("{name}: {missing}"));
                held.insert(record.partition);
            }
            Ok(target) if args.dry_run => {
                outcome.replayed += 1;
                let claimed = match &row.original_topic {
                    Some(original) => format!("kafka_original-topic {original}"),
                    None => "no kafka_original-topic".to_owned(),
                };
                progress.line(format!(
                    "would replay {name} -> {} ({claimed})",
                    place(&target, &topics)
                ));
            }
            Ok(target) => {
                if let Some(pace) = &mut pace {
                    pace.tick().await;
                }
                match publish(&producer, &record, &target, &topics).await {
                    Ok(()) => {
                        outcome.replayed += 1;
                        next.insert(record.partition, done);
                        progress.line(format!("replayed {name} -> {}", place(&target, &topics)));
                    }
                    Err(error) => {
                        outcome.failed.push(format!("{name}: {error:#}"));
                        held.insert(record.partition);
                    }
                }
            }
        }
        progress.advance();
        if !args.dry_run && committed_at.elapsed() >= Duration::from_secs(1) {
            commit(&consumer, &args.topic, &next)?;
            committed_at = Instant::now();
        }
    }
    progress.finish();
    if !args.dry_run {
        commit(&consumer, &args.topic, &next)?;
    }
    Ok(report(&outcome, args))
}

/// Prints the summary and what was not replayed; returns the exit status.
fn report(outcome: &Outcome, args: &ReplayArgs) -> u8 {
    let verb = if args.dry_run {
        "would replay"
    } else {
        "replayed"
    };
    println!(
        "{verb} {} of {} dead letters examined on {}{}",
        outcome.replayed,
        outcome.examined,
        args.topic,
        if args.dry_run {
            String::new()
        } else {
            format!("; progress committed in group {}", args.group)
        }
    );
    for skipped in &outcome.skipped {
        println!("not replayed: {skipped}");
    }
    for failed in &outcome.failed {
        println!("FAILED: {failed}; its partition stops there until the next run");
    }
    if outcome.interrupted {
        println!("interrupted: run the same command again to go on");
        130
    } else if outcome.skipped.is_empty() && outcome.failed.is_empty() {
        0
    } else {
        1
    }
}

/// `0@3 (key ghost)`.
fn describe(row: &DeadLetterRow) -> String {
    match &row.key {
        Some(key) => format!("{} (key {key})", row.position()),
        None => format!("{} (no key)", row.position()),
    }
}

/// `update-item[0]`, or the topic alone when the partitioner picks.
fn place(target: &Target, topics: &HashMap<String, i32>) -> String {
    match partition_for(target, topics) {
        Some(p) => format!("{}[{p}]", target.topic),
        None => target.topic.clone(),
    }
}

/// The target partition when the destination has it.
fn partition_for(target: &Target, topics: &HashMap<String, i32>) -> Option<i32> {
    target
        .partition
        .filter(|p| topics.get(&target.topic).is_some_and(|n| p < n))
}

/// Publishes `record`'s key and value unchanged to `target` with its headers (names byte for
/// byte), waiting for the acknowledgement.
async fn publish(
    producer: &FutureProducer,
    record: &Read,
    target: &Target,
    topics: &HashMap<String, i32>,
) -> anyhow::Result<()> {
    if !topics.contains_key(&target.topic) {
        anyhow::bail!("topic {} does not exist", target.topic);
    }
    let headers = target.headers.iter().fold(
        OwnedHeaders::new_with_capacity(target.headers.len()),
        |hs, h| kafka_headers::append(hs, h.key.as_bytes(), h.value.as_deref()),
    );
    let mut out = FutureRecord::<[u8], [u8]>::to(&target.topic).headers(headers);
    if let Some(key) = record.key.as_deref() {
        out = out.key(key);
    }
    if let Some(value) = record.value.as_deref() {
        out = out.payload(value);
    }
    if let Some(partition) = partition_for(target, topics) {
        out = out.partition(partition);
    }
    producer
        .send(out, Duration::from_secs(30))
        .await
        .map_err(|(error, _)| error)
        .with_context(|| format!("publishing to {}", target.topic))?;
    Ok(())
}

/// Commits the next offset to examine of each partition.
fn commit(
    consumer: &rdkafka::consumer::StreamConsumer,
    topic: &str,
    next: &HashMap<i32, i64>,
) -> anyhow::Result<()> {
    if next.is_empty() {
        return Ok(());
    }
    let mut list = TopicPartitionList::new();
    for (partition, offset) in next {
        list.add_partition_offset(topic, *partition, rdkafka::Offset::Offset(*offset))?;
    }
    consumer
        .commit(&list, CommitMode::Sync)
        .context("committing the replay's progress")
}

/// First Ctrl-C: stop after the record in hand and commit. Second: exit at once.
async fn watch_ctrl_c(interrupt: CancellationToken) {
    if tokio::signal::ctrl_c().await.is_err() {
        return;
    }
    eprintln!("stopping after the current record (Ctrl-C again to quit at once, which may replay it twice)");
    interrupt.cancel();
    if tokio::signal::ctrl_c().await.is_ok() {
        std::process::exit(130);
    }
}

/// A progress bar on a terminal; plain lines on stdout otherwise.
struct Progress {
    bar: Option<indicatif::ProgressBar>,
}

impl Progress {
    fn new(total: u64, dry_run: bool) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = indicatif::ProgressBar::new(total);
            if let Ok(style) = indicatif::ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} examined {msg}",
            ) {
                bar.set_style(style);
            }
            bar.set_message(if dry_run { "(dry run)" } else { "" });
            bar
        });
        Self { bar }
    }

    fn line(&self, text: String) {
        match &self.bar {
            Some(bar) => bar.println(text),
            None => println!("{text}"),
        }
    }

    fn advance(&self) {
        if let Some(bar) = &self.bar {
            bar.inc(1);
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use retry_core::headers::{encode_i32, ORIGINAL_PARTITION, ORIGINAL_TOPIC};
    use retry_core::replay::REPLAY_COUNT;

    fn dead(original: Option<&str>, replays: i32) -> Read {
        let mut headers = Headers::new();
        if let Some(topic) = original {
            headers.push(ORIGINAL_TOPIC, Some(topic.as_bytes().to_vec()));
            headers.push(ORIGINAL_PARTITION, Some(encode_i32(2)));
        }
        headers.push(REPLAY_COUNT, Some(encode_i32(replays)));
        Read {
            topic: "orders-dlt".into(),
            partition: 0,
            offset: 4,
            key: Some(b"k".to_vec()),
            value: Some(b"v".to_vec()),
            headers,
            timestamp_ms: Some(0),
        }
    }

    fn target_of(record: &Read, to: Option<&str>, max: u32) -> Result<Target, NotReplayed> {
        let routing = Routing {
            dlt: "orders-dlt",
            dlt_suffix: "-dlt",
            to,
            max_replays: max,
        };
        target(record, &DeadLetterRow::read(record), routing)
    }

    #[test]
    fn goes_to_the_original_topic_and_partition_or_to_the_override() {
        let record = dead(Some("orders"), 0);
        let back = target_of(&record, None, 3).unwrap();
        assert_eq!((back.topic.as_str(), back.partition), ("orders", Some(2)));
        assert_eq!(back.headers.get(REPLAY_COUNT), Some(&[0, 0, 0, 1][..]));
        assert!(back.headers.get(ORIGINAL_TOPIC).is_none());
        let elsewhere = target_of(&record, Some("orders-v2"), 3).unwrap();
        assert_eq!(
            (elsewhere.topic.as_str(), elsewhere.partition),
            ("orders-v2", None)
        );
        let same = target_of(&record, Some("orders"), 3).unwrap();
        assert_eq!(same.partition, Some(2));
        let topics = HashMap::from([("orders".to_owned(), 2)]);
        assert_eq!(
            place(&back, &topics),
            "orders",
            "partition 2 does not exist there"
        );
        assert_eq!(
            place(&back, &HashMap::from([("orders".to_owned(), 3)])),
            "orders[2]"
        );
    }

    #[test]
    fn refuses_a_poison_record_and_one_without_destination() {
        assert_eq!(
            target_of(&dead(Some("orders"), 3), None, 3)
                .unwrap_err()
                .to_string(),
            "replayed 3 times already (--max-replays 3)"
        );
        assert_eq!(
            target_of(&dead(None, 0), None, 3),
            Err(NotReplayed::NoDestination)
        );
        assert_eq!(target_of(&dead(None, 0), Some("x"), 3).unwrap().topic, "x");
    }

    #[test]
    fn a_forged_original_topic_is_refused_unless_to_names_it() {
        let forged = dead(Some("payments"), 0);
        let refused = target_of(&forged, None, 3).unwrap_err();
        assert_eq!(
            refused.to_string(),
            "kafka_original-topic `payments` is not a main topic of orders-dlt by its name \
             (--dlt-suffix -dlt); check where it came from, and give --to payments to replay it \
             there"
        );
        let chosen = target_of(&forged, Some("payments"), 3).unwrap();
        assert_eq!(
            (chosen.topic.as_str(), chosen.partition),
            ("payments", Some(2))
        );
        let routed = Routing {
            dlt: "orders-validation-dlt",
            dlt_suffix: "-dlt",
            to: None,
            max_replays: 3,
        };
        let record = dead(Some("orders"), 0);
        let back = target(&record, &DeadLetterRow::read(&record), routed).unwrap();
        assert_eq!(
            back.topic, "orders",
            "a route's DLT belongs to its main topic"
        );
    }
}
