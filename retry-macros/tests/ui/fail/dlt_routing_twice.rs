use retry_core::Record;
use retry_macros::retryable_topic;

#[derive(Debug, thiserror::Error)]
#[error("invalid")]
struct Invalid;

#[derive(Debug, thiserror::Error)]
#[error("rejected")]
struct Rejected;

#[retryable_topic(topic = "orders", dlt_routing("-bad" = [Invalid], "-bad" = [Rejected]))]
async fn handle(_rec: Record<String>) -> anyhow::Result<()> {
    Ok(())
}

fn main() {}
