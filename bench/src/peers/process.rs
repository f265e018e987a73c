//! A peer's process: started with its stdout (its log) in a file and its stderr read for the
//! lines it says to the benchmark, measured from `/proc` while it runs, stopped with SIGTERM.

use std::path::Path;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStderr, Command};

use crate::handlers::now_ms;

/// What every line of the protocol starts with.
const PROTOCOL: &str = "PEER-";
/// The line a peer says once every consumer has its partitions.
pub const READY: &str = "PEER-READY";
/// The start of the line a peer says once its workload is done, followed by its JSON report.
pub const DONE: &str = "PEER-DONE ";

/// Says `line` to the benchmark, on stderr (stdout is the peer's log).
pub fn say(line: &str) {
    eprintln!("{line}");
}

/// A running peer, killed when dropped.
pub struct PeerProcess {
    child: Child,
    lines: Lines<BufReader<ChildStderr>>,
    /// Lines of the protocol read before they were waited for.
    said: Vec<String>,
    log: std::fs::File,
    /// When it was started, epoch ms.
    pub spawned_ms: i64,
}

impl PeerProcess {
    /// Starts `command`, its stdout and whatever else it writes to stderr appended to `log`.
    pub fn spawn(mut command: Command, log: &Path) -> anyhow::Result<Self> {
        let file = std::fs::File::create(log)?;
        let spawned_ms = now_ms();
        let mut child = command
            .stdin(std::process::Stdio::null())
            .stdout(file.try_clone()?)
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()?;
        let stderr = child.stderr.take().expect("piped");
        Ok(Self {
            child,
            lines: BufReader::new(stderr).lines(),
            said: Vec::new(),
            log: file,
            spawned_ms,
        })
    }

    /// Reads the peer's stderr until a line starting with `prefix`, and returns the rest of
    /// it; the peer's other lines of the protocol are kept for later calls (a peer may be
    /// done before all its consumers are assigned), anything else goes to the log. Fails if the
    /// peer exits or `limit` passes first.
    pub async fn wait_for(&mut self, prefix: &str, limit: Duration) -> anyhow::Result<String> {
        use std::io::Write;
        if let Some(at) = self.said.iter().position(|l| l.starts_with(prefix)) {
            return Ok(self.said.remove(at)[prefix.len()..].to_owned());
        }
        let read = async {
            while let Some(line) = self.lines.next_line().await? {
                if let Some(rest) = line.strip_prefix(prefix) {
                    return Ok(rest.to_owned());
                }
                if line.starts_with(PROTOCOL) {
                    self.said.push(line);
                } else {
                    writeln!(self.log, "{line}")?;
                }
            }
            anyhow::bail!("the peer exited before saying {prefix:?}")
        };
        tokio::time::timeout(limit, read)
            .await
            .map_err(|_| anyhow::anyhow!("no {prefix:?} from the peer within {limit:?}"))?
    }

    /// A field of the peer's `/proc/<pid>/status`, as a number (`VmHWM` in KiB, `Threads`).
    pub fn status(&self, field: &str) -> anyhow::Result<u64> {
        let pid = self
            .child
            .id()
            .ok_or_else(|| anyhow::anyhow!("the peer exited"))?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
        status
            .lines()
            .find_map(|l| {
                let value = l.strip_prefix(field)?.strip_prefix(':')?;
                value.trim().trim_end_matches("kB").trim().parse().ok()
            })
            .ok_or_else(|| anyhow::anyhow!("no {field} in /proc/{pid}/status"))
    }

    /// Sends SIGTERM and waits for the peer to exit, killing it after 30 s.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(pid) = self.child.id() {
            // SAFETY: kill only sends a signal to the child this process started.
            unsafe { libc::kill(pid as libc::pid_t, libc::SIGTERM) };
        }
        let drain = async {
            use std::io::Write;
            while let Ok(Some(line)) = self.lines.next_line().await {
                let _ = writeln!(self.log, "{line}");
            }
        };
        let exited = tokio::time::timeout(Duration::from_secs(30), async {
            drain.await;
            self.child.wait().await
        })
        .await;
        if exited.is_err() {
            self.child.kill().await?;
        }
        Ok(())
    }
}
