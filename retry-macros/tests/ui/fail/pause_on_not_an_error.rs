use retry_core::Record;
use retry_macros::retryable_topic;

struct NotAnError;

#[retryable_topic(topic = "orders", pause_on = [NotAnError])]
async fn handle(_rec: Record<String>) -> anyhow::Result<()> {
    Ok(())
}

fn main() {}
