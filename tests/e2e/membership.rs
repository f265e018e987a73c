//! The group membership the delivery guarantees rest on: under cooperative rebalancing a
//! partition moves to another member only after the member holding it has given it up, so
//! two instances never work on one partition at once (each would handle its records).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance};
use rdkafka::{ClientConfig, ClientContext};

use crate::support::*;

/// Partitions of the topic.
const PARTITIONS: i32 = 4;

/// A change of one member's partitions, as its rebalance callback saw it.
#[derive(Debug, Clone)]
enum Change {
    Assigned(&'static str, Vec<i32>),
    Revoked(&'static str, Vec<i32>),
}

/// Every member's changes, in the order they happened.
type Changes = Arc<Mutex<Vec<Change>>>;

/// Records a member's rebalances before librdkafka applies them: an assignment before the
/// member fetches, a revocation before it stops.
struct Recorder {
    member: &'static str,
    changes: Changes,
}

impl ClientContext for Recorder {}

impl ConsumerContext for Recorder {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let partitions = |list: &rdkafka::TopicPartitionList| {
            list.elements().iter().map(|e| e.partition()).collect()
        };
        let change = match rebalance {
            Rebalance::Assign(list) => Change::Assigned(self.member, partitions(list)),
            Rebalance::Revoke(list) => Change::Revoked(self.member, partitions(list)),
            // librdkafka drops the whole assignment on a failed rebalance.
            Rebalance::Error(_) => Change::Revoked(
                self.member,
                consumer
                    .assignment()
                    .map(|list| partitions(&list))
                    .unwrap_or_default(),
            ),
        };
        self.changes.lock().unwrap().push(change);
    }
}

/// A plain consumer of the group, polled on a thread of its own until dropped.
struct Member {
    stop: Arc<AtomicBool>,
    polling: Option<JoinHandle<()>>,
}

impl Member {
    /// Subscribes `member` to the test topic in the test's group, heartbeating every
    /// `heartbeat_ms`, and records its rebalances in `changes`.
    fn join(s: &Scenario, member: &'static str, heartbeat_ms: u32, changes: &Changes) -> Self {
        let consumer: BaseConsumer<Recorder> = ClientConfig::new()
            .set("bootstrap.servers", s.kafka.bootstrap_servers())
            .set("group.id", s.topic("membership"))
            // Member ids start with the client id: A's sorts first, as in the case this
            // test replays (the assignor breaks ties by member id).
            .set("client.id", member.to_ascii_lowercase())
            .set("partition.assignment.strategy", "cooperative-sticky")
            .set("session.timeout.ms", "6000")
            .set("heartbeat.interval.ms", heartbeat_ms.to_string())
            .create_with_context(Recorder {
                member,
                changes: changes.clone(),
            })
            .expect("consumer");
        consumer
            .subscribe(&[&s.topic("membership")])
            .expect("subscribe");
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let polling = std::thread::spawn(move || {
            while !stopping.load(Ordering::Relaxed) {
                // No records are produced: polling serves the group protocol.
                let _ = consumer.poll(Duration::from_millis(50));
            }
            consumer.unsubscribe();
        });
        Self {
            stop,
            polling: Some(polling),
        }
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(polling) = self.polling.take() {
            let _ = polling.join();
        }
    }
}

/// Replays `changes`: the partitions each member holds at the end, and every assignment of
/// a partition that another member still held.
fn replay(changes: &[Change]) -> (BTreeMap<&'static str, BTreeSet<i32>>, Vec<String>) {
    let mut holder: BTreeMap<i32, &'static str> = BTreeMap::new();
    let mut overlaps = Vec::new();
    for change in changes {
        match change {
            Change::Assigned(member, partitions) => {
                for partition in partitions {
                    if let Some(other) = holder.insert(*partition, member) {
                        if other != *member {
                            overlaps.push(format!(
                                "partition {partition} assigned to {member} while {other} held it"
                            ));
                        }
                    }
                }
            }
            Change::Revoked(member, partitions) => {
                for partition in partitions {
                    if holder.get(partition) == Some(member) {
                        holder.remove(partition);
                    }
                }
            }
        }
    }
    let mut held: BTreeMap<&'static str, BTreeSet<i32>> = BTreeMap::new();
    for (partition, member) in holder {
        held.entry(member).or_default().insert(partition);
    }
    (held, overlaps)
}

/// What each member holds now.
fn held(changes: &Changes) -> BTreeMap<&'static str, BTreeSet<i32>> {
    replay(&changes.lock().unwrap()).0
}

/// The case that split partitions on the embedded broker: a member (B) whose partitions came
/// from an assignment after its last JoinGroup is slow to rejoin the next rebalance. The
/// leader (A, quick to notice) must not assign from B's stale subscription, which lists none
/// of B's partitions: the third member would get one of them while B still consumes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cooperative_rebalances_never_give_a_held_partition_to_another_member() {
    let s = Scenario::start().await;
    s.kafka
        .create_topic(&s.topic("membership"), PARTITIONS)
        .await
        .unwrap();
    let changes = Changes::default();
    let settled = |counts: &[usize]| {
        let held = held(&changes);
        let mut sizes: Vec<usize> = held.values().map(BTreeSet::len).collect();
        sizes.sort_unstable();
        sizes == counts
    };

    let a = Member::join(&s, "A", 100, &changes);
    eventually("A holds every partition", Duration::from_secs(30), || {
        settled(&[4])
    })
    .await;
    let b = Member::join(&s, "B", 3000, &changes);
    eventually("A and B hold two each", Duration::from_secs(30), || {
        settled(&[2, 2])
    })
    .await;
    let c = Member::join(&s, "C", 100, &changes);
    eventually("A, B and C share the four", Duration::from_secs(30), || {
        settled(&[1, 1, 2])
    })
    .await;
    drop((a, b, c));

    let changes = changes.lock().unwrap().clone();
    let (_, overlaps) = replay(&changes);
    assert!(
        overlaps.is_empty(),
        "a partition was held by two members at once: {overlaps:?}\nchanges: {changes:?}"
    );
}
