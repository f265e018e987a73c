//! The Kafka side of the command: connection settings as the runtime reads them, topic and
//! group metadata, and reading a topic from given offsets to its end as of the start.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use retry_core::Headers;
use retry_runtime::{kafka_headers, KafkaSettings, Role};

/// How long to wait for the broker on each request.
const TIMEOUT: Duration = Duration::from_secs(10);

/// Client settings: `KAFKA_*` from the environment, `--bootstrap-servers` over them.
pub struct Connection {
    settings: KafkaSettings,
}

impl Connection {
    /// Reads the environment; a bad value fails naming its variable.
    pub fn from_env(bootstrap_servers: Option<&str>) -> anyhow::Result<Self> {
        let mut settings = KafkaSettings::from_env(std::env::vars())?;
        if let Some(servers) = bootstrap_servers {
            settings.set_checked("bootstrap.servers", servers)?;
        }
        Ok(Self { settings })
    }

    /// A consumer that commits only when told, in `group` (a throwaway one for reading).
    pub fn consumer(&self, group: Option<&str>) -> anyhow::Result<StreamConsumer> {
        let mut config = self.settings.client_config(Role::Admin);
        let group = group.map_or_else(
            || format!("kafka-retry-cli-reader-{}", std::process::id()),
            str::to_owned,
        );
        config
            .set("group.id", group)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false");
        Ok(config.create()?)
    }

    /// A producer that writes each record once (`acks=all`, idempotent), as the runtime's.
    pub fn producer_config(&self) -> ClientConfig {
        self.settings.client_config(Role::Producer)
    }

    /// Every topic and its partition count.
    pub fn topics(&self) -> anyhow::Result<HashMap<String, i32>> {
        let consumer = self.consumer(None)?;
        let metadata = consumer.fetch_metadata(None, TIMEOUT).with_context(|| {
            format!("reading topics from {}", self.settings.bootstrap_servers())
        })?;
        Ok(metadata
            .topics()
            .iter()
            .map(|t| (t.name().to_owned(), t.partitions().len() as i32))
            .collect())
    }

    /// The consumer groups the cluster knows.
    pub fn groups(&self) -> anyhow::Result<Vec<String>> {
        let consumer = self.consumer(None)?;
        let list = consumer
            .fetch_group_list(None, TIMEOUT)
            .context("listing consumer groups")?;
        Ok(list.groups().iter().map(|g| g.name().to_owned()).collect())
    }

    /// The offsets `group` committed on `topic`'s partitions (absent: none committed).
    pub fn committed(
        &self,
        group: &str,
        topic: &str,
        partitions: i32,
    ) -> anyhow::Result<HashMap<i32, i64>> {
        let consumer = self.consumer(Some(group))?;
        committed_offsets(&consumer, topic, partitions)
    }
}

/// The offsets `consumer`'s group committed on `topic`'s partitions.
pub fn committed_offsets(
    consumer: &StreamConsumer,
    topic: &str,
    partitions: i32,
) -> anyhow::Result<HashMap<i32, i64>> {
    let mut list = TopicPartitionList::new();
    for partition in 0..partitions {
        list.add_partition(topic, partition);
    }
    let committed = consumer
        .committed_offsets(list, TIMEOUT)
        .with_context(|| format!("reading committed offsets of {topic}"))?;
    Ok(committed
        .elements()
        .iter()
        .filter_map(|e| match e.offset() {
            Offset::Offset(offset) => Some((e.partition(), offset)),
            _ => None,
        })
        .collect())
}

/// A record read from a topic.
#[derive(Debug, Clone)]
pub struct Read {
    /// Its topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// Offset.
    pub offset: i64,
    /// Key bytes.
    pub key: Option<Vec<u8>>,
    /// Value bytes.
    pub value: Option<Vec<u8>>,
    /// Headers, in order, names as written (they need not be UTF-8).
    pub headers: Headers,
    /// Timestamp, epoch ms.
    pub timestamp_ms: Option<i64>,
}

/// After the ends read at the start, how long reading goes on until no record arrives: the
/// embedded broker's high watermark can lag behind the last records of a batch.
const QUIET: Duration = Duration::from_millis(300);

/// The longest reading goes on past those ends, on a topic still being written.
const PAST_END: Duration = Duration::from_secs(2);

/// Reads `topic` with `consumer` from `start` (per partition; absent: the beginning) to the
/// end each partition had when reading began, and on until the topic is quiet.
pub struct TopicReader<'a> {
    consumer: &'a StreamConsumer,
    topic: String,
    /// Next offset to read, per partition.
    next: HashMap<i32, i64>,
    /// The end, per partition not read to its end yet.
    open: HashMap<i32, i64>,
    /// When the ends were all reached.
    past_end: Option<Instant>,
    /// Records left to read, as the watermarks counted them.
    pub remaining: u64,
}

