use retry_core::{Record, State};
use retry_macros::retryable_topic;

struct Db;

#[retryable_topic(topic = "orders")]
async fn handle(_rec: Record<String>, State(_db): State<Db>) -> anyhow::Result<()> {
    Ok(())
}

fn main() {}
