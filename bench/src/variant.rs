//! The throughput runs, each in a child process started with the environment of one variant:
//! a process has one global `tracing` subscriber, and `RUST_BACKTRACE` is read once.

use serde::{Deserialize, Serialize};

use crate::scenarios;
use crate::throughput::Throughput;

/// How the app runs.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    /// `RUST_LOG=off`, `RUST_BACKTRACE` unset.
    LoggingOff,
    /// As users run it: the subscriber `run()` installs, at INFO (`RUST_LOG=info`), writing
    /// to stdout, and `RUST_BACKTRACE=1`.
    AsUsersRunIt,
}

impl Variant {
    fn name(self) -> &'static str {
        match self {
            Self::LoggingOff => "off",
            Self::AsUsersRunIt => "as-run",
        }
    }

    fn environment(self, command: &mut tokio::process::Command) {
        match self {
            Self::LoggingOff => command.env("RUST_LOG", "off").env_remove("RUST_BACKTRACE"),
            Self::AsUsersRunIt => command.env("RUST_LOG", "info").env("RUST_BACKTRACE", "1"),
        };
    }
}

/// One loop of the dequeue-only happy runs (`--profile-loop`), run without the other:
/// a profile of the run is then that loop's alone.
#[derive(Clone, Copy, PartialEq, Eq, Debug, clap::ValueEnum)]
pub enum Loop {
    /// The raw rdkafka loop.
    Raw,
    /// The framework's listener.
    Framework,
}

impl Loop {
    fn name(self) -> &'static str {
        match self {
            Self::Raw => "raw",
            Self::Framework => "framework",
        }
    }
}

/// What a child measured.
#[derive(Serialize, Deserialize, Default)]
pub struct Figures {
    pub raw: Throughput,
    pub framework: Throughput,
    pub mix: Throughput,
    /// A raw producer sending records with a first retry's headers.
    pub forward: Throughput,
    pub sustained_raw: Throughput,
    pub sustained_framework: Throughput,
    pub sustained_mix: Throughput,
    /// The raw loop that forwards what the mixed handler fails: the ceiling of `sustained_mix`.
    pub sustained_raw_mix: Throughput,
}

/// Topics the children read, filled by the parent beforehand.
pub const HAPPY: &str = "bench-happy";
pub const MIX: &str = "bench-mix";
/// Written by the raw producer of the forward floor.
pub const FORWARD: &str = "bench-forward";
pub const SUSTAINED: &str = "bench-sustained";
pub const SUSTAINED_MIX: &str = "bench-sustained-mix";

/// The line a child prints its figures on (its stdout also carries the app's log).
const RESULT: &str = "BENCH-RESULT ";

/// Runs the throughput measurements in a child with `variant`'s environment: `records` on
/// the happy and mixed topics, and `sustained` records (0: none) on the sustained ones; with
/// `only`, that loop's dequeue-only happy runs alone.
pub async fn measure(
    variant: Variant,
    bootstrap: &str,
    records: usize,
    sustained: usize,
    only: Option<Loop>,
) -> anyhow::Result<Figures> {
    let mut command = tokio::process::Command::new(std::env::current_exe()?);
    command.args([
        "throughput-child",
        "--bootstrap",
        bootstrap,
        "--records",
        &records.to_string(),
        "--sustained",
        &sustained.to_string(),
        "--tag",
        variant.name(),
    ]);
    if let Some(only) = only {
        command.args(["--profile-loop", only.name()]);
    }
    variant.environment(&mut command);
    let output = command
        .stderr(std::process::Stdio::inherit())
        .output()
        .await?;
    anyhow::ensure!(
        output.status.success(),
        "throughput child ({}) failed",
        variant.name()
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix(RESULT))
        .ok_or_else(|| anyhow::anyhow!("throughput child printed no result"))?;
    Ok(serde_json::from_str(line)?)
}

/// The child: installs the subscriber as `retry_runtime::run()` does, measures, prints.
pub async fn child(
    bootstrap: &str,
    records: usize,
    sustained: usize,
    tag: &str,
    only: Option<Loop>,
) -> anyhow::Result<()> {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .try_init();
    let mut figures = Figures::default();
    (figures.raw, figures.framework) =
        scenarios::happy(bootstrap, HAPPY, records, 3, tag, only).await?;
    if only.is_some() {
        println!("{RESULT}{}", serde_json::to_string(&figures)?);
        return Ok(());
    }
    figures.mix = scenarios::failure_mix(bootstrap, MIX, records, tag).await?;
    figures.forward = crate::baseline::produce(bootstrap, FORWARD, records / 2).await?;
    if sustained > 0 {
        (figures.sustained_raw, figures.sustained_framework) =
            scenarios::happy(bootstrap, SUSTAINED, sustained, 1, tag, None).await?;
        let group = format!("raw-{tag}-{SUSTAINED_MIX}");
        figures.sustained_raw_mix = crate::baseline::consume_forwarding(
            bootstrap,
            SUSTAINED_MIX,
            &group,
            sustained,
            FORWARD,
        )
        .await?;
        figures.sustained_mix =
            scenarios::failure_mix(bootstrap, SUSTAINED_MIX, sustained, tag).await?;
    }
    println!("{RESULT}{}", serde_json::to_string(&figures)?);
    Ok(())
}
