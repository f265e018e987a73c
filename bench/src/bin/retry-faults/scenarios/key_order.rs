//! The key-order oracle under kill -9: two instances of the `ordering = "key"` listener
//! under cooperative rebalancing, one killed at a time (every third one stopped gracefully
//! instead), while records of 200 keys flow; every key's handler calls must keep
//! [`key_oracle`](crate::key_oracle)'s rules.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::time::{Duration, Instant};

use retry_runtime::testing::TestKafka;
use tokio::process::Child;

use crate::accounting::Accounting;
use crate::broker::{fresh_broker, Fresh};
use crate::journal::{self, Call, Outcome};
use crate::key_oracle::{name, violations};
use crate::keyed::{fate, Fate, ATTEMPTS, DLT, PARKED, PARTITIONS, TOPIC};
use crate::orders::produce_records;
use crate::scenarios::kill::{instance_command, kill_9, kill_at_random, KillMode};

/// Keys the records spread over.
const KEYS: u64 = 200;

/// Key and sequence of record `i`: the keys in turn, each key's sequences in order.
fn record(i: u64) -> (String, u32) {
    (format!("k{}", i % KEYS), (i / KEYS) as u32)
}

/// `records` records over 200 keys through two instances, `kills` kill -9s and graceful
/// stops among them.
///
/// Duplicates (a second success or dead letter of a record): a kill repeats what its
/// instance finished since its partitions' last commit (a main partition is committed every
/// 200 ms) and the calls in flight (at most the listener's `concurrency`, 64); a record
/// whose key was blocked is repeated only if its outcome was not in the lock log yet. A
/// graceful stop drains and commits its partitions as they are revoked: it repeats none. The
/// records arrive at 130/s, so a kill repeats some tens; the bound, a quarter of the records,
/// is far above what `kills` kills at that rate can repeat and far below what replaying a
/// partition from its start after each kill would.
pub async fn run(broker: &str, records: u64, kills: usize) -> anyhow::Result<Accounting> {
    let Fresh { kafka, _harness } = fresh_broker(broker).await?;
    kafka.create_topic(TOPIC, PARTITIONS).await?;
    let journals =
        std::env::temp_dir().join(format!("retry-faults-key-order-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&journals);
    std::fs::create_dir_all(&journals)?;
    let produced: Vec<(String, String)> = (0..records)
        .map(record)
        .map(|(key, seq)| (key, seq.to_string()))
        .collect();
    let bootstrap = kafka.bootstrap_servers().to_owned();
    let producing = tokio::spawn(async move {
        produce_records(&bootstrap, TOPIC, produced, Duration::from_secs(30)).await
    });
    let exe = std::env::current_exe()?;
    let logs = std::env::temp_dir();
    let spawn = |instance: usize| {
        let mut command = instance_command(
            &exe,
            kafka.bootstrap_servers(),
            &logs,
            instance,
            KillMode::Cooperative,
        )?;
        command
            .args(["--listener", "fault_keyed", "--journal"])
            .arg(&journals);
        command.spawn()
    };
    let mut running: Vec<_> = (0..2).map(spawn).collect::<Result<_, _>>()?;
    // A kill lands on an instance that handled records (its journal is not empty): one
    // killed before it joined the group would test nothing.
    let handled = |child: &Child| {
        child.id().is_some_and(|pid| {
            std::fs::metadata(journal::path(&journals, pid)).is_ok_and(|m| m.len() > 0)
        })
    };
    let mut deaths: HashMap<u32, u64> = kill_at_random(
        &mut running,
        kills,
        &logs,
        1000..3000,
        spawn,
        handled,
        |i| i % 3 == 2,
    )
    .await?
    .into_iter()
    .collect();
    producing.await??;
    let expected: BTreeSet<String> = (0..records)
        .map(record)
        .map(|(key, seq)| name(&key, seq))
        .collect();
    settle(
        &kafka,
        &journals,
        &expected,
        &deaths,
        Duration::from_secs(180),
    )
    .await?;
    for mut instance in running {
        let (pid, died) = kill_9(&mut instance).await?;
        deaths.insert(pid, died);
    }
    let (calls, dlt) = outcome(&kafka, &journals, &deaths).await?;
    let mut accounting = account(&expected, &calls, &dlt).bounded(records as usize / 4);
    accounting.violations = violations(&calls, &dlt, ATTEMPTS);
    let parked = kafka.read_all(PARKED).await?.len();
    summarise(&calls, parked);
    if accounting.passed() {
        std::fs::remove_dir_all(&journals)?;
    } else {
        eprintln!("  the journals: {}", journals.display());
    }
    Ok(accounting)
}

/// The calls of every journal in `dir` and the DLT's records as `(key, seq)`.
async fn outcome(
    kafka: &TestKafka,
    dir: &Path,
    deaths: &HashMap<u32, u64>,
) -> anyhow::Result<(Vec<Call>, Vec<(String, u32)>)> {
    let calls = journal::read(dir, deaths)?;
    let dlt = kafka
        .read_all(DLT)
        .await?
        .into_iter()
        .map(|r| {
            let text =
                |b: Option<Vec<u8>>| String::from_utf8_lossy(&b.unwrap_or_default()).into_owned();
            let seq = text(r.value).parse().unwrap_or(u32::MAX);
            (text(r.key), seq)
        })
        .collect();
    Ok((calls, dlt))
}

/// Every success and dead letter against the `expected` records.
fn account(expected: &BTreeSet<String>, calls: &[Call], dlt: &[(String, u32)]) -> Accounting {
    let succeeded: Vec<String> = calls
        .iter()
        .filter(|c| c.outcome == Outcome::Succeeded)
        .map(|c| name(&c.key, c.seq))
        .collect();
    let dead: Vec<String> = dlt.iter().map(|(key, seq)| name(key, *seq)).collect();
    Accounting::of_names(expected, &succeeded, &dead, |record| {
        record
            .split_once('/')
            .and_then(|(key, seq)| Some(fate(key, seq.parse().ok()?)))
            == Some(Fate::AlwaysFails)
    })
}

/// Waits until every `expected` record succeeded or was dead-lettered, or `limit` passes.
async fn settle(
    kafka: &TestKafka,
    dir: &Path,
    expected: &BTreeSet<String>,
    deaths: &HashMap<u32, u64>,
    limit: Duration,
) -> anyhow::Result<()> {
    let start = Instant::now();
    loop {
        let (calls, dlt) = outcome(kafka, dir, deaths).await?;
        if account(expected, &calls, &dlt).complete() || start.elapsed() > limit {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Prints the calls, those cut by their process's end (per process), the copies `parked`
/// behind a blocked key, and the records that succeeded more than once.
fn summarise(calls: &[Call], parked: usize) {
    let mut cut: BTreeMap<u32, usize> = BTreeMap::new();
    for call in calls.iter().filter(|c| c.outcome == Outcome::Cut) {
        *cut.entry(call.pid).or_default() += 1;
    }
    let mut successes: HashMap<String, usize> = HashMap::new();
    for call in calls.iter().filter(|c| c.outcome == Outcome::Succeeded) {
        *successes.entry(name(&call.key, call.seq)).or_default() += 1;
    }
    let mut repeated: Vec<(String, usize)> =
        successes.into_iter().filter(|(_, n)| *n > 1).collect();
    repeated.sort();
    eprintln!(
        "  key order: {} handler calls, {} cut by their process's end {cut:?} (process: calls), {parked} copies parked, {} records succeeded more than once",
        calls.len(),
        cut.values().sum::<usize>(),
        repeated.len()
    );
    for (record, n) in repeated.iter().take(30) {
        eprintln!("    {record} succeeded {n} times");
    }
}
