//! The lock log of a main topic with `ordering = "key"` (design/key-order.md), as `status` and
//! `trace` show it: read from its start to its end, each partition folded with retry-core's
//! `LockLog::apply`, the same fold every instance of the listener makes, and counted with
//! `LockSummary`; or a key's entries, in log order.

use std::collections::{BTreeMap, HashMap};

use retry_core::{
    decode_lock_entry, CopyAt, LockEntry, LockEntryError, LockLog, LockOutcome, LockSummary,
    RecordKey,
};

use crate::kafka::{partition_count, Connection, Read, TopicReader};
use crate::table;
use crate::topology::{hop_topic, ChainTopic};

/// One partition of the lock log, folded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Folded {
    /// What the fold holds.
    pub summary: LockSummary,
    /// The offset of an entry this version cannot read, and why: the fold stops there, as
    /// the runtime's does (its key-ordered records wait).
    pub unreadable: Option<(i64, LockEntryError)>,
}

/// Every partition of the lock log `topic`, folded from its start to its end.
pub async fn fold(connection: &Connection, topic: &str) -> anyhow::Result<BTreeMap<i32, Folded>> {
    let consumer = connection.consumer(None)?;
    let partitions = partition_count(&consumer, topic)?;
    let mut logs: BTreeMap<i32, Folding> =
        (0..partitions).map(|p| (p, Folding::default())).collect();
    let mut reader = TopicReader::open(&consumer, topic, &HashMap::new())?;
    while let Some(record) = reader.next().await? {
        let folding = logs.entry(record.partition).or_default();
        if folding.unreadable.is_some() {
            continue;
        }
        match decode(&record) {
            Ok(Some(entry)) => {
                folding.log.apply(entry);
            }
            Ok(None) => {}
            Err(error) => folding.unreadable = Some((record.offset, error)),
        }
    }
    Ok(logs
        .into_iter()
        .map(|(partition, folding)| {
            let folded = Folded {
                summary: LockSummary::of(&folding.log),
                unreadable: folding.unreadable,
            };
            (partition, folded)
        })
        .collect())
}

/// A partition of the lock log being folded.
#[derive(Default)]
struct Folding {
    log: LockLog<RecordKey>,
    /// Where the fold stopped, as in [`Folded`].
    unreadable: Option<(i64, LockEntryError)>,
}

/// An entry of the lock log where it stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Logged {
    /// Its partition: the main topic's partition it is about.
    pub partition: i32,
    /// Its offset.
    pub offset: i64,
    /// Epoch ms it was written.
    pub timestamp_ms: i64,
    /// The entry, or why it cannot be read (then it may be about any key).
    pub entry: Result<LockEntry<RecordKey>, LockEntryError>,
}

/// The entries of the lock log `topic` about record key `key` (and those that cannot be
/// read), in log order.
pub async fn entries_of(
    connection: &Connection,
    topic: &str,
    key: &[u8],
) -> anyhow::Result<Vec<Logged>> {
    let consumer = connection.consumer(None)?;
    let mut reader = TopicReader::open(&consumer, topic, &HashMap::new())?;
    let mut entries = Vec::new();
    while let Some(record) = reader.next().await? {
        let entry = match decode(&record) {
            Ok(None) => continue,
            Ok(Some(entry)) if entry.key().and_then(Option::as_deref) != Some(key) => continue,
            Ok(Some(entry)) => Ok(entry),
            Err(error) => Err(error),
        };
        entries.push(Logged {
            partition: record.partition,
            offset: record.offset,
            timestamp_ms: record.timestamp_ms.unwrap_or_default(),
            entry,
        });
    }
    entries.sort_by_key(|e| (e.partition, e.offset));
    Ok(entries)
}

/// The entry of a lock-log record; `None` for a tombstone.
fn decode(record: &Read) -> Result<Option<LockEntry<RecordKey>>, LockEntryError> {
    decode_lock_entry(
        record.key.as_deref().unwrap_or_default(),
        record.value.as_deref(),
    )
}

/// The rows `status` shows for the lock log `topic`: per partition, the keys blocked, the
/// chain records waiting in a retry topic (heads) and in the parked topic, and the floor;
/// then a line per partition whose fold stopped at an entry it cannot read.
pub fn render_summary(topic: &str, partitions: &BTreeMap<i32, Folded>) -> String {
    let cells: Vec<Vec<String>> = partitions
        .iter()
        .map(|(partition, folded)| {
            let s = &folded.summary;
            vec![
                topic.to_owned(),
                partition.to_string(),
                s.blocked_keys.to_string(),
                s.heads.to_string(),
                s.parked.to_string(),
                s.floor.map_or("-".into(), |f| f.to_string()),
            ]
        })
        .collect();
    let mut text = table::render(
        &[
            "LOCK LOG",
            "PARTITION",
            "BLOCKED KEYS",
            "HEADS",
            "PARKED",
            "FLOOR",
        ],
        &cells,
    );
    for (partition, folded) in partitions {
        if let Some((offset, error)) = &folded.unreadable {
            text.push_str(&format!(
                "{topic} [{partition}]: {error} at offset {offset}; counted up to it, and the \
                 partition's key-ordered records wait\n"
            ));
        }
    }
    text
}

