//! The fault suite: every scenario runs a known set of uniquely keyed records through the
//! `fault_orders` listener while something goes wrong, then accounts for every key: handled
//! at least once, or in the DLT. Zero lost is the only pass. `key-order` runs records of
//! 200 keys through the `ordering = "key"` listener `fault_keyed` instead, and also checks
//! every key's order (`key_oracle`).
//!
//! ```text
//! cargo run --release -p retry-bench --bin retry-faults            # every scenario
//! cargo run --release -p retry-bench --bin retry-faults -- kill    # or another, see --help
//! cargo run --release -p retry-bench --bin retry-faults -- --broker kafka   # real Apache Kafka
//! ```
//!
//! Each scenario bounds the duplicates it may cause (redelivery after a crash or rebalance
//! is at-least-once; unbounded redelivery is a bug), and the bound is printed beside the
//! count.

mod accounting;
mod app;
mod broker;
mod downstream;
mod journal;
mod key_oracle;
mod keyed;
mod listener;
mod orders;
mod scenarios;

use clap::{Parser, Subcommand};
use retry_runtime::RetryApp;

use scenarios::{
    bad, broker_restart, dlt_down, key_order, kill, long_wait, mock, outage, poison, recovery,
    size, storm,
};

#[derive(Parser)]
#[command(about = "kafka-retry fault suite: nothing may be lost")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Records per scenario.
    #[arg(long, default_value_t = 2000)]
    records: u64,
    /// kill -9s in the kill scenarios.
    #[arg(long, default_value_t = 12)]
    kills: usize,
    /// Broker of the scenarios that need a real one: `embedded` (in-process) or `kafka`
    /// (Apache Kafka through tools/kafka/kafka.sh, a fresh broker per scenario). The `mock`
    /// and `dlt-down` scenarios always use librdkafka's mock cluster.
    #[arg(long, default_value = "embedded")]
    broker: String,
}

