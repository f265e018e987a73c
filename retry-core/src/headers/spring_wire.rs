//! Records as each spring-kafka generation writes them, read by this codec; and what this
//! codec writes, read by Spring's rules.
//!
//! The writers below replay `DeadLetterPublishingRecovererFactory#addHeaders` and the
//! recoverer's header handling (`DeadLetterRecordManager` on main, `DeadLetterPublishingRecoverer`
//! before 4.1) for one forward; the readers replay Spring's readers. Every generation
//! appends the `retry_topic-*` headers on each hop (2.7/2.8: `headers.forEach(kafkaHeaders::add)`;
//! 2.9.6+: `retainAllRetryHeaderValues = true` by default); since 2.7.9 the `kafka_original-*`
//! headers are written on the first hop only (`setAppendOriginalHeaders(false)`) and the
//! exception headers replaced (`stripPreviousExceptionHeaders = true`).

use super::*;
use proptest::prelude::*;

/// A spring-kafka generation, by what it writes.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Generation {
    /// 2.7.9 to 2.7.x: `BigInteger.valueOf(attempts + 1).toByteArray()` (one byte for small
    /// values); no consumer group or cause header yet (both `@since 2.8`).
    V2_7,
    /// 2.8 to 3.1: `ByteBuffer.wrap(new byte[Integer.BYTES]).putInt(attempts + 1)`; the group
    /// and cause headers.
    V2_8,
    /// 3.2 and later: as 2.8 on the wire (the cause is `ErrorHandlingUtils.findRootCause`).
    V3_2,
}

/// One failed delivery Spring forwards.
struct SpringHop<'a> {
    topic: &'a str,
    offset: i64,
    timestamp: i64,
    group: &'a str,
    exception: &'a str,
    cause: &'a str,
    message: &'a str,
    /// `getNextExecutionTimestamp`: failure time plus the next topic's delay.
    due: i64,
}

/// Spring forwarding a record it read with `headers` after `hop` failed.
fn spring_forward(generation: Generation, headers: &mut Headers, hop: &SpringHop<'_>) {
    let add_if_absent = |headers: &mut Headers, key: &'static str, value: Vec<u8>| {
        if headers.get(key).is_none() {
            headers.push(key, Some(value));
        }
    };
    let replace = |headers: &mut Headers, key: &'static str, value: &str| {
        headers.set(key, value.as_bytes().to_vec());
    };
    let attempts = spring_attempts(headers);
    let original_ts = headers
        .get(ORIGINAL_TIMESTAMP_RETRY)
        .map_or_else(|| encode_java_big_integer(hop.timestamp), <[u8]>::to_vec);
    // Exception headers first (`exceptionHeadersCreator.create`), then the original ones.
    replace(headers, EXCEPTION_FQCN, hop.exception);
    if generation != Generation::V2_7 {
        replace(headers, EXCEPTION_CAUSE_FQCN, hop.cause);
    }
    replace(headers, EXCEPTION_MESSAGE, hop.message);
    replace(
        headers,
        EXCEPTION_STACKTRACE,
        &format!("{}: {}\n\tat ...", hop.exception, hop.message),
    );
    add_if_absent(headers, ORIGINAL_TOPIC, hop.topic.as_bytes().to_vec());
    add_if_absent(headers, ORIGINAL_PARTITION, 0i32.to_be_bytes().to_vec());
    add_if_absent(headers, ORIGINAL_OFFSET, hop.offset.to_be_bytes().to_vec());
    add_if_absent(
        headers,
        ORIGINAL_TIMESTAMP,
        hop.timestamp.to_be_bytes().to_vec(),
    );
    add_if_absent(headers, ORIGINAL_TIMESTAMP_TYPE, b"CreateTime".to_vec());
    if generation != Generation::V2_7 {
        add_if_absent(
            headers,
            ORIGINAL_CONSUMER_GROUP,
            hop.group.as_bytes().to_vec(),
        );
    }
    // The factory's headers function, appended.
    headers.push(ORIGINAL_TIMESTAMP_RETRY, Some(original_ts));
    let next = attempts + 1;
    let attempts = match generation {
        Generation::V2_7 => encode_java_big_integer(next.into()),
        Generation::V2_8 | Generation::V3_2 => next.to_be_bytes().to_vec(),
    };
    headers.push(ATTEMPTS, Some(attempts));
    headers.push(BACKOFF_TIMESTAMP, Some(encode_java_big_integer(hop.due)));
}

/// `DeadLetterPublishingRecovererFactory#getAttempts` on main.
fn spring_attempts(headers: &Headers) -> i32 {
    let Some(value) = headers.get(ATTEMPTS) else {
        return 1;
    };
    let raw = match value {
        [byte] => i32::from(*byte),
        [a, b, c, d] => i32::from_be_bytes([*a, *b, *c, *d]),
        _ => return 1,
    };
    if (1..=i32::from(i16::MAX)).contains(&raw) {
        raw
    } else {
        1
    }
}

