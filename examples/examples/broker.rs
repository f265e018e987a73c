//! The embedded Kafka-compatible broker as a process of its own, for trying the items service
//! (or any client) without installing Kafka. Listens on `127.0.0.1:9092` (or `$PORT`) until
//! Ctrl-C; storage is in memory.
//!
//! ```text
//! cargo run --example broker &
//! cargo run --example items
//! ```

use retry_runtime::embedded::EmbeddedKafka;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let port = match std::env::var("PORT") {
        Ok(port) => port.parse()?,
        Err(_) => 9092,
    };
    let kafka = EmbeddedKafka::start_on(port).await?;
    println!(
        "embedded broker listening on {}; Ctrl-C stops it",
        kafka.bootstrap_servers()
    );
    tokio::signal::ctrl_c().await?;
    Ok(())
}
