use retry_core::DeadLetter;
use retry_macros::dlt_handler;

#[dlt_handler]
async fn orders_dlt(_rec: DeadLetter<String>) -> anyhow::Result<()> {
    Ok(())
}

fn main() {}
