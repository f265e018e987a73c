use retry_core::DeadLetter;
use retry_macros::dlt_handler;

#[dlt_handler(topic = "orders", attempts = 3)]
async fn orders_dlt(_rec: DeadLetter<String>) -> anyhow::Result<()> {
    Ok(())
}

fn main() {}
