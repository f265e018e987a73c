//! Benchmarks of kafka-retry, each a ratio against a raw rdkafka consumer in the same run.
//!
//! ```text
//! cargo run --release -p retry-bench              # mock cluster and embedded broker
//! cargo run --release -p retry-bench -- --broker kafka   # Apache Kafka (JDK 17 and Maven)
//! cargo run --release -p retry-bench -- --broker mock --records 50000
//! cargo run --release -p retry-bench -- --broker kafka --peer spring   # against Spring Kafka
//! cargo run --release -p retry-bench -- --broker kafka --only keyed   # beside Parallel Consumer
//! ```
//! Throughput is measured twice, each in a child process: with logging off, and as users run
//! the app (`run()`'s INFO subscriber, `RUST_BACKTRACE=1`). Prints a table and writes the same
//! figures as JSON (`--json`, default `target/bench-results.json`).

mod baseline;
mod broker;
mod brokers;
#[cfg(test)]
mod cli_tests;
mod cpu;
mod handlers;
mod io_wait;
mod keyed;
mod lock_log;
mod measurement;
mod memory;
mod peers;
mod scenarios;
mod throughput;
mod variant;

use clap::{Parser, Subcommand};
use serde::Serialize;

use crate::brokers::{Brokers, Kind};
use crate::measurement::Measurement;
use crate::variant::{Figures, Variant};

#[derive(Parser)]
#[command(about = "kafka-retry benchmarks against a raw rdkafka consumer")]
struct Cli {
    #[command(subcommand)]
    child: Option<Internal>,
    /// The brokers to measure on.
    #[arg(long, value_enum, default_value_t = Brokers::Both)]
    broker: Brokers,
    /// Records per dequeue-only throughput run (happy path and failure mix), on each broker.
    #[arg(long, default_value_t = 50_000)]
    records: usize,
    /// Records per sustained run (fetching from the broker part of the work), on the embedded
    /// broker and Apache Kafka; 0 skips it.
    #[arg(long, default_value_t = 1_000_000)]
    sustained: usize,
    /// Records through the 1 s retry topic.
    #[arg(long, default_value_t = 10_000)]
    delayed: usize,
    /// Keys of the lock-log run (3 entries each), one at a time and in bursts.
    #[arg(long, default_value_t = 2_000)]
    lock_keys: usize,
    /// Records of the side-by-side run of handlers that wait 5 ms.
    #[arg(long, default_value_t = 20_000)]
    io_records: usize,
    /// Records of each run of the keyed scenario (a tenth of them with `ordering =
    /// "partition"`).
    #[arg(long, default_value_t = 200_000)]
    keyed_records: u64,
    /// With `--only throughput`: only this loop's dequeue-only happy runs, in the children,
    /// so that a profile of the run is that loop's alone (DEVELOPMENT.md#profiling).
    #[arg(long, value_enum)]
    profile_loop: Option<variant::Loop>,
    /// Run only this measurement (`keyed` runs only when named).
    #[arg(long, value_enum)]
    only: Option<Measurement>,
    /// Where to write the JSON results [default: target/bench-results.json, with --peer
    /// target/peer-results.json].
    #[arg(long)]
    json: Option<String>,
    /// Instead of the measurements above, compare with what users would pick instead, on
    /// Apache Kafka (`--broker kafka`): this project's listener, Spring Kafka and a plain
    /// kafka-clients loop, each in a process of its own.
    #[arg(long, value_enum)]
    peer: Option<peers::Peers>,
    /// Records of the comparison's happy workload.
    #[arg(long, default_value_t = 1_000_000)]
    peer_records: u64,
    /// Records of the comparison's failing10 workload.
    #[arg(long, default_value_t = 1_000_000)]
    peer_failing_records: u64,
    /// Records of the comparison's dlt workload.
    #[arg(long, default_value_t = 10_000)]
    peer_dlt_records: u64,
    /// Records of the comparison's io5ms workload.
    #[arg(long, default_value_t = 20_000)]
    peer_io_records: u64,
    /// The comparison's workloads to run [default: all].
    #[arg(long, value_enum, value_delimiter = ',')]
    workload: Vec<peers::Workload>,
}

