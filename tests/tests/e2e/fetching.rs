//! Fetching as Kafka answers it, checked with a plain librdkafka consumer: what delayed
//! retries and main-topic throughput rest on.

use std::time::{Duration, Instant};

use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

use crate::support::*;

/// How long the consumer lets the broker hold a fetch that finds too little: far longer
/// than the test may take.
const FETCH_WAIT: Duration = Duration::from_secs(30);

/// A fetch that finds records is answered at once; the broker holds it for up to
/// `fetch.wait.max.ms` only while it finds none. The embedded broker once slept after
/// finding records too (the whole wait, or half of it from 250 ms): every fetch of a retry
/// topic took its 50 ms and every main-topic fetch 250 ms, so retries due together were
/// handled up to 150 ms late and the sustained throughput waited on the broker.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fetch_that_finds_records_is_answered_without_waiting() {
    let s = Scenario::start().await;
    let topic = s.topic("fetching");
    s.kafka.create_topic(&topic, 1).await.unwrap();
    s.produce("fetching", "k", "v").await;

    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", s.kafka.bootstrap_servers())
        .set("group.id", &topic)
        .set("fetch.wait.max.ms", FETCH_WAIT.as_millis().to_string())
        .set(
            "socket.timeout.ms",
            (FETCH_WAIT + Duration::from_secs(30))
                .as_millis()
                .to_string(),
        )
        .create()
        .expect("consumer");
    let mut partitions = TopicPartitionList::new();
    partitions
        .add_partition_offset(&topic, 0, Offset::Beginning)
        .unwrap();
    consumer.assign(&partitions).expect("assign");

    let asked = Instant::now();
    let record = tokio::time::timeout(FETCH_WAIT * 2, consumer.recv())
        .await
        .expect("the record arrives")
        .expect("no consumer error");
    let waited = asked.elapsed();
    assert_eq!(rdkafka::Message::offset(&record), 0);
    // Answered at once, this takes a few milliseconds; a broker that holds the fetch takes
    // at least half of FETCH_WAIT.
    assert!(
        waited < FETCH_WAIT / 3,
        "the first record took {waited:?} with fetch.wait.max.ms {FETCH_WAIT:?}"
    );
}
