//! Failures that are not worth retrying, bad input, panics, and the DLT handler.

use std::time::Duration;

use retry_runtime::core::headers::*;
use retry_runtime::prelude::*;

use crate::support::*;

#[derive(Debug, serde::Deserialize)]
struct Payment {
    amount: i64,
}

#[derive(Debug, thiserror::Error)]
#[error("gateway timed out")]
struct GatewayTimeout;

#[derive(Debug, thiserror::Error)]
#[error("amount {0} is negative")]
struct NegativeAmount(i64);

/// Negative amounts fail with a non-retryable error; amount 0 panics; others time out
/// (retryable).
#[retryable_topic(topic = "err-payments", attempts = 3, backoff = "100ms", include = [GatewayTimeout])]
async fn err_payments(rec: Record<Payment>) -> anyhow::Result<()> {
    record_call("err_payments", &rec);
    match rec.value().amount {
        a if a < 0 => Err(NegativeAmount(a).into()),
        0 => panic!("amount zero is a bug"),
        _ => Err(anyhow::Error::new(GatewayTimeout).context("charging card")),
    }
}

#[dlt_handler(topic = "err-payments")]
async fn err_payments_dlt(rec: DeadLetter<Payment>) -> anyhow::Result<()> {
    record_call("err_payments_dlt", &rec);
    Ok(())
}

fn by_key<'a>(
    records: &'a [retry_runtime::testing::ReadRecord],
    key: &str,
) -> &'a retry_runtime::testing::ReadRecord {
    records
        .iter()
        .find(|r| r.key.as_deref() == Some(key.as_bytes()))
        .unwrap_or_else(|| panic!("{key} is in the DLT"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unretryable_errors_bad_json_and_panics_go_to_the_dlt_with_the_reason() {
    let s = Scenario::start().await;
    let app = s.start_app(&[("err_payments", "err-payments")]).await;
    s.produce("err-payments", "negative", r#"{"amount":-5}"#)
        .await;
    s.produce("err-payments", "garbage", "{not json").await;
    s.produce("err-payments", "panics", r#"{"amount":0}"#).await;
    s.produce("err-payments", "timeout", r#"{"amount":7}"#)
        .await;
    let dlt = s.read_n("err-payments-dlt", 4).await;
    eventually(
        "the DLT handler saw all four",
        Duration::from_secs(20),
        || calls("err_payments_dlt").len() >= 4,
    )
    .await;
    app.shutdown().await;
    assert_eq!(dlt.len(), 4);

    let negative = by_key(&dlt, "negative");
    assert_eq!(
        header_i32(negative, ATTEMPTS),
        2,
        "not retried: one delivery, written as Spring does (failed delivery + 1)"
    );
    assert!(
        header_str(negative, EXCEPTION_FQCN).ends_with("anyhow::Error")
            || header_str(negative, EXCEPTION_FQCN).ends_with("NegativeAmount")
    );
    assert_eq!(
        header_str(negative, EXCEPTION_MESSAGE),
        "amount -5 is negative"
    );
    assert_eq!(calls_for("err_payments", "negative").len(), 1);

    let garbage = by_key(&dlt, "garbage");
    assert_eq!(
        header_i32(garbage, ATTEMPTS),
        2,
        "bad JSON is never retried"
    );
    assert!(
        header_str(garbage, EXCEPTION_MESSAGE).contains("not valid JSON"),
        "{}",
        header_str(garbage, EXCEPTION_MESSAGE)
    );
    assert!(header_str(garbage, EXCEPTION_FQCN).ends_with("DecodeError"));
    assert_eq!(
        garbage.value.as_deref(),
        Some(&b"{not json"[..]),
        "the bad bytes are kept for inspection"
    );
    assert!(
        calls_for("err_payments", "garbage").is_empty(),
        "the handler never sees undecodable records"
    );

    let panics = by_key(&dlt, "panics");
    assert_eq!(header_str(panics, EXCEPTION_FQCN), "panic");
    assert!(header_str(panics, EXCEPTION_MESSAGE).contains("amount zero is a bug"));
    assert_eq!(
        header_i32(panics, ATTEMPTS),
        2,
        "a panic is an error outside `include`"
    );

    let timeout = by_key(&dlt, "timeout");
    assert_eq!(
        header_i32(timeout, ATTEMPTS),
        4,
        "retryable: all three deliveries made, written as Spring does (+ 1)"
    );
    assert!(
        header_str(timeout, EXCEPTION_FQCN).ends_with("GatewayTimeout"),
        "the listed type found in the cause chain"
    );
    assert_eq!(
        header_str(timeout, EXCEPTION_MESSAGE),
        "charging card: gateway timed out"
    );

    let dlt_calls = calls_for("err_payments_dlt", "timeout");
    assert_eq!(dlt_calls.len(), 1);
    let p = &dlt_calls[0].provenance;
    assert_eq!(
        p.original_topic.as_deref(),
        Some(s.topic("err-payments").as_str())
    );
    assert_eq!((p.original_partition, p.attempts), (Some(0), Some(3)));
    assert_eq!(p.exception.message, "charging card: gateway timed out");
}

/// A DLT handler that fails the first time it sees each record.
#[retryable_topic(topic = "err-dlt-retry", attempts = 1, backoff = "200ms")]
async fn err_dlt_retry(rec: Record<Bytes>) -> anyhow::Result<()> {
    record_call("err_dlt_retry", &rec);
    anyhow::bail!("always")
}

#[dlt_handler(topic = "err-dlt-retry")]
async fn err_dlt_retry_dlt(rec: DeadLetter<Bytes>) -> anyhow::Result<()> {
    record_call("err_dlt_retry_dlt", &rec);
    anyhow::ensure!(
        calls_for("err_dlt_retry_dlt", rec.key_str().unwrap_or_default()).len() > 1,
        "DLT store down"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_dlt_handler_gets_the_record_again_after_a_delay() {
    let s = Scenario::start().await;
    let app = s.start_app(&[("err_dlt_retry", "err-dlt-retry")]).await;
    s.produce("err-dlt-retry", "dl", "x").await;
    eventually(
        "the DLT handler's second call",
        Duration::from_secs(20),
        || calls_for("err_dlt_retry_dlt", "dl").len() >= 2,
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    app.shutdown().await;
    let dlt_calls = calls_for("err_dlt_retry_dlt", "dl");
    assert_eq!(dlt_calls.len(), 2, "re-published once, then handled");
    let due = dlt_calls[1].due_ms.expect("the re-published record waits");
    assert!(
        due >= dlt_calls[0].at_ms + 200 && dlt_calls[1].at_ms >= due,
        "waited one backoff delay"
    );
    assert_eq!(s.read_all("err-dlt-retry-dlt").await.len(), 2);
}