/// The subcommands the benchmark runs itself as, in child processes.
#[derive(Subcommand)]
enum Internal {
    /// Internal: the process whose peak memory the memory run measures.
    MemoryChild {
        #[arg(long)]
        bootstrap: String,
        #[arg(long)]
        listener: String,
        #[arg(long)]
        topic: String,
    },
    /// Internal: the throughput runs of one variant.
    ThroughputChild {
        #[arg(long)]
        bootstrap: String,
        #[arg(long)]
        records: usize,
        #[arg(long)]
        sustained: usize,
        #[arg(long)]
        tag: String,
        #[arg(long, value_enum)]
        profile_loop: Option<variant::Loop>,
    },
    /// Internal: the kafka-retry side of the keyed scenario.
    KeyedApp {
        #[arg(long)]
        records: u64,
        #[arg(long)]
        failing_percent: u32,
    },
    /// Internal: the kafka-retry peer of the comparison with Spring Kafka.
    PeerApp {
        #[arg(long, value_enum)]
        workload: peers::Workload,
        #[arg(long)]
        records: u64,
    },
}

/// One broker's figures. Unprefixed throughput figures are with logging off; `as_run_` ones
/// as users run the app; `sustained_` ones as users run it, on a run long enough that
/// fetching from the broker is part of the work.
#[derive(Serialize, Default)]
struct Results {
    broker: &'static str,
    /// What ran on this broker; the figures of the others are 0.
    measurements: Vec<Measurement>,
    records: usize,
    raw_records_per_s: f64,
    framework_records_per_s: f64,
    happy_ratio: f64,
    /// What the framework adds to each record: 1/framework rate - 1/raw rate.
    overhead_ns_per_record: f64,
    raw_cpu_ns_per_record: f64,
    framework_cpu_ns_per_record: f64,
    mix_main_records_per_s: f64,
    mix_ratio: f64,
    mix_cpu_ns_per_main_record: f64,
    /// CPU per failed record: (mix CPU per main record - happy CPU per record) x 10.
    failed_record_cpu_ns: f64,
    /// CPU per record of a raw producer sending records with a first retry's headers: the
    /// floor under a failed record's cost.
    raw_forward_cpu_ns: f64,
    as_run_raw_records_per_s: f64,
    as_run_framework_records_per_s: f64,
    as_run_happy_ratio: f64,
    as_run_overhead_ns_per_record: f64,
    as_run_raw_cpu_ns_per_record: f64,
    as_run_framework_cpu_ns_per_record: f64,
    as_run_mix_main_records_per_s: f64,
    as_run_mix_ratio: f64,
    as_run_mix_cpu_ns_per_main_record: f64,
    as_run_failed_record_cpu_ns: f64,
    as_run_raw_forward_cpu_ns: f64,
    sustained_records: usize,
    sustained_raw_records_per_s: f64,
    sustained_framework_records_per_s: f64,
    sustained_happy_ratio: f64,
    sustained_raw_cpu_ns_per_record: f64,
    sustained_framework_cpu_ns_per_record: f64,
    sustained_mix_main_records_per_s: f64,
    /// 10 % failing main-topic rate against the raw loop's.
    sustained_mix_ratio: f64,
    sustained_mix_cpu_ns_per_main_record: f64,
    /// The raw loop that also forwards every failing record (the ceiling of the 10 % failing
    /// run): its main-topic rate, and that against the raw loop's.
    sustained_raw_mix_records_per_s: f64,
    sustained_raw_mix_ratio: f64,
    /// 10 % failing main-topic rate against that ceiling's.
    sustained_mix_to_ceiling_ratio: f64,
    delayed_records: usize,
    early: usize,
    lateness_p50_ms: i64,
    lateness_p99_ms: i64,
    lateness_max_ms: i64,
    /// Peak RSS of the app, KiB, while 1,000 and 100,000 records with 10-byte values wait
    /// on a retry topic, due in an hour.
    peak_rss_kib_1k_waiting: u64,
    peak_rss_kib_100k_waiting: u64,
    /// The same with 100,000 records waiting on a main topic behind a handler call that
    /// never returns.
    peak_rss_kib_100k_waiting_main: u64,
    /// With 5,000 retries due in an hour carrying the exception headers of
    /// `stacktrace = "full"` at their bounds (about 20 KiB each).
    peak_rss_kib_5k_full_stacktrace_waiting: u64,
    /// With a retry partition's head due in an hour and 2,000 records produced behind it
    /// while the app runs, each fetch that brings one also bringing 100 KB for the topic's
    /// other partition, which flows.
    peak_rss_kib_held_head_2k_piled: u64,
    startup_s_1_listener: f64,
    startup_s_20_listeners: f64,
    startup_threads_20_listeners: u64,
    startup_rss_kib_20_listeners: u64,
    idle_cores_20_listeners: f64,
    /// Keys of the lock-log run: each a head's and a parked record's chain entries, then the
    /// head's outcome, which makes the parked record current.
    lock_log_keys: usize,
    /// Lock-log entries one at a time (each produced once the last was folded): from the
    /// produce call to the broker's acknowledgement, and to another client's fold having
    /// applied it, ms.
    lock_ack_ms_p50: f64,
    lock_ack_ms_p99: f64,
    lock_ack_ms_max: f64,
    lock_applied_ms_p50: f64,
    lock_applied_ms_p99: f64,
    lock_applied_ms_max: f64,
    lock_entries_per_s: f64,
    /// The same with the entries produced in bursts of 100; the rate counts the bursts' time.
    lock_burst_ack_ms_p50: f64,
    lock_burst_ack_ms_p99: f64,
    lock_burst_ack_ms_max: f64,
    lock_burst_applied_ms_p50: f64,
    lock_burst_applied_ms_p99: f64,
    lock_burst_applied_ms_max: f64,
    lock_burst_entries_per_s: f64,
    /// Records per second of a listener whose calls await 5 ms, on one partition: one call
    /// at a time (`ordering = "partition"`), and up to 256 side by side (`ordering = "none"`).
    io_wait_partition_records_per_s: f64,
    io_wait_none_records_per_s: f64,
    /// The second over the first.
    io_wait_none_to_partition_ratio: f64,
    /// The keyed scenario's runs ([`keyed`]).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    keyed: Vec<keyed::report::Row>,
}

