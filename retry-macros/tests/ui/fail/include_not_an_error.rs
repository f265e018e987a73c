use retry_core::Record;
use retry_macros::retryable_topic;

struct NotAnError;

#[retryable_topic(topic = "orders", include = [NotAnError])]
async fn handle(_rec: Record<String>) -> anyhow::Result<()> {
    Ok(())
}

fn main() {}
