//! kill -9 of the application process, restarted each time.

use std::time::Duration;

use crate::accounting::{settle, Accounting};
use crate::app::{app_command, app_log, COOPERATIVE};
use crate::broker::{create_topics, fresh_broker, Fresh};
use crate::orders::{keys, produce_orders};

/// KIP-848's consumer group protocol (`KAFKA_GROUP_PROTOCOL=consumer`, real Kafka only): the
/// broker owns session timeouts and assignment, and the client refuses the classic settings.
fn kip_848() -> bool {
    std::env::var("KAFKA_GROUP_PROTOCOL").is_ok_and(|p| p == "consumer")
}

/// How the kill scenario runs its application processes.
#[derive(Clone, Copy)]
pub enum KillMode {
    /// One instance, dynamic membership.
    Dynamic,
    /// One instance with a fixed RETRY_INSTANCE_ID.
    Static,
    /// Two instances under cooperative rebalancing, one killed at a time.
    Cooperative,
}

/// kill -9 of the application process at random moments.
///
/// Duplicates: a kill redelivers what its instance handled since the last commit (offsets
/// are committed every second; orders arrive at 200/s plus their retries), a few hundred at
/// most, and a rebalance the records in flight. The bound, half the records, is far above
/// what 12 kills cause (70-650 seen) and far below what redelivering everything after each
/// restart would.
pub async fn run(
    broker: &str,
    records: u64,
    kills: usize,
    mode: KillMode,
) -> anyhow::Result<Accounting> {
    let Fresh { kafka, _harness } = fresh_broker(broker).await?;
    create_topics(&kafka, 3).await?;
    let producing = tokio::spawn(produce_orders(
        kafka.bootstrap_servers().to_owned(),
        records,
        Duration::from_secs(10),
    ));
    let exe = std::env::current_exe()?;
    let logs = std::env::temp_dir();
    let spawn = |instance: usize| {
        let mut command = app_command(&exe, kafka.bootstrap_servers(), &logs, instance)?;
        // A killed member holds its partitions until the broker expires its session: keep
        // that short (the app's default is 10 s), through the KAFKA_* pass-through. Under
        // KIP-848 the broker owns session timeouts and assignment.
        if !kip_848() {
            command
                .env("KAFKA_SESSION_TIMEOUT_MS", "6000")
                .env("KAFKA_HEARTBEAT_INTERVAL_MS", "1000");
        }
        match mode {
            KillMode::Dynamic => {}
            KillMode::Static => {
                command.env("RETRY_INSTANCE_ID", format!("fault-app-{instance}"));
            }
            // KIP-848's protocol is always incremental: cooperative without the setting.
            KillMode::Cooperative if kip_848() => {}
            KillMode::Cooperative => {
                command.env("KAFKA_PARTITION_ASSIGNMENT_STRATEGY", COOPERATIVE.1);
            }
        }
        command.spawn()
    };
    let instances = match mode {
        KillMode::Cooperative => 2,
        KillMode::Dynamic | KillMode::Static => 1,
    };
    let mut running: Vec<_> = (0..instances).map(spawn).collect::<Result<_, _>>()?;
    for i in 0..kills {
        let life = Duration::from_millis(rand::random_range(500..2500));
        tokio::time::sleep(life).await;
        let victim = rand::random_range(0..instances);
        if let Some(status) = running[victim].try_wait()? {
            anyhow::bail!(
                "instance {victim} exited by itself ({status}); its log: {}",
                app_log(&logs, victim).display()
            );
        }
        running[victim].start_kill()?; // SIGKILL
        running[victim].wait().await?;
        running[victim] = spawn(victim)?;
        eprintln!(
            "  kill {}/{kills} of instance {victim} after {life:?}",
            i + 1
        );
    }
    producing.await??;
    let accounting = settle(&kafka, &keys(records), Duration::from_secs(120)).await?;
    for mut instance in running {
        instance.start_kill()?;
        instance.wait().await?;
    }
    Ok(accounting.bounded(records as usize / 2))
}
