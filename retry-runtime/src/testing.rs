//! Helpers for tests of kafka-retry applications (feature `embedded`), in the spirit of
//! Spring's `@EmbeddedKafka`: a broker, topic creation, producing, and reading a topic to its
//! end with headers.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use retry_runtime::testing::TestKafka;
//!
//! let kafka = TestKafka::start().await?; // embedded, or KAFKA_BOOTSTRAP_SERVERS if set
//! kafka.create_topic("orders", 1).await?;
//! kafka.produce("orders", Some("k1"), br#"{"id":1}"#).await?;
//! let records = kafka.read_all("orders").await?;
//! assert_eq!(records[0].key.as_deref(), Some(&b"k1"[..]));
//! # Ok(()) }
//! ```

use std::collections::HashMap;
use std::time::Duration;

use anyhow::Context;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};
use retry_core::Headers;

use crate::embedded::EmbeddedKafka;
use crate::inbound::Inbound;

/// A record read back from a topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadRecord {
    /// Partition.
    pub partition: i32,
    /// Offset.
    pub offset: i64,
    /// Key.
    pub key: Option<Vec<u8>>,
    /// Value.
    pub value: Option<Vec<u8>>,
    /// Headers in order.
    pub headers: Headers,
    /// Timestamp, epoch ms.
    pub timestamp_ms: Option<i64>,
}

/// A broker for tests: the embedded one, or the cluster `KAFKA_BOOTSTRAP_SERVERS` names.
pub struct TestKafka {
    bootstrap_servers: String,
    // Fields drop in order: the producer before the broker it talks to.
    producer: FutureProducer,
    _embedded: Option<EmbeddedKafka>,
}

impl TestKafka {
    /// Uses `KAFKA_BOOTSTRAP_SERVERS` when set, else starts an [`EmbeddedKafka`].
    pub async fn start() -> anyhow::Result<Self> {
        let (bootstrap_servers, embedded) = match std::env::var("KAFKA_BOOTSTRAP_SERVERS") {
            Ok(servers) => (servers, None),
            Err(_) => {
                let kafka = EmbeddedKafka::start().await?;
                (kafka.bootstrap_servers().to_owned(), Some(kafka))
            }
        };
        let producer = client(&bootstrap_servers).create()?;
        Ok(Self {
            bootstrap_servers,
            producer,
            _embedded: embedded,
        })
    }

    /// Uses the cluster at `bootstrap_servers` (any Kafka-protocol broker, such as
    /// librdkafka's mock cluster).
    pub fn connect(bootstrap_servers: &str) -> anyhow::Result<Self> {
        Ok(Self {
            bootstrap_servers: bootstrap_servers.to_owned(),
            producer: client(bootstrap_servers).create()?,
            _embedded: None,
        })
    }

    /// `host:port` of the broker.
    pub fn bootstrap_servers(&self) -> &str {
        &self.bootstrap_servers
    }

    /// Every topic and its partition count.
    pub async fn topics(&self) -> anyhow::Result<HashMap<String, i32>> {
        let admin: AdminClient<DefaultClientContext> = client(&self.bootstrap_servers).create()?;
        let metadata = tokio::task::spawn_blocking(move || {
            admin.inner().fetch_metadata(None, Duration::from_secs(10))
        })
        .await??;
        Ok(metadata
            .topics()
            .iter()
            .map(|t| (t.name().to_owned(), t.partitions().len() as i32))
            .collect())
    }

    /// Creates `topic` with `partitions` partitions.
    pub async fn create_topic(&self, topic: &str, partitions: i32) -> anyhow::Result<()> {
        let admin: AdminClient<DefaultClientContext> = client(&self.bootstrap_servers).create()?;
        let results = admin
            .create_topics(
                &[NewTopic::new(
                    topic,
                    partitions,
                    TopicReplication::Fixed(-1),
                )],
                &AdminOptions::new(),
            )
            .await?;
        for result in results {
            result.map_err(|(topic, code)| anyhow::anyhow!("creating {topic}: {code}"))?;
        }
        Ok(())
    }

    /// Produces one record and waits for the broker's acknowledgement.
    pub async fn produce(
        &self,
        topic: &str,
        key: Option<&str>,
        value: &[u8],
    ) -> anyhow::Result<()> {
        self.produce_to(topic, None, key, value).await
    }

    /// Produces one record to a given partition (or the partitioner's choice for `None`).
    pub async fn produce_to(
        &self,
        topic: &str,
        partition: Option<i32>,
        key: Option<&str>,
        value: &[u8],
    ) -> anyhow::Result<()> {
        let mut record = FutureRecord::<str, [u8]>::to(topic).payload(value);
        if let Some(key) = key {
            record = record.key(key);
        }
        if let Some(partition) = partition {
            record = record.partition(partition);
        }
        self.producer
            .send(record, Duration::from_secs(10))
            .await
            .map_err(|(e, _)| e)
            .with_context(|| format!("producing to {topic}"))?;
        Ok(())
    }

    /// Every record on `topic` from the beginning to the current end, in partition order.
    ///
    /// Reads to the high watermarks and then on until the topic has been quiet for 300 ms:
    /// the embedded broker's watermark can lag behind records written in one batch.
    pub async fn read_all(&self, topic: &str) -> anyhow::Result<Vec<ReadRecord>> {
        const QUIET: Duration = Duration::from_millis(300);
        let consumer: StreamConsumer = client(&self.bootstrap_servers)
            .set(
                "group.id",
                format!("kafka-retry-test-reader-{}", std::process::id()),
            )
            .set("enable.auto.commit", "false")
            .create()?;
        let timeout = Duration::from_secs(10);
        let metadata = consumer.fetch_metadata(Some(topic), timeout)?;
        let mut remaining = 0;
        let mut assignment = TopicPartitionList::new();
        for partition in metadata
            .topics()
            .iter()
            .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        {
            let (low, high) = consumer.fetch_watermarks(topic, partition, timeout)?;
            assignment.add_partition_offset(topic, partition, Offset::Beginning)?;
            remaining += (high - low).max(0);
        }
        consumer.assign(&assignment)?;
        let mut records = Vec::new();
        let name: std::sync::Arc<str> = topic.into();
        loop {
            let wait = if remaining > 0 { timeout } else { QUIET };
            let message = match tokio::time::timeout(wait, consumer.recv()).await {
                Ok(message) => message?,
                Err(_) if remaining <= 0 => break,
                Err(_) => anyhow::bail!("reading {topic}: {remaining} records did not arrive"),
            };
            let raw = Inbound::read(&message, &name).raw;
            let meta = std::sync::Arc::unwrap_or_clone(raw.meta);
            records.push(ReadRecord {
                partition: message.partition(),
                offset: message.offset(),
                key: meta.key,
                value: raw.value.map(std::borrow::Cow::into_owned),
                headers: meta.headers,
                timestamp_ms: meta.timestamp_ms,
            });
            remaining -= 1;
        }
        records.sort_by_key(|r| (r.partition, r.offset));
        Ok(records)
    }
}

fn client(bootstrap_servers: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", bootstrap_servers);
    config
}
