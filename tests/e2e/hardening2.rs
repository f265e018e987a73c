//! Topics the app did not make as it would have (fewer partitions than the main topic),
//! topics it must not make (a main topic whose name may be misspelt), and provenance a
//! producer forged.

use std::time::Duration;

use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::ClientConfig;
use retry_runtime::core::headers::*;
use retry_runtime::prelude::*;

use crate::support::*;

/// Fails every first delivery: each record goes to the retry topic once.
#[retryable_topic(topic = "h2-narrow", attempts = 2, backoff = "100ms")]
async fn h2_narrow(rec: Record<Bytes>) -> anyhow::Result<()> {
    record_call("h2_narrow", &rec);
    anyhow::ensure!(rec.attempt > 1, "first delivery fails");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_topic_with_fewer_partitions_gets_the_remainder_of_the_partition() {
    let s = Scenario::start().await;
    // A Spring service's layout: the main topic has 4 partitions, its retry topic 2.
    s.kafka
        .create_topic(&s.topic("h2-narrow"), 4)
        .await
        .unwrap();
    s.kafka
        .create_topic(&s.topic("h2-narrow-retry"), 2)
        .await
        .unwrap();
    let app = s.start_app(&[("h2_narrow", "h2-narrow")]).await;
    let keys: Vec<String> = (0..8).map(|i| format!("k{i}")).collect();
    for key in &keys {
        s.kafka
            .produce_to(&s.topic("h2-narrow"), Some(3), Some(key), b"x")
            .await
            .unwrap();
    }
    eventually(
        "every record handled on its retry",
        Duration::from_secs(30),
        || {
            keys.iter()
                .all(|k| calls_for("h2_narrow", k).iter().any(|c| c.attempt == 2))
        },
    )
    .await;
    app.shutdown().await;
    let retried = s.read_all("h2-narrow-retry").await;
    assert_eq!(retried.len(), keys.len());
    assert!(
        retried.iter().all(|r| r.partition == 1),
        "partition 3 of the main topic goes to partition 3 % 2, whatever the key: {:?}",
        retried.iter().map(|r| r.partition).collect::<Vec<_>>()
    );
    assert!(s.read_all("h2-narrow-dlt").await.is_empty());
}

/// Handles everything: only start-up matters here.
#[retryable_topic(topic = "h2-prod", replication = 1)]
async fn h2_prod(rec: Record<Bytes>) -> anyhow::Result<()> {
    record_call("h2_prod", &rec);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_create_retry_refuses_a_missing_main_topic_and_creates_the_rest() {
    let s = Scenario::start().await;
    let production = [("RETRY_H2_PROD_AUTO_CREATE", "retry")];
    let listeners = [("h2_prod", "h2-prod")];
    let refused = s
        .app_builder(&listeners, &production, &[])
        .start()
        .await
        .err()
        .expect("a missing main topic stops start-up");
    assert_eq!(
        refused.to_string(),
        format!(
            "topic {} does not exist and listener `h2_prod` has auto_create = \"retry\", which \
             creates only retry topics and DLTs",
            s.topic("h2-prod")
        )
    );
    let topics = s.kafka.topics().await.unwrap();
    assert!(
        !topics.keys().any(|t| t.starts_with(&s.topic("h2-prod"))),
        "nothing created: {topics:?}"
    );

    s.kafka.create_topic(&s.topic("h2-prod"), 2).await.unwrap();
    let app = s
        .start_built(s.app_builder(&listeners, &production, &[]))
        .await;
    s.produce("h2-prod", "a", "x").await;
    eventually("the record handled", Duration::from_secs(20), || {
        !calls_for("h2_prod", "a").is_empty()
    })
    .await;
    app.shutdown().await;
    let topics = s.kafka.topics().await.unwrap();
    for (suffix, partitions) in [("-retry", 2), ("-dlt", 2)] {
        let topic = s.topic(&format!("h2-prod{suffix}"));
        assert_eq!(topics.get(&topic), Some(&partitions), "{topic} created");
    }
}

/// Fails every delivery: records walk to the DLT.
#[retryable_topic(topic = "h2-forged", attempts = 2, backoff = "100ms")]
async fn h2_forged(_rec: Record<Bytes>) -> anyhow::Result<()> {
    anyhow::bail!("always fails")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provenance_a_producer_wrote_on_a_main_topic_is_replaced_by_the_first_hop() {
    let s = Scenario::start().await;
    let app = s.start_app(&[("h2_forged", "h2-forged")]).await;
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", s.kafka.bootstrap_servers())
        .create()
        .unwrap();
    let forged = OwnedHeaders::new()
        .insert(Header {
            key: ORIGINAL_TOPIC,
            value: Some("payments"),
        })
        .insert(Header {
            key: ORIGINAL_PARTITION,
            value: Some(&9i32.to_be_bytes()),
        })
        .insert(Header {
            key: ORIGINAL_OFFSET,
            value: Some(&42i64.to_be_bytes()),
        })
        .insert(Header {
            key: ORIGINAL_CONSUMER_GROUP,
            value: Some("mallory"),
        });
    let main = s.topic("h2-forged");
    producer
        .send(
            FutureRecord::to(&main)
                .key("forged")
                .payload("x")
                .headers(forged),
            Duration::from_secs(10),
        )
        .await
        .map_err(|(error, _)| error)
        .unwrap();
    let dead = record_for(&s, "h2-forged-dlt", "forged", Duration::from_secs(20)).await;
    app.shutdown().await;
    assert_eq!(single(&dead, ORIGINAL_TOPIC), main.as_bytes());
    assert_eq!(header_i32(&dead, ORIGINAL_PARTITION), 0);
    assert_eq!(header_i64(&dead, ORIGINAL_OFFSET), 0);
    assert_eq!(
        single(&dead, ORIGINAL_CONSUMER_GROUP),
        format!("{}h2_forged", s.prefix()).as_bytes()
    );
}
