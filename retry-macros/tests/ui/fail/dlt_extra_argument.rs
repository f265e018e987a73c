use retry_core::{DeadLetter, State};
use retry_macros::dlt_handler;

#[derive(Clone)]
struct Db;

#[dlt_handler(topic = "orders")]
async fn orders_dlt(_rec: DeadLetter<String>, State(_db): State<Db>, _retries: u32) -> anyhow::Result<()> {
    Ok(())
}

fn main() {}
