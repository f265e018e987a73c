//! The same failures, handled once by the Spring service and once by the Rust one: the records
//! they forward carry the same headers, byte for byte where Spring's readers depend on it.

use std::collections::BTreeMap;
use std::time::Duration;

use retry_runtime::core::headers::*;
use retry_runtime::testing::ReadRecord;

use crate::items::{self, Store};
use crate::spring_service::SpringService;
use crate::support::*;

const WAIT: Duration = Duration::from_secs(40);

/// One side's view of a failure: the scenario it ran in, the main record, the forwarded one.
struct Forwarded<'a> {
    side: &'a Scenario,
    main: ReadRecord,
    forwarded: ReadRecord,
    failed_at_ms: i64,
    delay_ms: i64,
    /// The root cause's type the side names: Spring the Java exception; Rust the innermost
    /// type it can name (a listed `include` type, else the handler's error type).
    cause: &'static str,
}

/// How many times each header name occurs.
fn names(record: &ReadRecord) -> BTreeMap<&str, usize> {
    let mut names = BTreeMap::new();
    for header in record.headers.iter() {
        *names.entry(header.key.as_ref()).or_default() += 1;
    }
    names
}

/// The only value of `name` as text with the side's topic/group prefix taken away.
fn unprefixed<'a>(f: &'a Forwarded<'_>, name: &str) -> &'a str {
    let value = std::str::from_utf8(single(&f.forwarded, name)).expect("text header");
    value
        .strip_prefix(f.side.prefix())
        .unwrap_or_else(|| panic!("{name} {value:?} lacks the prefix {}", f.side.prefix()))
}

/// Compares what `spring` and `rust` forwarded for the same failure.
fn assert_same_headers(spring: &Forwarded<'_>, rust: &Forwarded<'_>) {
    assert_eq!(
        names(&spring.forwarded),
        names(&rust.forwarded),
        "the same header names, as often"
    );
    // Byte for byte: Spring's readers decode these.
    for name in [
        ORIGINAL_PARTITION,
        ORIGINAL_OFFSET,
        ORIGINAL_TIMESTAMP_TYPE,
        ATTEMPTS,
    ] {
        assert_eq!(
            single(&spring.forwarded, name),
            single(&rust.forwarded, name),
            "{name}"
        );
    }
    for name in [ORIGINAL_TOPIC, ORIGINAL_CONSUMER_GROUP] {
        assert_eq!(unprefixed(spring, name), unprefixed(rust, name), "{name}");
    }
    // Each side's own times, Kafka's original timestamp a big-endian long on both; the retry
    // timestamps as Java's `BigInteger.toByteArray()` from Spring (6 bytes for these years)
    // and as a big-endian long from Rust: each side decodes both forms.
    for (f, retry_timestamp) in [
        (spring, encode_java_big_integer as fn(i64) -> Vec<u8>),
        (rust, encode_i64),
    ] {
        let main_ms = f.main.timestamp_ms.expect("timestamp");
        assert_eq!(
            single(&f.forwarded, ORIGINAL_TIMESTAMP),
            encode_i64(main_ms)
        );
        let retry_original = single(&f.forwarded, ORIGINAL_TIMESTAMP_RETRY);
        assert_eq!(retry_original, retry_timestamp(main_ms));
        let due = single(&f.forwarded, BACKOFF_TIMESTAMP);
        let due_ms = decode_timestamp(BACKOFF_TIMESTAMP, due).unwrap();
        assert_eq!(due, retry_timestamp(due_ms));
        let delay = due_ms - f.failed_at_ms;
        assert!(
            (f.delay_ms..f.delay_ms + 1500).contains(&delay),
            "due {delay} ms after the failure, expected {} ms",
            f.delay_ms
        );
    }
    // Each side describes its own error: the type names are the language's, Spring wraps the
    // handler's exception in its ListenerExecutionFailedException (whose message it puts
    // before the cause's), and the stack traces are each runtime's.
    let spring_message = std::str::from_utf8(single(&spring.forwarded, EXCEPTION_MESSAGE)).unwrap();
    let rust_message = std::str::from_utf8(single(&rust.forwarded, EXCEPTION_MESSAGE)).unwrap();
    assert_eq!(spring_message, format!("Listener failed; {rust_message}"));
    assert_eq!(
        single(&spring.forwarded, EXCEPTION_FQCN),
        b"org.springframework.kafka.listener.ListenerExecutionFailedException"
    );
    for f in [spring, rust] {
        for name in [EXCEPTION_FQCN, EXCEPTION_STACKTRACE] {
            assert!(!single(&f.forwarded, name).is_empty(), "{name}");
        }
    }
    let cause = |f: &Forwarded<'_>| {
        String::from_utf8(single(&f.forwarded, EXCEPTION_CAUSE_FQCN).to_vec()).unwrap()
    };
    assert_eq!(
        (cause(spring), cause(rust)),
        (spring.cause.to_owned(), rust.cause.to_owned())
    );
}

/// When the Spring service failed `key`'s first delivery.
async fn spring_failed_at(spring: &SpringService, key: &str) -> i64 {
    spring
        .wait_for(key, "attempt 1 failed", WAIT, |e| {
            e.event == "failed" && e.attempt == Some(1)
        })
        .await
        .at
}

/// What a side forwarded for `key` to `topic`, due `delay_ms` after its failure.
async fn forwarded<'a>(
    side: &'a Scenario,
    topic: &str,
    key: &str,
    delay_ms: i64,
    failed_at_ms: i64,
    cause: &'static str,
) -> Forwarded<'a> {
    Forwarded {
        side,
        main: record_for(side, "update-item", key, WAIT).await,
        forwarded: record_for(side, topic, key, WAIT).await,
        failed_at_ms,
        delay_ms,
        cause,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_failures_carry_the_same_headers_from_either_side() {
    let spring_side = Scenario::start().await;
    let rust_side = Scenario::start().await;
    let spring = SpringService::start(&spring_side).await;
    let app = items::start(&rust_side, &Store::default()).await;
    for side in [&spring_side, &rust_side] {
        side.produce(
            "update-item",
            "c-missing",
            r#"{"id":"c-missing","status":"ACTIVE"}"#,
        )
        .await;
        side.produce(
            "update-item",
            "c-invalid",
            r#"{"id":"c-invalid","status":"BOGUS"}"#,
        )
        .await;
    }
    let rust_failed_at = |key| {
        calls_for("update_item", key)
            .into_iter()
            .find(|c| c.topic == rust_side.topic("update-item"))
            .expect("the Rust service handled it")
            .at_ms
    };
    let retried = (
        forwarded(
            &spring_side,
            "update-item-retry-1000",
            "c-missing",
            1000,
            spring_failed_at(&spring, "c-missing").await,
            "kafkaretry.interop.NotFoundYet",
        )
        .await,
        forwarded(
            &rust_side,
            "update-item-retry-1000",
            "c-missing",
            1000,
            rust_failed_at("c-missing"),
            "interop::items::NotFoundYet",
        )
        .await,
    );
    let dead = (
        forwarded(
            &spring_side,
            "update-item-dlt",
            "c-invalid",
            0,
            spring_failed_at(&spring, "c-invalid").await,
            "kafkaretry.interop.InvalidStatus",
        )
        .await,
        forwarded(
            &rust_side,
            "update-item-dlt",
            "c-invalid",
            0,
            rust_failed_at("c-invalid"),
            "anyhow::Error",
        )
        .await,
    );
    app.shutdown().await;
    spring.stop().await;
    assert_same_headers(&retried.0, &retried.1);
    assert_same_headers(&dead.0, &dead.1);
}
