use retry_core::Record;
use retry_macros::retryable_topic;

#[retryable_topic(topic = "orders")]
async fn handle<T>(_rec: Record<T>) -> anyhow::Result<()> {
    Ok(())
}

fn main() {}
