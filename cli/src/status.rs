//! `kafka-retry status`: per retry topic and DLT of a main topic and per consumer group, the
//! records not consumed yet, how many are past their due time, and by how much. With a
//! listener's settings, the existing topics its chain no longer has and that are the
//! listener's are shown too, marked orphaned, by the rule the runtime drains them by
//! (retry-core's `is_own_orphan`: a group of the listener committed on it, or the listener
//! forwarded its records); a topic named like one that is not the listener's is not shown.
//! With `ordering = "key"`, the parked topic is shown like a retry topic (its records wait
//! for their key, so they are never past due), and the lock log is folded and counted per
//! partition: the keys blocked, their records waiting in a retry topic and in the parked
//! topic, the floor.

use std::collections::HashMap;

use retry_core::headers::{decode_timestamp, BACKOFF_TIMESTAMP, ORIGINAL_CONSUMER_GROUP};
use retry_core::{forwarding_groups, is_own_orphan, Backlog};

use crate::args::StatusArgs;
use crate::kafka::{first_records, partition_count, Connection, TopicReader};
use crate::locks;
use crate::table;
use crate::time::epoch_ms;
use crate::topology::{self, ChainTopic, Role};

/// One line of the status: a topic, a group reading it, its backlog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusRow {
    /// The retry topic or DLT.
    pub topic: String,
    /// True for a topic the listener's chain (named by its settings) no longer has.
    pub orphaned: bool,
    /// The group, or `None` when no group committed on the topic yet.
    pub group: Option<String>,
    /// What waits for the group.
    pub backlog: Backlog,
}

/// Gathers the rows.
pub async fn run(connection: &Connection, args: &StatusArgs) -> anyhow::Result<String> {
    // One instant for every row: due lags and ages compare.
    let now = epoch_ms(std::time::SystemTime::now());
    let existing: Vec<String> = connection.topics()?.into_keys().collect();
    if !existing.contains(&args.topic) {
        anyhow::bail!("topic {} does not exist", args.topic);
    }
    let chain = topology::chain(&args.topic, &args.topology, &existing)?;
    let orphaned = topology::orphaned(&args.topic, &args.topology, &existing)?;
    let known_groups = match &args.group {
        Some(_) => Vec::new(),
        None => connection.groups()?,
    };
    let chain_names: Vec<&str> = chain
        .iter()
        .chain(&orphaned)
        .map(|t| t.name.as_str())
        .collect();
    let mut rows = Vec::new();
    let topics = chain.iter().skip(1).map(|t| (t, false));
    for (topic, orphaned) in topics.chain(orphaned.iter().map(|t| (t, true))) {
        if !existing.contains(&topic.name) {
            continue;
        }
        let consumer = connection.consumer(None)?;
        let partitions = partition_count(&consumer, &topic.name)?;
        let candidates: Vec<String> = match &args.group {
            Some(group) => vec![format!("{group}{}", topic.suffix)],
            None => known_groups
                .iter()
                .filter(|g| g.ends_with(&topic.suffix))
                .cloned()
                .collect(),
        };
        let mut groups = Vec::new();
        for group in candidates {
            let committed = connection.committed(&group, &topic.name, partitions)?;
            if !committed.is_empty() || args.group.is_some() {
                groups.push((group, committed));
            }
        }
        if orphaned {
            groups = orphan_owners(connection, args, topic, &chain_names, groups).await?;
        }
        if groups.is_empty() && !orphaned {
            let backlog = backlog(connection, topic, &HashMap::new(), now).await?;
            rows.push(StatusRow {
                topic: topic.name.clone(),
                orphaned,
                group: None,
                backlog,
            });
        }
        for (group, committed) in groups {
            let backlog = backlog(connection, topic, &committed, now).await?;
            rows.push(StatusRow {
                topic: topic.name.clone(),
                orphaned,
                group: Some(group),
                backlog,
            });
        }
    }
    let mut text = render(&rows, now);
    let lock_log = topology::lock_log(&args.topic, &args.topology);
    if existing.contains(&lock_log) {
        let folded = locks::fold(connection, &lock_log).await?;
        text.push('\n');
        text.push_str(&locks::render_summary(&lock_log, &folded));
    }
    Ok(text)
}