impl<'a> TopicReader<'a> {
    /// Assigns `topic`'s partitions to `consumer`. Fails when the topic does not exist.
    pub fn open(
        consumer: &'a StreamConsumer,
        topic: &str,
        start: &HashMap<i32, i64>,
    ) -> anyhow::Result<Self> {
        let partitions = partition_count(consumer, topic)?;
        let mut next = HashMap::new();
        let mut open = HashMap::new();
        let mut assignment = TopicPartitionList::new();
        let mut remaining = 0;
        for partition in 0..partitions {
            let (low, high) = consumer
                .fetch_watermarks(topic, partition, TIMEOUT)
                .with_context(|| format!("reading the end of {topic} [{partition}]"))?;
            let from = start.get(&partition).copied().unwrap_or(low).max(low);
            if from < high {
                open.insert(partition, high);
                remaining += (high - from) as u64;
            }
            next.insert(partition, from);
            assignment.add_partition_offset(topic, partition, Offset::Offset(from))?;
        }
        consumer.assign(&assignment)?;
        Ok(Self {
            consumer,
            topic: topic.to_owned(),
            next,
            open,
            past_end: None,
            remaining,
        })
    }

    /// The next record, in each partition's order; `None` once every partition is read to
    /// its end.
    pub async fn next(&mut self) -> anyhow::Result<Option<Read>> {
        loop {
            let wait = if self.open.is_empty() {
                let since = *self.past_end.get_or_insert_with(Instant::now);
                if since.elapsed() >= PAST_END {
                    return Ok(None);
                }
                QUIET
            } else {
                TIMEOUT
            };
            let message = match tokio::time::timeout(wait, self.consumer.recv()).await {
                Ok(message) => message?,
                Err(_) if self.open.is_empty() => return Ok(None),
                Err(_) => return Err(self.stuck()),
            };
            let partition = message.partition();
            let offset = message.offset();
            if self.next.get(&partition).is_none_or(|next| offset < *next) {
                continue;
            }
            self.next.insert(partition, offset + 1);
            if self
                .open
                .get(&partition)
                .is_some_and(|end| offset + 1 >= *end)
            {
                self.open.remove(&partition);
            }
            self.remaining = self.remaining.saturating_sub(1);
            let headers = message
                .headers()
                .map(kafka_headers::read)
                .unwrap_or_default();
            return Ok(Some(Read {
                topic: self.topic.clone(),
                partition,
                offset,
                key: message.key().map(<[u8]>::to_vec),
                value: message.payload().map(<[u8]>::to_vec),
                headers,
                timestamp_ms: message.timestamp().to_millis(),
            }));
        }
    }

    fn stuck(&self) -> anyhow::Error {
        let waiting: Vec<String> = self
            .open
            .iter()
            .map(|(p, end)| format!("[{p}] at {} of {end}", self.next[p]))
            .collect();
        anyhow::anyhow!(
            "reading {}: no record arrived within {TIMEOUT:?} ({})",
            self.topic,
            waiting.join(", ")
        )
    }
}

/// Every record of `topic`, from the beginning to its end now.
pub async fn read_all(connection: &Connection, topic: &str) -> anyhow::Result<Vec<Read>> {
    let consumer = connection.consumer(None)?;
    let mut reader = TopicReader::open(&consumer, topic, &HashMap::new())?;
    let mut records = Vec::new();
    while let Some(record) = reader.next().await? {
        records.push(record);
    }
    Ok(records)
}

/// The first record of each partition of `topic` that holds any, as of now.
pub async fn first_records(connection: &Connection, topic: &str) -> anyhow::Result<Vec<Read>> {
    let consumer = connection.consumer(None)?;
    let mut reader = TopicReader::open(&consumer, topic, &HashMap::new())?;
    let holding = reader.open.len();
    let mut first: HashMap<i32, Read> = HashMap::new();
    while first.len() < holding {
        let Some(record) = reader.next().await? else {
            break;
        };
        first.entry(record.partition).or_insert(record);
    }
    Ok(first.into_values().collect())
}

/// `topic`'s partition count; an error naming the topic when it does not exist.
pub fn partition_count(consumer: &StreamConsumer, topic: &str) -> anyhow::Result<i32> {
    let metadata = consumer
        .fetch_metadata(Some(topic), TIMEOUT)
        .with_context(|| format!("reading metadata of {topic}"))?;
    match metadata.topics().iter().find(|t| t.name() == topic) {
        Some(t) if t.error().is_none() && !t.partitions().is_empty() => {
            Ok(t.partitions().len() as i32)
        }
        _ => bail!("topic {topic} does not exist"),
    }
}
