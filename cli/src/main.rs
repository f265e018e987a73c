//! `kafka-retry`: the operator's command for kafka-retry's topics (and Spring Kafka's: the
//! headers are the same).
//!
//! * `kafka-retry dlt list <dlt>`: the dead letters, filtered, as a table or JSON lines.
//! * `kafka-retry dlt replay <dlt>`: re-publish them to their original topic, resumably.
//! * `kafka-retry trace <topic> --key <key>`: a record's path through its retry topics (and,
//!   with `ordering = "key"`, its parked topic and its key's lock-log entries).
//! * `kafka-retry status <topic>`: what waits on each retry topic and DLT, and its due lag
//!   (and, with `ordering = "key"`, on the parked topic, and the keys the lock log blocks).

mod args;
mod dead_letter;
mod filter;
mod kafka;
mod locks;
mod replay;
mod status;
mod table;
mod time;
mod topology;
mod trace;

use std::process::ExitCode;

use clap::Parser;

use args::{Cli, Command, DltCommand, ListArgs, TraceArgs};
use filter::Filter;
use kafka::{read_all, Connection};
use time::epoch_ms;

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
    let cli = Cli::parse();
    match run(cli).await {
        Ok(status) => ExitCode::from(status),
        Err(error) => {
            eprintln!("kafka-retry: {error:#}");
            ExitCode::from(2)
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<u8> {
    let connection = Connection::from_env(cli.bootstrap_servers.as_deref())?;
    match cli.command {
        Command::Dlt(DltCommand::List(args)) => list(&connection, &args).await,
        Command::Dlt(DltCommand::Replay(args)) => replay::run(&connection, &args).await,
        Command::Trace(args) => trace(&connection, &args).await,
        Command::Status(args) => {
            print!("{}", status::run(&connection, &args).await?);
            Ok(0)
        }
    }
}

/// `dlt list`.
async fn list(connection: &Connection, args: &ListArgs) -> anyhow::Result<u8> {
    let now = epoch_ms(std::time::SystemTime::now());
    let filter = Filter::new(&args.filter, now);
    let rows: Vec<_> = read_all(connection, &args.topic)
        .await?
        .iter()
        .map(dead_letter::DeadLetterRow::read)
        .filter(|row| filter.matches(row))
        .take(filter.limit.unwrap_or(usize::MAX))
        .collect();
    if args.json {
        for row in &rows {
            println!("{}", serde_json::to_string(row)?);
        }
    } else {
        print!("{}", dead_letter::render(&rows, now));
    }
    Ok(0)
}

/// `trace`.
async fn trace(connection: &Connection, args: &TraceArgs) -> anyhow::Result<u8> {
    let existing: Vec<String> = connection.topics()?.into_keys().collect();
    let chain = topology::chain(&args.topic, &args.topology, &existing)?;
    let mut hops = Vec::new();
    for (index, topic) in chain.iter().enumerate() {
        if !existing.contains(&topic.name) {
            continue;
        }
        for record in read_all(connection, &topic.name).await? {
            if record.key.as_deref() == Some(args.key.as_bytes()) {
                hops.push((index, trace::Hop::read(&record, topic.role)));
            }
        }
    }
    print!("{}", trace::render(&args.key, &trace::assemble(hops)));
    let lock_log = topology::lock_log(&args.topic, &args.topology);
    if existing.contains(&lock_log) {
        let entries = locks::entries_of(connection, &lock_log, args.key.as_bytes()).await?;
        print!(
            "{}",
            locks::render_entries(&lock_log, &args.key, &args.topic, &chain, &entries)
        );
    }
    Ok(0)
}
