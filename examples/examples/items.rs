//! The items service: create-item and update-item handlers with non-blocking retries, running
//! until SIGINT or SIGTERM against the broker `KAFKA_BOOTSTRAP_SERVERS` names.
//!
//! ```text
//! KAFKA_BOOTSTRAP_SERVERS=localhost:9092 cargo run --example items
//! RETRY_METRICS_ADDR=127.0.0.1:9464 KAFKA_BOOTSTRAP_SERVERS=localhost:9092 cargo run --example items  # with /metrics
//! ```

// Linking the handlers registers them.
use examples::Store;
use retry_runtime::RetryApp;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // The handlers' `State<Store>`; a service would open its database pool here.
    let store = Store::default();
    retry_runtime::run_with(RetryApp::builder().state(store)).await
}
