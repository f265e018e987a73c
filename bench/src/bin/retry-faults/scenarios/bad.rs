//! Malformed payloads and retry headers, huge records, absurd due times.

use std::time::Duration;

use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::ClientConfig;
use retry_runtime::core::headers::{encode_i64, ATTEMPTS, BACKOFF_TIMESTAMP};

use crate::accounting::{settle, Accounting};
use crate::app::start_app;
use crate::broker::{create_topics, fresh_broker, Fresh};
use crate::listener::{self, TOPIC};
use crate::orders::{keys, produce_orders};

/// What a bad-input record is, its topic, key, value and headers.
type BadRecord = (
    &'static str,
    String,
    Option<&'static str>,
    Vec<u8>,
    OwnedHeaders,
);

/// Malformed input: every bad record ends handled or in the DLT, and the partitions keep
/// flowing (the good records produced after them are handled).
pub async fn run(broker: &str, records: u64) -> anyhow::Result<Accounting> {
    let Fresh { kafka, _harness } = fresh_broker(broker).await?;
    create_topics(&kafka, 1).await?;
    let bootstrap = kafka.bootstrap_servers().to_owned();
    listener::connect(&bootstrap)?;
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("message.max.bytes", "2000000")
        .create()?;
    let send = |topic: String, key: Option<&'static str>, value: Vec<u8>, headers: OwnedHeaders| {
        let producer = producer.clone();
        async move {
            let mut record = FutureRecord::<str, [u8]>::to(&topic)
                .payload(&value)
                .headers(headers);
            if let Some(key) = key {
                record = record.key(key);
            }
            producer
                .send(record, Duration::from_secs(30))
                .await
                .map_err(|(e, _)| e)
                .map(drop)
        }
    };
    let none = OwnedHeaders::new;
    let retry = format!("{TOPIC}-retry");
    let header = |key: &'static str, value: Vec<u8>| {
        OwnedHeaders::new().insert(Header {
            key,
            value: Some(&value),
        })
    };
    // Each dead-lettered bad record's key; the ones that decode are handled under their `k`.
    let bad: Vec<BadRecord> = vec![
        (
            "non-UTF-8 value",
            TOPIC.into(),
            Some("bad-binary"),
            vec![0xff, 0xfe, 0x00, 0x80],
            none(),
        ),
        (
            "non-JSON value",
            TOPIC.into(),
            Some("bad-text"),
            b"hello".to_vec(),
            none(),
        ),
        (
            "empty value",
            TOPIC.into(),
            Some("bad-empty"),
            Vec::new(),
            none(),
        ),
        (
            "huge non-JSON value",
            TOPIC.into(),
            Some("bad-huge"),
            vec![b'x'; 900_000],
            none(),
        ),
        (
            "null key, valid JSON",
            TOPIC.into(),
            None,
            br#"{"k":1000001}"#.to_vec(),
            none(),
        ),
        (
            "retry: no headers",
            retry.clone(),
            Some("1000002"),
            br#"{"k":1000002}"#.to_vec(),
            none(),
        ),
        (
            "retry: truncated attempts",
            retry.clone(),
            Some("bad-truncated"),
            br#"{"k":1000003}"#.to_vec(),
            header(ATTEMPTS, vec![0, 1]),
        ),
        (
            "retry: garbage due time",
            retry.clone(),
            Some("bad-garbage"),
            br#"{"k":1000004}"#.to_vec(),
            header(BACKOFF_TIMESTAMP, b"not a time at all".to_vec()),
        ),
        (
            // Spring's rule: a due time more than a day ahead is handled at once.
            "retry: due in the year 3000",
            retry.clone(),
            Some("1000008"),
            br#"{"k":1000008}"#.to_vec(),
            header(BACKOFF_TIMESTAMP, encode_i64(32_503_680_000_000)),
        ),
        (
            "retry: due in 1970",
            retry.clone(),
            Some("1000006"),
            br#"{"k":1000006}"#.to_vec(),
            header(BACKOFF_TIMESTAMP, encode_i64(1)),
        ),
    ];
    for (what, topic, key, value, headers) in &bad {
        eprintln!("  {what}");
        send(topic.clone(), *key, value.clone(), headers.clone()).await?;
    }
    let app = start_app(&bootstrap).await?;
    produce_orders(bootstrap.clone(), records, Duration::from_secs(2)).await?;
    let mut expected = keys(records);
    expected.extend(
        [
            "bad-binary",
            "bad-text",
            "bad-empty",
            "bad-huge",
            "1000001",
            "1000002",
            "bad-truncated",
            "bad-garbage",
            "1000008",
            "1000006",
        ]
        .map(String::from),
    );
    let accounting = settle(&kafka, &expected, Duration::from_secs(60)).await?;
    app.shutdown().await;
    // No crash and no rebalance: nothing may be handled twice.
    Ok(accounting.bounded(0))
}