/// `KafkaBackoffAwareMessageListenerAdapter#maybeGetBackoffTimestamp`: the due time waited
/// for, if any.
fn spring_due(headers: &Headers, now: i64) -> Option<i64> {
    let value = headers.get(BACKOFF_TIMESTAMP)?;
    if value.is_empty() || value.len() > 8 {
        return None;
    }
    let fill = if value[0] & 0x80 != 0 { 0xff } else { 0 };
    let mut bytes = [fill; 8];
    bytes[8 - value.len()..].copy_from_slice(value);
    let ts = i64::from_be_bytes(bytes);
    (ts.wrapping_sub(now) <= 86_400_000).then_some(ts)
}

const T0: i64 = 1_732_000_000_000;

/// The chain `orders` → `orders-retry-1000` → `orders-retry-2000` → `orders-dlt`, written by
/// Spring: four headers snapshots, one per topic the record reaches.
fn spring_chain(generation: Generation) -> Vec<Headers> {
    let hops = [
        SpringHop {
            topic: "orders",
            offset: 10,
            timestamp: T0,
            group: "billing",
            exception: "org.springframework.kafka.listener.ListenerExecutionFailedException",
            cause: "com.example.NotFoundYet",
            message: "Listener failed; item 7 not there yet",
            due: T0 + 100 + 1000,
        },
        SpringHop {
            topic: "orders-retry-1000",
            offset: 4,
            timestamp: T0 + 150,
            group: "billing-retry-1000",
            exception: "org.springframework.kafka.listener.ListenerExecutionFailedException",
            cause: "com.example.NotFoundYet",
            message: "Listener failed; item 7 still not there",
            due: T0 + 1200 + 2000,
        },
        SpringHop {
            topic: "orders-retry-2000",
            offset: 2,
            timestamp: T0 + 1250,
            group: "billing-retry-2000",
            exception: "org.springframework.kafka.listener.ListenerExecutionFailedException",
            cause: "com.example.Timeout",
            message: "Listener failed; timed out",
            due: T0 + 3300,
        },
    ];
    let mut headers = Headers::new();
    headers.push("traceparent", Some(b"00-abc-01".to_vec()));
    let mut chain = vec![headers.clone()];
    for hop in &hops {
        spring_forward(generation, &mut headers, hop);
        chain.push(headers.clone());
    }
    chain
}

#[test]
fn chains_of_every_generation_read_as_spring_reads_them() {
    for generation in [Generation::V2_7, Generation::V2_8, Generation::V3_2] {
        let chain = spring_chain(generation);
        let states: Vec<RetryState> = chain
            .iter()
            .map(|h| RetryState::read(h).unwrap_or_else(|e| panic!("{generation:?}: {e}")))
            .collect();
        let attempts: Vec<u32> = states.iter().map(|s| s.attempt).collect();
        assert_eq!(
            attempts,
            [1, 2, 3, 4],
            "{generation:?}: 3 deliveries reach the DLT with 4"
        );
        for (headers, state) in chain.iter().zip(&states) {
            assert_eq!(
                state.attempt as i32,
                spring_attempts(headers),
                "{generation:?}"
            );
        }
        let dues: Vec<Option<i64>> = states.iter().map(|s| s.due_ms).collect();
        assert_eq!(
            dues,
            [None, Some(T0 + 1100), Some(T0 + 3200), Some(T0 + 3300)],
            "{generation:?}: the last appended due time"
        );
        assert_eq!(
            states[1].wait_at(T0 + 100).map(|d| d.as_millis()),
            Some(1000),
            "{generation:?}"
        );
        assert_eq!(states[3].original_timestamp_ms, Some(T0), "{generation:?}");

        let dlt = &chain[3];
        assert_eq!(
            dlt.iter().filter(|h| h.key == ATTEMPTS).count(),
            3,
            "appended per hop"
        );
        let p = Provenance::read(dlt);
        assert_eq!(
            p.original_topic.as_deref(),
            Some("orders"),
            "{generation:?}"
        );
        assert_eq!(
            (p.original_offset, p.original_timestamp_ms),
            (Some(10), Some(T0))
        );
        assert_eq!(p.attempts, Some(3), "{generation:?}: deliveries made");
        assert_eq!(p.exception.message, "Listener failed; timed out");
        match generation {
            Generation::V2_7 => {
                assert_eq!(dlt.get(ATTEMPTS), Some(&[4u8][..]), "one byte");
                assert_eq!(
                    (p.consumer_group, p.exception.cause_fqcn.as_str()),
                    (None, "")
                );
            }
            Generation::V2_8 | Generation::V3_2 => {
                assert_eq!(dlt.get(ATTEMPTS), Some(&[0u8, 0, 0, 4][..]));
                assert_eq!(
                    p.consumer_group.as_deref(),
                    Some("billing"),
                    "the first group"
                );
                assert_eq!(
                    p.exception.cause_fqcn, "com.example.Timeout",
                    "this hop's cause"
                );
            }
        }
    }
}

