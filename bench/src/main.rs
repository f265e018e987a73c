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
    /// Records per throughput run (happy path and failure mix), on each broker.
    #[arg(long, default_value_t = 50_000)]
    records: usize,
    /// Records through the 1 s retry topic.
    #[arg(long, default_value_t = 10_000)]
    delayed: usize,
    /// Run only this measurement: happy, mix, delay, memory or startup.
    #[arg(long)]
    only: Option<String>,
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

#[derive(Serialize, Default)]
struct Results {
    broker: &'static str,
    records: usize,
    raw_records_per_s: f64,
    framework_records_per_s: f64,
    happy_ratio: f64,
    /// What the framework adds to each record: 1/framework rate - 1/raw rate.
    overhead_ns_per_record: f64,
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
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "off".into()),
        )
        .with_writer(std::io::stderr)
        .init();
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
        let records = cli.records;
        let run = |name: &str| cli.only.as_deref().is_none_or(|only| only == name);
        let mut r = Results {
            broker: broker.name(),
            records,
            delayed_records: cli.delayed,
            ..Results::default()
        };
        if run("happy") {
            eprintln!("[{kind}] happy path, {records} records");
            (r.raw_records_per_s, r.framework_records_per_s) =
                scenarios::happy(&broker, records).await?;
            r.happy_ratio = r.framework_records_per_s / r.raw_records_per_s;
            r.overhead_ns_per_record = 1e9 / r.framework_records_per_s - 1e9 / r.raw_records_per_s;
        }
        if run("mix") {
            eprintln!("[{kind}] 10 % failing once");
            r.mix_main_records_per_s = scenarios::failure_mix(&broker, records).await?;
            r.mix_ratio = r.mix_main_records_per_s / r.framework_records_per_s;
        }
        if run("delay") {
            eprintln!("[{kind}] {} records through a 1 s retry topic", cli.delayed);
            let precision = scenarios::delay_precision(&broker, cli.delayed).await?;
            (
                r.early,
                r.lateness_p50_ms,
                r.lateness_p99_ms,
                r.lateness_max_ms,
            ) = (
                precision.early,
                precision.p50_ms,
                precision.p99_ms,
                precision.max_ms,
            );
        }
        if run("memory") {
            eprintln!("[{kind}] memory with 1k and 100k records waiting");
            r.peak_rss_kib_1k_waiting = scenarios::memory(&broker, 1_000, "small").await?;
            r.peak_rss_kib_100k_waiting = scenarios::memory(&broker, 100_000, "large").await?;
        }
        if run("startup") {
            eprintln!("[{kind}] start-up");
            (r.startup_s_1_listener, r.startup_s_20_listeners) =
                scenarios::startup(&broker).await?;
        }
        all.push(r);
    }
    print_table(&all);
    // A failing handler's anyhow error captures a backtrace when this is set, and the
    // stacktrace header resolves it: the failure mix depends on it.
    println!(
        "RUST_BACKTRACE={}",
        std::env::var("RUST_BACKTRACE").unwrap_or_else(|_| "(unset)".into())
    );
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
    row("framework cost per record, ns", "", &|r| {
        format!("{:.0}", r.overhead_ns_per_record)
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
