use retry_core::Record;
use retry_macros::retryable_topic;

#[retryable_topic(attempts = 3)]
async fn handle(_rec: Record<String>) -> anyhow::Result<()> {
    Ok(())
}

fn main() {}
