//! How soon records flow again after a kill -9 with the app's default settings.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use retry_runtime::testing::ReadRecord;

use crate::accounting::{settle, Accounting};
use crate::app::app_command;
use crate::broker::{create_topics, fresh_broker, Fresh};
use crate::listener::HANDLED;
use crate::orders::{keys, produce_order_range};

/// Fast recovery with the app's defaults (no session timeout override): the app handles a
/// first batch, is killed with SIGKILL and restarted at once, and a second batch produced
/// then must start flowing within 15 s of the restart (the time until every record is done,
/// retries and dead letters included, is printed too). Dynamic members wait for the broker to
/// expire the killed member's session (10 s by default); a static member takes its
/// partitions back on rejoining.
pub async fn run(
    broker: &str,
    records: u64,
    static_membership: bool,
) -> anyhow::Result<Accounting> {
    const BAR: Duration = Duration::from_secs(15);
    let Fresh { kafka, _harness } = fresh_broker(broker).await?;
    create_topics(&kafka, 3).await?;
    let bootstrap = kafka.bootstrap_servers().to_owned();
    let exe = std::env::current_exe()?;
    let logs = std::env::temp_dir();
    let spawn = || {
        let mut command = app_command(&exe, &bootstrap, &logs, 0)?;
        if static_membership {
            command.env("RETRY_INSTANCE_ID", "fault-app-0");
        }
        command.spawn()
    };
    let mut app = spawn()?;
    let first: BTreeSet<String> = (1..=records).map(|k| k.to_string()).collect();
    produce_order_range(&bootstrap, 1..=records, Duration::ZERO).await?;
    anyhow::ensure!(
        settle(&kafka, &first, Duration::from_secs(60))
            .await?
            .complete(),
        "the first batch was not handled"
    );
    app.start_kill()?;
    app.wait().await?;
    let mut app = spawn()?;
    let restarted = Instant::now();
    produce_order_range(&bootstrap, records + 1..=2 * records, Duration::ZERO).await?;
    let second: BTreeSet<String> = (records + 1..=2 * records).map(|k| k.to_string()).collect();
    let flowing = loop {
        let handled = kafka.read_all(HANDLED).await?;
        let key = |r: &ReadRecord| {
            String::from_utf8_lossy(r.key.as_deref().unwrap_or_default()).into_owned()
        };
        if handled.iter().any(|r| second.contains(&key(r))) {
            break restarted.elapsed();
        }
        anyhow::ensure!(
            restarted.elapsed() < Duration::from_secs(60),
            "nothing flowed for 60 s after the restart"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let accounting = settle(&kafka, &keys(2 * records), Duration::from_secs(60)).await?;
    let all = restarted.elapsed();
    eprintln!(
        "  records flowing {flowing:.1?} after the restart (bar {BAR:?}); every record, retries and dead letters included, after {all:.1?}"
    );
    app.start_kill()?;
    app.wait().await?;
    anyhow::ensure!(
        flowing <= BAR,
        "records flowed again only {flowing:.1?} after the restart"
    );
    // Records handled since the last commit before the kill are handled again.
    Ok(accounting.bounded(records as usize))
}
