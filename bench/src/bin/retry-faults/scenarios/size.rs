//! Records over the topics' size limits (real Kafka only).

use std::time::Duration;

use rdkafka::admin::{
    AdminClient, AdminOptions, AlterConfig, NewTopic, ResourceSpecifier, TopicReplication,
};
use rdkafka::client::DefaultClientContext;
use rdkafka::ClientConfig;

use crate::accounting::{settle, Accounting};
use crate::app::start_app;
use crate::broker::{fresh_broker, Fresh};
use crate::listener::{self, HANDLED, TOPIC};
use crate::orders::keys;

/// Topic-level size limits (real Kafka): retry topics accept 20 kB, the DLT 60 kB. Records of
/// 30 kB that fail go to the DLT with the reason instead of their retry topic; one of 80 kB
/// cannot go anywhere until the DLT's limit is raised: it stays uncommitted, its partition
/// waits, the orders on the other partitions flow, and it reaches the DLT (tried again every
/// 30 s) once the limit allows.
pub async fn run(broker: &str, records: u64) -> anyhow::Result<Accounting> {
    anyhow::ensure!(
        broker == "kafka",
        "the size scenario needs --broker kafka: the embedded broker enforces no size limit"
    );
    let Fresh { kafka, _harness } = fresh_broker(broker).await?;
    let bootstrap = kafka.bootstrap_servers().to_owned();
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .create()?;
    let retry = format!("{TOPIC}-retry");
    let dlt = format!("{TOPIC}-dlt");
    let topics = [
        NewTopic::new(TOPIC, 3, TopicReplication::Fixed(1)),
        NewTopic::new(&retry, 3, TopicReplication::Fixed(1)).set("max.message.bytes", "20000"),
        NewTopic::new(&dlt, 3, TopicReplication::Fixed(1)).set("max.message.bytes", "60000"),
        NewTopic::new(HANDLED, 1, TopicReplication::Fixed(1)),
    ];
    for created in admin.create_topics(&topics, &AdminOptions::new()).await? {
        created.map_err(|(topic, code)| anyhow::anyhow!("creating {topic}: {code}"))?;
    }
    listener::connect(&bootstrap)?;
    let app = start_app(&bootstrap).await?;
    let padded = |k: u64, bytes: usize| format!(r#"{{"k":{k},"pad":"{}"}}"#, "x".repeat(bytes));
    // Multiples of 5 (not of 7 or 11): the first delivery fails.
    let mut expected = keys(records);
    for i in 0..5u64 {
        let key = format!("bad-big-{i}");
        kafka
            .produce_to(
                TOPIC,
                Some(i as i32 % 3),
                Some(&key),
                padded(5_000_005 + 35 * i, 30_000).as_bytes(),
            )
            .await?;
        expected.insert(key);
    }
    kafka
        .produce_to(
            TOPIC,
            Some(0),
            Some("bad-huge"),
            padded(5_000_250, 80_000).as_bytes(),
        )
        .await?;
    expected.insert("bad-huge".to_owned());
    // Partition 0 waits behind the refused record; the orders go to the other partitions.
    for k in 1..=records {
        let key = k.to_string();
        let partition = 1 + (k % 2) as i32;
        kafka
            .produce_to(
                TOPIC,
                Some(partition),
                Some(&key),
                format!(r#"{{"k":{k}}}"#).as_bytes(),
            )
            .await?;
    }
    let stuck = settle(&kafka, &keys(records), Duration::from_secs(30)).await?;
    anyhow::ensure!(
        stuck.complete(),
        "orders on the other partitions did not flow"
    );
    eprintln!("  every order handled while one dead letter is refused; raising the DLT's limit");
    admin
        .alter_configs(
            &[AlterConfig::new(ResourceSpecifier::Topic(&dlt)).set("max.message.bytes", "200000")],
            &AdminOptions::new(),
        )
        .await?;
    let accounting = settle(&kafka, &expected, Duration::from_secs(60)).await?;
    app.shutdown().await;
    Ok(accounting.bounded(0))
}
