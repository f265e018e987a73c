//! Fetching as Kafka answers it, checked with a plain librdkafka consumer: what delayed
//! retries and main-topic throughput rest on.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, StreamConsumer};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::statistics::Statistics;
use rdkafka::{ClientConfig, ClientContext, Offset, TopicPartitionList};

use crate::support::*;

/// How long the consumer lets the broker hold a fetch that finds too little: far longer
/// than the test may take.
const FETCH_WAIT: Duration = Duration::from_secs(30);

/// A fetch that finds records is answered at once; the broker holds it for up to
/// `fetch.wait.max.ms` only while it finds none. A broker that waits after finding records
/// too makes retries due together late and main-topic throughput wait on the broker.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fetch_that_finds_records_is_answered_without_waiting() {
    let s = Scenario::start().await;
    let topic = s.topic("fetching");
    s.kafka.create_topic(&topic, 1).await.unwrap();
    s.produce("fetching", "k", "v").await;
    let consumer = long_polling_consumer(&s, &topic);

    let waited = first_record(&consumer).await;
    // Answered at once, this takes a few milliseconds; a broker that holds the fetch takes
    // at least half of FETCH_WAIT.
    assert!(
        waited < FETCH_WAIT / 3,
        "the first record took {waited:?} with fetch.wait.max.ms {FETCH_WAIT:?}"
    );
}

/// A fetch waiting for records is answered when one arrives, not when its wait is over.
/// Otherwise a retry written while its topic's consumer waits is read only when the wait
/// ends, and a retry partition whose prefetch ran out waits as long behind that fetch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiting_fetch_is_answered_when_a_record_arrives() {
    let s = Scenario::start().await;
    let topic = s.topic("fetch-arrival");
    s.kafka.create_topic(&topic, 1).await.unwrap();
    let consumer = long_polling_consumer(&s, &topic);
    let waiting = tokio::spawn(async move { first_record(&consumer).await });
    // Long enough for the consumer to join and send its first fetch, which finds nothing.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let produced = Instant::now();
    s.produce("fetch-arrival", "k", "v").await;

    waiting.await.expect("consumer task");
    let after = produced.elapsed();
    assert!(
        after < FETCH_WAIT / 3,
        "the record arrived {after:?} after it was written, with fetch.wait.max.ms {FETCH_WAIT:?}"
    );
}

/// A consumer of partition 0 of `topic`, from its beginning, that lets the broker hold a
/// fetch that finds nothing for [`FETCH_WAIT`].
fn long_polling_consumer(s: &Scenario, topic: &str) -> StreamConsumer {
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", s.kafka.bootstrap_servers())
        .set("group.id", topic)
        .set("fetch.wait.max.ms", FETCH_WAIT.as_millis().to_string())
        .set(
            "socket.timeout.ms",
            (FETCH_WAIT + Duration::from_secs(30))
                .as_millis()
                .to_string(),
        )
        .create()
        .expect("consumer");
    assign_from_beginning(&consumer, topic);
    consumer
}

/// Assigns partition 0 of `topic` to `consumer`, from its first record.
fn assign_from_beginning<C: ConsumerContext>(consumer: &impl Consumer<C>, topic: &str) {
    let mut partitions = TopicPartitionList::new();
    partitions
        .add_partition_offset(topic, 0, Offset::Beginning)
        .unwrap();
    consumer.assign(&partitions).expect("assign");
}

/// How long the consumer took to deliver record 0, the first it reads.
async fn first_record(consumer: &StreamConsumer) -> Duration {
    let asked = Instant::now();
    let record = tokio::time::timeout(FETCH_WAIT * 2, consumer.recv())
        .await
        .expect("the record arrives")
        .expect("no consumer error");
    assert_eq!(rdkafka::Message::offset(&record), 0);
    asked.elapsed()
}

/// Records in each batch the byte-limit test writes, and the size of each record's value.
const BATCH_RECORDS: usize = 500;
const VALUE_BYTES: usize = 100;

