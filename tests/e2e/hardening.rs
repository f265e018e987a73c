//! No poison pill, no silent death: what a producer or an operator can get wrong does not crash,
//! stall or silently stop the app.

use std::ffi::{c_void, CString};
use std::time::Duration;

use rdkafka::bindings as rdsys;
use rdkafka::producer::{BaseProducer, Producer};
use rdkafka::ClientConfig;
use retry_runtime::prelude::*;

use crate::support::*;

/// Fails the first delivery of the record keyed `odd`.
#[retryable_topic(topic = "odd-header", attempts = 2, backoff = "100ms")]
async fn odd_header(rec: Record<Bytes>) -> anyhow::Result<()> {
    record_call("odd_header", &rec);
    anyhow::ensure!(
        rec.attempt > 1 || rec.key_str() != Some("odd"),
        "the first delivery of `odd` fails"
    );
    Ok(())
}

/// Fails the first delivery of every record: each one is forwarded to the retry topic.
#[retryable_topic(topic = "large-record", attempts = 2, backoff = "100ms")]
async fn large_record(rec: Record<Bytes>) -> anyhow::Result<()> {
    record_call("large_record", &rec);
    anyhow::ensure!(rec.attempt > 1, "the first delivery fails");
    Ok(())
}

/// Two listeners of one group, on topics of their own; each fails the first delivery of a
/// `retry-*` key, so their retry topics' consumers share a group too.
#[retryable_topic(
    topic = "static-a",
    group = "static-shared",
    attempts = 2,
    backoff = "100ms"
)]
async fn static_a(rec: Record<Bytes>) -> anyhow::Result<()> {
    fail_first_retry_key("static_a", &rec)
}

/// See [`static_a`].
#[retryable_topic(
    topic = "static-b",
    group = "static-shared",
    attempts = 2,
    backoff = "100ms"
)]
async fn static_b(rec: Record<Bytes>) -> anyhow::Result<()> {
    fail_first_retry_key("static_b", &rec)
}

fn fail_first_retry_key(handler: &'static str, rec: &Record<Bytes>) -> anyhow::Result<()> {
    record_call(handler, rec);
    anyhow::ensure!(
        rec.attempt > 1 || !rec.key_str().unwrap_or("").starts_with("retry-"),
        "the first delivery of a retry-* key fails"
    );
    Ok(())
}

