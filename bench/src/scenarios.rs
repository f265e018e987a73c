//! The throughput, delay and start-up measurements.

use std::time::{Duration, Instant};

use retry_runtime::{RetryApp, RunningApp};

use crate::broker::Broker;
use crate::handlers::{LATENESS_MS, MAIN, RETRIED, STARTUP_LISTENERS};
use crate::throughput::Throughput;
use crate::variant::Loop;

/// Starts the app with `listeners`, each in group `<name>-<run>` so every run starts fresh;
/// `topics` points listeners at other topics than their attribute's.
pub(crate) async fn start(
    bootstrap: &str,
    listeners: &[&str],
    run: &str,
    topics: &[(&str, &str)],
) -> anyhow::Result<RunningApp> {
    let run = run.to_owned();
    let topics: Vec<(String, String)> = topics
        .iter()
        .map(|(listener, topic)| {
            (
                format!("RETRY_{}_TOPIC", listener.to_ascii_uppercase()),
                topic.to_string(),
            )
        })
        .collect();
    let app = RetryApp::builder()
        .bootstrap_servers(bootstrap)
        .listeners(listeners.iter().copied())
        .settings_env(move |var| {
            if let Some((_, topic)) = topics.iter().find(|(v, _)| v == var) {
                return Some(topic.clone());
            }
            let name = var.strip_prefix("RETRY_")?.strip_suffix("_GROUP")?;
            Some(format!("{}-{run}", name.to_ascii_lowercase()))
        })
        .start()
        .await?;
    app.ready().await;
    Ok(app)
}