/// A fetch answer keeps within the consumer's byte limits, `fetch.max.bytes` for the answer
/// and `fetch.message.max.bytes` (Java: `max.partition.fetch.bytes`) for each partition: it
/// carries the batches that fit, and one batch alone only when that batch is larger than the
/// limit. librdkafka holds every record of an answer until the application reads it, so a
/// batch past the limit is memory a retry consumer waiting for a record's due time holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fetch_answer_keeps_within_the_byte_limits() {
    let s = Scenario::start().await;
    let topic = s.topic("fetch-bytes");
    s.kafka.create_topic(&topic, 1).await.unwrap();
    write_batches(&s, &topic, 3);
    // One batch is about 60 kB: the limit holds one, not two.
    for limit in ["fetch.message.max.bytes", "fetch.max.bytes"] {
        let bytes = "80000";
        let fetched =
            first_fetch(&s, &topic, &[(limit, bytes), ("message.max.bytes", "1000")]).await;
        assert_eq!(
            fetched, BATCH_RECORDS as i64,
            "with {limit}={bytes}, the first fetch brought {fetched} records; one batch holds {BATCH_RECORDS}"
        );
    }
}

/// Writes `batches` batches of [`BATCH_RECORDS`] records to partition 0 of `topic`.
fn write_batches(s: &Scenario, topic: &str, batches: usize) {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", s.kafka.bootstrap_servers())
        // A batch leaves when it is full, not before.
        .set("batch.num.messages", BATCH_RECORDS.to_string())
        .set("linger.ms", "60000")
        .create()
        .expect("producer");
    let value = [b'v'; VALUE_BYTES];
    for batch in 0..batches {
        for i in 0..BATCH_RECORDS {
            let key = format!("{batch}-{i}");
            producer
                .send(
                    BaseRecord::to(topic)
                        .partition(0)
                        .key(&key)
                        .payload(&value[..]),
                )
                .expect("queued");
        }
    }
    producer.flush(Duration::from_secs(30)).expect("written");
}

/// How many records the consumer's first fetch of `topic` brought, with `config`: the record
/// taken, and the partition's queue length after it once it stops changing, read from
/// librdkafka's statistics (`queued.min.messages` 1: nothing more is fetched while a record
/// is queued).
async fn first_fetch(s: &Scenario, topic: &str, config: &[(&str, &str)]) -> i64 {
    let mut client = ClientConfig::new();
    client
        .set("bootstrap.servers", s.kafka.bootstrap_servers())
        .set("group.id", topic)
        .set("queued.min.messages", "1")
        .set("statistics.interval.ms", "100");
    for (key, value) in config {
        client.set(*key, *value);
    }
    let queued = Arc::new(AtomicI64::new(-1));
    let consumer: Arc<BaseConsumer<QueueLength>> = Arc::new(
        client
            .create_with_context(QueueLength {
                topic: topic.to_owned(),
                queued: queued.clone(),
            })
            .expect("consumer"),
    );
    // Records go to the partition's own queue; polling the consumer serves the statistics.
    let queue = consumer.split_partition_queue(topic, 0).expect("queue");
    assign_from_beginning(consumer.as_ref(), topic);
    let deadline = Instant::now() + Duration::from_secs(30);
    // Polls are not blocking: the embedded broker runs on this runtime. Taking the first
    // record also serves librdkafka's own events queued before it, which would otherwise
    // count as a queued record and hold the fetch back.
    loop {
        assert!(
            consumer.poll(Duration::ZERO).is_none(),
            "records reach the main queue"
        );
        if let Some(record) = queue.poll(Duration::ZERO) {
            record.expect("no consumer error");
            break;
        }
        assert!(Instant::now() < deadline, "nothing was fetched");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let taken = queued.load(Ordering::Relaxed);
    let mut settled: Option<(i64, Instant)> = None;
    loop {
        assert!(consumer.poll(Duration::ZERO).is_none());
        let now = queued.load(Ordering::Relaxed);
        match settled {
            // A report from before the record was taken does not count.
            _ if now == taken => assert!(Instant::now() < deadline, "no statistics"),
            Some((count, since)) if count == now => {
                if since.elapsed() > Duration::from_secs(1) {
                    return 1 + now;
                }
            }
            _ => settled = Some((now, Instant::now())),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Notes the length of partition 0's queue from each statistics report.
struct QueueLength {
    topic: String,
    queued: Arc<AtomicI64>,
}

impl ClientContext for QueueLength {
    fn stats(&self, statistics: Statistics) {
        if let Some(partition) = statistics
            .topics
            .get(&self.topic)
            .and_then(|topic| topic.partitions.get(&0))
        {
            self.queued.store(partition.fetchq_cnt, Ordering::Relaxed);
        }
    }
}

impl ConsumerContext for QueueLength {}
