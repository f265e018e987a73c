//! A replica of the app: a child process of the check's own executable.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tokio::process::{Child, Command};

use crate::orders;

/// How long a replica may take to handle its first order.
const FIRST_ORDER: Duration = Duration::from_secs(30);

/// A replica of the app: a child process of this executable that records what it handled in
/// `handled` and writes its output to `log`.
pub struct Replica {
    name: String,
    bootstrap: String,
    /// Where the replica appends the key of each order it handled.
    pub handled: PathBuf,
    /// The replica's output, across its restarts.
    pub log: PathBuf,
}

impl Replica {
    /// Replica `index`, its files in `dir`.
    pub fn new(dir: &Path, bootstrap: &str, index: usize) -> Self {
        Self {
            name: format!("replica {index}"),
            bootstrap: bootstrap.to_owned(),
            handled: dir.join(format!("handled-{index}")),
            log: dir.join(format!("replica-{index}.log")),
        }
    }

    /// Starts the replica's process, killed if the returned handle is dropped.
    pub fn spawn(&self) -> anyhow::Result<Child> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)?;
        // A killed member's partitions wait for the broker to expire its session: 6 s here
        // (the runtime's KAFKA_* settings).
        Ok(Command::new(std::env::current_exe()?)
            .arg("app")
            .arg(&self.bootstrap)
            .arg(&self.handled)
            .env("KAFKA_SESSION_TIMEOUT_MS", "6000")
            .env("KAFKA_HEARTBEAT_INTERVAL_MS", "1000")
            .env("NO_COLOR", "1")
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true)
            .spawn()?)
    }

    /// Fails if `child` exited by itself: only kill -9 may stop a replica.
    pub fn ensure_running(&self, child: &mut Child) -> anyhow::Result<()> {
        if let Some(status) = child.try_wait()? {
            anyhow::bail!(
                "{} exited by itself ({status}); its log: {}",
                self.name,
                self.log.display()
            );
        }
        Ok(())
    }

    /// Waits until this replica has handled an order: it holds partitions.
    pub async fn wait_for_first_order(&self, child: &mut Child) -> anyhow::Result<()> {
        let started = Instant::now();
        while orders::handled_keys(&self.handled)?.is_empty() {
            self.ensure_running(child)?;
            anyhow::ensure!(
                started.elapsed() < FIRST_ORDER,
                "{} handled no order in {FIRST_ORDER:?}; its log: {}",
                self.name,
                self.log.display()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(())
    }
}
