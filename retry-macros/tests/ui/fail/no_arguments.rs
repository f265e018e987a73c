use retry_macros::retryable_topic;

#[retryable_topic(topic = "orders")]
async fn handle() -> anyhow::Result<()> {
    Ok(())
}

fn main() {}
