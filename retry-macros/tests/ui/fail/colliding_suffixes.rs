use retry_core::Record;
use retry_macros::retryable_topic;

// One retry topic is named with the bare retry suffix: here the DLT's name.
#[retryable_topic(topic = "orders", attempts = 2, retry_topic_suffix = "-dlt")]
async fn handle(_rec: Record<String>) -> anyhow::Result<()> {
    Ok(())
}

fn main() {}