impl Results {
    /// Whether `measurement` runs: `only` names it, or is none and it runs by default. If it
    /// does, it is recorded among this broker's measurements.
    fn includes(&mut self, measurement: Measurement, only: Option<Measurement>) -> bool {
        let runs = only.map_or(measurement.by_default(), |only| only == measurement);
        if runs {
            self.measurements.push(measurement);
        }
        runs
    }

    /// The dequeue-only figures of `f`, measured with `variant`.
    fn throughput(&mut self, variant: Variant, f: &Figures) {
        let ratio = f.framework.records_per_s / f.raw.records_per_s;
        let overhead = 1e9 / f.framework.records_per_s - 1e9 / f.raw.records_per_s;
        let mix_ratio = f.mix.records_per_s / f.framework.records_per_s;
        let failed = (f.mix.cpu_ns_per_record - f.framework.cpu_ns_per_record).max(0.0) * 10.0;
        let fields = match variant {
            Variant::LoggingOff => [
                &mut self.raw_records_per_s,
                &mut self.framework_records_per_s,
                &mut self.happy_ratio,
                &mut self.overhead_ns_per_record,
                &mut self.raw_cpu_ns_per_record,
                &mut self.framework_cpu_ns_per_record,
                &mut self.mix_main_records_per_s,
                &mut self.mix_ratio,
                &mut self.mix_cpu_ns_per_main_record,
                &mut self.failed_record_cpu_ns,
                &mut self.raw_forward_cpu_ns,
            ],
            Variant::AsUsersRunIt => [
                &mut self.as_run_raw_records_per_s,
                &mut self.as_run_framework_records_per_s,
                &mut self.as_run_happy_ratio,
                &mut self.as_run_overhead_ns_per_record,
                &mut self.as_run_raw_cpu_ns_per_record,
                &mut self.as_run_framework_cpu_ns_per_record,
                &mut self.as_run_mix_main_records_per_s,
                &mut self.as_run_mix_ratio,
                &mut self.as_run_mix_cpu_ns_per_main_record,
                &mut self.as_run_failed_record_cpu_ns,
                &mut self.as_run_raw_forward_cpu_ns,
            ],
        };
        let values = [
            f.raw.records_per_s,
            f.framework.records_per_s,
            ratio,
            overhead,
            f.raw.cpu_ns_per_record,
            f.framework.cpu_ns_per_record,
            f.mix.records_per_s,
            mix_ratio,
            f.mix.cpu_ns_per_record,
            failed,
            f.forward.cpu_ns_per_record,
        ];
        for (field, value) in fields.into_iter().zip(values) {
            *field = value;
        }
    }

