//! The baseline: a plain rdkafka `StreamConsumer` loop with manual offset storing (committed in
//! the background), doing the same no-op work as the happy-path handler (counting into
//! [`MAIN`]) and measured the same way. It has the client settings of the framework's
//! main-topic consumers (prefetch bound, fetch back-off, commit interval), so the ratio measures
//! what the framework does per record, not a difference of librdkafka settings: with
//! librdkafka's defaults a consumer reading faster than the broker serves stalls a second
//! whenever its prefetch fills (`fetch.queue.backoff.ms`).

use std::time::Duration;

use futures::channel::oneshot::Canceled;
use futures::stream::{FuturesUnordered, StreamExt};
use futures::FutureExt;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::{Message, OwnedHeaders};
use rdkafka::producer::future_producer::OwnedDeliveryResult;
use rdkafka::producer::{FutureProducer, FutureRecord};
use retry_runtime::core::headers::{write_forward, Hop};
use retry_runtime::core::{ExceptionInfo, Headers, TimestampType};
use retry_runtime::kafka_headers::KafkaHeaders;
use retry_runtime::{KafkaSettings, Role};

use crate::handlers::{fails_first_time, MAIN};
use crate::throughput::Throughput;

/// Reads `n` records of `topic` in a fresh group; records per second between the first and
/// the last record and CPU per record, as [`MAIN`] measures the framework.
pub async fn consume(
    bootstrap: &str,
    topic: &str,
    group: &str,
    n: usize,
) -> anyhow::Result<Throughput> {
    let consumer = main_consumer(bootstrap, topic, group)?;
    MAIN.reset(n as u64);
    for _ in 0..n {
        let message = tokio::time::timeout(Duration::from_secs(60), consumer.recv()).await??;
        MAIN.record();
        consumer.store_offset_from_message(&message)?;
    }
    Ok(Throughput::measured())
}

/// The ceiling of the 10 % failing run: the loop of [`consume`] that also produces every record
/// the mixed handler fails (every tenth, by key) to `forward_to` with a first retry's
/// provenance headers, pipelined as the framework's forwards are. It does not read them back
/// (the framework's retry consumer does, in the same process) nor order its offsets, so its
/// rate bounds the framework's from above: what the broker and the client library alone cost.
pub async fn consume_forwarding(
    bootstrap: &str,
    topic: &str,
    group: &str,
    n: usize,
    forward_to: &str,
) -> anyhow::Result<Throughput> {
    let consumer = main_consumer(bootstrap, topic, group)?;
    let producer = forward_producer(bootstrap)?;
    let exception = exception();
    let mut in_flight = FuturesUnordered::new();
    MAIN.reset(n as u64);
    for _ in 0..n {
        let message = tokio::time::timeout(Duration::from_secs(60), consumer.recv()).await??;
        MAIN.record();
        let key = message.key();
        if fails_first_time(key.and_then(|k| std::str::from_utf8(k).ok())) {
            let now = crate::handlers::now_ms();
            let hop = Hop {
                topic: message.topic(),
                partition: message.partition(),
                offset: message.offset(),
                timestamp_ms: message.timestamp().to_millis().unwrap_or(now),
                timestamp_type: TimestampType::CreateTime,
                group,
                exception: &exception,
                original_timestamp_ms: now,
                first: true,
            };
            let mut record = FutureRecord::to(forward_to).headers(retry_headers(&hop, now));
            if let Some(key) = key {
                record = record.key(key);
            }
            if let Some(value) = message.payload() {
                record = record.payload(value);
            }
            // Enqueued now (the record borrows the message); delivered in the background.
            let delivery = producer.send_result(record).map_err(|(error, _)| error)?;
            in_flight.push(delivery);
        }
        consumer.store_offset_from_message(&message)?;
        // Completed forwards are collected without waiting, as the framework's partition
        // does; at its bound the loop waits for one.
        while let Some(Some(sent)) = in_flight.next().now_or_never() {
            delivered(sent)?;
        }
        if in_flight.len() >= 1_000 {
            delivered(in_flight.next().await.expect("not empty"))?;
        }
    }
    while let Some(sent) = in_flight.next().await {
        delivered(sent)?;
    }
    Ok(Throughput::measured())
}

/// A delivery's outcome as an error, if the broker did not acknowledge the record.
fn delivered(sent: Result<OwnedDeliveryResult, Canceled>) -> anyhow::Result<()> {
    sent?.map_err(|(error, _)| error)?;
    Ok(())
}

/// A consumer with the framework's main-topic settings, subscribed to `topic` in `group`.
fn main_consumer(bootstrap: &str, topic: &str, group: &str) -> anyhow::Result<StreamConsumer> {
    let consumer: StreamConsumer = KafkaSettings::from_env(std::env::vars())?
        .client_config(Role::Main)
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .set("auto.offset.reset", "earliest")
        .create()?;
    consumer.subscribe(&[topic])?;
    Ok(consumer)
}

/// A producer with the framework's forward settings.
fn forward_producer(bootstrap: &str) -> anyhow::Result<FutureProducer> {
    Ok(KafkaSettings::from_env(std::env::vars())?
        .client_config(Role::Producer)
        .set("bootstrap.servers", bootstrap)
        .create()?)
}

/// What the mixed handler's failure looks like in the exception headers.
fn exception() -> ExceptionInfo {
    ExceptionInfo {
        fqcn: "anyhow::Error".into(),
        cause_fqcn: "anyhow::Error".into(),
        message: "fails once".into(),
        stacktrace: "fails once".into(),
    }
}

/// The headers of a first retry of the record `hop` names, due a second after `now`.
fn retry_headers(hop: &Hop<'_>, now: i64) -> OwnedHeaders {
    let mut headers = KafkaHeaders::with_capacity(13);
    write_forward(&Headers::default(), hop, 2, now + 1_000, &mut headers);
    headers.into_inner()
}

/// The floor of a forward: `n` records produced to `topic` with the provenance headers a first
/// retry carries (written by the same core function), through the same producer settings and
/// rust-rdkafka's `FutureProducer`, pipelined; CPU of the process per record.
pub async fn produce(bootstrap: &str, topic: &str, n: usize) -> anyhow::Result<Throughput> {
    let producer = forward_producer(bootstrap)?;
    let exception = exception();
    let now = crate::handlers::now_ms();
    let value = [7u8; 100];
    let mut in_flight = FuturesUnordered::new();
    MAIN.reset(n as u64);
    for i in 0..n {
        let hop = Hop {
            topic: "bench-mix",
            partition: 0,
            offset: i as i64,
            timestamp_ms: now,
            timestamp_type: TimestampType::CreateTime,
            group: "bench_mix-as-run-bench-mix",
            exception: &exception,
            original_timestamp_ms: now,
            first: true,
        };
        let headers = retry_headers(&hop, now);
        let (producer, value) = (&producer, &value);
        in_flight.push(async move {
            let key = i.to_string();
            let record = FutureRecord::to(topic)
                .key(&key)
                .payload(&value[..])
                .headers(headers);
            let sent = producer.send(record, Duration::from_secs(30)).await;
            MAIN.record();
            sent.map(drop).map_err(|(error, _)| error)
        });
        // The framework's forwards are pipelined too, bounded by its in-flight budget.
        if in_flight.len() >= 1_000 {
            in_flight.next().await.expect("not empty")?;
        }
    }
    while let Some(sent) = in_flight.next().await {
        sent?;
    }
    Ok(Throughput::measured())
}
