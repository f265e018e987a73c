//! Start-up: the retry topics and DLTs of a listener's main topic that its plan no longer has
//! (a changed `attempts`, `backoff`, `suffix`, `topic_reuse` or suffix renamed them) and that
//! are the listener's: its own group committed on them, or it forwarded their records. The app
//! consumes them like the plan's own, whatever their backlog at start-up (old instances may
//! still forward into them during a rolling deploy), so their records are handled and continue
//! on the current chain instead of waiting forever (`design/orphaned-retry-topics.md`).

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Offset, TopicPartitionList};
use retry_core::{
    consumes_orphaned_dlts, forwarding_groups, headers, is_own_orphan, orphaned_topics, unconsumed,
    DestinationKind, OrphanedTopic,
};

use crate::error::StartError;
use crate::kafka_config::{KafkaSettings, Role};
use crate::kafka_headers;
use crate::listener::Listener;

/// Finds each listener's orphans among the `existing` topics (name → partition count) and
/// records them in [`Listener::orphans`], each logged at WARN with its backlog (drained even
/// when empty). A topic is one only when it is the listener's ([`is_own_orphan`]): its own
/// group for it committed offsets on it, or its records were forwarded by the listener's
/// groups ([`forwarding_groups`]); a topic another listener of the app plans is never one.
/// An own orphaned DLT is consumed only when [`consumes_orphaned_dlts`]; otherwise it is
/// named at WARN as left alone.
pub(crate) async fn attach(
    listeners: &mut [Listener],
    kafka: &KafkaSettings,
    existing: &HashMap<String, i32>,
    timeout: Duration,
) -> Result<(), StartError> {
    let names: Vec<String> = existing.keys().cloned().collect();
    for i in 0..listeners.len() {
        let listener = &listeners[i];
        let policy = &listener.config.policy;
        let candidates: Vec<OrphanedTopic> =
            orphaned_topics(policy, &listener.config.topics, &names)
                .into_iter()
                .filter(|o| !listeners.iter().any(|l| l.plans(&o.topic.name)))
                .collect();
        let chain = listener.config.topics.topics().map(|t| t.name.as_str());
        let own = forwarding_groups(
            &policy.group,
            &policy.topic,
            chain.chain(candidates.iter().map(|o| o.topic.name.as_str())),
        );
        let dlts_consumed = consumes_orphaned_dlts(
            listener.dlt_handler.is_some(),
            &policy.dlt,
            listener.config.auto_start_dlt,
        );
        let mut found = Vec::new();
        for orphan in candidates {
            let partitions = existing.get(&orphan.topic.name).copied().unwrap_or(0);
            let read = backlog(kafka, &orphan, partitions, timeout)
                .await
                .map_err(|source| StartError::OrphanBacklog {
                    topic: orphan.topic.name.clone(),
                    group: orphan.topic.group.clone(),
                    source: Box::new(source),
                })?;
            let forwarders = read.forwarders.iter().map(String::as_str);
            if !is_own_orphan(read.committed, forwarders, &own) {
                continue;
            }
            if orphan.topic.kind == DestinationKind::Dlt && !dlts_consumed {
                tracing::warn!(
                    listener = %listener.config.name,
                    topic = %orphan.topic.name,
                    group = %orphan.topic.group,
                    backlog = read.waiting,
                    "DLT is no longer in the listener's chain but the listener consumed it or \
                     forwarded to it: left alone, since the listener has no DLT handler that \
                     starts automatically or no DLT (dlt = \"none\"); its dead letters stay in \
                     it"
                );
                continue;
            }
            tracing::warn!(
                listener = %listener.config.name,
                topic = %orphan.topic.name,
                group = %orphan.topic.group,
                backlog = read.waiting,
                committed = read.committed,
                "topic is no longer in the listener's chain (its attempts, backoff, suffix, \
                 topic_reuse or a suffix changed) but the listener consumed it (its group \
                 committed) or forwarded the records waiting in it: consuming it as well, \
                 with the records its group has not consumed yet (backlog) and any that \
                 still arrive; its records continue on the current chain"
            );
            found.push(orphan.topic);
        }
        listeners[i].orphans = found;
    }
    Ok(())
}