pub(crate) async fn wait_for(
    what: &str,
    limit: Duration,
    done: impl Fn() -> bool,
) -> anyhow::Result<()> {
    let start = Instant::now();
    while !done() {
        anyhow::ensure!(start.elapsed() < limit, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

/// The raw loop and the `#[retryable_topic]` handler `bench_happy` over the same `n` records
/// of `topic` (best of `rounds` each, interleaved: the machine is shared and noisy).
pub async fn happy(
    bootstrap: &str,
    topic: &str,
    n: usize,
    rounds: usize,
    tag: &str,
    only: Option<Loop>,
) -> anyhow::Result<(Throughput, Throughput)> {
    let (mut raw, mut framework) = (Throughput::default(), Throughput::default());
    for round in 0..rounds {
        if only != Some(Loop::Framework) {
            let group = format!("raw-{tag}-{topic}-{round}");
            raw = raw.best(crate::baseline::consume(bootstrap, topic, &group, n).await?);
        }
        if only == Some(Loop::Raw) {
            continue;
        }
        MAIN.reset(n as u64);
        let run = format!("{tag}-{topic}-{round}");
        let app = start(bootstrap, &["bench_happy"], &run, &[("bench_happy", topic)]).await?;
        wait_for("the happy run", Duration::from_secs(300), || {
            MAIN.count() >= n as u64
        })
        .await?;
        framework = framework.best(Throughput::measured());
        app.shutdown().await;
    }
    Ok((raw, framework))
}

/// The main topic's records/s and CPU per record when every tenth record of `topic` fails
/// once and succeeds on its retry.
pub async fn failure_mix(
    bootstrap: &str,
    topic: &str,
    n: usize,
    tag: &str,
) -> anyhow::Result<Throughput> {
    MAIN.reset(n as u64);
    RETRIED.reset((n / 10) as u64);
    let run = format!("{tag}-{topic}");
    let app = start(bootstrap, &["bench_mix"], &run, &[("bench_mix", topic)]).await?;
    wait_for("the mixed run", Duration::from_secs(300), || {
        MAIN.count() >= n as u64 && RETRIED.count() >= (n / 10) as u64
    })
    .await?;
    app.shutdown().await;
    Ok(Throughput::measured())
}

/// Partitions of the delay scenario's topics.
const DELAY_PARTITIONS: i32 = 4;

/// Lateness of `n` records through a 1 s retry topic.
pub struct Precision {
    pub early: usize,
    pub p50_ms: i64,
    pub p99_ms: i64,
    pub max_ms: i64,
}

pub async fn delay_precision(broker: &Broker, n: usize) -> anyhow::Result<Precision> {
    // Several partitions: the mock cluster keeps at most 5 MB a partition and deletes the
    // oldest records beyond it, and 10,000 forwards with their provenance headers are more
    // than that; they are all written before the first is due, so some would be deleted
    // before their consumer (which prefetches a bounded amount) could read them.
    broker
        .create_listener_topics_with("bench-delay", DELAY_PARTITIONS)
        .await?;
    LATENESS_MS.lock().expect("lateness").clear();
    // Written once every consumer of the app is assigned (`start` waits for that). Written
    // before, they are all failed by the main topic's consumer as soon as it is assigned,
    // while the retry topic's consumer, a group of its own, may still be joining (on a freshly
    // started Apache Kafka for up to 2 s longer): every retry then waits for that join and
    // is late by about the same amount. That is start-up, not how precisely retries wait.
    let app = start(&broker.bootstrap_servers(), &["bench_delay"], "delay", &[]).await?;
    broker.produce("bench-delay", n, None).await?;
    wait_for("the delayed retries", Duration::from_secs(120), || {
        LATENESS_MS.lock().expect("lateness").len() >= n
    })
    .await?;
    app.shutdown().await;
    let mut late = LATENESS_MS.lock().expect("lateness").clone();
    late.sort_unstable();
    let at = |q: f64| late[((late.len() - 1) as f64 * q) as usize];
    Ok(Precision {
        early: late.iter().filter(|&&ms| ms < 0).count(),
        p50_ms: at(0.5),
        p99_ms: at(0.99),
        max_ms: at(1.0),
    })
}

/// What starting the app cost.
#[derive(Default)]
pub struct Startup {
    /// Seconds from `start()` until every consumer is assigned, 1 listener.
    pub one_s: f64,
    /// The same, 20 listeners (100 consumers: a main topic, 3 retry topics and a DLT each).
    pub twenty_s: f64,
    /// Threads the 20 listeners' app added to the process.
    pub twenty_threads: u64,
    /// Resident memory the 20 listeners' app added, KiB.
    pub twenty_rss_kib: u64,
    /// Cores the process used while the 20 listeners' app sat idle: their consumers' fetches
    /// (and the broker's answers, when it runs in this process).
    pub twenty_idle_cores: f64,
}

/// A field of `/proc/self/status`, as a number (`VmRSS` in KiB, `Threads`).
pub fn proc_status(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status.lines().find_map(|l| {
                let value = l.strip_prefix(field)?.strip_prefix(':')?;
                value.trim().trim_end_matches("kB").trim().parse().ok()
            })
        })
        .unwrap_or(0)
}

/// Cores this process uses over 10 s of nothing to consume, after the consumers settled.
async fn idle_cores() -> f64 {
    const OVER: Duration = Duration::from_secs(10);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let before = crate::cpu::used();
    tokio::time::sleep(OVER).await;
    (crate::cpu::used() - before).as_secs_f64() / OVER.as_secs_f64()
}

/// Start-up of 1 and 20 listeners.
pub async fn startup(broker: &Broker) -> anyhow::Result<Startup> {
    let bootstrap = broker.bootstrap_servers();
    for name in STARTUP_LISTENERS {
        broker
            .create_listener_topics(&name.replace('_', "-"))
            .await?;
    }
    let mut startup = Startup::default();
    for listeners in [&STARTUP_LISTENERS[..1], &STARTUP_LISTENERS[..]] {
        let (threads, rss) = (proc_status("Threads"), proc_status("VmRSS"));
        let started = Instant::now();
        let app = start(
            &bootstrap,
            listeners,
            &format!("startup-{}", listeners.len()),
            &[],
        )
        .await?;
        let took = started.elapsed().as_secs_f64();
        if listeners.len() == 1 {
            startup.one_s = took;
        } else {
            startup.twenty_s = took;
            startup.twenty_threads = proc_status("Threads").saturating_sub(threads);
            startup.twenty_rss_kib = proc_status("VmRSS").saturating_sub(rss);
            startup.twenty_idle_cores = idle_cores().await;
        }
        app.shutdown().await;
    }
    Ok(startup)
}