#[test]
fn spring_big_integer_timestamps_are_variable_length() {
    let chain = spring_chain(Generation::V3_2);
    let due = chain[1].get(BACKOFF_TIMESTAMP).unwrap();
    assert_eq!(
        due.len(),
        6,
        "BigInteger.toByteArray() of a 2024 epoch-ms time"
    );
    assert_eq!(decode_timestamp(BACKOFF_TIMESTAMP, due), Ok(T0 + 1100));
    assert_eq!(encode_java_big_integer(0), [0]);
    assert_eq!(encode_java_big_integer(128), [0, 0x80]);
    assert_eq!(encode_java_big_integer(-1), [0xff]);
}

fn rust_exception() -> ExceptionInfo {
    ExceptionInfo {
        fqcn: "anyhow::Error".into(),
        cause_fqcn: "items::NotFoundYet".into(),
        message: "updating: item 7 not there yet".into(),
        stacktrace: "updating\n\nCaused by:\n    item 7 not there yet".into(),
    }
}

fn rust_hop<'a>(topic: &'a str, group: &'a str, exception: &'a ExceptionInfo) -> Hop<'a> {
    Hop {
        topic,
        partition: 0,
        offset: 3,
        timestamp_ms: T0 + 2000,
        timestamp_type: TimestampType::CreateTime,
        group,
        exception,
        original_timestamp_ms: T0,
        first: false,
    }
}

#[test]
fn continuing_a_spring_chain_collapses_appended_values_into_one() {
    for generation in [Generation::V2_7, Generation::V2_8, Generation::V3_2] {
        // Spring handled deliveries 1 and 2; this service fails delivery 3 and forwards.
        let mut headers = spring_chain(generation)[2].clone();
        let state = RetryState::read(&headers).unwrap();
        assert_eq!(state.attempt, 3);
        let exception = rust_exception();
        let hop = rust_hop("orders-retry-2000", "billing-rust-retry-2000", &exception);
        stamp_forward(&mut headers, &hop, forward_attempts(state.attempt), 9_500);
        for name in [
            ATTEMPTS,
            ORIGINAL_TIMESTAMP_RETRY,
            EXCEPTION_FQCN,
            EXCEPTION_CAUSE_FQCN,
        ] {
            assert_eq!(
                headers.iter().filter(|h| h.key == name).count(),
                1,
                "{generation:?} {name}"
            );
        }
        assert_eq!(headers.get(BACKOFF_TIMESTAMP), Some(&encode_i64(9_500)[..]));
        assert_eq!(
            spring_attempts(&headers),
            4,
            "{generation:?}: Spring reads our value"
        );
        let p = Provenance::read(&headers);
        assert_eq!(
            p.original_topic.as_deref(),
            Some("orders"),
            "Spring's first hop kept"
        );
        assert_eq!(p.attempts, Some(3));
        assert_eq!(p.exception, exception);
        let group = if generation == Generation::V2_7 {
            "billing-rust-retry-2000"
        } else {
            "billing"
        };
        assert_eq!(
            p.consumer_group.as_deref(),
            Some(group),
            "{generation:?}: added once"
        );
        assert_eq!(headers.get_str("traceparent"), Some("00-abc-01"));
    }
}

proptest! {
    /// Whatever this codec writes, Spring's readers read the same attempts and due time.
    #[test]
    fn what_we_write_spring_reads_the_same(
        failed in 1u32..MAX_ATTEMPTS,
        delay in 0i64..=86_400_000,
        now in T0..T0 + 1_000_000,
        spring_hops in 0usize..3,
    ) {
        let mut headers = spring_chain(Generation::V3_2)[spring_hops].clone();
        let exception = rust_exception();
        stamp_forward(&mut headers, &rust_hop("orders", "billing", &exception), forward_attempts(failed), now + delay);
        prop_assert_eq!(spring_attempts(&headers), (failed + 1) as i32);
        let state = RetryState::read(&headers).unwrap();
        prop_assert_eq!(state.attempt, failed + 1);
        prop_assert_eq!(spring_due(&headers, now), Some(now + delay));
        prop_assert_eq!(state.wait_at(now).map(|d| d.as_millis() as i64), (delay > 0).then_some(delay));
    }

    /// Spring's own due times: waited for exactly when Spring would wait.
    #[test]
    fn due_times_are_honoured_as_spring_honours_them(
        offset in prop_oneof![any::<i64>(), -1_000i64..90_000_000, 86_399_000i64..86_401_000],
        now in T0..T0 + 1_000_000,
    ) {
        let due = now.wrapping_add(offset);
        let mut headers = Headers::new();
        headers.push(BACKOFF_TIMESTAMP, Some(encode_java_big_integer(due)));
        let state = RetryState::read(&headers).unwrap();
        let spring_waits = spring_due(&headers, now).is_some_and(|ts| ts > now);
        prop_assert_eq!(state.wait_at(now).is_some(), spring_waits);
    }

    /// Any 1- or 4-byte attempts header reads as Spring reads it.
    #[test]
    fn attempts_decode_as_spring_decodes(value in any::<i32>(), byte in any::<u8>()) {
        for bytes in [value.to_be_bytes().to_vec(), vec![byte]] {
            let mut headers = Headers::new();
            headers.push(ATTEMPTS, Some(bytes));
            prop_assert_eq!(RetryState::read(&headers).unwrap().attempt as i32, spring_attempts(&headers));
        }
    }
}
