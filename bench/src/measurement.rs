//! The measurements `retry-bench` knows, by the names `--only` takes and the JSON results list.

use clap::ValueEnum;
use serde::Serialize;

/// One measurement of a benchmark run, named in kebab case (`lock-log`) on the command line
/// and in the JSON results alike.
#[derive(Clone, Copy, PartialEq, Eq, Debug, ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Measurement {
    /// Dequeue-only and sustained throughput, logging off and as users run the app.
    Throughput,
    /// Lateness of records through a 1 s retry topic.
    Delay,
    /// Peak RSS while records wait.
    Memory,
    /// Start-up of 1 and 20 listeners, and 20 idle.
    Startup,
    /// Handlers awaiting 5 ms on one partition, by ordering.
    Io,
    /// The lock log's round trip, one entry at a time and in bursts.
    LockLog,
    /// Handlers awaiting 5 ms over 10,000 keys on 8 partitions, by ordering and concurrency,
    /// beside Confluent's Parallel Consumer: only when `--only keyed` names it (it builds the
    /// Java peers and takes minutes a broker).
    Keyed,
}

impl Measurement {
    /// Whether it runs when `--only` names none.
    pub fn by_default(self) -> bool {
        self != Self::Keyed
    }
}
