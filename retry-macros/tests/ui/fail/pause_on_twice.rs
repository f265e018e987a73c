use retry_core::Record;
use retry_macros::retryable_topic;

#[derive(Debug, thiserror::Error)]
#[error("database unavailable")]
struct DbUnavailable;

#[retryable_topic(topic = "orders", pause_on = [DbUnavailable], pause_on = [std::io::Error])]
async fn handle(_rec: Record<String>) -> anyhow::Result<()> {
    Ok(())
}

fn main() {}
