//! `ordering = "key"` refuses to start on settings that would break key order silently: an
//! existing parked topic with a retention, an existing lock log that is not compacted, a
//! `max.poll.interval.ms` shorter than a revocation may wait, and a member of its groups that
//! is not a key-ordered one.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::ClientConfig;
use retry_runtime::prelude::*;

use crate::support::*;

#[retryable_topic(topic = "ord-checked", ordering = "key", partitions = 1)]
async fn ord_checked(_rec: Record<Text>) -> anyhow::Result<()> {
    Ok(())
}

/// Creates `topic` with one partition and `settings`.
async fn create_with(s: &Scenario, topic: &str, settings: &[(&str, &str)]) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", s.kafka.bootstrap_servers())
        .create()
        .expect("admin client");
    let new = settings.iter().fold(
        NewTopic::new(topic, 1, TopicReplication::Fixed(-1)),
        |topic, (name, value)| topic.set(name, value),
    );
    let results = admin
        .create_topics(&[new], &AdminOptions::new())
        .await
        .expect("create topics");
    for result in results {
        result.unwrap_or_else(|(topic, code)| panic!("creating {topic}: {code}"));
    }
}

/// The error start-up fails with, once the main topic and `existing` (a topic of the chain,
/// as written, with its settings) exist.
async fn start_up_error(s: &Scenario, existing: &str, settings: &[(&str, &str)]) -> String {
    s.kafka
        .create_topic(&s.topic("ord-checked"), 1)
        .await
        .expect("main topic");
    create_with(s, &s.topic(existing), settings).await;
    let builder = s.app_builder(&[("ord_checked", "ord-checked")], &[], &[]);
    match builder.start().await {
        Ok(app) => {
            app.shutdown().await;
            panic!("started with {existing} set {settings:?}");
        }
        Err(error) => error.to_string(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_existing_parked_topic_with_a_retention_fails_start_up_naming_it() {
    let s = Scenario::start().await;
    let retention = [("retention.ms", "604800000")];
    let error = start_up_error(&s, "ord-checked-retry-parked", &retention).await;
    let parked = s.topic("ord-checked-retry-parked");
    assert!(
        error.contains(&format!("topic {parked} has retention.ms=604800000"))
            && error.contains("set retention.ms=-1"),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_existing_lock_log_that_deletes_fails_start_up_naming_it() {
    let s = Scenario::start().await;
    let delete = [("cleanup.policy", "delete")];
    let error = start_up_error(&s, "ord-checked-retry-locks", &delete).await;
    let locks = s.topic("ord-checked-retry-locks");
    assert!(
        error.contains(&format!("topic {locks} has cleanup.policy=delete"))
            && error.contains("set cleanup.policy=compact"),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_max_poll_interval_shorter_than_a_revocations_wait_fails_start_up_naming_it() {
    let started = retry_runtime::RetryApp::builder()
        .bootstrap_servers("127.0.0.1:1")
        .client_property("max.poll.interval.ms", "30000")
        .listeners(["ord_checked"])
        .start()
        .await;
    let Err(error) = started else {
        panic!("started with max.poll.interval.ms=30000");
    };
    let error = error.to_string();
    assert!(
        error.contains("max.poll.interval.ms is 30000 (from max.poll.interval.ms)")
            && error.contains("set max.poll.interval.ms to at least 70000"),
        "{error}"
    );
}

#[retryable_topic(topic = "ord-shared", ordering = "key", partitions = 1)]
async fn ord_shared(_rec: Record<Text>) -> anyhow::Result<()> {
    Ok(())
}

/// A plain consumer, as a Spring service's, in `group` on `topic` with `client_id`: polled on a
/// thread of its own until the returned flag is set, once it has its partitions.
fn foreign_member(
    s: &Scenario,
    group: &str,
    topic: &str,
    client_id: &str,
) -> (Arc<AtomicBool>, std::thread::JoinHandle<()>) {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", s.kafka.bootstrap_servers())
        .set("group.id", group)
        .set("client.id", client_id)
        .create()
        .expect("consumer");
    consumer.subscribe(&[topic]).expect("subscribe");
    let stop = Arc::new(AtomicBool::new(false));
    let (assigned, joined) = mpsc::channel();
    let stopping = stop.clone();
    let polling = std::thread::spawn(move || {
        let mut said = false;
        while !stopping.load(Ordering::Acquire) {
            let _ = consumer.poll(Duration::from_millis(100));
            let has_partitions = consumer.assignment().is_ok_and(|a| a.count() > 0);
            if has_partitions && !said {
                said = true;
                let _ = assigned.send(());
            }
        }
    });
    joined
        .recv_timeout(Duration::from_secs(30))
        .expect("the foreign member gets partitions within 30 s");
    (stop, polling)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_foreign_member_of_the_main_group_fails_start_up_naming_it() {
    if std::env::var("KAFKA_BOOTSTRAP_SERVERS").is_err() {
        return; // the embedded broker describes every member's client id as empty
    }
    let s = Scenario::start().await;
    let topic = s.topic("ord-shared");
    s.kafka.create_topic(&topic, 1).await.expect("main topic");
    let group = format!("{}ord_shared", s.prefix());
    let (stop, polling) = foreign_member(&s, &group, &topic, "consumer-spring-1");
    let started = s
        .app_builder(&[("ord_shared", "ord-shared")], &[], &[])
        .start()
        .await;
    stop.store(true, Ordering::Release);
    let error = match started {
        Ok(app) => {
            app.shutdown().await;
            panic!("started beside a foreign member of {group}");
        }
        Err(error) => error.to_string(),
    };
    tokio::task::spawn_blocking(move || polling.join())
        .await
        .expect("join")
        .expect("the foreign member's thread");
    assert!(
        error.contains(&format!(
            "its group {group} has a member that is not a key-ordered one: client id \
             consumer-spring-1 on host "
        )) && error.contains("give the key-ordered listener a group of its own"),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_instance_of_a_key_ordered_app_starts_beside_the_first() {
    let s = Scenario::start().await;
    let first = s.start_app(&[("ord_shared", "ord-shared")]).await;
    // One partition each: the second instance joins, but may get none.
    let second = s
        .app_builder(&[("ord_shared", "ord-shared")], &[], &[])
        .start()
        .await
        .expect("a key-ordered member beside the first is no foreign one");
    second.shutdown().await;
    first.shutdown().await;
}
