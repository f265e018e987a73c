//! The keyed scenario's figures: one object per run in the JSON results, and a table.

use serde::Serialize;

use super::{Mode, Spec};
use crate::peers::{Measured, Peer};

/// One run's figures, exactly the fields the JSON results carry.
#[derive(Serialize, Debug)]
pub struct Row {
    pub peer: Peer,
    pub mode: Mode,
    pub concurrency: usize,
    pub failing_percent: u32,
    pub records: u64,
    /// Records per second from the first record succeeded to the last, retries included.
    pub records_per_s: f64,
    /// The process's user + system CPU from its first record succeeded to its last, per
    /// record, µs.
    pub cpu_us_per_record: f64,
    /// The process's peak RSS and threads once every record succeeded.
    pub peak_rss_kib: u64,
    pub threads: u64,
}

impl Row {
    /// The figures of `spec`'s run.
    pub fn new(spec: &Spec, measured: &Measured) -> Self {
        Self {
            peer: spec.peer,
            mode: spec.mode,
            concurrency: spec.concurrency,
            failing_percent: spec.failing_percent,
            records: spec.records,
            records_per_s: measured.done.records_per_s(),
            cpu_us_per_record: measured.done.cpu_s_per_record() * 1e6,
            peak_rss_kib: measured.peak_rss_kib,
            threads: measured.threads,
        }
    }
}

/// The row of `ordering = "partition"` at `row`'s failing percentage, which the others are
/// compared with.
fn partition<'a>(rows: &'a [Row], row: &Row) -> Option<&'a Row> {
    rows.iter()
        .find(|r| r.mode == Mode::Partition && r.failing_percent == row.failing_percent)
}

/// Prints `rows` of `broker` (nothing if there are none), each against the partition row at its failing percentage.
pub fn print(broker: &str, rows: &[Row]) {
    if rows.is_empty() {
        return;
    }
    println!();
    println!(
        "keyed scenario on {broker}: 5 ms calls, 8 partitions, {} keys",
        super::KEYS
    );
    println!(
        "| failing % | peer | ordering | concurrency | records | records/s | x partition \
         | CPU µs per record | x partition | peak RSS MiB | threads |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for row in rows {
        let (speed, cpu) = partition(rows, row).map_or((f64::NAN, f64::NAN), |p| {
            (
                row.records_per_s / p.records_per_s,
                row.cpu_us_per_record / p.cpu_us_per_record,
            )
        });
        println!(
            "| {} | {} | {} | {} | {} | {:.0} | {speed:.1} | {:.1} | {cpu:.2} | {:.1} | {} |",
            row.failing_percent,
            row.peer.name(),
            row.mode.name(),
            row.concurrency,
            row.records,
            row.records_per_s,
            row.cpu_us_per_record,
            row.peak_rss_kib as f64 / 1024.0,
            row.threads,
        );
    }
}