/// What start-up reads of an orphan candidate.
struct Backlog {
    /// The records its group has not consumed.
    waiting: u64,
    /// Whether the group committed on any of its partitions.
    committed: bool,
    /// When it did not: the `kafka_dlt-original-consumer-group` of the first record of each
    /// partition that has one.
    forwarders: Vec<String>,
}

/// Reads `orphan`'s backlog with a consumer that never joins its group: the group's
/// committed offsets, the watermarks, and, when the group never committed on any of its
/// `partitions`, who forwarded its records. The calls block on the broker: run off the async
/// workers.
async fn backlog(
    kafka: &KafkaSettings,
    orphan: &OrphanedTopic,
    partitions: i32,
    timeout: Duration,
) -> Result<Backlog, KafkaError> {
    let mut config = kafka.client_config(Role::consuming(orphan.topic.kind));
    config.set("group.id", &orphan.topic.group);
    // Reads offsets and records only: never joins the group, never commits.
    config.set("enable.auto.commit", "false");
    // A partition whose records are all skipped (aborted transactions) ends the read too.
    config.set("enable.partition.eof", "true");
    let consumer: BaseConsumer = config.create()?;
    let topic = orphan.topic.name.clone();
    tokio::task::spawn_blocking(move || {
        let mut asked = TopicPartitionList::new();
        for partition in 0..partitions {
            asked.add_partition(&topic, partition);
        }
        let committed = consumer.committed_offsets(asked, timeout)?;
        let offsets: Vec<Option<i64>> = (0..partitions)
            .map(|partition| {
                match committed
                    .find_partition(&topic, partition)
                    .map(|p| p.offset())
                {
                    Some(Offset::Offset(offset)) => Some(offset),
                    _ => None,
                }
            })
            .collect();
        let committed = offsets.iter().any(Option::is_some);
        let mut waiting = 0;
        // The first offset of each partition that holds records.
        let mut starts = Vec::new();
        for (partition, offset) in (0..partitions).zip(offsets) {
            let (low, high) = consumer.fetch_watermarks(&topic, partition, timeout)?;
            waiting += unconsumed(low, high, offset);
            if high > low {
                starts.push((partition, low));
            }
        }
        let forwarders = match committed || starts.is_empty() {
            true => Vec::new(),
            false => first_forwarders(&consumer, &topic, &starts, timeout)?,
        };
        Ok(Backlog {
            waiting,
            committed,
            forwarders,
        })
    })
    .await
    .expect("offset task panicked")
}

/// The `kafka_dlt-original-consumer-group` of the first record of each partition of `topic`
/// from its offset in `starts`, read with `consumer` (assigned, never subscribed). A
/// partition that reaches its end without a record gives none. Fails when a partition gave
/// neither within `timeout`, with the last error the client reported.
fn first_forwarders(
    consumer: &BaseConsumer,
    topic: &str,
    starts: &[(i32, i64)],
    timeout: Duration,
) -> Result<Vec<String>, KafkaError> {
    let mut assignment = TopicPartitionList::new();
    for &(partition, offset) in starts {
        assignment.add_partition_offset(topic, partition, Offset::Offset(offset))?;
    }
    consumer.assign(&assignment)?;
    let mut open: HashSet<i32> = starts.iter().map(|&(partition, _)| partition).collect();
    let mut forwarders = Vec::new();
    let mut last_error = KafkaError::MessageConsumption(RDKafkaErrorCode::OperationTimedOut);
    let deadline = Instant::now() + timeout;
    while !open.is_empty() {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(last_error);
        }
        match consumer.poll(left) {
            Some(Ok(message)) if open.remove(&message.partition()) => {
                let headers = message.headers().map(kafka_headers::read);
                let forwarder = headers
                    .as_ref()
                    .and_then(|h| h.get_str(headers::ORIGINAL_CONSUMER_GROUP));
                forwarders.extend(forwarder.map(str::to_owned));
            }
            Some(Err(KafkaError::PartitionEOF(partition))) => {
                open.remove(&partition);
            }
            // The client retries on its own: a lasting error fails the read at the deadline.
            Some(Err(error)) => last_error = error,
            Some(Ok(_)) | None => {}
        }
    }
    Ok(forwarders)
}
