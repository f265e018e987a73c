//! The whole flow in well under a minute, with no broker to install: an embedded broker (or
//! `KAFKA_BOOTSTRAP_SERVERS`), the items handlers, and a scripted scenario.
//!
//! ```text
//! cargo run --example quickstart
//! ```
//!
//! Scenario on `update-item` (attempts 4, backoff 1s*2, retry only `NotFoundYet`):
//! * `pen`: created, then updated: handled at once.
//! * `lamp`: the update arrives 1.5 s before the create: fails twice, then succeeds on
//!   `update-item-retry-2000`.
//! * `ghost`: never created: walks `-retry-1000`, `-retry-2000`, `-retry-4000` into the DLT.
//! * `cup`: status `DELETED` is invalid, not retryable: straight to the DLT.
//! * `junk`: not JSON: straight to the DLT, the handler never sees it.

use std::time::Duration;

use examples::journal::{self, Entry, Outcome};
use examples::Store;
use retry_runtime::testing::TestKafka;
use retry_runtime::RetryApp;

/// Keys and the outcome the scenario ends with.
const EXPECTED: [(&str, &str); 5] = [
    ("pen", "handled"),
    ("lamp", "handled"),
    ("ghost", "dead letter"),
    ("cup", "dead letter"),
    ("junk", "dead letter"),
];

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
                "warn,examples=info,retry_runtime::provision=info,retry_runtime::process=info"
                    .into()
            }),
        )
        .with_target(false)
        .with_timer(tracing_subscriber::fmt::time::uptime())
        .init();

    let kafka = TestKafka::start().await?;
    let embedded = std::env::var("KAFKA_BOOTSTRAP_SERVERS").is_err();
    println!(
        "broker: {} ({})\n",
        kafka.bootstrap_servers(),
        if embedded {
            "embedded"
        } else {
            "KAFKA_BOOTSTRAP_SERVERS"
        }
    );

    if embedded {
        // The main topics belong to the services that write them, and exist before this one
        // starts (a missing main topic is created too, with a warning that its name may be a
        // typo); the app creates the retry topics and DLTs.
        for topic in ["create-item", "update-item"] {
            kafka.create_topic(topic, 1).await?;
        }
    }

    let store = Store::default();
    let app = RetryApp::builder()
        .state(store.clone())
        .bootstrap_servers(kafka.bootstrap_servers())
        .listeners(["create_item", "update_item"])
        .start()
        .await?;
    app.ready().await;
    println!(
        "\nconsuming {} topics; producing the scenario\n",
        app.topics().len()
    );
    journal::keep();

    let send = |topic: &'static str, key: &'static str, value: &'static str| {
        let kafka = &kafka;
        async move { kafka.produce(topic, Some(key), value.as_bytes()).await }
    };
    send(
        "create-item",
        "pen",
        r#"{"id":"pen","name":"Fountain pen"}"#,
    )
    .await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    send("update-item", "pen", r#"{"id":"pen","status":"ACTIVE"}"#).await?;
    send("update-item", "lamp", r#"{"id":"lamp","status":"ACTIVE"}"#).await?;
    send(
        "update-item",
        "ghost",
        r#"{"id":"ghost","status":"ACTIVE"}"#,
    )
    .await?;
    send("update-item", "cup", r#"{"id":"cup","status":"DELETED"}"#).await?;
    send("update-item", "junk", "this is not JSON").await?;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    send("create-item", "lamp", r#"{"id":"lamp","name":"Desk lamp"}"#).await?;

    let deadline = tokio::time::Instant::now() + Duration::from_secs(45);
    while !finished(&journal::entries()) {
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "the scenario did not finish within 45 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    app.shutdown().await;
    let entries = journal::entries();
    print_summary(&entries);
    println!("\nitems: {:?}", store.items());
    Ok(())
}

/// The final outcome of `key`, once it has one.
fn outcome(entries: &[Entry], key: &str) -> Option<&'static str> {
    entries
        .iter()
        .filter(|e| e.key == key && e.topic.starts_with("update-item"))
        .find_map(|e| match e.outcome {
            Outcome::Handled(_) => Some("handled"),
            Outcome::DeadLetter(_) => Some("dead letter"),
            Outcome::Failed(_) => None,
        })
}

fn finished(entries: &[Entry]) -> bool {
    EXPECTED
        .iter()
        .all(|(key, _)| outcome(entries, key).is_some())
}

fn print_summary(entries: &[Entry]) {
    println!(
        "\n{:<6} {:<12} {:>7}  path (topic#attempt @ seconds since start)",
        "key", "outcome", "as plan"
    );
    println!("{}", "-".repeat(100));
    for (key, expected) in EXPECTED {
        let got = outcome(entries, key).unwrap_or("unfinished");
        let path: Vec<String> = entries
            .iter()
            .filter(|e| e.key == key && e.topic.starts_with("update-item"))
            .map(|e| format!("{}#{} @{:.1}", e.topic, e.attempt, e.at.as_secs_f64()))
            .collect();
        let path = if path.is_empty() {
            "(never reached a handler)".to_owned()
        } else {
            path.join(" -> ")
        };
        println!(
            "{key:<6} {got:<12} {:>7}  {path}",
            if got == expected { "yes" } else { "NO" }
        );
    }
}