    /// The lock log's round trips, one entry at a time and in bursts.
    fn lock_log(&mut self, keys: usize, one: &lock_log::RoundTrip, bursts: &lock_log::RoundTrip) {
        self.lock_log_keys = keys;
        (
            self.lock_ack_ms_p50,
            self.lock_ack_ms_p99,
            self.lock_ack_ms_max,
        ) = (one.ack.p50_ms, one.ack.p99_ms, one.ack.max_ms);
        (
            self.lock_applied_ms_p50,
            self.lock_applied_ms_p99,
            self.lock_applied_ms_max,
        ) = (one.applied.p50_ms, one.applied.p99_ms, one.applied.max_ms);
        self.lock_entries_per_s = one.entries_per_s;
        (
            self.lock_burst_ack_ms_p50,
            self.lock_burst_ack_ms_p99,
            self.lock_burst_ack_ms_max,
        ) = (bursts.ack.p50_ms, bursts.ack.p99_ms, bursts.ack.max_ms);
        (
            self.lock_burst_applied_ms_p50,
            self.lock_burst_applied_ms_p99,
            self.lock_burst_applied_ms_max,
        ) = (
            bursts.applied.p50_ms,
            bursts.applied.p99_ms,
            bursts.applied.max_ms,
        );
        self.lock_burst_entries_per_s = bursts.entries_per_s;
    }

