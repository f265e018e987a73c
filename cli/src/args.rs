//! The command line: subcommands and their flags.

use clap::{Args, Parser, Subcommand};

use crate::time::TimeArg;

/// Inspect and replay dead letters, trace a record through its retry topics, and show how
/// late waiting retries are. Connects like the runtime: `KAFKA_BOOTSTRAP_SERVERS` and any
/// `KAFKA_*` client property (`KAFKA_SECURITY_PROTOCOL` is `security.protocol`).
#[derive(Debug, Parser)]
#[command(name = "kafka-retry", version)]
pub struct Cli {
    /// Brokers to connect to, over `KAFKA_BOOTSTRAP_SERVERS`.
    #[arg(long, global = true)]
    pub bootstrap_servers: Option<String>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Dead-letter topics: list or replay their records.
    #[command(subcommand)]
    Dlt(DltCommand),
    /// The path of the records with a key through a main topic, its retry topics and DLTs
    /// (and, with `ordering = "key"`, its parked topic and the key's lock-log entries).
    Trace(TraceArgs),
    /// Records waiting on each retry topic and DLT of a main topic, and their due lag (and,
    /// with `ordering = "key"`, on its parked topic, and the keys its lock log blocks).
    Status(StatusArgs),
}

/// `kafka-retry dlt ...`.
#[derive(Debug, Subcommand)]
pub enum DltCommand {
    /// One row per dead letter: where it is, its key, attempts, origin, error and age.
    List(ListArgs),
    /// Re-publish dead letters to their original topic (or `--to`), resumably.
    Replay(ReplayArgs),
}

/// Which dead letters a command works on.
#[derive(Debug, Clone, Args)]
pub struct FilterArgs {
    /// Only records with this key (UTF-8).
    #[arg(long)]
    pub key: Option<String>,
    /// Only records whose error type or message contains this text.
    #[arg(long)]
    pub error: Option<String>,
    /// Only records written since then: a duration ago (`2h`, `30m`) or a time
    /// (`2026-11-25T12:00:00Z`).
    #[arg(long, value_parser = TimeArg::parse)]
    pub since: Option<TimeArg>,
    /// Only records written before then (same forms as `--since`).
    #[arg(long, value_parser = TimeArg::parse)]
    pub until: Option<TimeArg>,
    /// At most this many records.
    #[arg(long)]
    pub limit: Option<usize>,
}

/// `kafka-retry dlt list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// The dead-letter topic.
    pub topic: String,
    /// Which records.
    #[command(flatten)]
    pub filter: FilterArgs,
    /// One JSON object per line, untrimmed, for scripts.
    #[arg(long)]
    pub json: bool,
}

/// `kafka-retry dlt replay`.
#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// The dead-letter topic.
    pub topic: String,
    /// Which records.
    #[command(flatten)]
    pub filter: FilterArgs,
    /// Publish to this topic instead of each record's `kafka_original-topic`.
    #[arg(long)]
    pub to: Option<String>,
    /// The listener's `dlt_topic_suffix`. Without `--to`, a record goes back to its
    /// `kafka_original-topic` only when the DLT is that topic's by the naming rules
    /// (`<topic><suffix>`, or `<topic>-<route><suffix>`).
    #[arg(long, default_value = "-dlt")]
    pub dlt_suffix: String,
    /// Skip (and report) records replayed this many times already.
    #[arg(long, default_value_t = 3)]
    pub max_replays: u32,
    /// Print what would be published where, publish and commit nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// At most this many records a second.
    #[arg(long)]
    pub rate: Option<f64>,
    /// Consumer group holding the replay's progress: a run started again goes on after the
    /// last record the group examined.
    #[arg(long, default_value = "kafka-retry-replay")]
    pub group: String,
}

/// How the retry topics and DLTs of a main topic are found.
#[derive(Debug, Clone, Args)]
pub struct TopologyArgs {
    /// Deliveries including the first, as the listener's `attempts`: with `--backoff`, the
    /// topics are named by the naming rules instead of discovered from existing topics.
    #[arg(long, requires = "backoff")]
    pub attempts: Option<u32>,
    /// The listener's `backoff` (`1s*2`).
    #[arg(long, requires = "attempts")]
    pub backoff: Option<String>,
    /// The listener's `suffix`: `delay` or `index`.
    #[arg(long, default_value = "delay")]
    pub suffix: String,
    /// The listener's `retry_topic_suffix` (it names the parked topic and the lock log too).
    #[arg(long, default_value = "-retry")]
    pub retry_suffix: String,
    /// The listener's `dlt_topic_suffix`.
    #[arg(long, default_value = "-dlt")]
    pub dlt_suffix: String,
}

/// `kafka-retry trace`.
#[derive(Debug, Args)]
pub struct TraceArgs {
    /// The main topic.
    pub topic: String,
    /// The record key to follow.
    #[arg(long)]
    pub key: String,
    /// Topic naming.
    #[command(flatten)]
    pub topology: TopologyArgs,
}

/// `kafka-retry status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The main topic.
    pub topic: String,
    /// The listener's consumer group (its retry and DLT groups follow from it); without it,
    /// every group that committed offsets on a topic is shown.
    #[arg(long)]
    pub group: Option<String>,
    /// Topic naming.
    #[command(flatten)]
    pub topology: TopologyArgs,
}
