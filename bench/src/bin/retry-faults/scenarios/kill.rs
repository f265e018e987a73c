//! kill -9 of the application process, restarted each time.

use std::path::Path;
use std::time::Duration;

use tokio::process::{Child, Command};

use crate::accounting::{settle, Accounting};
use crate::app::{app_command, app_log, COOPERATIVE};
use crate::broker::{create_topics, fresh_broker, Fresh};
use crate::journal::now_us;
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
        instance_command(&exe, kafka.bootstrap_servers(), &logs, instance, mode)?.spawn()
    };
    let instances = match mode {
        KillMode::Cooperative => 2,
        KillMode::Dynamic | KillMode::Static => 1,
    };
    let mut running: Vec<_> = (0..instances).map(spawn).collect::<Result<_, _>>()?;
    kill_at_random(
        &mut running,
        kills,
        &logs,
        500..2500,
        spawn,
        |_| true,
        |_| false,
    )
    .await?;
    producing.await??;
    let accounting = settle(&kafka, &keys(records), Duration::from_secs(120)).await?;
    for mut instance in running {
        kill_9(&mut instance).await?;
    }
    Ok(accounting.bounded(records as usize / 2))
}

/// The command of app instance `instance` in `mode`, its output in `logs`.
pub fn instance_command(
    exe: &Path,
    bootstrap: &str,
    logs: &Path,
    instance: usize,
    mode: KillMode,
) -> std::io::Result<Command> {
    let mut command = app_command(exe, bootstrap, logs, instance)?;
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
    Ok(command)
}

/// kill -9s one of the `running` instances at a random moment, `kills` times, restarting it
/// with `spawn(instance)` each time; fails if one exited by itself (its log in `logs`).
/// Each kill picks an instance `ripe` says has work to lose (any, once none has for 30 s),
/// and kills it `lives` ms (a random number of them) later; the `i`-th is a graceful
/// [`stop`] instead if `graceful(i)`. Returns each killed
/// process's id and when it was dead ([`kill_9`]).
pub async fn kill_at_random(
    running: &mut [Child],
    kills: usize,
    logs: &Path,
    lives: std::ops::Range<u64>,
    mut spawn: impl FnMut(usize) -> std::io::Result<Child>,
    ripe: impl Fn(&Child) -> bool,
    graceful: impl Fn(usize) -> bool,
) -> anyhow::Result<Vec<(u32, u64)>> {
    let mut deaths = Vec::new();
    for i in 0..kills {
        let mut waited = Duration::ZERO;
        let victim = loop {
            let ripe: Vec<usize> = (0..running.len()).filter(|&i| ripe(&running[i])).collect();
            if !ripe.is_empty() || waited >= Duration::from_secs(30) {
                break match ripe.as_slice() {
                    [] => rand::random_range(0..running.len()),
                    some => some[rand::random_range(0..some.len())],
                };
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            waited += Duration::from_millis(100);
        };
        let life = Duration::from_millis(rand::random_range(lives.clone()));
        tokio::time::sleep(life).await;
        for (instance, child) in running.iter_mut().enumerate() {
            if let Some(status) = child.try_wait()? {
                anyhow::bail!(
                    "instance {instance} exited by itself ({status}); its log: {}",
                    app_log(logs, instance).display()
                );
            }
        }
        let how = if graceful(i) {
            deaths.push(stop(&mut running[victim]).await?);
            "stop (SIGTERM)"
        } else {
            deaths.push(kill_9(&mut running[victim]).await?);
            "kill"
        };
        running[victim] = spawn(victim)?;
        eprintln!(
            "  {how} {}/{kills} of instance {victim} (process {}) after {:?}",
            i + 1,
            deaths.last().map_or(0, |(pid, _)| *pid),
            life + waited
        );
    }
    Ok(deaths)
}

/// SIGKILLs `child` and waits for its end: its process id, and a moment it was dead by
/// (microseconds since the epoch).
pub async fn kill_9(child: &mut Child) -> anyhow::Result<(u32, u64)> {
    let pid = child.id().unwrap_or_default();
    child.start_kill()?;
    child.wait().await?;
    Ok((pid, now_us()))
}

/// Stops `child` gracefully (SIGTERM: the app finishes its calls and leaves the group), or
/// SIGKILLs it if it is still running a minute later: its process id, and a moment it was
/// dead by (microseconds since the epoch).
pub async fn stop(child: &mut Child) -> anyhow::Result<(u32, u64)> {
    let Some(pid) = child.id() else {
        return kill_9(child).await;
    };
    // SAFETY: kill(2) on our own child's process id, which `wait` has not reaped yet.
    unsafe { libc::kill(pid as libc::pid_t, libc::SIGTERM) };
    match tokio::time::timeout(Duration::from_secs(60), child.wait()).await {
        Ok(status) => {
            status?;
            Ok((pid, now_us()))
        }
        Err(_) => kill_9(child).await,
    }
}
