//! One consumer per listener topic: start it, serve its group membership and start a task for
//! each partition assigned to it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rdkafka::consumer::{CommitMode, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::types::RDKafkaErrorCode;
use retry_core::{static_member_id, DestinationKind, ProcessingOrder};
use tokio::sync::{mpsc, watch, Semaphore};
use tokio::task::{JoinHandle, JoinSet};
use tokio_util::sync::CancellationToken;

use crate::breaker::BreakerCell;
use crate::context::{Assigned, ListenerConsumer, PartitionContext};
use crate::forward::Forwarder;
use crate::gauges::HeldRecords;
use crate::inbound::now_ms;
use crate::kafka_config::{KafkaSettings, Role};
use crate::listener::Listener;
use crate::locks::Locks;
use crate::partition::{run_partition, Partitions, SharedQueue};
use crate::process::Processor;
use crate::supervise::supervise;
use crate::unordered::run_unordered;

/// How often the main queue is polled even when it has nothing to say: librdkafka counts
/// `max.poll.interval.ms` from the last poll, so a consumer whose partitions all wait must
/// still poll to stay in its group.
const KEEP_POLLING: Duration = Duration::from_secs(1);

/// Why a consumer stopped on its own, taking the app down.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConsumerFailed {
    /// A partition task panicked: its partition would never be read again.
    #[error("a partition task of topic {topic} failed: {reason}")]
    PartitionTask {
        /// The topic.
        topic: String,
        /// The panic.
        reason: String,
    },
    /// librdkafka gave no queue of its own for an assigned partition.
    #[error("no queue could be split for {topic} [{partition}]")]
    NoPartitionQueue {
        /// The topic.
        topic: String,
        /// The partition.
        partition: i32,
    },
    /// A record arrived on the consumer's main queue, where none may arrive (every
    /// partition is read from a queue of its own).
    #[error(
        "record of {topic} [{partition}] at offset {offset} arrived outside its partition queue"
    )]
    StrayRecord {
        /// The topic.
        topic: String,
        /// The partition.
        partition: i32,
        /// The offset.
        offset: i64,
    },
    /// A partition reported an error and no record since, for longer than the app allows:
    /// librdkafka stopped fetching it (`auto.offset.reset=error` with no committed offset, a
    /// topic the consumer may no longer read) and it would never be read again.
    #[error(
        "partition {topic} [{partition}] has been in error for {}s with no record read: {error}",
        lasted.as_secs()
    )]
    DeadPartition {
        /// The topic.
        topic: String,
        /// The partition.
        partition: i32,
        /// The partition's latest error.
        error: String,
        /// How long it has been in error.
        lasted: Duration,
    },
    /// A key-ordered main partition reads a record below the offset its lock log says was
    /// committed (design/key-order.md): judged against keys already released, a record that
    /// failed would be skipped on its retry topic, so it is not read on.
    #[error(
        "{topic} [{partition}] reads offset {offset}, below {floor}, the committed offset \
         its lock log {locks} holds: the topic was recreated or its group's offsets moved \
         back. Delete {locks} and the parked topic along with a recreated topic, or move \
         the group's offset to {floor} or later"
    )]
    BelowFloor {
        /// The main topic.
        topic: String,
        /// The partition.
        partition: i32,
        /// The record's offset.
        offset: i64,
        /// The lock log's floor.
        floor: i64,
        /// The lock log.
        locks: String,
    },
    /// librdkafka declared the consumer dead (a fatal error): it will never read again.
    #[error("the consumer of {topic} failed for good: {error}{hint}")]
    Fatal {
        /// The topic.
        topic: String,
        /// librdkafka's error.
        error: KafkaError,
        /// What to do about it, when known.
        hint: &'static str,
    },
}

/// Advice for a fatal consumer error, if there is one to give.
fn fatal_hint(error: &KafkaError) -> &'static str {
    match error.rdkafka_error_code() {
        Some(RDKafkaErrorCode::UnreleasedInstanceId) => {
            " (group.protocol=consumer keeps a static member's group.instance.id for the \
             crashed instance until the broker expires its session, \
             group.consumer.session.timeout.ms; start again after that)"
        }
        _ => "",
    }
}

/// The running consumers of an app, one per topic consumed.
pub(crate) struct Consumers {
    /// Each consumer's task; one that fails reports it through the app's failure channel.
    pub tasks: Vec<JoinHandle<()>>,
    /// Each planned topic's consumer's "partitions assigned" signal (not orphans').
    pub ready: Vec<watch::Receiver<bool>>,
    /// Each consumer's topic.
    pub topics: Vec<String>,
    /// The listeners' breakers, for `/ready`.
    pub breakers: Vec<Arc<BreakerCell>>,
}