    /// The sustained figures of `f`.
    fn sustained(&mut self, records: usize, f: &Figures) {
        self.sustained_records = records;
        self.sustained_raw_records_per_s = f.sustained_raw.records_per_s;
        self.sustained_framework_records_per_s = f.sustained_framework.records_per_s;
        self.sustained_happy_ratio =
            f.sustained_framework.records_per_s / f.sustained_raw.records_per_s;
        self.sustained_raw_cpu_ns_per_record = f.sustained_raw.cpu_ns_per_record;
        self.sustained_framework_cpu_ns_per_record = f.sustained_framework.cpu_ns_per_record;
        self.sustained_mix_main_records_per_s = f.sustained_mix.records_per_s;
        self.sustained_mix_ratio = f.sustained_mix.records_per_s / f.sustained_raw.records_per_s;
        self.sustained_mix_cpu_ns_per_main_record = f.sustained_mix.cpu_ns_per_record;
        self.sustained_raw_mix_records_per_s = f.sustained_raw_mix.records_per_s;
        self.sustained_raw_mix_ratio =
            f.sustained_raw_mix.records_per_s / f.sustained_raw.records_per_s;
        self.sustained_mix_to_ceiling_ratio =
            f.sustained_mix.records_per_s / f.sustained_raw_mix.records_per_s;
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match &cli.child {
        Some(Internal::MemoryChild {
            bootstrap,
            listener,
            topic,
        }) => return memory::child(bootstrap, listener, topic).await,
        Some(Internal::ThroughputChild {
            bootstrap,
            records,
            sustained,
            tag,
            profile_loop,
        }) => return variant::child(bootstrap, *records, *sustained, tag, *profile_loop).await,
        Some(Internal::KeyedApp {
            records,
            failing_percent,
        }) => return keyed::app::run(*records, *failing_percent).await,
        Some(Internal::PeerApp { workload, records }) => {
            return peers::app::run(*workload, *records).await
        }
        None => {}
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "off".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    if cli.peer.is_some() {
        return compare_with_peers(&cli).await;
    }
    let json = cli.json.as_deref().unwrap_or("target/bench-results.json");
    let mut all = Vec::new();
    let mut java = None;
    for &kind in cli.broker.kinds() {
        let broker = broker::Broker::start(kind).await?;
        let name = broker.name();
        let records = cli.records;
        let mut r = Results {
            broker: name,
            records,
            delayed_records: cli.delayed,
            ..Results::default()
        };
        if r.includes(Measurement::Throughput, cli.only) {
            let sustained = if kind == Kind::Mock { 0 } else { cli.sustained };
            eprintln!("[{name}] producing {records} records (x2) and {sustained} sustained (x2)");
            let mut topics = vec![
                (variant::HAPPY, records),
                (variant::MIX, records),
                (variant::FORWARD, 0),
            ];
            if sustained > 0 {
                topics.extend([
                    (variant::SUSTAINED, sustained),
                    (variant::SUSTAINED_MIX, sustained),
                ]);
            }
            for (topic, n) in topics {
                broker.create_listener_topics(topic).await?;
                broker.produce(topic, n, None).await?;
            }
            let bootstrap = broker.bootstrap_servers();
            eprintln!("[{name}] throughput, logging off");
            let only = cli.profile_loop;
            let off = variant::measure(Variant::LoggingOff, &bootstrap, records, 0, only).await?;
            r.throughput(Variant::LoggingOff, &off);
            eprintln!("[{name}] throughput as users run it (INFO, RUST_BACKTRACE=1)");
            let as_run =
                variant::measure(Variant::AsUsersRunIt, &bootstrap, records, sustained, only)
                    .await?;
            r.throughput(Variant::AsUsersRunIt, &as_run);
            if sustained > 0 {
                r.sustained(sustained, &as_run);
            }
        }
        if r.includes(Measurement::Delay, cli.only) {
            eprintln!("[{name}] {} records through a 1 s retry topic", cli.delayed);
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
        if r.includes(Measurement::Memory, cli.only) {
            use memory::Waiting;
            eprintln!("[{name}] memory with records waiting");
            let peak = |waiting, n, run| memory::peak_rss_kib(&broker, waiting, n, run);
            r.peak_rss_kib_1k_waiting = peak(Waiting::Retry, 1_000, "small").await?;
            r.peak_rss_kib_100k_waiting = peak(Waiting::Retry, 100_000, "large").await?;
            r.peak_rss_kib_100k_waiting_main = peak(Waiting::Main, 100_000, "main").await?;
            r.peak_rss_kib_5k_full_stacktrace_waiting =
                peak(Waiting::FullStacktrace, 5_000, "stacktrace").await?;
            r.peak_rss_kib_held_head_2k_piled = peak(Waiting::HeldHead, 2_000, "held").await?;
        }
        if r.includes(Measurement::Startup, cli.only) {
            eprintln!("[{name}] start-up");
            let startup = scenarios::startup(&broker).await?;
            r.startup_s_1_listener = startup.one_s;
            r.startup_s_20_listeners = startup.twenty_s;
            r.startup_threads_20_listeners = startup.twenty_threads;
            r.startup_rss_kib_20_listeners = startup.twenty_rss_kib;
            r.idle_cores_20_listeners = startup.twenty_idle_cores;
        }
        if r.includes(Measurement::Io, cli.only) {
            eprintln!("[{name}] handlers awaiting 5 ms, one partition, by ordering");
            let io = io_wait::io_wait(&broker, cli.io_records).await?;
            r.io_wait_partition_records_per_s = io.partition_records_per_s;
            r.io_wait_none_records_per_s = io.none_records_per_s;
            r.io_wait_none_to_partition_ratio = io.none_records_per_s / io.partition_records_per_s;
        }
        if r.includes(Measurement::Keyed, cli.only) {
            eprintln!("[{name}] keyed: 5 ms calls over {} keys", keyed::KEYS);
            // Parallel Consumer runs beside on the brokers Java clients speak to.
            if kind != Kind::Mock && java.is_none() {
                java = Some(peers::java::Java::build()?);
            }
            let java = java.as_ref().filter(|_| kind != Kind::Mock);
            let logs = std::path::Path::new(json).with_file_name("keyed-logs");
            r.keyed = keyed::run(&broker, java, cli.keyed_records, &logs).await?;
        }
        if r.includes(Measurement::LockLog, cli.only) {
            eprintln!("[{name}] lock log round trip, {} keys", cli.lock_keys);
            let (one, bursts) = lock_log::round_trip(&broker, cli.lock_keys).await?;
            r.lock_log(cli.lock_keys, &one, &bursts);
        }
        all.push(r);
    }
    anyhow::ensure!(
        all.iter().all(|r| !r.measurements.is_empty()),
        "no measurement ran; {json} not written",
    );
    print_table(&all);
    for r in &all {
        keyed::report::print(r.broker, &r.keyed);
    }
    println!(
        "this process: RUST_BACKTRACE={}, RUST_LOG={}",
        std::env::var("RUST_BACKTRACE").unwrap_or_else(|_| "(unset)".into()),
        std::env::var("RUST_LOG").unwrap_or_else(|_| "(unset)".into())
    );
    write_json(json, &all)
}

/// Writes `value` to `path` as JSON.
fn write_json(path: &str, value: &impl Serialize) -> anyhow::Result<()> {
    // The default, target/, is not there when cargo builds elsewhere (CARGO_TARGET_DIR).
    if let Some(dir) = std::path::Path::new(path).parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, serde_json::to_string_pretty(value)?)?;
    eprintln!("wrote {path}");
    Ok(())
}

/// `--peer`: the comparison with Spring Kafka and the kafka-clients floor on Apache Kafka.
async fn compare_with_peers(cli: &Cli) -> anyhow::Result<()> {
    anyhow::ensure!(
        cli.broker == Brokers::Kafka,
        "--peer runs on Apache Kafka only: add --broker kafka"
    );
    let json = cli.json.as_deref().unwrap_or("target/peer-results.json");
    let logs = std::path::Path::new(json)
        .parent()
        .unwrap_or(std::path::Path::new("."))
        .join("peer-logs");
    let options = peers::Options {
        records: cli.peer_records,
        failing_records: cli.peer_failing_records,
        dlt_records: cli.peer_dlt_records,
        io_records: cli.peer_io_records,
        workloads: if cli.workload.is_empty() {
            peers::Workload::ALL.to_vec()
        } else {
            cli.workload.clone()
        },
        logs,
    };
    let java = peers::java::Java::build()?;
    let broker = broker::Broker::start(Kind::Kafka).await?;
    let runs = peers::run(&broker, &java, &options).await?;
    peers::report::print(&runs);
    let figures: Vec<_> = runs.iter().map(|run| &run.figures).collect();
    write_json(json, &figures)
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
    let pair = |a: f64, b: f64, decimals: usize| format!("{a:.decimals$} / {b:.decimals$}");
    let section = |name: &str| println!("| **{name}** | |{}", " |".repeat(all.len()));
    section("dequeue-only: logging off / as users run it");
    row("raw rdkafka loop, records/s", "", &|r| {
        pair(r.raw_records_per_s, r.as_run_raw_records_per_s, 0)
    });
    row("framework, records/s", "", &|r| {
        pair(
            r.framework_records_per_s,
            r.as_run_framework_records_per_s,
            0,
        )
    });
    row("happy path ratio", "", &|r| {
        pair(r.happy_ratio, r.as_run_happy_ratio, 2)
    });
    row(
        "framework cost per record, ns",
        "<= 100 / 150 (mock)",
        &|r| pair(r.overhead_ns_per_record, r.as_run_overhead_ns_per_record, 0),
    );
    row("CPU per record, raw, ns", "", &|r| {
        pair(r.raw_cpu_ns_per_record, r.as_run_raw_cpu_ns_per_record, 0)
    });
    row("CPU per record, framework, ns", "", &|r| {
        pair(
            r.framework_cpu_ns_per_record,
            r.as_run_framework_cpu_ns_per_record,
            0,
        )
    });
    row("10 % failing: main records/s", "", &|r| {
        pair(r.mix_main_records_per_s, r.as_run_mix_main_records_per_s, 0)
    });
    row("10 % failing / happy ratio", "", &|r| {
        pair(r.mix_ratio, r.as_run_mix_ratio, 2)
    });
    row("CPU per failed record, ns", "<= 2000", &|r| {
        pair(r.failed_record_cpu_ns, r.as_run_failed_record_cpu_ns, 0)
    });
    row("CPU per raw produce with a retry's headers, ns", "", &|r| {
        pair(r.raw_forward_cpu_ns, r.as_run_raw_forward_cpu_ns, 0)
    });
    section("sustained, as users run it");
    row("records", "", &|r| r.sustained_records.to_string());
    row("raw / framework, records/s", "", &|r| {
        pair(
            r.sustained_raw_records_per_s,
            r.sustained_framework_records_per_s,
            0,
        )
    });
    row("happy path ratio", ">= 0.95", &|r| {
        format!("{:.2}", r.sustained_happy_ratio)
    });
    row("10 % failing: main records/s", "", &|r| {
        format!("{:.0}", r.sustained_mix_main_records_per_s)
    });
    row("10 % failing / raw ratio", ">= 0.90", &|r| {
        format!("{:.2}", r.sustained_mix_ratio)
    });
    row(
        "raw loop forwarding the same failures (ceiling): records/s / ratio to raw",
        "",
        &|r| {
            format!(
                "{:.0} / {:.2}",
                r.sustained_raw_mix_records_per_s, r.sustained_raw_mix_ratio
            )
        },
    );
    row("10 % failing / ceiling ratio", "", &|r| {
        format!("{:.2}", r.sustained_mix_to_ceiling_ratio)
    });
    row(
        "CPU per record, raw / framework / 10 % failing, ns",
        "",
        &|r| {
            format!(
                "{:.0} / {:.0} / {:.0}",
                r.sustained_raw_cpu_ns_per_record,
                r.sustained_framework_cpu_ns_per_record,
                r.sustained_mix_cpu_ns_per_main_record
            )
        },
    );
    row("1 s retries handled early", "0", &|r| {
        format!("{} of {}", r.early, r.delayed_records)
    });
    row("lateness p50 / p99 / max, ms", "p99 <= 20", &|r| {
        format!(
            "{} / {} / {}",
            r.lateness_p50_ms, r.lateness_p99_ms, r.lateness_max_ms
        )
    });
    let mib = |kib: u64| format!("{:.0}", kib as f64 / 1024.0);
    row("peak RSS, 1k / 100k waiting, MiB", "<= 1.2 x", &|r| {
        format!(
            "{} / {}",
            mib(r.peak_rss_kib_1k_waiting),
            mib(r.peak_rss_kib_100k_waiting)
        )
    });
    row("peak RSS, 100k waiting on a main topic, MiB", "", &|r| {
        mib(r.peak_rss_kib_100k_waiting_main)
    });
    row("peak RSS, 5k full stack traces waiting, MiB", "", &|r| {
        mib(r.peak_rss_kib_5k_full_stacktrace_waiting)
    });
    row("peak RSS, 2k piled behind a held head, MiB", "", &|r| {
        mib(r.peak_rss_kib_held_head_2k_piled)
    });
    row("start-up, 1 / 20 listeners, s", "", &|r| {
        pair(r.startup_s_1_listener, r.startup_s_20_listeners, 2)
    });
    row("20 listeners: threads / RSS MiB added", "", &|r| {
        format!(
            "{} / {:.0}",
            r.startup_threads_20_listeners,
            r.startup_rss_kib_20_listeners as f64 / 1024.0
        )
    });
    row(
        "20 listeners idle: CPU, cores (mock, embedded: with the broker)",
        "",
        &|r| format!("{:.2}", r.idle_cores_20_listeners),
    );
    section("handlers awaiting 5 ms, one partition");
    row(
        "records/s: ordering partition / none (concurrency 256)",
        "",
        &|r| {
            pair(
                r.io_wait_partition_records_per_s,
                r.io_wait_none_records_per_s,
                0,
            )
        },
    );
    row("none / partition ratio", "", &|r| {
        format!("{:.1}", r.io_wait_none_to_partition_ratio)
    });
    section("lock log: chain and outcome entries, produced to another client's fold");
    row("keys (3 entries each)", "", &|r| {
        r.lock_log_keys.to_string()
    });
    let ms = |p50: f64, p99: f64, max: f64| format!("{p50:.2} / {p99:.2} / {max:.2}");
    row("one at a time: produce ack p50 / p99 / max, ms", "", &|r| {
        ms(r.lock_ack_ms_p50, r.lock_ack_ms_p99, r.lock_ack_ms_max)
    });
    row("one at a time: applied p50 / p99 / max, ms", "", &|r| {
        ms(
            r.lock_applied_ms_p50,
            r.lock_applied_ms_p99,
            r.lock_applied_ms_max,
        )
    });
    row("one at a time: entries/s", "", &|r| {
        format!("{:.0}", r.lock_entries_per_s)
    });
    row("bursts of 100: produce ack p50 / p99 / max, ms", "", &|r| {
        ms(
            r.lock_burst_ack_ms_p50,
            r.lock_burst_ack_ms_p99,
            r.lock_burst_ack_ms_max,
        )
    });
    row("bursts of 100: applied p50 / p99 / max, ms", "", &|r| {
        ms(
            r.lock_burst_applied_ms_p50,
            r.lock_burst_applied_ms_p99,
            r.lock_burst_applied_ms_max,
        )
    });
    row("bursts of 100: entries/s", "", &|r| {
        format!("{:.0}", r.lock_burst_entries_per_s)
    });
}
