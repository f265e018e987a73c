use retry_core::Record;
use retry_macros::retryable_topic;

#[retryable_topic(topic = "orders")]
async fn handle(_rec: Record<String>, _extra: u32) -> anyhow::Result<()> {
    Ok(())
}

fn main() {}