/// What every consumer of an app starts with, beyond its client settings.
pub(crate) struct ConsumerSettings<'a> {
    /// The instance's id for static membership, if it has one.
    pub instance_id: Option<&'a str>,
    /// How long a partition may stay in error, with no record read, before the app fails.
    pub dead_partition_after: Duration,
    /// Bytes of metadata a key-ordered main topic's commits carry at most.
    pub commit_metadata: usize,
}

/// Subscribes one consumer to each topic of each listener, its orphans included (a DLT only
/// when its handler starts automatically), and spawns its [`consume`] task; a consumer that
/// fails sends its error to `failure`.
pub(crate) fn spawn_consumers(
    listeners: &[Arc<Listener>],
    kafka: &KafkaSettings,
    settings: &ConsumerSettings<'_>,
    forwarder: &Arc<Forwarder>,
    failure: &watch::Sender<Option<String>>,
    stop: &CancellationToken,
    abort: &CancellationToken,
) -> Result<Consumers, KafkaError> {
    let mut tasks = Vec::new();
    let mut ready = Vec::new();
    let mut topics = Vec::new();
    let mut breakers = Vec::new();
    for listener in listeners {
        // One breaker per listener, shared by the consumers of all its topics.
        let breaker = listener.config.breaker.clone().map(|config| {
            let filter = listener.config.policy.errors;
            Arc::new(BreakerCell::new(&listener.config.name, filter, config))
        });
        breakers.extend(breaker.clone());
        // One lock-log client per listener with `ordering = "key"`, shared alike.
        let locks = match listener.config.topics.lock_log() {
            Some(topic) => {
                let mut reader = kafka.client_config(Role::Admin);
                // librdkafka assigns partitions only with a group; this one is never joined
                // nor committed to.
                reader.set("group.id", format!("{topic}-reader"));
                let producer = kafka.client_config(Role::Producer);
                Some(Locks::start(
                    topic,
                    &producer,
                    &reader,
                    abort.clone(),
                    settings.commit_metadata,
                )?)
            }
            None => None,
        };
        for destination in listener.consumed_topics() {
            // The main topic's commits move the lock log's floor, with `ordering = "key"`.
            let commits = match &locks {
                Some(locks) if destination.kind == DestinationKind::Main => {
                    let (commits, committed) = mpsc::unbounded_channel();
                    tokio::spawn(locks.clone().write_floors(committed));
                    Some(commits)
                }
                _ => None,
            };
            let (context, events) = PartitionContext::new(commits, locks.is_some());
            let mut config = kafka.client_config(Role::consuming(destination.kind));
            config.set("group.id", &destination.group);
            if listener.config.ordering == ProcessingOrder::Key {
                // Says the member's mode to the start-up check of other instances.
                config.set("client.id", kafka.key_order_client_id());
            }
            if let Some(instance) = settings.instance_id {
                // Static membership: a restarted instance takes its partitions back at
                // once instead of waiting for the session timeout.
                config.set(
                    "group.instance.id",
                    static_member_id(instance, &destination.name),
                );
            }
            let consumer = Arc::new(config.create_with_context::<_, ListenerConsumer>(context)?);
            PartitionContext::attach(&consumer);
            consumer.subscribe(&[&destination.name])?;
            let processor = Arc::new(Processor::new(
                listener.clone(),
                destination.clone(),
                forwarder.clone(),
                breaker.clone(),
                locks.clone(),
            ));
            let consumed = consume(
                consumer,
                processor,
                listener.config.concurrency,
                settings.dead_partition_after,
                events.assignments,
                stop.clone(),
                abort.clone(),
            );
            tasks.push(tokio::spawn(supervise(
                destination.name.clone(),
                consumed,
                stop.clone(),
                failure.clone(),
            )));
            // An orphan never holds readiness back: it may be deleted, or its only
            // partition held by an instance of the old version until that one stops.
            if listener.plans(&destination.name) {
                ready.push(events.ready);
            }
            topics.push(destination.name.clone());
        }
    }
    Ok(Consumers {
        tasks,
        ready,
        topics,
        breakers,
    })
}

