//! A service outside the kafka-retry workspace checks that the embedded broker it gets from
//! `retry-runtime` recovers from a kill -9. This process runs the broker and produces orders;
//! two replicas of the app run as child processes of their own. Replica 0 starts first (so it
//! leads the consumer groups), replica 1 joins, and once replica 1 handles orders it is killed
//! with SIGKILL and restarted at once. Orders keep arriving for 2 s after the restart, on
//! every partition, and every order must be handled within 60 s of the restart. The check
//! fails if the killed replica's partitions are never consumed again.
//!
//! ```text
//! embedded-user check WORK_DIR        # the check; tools/downstream/check.sh runs it
//! embedded-user app BOOTSTRAP FILE    # a replica: handles `orders`, appends each key to FILE
//! ```

mod orders;
mod replica;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use retry_runtime::embedded::EmbeddedKafka;
use retry_runtime::testing::TestKafka;
use tokio::process::Child;

use replica::Replica;

/// Partitions of the main topic.
const PARTITIONS: i32 = 3;
/// Pause between two orders.
const PAUSE: Duration = Duration::from_millis(10);
/// How long orders keep arriving after the restart.
const AFTER_RESTART: Duration = Duration::from_secs(2);
/// How long after the restart every order must be handled.
const BOUND: Duration = Duration::from_secs(60);

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let outcome = match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["check", dir] => check(Path::new(dir)).await,
        ["app", bootstrap, handled] => orders::run(bootstrap, Path::new(handled)).await,
        _ => Err(anyhow::anyhow!(
            "usage: embedded-user check WORK_DIR | embedded-user app BOOTSTRAP FILE"
        )),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("embedded-user: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Produces orders `1, 2, …` until `stop` is set; returns how many.
async fn produce(kafka: &TestKafka, stop: &AtomicBool) -> anyhow::Result<u64> {
    let mut produced = 0;
    while !stop.load(Ordering::Relaxed) {
        produced += 1;
        kafka
            .produce(orders::TOPIC, Some(&produced.to_string()), b"order")
            .await?;
        tokio::time::sleep(PAUSE).await;
    }
    Ok(produced)
}

/// Starts both replicas, kills replica 1 with SIGKILL once it handles orders and restarts it;
/// stops the orders [`AFTER_RESTART`] later. Returns the replicas' processes and the time of
/// the restart.
async fn kill_and_restart(
    replicas: &[Replica; 2],
    stop: &AtomicBool,
) -> anyhow::Result<([Child; 2], Instant)> {
    let stopping = StopOnDrop(stop);
    let mut leader = replicas[0].spawn()?;
    replicas[0].wait_for_first_order(&mut leader).await?;
    let mut victim = replicas[1].spawn()?;
    replicas[1].wait_for_first_order(&mut victim).await?;
    replicas[0].ensure_running(&mut leader)?;
    victim.start_kill()?;
    victim.wait().await?;
    let restarted = Instant::now();
    let victim = replicas[1].spawn()?;
    eprintln!("embedded-user: replica 1 handled orders; killed with SIGKILL and restarted");
    tokio::time::sleep(AFTER_RESTART).await;
    drop(stopping);
    Ok(([leader, victim], restarted))
}

/// Sets the flag it holds when dropped, so the orders stop however the kill sequence ends.
struct StopOnDrop<'a>(&'a AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// The check, its files in `dir`: see the top of this file.
async fn check(dir: &Path) -> anyhow::Result<()> {
    let broker = EmbeddedKafka::start().await?;
    let kafka = TestKafka::connect(broker.bootstrap_servers())?;
    kafka.create_topic(orders::TOPIC, PARTITIONS).await?;
    let replicas = [0, 1].map(|index| Replica::new(dir, broker.bootstrap_servers(), index));
    let stop = AtomicBool::new(false);
    let (produced, killed) =
        tokio::join!(produce(&kafka, &stop), kill_and_restart(&replicas, &stop));
    let (mut children, restarted) = killed?;
    let expected: BTreeSet<u64> = (1..=produced?).collect();
    loop {
        let mut handled = BTreeSet::new();
        for replica in &replicas {
            handled.extend(orders::handled_keys(&replica.handled)?);
        }
        let missing = expected.difference(&handled).count();
        if missing == 0 {
            eprintln!(
                "embedded-user: all {} orders handled {:.1?} after the restart",
                expected.len(),
                restarted.elapsed()
            );
            break;
        }
        anyhow::ensure!(
            restarted.elapsed() < BOUND,
            "{missing} of {} orders unhandled {BOUND:?} after the restart: the killed \
             replica's partitions were not consumed again (its log: {})",
            expected.len(),
            replicas[1].log.display()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    for (replica, child) in replicas.iter().zip(&mut children) {
        replica.ensure_running(child)?;
    }
    Ok(())
}
