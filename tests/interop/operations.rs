//! The operations command on dead letters a Spring service wrote: listed with Spring's
//! provenance, replayed to their original topic once the cause is fixed, handled there by
//! Spring, and not replayed twice.

use std::time::Duration;

use retry_runtime::core::headers::*;
use serde_json::Value;
use tokio::process::Command;

use crate::spring_service::SpringService;
use crate::support::*;

const WAIT: Duration = Duration::from_secs(40);

/// Runs `kafka-retry args` against `s`'s broker: exit code, stdout, stderr.
async fn kafka_retry(s: &Scenario, args: &[&str]) -> (i32, String, String) {
    let cli = std::env::var("KAFKA_RETRY_CLI").expect(
        "KAFKA_RETRY_CLI names the kafka-retry binary (tools/kafka/test-suites.sh builds it)",
    );
    let out = Command::new(cli)
        .args(args)
        .env("KAFKA_BOOTSTRAP_SERVERS", s.kafka.bootstrap_servers())
        .env_remove("RUST_LOG")
        .output()
        .await
        .expect("kafka-retry runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_lists_and_replays_dead_letters_spring_wrote() {
    let s = Scenario::start().await;
    let spring = SpringService::start(&s).await;
    s.produce(
        "update-item",
        "d-ghost",
        r#"{"id":"d-ghost","status":"ACTIVE"}"#,
    )
    .await;
    spring
        .wait_for("d-ghost", "dead letter", WAIT, |e| e.event == "dead-letter")
        .await;

    let dlt = s.topic("update-item-dlt");
    let (code, out, err) = kafka_retry(&s, &["dlt", "list", &dlt, "--json"]).await;
    assert_eq!(code, 0, "{err}");
    let rows: Vec<Value> = out
        .lines()
        .map(|line| serde_json::from_str(line).expect("one JSON object per line"))
        .collect();
    assert_eq!(rows.len(), 1, "{out}");
    let row = &rows[0];
    assert_eq!(row["key"], "d-ghost");
    assert_eq!(row["attempts"], 4, "four deliveries made (Spring writes 5)");
    assert_eq!(row["original_topic"], s.topic("update-item").as_str());
    assert_eq!(row["original_offset"], 0);
    assert_eq!(
        row["consumer_group"],
        format!("{}update_item", s.prefix()).as_str()
    );
    assert_eq!(row["error_cause_type"], "kafkaretry.interop.NotFoundYet");
    assert_eq!(
        row["error_message"],
        "Listener failed; item d-ghost not created yet"
    );

    // The cause fixed: the item now exists.
    s.produce(
        "create-item",
        "d-ghost",
        r#"{"id":"d-ghost","name":"ghost"}"#,
    )
    .await;
    let create_topic = s.topic("create-item");
    spring
        .wait_for("d-ghost", "item created", WAIT, |e| {
            e.event == "handled" && e.topic.as_deref() == Some(create_topic.as_str())
        })
        .await;
    let group = format!("{}replay", s.prefix());
    let replay = ["dlt", "replay", dlt.as_str(), "--group", group.as_str()];
    let (code, out, err) = kafka_retry(&s, &replay).await;
    assert_eq!(code, 0, "{out}{err}");
    let update_topic = s.topic("update-item");
    let handled = spring
        .wait_for("d-ghost", "the replayed update handled", WAIT, |e| {
            e.event == "handled" && e.topic.as_deref() == Some(update_topic.as_str())
        })
        .await;
    assert_eq!(handled.attempt, Some(1), "replayed without retry headers");

    let main = s.read_all("update-item").await;
    assert_eq!(main.len(), 2, "the original and its replay");
    let replayed = &main[1];
    assert_eq!(
        (&replayed.key, &replayed.value),
        (&main[0].key, &main[0].value),
        "key and value bytes unchanged"
    );
    assert_eq!(single(replayed, "kafka_retry-replay-count"), encode_i32(1));
    for name in [
        ORIGINAL_TOPIC,
        ATTEMPTS,
        BACKOFF_TIMESTAMP,
        EXCEPTION_MESSAGE,
    ] {
        assert!(values(replayed, name).is_empty(), "{name} removed");
    }

    // Run again: the group's progress says everything was replayed.
    let (code, out, err) = kafka_retry(&s, &replay).await;
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(
        s.read_all("update-item").await.len(),
        2,
        "nothing replayed twice"
    );
    spring.stop().await;
}
