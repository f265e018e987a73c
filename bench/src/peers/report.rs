//! The comparison's figures: one object per peer and workload in the JSON results, a table,
//! and the bars as ratios from the same run.

use serde::Serialize;

use super::tally::Done;
use super::{Peer, Workload};

/// One peer's figures on one workload, exactly the fields the JSON results carry.
#[derive(Serialize, Debug)]
pub struct Figures {
    pub peer: Peer,
    pub workload: Workload,
    /// Main-topic records per second, from the first main-topic delivery to the last.
    pub records_per_s: f64,
    /// The process's user + system CPU seconds from its first record to the workload's end,
    /// per million main-topic records.
    pub cpu_s_per_million: f64,
    /// The process's peak RSS at the workload's end.
    pub peak_rss_kib: u64,
    /// From starting the process to its first record handled (dlt: to every consumer
    /// assigned, its records are written then).
    pub startup_s: f64,
    /// Handled minus due of the retry deliveries, where records are retried.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lateness_p99_ms: Option<i64>,
    /// Retry deliveries handled before they were due, where records are retried.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub early: Option<u64>,
    /// The process's threads at the workload's end.
    pub threads: u64,
}

/// One peer's run of one workload: its figures and what the table shows besides.
pub struct Run {
    pub figures: Figures,
    pub records: u64,
    /// Retry lateness p50 and max, ms, where records are retried.
    pub lateness_p50_ms: Option<i64>,
    pub lateness_max_ms: Option<i64>,
}

impl Run {
    /// The figures of `done`, with what was read of the process from outside.
    pub fn new(
        peer: Peer,
        workload: Workload,
        records: u64,
        done: &Done,
        peak_rss_kib: u64,
        threads: u64,
        startup_s: f64,
    ) -> Self {
        let mut late = done.lateness_ms.clone();
        late.sort_unstable();
        let at = |q: f64| {
            (workload.retries() && !late.is_empty())
                .then(|| late[((late.len() - 1) as f64 * q) as usize])
        };
        let early = workload
            .retries()
            .then(|| late.iter().filter(|&&ms| ms < 0).count() as u64);
        Self {
            figures: Figures {
                peer,
                workload,
                records_per_s: done.records_per_s(),
                cpu_s_per_million: done.cpu_s_per_record() * 1e6,
                peak_rss_kib,
                startup_s,
                lateness_p99_ms: at(0.99),
                early,
                threads,
            },
            records,
            lateness_p50_ms: at(0.5),
            lateness_max_ms: at(1.0),
        }
    }
}

/// Prints a row per peer and workload, then the bars.
pub fn print(runs: &[Run]) {
    println!(
        "| workload | peer | records | records/s | CPU s per million | peak RSS MiB | start-up s \
         | lateness p50 / p99 / max ms | early | threads |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for run in runs {
        let f = &run.figures;
        let lateness = match (run.lateness_p50_ms, f.lateness_p99_ms, run.lateness_max_ms) {
            (Some(p50), Some(p99), Some(max)) => format!("{p50} / {p99} / {max}"),
            _ => String::new(),
        };
        println!(
            "| {} | {} | {} | {:.0} | {:.2} | {:.1} | {:.2} | {lateness} | {} | {} |",
            f.workload.name(),
            f.peer.name(),
            run.records,
            f.records_per_s,
            f.cpu_s_per_million,
            f.peak_rss_kib as f64 / 1024.0,
            f.startup_s,
            f.early.map(|e| e.to_string()).unwrap_or_default(),
            f.threads,
        );
    }
    println!();
    println!("| bar (kafka-retry against spring-kafka, same run) | target | measured | met |");
    println!("|---|---|---|---|");
    for bar in bars(runs) {
        println!(
            "| {} | {} | {} | {} |",
            bar.what,
            bar.target,
            bar.measured,
            if bar.met { "yes" } else { "no" }
        );
    }
}

/// A bar of the comparison, judged on one workload.
pub struct Bar {
    pub what: String,
    pub target: &'static str,
    pub measured: String,
    pub met: bool,
}

/// The bars for every workload that ran with both this project's listener and Spring.
pub fn bars(runs: &[Run]) -> Vec<Bar> {
    let find = |peer, workload| {
        runs.iter()
            .map(|r| &r.figures)
            .find(|f| f.peer == peer && f.workload == workload)
    };
    let mut bars = Vec::new();
    for workload in Workload::ALL {
        let (Some(ours), Some(spring)) = (
            find(Peer::KafkaRetry, workload),
            find(Peer::SpringKafka, workload),
        ) else {
            continue;
        };
        let name = workload.name();
        if matches!(workload, Workload::Happy | Workload::Failing10) {
            let ratio = spring.cpu_s_per_million / ours.cpu_s_per_million;
            bars.push(Bar {
                what: format!("{name}: records per CPU-second, x Spring's"),
                target: ">= 3",
                measured: format!("{ratio:.1}"),
                met: ratio >= 3.0,
            });
        }
        let rss = ours.peak_rss_kib as f64 / spring.peak_rss_kib as f64;
        bars.push(Bar {
            what: format!("{name}: peak RSS, of Spring's"),
            target: "<= 0.20",
            measured: format!("{rss:.3}"),
            met: rss <= 0.2,
        });
        let startup = ours.startup_s / spring.startup_s;
        bars.push(Bar {
            what: format!("{name}: start-up, of Spring's"),
            target: "<= 0.10",
            measured: format!("{startup:.3}"),
            met: startup <= 0.1,
        });
        if let (Some(p99), Some(spring_p99), Some(early), Some(spring_early)) = (
            ours.lateness_p99_ms,
            spring.lateness_p99_ms,
            ours.early,
            spring.early,
        ) {
            bars.push(Bar {
                what: format!("{name}: retry lateness p99 ms, ours / Spring's"),
                target: "<= Spring's",
                measured: format!("{p99} / {spring_p99}"),
                met: p99 <= spring_p99,
            });
            bars.push(Bar {
                what: format!("{name}: retries handled early, ours / Spring's"),
                target: "0 / 0",
                measured: format!("{early} / {spring_early}"),
                met: early == 0 && spring_early == 0,
            });
        }
    }
    bars
}
