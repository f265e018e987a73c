//! The brokers the benchmarks run on: librdkafka's in-process mock cluster (fast, so the
//! framework's own overhead shows), the embedded tansu broker, and real Apache Kafka (the
//! reference broker, through `tools/kafka/kafka.sh`).

use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::message::OwnedHeaders;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{DefaultProducerContext, FutureProducer, FutureRecord};
use rdkafka::ClientConfig;
use retry_bench::harness::KafkaHarness;
use retry_runtime::testing::TestKafka;

use crate::brokers::Kind;

/// A broker to benchmark on.
pub enum Broker {
    Mock(MockCluster<'static, DefaultProducerContext>),
    Embedded(TestKafka),
    /// Apache Kafka, stopped when dropped.
    Kafka {
        kafka: TestKafka,
        _harness: KafkaHarness,
    },
}

impl Broker {
    pub async fn start(kind: Kind) -> anyhow::Result<Self> {
        Ok(match kind {
            Kind::Mock => Self::Mock(MockCluster::new(1)?),
            Kind::Kafka => {
                let harness = KafkaHarness::start(1)?;
                Self::Kafka {
                    kafka: TestKafka::connect(harness.bootstrap_servers())?,
                    _harness: harness,
                }
            }
            Kind::Embedded => Self::Embedded(TestKafka::start().await?),
        })
    }

    pub fn name(&self) -> &'static str {
        match self {
            Self::Mock(_) => "mock",
            Self::Embedded(_) => "embedded",
            Self::Kafka { .. } => "kafka",
        }
    }

    pub fn bootstrap_servers(&self) -> String {
        match self {
            Self::Mock(cluster) => cluster.bootstrap_servers(),
            Self::Embedded(kafka) | Self::Kafka { kafka, .. } => {
                kafka.bootstrap_servers().to_owned()
            }
        }
    }

    /// Creates a listener's topics (`topic`, `topic-retry`, `topic-dlt`) up front, one
    /// partition each: the mock cluster cannot create topics on request, and the runtime
    /// finds them existing.
    pub async fn create_listener_topics(&self, topic: &str) -> anyhow::Result<()> {
        self.create_listener_topics_with(topic, 1).await
    }

    /// [`create_listener_topics`](Self::create_listener_topics) with `partitions` each.
    pub async fn create_listener_topics_with(
        &self,
        topic: &str,
        partitions: i32,
    ) -> anyhow::Result<()> {
        for name in [
            topic.to_owned(),
            format!("{topic}-retry"),
            format!("{topic}-dlt"),
        ] {
            self.create_topic(&name, partitions).await?;
        }
        Ok(())
    }

    /// Creates `topic` with `partitions` partitions.
    pub async fn create_topic(&self, topic: &str, partitions: i32) -> anyhow::Result<()> {
        match self {
            Self::Mock(cluster) => cluster.create_topic(topic, partitions, 1)?,
            Self::Embedded(kafka) | Self::Kafka { kafka, .. } => {
                kafka.create_topic(topic, partitions).await?
            }
        }
        Ok(())
    }

    /// Creates `topic` with one partition and the topic settings `config`. The mock cluster
    /// takes no topic settings (it neither compacts nor deletes by time): there the topic is
    /// plain.
    pub async fn create_topic_with_config(
        &self,
        topic: &str,
        config: &[(&str, &str)],
    ) -> anyhow::Result<()> {
        if let Self::Mock(cluster) = self {
            return Ok(cluster.create_topic(topic, 1, 1)?);
        }
        let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
            .set("bootstrap.servers", self.bootstrap_servers())
            .create()?;
        let new = config.iter().fold(
            NewTopic::new(topic, 1, TopicReplication::Fixed(-1)),
            |new, (name, value)| new.set(name, value),
        );
        for result in admin.create_topics(&[new], &AdminOptions::new()).await? {
            result.map_err(|(topic, code)| anyhow::anyhow!("creating {topic}: {code}"))?;
        }
        Ok(())
    }

    /// Produces `n` records keyed `0..n` with a small value, `headers` on each.
    pub async fn produce(
        &self,
        topic: &str,
        n: usize,
        headers: Option<OwnedHeaders>,
    ) -> anyhow::Result<()> {
        self.produce_records(&Records {
            topic,
            n,
            headers,
            ..Records::default()
        })
        .await
    }

    /// Produces `records`, 10,000 at a time, each batch acknowledged before the next.
    pub async fn produce_records(&self, records: &Records<'_>) -> anyhow::Result<()> {
        let producer: FutureProducer = ClientConfig::new()
            .set("bootstrap.servers", self.bootstrap_servers())
            .set("linger.ms", "5")
            .set("queue.buffering.max.messages", "1000000")
            .create()?;
        let keys: Vec<String> = (0..records.n).map(|i| records.key(i)).collect();
        for chunk in keys.chunks(10_000) {
            let sends = chunk
                .iter()
                .map(|key| producer.send(records.record(key), Duration::from_secs(30)));
            for sent in futures::future::join_all(sends).await {
                sent.map_err(|(e, _)| e)?;
            }
        }
        Ok(())
    }
}

/// Records to produce: `n` of them to `topic`, keyed `0..n` (or `0..keys`, over and over).
pub struct Records<'a> {
    pub topic: &'a str,
    /// The partition, or librdkafka's choice by key.
    pub partition: Option<i32>,
    pub n: usize,
    /// How many keys the records cycle through, or one key per record.
    pub keys: Option<usize>,
    pub value: &'a [u8],
    pub headers: Option<OwnedHeaders>,
}

impl Default for Records<'_> {
    fn default() -> Self {
        Self {
            topic: "",
            partition: None,
            n: 0,
            keys: None,
            value: br#"{"item":"bench"}"#,
            headers: None,
        }
    }
}

impl<'a> Records<'a> {
    /// The key of the `i`th record.
    fn key(&self, i: usize) -> String {
        self.keys.map_or(i, |keys| i % keys).to_string()
    }

    /// The record keyed `key`.
    pub fn record<'k>(&self, key: &'k str) -> FutureRecord<'k, str, [u8]>
    where
        'a: 'k,
    {
        let mut record = FutureRecord::to(self.topic).key(key).payload(self.value);
        if let Some(partition) = self.partition {
            record = record.partition(partition);
        }
        if let Some(headers) = &self.headers {
            record = record.headers(headers.clone());
        }
        record
    }
}
