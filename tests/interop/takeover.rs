//! One retry chain, two services: the one that started it stops while the record waits in the
//! last retry topic (4 s), the other takes the chain over on the same groups and finishes it.

use std::time::Duration;

use retry_runtime::core::headers::*;
use retry_runtime::testing::ReadRecord;

use crate::items::{self, Store};
use crate::spring_service::{Event, SpringService};
use crate::support::*;

const WAIT: Duration = Duration::from_secs(40);

/// The last value of header `name` as text.
fn last_str<'a>(record: &'a ReadRecord, name: &str) -> &'a str {
    let value = values(record, name)
        .pop()
        .unwrap_or_else(|| panic!("header {name} missing"));
    std::str::from_utf8(value).expect("text header")
}

/// What both sides keep on a dead letter of `update-item` with key `key`: the first hop's
/// provenance (written once), the attempts of a four-attempt chain, the last error.
async fn assert_dead_letter_provenance(s: &Scenario, key: &str, cause_fqcn: &str) {
    let main = record_for(s, "update-item", key, WAIT).await;
    let dead = record_for(s, "update-item-dlt", key, WAIT).await;
    assert_eq!(dead.value, main.value, "value bytes unchanged");
    assert_eq!(
        single(&dead, ORIGINAL_TOPIC),
        s.topic("update-item").as_bytes()
    );
    assert_eq!(
        single(&dead, ORIGINAL_PARTITION),
        encode_i32(main.partition)
    );
    assert_eq!(single(&dead, ORIGINAL_OFFSET), encode_i64(main.offset));
    assert_eq!(
        single(&dead, ORIGINAL_TIMESTAMP),
        encode_i64(main.timestamp_ms.expect("timestamp"))
    );
    assert_eq!(
        single(&dead, ORIGINAL_CONSUMER_GROUP),
        format!("{}update_item", s.prefix()).as_bytes()
    );
    let attempts = values(&dead, ATTEMPTS).pop().expect("attempts");
    assert_eq!(
        decode_attempts(attempts).unwrap(),
        Some(5),
        "4 attempts, then the DLT"
    );
    assert_eq!(last_str(&dead, EXCEPTION_CAUSE_FQCN), cause_fqcn);
    assert!(
        last_str(&dead, EXCEPTION_MESSAGE).ends_with(&format!("item {key} not created yet")),
        "{}",
        last_str(&dead, EXCEPTION_MESSAGE)
    );
}

/// Spring's failed attempt `attempt` of `key`.
fn spring_failure(spring: &SpringService, key: &str, attempt: u32) -> Option<Event> {
    spring
        .events_for(key)
        .into_iter()
        .find(|e| e.event == "failed" && e.attempt == Some(attempt))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chain_spring_started_is_finished_by_the_rust_service() {
    let s = Scenario::start().await;
    let spring = SpringService::start(&s).await;
    for key in ["a-dead", "a-late"] {
        let update = format!(r#"{{"id":"{key}","status":"ACTIVE"}}"#);
        s.produce("update-item", key, &update).await;
    }
    for key in ["a-dead", "a-late"] {
        spring
            .wait_for(key, "attempt 3 failed", WAIT, |e| {
                e.event == "failed" && e.attempt == Some(3)
            })
            .await;
    }
    let third: Vec<Event> = ["a-dead", "a-late"]
        .iter()
        .map(|key| spring_failure(&spring, key, 3).unwrap())
        .collect();
    let events = spring.events();
    spring.stop().await;
    assert!(
        events.iter().all(|e| e.attempt.unwrap_or(0) < 4),
        "Spring stopped within the 4 s wait, before its fourth attempt: {events:?}"
    );

    // Meanwhile the item was created (the services' shared database has it).
    let store = Store::default();
    store.insert("a-late");
    let app = items::start(&s, &store).await;
    eventually("the Rust service finishes both chains", WAIT, || {
        calls_for("update_item", "a-late").len() == 1
            && calls_for("update_item_dlt", "a-dead").len() == 1
    })
    .await;

    for (key, spring_third) in ["a-dead", "a-late"].iter().zip(&third) {
        let calls = calls_for("update_item", key);
        assert_eq!(calls.len(), 1, "{key}: one delivery, the fourth: {calls:?}");
        let call = &calls[0];
        assert_eq!(call.topic, s.topic("update-item-retry-4000"));
        assert_eq!(call.attempt, 4, "{key}: Spring's attempts header read");
        let due = call.due_ms.expect("Spring's backoff timestamp read");
        assert!(
            (spring_third.at + 4000..spring_third.at + 6000).contains(&due),
            "{key}: due {due}, Spring failed attempt 3 at {}",
            spring_third.at
        );
        assert!(call.at_ms >= due, "{key}: handled before it was due");
        assert_eq!(
            call.provenance.original_topic.as_deref(),
            Some(s.topic("update-item").as_str())
        );
    }
    assert_dead_letter_provenance(&s, "a-dead", "interop::items::NotFoundYet").await;
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chain_the_rust_service_started_is_finished_by_spring() {
    let s = Scenario::start().await;
    let app = items::start(&s, &Store::default()).await;
    s.produce(
        "update-item",
        "b-dead",
        r#"{"id":"b-dead","status":"ACTIVE"}"#,
    )
    .await;
    eventually("the Rust service fails b-dead three times", WAIT, || {
        calls_for("update_item", "b-dead").len() == 3
    })
    .await;
    app.shutdown().await;
    let calls = calls_for("update_item", "b-dead");
    let attempts: Vec<u32> = calls.iter().map(|c| c.attempt).collect();
    assert_eq!(attempts, [1, 2, 3], "stopped within the 4 s wait");

    let spring = SpringService::start(&s).await;
    let fourth = spring
        .wait_for("b-dead", "attempt 4 failed", WAIT, |e| {
            e.event == "failed" && e.attempt == Some(4)
        })
        .await;
    assert_eq!(
        fourth.topic.as_deref(),
        Some(s.topic("update-item-retry-4000").as_str())
    );
    let due = fourth
        .due
        .expect("Spring read the Rust service's backoff timestamp");
    assert!(
        (calls[2].at_ms + 4000..calls[2].at_ms + 6000).contains(&due),
        "due {due}, third attempt at {}",
        calls[2].at_ms
    );
    assert!(fourth.at >= due, "Spring handled it before it was due");
    assert_eq!(
        fourth.detail.as_deref(),
        Some("item b-dead not created yet")
    );
    let dead = spring
        .wait_for("b-dead", "dead letter", WAIT, |e| e.event == "dead-letter")
        .await;
    assert_eq!(
        dead.topic.as_deref(),
        Some(s.topic("update-item-dlt").as_str())
    );
    assert_dead_letter_provenance(&s, "b-dead", "kafkaretry.interop.NotFoundYet").await;
    assert_eq!(
        spring.events_for("b-dead").len(),
        2,
        "Spring: one failure, one dead letter"
    );
    spring.stop().await;
}
