use retry_macros::retryable_topic;

#[retryable_topic(topic = "orders")]
async fn handle(_rec: String) -> anyhow::Result<()> {
    Ok(())
}

fn main() {}
