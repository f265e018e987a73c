//! The app under test: started in process, or as a child process the scenarios can kill.

use std::time::Duration;

use retry_runtime::{RetryApp, RunningApp};

/// Starts the app with the `fault_orders` listener.
pub async fn start_app(bootstrap: &str) -> anyhow::Result<RunningApp> {
    start_app_with(bootstrap, &["fault_orders"], &[]).await
}

/// Starts the app with `listeners` and Kafka client `properties`.
pub async fn start_app_with(
    bootstrap: &str,
    listeners: &[&str],
    properties: &[(&str, &str)],
) -> anyhow::Result<RunningApp> {
    let builder = properties
        .iter()
        .fold(RetryApp::builder(), |b, (property, value)| {
            b.client_property(*property, *value)
        });
    Ok(builder
        .bootstrap_servers(bootstrap)
        .listeners(listeners.iter().copied())
        .startup_timeout(Duration::from_secs(30))
        .start()
        .await?)
}

/// Where app instance `instance` writes its output (its log lines and errors).
pub fn app_log(dir: &std::path::Path, instance: usize) -> std::path::PathBuf {
    dir.join(format!("retry-faults-app-{instance}.log"))
}

/// The command that runs app instance `instance` against `bootstrap` (killed when dropped).
/// Its output is appended to [`app_log`], so an instance that dies by itself says why.
pub fn app_command(
    exe: &std::path::Path,
    bootstrap: &str,
    logs: &std::path::Path,
    instance: usize,
) -> std::io::Result<tokio::process::Command> {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(app_log(logs, instance))?;
    let mut command = tokio::process::Command::new(exe);
    command
        .args(["app", "--bootstrap", bootstrap])
        .stdout(log.try_clone()?)
        .stderr(log)
        .kill_on_drop(true);
    Ok(command)
}

/// Cooperative rebalancing, as many production consumers configure it.
pub const COOPERATIVE: (&str, &str) = ("partition.assignment.strategy", "cooperative-sticky");
