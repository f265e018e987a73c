use retry_core::{Record, State};
use retry_macros::retryable_topic;

#[derive(Clone)]
struct Db;

#[retryable_topic(topic = "orders")]
async fn handle(State(_db): State<Db>, _rec: Record<String>) -> anyhow::Result<()> {
    Ok(())
}

fn main() {}
