//! Gauges per retry topic and DLT: records held in memory, their due lag, forwards in flight
//! and forwards failing.
//!
//! * `kafka_retry_records_waiting{topic}`: records read from a retry topic or DLT and not
//!   handed to the handler yet (one per partition at most: the head record waiting for its
//!   due time or a handler slot).
//! * `kafka_retry_due_lag_seconds{topic}`: how far the most overdue of those is past its due
//!   time (`retry_topic-backoff-timestamp`, else the time it was written); 0 while retries
//!   wait as planned. Alert on this, not on consumer lag: a record waiting for its backoff is
//!   consumer lag and nothing is wrong.
//! * `kafka_retry_forwards_in_flight{topic}`: forwards to the topic not acknowledged yet.
//! * `kafka_retry_forwards_failing{topic}`: of these, the ones whose last attempt failed and
//!   that are being retried.
//!
//! The partition tasks only record what they hold; the consumer publishes the due lag once a
//! second (the lag of a held record grows while nothing happens to it).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use metrics::Gauge;
use retry_core::due_lag;

use crate::inbound::{now_ms, Inbound};

/// When a record read from a retry topic or DLT is due: its backoff timestamp, else the
/// time it was written (a dead letter is due at once).
pub(crate) fn due_of(inbound: &Inbound<'_>) -> i64 {
    inbound
        .state
        .as_ref()
        .ok()
        .and_then(|s| s.due_ms)
        .or(inbound.raw.meta.timestamp_ms)
        .unwrap_or_else(now_ms)
}

/// The records held by the partition tasks of one retry topic or DLT.
pub(crate) struct HeldRecords {
    /// Due time (epoch ms) of the record each partition holds.
    dues: Mutex<HashMap<i32, i64>>,
    waiting: Gauge,
    due_lag: Gauge,
}

impl HeldRecords {
    /// The gauges of `topic`.
    pub fn new(topic: &str) -> Self {
        let labels = [("topic", topic.to_owned())];
        Self {
            dues: Mutex::default(),
            waiting: metrics::gauge!("kafka_retry_records_waiting", &labels),
            due_lag: metrics::gauge!("kafka_retry_due_lag_seconds", &labels),
        }
    }

    /// `partition` holds a record due at `due_ms` until the returned guard drops.
    pub fn hold(&self, partition: i32, due_ms: i64) -> Held<'_> {
        let mut dues = self.dues.lock().unwrap_or_else(|e| e.into_inner());
        dues.insert(partition, due_ms);
        self.waiting.set(dues.len() as f64);
        Held {
            records: self,
            partition,
        }
    }

    /// Sets the due-lag gauge as of `now_ms`.
    pub fn publish(&self, now_ms: i64) {
        self.due_lag.set(self.due_lag_at(now_ms).as_secs_f64());
    }

    /// The due lag of the most overdue record held, at `now_ms`.
    fn due_lag_at(&self, now_ms: i64) -> Duration {
        let dues = self.dues.lock().unwrap_or_else(|e| e.into_inner());
        dues.values()
            .map(|due| due_lag(*due, now_ms))
            .max()
            .unwrap_or_default()
    }

    fn release(&self, partition: i32) {
        let mut dues = self.dues.lock().unwrap_or_else(|e| e.into_inner());
        dues.remove(&partition);
        self.waiting.set(dues.len() as f64);
    }
}

/// A record held by a partition task; released when dropped (handed to the handler, or the
/// partition revoked).
pub(crate) struct Held<'a> {
    records: &'a HeldRecords,
    partition: i32,
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        self.records.release(self.partition);
    }
}

/// The forward gauges of one destination topic.
struct ForwardGauges {
    in_flight: Gauge,
    failing: Gauge,
}

/// The forward gauges of every retry topic and DLT of the app.
pub(crate) struct Forwards(HashMap<String, ForwardGauges>);

