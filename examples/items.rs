//! The items service: create-item and update-item handlers with non-blocking retries, running
//! until SIGINT or SIGTERM against the broker `KAFKA_BOOTSTRAP_SERVERS` names.
//!
//! ```text
//! KAFKA_BOOTSTRAP_SERVERS=localhost:9092 cargo run --example items
//! ```

// Linking the handlers registers them.
use examples as _;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    retry_runtime::run().await
}
