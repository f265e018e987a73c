//! Topics the app did not make as it would have (fewer partitions than the main topic), and
//! topics it must not make (a main topic whose name may be misspelt).

use std::time::Duration;

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