/// Produces one record whose only header is named by `name`'s bytes, through librdkafka's C
/// API: rdkafka's own header list takes names as `&str`, so it cannot write such a name.
fn produce_with_header_named(bootstrap: &str, topic: &str, key: &str, name: &[u8], value: &[u8]) {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .expect("producer");
    let topic = CString::new(topic).unwrap();
    // SAFETY: every pointer outlives the call; librdkafka copies the key and value, and owns
    // the header list once the call succeeded.
    unsafe {
        let headers = rdsys::rd_kafka_headers_new(1);
        let added = rdsys::rd_kafka_header_add(
            headers,
            name.as_ptr().cast(),
            name.len() as isize,
            value.as_ptr().cast(),
            value.len() as isize,
        );
        assert_eq!(
            added,
            rdsys::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR
        );
        let arg = |vtype, u| rdsys::rd_kafka_vu_t { vtype, u };
        let mem = |bytes: &[u8]| rdsys::rd_kafka_vu_s__bindgen_ty_1 {
            mem: rdsys::rd_kafka_vu_s__bindgen_ty_1__bindgen_ty_1 {
                ptr: bytes.as_ptr() as *mut c_void,
                size: bytes.len(),
            },
        };
        let args = [
            arg(
                rdsys::rd_kafka_vtype_t::RD_KAFKA_VTYPE_TOPIC,
                rdsys::rd_kafka_vu_s__bindgen_ty_1 {
                    cstr: topic.as_ptr(),
                },
            ),
            arg(
                rdsys::rd_kafka_vtype_t::RD_KAFKA_VTYPE_KEY,
                mem(key.as_bytes()),
            ),
            arg(rdsys::rd_kafka_vtype_t::RD_KAFKA_VTYPE_VALUE, mem(b"x")),
            arg(
                rdsys::rd_kafka_vtype_t::RD_KAFKA_VTYPE_HEADERS,
                rdsys::rd_kafka_vu_s__bindgen_ty_1 { headers },
            ),
        ];
        let error =
            rdsys::rd_kafka_produceva(producer.client().native_ptr(), args.as_ptr(), args.len());
        assert!(error.is_null(), "the record is queued");
    }
    producer
        .flush(Duration::from_secs(10))
        .expect("the record is delivered");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_header_name_that_is_not_utf8_is_forwarded_byte_for_byte() {
    let s = Scenario::start().await;
    let topic = s.topic("odd-header");
    s.kafka.create_topic(&topic, 1).await.unwrap();
    produce_with_header_named(
        s.kafka.bootstrap_servers(),
        &topic,
        "odd",
        &[0xff, 0xfe],
        b"v",
    );
    for i in 0..3 {
        s.produce("odd-header", &format!("after-{i}"), "x").await;
    }
    let app = s.start_app(&[("odd_header", "odd-header")]).await;
    eventually(
        "the record retried, and the ones behind it handled",
        Duration::from_secs(20),
        || {
            calls_for("odd_header", "odd")
                .iter()
                .any(|c| c.attempt == 2)
                && (0..3).all(|i| !calls_for("odd_header", &format!("after-{i}")).is_empty())
        },
    )
    .await;
    let forwarded = record_for(&s, "odd-header-retry", "odd", Duration::from_secs(10)).await;
    let odd: Vec<_> = forwarded
        .headers
        .iter()
        .filter(|h| h.key.as_bytes() == [0xff, 0xfe])
        .collect();
    assert_eq!(odd.len(), 1, "{:?}", forwarded.headers);
    assert_eq!(odd[0].value.as_deref(), Some(&b"v"[..]));
    assert!(
        tokio::time::timeout(Duration::from_millis(200), app.failed())
            .await
            .is_err(),
        "the app runs on"
    );
    app.shutdown().await;
}

/// One more handler permit than tokio's semaphore holds: the consumer's task would panic
/// when it starts.
const TOO_CONCURRENT: &str = "2305843009213693952";

#[tokio::test]
async fn a_concurrency_beyond_its_bound_fails_start_up_naming_the_variable() {
    let env = |var: &str| (var == "RETRY_ODD_HEADER_CONCURRENCY").then(|| TOO_CONCURRENT.into());
    let started = retry_runtime::RetryApp::builder()
        .bootstrap_servers("127.0.0.1:1")
        .listeners(["odd_header"])
        .settings_env(env)
        .start()
        .await;
    let Err(error) = started else {
        panic!("the app started with concurrency {TOO_CONCURRENT}");
    };
    assert_eq!(
        error.to_string(),
        format!(
            "listener `odd_header`: invalid concurrency `{TOO_CONCURRENT}` (from environment \
             variable RETRY_ODD_HEADER_CONCURRENCY): expected a whole number from 1 to 10000"
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn static_members_of_one_group_on_two_topics_each_get_their_partitions() {
    let s = Scenario::start().await;
    let group = s.topic("static-shared");
    let same_group = [
        ("RETRY_STATIC_A_GROUP", group.as_str()),
        ("RETRY_STATIC_B_GROUP", group.as_str()),
    ];
    let listeners = [("static_a", "static-a"), ("static_b", "static-b")];
    let builder = s
        .app_builder(&listeners, &same_group, &[])
        .instance_id("pod-1");
    let app = s.start_built(builder).await;
    for (handler, topic) in listeners {
        for key in ["ok", "retry-1"] {
            s.produce(topic, key, "x").await;
        }
        eventually(
            &format!("{handler} handles its records, retried ones on their retry topic"),
            Duration::from_secs(30),
            || {
                !calls_for(handler, "ok").is_empty()
                    && calls_for(handler, "retry-1").iter().any(|c| c.attempt == 2)
            },
        )
        .await;
    }
    assert!(
        tokio::time::timeout(Duration::from_millis(200), app.failed())
            .await
            .is_err(),
        "the app runs on"
    );
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_id_kafka_would_refuse_fails_start_up_naming_it() {
    let s = Scenario::start().await;
    let builder = s
        .app_builder(&[("static_a", "static-a")], &[], &[])
        .instance_id("pod 1");
    let Err(error) = builder.start().await else {
        panic!("started with an instance id holding a space");
    };
    assert!(
        error
            .to_string()
            .starts_with("RETRY_INSTANCE_ID `pod 1`: ` ` is not allowed"),
        "{error}"
    );
}

/// A record near Kafka's default size limit (1,048,588 bytes a batch): above librdkafka's own
/// producer default (1,000,000), so the forward must not be refused by the client before the
/// broker and the destination's `max.message.bytes` have their say.
const NEAR_THE_LIMIT: usize = 1_020_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_near_the_size_limit_is_forwarded() {
    let s = Scenario::start().await;
    let topic = s.topic("large-record");
    s.kafka.create_topic(&topic, 1).await.unwrap();
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", s.kafka.bootstrap_servers())
        .set("message.max.bytes", "2000000")
        .create()
        .expect("producer");
    let value = vec![b'x'; NEAR_THE_LIMIT];
    producer
        .send(
            rdkafka::producer::BaseRecord::to(&topic)
                .key("large")
                .payload(&value),
        )
        .map_err(|(error, _)| error)
        .expect("queued");
    producer.flush(Duration::from_secs(10)).expect("delivered");
    let app = s.start_app(&[("large_record", "large-record")]).await;
    eventually("the large record retried", Duration::from_secs(20), || {
        calls_for("large_record", "large")
            .iter()
            .any(|c| c.attempt == 2)
    })
    .await;
    let forwarded = record_for(&s, "large-record-retry", "large", Duration::from_secs(10)).await;
    assert_eq!(forwarded.value.as_ref().map(Vec::len), Some(NEAR_THE_LIMIT));
    app.shutdown().await;
}
