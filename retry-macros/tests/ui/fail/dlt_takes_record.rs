use retry_macros::dlt_handler;
use retry_core::Record;

#[dlt_handler(topic = "orders")]
async fn orders_dlt(_rec: Record<String>) -> anyhow::Result<()> {
    Ok(())
}

fn main() {}
