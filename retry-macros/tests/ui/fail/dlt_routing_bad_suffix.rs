use retry_core::Record;
use retry_macros::retryable_topic;

#[derive(Debug, thiserror::Error)]
#[error("invalid")]
struct Invalid;

#[retryable_topic(topic = "orders", dlt_routing("-not valid" = [Invalid]))]
async fn handle(_rec: Record<String>) -> anyhow::Result<()> {
    Ok(())
}

fn main() {}
