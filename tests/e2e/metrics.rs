//! The Prometheus endpoint (feature `prometheus`): scraped as Prometheus would.

use std::time::{Duration, Instant};

use retry_runtime::prelude::*;
use retry_runtime::RetryApp;

use crate::support::*;

#[derive(Debug, thiserror::Error)]
#[error("not yet")]
struct NotYet;

/// Fails every first delivery; the retry waits 5 s in `metrics-orders-retry`.
#[retryable_topic(topic = "metrics-orders", attempts = 2, backoff = "5s")]
async fn metrics_orders(rec: Record<Bytes>) -> anyhow::Result<()> {
    record_call("metrics_orders", &rec);
    match rec.attempt {
        1 => Err(NotYet.into()),
        _ => Ok(()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_metrics_health_and_readiness() {
    let s = Scenario::start().await;
    let (main, retry) = (s.topic("metrics-orders"), s.topic("metrics-orders-retry"));
    let env = (main.clone(), format!("{}metrics_orders", s.prefix()));
    let app = RetryApp::builder()
        .bootstrap_servers(s.kafka.bootstrap_servers())
        .listeners(["metrics_orders"])
        .settings_env(move |var| match var {
            "RETRY_METRICS_ORDERS_TOPIC" => Some(env.0.clone()),
            "RETRY_METRICS_ORDERS_GROUP" => Some(env.1.clone()),
            _ => None,
        })
        .metrics_address("127.0.0.1:0".parse().unwrap())
        .start()
        .await
        .expect("app starts");
    let address = app.metrics_address().expect("endpoint bound");
    assert_eq!(get(address, "/health").await, (200, "ok\n".into()));
    tokio::time::timeout(Duration::from_secs(30), app.ready())
        .await
        .expect("consumers join");
    assert_eq!(get(address, "/ready").await, (200, "ready\n".into()));

    s.produce("metrics-orders", "late", "{}").await;
    let retry_labels = format!("{{topic=\"{retry}\"}}");
    let start = Instant::now();
    let scrape = loop {
        let (status, scrape) = get(address, "/metrics").await;
        assert_eq!(status, 200);
        let waiting = sample(
            &scrape,
            &format!("kafka_retry_records_waiting{retry_labels}"),
        );
        if waiting == Some(1.0) {
            break scrape;
        }
        assert!(
            start.elapsed() < Duration::from_secs(4),
            "the retry record is not shown waiting:\n{scrape}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // Waiting for its backoff as planned: no due lag, however long it waits.
    assert_eq!(
        sample(
            &scrape,
            &format!("kafka_retry_due_lag_seconds{retry_labels}")
        ),
        Some(0.0),
        "{scrape}"
    );
    assert_eq!(
        sample(
            &scrape,
            &format!("kafka_retry_forwards_in_flight{retry_labels}")
        ),
        Some(0.0),
        "the forward was acknowledged:\n{scrape}"
    );
    assert_eq!(
        sample(
            &scrape,
            &format!("kafka_retry_forwards_failing{retry_labels}")
        ),
        Some(0.0),
        "{scrape}"
    );
    // The listener label is the handler's name, whatever its group.
    assert_eq!(
        sample(
            &scrape,
            &format!("kafka_retry_retried_total{{listener=\"metrics_orders\",topic=\"{main}\"}}")
        ),
        Some(1.0),
        "{scrape}"
    );
    eventually("the retry is handled", Duration::from_secs(10), || {
        calls_for("metrics_orders", "late").len() == 2
    })
    .await;
    let (_, scrape) = get(address, "/metrics").await;
    assert_eq!(
        sample(
            &scrape,
            &format!("kafka_retry_records_waiting{retry_labels}")
        ),
        Some(0.0),
        "{scrape}"
    );
    assert_eq!(get(address, "/nothing").await.0, 404);
    app.shutdown().await;
}
