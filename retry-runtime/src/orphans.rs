//! Start-up: the retry topics and DLTs of a listener's main topic that its plan no longer has
//! (a changed `attempts`, `backoff`, `suffix`, `topic_reuse` or suffix renamed them) and that
//! the listener's own group committed on. The app consumes them like the plan's own, whatever
//! their backlog at start-up (old instances may still forward into them during a rolling
//! deploy), so their records are handled and continue on the current chain instead of waiting
//! forever (`design/orphaned-retry-topics.md`).

use std::collections::HashMap;
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::{Offset, TopicPartitionList};
use retry_core::{
    consumes_orphaned_dlts, is_own_orphan, orphaned_topics, unconsumed, DestinationKind,
    OrphanedTopic,
};

use crate::error::StartError;
use crate::kafka_config::{KafkaSettings, Role};
use crate::listener::Listener;

/// Finds each listener's orphans among the `existing` topics (name → partition count) and
/// records them in [`Listener::orphans`], each logged at WARN with its backlog (drained even
/// when empty). A topic is
/// one only when the listener's own group for it committed offsets on it
/// ([`is_own_orphan`]), and a topic another listener of the app plans is never one. An own
/// orphaned DLT is consumed only when [`consumes_orphaned_dlts`]; otherwise it is named at
/// WARN as left alone.
pub(crate) async fn attach(
    listeners: &mut [Listener],
    kafka: &KafkaSettings,
    existing: &HashMap<String, i32>,
    timeout: Duration,
) -> Result<(), StartError> {
    let names: Vec<String> = existing.keys().cloned().collect();
    for i in 0..listeners.len() {
        let listener = &listeners[i];
        let candidates: Vec<OrphanedTopic> =
            orphaned_topics(&listener.config.policy, &listener.config.topics, &names)
                .into_iter()
                .filter(|o| !listeners.iter().any(|l| l.plans(&o.topic.name)))
                .collect();
        let dlts_consumed = consumes_orphaned_dlts(
            listener.dlt_handler.is_some(),
            &listener.config.policy.dlt,
            listener.config.auto_start_dlt,
        );
        let mut found = Vec::new();
        for orphan in candidates {
            let partitions = existing.get(&orphan.topic.name).copied().unwrap_or(0);
            let (waiting, committed) =
                backlog(kafka, &orphan, partitions, timeout)
                    .await
                    .map_err(|source| StartError::OrphanBacklog {
                        topic: orphan.topic.name.clone(),
                        group: orphan.topic.group.clone(),
                        source: Box::new(source),
                    })?;
            if !is_own_orphan(committed) {
                continue;
            }
            if orphan.topic.kind == DestinationKind::Dlt && !dlts_consumed {
                tracing::warn!(
                    listener = %listener.config.name,
                    topic = %orphan.topic.name,
                    group = %orphan.topic.group,
                    backlog = waiting,
                    "DLT is no longer in the listener's chain but its group consumed it: left \
                     alone, since the listener has no DLT handler that starts automatically or \
                     no DLT (dlt = \"none\"); its dead letters stay in it"
                );
                continue;
            }
            tracing::warn!(
                listener = %listener.config.name,
                topic = %orphan.topic.name,
                group = %orphan.topic.group,
                backlog = waiting,
                "topic is no longer in the listener's chain (its attempts, backoff, suffix, \
                 topic_reuse or a suffix changed) but its group consumed it: consuming it as \
                 well, with the records its group has not consumed yet (backlog) and any that \
                 still arrive; its records continue on the current chain"
            );
            found.push(orphan.topic);
        }
        listeners[i].orphans = found;
    }
    Ok(())
}

/// The records of `orphan` its group has not consumed, and whether the group committed on
/// any of its `partitions` (when it did not, the backlog is not read: 0). The calls block on the broker: run off the async workers.
async fn backlog(
    kafka: &KafkaSettings,
    orphan: &OrphanedTopic,
    partitions: i32,
    timeout: Duration,
) -> Result<(u64, bool), KafkaError> {
    let mut config = kafka.client_config(Role::consuming(orphan.topic.kind));
    config.set("group.id", &orphan.topic.group);
    // Reads offsets only: never joins the group, never commits.
    config.set("enable.auto.commit", "false");
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
        // Another group's topic (the common case on a shared main topic) is left alone
        // whatever its backlog: no watermark requests for it.
        if offsets.iter().all(Option::is_none) {
            return Ok((0, false));
        }
        let mut waiting = 0;
        for (partition, offset) in (0..partitions).zip(offsets) {
            let (low, high) = consumer.fetch_watermarks(&topic, partition, timeout)?;
            waiting += unconsumed(low, high, offset);
        }
        Ok((waiting, true))
    })
    .await
    .expect("offset task panicked")
}