/// Consumes until `stop`, then lets partition tasks finish their in-flight records and
/// commits what was done.
pub(crate) async fn consume(
    consumer: Arc<ListenerConsumer>,
    processor: Arc<Processor>,
    concurrency: usize,
    dead_partition_after: Duration,
    mut assignments: mpsc::UnboundedReceiver<Assigned>,
    stop: CancellationToken,
    abort: CancellationToken,
) -> Result<(), ConsumerFailed> {
    let topic: Arc<str> = processor.topic().into();
    let held = processor
        .holds_delayed_records()
        .then(|| HeldRecords::new(&topic));
    let shared = Arc::new(Partitions {
        held,
        consumer: consumer.clone(),
        processor,
        permits: Semaphore::new(concurrency.max(1)),
        waiting: AtomicUsize::new(0),
        stop: stop.clone(),
        stopping: AtomicBool::new(false),
        abort,
        topic: topic.clone(),
        dead_partition_after,
    });
    let mut queues: HashMap<i32, SharedQueue> = HashMap::new();
    let mut tasks = JoinSet::new();
    let mut keep_polling = tokio::time::interval(KEEP_POLLING);
    let outcome = loop {
        tokio::select! {
            biased;
            _ = stop.cancelled() => break Ok(()),
            Some(assigned) = assignments.recv() => {
                let queue = match assigned.queue {
                    Some(queue) => queues.entry(assigned.partition).insert_entry(Arc::new(queue.into())).get().clone(),
                    None => match queues.get(&assigned.partition) {
                        Some(queue) => queue.clone(),
                        None => break Err(ConsumerFailed::NoPartitionQueue { topic: topic.to_string(), partition: assigned.partition }),
                    },
                };
                match shared.processor.ordering() {
                    ProcessingOrder::Partition => tasks.spawn(run_partition(shared.clone(), queue, assigned.partition, assigned.owned)),
                    ProcessingOrder::Unordered | ProcessingOrder::Key => tasks.spawn(run_unordered(shared.clone(), queue, assigned.partition, assigned.owned)),
                };
            }
            Some(joined) = tasks.join_next() => match joined {
                Ok(Ok(())) => {}
                Ok(Err(failed)) => break Err(failed),
                Err(error) => break Err(ConsumerFailed::PartitionTask { topic: topic.to_string(), reason: error.to_string() }),
            },
            message = consumer.recv() => match message {
                Ok(message) => break Err(ConsumerFailed::StrayRecord {
                    topic: message.topic().to_owned(),
                    partition: message.partition(),
                    offset: message.offset(),
                }),
                Err(error @ KafkaError::MessageConsumptionFatal(_)) => {
                    let hint = fatal_hint(&error);
                    break Err(ConsumerFailed::Fatal { topic: topic.to_string(), error, hint });
                }
                Err(error) => tracing::warn!(%topic, %error, "consumer error"),
            },
            _ = keep_polling.tick() => {
                if let Some(held) = &shared.held {
                    held.publish(now_ms());
                }
            }
        }
    };
    if outcome.is_err() {
        stop.cancel();
    }
    shared.stopping.store(true, Ordering::Release);
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::error!(%topic, %error, "partition failed during shutdown"),
            Err(error) => tracing::error!(%topic, %error, "partition task failed during shutdown"),
        }
    }
    drop(queues);
    drop(shared);
    // The final commit and leaving the group wait on the broker: keep them off the async
    // workers, which may be serving that very broker (the embedded one) or other consumers.
    // A thread of its own rather than tokio's blocking pool: with the broker gone librdkafka
    // may never return, and dropping a runtime waits for every blocking task, so the process
    // would not exit after shutdown gave up on it (crate::shutdown).
    let (closed, done) = tokio::sync::oneshot::channel();
    let spawned = std::thread::Builder::new()
        .name(format!("close {topic}"))
        .spawn(move || {
            close(consumer);
            let _ = closed.send(());
        });
    match spawned {
        Ok(_) => {
            if done.await.is_err() {
                tracing::error!(%topic, "closing the consumer panicked");
            }
        }
        Err(error) => {
            tracing::error!(%topic, %error, "cannot start a thread to close the consumer")
        }
    }
    outcome
}

/// Commits the stored offsets and leaves the group (when the last reference drops).
fn close(consumer: Arc<ListenerConsumer>) {
    match consumer.commit_consumer_state(CommitMode::Sync) {
        Ok(()) => {}
        Err(rdkafka::error::KafkaError::ConsumerCommit(
            rdkafka::types::RDKafkaErrorCode::NoOffset,
        )) => {}
        Err(error) => {
            tracing::warn!(%error, "final commit failed; uncommitted records will be redelivered")
        }
    }
    consumer.unsubscribe();
    drop(consumer);
}
