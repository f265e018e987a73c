use retry_core::Record;
use retry_macros::retryable_topic;

#[derive(Debug, thiserror::Error)]
#[error("database unavailable")]
struct DbUnavailable;

#[retryable_topic(topic = "orders", probe = "10s*2", max_probe_delay = "5s")]
async fn handle(_rec: Record<String>) -> anyhow::Result<()> {
    Ok(())
}

fn main() {}