impl Forwards {
    /// Gauges for each of `topics`.
    pub fn new<'a>(topics: impl IntoIterator<Item = &'a str>) -> Self {
        Self(
            topics
                .into_iter()
                .map(|topic| {
                    let labels = [("topic", topic.to_owned())];
                    let gauges = ForwardGauges {
                        in_flight: metrics::gauge!("kafka_retry_forwards_in_flight", &labels),
                        failing: metrics::gauge!("kafka_retry_forwards_failing", &labels),
                    };
                    (topic.to_owned(), gauges)
                })
                .collect(),
        )
    }

    /// A forward to `topic` starts; it counts as in flight until the guard drops.
    pub fn start(&self, topic: &str) -> Forwarding<'_> {
        let gauges = self.0.get(topic);
        if let Some(g) = gauges {
            g.in_flight.increment(1.0);
        }
        Forwarding {
            gauges,
            failing: false,
        }
    }
}

/// A forward in flight.
pub(crate) struct Forwarding<'a> {
    gauges: Option<&'a ForwardGauges>,
    failing: bool,
}

impl Forwarding<'_> {
    /// An attempt failed; the forward is retried (counted once however often it fails).
    pub fn failed(&mut self) {
        if !self.failing {
            self.failing = true;
            if let Some(g) = self.gauges {
                g.failing.increment(1.0);
            }
        }
    }
}

impl Drop for Forwarding<'_> {
    fn drop(&mut self) {
        if let Some(g) = self.gauges {
            g.in_flight.decrement(1.0);
            if self.failing {
                g.failing.decrement(1.0);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};

    /// Every gauge's value by `name{topic}` since the last snapshot (a snapshot resets the
    /// recorder's gauges to 0, so an incremented gauge reads as its change).
    fn gauges(recorder: &DebuggingRecorder) -> HashMap<String, f64> {
        recorder
            .snapshotter()
            .snapshot()
            .into_vec()
            .into_iter()
            .filter_map(|(key, _, _, value)| {
                let key = key.key();
                let topic = key.labels().next().map(|l| l.value().to_owned())?;
                match value {
                    DebugValue::Gauge(v) => Some((format!("{}{{{topic}}}", key.name()), v.0)),
                    _ => None,
                }
            })
            .collect()
    }

    #[test]
    fn held_records_count_and_the_most_overdue_gives_the_due_lag() {
        let recorder = DebuggingRecorder::new();
        metrics::with_local_recorder(&recorder, || {
            let held = HeldRecords::new("orders-retry-1000");
            let first = held.hold(0, 10_000);
            let second = held.hold(1, 12_000);
            assert_eq!(
                gauges(&recorder)["kafka_retry_records_waiting{orders-retry-1000}"],
                2.0
            );
            assert_eq!(held.due_lag_at(9_000), Duration::ZERO, "waiting as planned");
            held.publish(13_500);
            assert_eq!(
                gauges(&recorder)["kafka_retry_due_lag_seconds{orders-retry-1000}"],
                3.5
            );
            drop(first);
            assert_eq!(held.due_lag_at(13_500), Duration::from_millis(1_500));
            drop(second);
            held.publish(13_500);
            let values = gauges(&recorder);
            assert_eq!(
                values["kafka_retry_records_waiting{orders-retry-1000}"],
                0.0
            );
            assert_eq!(
                values["kafka_retry_due_lag_seconds{orders-retry-1000}"],
                0.0
            );
        });
    }

    #[test]
    fn forwards_count_in_flight_and_failing_until_they_end() {
        let recorder = DebuggingRecorder::new();
        metrics::with_local_recorder(&recorder, || {
            let forwards = Forwards::new(["orders-dlt"]);
            let ok = forwards.start("orders-dlt");
            let mut failing = forwards.start("orders-dlt");
            failing.failed();
            failing.failed();
            let untracked = forwards.start("elsewhere");
            let values = gauges(&recorder);
            assert_eq!(values["kafka_retry_forwards_in_flight{orders-dlt}"], 2.0);
            assert_eq!(values["kafka_retry_forwards_failing{orders-dlt}"], 1.0);
            drop((ok, failing, untracked));
            let values = gauges(&recorder);
            assert_eq!(values["kafka_retry_forwards_in_flight{orders-dlt}"], -2.0);
            assert_eq!(values["kafka_retry_forwards_failing{orders-dlt}"], -1.0);
            assert_eq!(
                values.len(),
                2,
                "no gauge for a topic that is not a destination"
            );
        });
    }
}
