//! The broker of a scenario: a fresh one each, with the scenario's topics.

use retry_bench::harness::KafkaHarness;
use retry_runtime::testing::TestKafka;

use crate::listener::{HANDLED, TOPIC};

/// A fresh broker for one scenario: the embedded one, or real Kafka through the harness.
pub struct Fresh {
    /// The scenario's client of the broker.
    pub kafka: TestKafka,
    /// Real Kafka, stopped when dropped.
    pub _harness: Option<KafkaHarness>,
}

/// A fresh `embedded` broker, or with `kafka` a one-node Apache Kafka.
pub async fn fresh_broker(broker: &str) -> anyhow::Result<Fresh> {
    Ok(match broker {
        "kafka" => {
            let harness = KafkaHarness::start(1)?;
            Fresh {
                kafka: TestKafka::connect(harness.bootstrap_servers())?,
                _harness: Some(harness),
            }
        }
        _ => Fresh {
            kafka: TestKafka::start().await?,
            _harness: None,
        },
    })
}

/// The orders topic, its retry topic and DLT with `partitions` each, and the success log.
pub async fn create_topics(kafka: &TestKafka, partitions: i32) -> anyhow::Result<()> {
    for topic in [
        TOPIC.to_owned(),
        format!("{TOPIC}-retry"),
        format!("{TOPIC}-dlt"),
    ] {
        kafka.create_topic(&topic, partitions).await?;
    }
    kafka.create_topic(HANDLED, 1).await
}
