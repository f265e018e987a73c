//! Records a Spring Kafka service left in a retry topic: read by Spring's rules, forwarded
//! with the headers Spring would write.

use std::time::Duration;

use retry_runtime::core::headers::*;
use retry_runtime::prelude::*;

use crate::support::*;

#[derive(Debug, serde::Deserialize)]
struct SpringOrder {
    id: u64,
}

#[derive(Debug, thiserror::Error)]
#[error("warehouse unreachable for order {0}")]
struct WarehouseDown(u64);

/// Always fails: the record walks what is left of the chain into the DLT.
#[retryable_topic(topic = "spring-orders", attempts = 4, backoff = "1s*2", include = [WarehouseDown])]
async fn spring_orders(rec: Record<SpringOrder>) -> anyhow::Result<()> {
    record_call("spring_orders", &rec);
    Err(WarehouseDown(rec.value().id).into())
}

#[dlt_handler(topic = "spring-orders")]
async fn spring_orders_dlt(rec: DeadLetter<SpringOrder>) -> anyhow::Result<()> {
    record_call("spring_orders_dlt", &rec);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_spring_left_in_a_retry_topic_is_retried_and_dead_lettered_as_spring_would() {
    let s = Scenario::start().await;
    // Start first: the runtime creates the retry topics and the DLT.
    let app = s.start_app(&[("spring_orders", "spring-orders")]).await;
    let main_topic = s.topic("spring-orders");
    let group = s.topic("spring_orders");

    // What a Spring Kafka 3.2+ service (retainAllRetryHeaderValues, the default) leaves on a
    // record that failed on the main topic (offset 41) and on spring-orders-retry-1000: the
    // first hop's provenance once, the second hop's exception, and the retry headers
    // appended once per hop. The last due time is 1.5 s away.
    let now = now_ms();
    let original_ts = now - 3_000;
    let first_due = original_ts + 1_100;
    let last_due = now + 1_500;
    let java_stacktrace = "org.springframework.kafka.listener.ListenerExecutionFailedException: \
        Listener method 'public void com.example.orders.OrderListener.onOrder(com.example.orders.Order)' threw exception\n\
        \tat org.springframework.kafka.listener.KafkaMessageListenerContainer$ListenerConsumer.decorateException(KafkaMessageListenerContainer.java:2961)\n\
        Caused by: com.example.orders.WarehouseUnavailableException: warehouse unreachable\n\
        \tat com.example.orders.OrderListener.onOrder(OrderListener.java:42)\n";
    let first_hop: Vec<(&str, Vec<u8>)> = vec![
        (ORIGINAL_TOPIC, main_topic.as_bytes().to_vec()),
        (ORIGINAL_PARTITION, 0i32.to_be_bytes().to_vec()),
        (ORIGINAL_OFFSET, 41i64.to_be_bytes().to_vec()),
        (ORIGINAL_TIMESTAMP, original_ts.to_be_bytes().to_vec()),
        (ORIGINAL_TIMESTAMP_TYPE, b"CreateTime".to_vec()),
    ];
    let mut spring_headers: Vec<(&str, Vec<u8>)> =
        vec![("__TypeId__", b"com.example.orders.Order".to_vec())];
    spring_headers.extend(first_hop.iter().cloned());
    spring_headers.extend([
        (ORIGINAL_CONSUMER_GROUP, group.as_bytes().to_vec()),
        // First hop's retry headers.
        (ORIGINAL_TIMESTAMP_RETRY, encode_java_big_integer(original_ts)),
        (ATTEMPTS, 2i32.to_be_bytes().to_vec()),
        (BACKOFF_TIMESTAMP, encode_java_big_integer(first_due)),
        // Second hop: the exception headers replaced (stripPreviousExceptionHeaders)...
        (
            EXCEPTION_FQCN,
            b"org.springframework.kafka.listener.ListenerExecutionFailedException".to_vec(),
        ),
        (
            EXCEPTION_CAUSE_FQCN,
            b"com.example.orders.WarehouseUnavailableException".to_vec(),
        ),
        (
            EXCEPTION_MESSAGE,
            b"Listener method 'public void com.example.orders.OrderListener.onOrder(com.example.orders.Order)' threw exception".to_vec(),
        ),
        (EXCEPTION_STACKTRACE, java_stacktrace.as_bytes().to_vec()),
        // ... and the retry headers appended.
        (ORIGINAL_TIMESTAMP_RETRY, encode_java_big_integer(original_ts)),
        (ATTEMPTS, 3i32.to_be_bytes().to_vec()),
        (BACKOFF_TIMESTAMP, encode_java_big_integer(last_due)),
    ]);
    assert_eq!(
        encode_java_big_integer(last_due).len(),
        6,
        "Spring's minimal form"
    );
    let value = br#"{"id":7,"sku":"A-1"}"#;
    s.produce_with_headers(
        "spring-orders-retry-2000",
        "from-spring",
        value,
        &spring_headers,
    )
    .await;

    let dlt = s.read_n("spring-orders-dlt", 1).await;
    eventually("the DLT handler's call", Duration::from_secs(20), || {
        !calls_for("spring_orders_dlt", "from-spring").is_empty()
    })
    .await;
    app.shutdown().await;

    // Handled as delivery 3 (the last attempts value), not before the last due time (the
    // first one had passed already), then as delivery 4 on the next topic.
    let calls = calls_for("spring_orders", "from-spring");
    let path: Vec<(String, u32)> = calls.iter().map(|c| (c.topic.clone(), c.attempt)).collect();
    assert_eq!(
        path,
        [
            (s.topic("spring-orders-retry-2000"), 3),
            (s.topic("spring-orders-retry-4000"), 4)
        ]
    );
    assert_eq!(calls[0].due_ms, Some(last_due), "the last value is read");
    assert!(
        calls[0].at_ms >= last_due,
        "handled at {} before the due time {last_due}",
        calls[0].at_ms
    );
    println!("Spring's record: {} ms late", calls[0].at_ms - last_due);

    // The forward to spring-orders-retry-4000: what Spring writes, one value per header.
    let forwarded = s.read_all("spring-orders-retry-4000").await;
    assert_eq!(forwarded.len(), 1, "forwarded once");
    let f = &forwarded[0];
    assert_eq!(
        (f.partition, f.key.as_deref(), f.value.as_deref()),
        (0, Some(&b"from-spring"[..]), Some(&value[..])),
        "same partition, key and value"
    );
    assert_eq!(
        single(f, "__TypeId__"),
        b"com.example.orders.Order",
        "Spring's own headers are kept"
    );
    assert_eq!(single(f, ATTEMPTS), [0, 0, 0, 4], "4-byte delivery number");
    let due = decode_timestamp(BACKOFF_TIMESTAMP, single(f, BACKOFF_TIMESTAMP)).unwrap();
    assert!(
        due >= calls[0].at_ms + 4_000 && due <= calls[0].at_ms + 9_000,
        "due {due}: 4 s after the failure at {}",
        calls[0].at_ms
    );
    assert_eq!(calls[1].due_ms, Some(due));
    assert!(calls[1].at_ms >= due, "delivery 4 not before its due time");
    assert_eq!(
        decode_timestamp(
            ORIGINAL_TIMESTAMP_RETRY,
            single(f, ORIGINAL_TIMESTAMP_RETRY)
        ),
        Ok(original_ts),
        "the main topic record's time is kept"
    );
    for (name, bytes) in &first_hop {
        assert_eq!(
            single(f, name),
            &bytes[..],
            "{name}: the first hop's, byte for byte"
        );
    }
    assert_eq!(
        single(f, ORIGINAL_CONSUMER_GROUP),
        group.as_bytes(),
        "the group that first failed the record, added once"
    );
    let fqcn = std::str::from_utf8(single(f, EXCEPTION_FQCN)).unwrap();
    let cause = std::str::from_utf8(single(f, EXCEPTION_CAUSE_FQCN)).unwrap();
    assert!(fqcn.ends_with("WarehouseDown"), "this hop's error: {fqcn}");
    assert!(
        cause.ends_with("WarehouseDown"),
        "this hop's cause: {cause}"
    );
    assert_eq!(
        single(f, EXCEPTION_MESSAGE),
        b"warehouse unreachable for order 7"
    );
    let stacktrace = std::str::from_utf8(single(f, EXCEPTION_STACKTRACE)).unwrap();
    assert!(
        stacktrace.starts_with("warehouse unreachable for order 7") && !stacktrace.contains("java"),
        "this hop's trace: {stacktrace}"
    );

    // The DLT: Spring's count (failed delivery 4 + 1), provenance still the first hop's.
    assert_eq!(dlt.len(), 1);
    let d = &dlt[0];
    assert_eq!(single(d, ATTEMPTS), [0, 0, 0, 5]);
    let due = decode_timestamp(BACKOFF_TIMESTAMP, single(d, BACKOFF_TIMESTAMP)).unwrap();
    assert!(
        (calls[1].at_ms..calls[1].at_ms + 5_000).contains(&due),
        "a dead letter is due when delivery 4 failed ({}), as Spring writes it: {due}",
        calls[1].at_ms
    );
    for (name, bytes) in &first_hop {
        assert_eq!(single(d, name), &bytes[..], "{name} on the DLT");
    }
    assert_eq!(single(d, ORIGINAL_CONSUMER_GROUP), group.as_bytes());
    assert_eq!(
        decode_timestamp(
            ORIGINAL_TIMESTAMP_RETRY,
            single(d, ORIGINAL_TIMESTAMP_RETRY)
        ),
        Ok(original_ts)
    );

    let dlt_calls = calls_for("spring_orders_dlt", "from-spring");
    assert_eq!(dlt_calls.len(), 1);
    let p = &dlt_calls[0].provenance;
    assert_eq!(
        (
            p.original_topic.as_deref(),
            p.original_partition,
            p.original_offset
        ),
        (Some(main_topic.as_str()), Some(0), Some(41))
    );
    assert_eq!(p.original_timestamp_ms, Some(original_ts));
    assert_eq!(p.consumer_group.as_deref(), Some(group.as_str()));
    assert_eq!(p.attempts, Some(4), "four deliveries made");
    assert!(p.exception.fqcn.ends_with("WarehouseDown"));
}

/// Fails on delivery 2, succeeds on delivery 3.
#[retryable_topic(topic = "spring-legacy", attempts = 3, backoff = "1s")]
async fn spring_legacy(rec: Record<Bytes>) -> anyhow::Result<()> {
    record_call("spring_legacy", &rec);
    anyhow::ensure!(rec.attempt >= 3, "not yet");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spring_kafka_2_7s_one_byte_attempts_are_read_and_a_due_time_past_a_day_is_not_waited_for()
{
    let s = Scenario::start().await;
    let app = s.start_app(&[("spring_legacy", "spring-legacy")]).await;
    let now = now_ms();
    let original_ts = now - 1_000;
    let two_days_ahead = now + 2 * 24 * 60 * 60 * 1000;
    s.produce_with_headers(
        "spring-legacy-retry",
        "legacy",
        b"x",
        &[
            (ORIGINAL_TOPIC, s.topic("spring-legacy").into_bytes()),
            (ORIGINAL_PARTITION, 0i32.to_be_bytes().to_vec()),
            (ORIGINAL_OFFSET, 5i64.to_be_bytes().to_vec()),
            (ORIGINAL_TIMESTAMP, original_ts.to_be_bytes().to_vec()),
            (ORIGINAL_TIMESTAMP_TYPE, b"CreateTime".to_vec()),
            (ATTEMPTS, vec![2]),
            (BACKOFF_TIMESTAMP, encode_java_big_integer(two_days_ahead)),
            (
                ORIGINAL_TIMESTAMP_RETRY,
                encode_java_big_integer(original_ts),
            ),
        ],
    )
    .await;
    eventually("delivery 3", Duration::from_secs(20), || {
        calls_for("spring_legacy", "legacy").len() >= 2
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    app.shutdown().await;

    let calls = calls_for("spring_legacy", "legacy");
    assert_eq!(
        calls.iter().map(|c| c.attempt).collect::<Vec<_>>(),
        [2, 3],
        "the one-byte form read as delivery 2"
    );
    assert_eq!(calls[0].due_ms, Some(two_days_ahead));
    assert!(
        calls[0].at_ms - now < 10_000,
        "handled at once, {} ms after it was written, not in two days",
        calls[0].at_ms - now
    );

    let records = s.read_all("spring-legacy-retry").await;
    assert_eq!(records.len(), 2, "Spring's record and our forward");
    let f = &records[1];
    assert_eq!(
        single(f, ATTEMPTS),
        [0, 0, 0, 3],
        "written in the 4-byte form"
    );
    let due = decode_timestamp(BACKOFF_TIMESTAMP, single(f, BACKOFF_TIMESTAMP)).unwrap();
    assert!(due >= calls[0].at_ms + 1_000 && due < two_days_ahead);
    assert!(calls[1].at_ms >= due, "delivery 3 not before its due time");
    assert_eq!(
        decode_timestamp(
            ORIGINAL_TIMESTAMP_RETRY,
            single(f, ORIGINAL_TIMESTAMP_RETRY)
        ),
        Ok(original_ts)
    );
    assert!(s.read_all("spring-legacy-dlt").await.is_empty());
}
