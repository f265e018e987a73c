use retry_core::Record;
use retry_macros::retryable_topic;

#[retryable_topic(topic = "orders", ordering = "random")]
async fn handle(_rec: Record<String>) -> anyhow::Result<()> {
    Ok(())
}

fn main() {}