/// The entries `trace` shows for key `key` of main topic `main` (its `chain` names the
/// copies' topics), in log order; nothing when there are none.
pub fn render_entries(
    topic: &str,
    key: &str,
    main: &str,
    chain: &[ChainTopic],
    entries: &[Logged],
) -> String {
    if entries.is_empty() {
        return String::new();
    }
    let copy = |copy: CopyAt, partition: i32| {
        let topic = hop_topic(chain, copy.hop).map_or(format!("hop {}", copy.hop), str::to_owned);
        format!("{topic} {partition}@{}", copy.offset)
    };
    let rows: Vec<Vec<String>> = entries
        .iter()
        .map(|logged| {
            let p = logged.partition;
            let (record, what) = match &logged.entry {
                Ok(LockEntry::Chain {
                    offset, copy: c, ..
                }) => (
                    format!("{main} {p}@{offset}"),
                    match c.hop {
                        0 => format!("parked, copy at {}", copy(*c, p)),
                        _ => format!("head, copy at {}", copy(*c, p)),
                    },
                ),
                Ok(LockEntry::Outcome {
                    offset,
                    copy: c,
                    outcome,
                    ..
                }) => (
                    format!("{main} {p}@{offset}"),
                    match outcome {
                        LockOutcome::Succeeded => format!("{}: succeeded", copy(*c, p)),
                        LockOutcome::DeadLettered => format!("{}: dead-lettered", copy(*c, p)),
                        LockOutcome::Forwarded(next) => {
                            format!("{}: failed, forwarded to {}", copy(*c, p), copy(*next, p))
                        }
                    },
                ),
                Ok(LockEntry::Floor(floor)) => ("-".into(), format!("floor {floor}")),
                Err(error) => ("?".into(), format!("unreadable: {error}")),
            };
            vec![
                table::time(logged.timestamp_ms),
                format!("{p}@{}", logged.offset),
                record,
                what,
            ]
        })
        .collect();
    format!(
        "\nlock log {topic}, entries of key {key}:\n{}",
        table::render(&["WRITTEN (UTC)", "AT", "RECORD", "ENTRY"], &rows)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topology::Role;

    fn topic(name: &str, role: Role) -> ChainTopic {
        ChainTopic {
            name: name.into(),
            suffix: name.trim_start_matches("accounts").into(),
            role,
        }
    }

    #[test]
    fn a_keys_entries_name_the_copies_topics() {
        let chain = [
            topic("accounts", Role::Main),
            topic("accounts-retry-parked", Role::Parked),
            topic("accounts-retry", Role::Retry),
            topic("accounts-dlt", Role::Dlt),
        ];
        let key = || Some(b"acct-7".to_vec());
        let at = |hop, offset| CopyAt { hop, offset };
        let base = 1_795_608_000_000;
        let entries: Vec<Logged> = [
            Ok(LockEntry::Chain {
                key: key(),
                offset: 4,
                copy: at(1, 0),
            }),
            Ok(LockEntry::Chain {
                key: key(),
                offset: 6,
                copy: at(0, 2),
            }),
            Ok(LockEntry::Outcome {
                key: key(),
                offset: 4,
                copy: at(1, 0),
                outcome: LockOutcome::Forwarded(at(2, 1)),
            }),
            Ok(LockEntry::Outcome {
                key: key(),
                offset: 4,
                copy: at(2, 1),
                outcome: LockOutcome::DeadLettered,
            }),
            Err(LockEntryError::Version(9)),
        ]
        .into_iter()
        .enumerate()
        .map(|(i, entry)| Logged {
            partition: 1,
            offset: i as i64,
            timestamp_ms: base + i as i64,
            entry,
        })
        .collect();
        assert_eq!(
            render_entries("accounts-retry-locks", "acct-7", "accounts", &chain, &entries),
            "\nlock log accounts-retry-locks, entries of key acct-7:\n\
             WRITTEN (UTC)            AT   RECORD        ENTRY\n\
             2026-11-25 12:00:00.000  1@0  accounts 1@4  head, copy at accounts-retry 1@0\n\
             2026-11-25 12:00:00.001  1@1  accounts 1@6  parked, copy at accounts-retry-parked 1@2\n\
             2026-11-25 12:00:00.002  1@2  accounts 1@4  accounts-retry 1@0: failed, forwarded to accounts-retry 1@1\n\
             2026-11-25 12:00:00.003  1@3  accounts 1@4  accounts-retry 1@1: dead-lettered\n\
             2026-11-25 12:00:00.004  1@4  ?             unreadable: lock-log entry of format version 9; this version reads version 1\n"
        );
        assert_eq!(
            render_entries("accounts-retry-locks", "acct-7", "accounts", &chain, &[]),
            ""
        );
    }

    #[test]
    fn the_summary_shows_each_partition_and_where_a_fold_stopped() {
        let partitions = BTreeMap::from([
            (
                0,
                Folded {
                    summary: LockSummary {
                        blocked_keys: 2,
                        heads: 2,
                        parked: 3,
                        floor: Some(17),
                    },
                    unreadable: None,
                },
            ),
            (
                1,
                Folded {
                    summary: LockSummary::default(),
                    unreadable: Some((5, LockEntryError::Malformed("cut short"))),
                },
            ),
        ]);
        assert_eq!(
            render_summary("accounts-retry-locks", &partitions),
            "LOCK LOG              PARTITION  BLOCKED KEYS  HEADS  PARKED  FLOOR\n\
             accounts-retry-locks  0          2             2      3       17\n\
             accounts-retry-locks  1          0             0      0       -\n\
             accounts-retry-locks [1]: malformed lock-log entry: cut short at offset 5; \
             counted up to it, and the partition's key-ordered records wait\n"
        );
    }
}
