//! Benchmarks of kafka-retry, each a ratio against a raw rdkafka consumer in the same run.
//!
//! ```text
//! cargo run --release -p retry-bench              # mock cluster and embedded broker
//! cargo run --release -p retry-bench -- --broker mock --records 50000
//! ```
//! Prints a table and writes the same figures as JSON (`--json`, default
//! `target/bench-results.json`).

mod baseline;
mod broker;
mod handlers;
mod scenarios;

use clap::{Parser, Subcommand};
use serde::Serialize;

#[derive(Parser)]
#[command(about = "kafka-retry benchmarks against a raw rdkafka consumer")]
struct Cli {
    #[command(subcommand)]
    child: Option<Child>,
    /// `mock`, `embedded` or `both`.
    #[arg(long, default_value = "both")]
    broker: String,
    /// Records per throughput run on the mock cluster (the embedded broker gets a fifth).
    #[arg(long, default_value_t = 50_000)]
    records: usize,
    /// Records through the 1 s retry topic.
    #[arg(long, default_value_t = 10_000)]
    delayed: usize,
    /// Where to write the JSON results.
    #[arg(long, default_value = "target/bench-results.json")]
    json: String,
}

#[derive(Subcommand)]
enum Child {
    /// Internal: the process whose peak memory the memory run measures.
    MemoryChild {
        #[arg(long)]
        bootstrap: String,
        #[arg(long)]
        topic: String,
    },
}

#[derive(Serialize)]
struct Results {
    broker: &'static str,
    records: usize,
    raw_records_per_s: f64,
    framework_records_per_s: f64,
    happy_ratio: f64,
    mix_main_records_per_s: f64,
    mix_ratio: f64,
    delayed_records: usize,
    early: usize,
    lateness_p50_ms: i64,
    lateness_p99_ms: i64,
    lateness_max_ms: i64,
    peak_rss_kib_1k_waiting: u64,
    peak_rss_kib_100k_waiting: u64,
    startup_s_1_listener: f64,
    startup_s_20_listeners: f64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Some(Child::MemoryChild { bootstrap, topic }) = &cli.child {
        return scenarios::memory_child(bootstrap, topic).await;
    }
    let kinds: &[&str] = match cli.broker.as_str() {
        "both" => &["mock", "embedded"],
        "mock" => &["mock"],
        _ => &["embedded"],
    };
    let mut all = Vec::new();
    for kind in kinds {
        let broker = broker::Broker::start(kind).await?;
        let records = if *kind == "mock" {
            cli.records
        } else {
            cli.records / 5
        };
        eprintln!("[{kind}] happy path, {records} records");
        let (raw, framework) = scenarios::happy(&broker, records).await?;
        eprintln!("[{kind}] 10 % failing once");
        let mix = scenarios::failure_mix(&broker, records).await?;
        eprintln!("[{kind}] {} records through a 1 s retry topic", cli.delayed);
        let precision = scenarios::delay_precision(&broker, cli.delayed).await?;
        eprintln!("[{kind}] memory with 1k and 100k records waiting");
        let small = scenarios::memory(&broker, 1_000, "small").await?;
        let large = scenarios::memory(&broker, 100_000, "large").await?;
        eprintln!("[{kind}] start-up");
        let (one, twenty) = scenarios::startup(&broker).await?;
        all.push(Results {
            broker: broker.name(),
            records,
            raw_records_per_s: raw,
            framework_records_per_s: framework,
            happy_ratio: framework / raw,
            mix_main_records_per_s: mix,
            mix_ratio: mix / framework,
            delayed_records: cli.delayed,
            early: precision.early,
            lateness_p50_ms: precision.p50_ms,
            lateness_p99_ms: precision.p99_ms,
            lateness_max_ms: precision.max_ms,
            peak_rss_kib_1k_waiting: small,
            peak_rss_kib_100k_waiting: large,
            startup_s_1_listener: one,
            startup_s_20_listeners: twenty,
        });
    }
    print_table(&all);
    std::fs::write(&cli.json, serde_json::to_string_pretty(&all)?)?;
    eprintln!("wrote {}", cli.json);
    Ok(())
}

fn print_table(all: &[Results]) {
    println!(
        "| measure | target | {} |",
        all.iter().map(|r| r.broker).collect::<Vec<_>>().join(" | ")
    );
    println!("|---|---|{}", "---|".repeat(all.len()));
    let row = |name: &str, target: &str, cell: &dyn Fn(&Results) -> String| {
        println!(
            "| {name} | {target} | {} |",
            all.iter().map(cell).collect::<Vec<_>>().join(" | ")
        );
    };
    row("raw rdkafka loop, records/s", "", &|r| {
        format!("{:.0}", r.raw_records_per_s)
    });
    row("framework, records/s", "", &|r| {
        format!("{:.0}", r.framework_records_per_s)
    });
    row("happy path ratio", ">= 0.95", &|r| {
        format!("{:.2}", r.happy_ratio)
    });
    row("10 % failing: main records/s", "", &|r| {
        format!("{:.0}", r.mix_main_records_per_s)
    });
    row("10 % failing / happy ratio", ">= 0.90", &|r| {
        format!("{:.2}", r.mix_ratio)
    });
    row("1 s retries handled early", "0", &|r| {
        format!("{} of {}", r.early, r.delayed_records)
    });
    row("lateness p50 / p99 / max, ms", "p99 <= 100", &|r| {
        format!(
            "{} / {} / {}",
            r.lateness_p50_ms, r.lateness_p99_ms, r.lateness_max_ms
        )
    });
    row("peak RSS, 1k / 100k waiting, MiB", "flat", &|r| {
        format!(
            "{:.0} / {:.0}",
            r.peak_rss_kib_1k_waiting as f64 / 1024.0,
            r.peak_rss_kib_100k_waiting as f64 / 1024.0
        )
    });
    row("start-up, 1 / 20 listeners, s", "", &|r| {
        format!(
            "{:.2} / {:.2}",
            r.startup_s_1_listener, r.startup_s_20_listeners
        )
    });
}