#[derive(Subcommand, Clone, PartialEq)]
enum Command {
    /// kill -9 the application process at random moments, restarting it each time.
    Kill,
    /// The same with static membership (RETRY_INSTANCE_ID): a restart takes its partitions
    /// back at once.
    KillStatic,
    /// kill -9 one of two instances at a time under cooperative rebalancing.
    KillCoop,
    /// Broker down, request errors and latency on librdkafka's mock cluster.
    Mock,
    /// Instances joining and leaving the group throughout the run.
    Storm,
    /// The same under cooperative rebalancing (cooperative-sticky).
    StormCoop,
    /// Malformed payloads and retry headers, huge records, absurd due times.
    Bad,
    /// Non-UTF-8 header names, a 1 MiB header, null key and value, absurd timestamps, forged
    /// provenance and garbage retry headers on the main topic.
    Poison,
    /// The DLT refuses records for longer than max.poll.interval.ms; the app is stopped
    /// meanwhile, then restarted.
    DltDown,
    /// A record waits two minutes in a retry topic while the other partitions flow.
    LongWait,
    /// Records too large for the retry topic, and one too large for the DLT until its limit
    /// is raised (real Kafka only: the embedded broker enforces no size limit).
    Size,
    /// One broker of three killed mid-run and restarted 10 s later (real Kafka only).
    BrokerRestart,
    /// kill -9 and restart with default settings: records flow again within 15 s.
    Recovery,
    /// The same with static membership (RETRY_INSTANCE_ID).
    RecoveryStatic,
    /// The listener's downstream down for 30 s under a steady stream: the breaker
    /// (`pause_on`) holds the records, none is dead-lettered for it; then the same run with
    /// the breaker off, whose dead letters are printed beside.
    Outage,
    /// The same with poison orders among them: they still reach the DLT after their
    /// attempts, before and after the outage.
    OutagePoison,
    /// `ordering = "key"` (two instances, cooperative, one killed -9 or, every third time,
    /// stopped at a time) over
    /// twice `--records` records of 200 keys, some failing once, some always: every key's
    /// calls never overlap, start only after the key's earlier records are resolved, and
    /// succeed in sequence order.
    KeyOrder,
    /// Internal: the application process the kill scenarios kill.
    App {
        #[arg(long)]
        bootstrap: String,
        /// The listener it runs.
        #[arg(long, default_value = "fault_orders")]
        listener: String,
        /// The folder of its journal of handler calls (the `fault_keyed` listener's).
        #[arg(long)]
        journal: Option<std::path::PathBuf>,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // App instances log as `run()` sets it up (INFO), into their log files; the suite's
    // in-process apps only when RUST_LOG asks.
    let app = matches!(cli.command, Some(Command::App { .. }));
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| if app { "info" } else { "off" }.into()),
        )
        .init();
    if let Some(Command::App {
        bootstrap,
        listener,
        journal,
    }) = &cli.command
    {
        listener::connect(bootstrap)?;
        if let Some(dir) = journal {
            journal::open(dir)?;
        }
        std::panic::set_hook(quiet_unprintable(std::panic::take_hook()));
        return RetryApp::builder()
            .bootstrap_servers(bootstrap)
            .listeners([listener.as_str()])
            .run()
            .await;
    }
    std::panic::set_hook(quiet_unprintable(std::panic::take_hook()));
    let mut all = vec![
        Command::Recovery,
        Command::RecoveryStatic,
        Command::Kill,
        Command::KillStatic,
        Command::KillCoop,
        Command::KeyOrder,
        Command::Mock,
        Command::Storm,
        Command::StormCoop,
        Command::Bad,
        Command::Poison,
        Command::DltDown,
        Command::LongWait,
        Command::Outage,
        Command::OutagePoison,
    ];
    if cli.broker == "kafka" {
        all.extend([Command::Size, Command::BrokerRestart]);
    }
    let chosen: Vec<Command> = match cli.command {
        Some(one) => vec![one],
        None => all,
    };
    let broker = cli.broker.as_str();
    let mut failed = false;
    let mut results = Vec::new();
    for scenario in chosen {
        let (name, accounting) = match scenario {
            Command::Kill => (
                format!("kill -9 x{}", cli.kills),
                kill::run(broker, cli.records, cli.kills, kill::KillMode::Dynamic).await?,
            ),
            Command::KillStatic => (
                format!("kill -9 x{}, static", cli.kills),
                kill::run(broker, cli.records, cli.kills, kill::KillMode::Static).await?,
            ),
            Command::KillCoop => (
                format!("kill -9 x{}, cooperative", cli.kills),
                kill::run(broker, cli.records, cli.kills, kill::KillMode::Cooperative).await?,
            ),
            Command::KeyOrder => (
                format!("key order, kill/stop x{}", cli.kills),
                key_order::run(broker, cli.records * 2, cli.kills).await?,
            ),
            Command::Mock => (
                "mock broker faults".to_owned(),
                mock::run(cli.records).await?,
            ),
            Command::Storm => (
                "rebalance storm".to_owned(),
                storm::run(broker, cli.records, false).await?,
            ),
            Command::StormCoop => (
                "rebalance storm, cooperative".to_owned(),
                storm::run(broker, cli.records, true).await?,
            ),
            Command::Bad => (
                "bad input".to_owned(),
                bad::run(broker, cli.records / 10).await?,
            ),
            Command::Poison => (
                "poison input".to_owned(),
                poison::run(broker, cli.records / 10).await?,
            ),
            Command::LongWait => (
                "2 min wait, others flow".to_owned(),
                long_wait::run(broker, cli.records).await?,
            ),
            Command::Size => (
                "records over size limits".to_owned(),
                size::run(broker, cli.records / 10).await?,
            ),
            Command::Recovery => (
                "recovery after kill -9".to_owned(),
                recovery::run(broker, cli.records / 10, false).await?,
            ),
            Command::RecoveryStatic => (
                "recovery, static".to_owned(),
                recovery::run(broker, cli.records / 10, true).await?,
            ),
            Command::BrokerRestart => (
                "1 of 3 brokers killed".to_owned(),
                broker_restart::run(broker, cli.records).await?,
            ),
            Command::Outage => (
                "downstream down 30 s".to_owned(),
                outage::run(broker, cli.records, false).await?,
            ),
            Command::OutagePoison => (
                "downstream down 30 s, poison".to_owned(),
                outage::run(broker, cli.records, true).await?,
            ),
            Command::DltDown => (
                "DLT unavailable, restart".to_owned(),
                dlt_down::run(cli.records).await?,
            ),
            Command::App { .. } => unreachable!("handled above"),
        };
        eprintln!("{name}: done");
        failed |= !accounting.passed();
        results.push((name, accounting));
    }
    println!();
    for (name, accounting) in &results {
        accounting.print(name);
    }
    anyhow::ensure!(
        !failed,
        "records were lost or misplaced, or duplicated past the bound"
    );
    Ok(())
}

/// The panic hook minus the panics of [`listener::Unprintable`]'s `Display`, which the
/// scenarios provoke on purpose (hundreds per run).
fn quiet_unprintable(
    hook: Box<dyn Fn(&std::panic::PanicHookInfo<'_>) + Send + Sync>,
) -> Box<dyn Fn(&std::panic::PanicHookInfo<'_>) + Send + Sync> {
    Box::new(move |info| {
        if info.payload().downcast_ref::<String>().map(String::as_str)
            != Some(listener::UNPRINTABLE)
        {
            hook(info);
        }
    })
}
