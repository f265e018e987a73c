//! The service: one listener on `orders` that appends the key of every record it handled to
//! a file. Orders whose key is a multiple of 5 fail their first delivery, so they are handled
//! from the retry topic.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use retry_runtime::prelude::*;

/// The main topic.
pub const TOPIC: &str = "orders";

/// The file each handled key is appended to, one a line.
#[derive(Clone)]
struct HandledLog(Arc<PathBuf>);

impl HandledLog {
    /// Appends `key` with one write, before the handler returns (so before its offset can be
    /// committed): a kill -9 never loses a line.
    fn append(&self, key: &str) -> anyhow::Result<()> {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.0.as_path())?;
        file.write_all(format!("{key}\n").as_bytes())?;
        Ok(())
    }
}

#[retryable_topic(topic = "orders", attempts = 3, backoff = "200ms")]
async fn orders(rec: Record<Bytes>, State(log): State<HandledLog>) -> anyhow::Result<()> {
    let key = rec.key_str().context("an order without a key")?;
    let k: u64 = key.parse().context("an order key that is not a number")?;
    anyhow::ensure!(
        !(k.is_multiple_of(5) && rec.attempt == 1),
        "order {k}: the first delivery fails"
    );
    log.append(key)
}

/// Runs the service against `bootstrap` until it is killed, recording to `handled`.
pub async fn run(bootstrap: &str, handled: &Path) -> anyhow::Result<()> {
    retry_runtime::run_with(
        RetryApp::builder()
            .bootstrap_servers(bootstrap)
            .state(HandledLog(Arc::new(handled.to_owned())))
            .listeners(["orders"]),
    )
    .await
}

/// The distinct keys `handled` holds (none before the first is handled).
pub fn handled_keys(handled: &Path) -> anyhow::Result<std::collections::BTreeSet<u64>> {
    let text = match std::fs::read_to_string(handled) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(error) => return Err(error.into()),
    };
    text.lines()
        .map(|line| {
            line.parse()
                .with_context(|| format!("a line of {}", handled.display()))
        })
        .collect()
}
