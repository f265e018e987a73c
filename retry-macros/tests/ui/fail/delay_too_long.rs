use retry_core::Record;
use retry_macros::retryable_topic;

#[retryable_topic(topic = "orders", max_delay = "2d")]
async fn handle(_rec: Record<String>) -> anyhow::Result<()> {
    Ok(())
}

fn main() {}