/// The groups, among `groups` (each with what it committed on `topic`, an orphan
/// candidate), that read `topic` as their listener's orphan, by the runtime's rule
/// (retry-core's `is_own_orphan`): a group that committed on it, or one whose listener
/// forwarded the first record of a partition of it (its `kafka_dlt-original-consumer-group`
/// is one of the listener's `forwarding_groups` over `chain`). The listener is `--group`'s;
/// without `--group`, when no group committed on the topic, each group its records name is
/// taken as a listener's. A topic named like an orphan that is none of these groups' is not
/// theirs: the runtime leaves it alone.
async fn orphan_owners(
    connection: &Connection,
    args: &StatusArgs,
    topic: &ChainTopic,
    chain: &[&str],
    groups: Vec<(String, HashMap<i32, i64>)>,
) -> anyhow::Result<Vec<(String, HashMap<i32, i64>)>> {
    let committed_by_any = groups.iter().any(|(_, committed)| !committed.is_empty());
    let forwarders: Vec<String> = match committed_by_any {
        true => Vec::new(),
        false => first_records(connection, &topic.name)
            .await?
            .iter()
            .filter_map(|r| {
                r.headers
                    .get_str(ORIGINAL_CONSUMER_GROUP)
                    .map(str::to_owned)
            })
            .collect(),
    };
    let listeners: Vec<(String, HashMap<i32, i64>)> = match (&args.group, committed_by_any) {
        (None, false) => {
            let mut named: Vec<String> = forwarders.clone();
            named.sort();
            named.dedup();
            named.into_iter().map(|g| (g, HashMap::new())).collect()
        }
        _ => groups
            .into_iter()
            .map(|(group, committed)| {
                let listener = group.strip_suffix(&topic.suffix).unwrap_or(&group);
                (listener.to_owned(), committed)
            })
            .collect(),
    };
    Ok(listeners
        .into_iter()
        .filter(|(listener, committed)| {
            let own = forwarding_groups(listener, &args.topic, chain.iter().copied());
            is_own_orphan(
                !committed.is_empty(),
                forwarders.iter().map(String::as_str),
                &own,
            )
        })
        .map(|(listener, committed)| (format!("{listener}{}", topic.suffix), committed))
        .collect())
}

/// The backlog of `topic` after the `committed` offsets, as of `now`.
async fn backlog(
    connection: &Connection,
    topic: &ChainTopic,
    committed: &HashMap<i32, i64>,
    now: i64,
) -> anyhow::Result<Backlog> {
    let consumer = connection.consumer(None)?;
    let mut reader = TopicReader::open(&consumer, &topic.name, committed)?;
    let mut backlog = Backlog::default();
    while let Some(record) = reader.next().await? {
        let written = record.timestamp_ms.unwrap_or(now);
        if topic.role == Role::Parked {
            // It waits for its key's earlier records (the lock log's heads), not for a time.
            backlog.add_undue(written);
            continue;
        }
        let due = record
            .headers
            .get(BACKOFF_TIMESTAMP)
            .filter(|_| topic.role != Role::Dlt)
            .and_then(|b| decode_timestamp(BACKOFF_TIMESTAMP, b).ok());
        backlog.add(written, due, now);
    }
    Ok(backlog)
}

/// The status table, ages counted at `now_ms`.
pub fn render(rows: &[StatusRow], now_ms: i64) -> String {
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|row| {
            let b = &row.backlog;
            vec![
                match row.orphaned {
                    true => format!("{} (orphaned)", row.topic),
                    false => row.topic.clone(),
                },
                row.group
                    .clone()
                    .unwrap_or_else(|| "(none committed)".into()),
                b.waiting.to_string(),
                b.past_due.to_string(),
                if b.past_due == 0 {
                    "-".into()
                } else {
                    table::age(b.due_lag)
                },
                b.oldest_ms
                    .map_or("-".into(), |t| table::age(retry_core::due_lag(t, now_ms))),
            ]
        })
        .collect();
    table::render(
        &["TOPIC", "GROUP", "WAITING", "PAST DUE", "DUE LAG", "OLDEST"],
        &cells,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn rows_show_waiting_past_due_due_lag_and_the_oldest() {
        let rows = [
            StatusRow {
                topic: "orders-retry-1000".into(),
                orphaned: false,
                group: Some("billing-retry-1000".into()),
                backlog: Backlog {
                    waiting: 3,
                    past_due: 1,
                    due_lag: Duration::from_secs(75),
                    oldest_ms: Some(10_000),
                },
            },
            StatusRow {
                topic: "orders-dlt".into(),
                orphaned: false,
                group: None,
                backlog: Backlog::default(),
            },
            StatusRow {
                topic: "orders-retry-500".into(),
                orphaned: true,
                group: Some("billing-retry-500".into()),
                backlog: Backlog {
                    waiting: 2,
                    past_due: 0,
                    due_lag: Duration::ZERO,
                    oldest_ms: Some(40_000),
                },
            },
        ];
        assert_eq!(
            render(&rows, 100_000),
            "TOPIC                        GROUP               WAITING  PAST DUE  DUE LAG  OLDEST\n\
             orders-retry-1000            billing-retry-1000  3        1         1m 15s   1m 30s\n\
             orders-dlt                   (none committed)    0        0         -        -\n\
             orders-retry-500 (orphaned)  billing-retry-500   2        0         -        1m\n"
        );
    }
}
