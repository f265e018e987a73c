use retry_core::Record;
use retry_macros::retryable_topic;

struct Order {
    id: u32,
}

#[retryable_topic(topic = "orders")]
async fn handle(rec: Record<Order>) -> anyhow::Result<()> {
    let _ = rec.value().id;
    Ok(())
}

fn main() {}
